"""What each issuance at the token endpoint leaves: the tokens, decoded claim by claim,
one ``tokens`` row holding exactly what the grant carried, and one audit row.

A code redemption starts a family; each refresh adds a row to it, child of the
row it rotated, with the same session, claims request and auth_time, and a
refresh token living until the SSO session's absolute end (RT-06).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.clock import utcnow
from idp.extensions import db
from idp.models import AuthorizationCode
from idp.models import Token
from idp.models import UserSession
from idp.oidc import keys
from idp.security.keyed_hash import token_hash
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.security.oauth import authorize
from tests.security.oauth import redeem
from tests.security.oauth import refresh
from tests.security.oauth import register_module

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATER = START + timedelta(minutes=7)
CLAIMS = {"userinfo": {"given_name": {"essential": True}}}
STORED_CLAIMS = {**CLAIMS, "id_token": {}}
REFRESH_TOKEN = re.compile(r"idprt_[A-Za-z0-9_-]{43}")


def decode_access_token(value: str) -> tuple[dict, dict]:
    """Verified with the published keys, as a module does with the JWKS."""
    published = KeySet.import_key_set(keys.public_jwks(utcnow()))
    decoded = jwt.decode(value, published, algorithms=["RS256", "ES256"])
    return decoded.header, decoded.claims


def rows() -> list[Token]:
    db.session.expire_all()
    return list(db.session.execute(select(Token).order_by(Token.id)).scalars())


@pytest.fixture
def issued(app, make_user):
    """A code redeemed at START, its refresh token used at LATER (scope openid profile)."""
    user = make_user()
    module = register_module(id_token_alg="ES256")
    client = app.test_client()
    with time_machine.travel(START - timedelta(minutes=1), tick=False):
        assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    with time_machine.travel(START, tick=False):
        query, verifier = authorize(client, module.client_id, scope="openid profile",
                                    claims=json.dumps(CLAIMS))
        first = redeem(client, module, query["code"], verifier)
    with time_machine.travel(LATER, tick=False):
        second = refresh(app.test_client(), module, first.json["refresh_token"])
    assert first.status_code == second.status_code == 200
    code = db.session.execute(select(AuthorizationCode).where(
        AuthorizationCode.code_hash == token_hash(query["code"]))).scalar_one()
    session = db.session.execute(select(UserSession)).scalar_one()
    return {"user": user, "module": module, "client": client, "code": code,
            "session": session, "first": first.json, "second": second.json}


def test_both_responses_carry_rfc_9068_access_tokens_and_opaque_refresh_tokens(app, issued):
    user, module = issued["user"], issued["module"]
    jtis = []
    for response, now in ((issued["first"], START), (issued["second"], LATER)):
        # A new ID token with each refresh too (OIDC Core 12.2), signed like the first.
        assert set(response) == {"access_token", "token_type", "expires_in", "refresh_token",
                                 "scope", "id_token"}
        id_header, id_claims = decode_access_token(response["id_token"])  # same keys
        assert id_header["alg"] == "ES256"
        # The login's time, not the redemption's nor the refresh's (OIDC Core 12.2).
        assert id_claims["auth_time"] == int((START - timedelta(minutes=1)).timestamp())
        assert id_claims["iat"] == int(now.timestamp())
        assert id_claims["exp"] == int(now.timestamp()) + 600
        assert (id_claims["sub"], id_claims["aud"]) == (user.subject, module.client_id)
        assert response["token_type"] == "Bearer"
        assert response["expires_in"] == 600
        assert response["scope"] == "openid profile"
        assert REFRESH_TOKEN.fullmatch(response["refresh_token"])
        header, claims = decode_access_token(response["access_token"])
        assert header["typ"] == "at+jwt"
        assert header["alg"] == "ES256"  # the module's registered algorithm
        assert header["kid"]
        assert claims == {
            "iss": app.config["IDP_ISSUER"], "sub": user.subject, "aud": module.client_id,
            "client_id": module.client_id, "scope": "openid profile",
            "iat": int(now.timestamp()), "exp": int(now.timestamp()) + 600,
            "jti": claims["jti"],
        }
        jtis.append(claims["jti"])
    assert jtis[0] != jtis[1]
    assert issued["first"]["refresh_token"] != issued["second"]["refresh_token"]


def assert_issuance(row: Token, response: dict, issued: dict, at: datetime) -> None:
    """What every row holds of its own response, its grant and its time."""
    _header, claims = decode_access_token(response["access_token"])
    assert row.access_jti == claims["jti"]
    assert row.refresh_hash == hashlib.sha256(response["refresh_token"].encode()).hexdigest()
    assert row.client.client_id == issued["module"].client_id
    assert row.user_id == issued["user"].id
    assert row.sid == issued["session"].sid
    assert row.scope == "openid profile"
    assert row.claims == STORED_CLAIMS
    assert row.auth_time == START - timedelta(minutes=1)
    assert row.issued_at == at
    assert row.access_expires_at == at + timedelta(seconds=600)
    # RT-06: the refresh token ends with the SSO session.
    assert row.refresh_expires_at == issued["session"].expires_at == \
        START - timedelta(minutes=1) + timedelta(hours=12)
    assert row.revoked_at is None


def test_the_code_redemption_records_the_first_row_of_a_family(issued):
    first, _second = rows()
    assert_issuance(first, issued["first"], issued, START)
    assert first.family_id
    assert first.family_id == issued["code"].family_id
    assert first.parent_id is None
    assert first.rotated_at == LATER


def test_a_refresh_records_a_child_row_with_what_the_grant_carried(issued):
    first, second = rows()
    assert_issuance(second, issued["second"], issued, LATER)
    assert second.family_id == first.family_id
    assert second.parent_id == first.id
    assert second.rotated_at is None


def test_the_claims_request_survives_the_refresh(app, issued):
    with time_machine.travel(LATER, tick=False):
        info = app.test_client().get("/userinfo", headers={
            "Authorization": f"Bearer {issued['second']['access_token']}"})
    assert info.status_code == 200
    assert info.json["sub"] == issued["user"].subject
    assert info.json["given_name"] == "Jean"  # asked by the claims parameter only


def test_each_issuance_is_audited_with_its_grant_and_family(issued, audit_rows):
    family = rows()[0].family_id
    events = audit_rows("token.issued")
    assert [(e.event, e.outcome, e.login, e.user_id, e.client_id, e.details) for e in events] \
        == [
            ("token.issued", "success", "jdupont", issued["user"].id,
             issued["module"].client_id, {"grant": "authorization_code", "family": family}),
            ("token.issued", "success", "jdupont", issued["user"].id,
             issued["module"].client_id, {"grant": "refresh_token", "family": family}),
        ]
