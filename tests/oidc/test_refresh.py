"""Refresh tokens: rotation on each use, reuse of a rotated one revokes the family."""

from __future__ import annotations

import requests

from tests.oidc.conftest import log_in_and_get_code
from tests.oidc.conftest import rp_session


def _refresh(idp_url, module, refresh_token, **extra):
    return requests.post(idp_url + "/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh_token, **extra,
    }, auth=(module.client_id, module.secret), timeout=10)


def _tokens(live_server, browser, module):
    rp = rp_session(live_server.url, module)
    params, verifier = log_in_and_get_code(browser, rp, "jdupont")
    return rp.fetch_token(live_server.url + "/token", code=params["code"], code_verifier=verifier)


def test_refresh_rotates_and_reuse_revokes_the_family(
        live_server, browser, module, make_user, audit_rows):
    make_user()
    first = _tokens(live_server, browser, module)
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


def test_refresh_cannot_widen_the_scope(live_server, browser, module, make_user):
    make_user()
    first = _tokens(live_server, browser, module)
    wider = _refresh(live_server.url, module, first["refresh_token"],
                     scope="openid profile email habilitations siret")
    assert wider.json()["error"] == "invalid_scope"


def test_refresh_token_of_another_client_is_refused(
        live_server, browser, module, make_module, make_user):
    make_user()
    other = make_module("module-b")
    first = _tokens(live_server, browser, module)
    assert _refresh(live_server.url, other, first["refresh_token"]).json()["error"] == \
        "invalid_grant"
