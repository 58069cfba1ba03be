"""When a refresh token still refreshes (RFC 6749 6, RFC 9700 4.14.2, HAB-03): rotation,
reuse detection and its audit row, revocation, the token's and the session's end,
the habilitation, and the module it was issued to.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy import update

from idp.clock import utcnow
from idp.extensions import db
from idp.models import HabilitationGrant
from idp.models import Token
from idp.models import UserSession
from idp.oidc import tokens
from idp.oidc.tokens import refresh_hash
from idp.security import sessions
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.security.oauth import refresh
from tests.security.oauth import register_module
from tests.security.oauth import tokens_for


@pytest.fixture
def module(app):
    return register_module()


@pytest.fixture
def signed_in(client, make_user):
    """The client of jdupont, logged in; the user."""
    user = make_user()
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    return client, user


def rows_of(user) -> list[Token]:
    db.session.expire_all()
    return list(db.session.execute(
        select(Token).where(Token.user_id == user.id).order_by(Token.id)).scalars())


def invalid_grant(response) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid_grant"


def refreshed(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def audited(rows: list, user, module, **details) -> None:
    """One failure row of ``user`` at ``module`` with exactly ``details``."""
    assert len(rows) == 1
    assert (rows[0].outcome, rows[0].login, rows[0].user_id, rows[0].client_id,
            rows[0].details) == ("failure", "jdupont", user.id, module.client_id, details)


def test_reuse_of_a_rotated_token_revokes_its_family_once(signed_in, module, audit_rows):
    client, user = signed_in
    first = tokens_for(client, module)
    second = refreshed(refresh(client, module, first["refresh_token"]))
    assert [row.revoked_at for row in rows_of(user)] == [None, None]

    at = utcnow()
    invalid_grant(refresh(client, module, first["refresh_token"]))
    revoked = [row.revoked_at for row in rows_of(user)]
    assert len(revoked) == 2
    assert all(at <= when <= utcnow() for when in revoked)
    audited(audit_rows("token.reuse_detected"), user, module, revoked=2)

    # Presented again, or its successor presented: refused, no second alarm.
    invalid_grant(refresh(client, module, first["refresh_token"]))
    invalid_grant(refresh(client, module, second["refresh_token"]))
    assert len(audit_rows("token.reuse_detected")) == 1
    assert len(rows_of(user)) == 2


def test_a_token_rotated_by_another_request_meanwhile_revokes_its_family(
        signed_in, module, audit_rows, monkeypatch):
    client, user = signed_in
    presented = tokens_for(client, module)["refresh_token"]
    # Another request claimed the rotation between this one's read and its write.
    monkeypatch.setattr(tokens, "claim_rotation", lambda _row, _now: False)
    at = utcnow()
    invalid_grant(refresh(client, module, presented))
    [row] = rows_of(user)
    assert at <= row.revoked_at <= utcnow()
    audited(audit_rows("token.reuse_detected"), user, module, revoked=1)


def test_a_revoked_refresh_token_is_refused(signed_in, module, audit_rows):
    client, user = signed_in
    presented = tokens_for(client, module)["refresh_token"]
    response = client.post("/revoke", data={"token": presented}, headers=module.basic)
    assert response.status_code == 200
    invalid_grant(refresh(client, module, presented))
    # Dead, whatever it asks: never a scope error about a revoked token (RFC 6749 5.2).
    invalid_grant(refresh(client, module, presented, scope="openid email"))
    assert not audit_rows("token.reuse_detected")
    assert len(rows_of(user)) == 1


def test_a_revoked_token_is_refused_before_any_habilitation_check(signed_in, module,
                                                                  audit_rows):
    """Refused as revoked: no « habilitation refused » row for a token that is dead anyway."""
    client, _user = signed_in
    presented = tokens_for(client, module)["refresh_token"]
    assert client.post("/revoke", data={"token": presented},
                       headers=module.basic).status_code == 200
    db.session.execute(update(HabilitationGrant).values(revoked_at=utcnow()))
    db.session.commit()
    invalid_grant(refresh(client, module, presented))
    assert not audit_rows("habilitation.refused")


def test_a_habilitation_granted_until_a_later_date_keeps_refreshing(signed_in, module):
    client, user = signed_in
    presented = tokens_for(client, module)["refresh_token"]
    db.session.execute(update(HabilitationGrant).values(ends_at=utcnow() + timedelta(days=30)))
    db.session.commit()
    refreshed(refresh(client, module, presented))
    assert len(rows_of(user)) == 2


def test_a_refresh_token_refreshes_until_its_own_end(signed_in, module):
    """Its end is the session's; were the session to last longer, the token still ends."""
    client, _user = signed_in
    before = tokens_for(client, module, nonce="before")["refresh_token"]
    at_end = tokens_for(client, module, nonce="at-end")["refresh_token"]
    end = utcnow().replace(microsecond=0) + timedelta(minutes=5)
    db.session.execute(update(Token).values(refresh_expires_at=end))
    db.session.commit()
    with time_machine.travel(end - timedelta(seconds=1), tick=False):
        refreshed(refresh(client, module, before))
    with time_machine.travel(end, tick=False):
        invalid_grant(refresh(client, module, at_end))
    db.session.expire_all()
    assert db.session.execute(select(Token.rotated_at).where(
        Token.refresh_hash == refresh_hash(at_end))).scalar_one() is None


def test_a_refresh_token_of_an_ended_session_is_refused(signed_in, module):
    client, user = signed_in
    presented = tokens_for(client, module)["refresh_token"]
    db.session.expire_all()
    row = db.session.execute(
        select(UserSession).where(UserSession.user_id == user.id)).scalar_one()
    sessions.end_session(row, utcnow())
    db.session.commit()
    invalid_grant(refresh(client, module, presented))


def test_a_revoked_habilitation_stops_refreshes(signed_in, module, audit_rows):
    client, user = signed_in
    presented = tokens_for(client, module)["refresh_token"]
    db.session.execute(update(HabilitationGrant).values(revoked_at=utcnow()))
    db.session.commit()
    invalid_grant(refresh(client, module, presented))
    audited(audit_rows("habilitation.refused"), user, module,
            habilitation="bonuseco", stage="refresh")
    assert len(rows_of(user)) == 1


def test_a_rotated_token_presented_by_another_module_revokes_nothing(
        signed_in, module, audit_rows):
    client, _user = signed_in
    other = register_module("module-o")
    first = tokens_for(client, module)
    second = refreshed(refresh(client, module, first["refresh_token"]))
    invalid_grant(refresh(client, other, first["refresh_token"]))
    invalid_grant(refresh(client, other, second["refresh_token"]))
    assert not audit_rows("token.reuse_detected")
    refreshed(refresh(client, module, second["refresh_token"]))


@pytest.mark.parametrize("presented", ["idprt_unknown", "unknown"])
def test_an_unknown_refresh_token_is_invalid_grant(signed_in, module, audit_rows, presented):
    client, _user = signed_in
    tokens_for(client, module)
    invalid_grant(refresh(client, module, presented))
    assert not audit_rows("token.reuse_detected")
