"""The error codes of the token endpoint (RFC 6749 5.2), each where a module's library
expects it: what it may fix in its request (invalid_request), its credentials
(invalid_client), the grant (invalid_grant), what it may use (unauthorized_client,
unsupported_grant_type, invalid_scope)."""

from __future__ import annotations

import pytest
import requests

from tests.oidc.conftest import log_in_and_get_code
from tests.oidc.conftest import rp_session


def _post(live_server, data, auth=None, **kwargs) -> requests.Response:
    return requests.post(live_server.url + "/token", data=data, auth=auth, timeout=10,
                         **kwargs)


def _error(response: requests.Response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert response.headers["Cache-Control"] == "no-store"
    return body


@pytest.mark.parametrize("data", [
    {},  # no grant_type at all
    {"grant_type": ""},
    {"refresh_token": "idprt_x"},
    [("grant_type", "refresh_token"), ("grant_type", "refresh_token"),
     ("refresh_token", "idprt_x")],  # RFC 6749 3.2: no parameter more than once
])
def test_a_missing_or_repeated_grant_type_is_invalid_request(live_server, module, data):
    _error(_post(live_server, data, auth=(module.client_id, module.secret)),
           400, "invalid_request")


@pytest.mark.parametrize("grant_type", [
    "password", "client_credentials", "implicit",
    "urn:ietf:params:oauth:grant-type:device_code", "\u00e9t\u00e9",
])
def test_other_grant_types_are_unsupported(live_server, module, grant_type):
    body = _error(_post(live_server, {"grant_type": grant_type, "username": "x",
                                      "password": "y"}, auth=(module.client_id, module.secret)),
                  400, "unsupported_grant_type")
    assert grant_type not in body.get("error_description", "")  # never echoed


def test_bad_client_credentials_are_invalid_client_with_a_basic_challenge(live_server, module):
    response = _post(live_server, {"grant_type": "refresh_token", "refresh_token": "x"},
                     auth=(module.client_id, "idpcs_wrong"))
    _error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    unknown = _post(live_server, {"grant_type": "refresh_token", "refresh_token": "x",
                                  "client_id": "nobody"})
    _error(unknown, 400, "invalid_client")  # no Authorization header: 400 (5.2)


def test_unknown_code_or_refresh_token_is_invalid_grant(live_server, module):
    auth = (module.client_id, module.secret)
    _error(_post(live_server, {"grant_type": "refresh_token", "refresh_token": "idprt_x"},
                 auth=auth), 400, "invalid_grant")
    _error(_post(live_server, {"grant_type": "authorization_code", "code": "x",
                               "redirect_uri": "http://127.0.0.1:8765/callback",
                               "code_verifier": "v" * 43}, auth=auth), 400, "invalid_grant")


def test_a_wider_scope_at_refresh_is_invalid_scope(live_server, browser, module, make_user):
    make_user()
    rp = rp_session(live_server.url, module, scope="openid email")
    params, verifier = log_in_and_get_code(browser, rp, "jdupont")
    tokens = rp.fetch_token(live_server.url + "/token", code=params["code"],
                            code_verifier=verifier)
    _error(_post(live_server, {"grant_type": "refresh_token",
                               "refresh_token": tokens["refresh_token"],
                               "scope": "openid email profile"},
                 auth=(module.client_id, module.secret)), 400, "invalid_scope")
