"""Token endpoint: the code flow end to end, and each way a redemption is refused."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
import time_machine
from joserfc import jwt
from joserfc.errors import ExpiredTokenError

from idp.clock import utcnow
from tests.oidc.conftest import CALLBACK
from tests.oidc.conftest import OTHER_CALLBACK
from tests.oidc.conftest import callback_params
from tests.oidc.conftest import fresh
from tests.oidc.conftest import jwks
from tests.oidc.conftest import log_in_and_get_code
from tests.oidc.conftest import log_in_and_get_tokens
from tests.oidc.conftest import rp_session
from tests.oidc.conftest import verify_id_token
from tests.security.concurrency import run_concurrently
from tests.security.oauth import authorize_url


def _redeem(idp_url, module, params, verifier, secret=None, redirect_uri=CALLBACK):
    return requests.post(idp_url + "/token", data={
        "grant_type": "authorization_code", "code": params["code"],
        "redirect_uri": redirect_uri, "code_verifier": verifier,
    }, auth=(module.client_id, secret or module.secret), timeout=10)


def test_code_flow_gives_verified_id_token_access_token_and_userinfo(
        live_server, browser, module, make_user, audit_rows):
    user = make_user()
    subject, login = fresh(user, "subject"), fresh(user, "login")
    rp = rp_session(live_server.url, module)
    params, verifier = log_in_and_get_code(browser, rp, "jdupont", state="st-1")
    assert params["state"] == "st-1"
    assert params["iss"] == live_server.url

    token = rp.fetch_token(live_server.url + "/token", code=params["code"],
                           code_verifier=verifier)
    assert token["token_type"] == "Bearer"
    claims = verify_id_token(live_server.url, token["id_token"], module.client_id,
                             "n-0S6_WzA2Mj", token["access_token"])
    assert claims["sub"] == subject != login
    assert claims["acr"] == "eidas1"
    assert claims["amr"] == ["pwd"]
    assert claims["sid"]
    assert claims["auth_time"] <= claims["iat"]
    assert "email" not in claims  # OIDC Core 5.4: scope claims come from userinfo

    info = rp.get(live_server.url + "/userinfo").json()
    assert info["sub"] == subject
    assert info["email"] == "jdupont@example.test"
    assert info["given_name"] == "Jean"
    assert info["usual_name"] == "Dupont"
    assert info["habilitations"] == [{"code": "bonuseco", "label": "Bonus Eco", "profile": ""}]
    assert info["habilitation_codes"] == ["bonuseco"]  # no profile, no "bonuseco:"
    assert audit_rows("token.issued")[-1].client_id == module.client_id


def test_token_response_is_not_cacheable(live_server, browser, module, make_user):
    make_user()
    rp = rp_session(live_server.url, module)
    params, verifier = log_in_and_get_code(browser, rp, "jdupont")
    response = _redeem(live_server.url, module, params, verifier)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert response.json()["expires_in"] > 0


def test_wrong_client_secret_is_invalid_client(live_server, browser, module, make_user):
    make_user()
    rp = rp_session(live_server.url, module)
    params, verifier = log_in_and_get_code(browser, rp, "jdupont")
    response = _redeem(live_server.url, module, params, verifier, secret="idpcs_wrong")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "WWW-Authenticate" in response.headers


def test_wrong_verifier_and_missing_verifier_are_invalid_grant(
        live_server, browser, module, make_user):
    make_user()
    rp = rp_session(live_server.url, module)
    params, _verifier = log_in_and_get_code(browser, rp, "jdupont")
    response = _redeem(live_server.url, module, params, "w" * 50)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    params, _verifier = log_in_and_get_code(browser, rp, "jdupont", nonce="n2")
    response = requests.post(live_server.url + "/token", data={
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": CALLBACK,
    }, auth=(module.client_id, module.secret), timeout=10)
    assert response.json()["error"] == "invalid_grant"


def test_redirect_uri_is_bound_to_the_code(live_server, browser, module, make_user):
    make_user()
    rp = rp_session(live_server.url, module)
    params, verifier = log_in_and_get_code(browser, rp, "jdupont")
    response = _redeem(live_server.url, module, params, verifier, redirect_uri=OTHER_CALLBACK)
    assert response.json()["error"] == "invalid_grant"


def test_code_of_another_client_is_refused(live_server, browser, module, make_module, make_user):
    make_user()
    other = make_module("module-b")
    rp = rp_session(live_server.url, module)
    params, verifier = log_in_and_get_code(browser, rp, "jdupont")
    response = _redeem(live_server.url, other, params, verifier)
    assert response.json()["error"] == "invalid_grant"
    assert _redeem(live_server.url, module, params, verifier).status_code == 200


def test_replayed_code_fails_and_revokes_the_first_tokens(
        live_server, browser, module, make_user, audit_rows):
    make_user()
    rp = rp_session(live_server.url, module)
    params, verifier = log_in_and_get_code(browser, rp, "jdupont")
    first = _redeem(live_server.url, module, params, verifier).json()
    userinfo = live_server.url + "/userinfo"
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    assert requests.get(userinfo, headers=bearer, timeout=10).status_code == 200

    replay = _redeem(live_server.url, module, params, verifier)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    after = requests.get(userinfo, headers=bearer, timeout=10)
    assert after.status_code == 401
    assert 'error="invalid_token"' in after.headers["WWW-Authenticate"]
    refresh = requests.post(live_server.url + "/token", data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"],
    }, auth=(module.client_id, module.secret), timeout=10)
    assert refresh.json()["error"] == "invalid_grant"
    assert audit_rows("authorize.code_replayed")[-1].details["revoked"] == 1


def test_expired_code_is_refused(live_server, browser, module, make_user):
    make_user()
    rp = rp_session(live_server.url, module)
    params, verifier = log_in_and_get_code(browser, rp, "jdupont")
    with time_machine.travel(utcnow() + timedelta(seconds=61), tick=True):
        response = _redeem(live_server.url, module, params, verifier)
    assert response.json()["error"] == "invalid_grant"


def test_two_concurrent_redemptions_give_exactly_one_token(
        live_server, browser, module, make_user):
    make_user()
    rp = rp_session(live_server.url, module)
    for _ in range(3):
        params, verifier = log_in_and_get_code(browser, rp, "jdupont", nonce=None)
        responses = run_concurrently(6, lambda _i, p=params, v=verifier:
                                     _redeem(live_server.url, module, p, v))
        assert sorted(r.status_code for r in responses) == [200, 400, 400, 400, 400, 400]


def test_password_grant_and_client_credentials_are_unsupported(live_server, module):
    for grant_type in ("password", "client_credentials", "implicit"):
        response = requests.post(live_server.url + "/token", data={
            "grant_type": grant_type, "username": "x", "password": "y",
        }, auth=(module.client_id, module.secret), timeout=10)
        assert response.json()["error"] == "unsupported_grant_type"


# --- access tokens: what a module validating them offline sees (RFC 9068) -------------


def _userinfo_status(idp_url: str, access_token: str) -> int:
    return requests.get(idp_url + "/userinfo", timeout=10,
                        headers={"Authorization": f"Bearer {access_token}"}).status_code


def _check_access_token(idp_url: str, token: dict, module, alg: str, subject: str) -> dict:
    """Every claim and header member of an RFC 9068 access token, signature included."""
    decoded = jwt.decode(token["access_token"], jwks(idp_url), algorithms=[alg])
    published = {key.kid for key in jwks(idp_url).keys}
    assert decoded.header["typ"] == "at+jwt"  # RFC 9068 2.1
    assert decoded.header["alg"] == alg
    assert decoded.header["kid"] in published
    claims = decoded.claims
    assert set(claims) == {"iss", "sub", "aud", "client_id", "iat", "exp", "jti", "scope"}
    assert claims["iss"] == idp_url
    assert claims["sub"] == subject
    assert claims["aud"] == module.client_id
    assert claims["client_id"] == module.client_id
    assert claims["scope"] == token["scope"] == "openid profile email habilitations"
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 16
    assert abs(claims["iat"] - time.time()) < 60
    # RFC 9068 2.2 and RFC 6749 5.1: the token lives exactly what the response says.
    assert token["expires_in"] == 600
    assert claims["exp"] - claims["iat"] == token["expires_in"]
    return claims


def _offline_validation_fails_at(claims: dict, when: float) -> bool:
    """What a module does offline: exp checked against its own clock (RFC 7519 4.1.4)."""
    with time_machine.travel(when, tick=False):
        try:
            jwt.JWTClaimsRegistry(exp={"essential": True}).validate(claims)
        except ExpiredTokenError:
            return True
    return False


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_tok_13_access_token_lifetime_matches_expires_in_for_both_grants(
        live_server, browser, make_module, make_user, alg):
    user = make_user()
    subject = fresh(user, "subject")
    module = make_module(f"module-{alg.lower()}", id_token_alg=alg)
    first = log_in_and_get_tokens(browser, module)
    first_claims = _check_access_token(live_server.url, first, module, alg, subject)
    refreshed = requests.post(live_server.url + "/token", data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"],
    }, auth=(module.client_id, module.secret), timeout=10).json()
    claims = _check_access_token(live_server.url, refreshed, module, alg, subject)
    assert claims["jti"] != first_claims["jti"]

    assert _userinfo_status(live_server.url, refreshed["access_token"]) == 200
    assert not _offline_validation_fails_at(claims, claims["exp"] - 1)
    assert _offline_validation_fails_at(claims, claims["exp"] + 1)
    with time_machine.travel(claims["exp"] + 1, tick=False):
        assert _userinfo_status(live_server.url, refreshed["access_token"]) == 401


# --- PKCE for every client (RFC 9700 2.1.1) ---------------------------------------------


def _code_without_pkce(browser, module, nonce: str) -> dict:
    page = browser.open(authorize_url(module.client_id, None, redirect_uri=CALLBACK, nonce=nonce))
    if page.status_code == 200 and 'name="password"' in page.text:
        page = browser.login(page, "jdupont")
    return callback_params(page)


def test_pkce_05_a_legacy_client_registered_pkce_optional_may_skip_it(
        live_server, browser, make_module, make_user):
    make_user()
    legacy = make_module("legacy", pkce_optional=True)
    params = _code_without_pkce(browser, legacy, "n1")
    response = requests.post(live_server.url + "/token", data={
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": CALLBACK,
    }, auth=(legacy.client_id, legacy.secret), timeout=10)
    assert response.status_code == 200, response.text

    rp = rp_session(live_server.url, legacy)
    params, verifier = log_in_and_get_code(browser, rp, "jdupont", nonce="n2")
    assert _redeem(live_server.url, legacy, params, "x" * 43).json()["error"] == "invalid_grant"
    assert log_in_and_get_tokens(browser, rp, nonce="n3")["access_token"]


def test_pkce_04_a_verifier_for_a_code_issued_without_challenge_is_refused(
        live_server, browser, make_module, make_user):
    """RFC 9700 4.8.2: no PKCE downgrade, even for a client allowed to skip PKCE."""
    make_user()
    legacy = make_module("legacy", pkce_optional=True)
    params = _code_without_pkce(browser, legacy, "n1")
    response = _redeem(live_server.url, legacy, params, "v" * 43)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_grant", "invalid_request")


def test_pkce_01_valid_s256_works_for_a_public_client(live_server, browser, make_module,
                                                       make_user):
    make_user()
    public = make_module("browser-app", public=True)
    token = log_in_and_get_tokens(
        browser, rp_session(live_server.url, public, token_endpoint_auth_method="none"))
    assert token["access_token"]
    assert token["id_token"]


@pytest.mark.parametrize("bad_verifier", ["v" * 42, "v" * 129, "v" * 42 + "!", "v" * 42 + "é"],
                         ids=["42-chars", "129-chars", "illegal-char", "non-ascii"])
def test_pkce_03_malformed_verifier_is_refused(live_server, browser, module, make_user,
                                               bad_verifier):
    """RFC 7636 4.1: 43 to 128 characters of [A-Za-z0-9-._~]."""
    make_user()
    rp = rp_session(live_server.url, module)
    params, _verifier = log_in_and_get_code(browser, rp, "jdupont")
    response = _redeem(live_server.url, module, params, bad_verifier)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "invalid_grant")
    assert "access_token" not in response.json()
