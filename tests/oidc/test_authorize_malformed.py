"""An authorization request holding a NUL (idp.input_filter): where its invalid_request goes.

RFC 6749 4.1.2.1: back to the client, with its state and iss (RFC 9207), only when
the client id and the redirect URI are clean and registered; otherwise our French
page. A tainted state is never echoed.
"""

from __future__ import annotations

from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from tests.conftest import page_text
from tests.oidc.conftest import CALLBACK
from tests.oidc.test_authorize import _url

INVALID_REQUEST_PAGE = "La demande de connexion de l'application est incomplète ou invalide."


def _redirect_query(response) -> dict[str, list[str]]:
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?"), location
    return parse_qs(urlsplit(location).query, keep_blank_values=True)


def _shows_the_invalid_request_page(response) -> None:
    assert response.status_code == 400
    assert "Location" not in response.headers
    text = page_text(response)
    assert "Connexion impossible" in text
    assert INVALID_REQUEST_PAGE in text


def test_a_nul_elsewhere_goes_back_with_the_clean_state_and_iss(client, module):
    response = client.get(_url(nonce="n\x00"))
    assert _redirect_query(response) == {
        "error": ["invalid_request"], "state": ["xyz"],
        "iss": [client.application.config["IDP_ISSUER"]],
    }


def test_a_nul_without_state_goes_back_without_state(client, module):
    response = client.get(_url(nonce="n\x00", state=None))
    assert _redirect_query(response) == {
        "error": ["invalid_request"], "iss": [client.application.config["IDP_ISSUER"]],
    }


@pytest.mark.parametrize("state", ["xyz\x00", "\x00", "\x00xyz"])
def test_a_tainted_state_is_not_echoed(client, module, state):
    response = client.get(_url(state=state))
    assert _redirect_query(response) == {
        "error": ["invalid_request"], "iss": [client.application.config["IDP_ISSUER"]],
    }


def test_a_form_post_is_read_like_a_query(client, module):
    """OIDC Core 3.1.2.1: the request may come as a form; its fields name the client."""
    params = parse_qs(urlsplit(_url(nonce="n\x00")).query)
    response = client.post("/authorize", data={k: v[0] for k, v in params.items()})
    assert _redirect_query(response) == {
        "error": ["invalid_request"], "state": ["xyz"],
        "iss": [client.application.config["IDP_ISSUER"]],
    }


@pytest.mark.parametrize("overrides", [
    {"client_id": None}, {"redirect_uri": None}, {"client_id": None, "redirect_uri": None},
    {"client_id": ""}, {"redirect_uri": ""}, {"client_id": "nobody"},
    {"redirect_uri": "https://evil.example/callback"},
    {"client_id": "module-a\x00"}, {"redirect_uri": CALLBACK + "\x00"},
], ids=["no-client-id", "no-redirect-uri", "neither", "empty-client-id", "empty-redirect-uri",
        "unknown-client", "unregistered-redirect-uri", "nul-client-id", "nul-redirect-uri"])
def test_without_a_clean_registered_client_and_uri_the_page_is_shown(client, module, overrides):
    response = client.get(_url(nonce="n\x00", **overrides))
    _shows_the_invalid_request_page(response)

