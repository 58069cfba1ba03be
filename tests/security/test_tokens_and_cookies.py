"""Artefacts an attacker would guess or forge.

TOK-09 (codes, tokens and session ids unguessable), RT-06 (refresh tokens
expire with the SSO session's absolute end), SESS-03 (a tampered or re-signed
session cookie is worthless).
"""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine
from flask.sessions import SecureCookieSessionInterface
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.security.oauth import authorize
from tests.security.oauth import redeem
from tests.security.oauth import refresh
from tests.security.oauth import register_module
from tests.security.oauth import tokens_for

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# RFC 6749 A.11-A.17 allow more; what the IdP issues stays within base64url.
URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")
SAMPLES = 20


@pytest.fixture
def app_environ(app_environ):
    app_environ.update(IDP_RATELIMIT_LOGIN="1000/minute",
                       IDP_RATELIMIT_LOGIN_IDENTIFIER="1000/minute")
    return app_environ


def session_token(app, client) -> str:
    """The opaque id the signed cookie carries (the key of the server-side session)."""
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    data = SecureCookieSessionInterface().get_signing_serializer(app).loads(cookie.value)
    return data["sid"]


def assert_random(values: list[str], prefix: str = "", min_chars: int = 22) -> None:
    """Distinct, base64url, at least 128 bits (22 characters), no shared prefix or counter."""
    assert len(set(values)) == len(values)
    for value in values:
        assert value.startswith(prefix)
        body = value[len(prefix):]
        assert URL_SAFE.fullmatch(body), value
        assert len(body) >= min_chars, value
    bodies = sorted(value[len(prefix):] for value in values)
    longest_shared = max(len(_shared(a, b)) for a, b in zip(bodies, bodies[1:], strict=False))
    assert longest_shared < 6, "issued values share a prefix: not independent random draws"


def _shared(a: str, b: str) -> str:
    size = 0
    while size < min(len(a), len(b)) and a[size] == b[size]:
        size += 1
    return a[:size]


def test_tok_09_codes_tokens_and_session_ids_are_unguessable(app, make_user):
    make_user()
    module = register_module()
    codes, refresh_tokens, token_ids, sessions = [], [], [], []
    keys = KeySet.import_key_set(app.test_client().get("/jwks").json)
    for sample in range(SAMPLES):
        client = app.test_client()
        assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
        sessions.append(session_token(app, client))
        query, verifier = authorize(client, module.client_id, nonce=f"n{sample}")
        assert "code" in query, query
        codes.append(query["code"])
        tokens = redeem(client, module, query["code"], verifier).json
        refresh_tokens.append(tokens["refresh_token"])
        claims = jwt.decode(tokens["access_token"], keys, algorithms=["RS256", "ES256"]).claims
        token_ids.append(claims["jti"])
    assert_random(codes)
    assert_random(refresh_tokens, prefix="idprt_")
    assert_random(token_ids, min_chars=16)
    assert_random(sessions)


# --- RT-06 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("age", "alive"), [
    (timedelta(hours=12) - timedelta(seconds=1), True),
    (timedelta(hours=12), False),
], ids=["11h59m59s", "12h00m00s"])
def test_rt_06_refresh_tokens_end_with_the_sso_sessions_absolute_end(app, make_user, age, alive):
    module = register_module()
    client = app.test_client()
    with time_machine.travel(START, tick=False):
        make_user()
        login(client, "jdupont", STRONG_PASSWORD)
        tokens = tokens_for(client, module)
    with time_machine.travel(START + timedelta(hours=6), tick=False):
        tokens = refresh(app.test_client(), module, tokens["refresh_token"]).json
        assert tokens["refresh_token"]
    with time_machine.travel(START + age, tick=False):
        response = refresh(app.test_client(), module, tokens["refresh_token"])
    if alive:
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert response.json["error"] == "invalid_grant"


# --- SESS-03 ---------------------------------------------------------------------------------


class _Guessed(SecureCookieSessionInterface):
    def __init__(self, key: str):
        self.key = key

    def sign(self, app, data: dict) -> str:
        original = app.secret_key
        app.secret_key = self.key
        try:
            return self.get_signing_serializer(app).dumps(data)
        finally:
            app.secret_key = original


def signed_in(app, client) -> bool:
    return client.get("/").status_code == 200


@pytest.mark.parametrize("key", ["secret", "dev", "changeme", "flask", "idp", "bonuseco"])
def test_sess_03_a_cookie_signed_with_a_guessed_key_is_refused(app, make_user, key):
    make_user()
    victim = app.test_client()
    login(victim, "jdupont", STRONG_PASSWORD)
    stolen_sid = session_token(app, victim)  # even knowing the opaque id
    attacker = app.test_client()
    attacker.set_cookie(app.config["SESSION_COOKIE_NAME"],
                        _Guessed(key).sign(app, {"sid": stolen_sid}))
    assert not signed_in(app, attacker)
    assert signed_in(app, victim)


def test_sess_03_a_tampered_cookie_is_refused(app, make_user):
    make_user()
    client = app.test_client()
    login(client, "jdupont", STRONG_PASSWORD)
    name = app.config["SESSION_COOKIE_NAME"]
    value = client.get_cookie(name).value
    assert signed_in(app, client)
    # Not the last character: its low bits are base64 padding, which a decoder
    # ignores, so changing them may leave the signature intact.
    flipped = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    client.set_cookie(name, flipped)
    assert not signed_in(app, client)
