"""Authorization endpoint: errors shown (never redirected), PKCE, prompt, login_hint, consent."""

from __future__ import annotations

from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.oidc.conftest import CALLBACK
from tests.oidc.conftest import log_in_and_get_code
from tests.oidc.conftest import rp_session
from tests.security.oauth import authorize_url


def _url(**overrides) -> str:
    """The request of module-a in these tests: scope openid profile, state xyz."""
    return authorize_url(**{"client_id": "module-a", "redirect_uri": CALLBACK,
                            "scope": "openid profile", "state": "xyz", **overrides})


def _query(response) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def test_unknown_client_gets_the_french_error_page(client, module):
    response = client.get(_url(client_id="nobody"))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "pas reconnue" in response.get_data(as_text=True)


@pytest.mark.parametrize("redirect_uri", [
    None, CALLBACK + "x", CALLBACK + "/", CALLBACK.replace("callback", "Callback"),
    CALLBACK.replace("8765", "8766"), CALLBACK + "?a=b", CALLBACK + "#f",
    "http://127.0.0.1:8765@evil.example/callback", CALLBACK.replace(":", "%3A", 1),
    "https://evil.example/callback",
])
def test_bad_redirect_uri_is_shown_never_redirected(client, module, redirect_uri):
    response = client.get(_url(redirect_uri=redirect_uri))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Connexion impossible" in response.get_data(as_text=True)


def test_repeated_redirect_uri_is_refused_on_the_page(client, module):
    response = client.get(_url() + "&redirect_uri=" + CALLBACK)
    assert response.status_code == 400
    assert "Location" not in response.headers


@pytest.mark.parametrize("overrides", [
    {"code_challenge_method": "plain"},
    {"code_challenge_method": None},
])
def test_plain_pkce_or_no_method_is_refused(client, module, overrides):
    response = client.get(_url(**overrides))
    assert response.status_code == 302
    query = _query(response)
    assert query["error"] == "invalid_request"
    assert query["state"] == "xyz"
    assert query["iss"] == "http://127.0.0.1:" + str(urlsplit(client.application.config[
        "IDP_ISSUER"]).port)


@pytest.mark.parametrize("kind", [{"public": True}, {}, {"auth_method": "client_secret_post"}],
                         ids=["public", "confidential", "confidential-post"])
def test_pkce_05_every_client_without_pkce_is_refused(client, make_module, make_user, kind):
    """RFC 9700 2.1.1: PKCE for every client (RECOMMENDED for confidential ones, required
    here), refused before any login and redirected with state since the redirect URI is valid."""
    make_user()
    make_module("app", **kind)
    login(client, "jdupont", STRONG_PASSWORD)
    response = client.get(_url(client_id="app", code_challenge=None, code_challenge_method=None))
    assert response.status_code == 302
    query = _query(response)
    assert (query["error"], query["state"]) == ("invalid_request", "xyz")
    assert "code" not in query


def test_response_type_other_than_code_is_refused(client, module):
    response = client.get(_url(response_type="token"))
    assert _query(response)["error"] == "unsupported_response_type"


def test_request_object_is_refused_explicitly(client, module):
    response = client.get(_url(request="eyJhbGciOiJub25lIn0.e30."))
    assert _query(response)["error"] == "request_not_supported"


def test_prompt_none_without_session_is_login_required(client, module):
    response = client.get(_url(prompt="none"))
    query = _query(response)
    assert query["error"] == "login_required"
    assert query["state"] == "xyz"
    assert "iss" in query


def test_without_session_the_login_page_comes_with_login_hint(client, module):
    response = client.get(_url(login_hint="jdupont"))
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert 'value="jdupont"' in page.get_data(as_text=True)


def test_sso_second_request_needs_no_form_and_prompt_none_works(client, module, make_user):
    make_user()
    first = client.get(_url())
    login_page = client.get(first.headers["Location"])
    next_url = parse_qs(urlsplit(first.headers["Location"]).query)["next"][0]
    done = client.post("/login", data={"csrf_token": csrf_token(login_page.get_data(as_text=True)),
                                       "identifier": "jdupont", "password": STRONG_PASSWORD,
                                       "next": next_url})
    assert "code" in _query(client.get(done.headers["Location"]))
    again = client.get(_url(nonce="n2", prompt="none"))
    assert "code" in _query(again)


def test_prompt_login_and_max_age_force_a_new_password_check(
        live_server, browser, module, make_user):
    make_user()
    rp = rp_session(live_server.url, module)
    log_in_and_get_code(browser, rp, "jdupont")
    page = browser.open(_url(nonce="n3", prompt="login"))
    assert page.status_code == 200
    assert 'name="password"' in page.text
    assert "code" in parse_qs(urlsplit(browser.login(page, "jdupont").headers["Location"]).query)
    page = browser.open(_url(nonce="n4", max_age="0"))
    assert 'name="password"' in page.text


def test_consent_page_then_refusal_gives_access_denied(client, make_module, make_user):
    make_user()
    make_module("third-party", skip_consent=False)
    login(client, "jdupont", STRONG_PASSWORD)
    page = client.get(_url(client_id="third-party"))
    html = page.get_data(as_text=True)
    assert "Autoriser" in html
    assert "Refuser" in html
    action = _url(client_id="third-party").replace("/authorize?", "/authorize/consent?")
    refused = client.post(action, data={"csrf_token": csrf_token(html), "decision": "deny"})
    assert _query(refused)["error"] == "access_denied"
    allowed = client.post(action, data={"csrf_token": csrf_token(html), "decision": "allow"})
    assert "code" in _query(allowed)


def test_consent_post_without_csrf_token_is_refused(client, make_module, make_user):
    make_user()
    make_module("third-party", skip_consent=False)
    login(client, "jdupont", STRONG_PASSWORD)
    action = _url(client_id="third-party").replace("/authorize?", "/authorize/consent?")
    response = client.post(action, data={"decision": "allow"})
    assert response.status_code == 400
    assert "Location" not in response.headers


# --- malformed input: an OAuth error or our page, never a 500, nothing stored ---------

REDIRECTED_BAD_INPUT = {
    "claims-deep-array": {"claims": "[" * 1000},
    "claims-deep-object": {"claims": '{"id_token":' * 1000},
    "claims-acr-values-number": {"claims": '{"id_token":{"acr":{"values":5}}}'},
    "claims-acr-essential-values-number": {
        "claims": '{"id_token":{"acr":{"essential":true,"values":5}}}'},
    "claims-acr-essential-string": {"claims": '{"id_token":{"acr":{"essential":"yes"}}}'},
    "nul-nonce": {"nonce": "n\x00"},
    "nul-state": {"state": "xyz\x00"},
    "nul-login-hint": {"login_hint": "jdupont\x00"},
    "nul-prompt": {"prompt": "login\x00"},
    "nul-scope": {"scope": "openid\x00 profile"},
    "long-nonce": {"nonce": "n" * 501},
    "max-age-superscript": {"max_age": "²"},
    "max-age-arabic-digits": {"max_age": "١٢"},
    "max-age-negative": {"max_age": "-1"},
    "max-age-word": {"max_age": "soon"},
}


def _nothing_stored() -> bool:
    from idp.extensions import db
    from idp.models import AuthorizationCode

    count = db.session.execute(db.select(db.func.count()).select_from(AuthorizationCode))
    return count.scalar_one() == 0


@pytest.mark.parametrize("logged_in", [False, True], ids=["anonymous", "logged-in"])
@pytest.mark.parametrize("case", list(REDIRECTED_BAD_INPUT))
def test_bad_parameter_with_a_valid_redirect_uri_is_redirected_invalid_request(
        client, module, make_user, case, logged_in):
    """RFC 6749 4.1.2.1: the redirect URI is valid, so the error goes back to the client."""
    if logged_in:
        make_user()
        login(client, "jdupont", STRONG_PASSWORD)
    response = client.get(_url(**REDIRECTED_BAD_INPUT[case]))
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert response.headers["Location"].startswith(CALLBACK + "?")
    query = _query(response)
    assert query["error"] == "invalid_request"
    assert "code" not in query
    assert _nothing_stored()


@pytest.mark.parametrize("overrides", [
    {"client_id": "module-a\x00"}, {"client_id": "\x00" * 10},
    {"redirect_uri": CALLBACK + "\x00"}, {"client_id": "module-a", "redirect_uri": "\x00"},
], ids=["nul-in-client-id", "nul-client-id", "nul-in-redirect-uri", "nul-redirect-uri"])
def test_nul_in_client_id_or_redirect_uri_gets_the_french_page(client, module, overrides):
    response = client.get(_url(**overrides))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Connexion impossible" in response.get_data(as_text=True)
    assert _nothing_stored()


@pytest.mark.parametrize("overrides", [
    {"nonce": "n" * 500},
    {"max_age": "3600"},
    {"max_age": ""},
    {"claims": '{"id_token":{"acr":{"essential":true,"values":["eidas1"]},"email":null}}'},
    {"claims": '{"userinfo":{"given_name":{"value":"\\u0000"}}}'},
], ids=["nonce-500", "max-age", "max-age-empty", "claims-acr-values", "claims-escaped-nul"])
def test_well_formed_edge_values_are_accepted(client, module, make_user, overrides):
    make_user()
    login(client, "jdupont", STRONG_PASSWORD)
    assert "code" in _query(client.get(_url(**overrides)))
