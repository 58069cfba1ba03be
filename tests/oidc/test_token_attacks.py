"""The token endpoint attacked: races on one code or one refresh token, disabled modules.

The races run against the live server (one thread per request, a start
barrier): on PostgreSQL the requests overlap in the database; on SQLite,
whose writers queue one after the other, the interleaving tests below put
another request's commit between the read and the write of one request.
"""

from __future__ import annotations

import base64

import pytest
import requests
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from idp.clock import utcnow
from idp.extensions import db
from idp.models import AuthorizationCode
from idp.models import Token
from idp.oidc import tokens
from idp.oidc.tokens import refresh_hash
from idp.security.keyed_hash import token_hash
from tests.conftest import short_transaction
from tests.oidc.conftest import CALLBACK
from tests.oidc.conftest import log_in_and_get_code
from tests.oidc.conftest import log_in_and_get_tokens
from tests.oidc.conftest import rp_session
from tests.security.concurrency import run_concurrently
from tests.security.oauth import authorize_url

CONCURRENT = 20
RUNS = 3


def _redeem(idp_url, module, code, verifier) -> requests.Response:
    return requests.post(idp_url + "/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }, auth=(module.client_id, module.secret), timeout=60)


def _refresh(idp_url, module, refresh_token) -> requests.Response:
    return requests.post(idp_url + "/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh_token,
    }, auth=(module.client_id, module.secret), timeout=60)


def _outcomes(responses) -> tuple[int, set[str]]:
    """How many token responses, and the errors of all the others."""
    winners = [r for r in responses if r.status_code == 200]
    errors = {r.json().get("error") for r in responses if r.status_code != 200}
    return len(winners), errors


def _count(statement) -> int:
    with short_transaction():
        return db.session.execute(statement).scalar_one()


def _issued_from_code(code: str) -> int:
    family = select(AuthorizationCode.family_id).where(
        AuthorizationCode.code_hash == token_hash(code)).scalar_subquery()
    return _count(select(func.count()).select_from(Token).where(Token.family_id == family))


def _children_of(refresh_token: str) -> int:
    parent = select(Token.id).where(Token.refresh_hash == refresh_hash(refresh_token))
    return _count(select(func.count()).select_from(Token).where(
        Token.parent_id == parent.scalar_subquery()))


def test_tok_07_simultaneous_redemptions_of_one_code_give_one_token_response(
        live_server, browser, module, make_user):
    """RFC 6749 4.1.2: a code is used once, however many requests present it together."""
    make_user()
    rp = rp_session(live_server.url, module)
    for run in range(RUNS):
        params, verifier = log_in_and_get_code(browser, rp, "jdupont", nonce=f"run-{run}")
        responses = run_concurrently(CONCURRENT, lambda _i, c=params["code"], v=verifier:
                                     _redeem(live_server.url, module, c, v))
        assert _outcomes(responses) == (1, {"invalid_grant"})
        assert _issued_from_code(params["code"]) == 1


def test_rt_04_simultaneous_refreshes_of_one_token_rotate_it_once(
        live_server, browser, module, make_user):
    """RFC 9700 4.14.2: one rotation; the others are refused, never a second family branch."""
    make_user()
    for run in range(RUNS):
        presented = log_in_and_get_tokens(browser, module, nonce=f"run-{run}")["refresh_token"]
        responses = run_concurrently(CONCURRENT, lambda _i, t=presented:
                                     _refresh(live_server.url, module, t))
        assert _outcomes(responses) == (1, {"invalid_grant"})
        assert _children_of(presented) == 1


def test_rt_04_refresh_rotated_by_another_request_meanwhile_is_refused(
        live_server, browser, module, make_user, monkeypatch):
    """Another request rotates the token after this one read it, before this one writes:
    the rotation is claimed by a conditional write, so this one loses."""
    make_user()
    presented = log_in_and_get_tokens(browser, module, nonce="first")["refresh_token"]
    real_find = tokens.find_refresh

    def find_then_lose_the_race(value):
        row = real_find(value)
        # The winner's write, after our read: our row still says "not rotated".
        db.session.execute(update(Token).where(Token.id == row.id).values(rotated_at=utcnow())
                           .execution_options(synchronize_session=False))
        return row

    monkeypatch.setattr(tokens, "find_refresh", find_then_lose_the_race)
    response = _refresh(live_server.url, module, presented)
    monkeypatch.undo()

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert _children_of(presented) == 0


def test_authz_04_a_disabled_client_is_never_redirected_to_and_its_tokens_stop(
        live_server, browser, module, make_user, runner):
    """RFC 6749 4.1.2.1: an unknown (here disabled) client gets our page, never a redirect."""
    make_user()
    rp = rp_session(live_server.url, module)
    issued = log_in_and_get_tokens(browser, module, nonce="before")
    params, verifier = log_in_and_get_code(browser, rp, "jdupont", nonce="pending")

    assert runner.invoke(args=["clients", "disable", module.client_id]).exit_code == 0

    page = browser.open(authorize_url(module.client_id, redirect_uri=CALLBACK, nonce="after"))
    assert page.status_code == 400
    assert "Location" not in page.headers
    assert "pas reconnue" in page.text
    for response in (_redeem(live_server.url, module, params["code"], verifier),
                     _refresh(live_server.url, module, issued["refresh_token"])):
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    assert requests.get(live_server.url + "/userinfo", headers=bearer, timeout=10).status_code \
        == 401

    # Enabled again, it works for new logins, but what it held when disabled stays revoked.
    assert runner.invoke(args=["clients", "enable", module.client_id]).exit_code == 0
    assert _refresh(live_server.url, module, issued["refresh_token"]).json()["error"] == \
        "invalid_grant"
    log_in_and_get_tokens(browser, module, nonce="enabled-again")


def _basic(credentials: bytes) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(credentials).decode()}


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
@pytest.mark.parametrize("credentials", [b"\xff\xfe:x", b"module-a:\xff", b"module-a\x00:x",
                                         b"\x00:\x00"],
                         ids=["id-not-utf8", "secret-not-utf8", "nul-in-id", "nul"])
def test_unreadable_basic_credentials_are_invalid_client(live_server, module, path,
                                                         credentials):
    """RFC 6749 2.3.1, 5.2: Basic credentials that name no client are a 401 invalid_client."""
    response = requests.post(live_server.url + path, data={
        "grant_type": "refresh_token", "refresh_token": "idprt_x", "token": "idprt_x",
    }, headers=_basic(credentials), timeout=10)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
@pytest.mark.parametrize("header", ["Basic ", "Basic \t", "basic  "])
def test_a_basic_scheme_without_credentials_is_invalid_client(live_server, module, path,
                                                             header):
    """RFC 7617 2: « Basic » then blanks carries no credentials: 401 invalid_client."""
    response = requests.post(live_server.url + path, data={
        "grant_type": "refresh_token", "refresh_token": "idprt_x", "token": "idprt_x",
    }, headers={"Authorization": header}, timeout=10)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


def test_nul_in_a_posted_client_id_is_invalid_request(live_server, make_module):
    make_module("poster", auth_method="client_secret_post")
    response = requests.post(live_server.url + "/token", data={
        "grant_type": "refresh_token", "refresh_token": "idprt_x",
        "client_id": "poster\x00", "client_secret": "idpcs_x",
    }, timeout=10)
    # Refused where the request enters, before client authentication (RFC 6749 5.2).
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
