"""How a presented token is recognised, and what its record's state makes of it.

Introspection (RFC 7662), revocation (RFC 7009) and userinfo find a token by
its value: a refresh token by its hash, an access token only when it is a JWT
we signed, typed ``at+jwt``, from our issuer, whose ``jti`` we recorded. Each
kind then lives until its own end (``exp``, the SSO session's end), a rotated
refresh token is spent, a revocation takes the family, and a code is redeemed
only while the session that authorized it lives.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine
from joserfc import jwt
from sqlalchemy import select
from sqlalchemy import update

from idp.database import commit
from idp.extensions import db
from idp.models import AuditEvent
from idp.models import Token
from idp.models import User
from idp.models import UserSession
from idp.oidc import keys
from idp.oidc import tokens
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.conftest import post_form
from tests.security.oauth import authorize
from tests.security.oauth import redeem
from tests.security.oauth import refresh
from tests.security.oauth import register_module

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
INACTIVE = {"active": False}


class Grant:
    """A logged-in browser of jdupont and a module; codes redeemed at chosen times."""

    def __init__(self, app, module):
        self.app = app
        self.module = module
        self.browser = app.test_client()
        self.issued = 0

    def code(self) -> tuple[str, str]:
        self.issued += 1  # a nonce is used once per module
        query, verifier = authorize(self.browser, self.module.client_id,
                                    nonce=f"n{self.issued}")
        return query["code"], verifier

    def tokens(self, at: datetime = START) -> dict:
        with time_machine.travel(at, tick=False):
            code, verifier = self.code()
            response = redeem(self.app.test_client(), self.module, code, verifier)
        assert response.status_code == 200, response.json
        return response.json

    def post(self, path: str, token: str, at: datetime, **extra):
        with time_machine.travel(at, tick=False):
            return self.app.test_client().post(path, data={"token": token, **extra},
                                               headers=self.module.basic)

    def introspect(self, token: str, at: datetime = START + SECOND, **extra) -> dict:
        response = self.post("/introspect", token, at, **extra)
        assert response.status_code == 200
        return response.json

    def revoke(self, token: str, at: datetime = START + SECOND, **extra) -> None:
        assert self.post("/revoke", token, at, **extra).status_code == 200

    def userinfo(self, access_token: str, at: datetime = START + SECOND):
        with time_machine.travel(at, tick=False):
            return self.app.test_client().get(
                "/userinfo", headers={"Authorization": f"Bearer {access_token}"})

    def refresh(self, refresh_token: str, at: datetime):
        with time_machine.travel(at, tick=False):
            return refresh(self.app.test_client(), self.module, refresh_token)


@pytest.fixture
def grant(app, make_user) -> Grant:
    make_user()
    made = Grant(app, register_module())
    with time_machine.travel(START - timedelta(minutes=1), tick=False):
        assert login(made.browser, "jdupont", STRONG_PASSWORD).status_code == 303
    return made


def row_of(refresh_token: str) -> Token:
    db.session.expire_all()
    return tokens.find_refresh(refresh_token)


def sso_session() -> UserSession:
    db.session.expire_all()
    return db.session.execute(select(UserSession)).scalar_one()


# --- what introspection says of each kind ------------------------------------------------------


def test_introspection_describes_each_kind_of_token(app, grant):
    issued = grant.tokens()
    row, session = row_of(issued["refresh_token"]), sso_session()
    common = {"active": True, "client_id": grant.module.client_id, "scope": "openid",
              "sub": row.user.subject, "aud": grant.module.client_id,
              "iss": app.config["IDP_ISSUER"], "iat": int(START.timestamp()), "sid": session.sid}
    assert grant.introspect(issued["access_token"]) == {
        **common, "exp": int(START.timestamp()) + 600, "token_type": "Bearer",
        "jti": row.access_jti}
    assert grant.introspect(issued["refresh_token"]) == {
        **common, "exp": int(session.expires_at.timestamp())}


def test_a_rotated_refresh_token_is_spent_while_its_access_token_lives(grant):
    first = grant.tokens()
    second = grant.refresh(first["refresh_token"], START + SECOND).json
    later = START + 2 * SECOND
    assert grant.introspect(first["refresh_token"], later) == INACTIVE
    assert grant.introspect(first["access_token"], later)["active"] is True
    assert grant.userinfo(first["access_token"], later).status_code == 200
    assert grant.introspect(second["refresh_token"], later)["active"] is True
    assert grant.introspect(second["access_token"], later)["active"] is True


@pytest.mark.parametrize(("age", "alive"), [
    (timedelta(seconds=599), True),
    (timedelta(seconds=600), False),
], ids=["599s", "600s"])
def test_an_access_token_is_over_at_its_exp(grant, age, alive):
    issued = grant.tokens()
    assert grant.introspect(issued["access_token"], START + age)["active"] is alive
    assert (grant.userinfo(issued["access_token"], START + age).status_code == 200) is alive


@pytest.mark.parametrize(("before_end", "alive"), [
    (SECOND, True),
    (timedelta(0), False),
], ids=["1s-before", "at-the-end"])
def test_a_refresh_token_is_over_at_the_sso_sessions_end(grant, before_end, alive):
    issued = grant.tokens()
    when = sso_session().expires_at - before_end
    assert grant.introspect(issued["refresh_token"], when)["active"] is alive


# --- the hint orders the search only --------------------------------------------------------------


def test_a_refresh_token_is_found_whatever_the_hint(grant):
    issued = grant.tokens()
    hint = {"token_type_hint": "access_token"}
    assert grant.introspect(issued["refresh_token"], **hint)["active"] is True
    assert grant.introspect(issued["access_token"], **hint)["token_type"] == "Bearer"
    grant.revoke(issued["refresh_token"], **hint)
    assert grant.introspect(issued["refresh_token"]) == INACTIVE
    assert grant.introspect(issued["access_token"]) == INACTIVE


# --- only our own access tokens ----------------------------------------------------------------


def _signed(app, jti: str, typ: str, iss: str, key_row=None) -> str:
    """Signed with our RS256 key, or with ``key_row`` (an ES256 key: cheap to create)."""
    now = int(START.timestamp())
    claims = {"iss": iss, "sub": "x", "aud": "module-t", "client_id": "module-t",
              "iat": now, "exp": now + 600, "jti": jti, "scope": "openid"}
    if key_row is None:
        return jwt.encode({"alg": "RS256", "typ": typ}, claims,
                          keys.signing_keyset("RS256", START))
    return jwt.encode({"alg": "ES256", "typ": typ}, claims,
                      keys.KeySet([keys.private_key(key_row)]))


def test_only_a_jwt_typed_at_jwt_from_our_issuer_is_an_access_token(app, grant):
    issued = grant.tokens()
    jti = row_of(issued["refresh_token"]).access_jti
    issuer = app.config["IDP_ISSUER"]
    with time_machine.travel(START, tick=False):
        ours = _signed(app, jti, "at+jwt", issuer)
        untyped = _signed(app, jti, "JWT", issuer)
        foreign = _signed(app, jti, "at+jwt", "https://idp.example")
    assert grant.userinfo(ours).status_code == 200  # the same key and jti do count
    for value in (untyped, foreign):
        response = grant.userinfo(value)
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
        assert grant.introspect(value) == INACTIVE


def test_a_key_created_by_another_process_is_read_for_its_token(app, grant):
    """Another process rotated in a key and signed with it; this one's copy of the keys
    is younger than IDP_KEYS_REFRESH_SECONDS but older than a second: the unknown kid
    makes it read the keys again."""
    issued = grant.tokens()
    jti = row_of(issued["refresh_token"]).access_jti
    with time_machine.travel(START, tick=False):
        assert grant.userinfo(issued["access_token"], START).status_code == 200  # copy read
        row = keys.create_key("ES256", START)  # not forgotten here: as in another process
        commit()
        value = _signed(app, jti, "at+jwt", app.config["IDP_ISSUER"], key_row=row)
    assert jwt.decode(value, keys.KeySet([keys.private_key(row)])).header["kid"] == row.kid
    assert grant.userinfo(value, START + 2 * SECOND).status_code == 200


@pytest.mark.parametrize("value", [None, 12345])
def test_a_value_that_is_not_a_string_is_no_token(app, value):
    assert tokens.find_access(value, app.config["IDP_ISSUER"]) is None
    assert tokens.find_refresh(value) is None


def test_a_deactivated_users_access_token_stops_at_once(grant):
    issued = grant.tokens()
    db.session.execute(update(User).values(is_active=False))
    commit()
    response = grant.userinfo(issued["access_token"])
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


# --- families ---------------------------------------------------------------------------------


def test_revoking_a_family_leaves_the_others_and_the_already_revoked_alone(grant, audit_rows):
    with time_machine.travel(START, tick=False):
        code, verifier = grant.code()
        first = redeem(grant.app.test_client(), grant.module, code, verifier).json
    other = grant.tokens(START + SECOND)
    grant.revoke(first["refresh_token"], START + 2 * SECOND)
    assert grant.introspect(other["refresh_token"], START + 3 * SECOND)["active"] is True
    assert grant.introspect(other["access_token"], START + 3 * SECOND)["active"] is True

    # The code replayed later revokes its family again: nothing left to revoke.
    with time_machine.travel(START + 10 * SECOND, tick=False):
        replay = redeem(grant.app.test_client(), grant.module, code, verifier)
    assert replay.json["error"] == "invalid_grant"
    replayed = audit_rows("authorize.code_replayed")
    assert [(e.outcome, e.details) for e in replayed] == [("failure", {"revoked": 0})]
    assert row_of(first["refresh_token"]).revoked_at == START + 2 * SECOND
    assert grant.introspect(other["refresh_token"], START + 11 * SECOND)["active"] is True


def test_rotating_one_refresh_token_leaves_the_other_families_usable(grant):
    first = grant.tokens()
    other = grant.tokens(START + SECOND)
    assert grant.refresh(first["refresh_token"], START + 2 * SECOND).status_code == 200
    assert row_of(other["refresh_token"]).rotated_at is None
    assert grant.refresh(other["refresh_token"], START + 3 * SECOND).status_code == 200


def test_a_refresh_token_revoked_while_its_request_runs_is_refused(grant, monkeypatch):
    issued = grant.tokens()
    real_find = tokens.find_refresh

    def find_then_get_revoked(value):
        row = real_find(value)
        # A logout elsewhere revokes the family after this request read the row.
        db.session.execute(update(Token).where(Token.id == row.id)
                           .values(revoked_at=START + SECOND)
                           .execution_options(synchronize_session=False))
        return row

    monkeypatch.setattr(tokens, "find_refresh", find_then_get_revoked)
    response = grant.refresh(issued["refresh_token"], START + SECOND)
    monkeypatch.undo()
    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"
    db.session.expire_all()
    assert db.session.execute(select(Token.id)).scalars().all() == \
        [row_of(issued["refresh_token"]).id]  # no child issued


# --- a code lives with its session ---------------------------------------------------------------


def test_a_code_of_a_session_logged_out_since_is_refused(grant):
    with time_machine.travel(START, tick=False):
        code, verifier = grant.code()
        assert post_form(grant.browser, "/logout", {}).status_code == 200
        response = redeem(grant.app.test_client(), grant.module, code, verifier)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"


@pytest.mark.parametrize(("before_end", "redeemed"), [
    (SECOND, True),
    (timedelta(0), False),
], ids=["1s-before", "at-the-end"])
def test_a_code_is_redeemed_only_before_its_sessions_absolute_end(grant, before_end, redeemed):
    with time_machine.travel(START, tick=False):
        code, verifier = grant.code()
    end = START + timedelta(seconds=30)
    db.session.execute(update(UserSession).values(expires_at=end))
    commit()
    with time_machine.travel(end - before_end, tick=False):
        response = redeem(grant.app.test_client(), grant.module, code, verifier)
    assert (response.status_code == 200) is redeemed
    if not redeemed:
        assert response.json["error"] == "invalid_grant"
    assert db.session.execute(select(AuditEvent.event).where(
        AuditEvent.event == "token.issued")).scalars().all() == \
        (["token.issued"] if redeemed else [])
