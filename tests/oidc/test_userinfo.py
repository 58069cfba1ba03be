"""UserInfo (OIDC Core 5.3): bearer only, JSON or a signed JWT, claims parameter."""

from __future__ import annotations

import json

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
    assert 'error="invalid_token"' in garbage.headers["WWW-Authenticate"]
    query = requests.get(live_server.url + "/userinfo?access_token=x", timeout=10)
    assert query.status_code == 401


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
