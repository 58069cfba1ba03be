"""Refresh tokens: rotation on each use, reuse of a rotated one revokes the family."""

from __future__ import annotations

import requests

from idp.assistance import services
from idp.clock import utcnow
from idp.database import commit
from tests.conftest import Browser
from tests.oidc.conftest import CALLBACK
from tests.oidc.conftest import callback_params
from tests.oidc.conftest import log_in_and_get_tokens
from tests.oidc.conftest import verify_id_token
from tests.security.oauth import authorize_url


def _refresh(idp_url, module, refresh_token, **extra):
    return requests.post(idp_url + "/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh_token, **extra,
    }, auth=(module.client_id, module.secret), timeout=10)


def test_refresh_rotates_and_reuse_revokes_the_family(
        live_server, browser, module, make_user, audit_rows):
    make_user()
    first = log_in_and_get_tokens(browser, module)
    second = _refresh(live_server.url, module, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]

    reuse = _refresh(live_server.url, module, first["refresh_token"])
    assert reuse.json()["error"] == "invalid_grant"
    assert _refresh(live_server.url, module, second["refresh_token"]).json()["error"] == \
        "invalid_grant"
    bearer = {"Authorization": f"Bearer {second['access_token']}"}
    assert requests.get(live_server.url + "/userinfo", headers=bearer, timeout=10).status_code \
        == 401
    assert audit_rows("token.reuse_detected")


def test_refresh_gives_a_new_id_token_of_the_original_authentication(
        live_server, browser, module, make_user):
    """OIDC Core 12.2: iss, sub, aud, auth_time, acr, amr, sid as at the login; a new
    iat; at_hash of the new access token; the claims asked for the ID token; no nonce."""
    make_user()
    first = log_in_and_get_tokens(browser, module, nonce="n-first",
                                  claims='{"id_token": {"email": null}}')
    original = verify_id_token(live_server.url, first["id_token"], module.client_id,
                               "n-first", first["access_token"])
    second = _refresh(live_server.url, module, first["refresh_token"]).json()
    renewed = verify_id_token(live_server.url, second["id_token"], module.client_id,
                              None, second["access_token"])
    assert set(renewed) == set(original) - {"nonce"}
    assert renewed["header"]["kid"] == original["header"]["kid"]
    for name in ("iss", "sub", "aud", "auth_time", "acr", "amr", "sid", "email"):
        assert renewed[name] == original[name], name
    assert renewed["iat"] >= original["iat"]
    assert renewed["exp"] == renewed["iat"] + 600
    assert renewed["at_hash"] != original["at_hash"]


def test_rt_02_refused_scope_keeps_refresh_token_usable(
        live_server, browser, module, make_user, audit_rows):
    """RFC 6749 6: a wider scope is refused, and the refused request spends nothing."""
    make_user()
    first = log_in_and_get_tokens(browser, module)
    wider = _refresh(live_server.url, module, first["refresh_token"],
                     scope="openid profile email habilitations siret")
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_scope"

    narrower = _refresh(live_server.url, module, first["refresh_token"], scope="openid email")
    assert narrower.status_code == 200, narrower.text
    assert narrower.json()["scope"] == "openid email"
    assert not audit_rows("token.reuse_detected")
    bearer = {"Authorization": f"Bearer {narrower.json()['access_token']}"}
    assert requests.get(live_server.url + "/userinfo", headers=bearer, timeout=10).status_code \
        == 200


def test_refresh_token_of_another_client_is_refused(
        live_server, browser, module, make_module, make_user):
    make_user()
    other = make_module("module-b")
    first = log_in_and_get_tokens(browser, module)
    assert _refresh(live_server.url, other, first["refresh_token"]).json()["error"] == \
        "invalid_grant"


def test_first_use_of_a_reset_provisional_password_kills_older_refresh_tokens(
        live_server, browser, module, make_user, mailbox):
    """SPEC 1.2: the first login with the provisional password revokes the user's other
    sessions and refresh tokens (SECURITY-CHECKLIST RT-05, FPW-06)."""
    user = make_user()
    before = log_in_and_get_tokens(browser, module)
    services.reset_password(user, actor="test", reason="appel", now=utcnow())
    commit()
    provisional = mailbox.provisional_password("jdupont@example.test")
    elsewhere = Browser(live_server.url)
    response = elsewhere.post_login(elsewhere.open("/login"), "jdupont", provisional)
    assert response.headers["Location"] == "/password-change"
    assert _refresh(live_server.url, module, before["refresh_token"]).json()["error"] == \
        "invalid_grant"
    # The first browser's SSO session is over too: a silent login is refused.
    url = authorize_url(module.client_id, redirect_uri=CALLBACK, prompt="none", nonce="second")
    assert callback_params(browser.open(url))["error"] == "login_required"
