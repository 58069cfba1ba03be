"""UserInfo (OIDC Core 5.3): bearer only, JSON or a signed JWT, claims parameter."""

from __future__ import annotations

import json

import pytest
import requests
from joserfc import jwt
from sqlalchemy import create_engine

from tests.conftest import HTTP_TIMEOUT
from tests.oidc.conftest import jwks
from tests.oidc.conftest import log_in_and_get_tokens
from tests.oidc.conftest import rp_session


def test_signed_userinfo_and_claims_parameter(live_server, browser, make_module, make_user):
    make_user(siret=None)
    module = make_module("module-signed", signed_userinfo=True)
    rp = rp_session(live_server.url, module, scope="openid")
    claims = json.dumps({"userinfo": {"given_name": {"essential": True}, "email": None}})
    token = log_in_and_get_tokens(browser, rp, claims=claims)
    response = requests.get(live_server.url + "/userinfo", timeout=10,
                            headers={"Authorization": f"Bearer {token['access_token']}"})
    assert response.headers["Content-Type"] == "application/jwt"
    decoded = jwt.decode(response.text, jwks(live_server.url), algorithms=["RS256"])
    assert decoded.claims["iss"] == live_server.url
    assert decoded.claims["aud"] == module.client_id
    assert decoded.claims["given_name"] == "Jean"
    assert "email" in decoded.claims
    assert "family_name" not in decoded.claims


def test_garbage_or_query_string_token_is_refused(live_server, module):
    garbage = requests.get(live_server.url + "/userinfo", timeout=10,
                           headers={"Authorization": "Bearer a.b.c"})
    assert garbage.status_code == 401
    assert garbage.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    # RFC 6750 2.3 (tokens in URLs end up in logs) is not supported: no credentials.
    query = requests.get(live_server.url + "/userinfo?access_token=x", timeout=10)
    assert query.status_code == 401
    assert query.headers["WWW-Authenticate"] == "Bearer"


def test_the_token_in_a_form_body_is_accepted(live_server, browser, module, make_user):
    """RFC 6750 2.2 (pyoidc's default): POST, form-encoded, ``access_token``."""
    make_user()
    token = log_in_and_get_tokens(browser, module)["access_token"]
    by_header = requests.get(live_server.url + "/userinfo", timeout=10,
                             headers={"Authorization": f"Bearer {token}"})
    by_body = requests.post(live_server.url + "/userinfo", timeout=10,
                            data={"access_token": token})
    assert by_body.status_code == by_header.status_code == 200
    assert by_body.json() == by_header.json()
    assert by_body.json()["email"] == "jdupont@example.test"
    # 2.2: only a form-encoded body; GET has no body semantics.
    as_json = requests.post(live_server.url + "/userinfo", timeout=10,
                            json={"access_token": token})
    assert (as_json.status_code, as_json.headers["WWW-Authenticate"]) == (401, "Bearer")
    twice = requests.post(live_server.url + "/userinfo", timeout=10,
                          data={"access_token": token},
                          headers={"Authorization": f"Bearer {token}"})
    assert twice.status_code == 400
    assert twice.json()["error"] == "invalid_request"
    assert twice.headers["WWW-Authenticate"].startswith('Bearer error="invalid_request"')


@pytest.mark.parametrize(("authorization", "status", "challenge"), [
    (None, 401, "Bearer"),  # RFC 6750 3.1: no credentials, no error code
    ("Basic bW9kdWxlOnNlY3JldA==", 401, "Bearer"),  # another scheme: no bearer token
    ("Bearer", 400, 'Bearer error="invalid_request"'),
    ("Bearer   ", 400, 'Bearer error="invalid_request"'),
    ("bearer a.b.c", 401, 'Bearer error="invalid_token"'),  # the scheme is case-insensitive
])
def test_challenges_of_rfc_6750(live_server, authorization, status, challenge):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = requests.get(live_server.url + "/userinfo", timeout=10, headers=headers)
    assert response.status_code == status
    assert response.headers["WWW-Authenticate"].startswith(challenge)
    if status == 401 and challenge == "Bearer":
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "error" not in response.json()


def test_userinfo_answers_while_another_connection_writes(live_server, browser, module,
                                                         make_user, app):
    """Userinfo only reads: on SQLite it does not queue for the write lock (its
    transaction begins DEFERRED), on PostgreSQL it reads the last committed row."""
    make_user()
    token = log_in_and_get_tokens(browser, module)
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    writer = engine.raw_connection()
    try:
        if engine.dialect.name == "sqlite":
            writer.driver_connection.isolation_level = None
            writer.cursor().execute("BEGIN IMMEDIATE")  # the database's one write lock
        writer.cursor().execute("UPDATE users SET given_name = 'Jeanne' WHERE login = 'jdupont'")
        # Queued behind the writer, it would fail after SQLite's busy timeout (30 s): the
        # status tells, not a clock.
        response = requests.get(live_server.url + "/userinfo", timeout=HTTP_TIMEOUT,
                                headers={"Authorization": f"Bearer {token['access_token']}"})
        assert response.status_code == 200
        assert response.json()["given_name"] == "Jean"  # the committed value
    finally:
        writer.rollback()
        writer.close()
        engine.dispose()
