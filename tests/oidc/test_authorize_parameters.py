"""The authorization request's own parameters (RFC 6749 4.1.1, RFC 7636 4.3, OIDC Core
3.1.2.1): what is refused, and the error the module reads at its redirect URI.

Every refusal here goes back to the registered redirect URI with ``state`` and an
``error_description`` saying which parameter is wrong (RFC 6749 4.1.2.1), except
when the redirect URI itself is in question: then our page, never a redirect.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from flask import current_app

from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.conftest import page_text
from tests.security.oauth import CALLBACK
from tests.security.oauth import authorize
from tests.security.oauth import authorize_params
from tests.security.oauth import pkce_pair
from tests.security.oauth import query_of
from tests.security.oauth import register_module

# One valid value of each parameter the grant reads itself, each allowed once.
ONCE_ONLY = {
    "nonce": "n1", "code_challenge": None, "code_challenge_method": "S256",
    "prompt": "login", "max_age": "60", "id_token_hint": "hint", "login_hint": "jdupont",
    "acr_values": "eidas1", "claims": "{}", "response_mode": "query", "display": "page",
    "ui_locales": "fr", "claims_locales": "fr", "request": "object",
    "request_uri": "https://module.example/request",
}


@pytest.fixture
def module(app):
    return register_module()


@pytest.fixture
def signed_in(client, make_user):
    make_user()
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    return client


def _get(client, params: dict, *repeated: tuple[str, str]):
    return client.get("/authorize?" + urlencode(list(params.items()) + list(repeated)))


def refusal(response) -> dict:
    """The error the module gets at its redirect URI: no code, the state, our issuer."""
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?"), location
    query = query_of(location)
    assert "code" not in query
    assert query["state"] == "s1"
    assert query["iss"] == current_app.config["IDP_ISSUER"]
    return query


def assert_refused(response, error: str, description: str | None) -> None:
    query = refusal(response)
    assert query["error"] == error
    assert query.get("error_description") == description


@pytest.mark.parametrize("name", list(ONCE_ONLY))
def test_each_parameter_the_grant_reads_is_refused_when_repeated(client, module, name):
    _verifier, challenge = pkce_pair()
    value = ONCE_ONLY[name] or challenge
    params = authorize_params(module.client_id, challenge, **{name: value})
    response = _get(client, params, (name, value))
    assert_refused(response, "invalid_request", f"Multiple '{name}' in request.")


def test_a_nonce_of_500_characters_is_kept_whole(signed_in, module):
    query, _verifier = authorize(signed_in, module.client_id, nonce="n" * 500)
    assert query["code"]


def test_a_nonce_over_500_characters_is_refused(client, module):
    _verifier, challenge = pkce_pair()
    response = _get(client, authorize_params(module.client_id, challenge, nonce="n" * 501))
    assert_refused(response, "invalid_request", "The 'nonce' is too long.")


@pytest.mark.parametrize("max_age", ["abc", "-1", "1.5", "+60", " 60", "12345678901", "6O"])
def test_a_max_age_that_is_not_a_number_of_seconds_is_refused(client, module, max_age):
    _verifier, challenge = pkce_pair()
    response = _get(client, authorize_params(module.client_id, challenge, max_age=max_age))
    assert_refused(response, "invalid_request", "Invalid 'max_age' parameter.")


@pytest.mark.parametrize("max_age", ["", "0000000060", "9999999999"])
def test_an_empty_or_ten_digit_max_age_is_accepted(signed_in, module, max_age):
    query, _verifier = authorize(signed_in, module.client_id, max_age=max_age)
    assert query["code"]


@pytest.mark.parametrize("claims", ["not json", "[]", '{"id_token": []}',
                                    '{"userinfo": {"email": {"essential": "yes"}}}'])
def test_a_claims_parameter_that_is_not_a_claims_request_is_refused(client, module, claims):
    _verifier, challenge = pkce_pair()
    response = _get(client, authorize_params(module.client_id, challenge, claims=claims))
    assert_refused(response, "invalid_request", "Invalid 'claims' parameter.")


def test_a_request_object_is_request_not_supported(client, module):
    _verifier, challenge = pkce_pair()
    response = _get(client, authorize_params(module.client_id, challenge, request="eyJ.e30."))
    assert_refused(response, "request_not_supported", None)


def test_a_request_uri_is_request_uri_not_supported(client, module):
    _verifier, challenge = pkce_pair()
    response = _get(client, authorize_params(module.client_id, challenge,
                                             request_uri="https://module.example/request"))
    assert_refused(response, "request_uri_not_supported", None)


@pytest.mark.parametrize("redirect_uri", [None, "", "https://module.example/other"])
def test_a_missing_or_unregistered_redirect_uri_gets_our_page(client, module, redirect_uri):
    _verifier, challenge = pkce_pair()
    params = authorize_params(module.client_id, challenge)
    params.pop("redirect_uri")
    if redirect_uri is not None:
        params["redirect_uri"] = redirect_uri
    response = _get(client, params)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "La demande de connexion de l'application est incomplète ou invalide." in \
        page_text(response)


def test_a_challenge_without_its_method_is_refused(client, module):
    _verifier, challenge = pkce_pair()
    params = authorize_params(module.client_id, challenge)
    params.pop("code_challenge_method")
    assert_refused(_get(client, params), "invalid_request",
                   "Missing 'code_challenge_method': S256 is required.")


@pytest.mark.parametrize("method", ["plain", "s256"])
def test_a_challenge_with_another_method_is_refused(client, module, method):
    _verifier, challenge = pkce_pair()
    params = authorize_params(module.client_id, challenge, code_challenge_method=method)
    assert refusal(_get(client, params))["error"] == "invalid_request"


@pytest.mark.parametrize("options", [{}, {"is_public": True, "auth_method": "none"}],
                         ids=["confidential", "public"])
def test_a_request_without_challenge_is_refused_unless_a_legacy_module(app, client, options):
    module = register_module("module-p", **options)
    response = _get(client, authorize_params(module.client_id, None))
    assert_refused(response, "invalid_request", "Missing 'code_challenge': PKCE is required.")


def test_a_legacy_confidential_module_may_leave_pkce_out(app, signed_in):
    module = register_module("legacy", pkce_optional=True)
    response = _get(signed_in, authorize_params(module.client_id, None))
    assert response.status_code == 302
    assert query_of(response.headers["Location"])["code"]


def test_a_nonce_already_used_by_the_module_is_a_replay(signed_in, module):
    authorize(signed_in, module.client_id, nonce="once")
    _verifier, challenge = pkce_pair()
    response = _get(signed_in, authorize_params(module.client_id, challenge, nonce="once"))
    assert_refused(response, "invalid_request", "Replay attack")


def test_a_nonce_used_by_another_module_or_another_nonce_is_no_replay(app, signed_in, module):
    other = register_module("module-o")
    authorize(signed_in, module.client_id, nonce="shared")
    assert authorize(signed_in, other.client_id, nonce="shared")[0]["code"]
    assert authorize(signed_in, module.client_id, nonce="another")[0]["code"]


def test_a_request_without_nonce_is_accepted(signed_in, module):
    query, _verifier = authorize(signed_in, module.client_id, nonce=None)
    assert query["code"]
