"""CORS for browser-only modules (docs/modules.md): discovery and JWKS for any origin;
token, userinfo and revocation for the origins of the client's redirect URIs only."""

from __future__ import annotations

import pytest
import requests

from tests.oidc.conftest import log_in_and_get_tokens
from tests.oidc.conftest import rp_session

MODULE_ORIGIN = "http://127.0.0.1:8765"  # the origin of tests.oidc.conftest.CALLBACK
STRANGER = "https://evil.example"


def _get(url: str, **headers) -> requests.Response:
    return requests.get(url, headers=headers, timeout=10)


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/jwks"])
def test_public_documents_are_readable_from_any_origin(live_server, path):
    first = _get(live_server.url + path, Origin=STRANGER)  # built by the Flask view
    again = _get(live_server.url + path, Origin=STRANGER)  # served from the cached bytes
    for response in (first, again):
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in response.headers
    revalidated = _get(live_server.url + path, Origin=STRANGER,
                       **{"If-None-Match": again.headers["ETag"]})
    assert revalidated.status_code == 304
    preflight = requests.options(live_server.url + path, timeout=10, headers={
        "Origin": STRANGER, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "if-none-match"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert preflight.headers["Access-Control-Allow-Headers"] == "If-None-Match"


def _preflight(live_server, path: str, origin: str) -> requests.Response:
    return requests.options(live_server.url + path, timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})


@pytest.mark.parametrize("path", ["/token", "/userinfo", "/revoke"])
def test_preflights_allow_registered_origins_only(live_server, module, path):
    allowed = _preflight(live_server, path, MODULE_ORIGIN)
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == MODULE_ORIGIN
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"].split(", ")
    assert allowed.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert allowed.headers["Access-Control-Max-Age"] == "600"
    assert "Origin" in allowed.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    refused = _preflight(live_server, path, STRANGER)
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert "Access-Control-Allow-Methods" not in refused.headers


def test_token_answers_are_readable_by_the_clients_own_origin(
        live_server, browser, make_module, make_user):
    make_user()
    public = make_module("browser-module", public=True)
    other = make_module("other-module", redirect_uris=["https://other.example/cb"])
    tokens = log_in_and_get_tokens(
        browser, rp_session(live_server.url, public, token_endpoint_auth_method="none"))
    refresh = {"grant_type": "refresh_token", "client_id": public.client_id}

    # The refresh of a public client, as fetch() sends it (a simple request: no preflight).
    mine = requests.post(live_server.url + "/token", timeout=10, headers={
        "Origin": MODULE_ORIGIN}, data={**refresh, "refresh_token": tokens["refresh_token"]})
    assert mine.status_code == 200
    assert mine.headers["Access-Control-Allow-Origin"] == MODULE_ORIGIN
    assert "Origin" in mine.headers["Vary"]

    # Another client's origin, or a stranger's, cannot use this client's tokens: refused
    # before the refresh token is spent (a form POST needs no preflight).
    for origin in ("https://other.example", STRANGER, "null"):
        theirs = requests.post(live_server.url + "/token", timeout=10, headers={
            "Origin": origin}, data={**refresh, "refresh_token": mine.json()["refresh_token"]})
        assert theirs.status_code == 400
        assert theirs.json()["error"] == "invalid_request"
        assert "Access-Control-Allow-Origin" not in theirs.headers
    still = requests.post(live_server.url + "/token", timeout=10, headers={
        "Origin": MODULE_ORIGIN}, data={**refresh, "refresh_token": mine.json()["refresh_token"]})
    assert still.status_code == 200
    # A confidential client named by HTTP Basic: its own origin only.
    basic = requests.post(live_server.url + "/token", timeout=10, auth=(
        other.client_id, other.secret), headers={"Origin": "https://other.example"},
        data={"grant_type": "refresh_token", "refresh_token": "idprt_unknown"})
    assert basic.status_code == 400
    assert basic.headers["Access-Control-Allow-Origin"] == "https://other.example"


def test_userinfo_and_revocation_follow_the_tokens_client(
        live_server, browser, make_module, make_user):
    make_user()
    public = make_module("browser-module", public=True)
    make_module("other-module", redirect_uris=["https://other.example/cb"])
    tokens = log_in_and_get_tokens(
        browser, rp_session(live_server.url, public, token_endpoint_auth_method="none"))
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}

    info = _get(live_server.url + "/userinfo", Origin=MODULE_ORIGIN, **bearer)
    assert info.status_code == 200
    assert info.headers["Access-Control-Allow-Origin"] == MODULE_ORIGIN
    assert info.headers["Access-Control-Expose-Headers"] == "WWW-Authenticate"
    for origin in ("https://other.example", STRANGER):
        assert "Access-Control-Allow-Origin" not in _get(
            live_server.url + "/userinfo", Origin=origin, **bearer).headers

    revoked = requests.post(live_server.url + "/revoke", timeout=10, headers={
        "Origin": MODULE_ORIGIN}, data={"token": tokens["refresh_token"],
                                        "client_id": public.client_id})
    assert revoked.status_code == 200
    assert revoked.headers["Access-Control-Allow-Origin"] == MODULE_ORIGIN


def test_no_origin_no_cors_headers(live_server, module):
    """Server-side modules send no Origin: nothing is added to their answers."""
    response = requests.post(live_server.url + "/token", timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": "x", "client_id": module.client_id})
    assert not [h for h in response.headers if h.startswith("Access-Control-")]
