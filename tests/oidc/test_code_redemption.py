"""The authorization code from issuance to redemption (RFC 6749 4.1.2, 4.1.3, RFC 7636 4.6):
what the code records, when it may be redeemed, and what a replay revokes and audits.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy import select
from sqlalchemy import update

from idp.clock import utcnow
from idp.extensions import db
from idp.models import AuthorizationCode
from idp.models import Client
from idp.models import HabilitationGrant
from idp.models import Token
from idp.models import UserSession
from idp.security import sessions
from idp.security.keyed_hash import token_hash
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.security.oauth import CALLBACK
from tests.security.oauth import authorize
from tests.security.oauth import redeem
from tests.security.oauth import refresh
from tests.security.oauth import register_module


@pytest.fixture
def module(app):
    return register_module()


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def signed_in(client, user):
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    return client


def sso_session(user) -> UserSession:
    db.session.expire_all()
    return db.session.execute(
        select(UserSession).where(UserSession.user_id == user.id)).scalar_one()


def code_row(code: str) -> AuthorizationCode:
    db.session.expire_all()
    return db.session.execute(select(AuthorizationCode).where(
        AuthorizationCode.code_hash == token_hash(code))).scalar_one()


def tokens_of(user) -> list[Token]:
    db.session.expire_all()
    return list(db.session.execute(
        select(Token).where(Token.user_id == user.id).order_by(Token.id)).scalars())


def invalid_grant(response, description: str | None = None) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "invalid_grant"
    assert body.get("error_description") == description


def test_the_code_records_the_request_it_answers(signed_in, module, user, audit_rows):
    query, verifier = authorize(signed_in, module.client_id, nonce="n-42",
                                claims='{"id_token": {"email": null}}')
    row = code_row(query["code"])
    session = sso_session(user)
    assert row.client_id == db.session.execute(
        select(Client.id).where(Client.client_id == module.client_id)).scalar_one()
    assert row.user_id == user.id
    assert row.sid == session.sid
    assert row.redirect_uri == CALLBACK
    assert row.scope == "openid"
    assert row.nonce == "n-42"
    assert row.code_challenge == create_s256_code_challenge(verifier)
    assert row.code_challenge_method == "S256"
    assert row.auth_time == session.auth_time
    assert row.amr == ["pwd"]
    assert row.acr == "eidas1"
    assert row.claims == {"userinfo": {}, "id_token": {"email": None}}
    # One clock reading: created, and expiring exactly 60 seconds later.
    assert row.expires_at - row.created_at == timedelta(seconds=60)
    assert utcnow() - timedelta(seconds=10) < row.created_at <= utcnow()
    assert row.consumed_at is None
    assert row.family_id is None
    issued = audit_rows("authorize.code_issued")
    assert len(issued) == 1
    assert (issued[0].outcome, issued[0].login, issued[0].user_id, issued[0].client_id,
            issued[0].details) == ("success", "jdupont", user.id, module.client_id,
                                   {"sid": session.sid})


def test_a_session_without_recorded_methods_gives_codes_the_password(signed_in, module, user):
    db.session.execute(update(UserSession).values(amr=[]))
    db.session.commit()
    query, _verifier = authorize(signed_in, module.client_id)
    assert code_row(query["code"]).amr == ["pwd"]


def test_codes_pending_together_are_each_redeemed(signed_in, module):
    first, first_verifier = authorize(signed_in, module.client_id, nonce="first")
    second, second_verifier = authorize(signed_in, module.client_id, nonce="second")
    assert redeem(signed_in, module, second["code"], second_verifier).status_code == 200
    assert redeem(signed_in, module, first["code"], first_verifier).status_code == 200


def test_redemption_starts_a_token_family(signed_in, module, user, audit_rows):
    query, verifier = authorize(signed_in, module.client_id)
    before = utcnow()
    assert redeem(signed_in, module, query["code"], verifier).status_code == 200
    row = code_row(query["code"])
    assert before <= row.consumed_at <= utcnow()
    # 24 random bytes, URL-safe: 32 characters.
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", row.family_id)
    assert [token.family_id for token in tokens_of(user)] == [row.family_id]
    assert audit_rows("token.issued")[-1].details == {"grant": "authorization_code",
                                                      "family": row.family_id}


def test_a_code_expires_60_seconds_after_issuance(signed_in, module, audit_rows):
    issued_at = utcnow().replace(microsecond=0) + timedelta(seconds=1)
    with time_machine.travel(issued_at, tick=False):
        late, late_verifier = authorize(signed_in, module.client_id, nonce="late")
        in_time, in_time_verifier = authorize(signed_in, module.client_id, nonce="in-time")
    with time_machine.travel(issued_at + timedelta(seconds=59), tick=False):
        assert redeem(signed_in, module, in_time["code"], in_time_verifier).status_code == 200
    with time_machine.travel(issued_at + timedelta(seconds=60), tick=False):
        invalid_grant(redeem(signed_in, module, late["code"], late_verifier),
                      "Invalid 'code' in request.")
    assert code_row(late["code"]).consumed_at is None
    assert not audit_rows("authorize.code_replayed")


def test_a_replayed_code_revokes_every_token_it_led_to(signed_in, module, user, audit_rows):
    query, verifier = authorize(signed_in, module.client_id)
    first = redeem(signed_in, module, query["code"], verifier).get_json()
    second = refresh(signed_in, module, first["refresh_token"]).get_json()
    assert [token.revoked_at for token in tokens_of(user)] == [None, None]

    at = utcnow()
    invalid_grant(redeem(signed_in, module, query["code"], verifier),
                  "Invalid 'code' in request.")
    revoked = [token.revoked_at for token in tokens_of(user)]
    assert len(revoked) == 2
    assert all(at <= when <= utcnow() for when in revoked)
    invalid_grant(refresh(signed_in, module, second["refresh_token"]))
    bearer = {"Authorization": f"Bearer {second['access_token']}"}
    assert signed_in.get("/userinfo", headers=bearer).status_code == 401
    replays = audit_rows("authorize.code_replayed")
    assert len(replays) == 1
    assert (replays[0].outcome, replays[0].login, replays[0].user_id, replays[0].client_id,
            replays[0].details) == ("failure", "jdupont", user.id, module.client_id,
                                    {"revoked": 2})


def test_a_code_presented_by_another_module_is_refused_and_revokes_nothing(
        app, signed_in, module, user, audit_rows):
    other = register_module("module-o")
    query, verifier = authorize(signed_in, module.client_id)
    # Not yet redeemed: the other module cannot spend it, its module still can.
    invalid_grant(redeem(signed_in, other, query["code"], verifier),
                  "Invalid 'code' in request.")
    assert code_row(query["code"]).consumed_at is None
    tokens = redeem(signed_in, module, query["code"], verifier).get_json()
    invalid_grant(redeem(signed_in, other, query["code"], verifier),
                  "Invalid 'code' in request.")
    assert [token.revoked_at for token in tokens_of(user)] == [None]
    assert not audit_rows("authorize.code_replayed")
    assert refresh(signed_in, module, tokens["refresh_token"]).status_code == 200


@pytest.mark.parametrize("code", ["unknown", "x" * 200, "x" * 201])
def test_an_unknown_code_is_invalid_grant(signed_in, module, audit_rows, code):
    authorize(signed_in, module.client_id)
    invalid_grant(redeem(signed_in, module, code, "v" * 43), "Invalid 'code' in request.")
    assert not audit_rows("authorize.code_replayed")


def test_a_code_whose_session_has_ended_is_refused(signed_in, module, user, audit_rows):
    query, verifier = authorize(signed_in, module.client_id)
    sessions.end_session(sso_session(user), utcnow())
    db.session.commit()
    invalid_grant(redeem(signed_in, module, query["code"], verifier),
                  "The session of this code has ended.")
    assert not tokens_of(user)


def test_a_habilitation_revoked_before_redemption_stops_the_code(signed_in, module, user,
                                                                 audit_rows):
    query, verifier = authorize(signed_in, module.client_id)
    db.session.execute(update(HabilitationGrant).values(revoked_at=utcnow()))
    db.session.commit()
    invalid_grant(redeem(signed_in, module, query["code"], verifier),
                  "The user may not use this client.")
    assert not tokens_of(user)
    refusals = audit_rows("habilitation.refused")
    assert len(refusals) == 1
    assert (refusals[0].outcome, refusals[0].login, refusals[0].user_id, refusals[0].client_id,
            refusals[0].details) == ("failure", "jdupont", user.id, module.client_id,
                                     {"habilitation": "bonuseco", "stage": "token"})


def test_a_habilitation_granted_until_a_later_date_lets_the_code_be_redeemed(
        signed_in, module, user):
    query, verifier = authorize(signed_in, module.client_id)
    db.session.execute(update(HabilitationGrant).values(ends_at=utcnow() + timedelta(days=30)))
    db.session.commit()
    assert redeem(signed_in, module, query["code"], verifier).status_code == 200
    assert len(tokens_of(user)) == 1


def test_a_code_with_a_challenge_needs_its_verifier(signed_in, module, user):
    query, _verifier = authorize(signed_in, module.client_id)
    invalid_grant(redeem(signed_in, module, query["code"], None), "Missing 'code_verifier'.")
    assert not tokens_of(user)


def test_a_legacy_module_redeems_a_code_without_pkce(app, signed_in, user):
    legacy = register_module("legacy", pkce_optional=True)
    query, _verifier = authorize(signed_in, legacy.client_id, code_challenge=None,
                                 code_challenge_method=None)
    response = redeem(signed_in, legacy, query["code"], None)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert len(tokens_of(user)) == 1
