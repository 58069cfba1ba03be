"""Revocation (RFC 7009) and introspection (RFC 7662)."""

from __future__ import annotations

import requests

from tests.oidc.conftest import log_in_and_get_tokens


def _post(idp_url, path, module, token, **extra):
    return requests.post(idp_url + path, data={"token": token, **extra},
                         auth=(module.client_id, module.secret), timeout=10)


def test_introspection_then_revocation_of_the_refresh_token(
        live_server, browser, module, make_user):
    make_user()
    token = log_in_and_get_tokens(browser, module)
    active = _post(live_server.url, "/introspect", module, token["access_token"]).json()
    assert active["active"] is True
    assert active["client_id"] == module.client_id
    assert active["token_type"] == "Bearer"

    revoked = _post(live_server.url, "/revoke", module, token["refresh_token"],
                    token_type_hint="refresh_token")
    assert revoked.status_code == 200
    for value in (token["access_token"], token["refresh_token"]):
        assert _post(live_server.url, "/introspect", module, value).json() == {"active": False}


def test_other_client_can_neither_introspect_nor_revoke(
        live_server, browser, module, make_module, make_user):
    make_user()
    other = make_module("module-b")
    token = log_in_and_get_tokens(browser, module)
    assert _post(live_server.url, "/introspect", other, token["access_token"]).json() == \
        {"active": False}
    assert _post(live_server.url, "/revoke", other, token["refresh_token"]).status_code == 400
    assert _post(live_server.url, "/introspect", module, token["access_token"]).json()["active"]


def test_unknown_token_revocation_is_200(live_server, module):
    assert _post(live_server.url, "/revoke", module, "idprt_unknown").status_code == 200
