"""The authorization endpoint as an attacker and a picky relying party use it.

AUTHZ-06 (repeated parameters), AUTHZ-07 (tolerance the specs require),
AUTHZ-12 (well-formed error redirects), AUTHZ-13 (no reflection, no 5xx on
hostile values), PKCE-04 (no downgrade), HAB-06 (fail closed).
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest

from idp.oidc import habilitations
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.conftest import page_text
from tests.security.oauth import CALLBACK
from tests.security.oauth import authorize
from tests.security.oauth import authorize_params
from tests.security.oauth import authorize_url
from tests.security.oauth import pkce_pair
from tests.security.oauth import query_of
from tests.security.oauth import redeem
from tests.security.oauth import register_module

# RFC 6749 4.1.2.1 and OIDC Core 3.1.2.6: the only codes an authorization error may carry.
REGISTERED_ERRORS = {
    "invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type",
    "invalid_scope", "server_error", "temporarily_unavailable", "interaction_required",
    "login_required", "account_selection_required", "consent_required",
    "invalid_request_uri", "invalid_request_object", "request_not_supported",
    "request_uri_not_supported", "registration_not_supported",
}


@pytest.fixture
def module(app):
    return register_module()


@pytest.fixture
def signed_in(app, client, make_user):
    make_user()
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    return client


def no_code(response) -> bool:
    return "code" not in query_of(response.headers.get("Location", ""))


# --- AUTHZ-06 -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["state", "scope", "client_id", "redirect_uri",
                                  "response_type", "code_challenge", "code_challenge_method",
                                  "nonce", "prompt", "max_age", "login_hint", "claims"])
def test_authz_06_a_repeated_parameter_is_refused(signed_in, module, name):
    _verifier, challenge = pkce_pair()
    optional = {"prompt": "login", "max_age": "60", "login_hint": "jdupont",
                "claims": '{"id_token": {"acr": null}}'}
    params = authorize_params(module.client_id, challenge,
                              **({name: optional[name]} if name in optional else {}))
    url = "/authorize?" + urlencode(params) + "&" + urlencode({name: params[name]})
    response = signed_in.get(url)
    assert no_code(response)
    if name in ("client_id", "redirect_uri"):  # which module? never redirect
        assert response.status_code == 400
        assert "Location" not in response.headers
    elif "Location" in response.headers:
        assert response.headers["Location"].startswith(CALLBACK)
        assert query_of(response.headers["Location"])["error"] == "invalid_request"
    else:
        assert response.status_code == 400


# --- AUTHZ-07 -------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [
    {"extra": "foobar"},
    {"scope": "profile openid"},
    {"nonce": None},
    {"display": "page"},
    {"display": "popup"},
    {"ui_locales": "fr-FR en"},
    {"claims_locales": "fr"},
    {"login_hint": "jdupont"},
    {"acr_values": "eidas1"},
    {"claims": json.dumps({"id_token": {"name": {"essential": True}}})},
], ids=lambda extra: next(iter(extra)) + ("-reversed" if extra.get("scope") else ""))
def test_authz_07_unknown_and_optional_parameters_do_not_break_the_flow(signed_in, module, extra):
    query, verifier = authorize(signed_in, module.client_id, **extra)
    assert "error" not in query, query
    assert redeem(signed_in, module, query["code"], verifier).status_code == 200


def test_authz_07_the_request_may_be_a_form_post(signed_in, module):
    verifier, challenge = pkce_pair()
    response = signed_in.post("/authorize", data=authorize_params(module.client_id, challenge))
    assert response.status_code in (302, 303)
    if response.headers["Location"].startswith("/authorize?"):  # the same request, as a GET
        response = signed_in.get(response.headers["Location"])
    query = query_of(response.headers["Location"])
    assert redeem(signed_in, module, query["code"], verifier).status_code == 200


# --- AUTHZ-12 -------------------------------------------------------------------------------


@pytest.mark.parametrize(("extra", "error"), [
    ({"scope": "profile"}, "invalid_scope"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"prompt": "none login"}, "invalid_request"),
])
def test_authz_12_error_redirects_are_well_formed(app, signed_in, module, extra, error):
    response = signed_in.get(authorize_url(module.client_id, state="st\u00e9-1", **extra))
    assert response.status_code in (302, 303)
    assert response.headers["Location"].startswith(CALLBACK + "?")
    query = query_of(response.headers["Location"])
    assert query["error"] == error
    assert query["error"] in REGISTERED_ERRORS
    assert query["state"] == "st\u00e9-1"
    assert query["iss"] == app.config["IDP_ISSUER"]
    assert "code" not in query
    description = query.get("error_description", "")
    assert not re.search(r"[\r\n\t]", description)
    assert "Traceback" not in description
    assert "authlib" not in description.lower()


# --- AUTHZ-13 -------------------------------------------------------------------------------

HOSTILE = {
    "script": '<script>alert("x")</script>',
    "quotes": "'\"><img src=x onerror=alert(1)>",
    "crlf": "a\r\nSet-Cookie: evil=1",
    "4k": "s" * 4096,
    "64k": "s" * 65536,
}


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("field", ["state", "nonce", "login_hint"])
def test_authz_13_hostile_values_are_never_reflected_raw(client, module, name, field):
    value = HOSTILE[name]
    for prompt in (None, "none"):  # the login page, then a redirect with login_required
        response = client.get(authorize_url(module.client_id, prompt=prompt, **{field: value}),
                              follow_redirects=False)
        assert response.status_code < 500
        assert "evil=1" not in response.headers.get("Set-Cookie", "")
        body = response.get_data(as_text=True)
        assert "<script>alert" not in body
        assert "<img src=x" not in body
        location = response.headers.get("Location", "")
        assert "\r" not in location
        assert "\n" not in location
        if location.startswith(CALLBACK) and field == "state":
            assert query_of(location)["state"] == value  # URL-encoded, given back exactly
        if location.startswith("/login"):
            page = client.get(location)
            assert page.status_code < 500
            assert "<script>alert" not in page.get_data(as_text=True)
            assert "<img src=x" not in page.get_data(as_text=True)


# --- PKCE-04 --------------------------------------------------------------------------------


def test_pkce_04_a_verifier_without_a_challenge_is_refused(signed_in, module):
    response = signed_in.get(authorize_url(module.client_id, None))
    query = query_of(response.headers["Location"])
    if "error" in query:  # PKCE required for every module: the downgrade stops here
        assert query["error"] == "invalid_request"
        return
    verifier, _challenge = pkce_pair()
    refused = redeem(signed_in, module, query["code"], verifier)
    assert refused.status_code == 400
    assert "access_token" not in refused.json


# --- HAB-06 ---------------------------------------------------------------------------------


def _broken(*_args, **_kwargs):
    raise RuntimeError("habilitation store unreadable")


def test_hab_06_a_failing_habilitation_check_gives_no_code(signed_in, module, monkeypatch):
    monkeypatch.setattr(habilitations, "is_allowed", _broken)
    response = signed_in.get(authorize_url(module.client_id))
    assert response.status_code == 500
    assert "Location" not in response.headers
    assert "Erreur du service" in page_text(response)
    assert "RuntimeError" not in page_text(response)


def test_hab_06_a_failing_habilitation_check_gives_no_token(signed_in, module, monkeypatch):
    query, verifier = authorize(signed_in, module.client_id)
    monkeypatch.setattr(habilitations, "is_allowed", _broken)
    response = redeem(signed_in, module, query["code"], verifier)
    assert response.status_code >= 500
    assert "access_token" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)
