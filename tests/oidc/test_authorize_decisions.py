"""Where an authorization request goes: the login page, the module with an error, or our page.

OIDC Core 3.1.2.1 (prompt, max_age, id_token_hint, login_hint), 3.1.2.6 (errors
with state and iss, RFC 9207), 5.5.1.1 (an essential acr we cannot give);
RFC 6749 4.1.2.1 (errors about the client are shown, never redirected).
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest

from idp.extensions import db
from idp.models import AuthorizationCode
from idp.security import sessions
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import page_text
from tests.oidc.conftest import CALLBACK
from tests.oidc.test_authorize import _url

UNPROCESSED = "La demande de connexion de l'application n'a pas pu être traitée."


def _codes() -> int:
    count = db.session.execute(db.select(db.func.count()).select_from(AuthorizationCode))
    return count.scalar_one()


def _back(client, response, error: str, description: str | None = None) -> None:
    """The module gets ``error`` at its callback, with state and iss, and no code."""
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?"), location
    expected = {"error": [error], "state": ["xyz"],
                "iss": [client.application.config["IDP_ISSUER"]]}
    if description is not None:
        expected["error_description"] = [description]
    query = parse_qs(urlsplit(location).query, keep_blank_values=True)
    if description is None:
        query.pop("error_description", None)
    assert query == expected
    assert _codes() == 0


def _login_target(response) -> tuple[str, dict[str, list[str]]]:
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    query = parse_qs(location.query)
    return query.pop("next")[0], query


def _login_for(client, url: str) -> None:
    """Log in from the login page that ``url`` sent the person to; back to ``url``."""
    page = client.get("/login?" + urlencode({"next": url}))
    done = client.post("/login", data={"csrf_token": csrf_token(page.text),
                                       "identifier": "jdupont", "password": STRONG_PASSWORD,
                                       "next": url})
    assert done.headers["Location"] == url


@pytest.fixture
def signed_in(client, module, make_user):
    make_user()
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    return client


def test_the_login_page_comes_back_to_the_request_with_every_repeated_parameter(
        client, module):
    url = _url() + "&foo=1&foo=2"
    next_url, rest = _login_target(client.get(url))
    assert next_url == url
    assert parse_qsl(urlsplit(next_url).query)[-2:] == [("foo", "1"), ("foo", "2")]
    assert rest == {}


def test_a_long_login_hint_is_cut_to_128_characters_for_the_login_page(client, module):
    url = _url(login_hint="a" * 300)
    next_url, rest = _login_target(client.get(url))
    assert next_url == url
    assert rest == {"login_hint": ["a" * 128]}


@pytest.mark.parametrize("max_age", ["0", "3600"])
def test_without_a_session_max_age_leads_to_the_login_page(client, module, max_age):
    url = _url(max_age=max_age)
    assert _login_target(client.get(url)) == (url, {})


def test_an_unreadable_id_token_hint_goes_back_as_invalid_request(client, module):
    response = client.get(_url(id_token_hint="not.an.idtoken"))
    _back(client, response, "invalid_request", "Invalid 'id_token_hint'.")


def test_a_login_made_for_a_prompt_none_request_does_not_waive_max_age(client, module,
                                                                        make_user):
    """prompt=none never shows the form: a login posted with its URL as next is not for it."""
    make_user()
    url = _url(prompt="none", max_age="0")
    _login_for(client, url)
    _back(client, client.get(url), "login_required")


@pytest.mark.parametrize("acr", [
    {"essential": True, "values": ["eidas2"]},
    {"essential": True, "value": "eidas3"},
], ids=["values", "value"])
def test_an_essential_acr_we_cannot_give_is_access_denied(signed_in, acr):
    claims = json.dumps({"id_token": {"acr": acr}})
    _back(signed_in, signed_in.get(_url(claims=claims)), "access_denied")


def test_a_voluntary_acr_we_cannot_give_still_gives_a_code(signed_in):
    response = signed_in.get(_url(claims='{"id_token": {"acr": {"values": ["eidas2"]}}}'))
    assert "code" in parse_qs(urlsplit(response.headers["Location"]).query)


def test_prompt_none_where_consent_is_needed_is_consent_required(signed_in, make_module):
    make_module("third-party", skip_consent=False)
    response = signed_in.get(_url(client_id="third-party", prompt="none"))
    _back(signed_in, response, "consent_required")


def test_an_unknown_client_with_another_error_gets_the_general_page(client, module):
    response = client.get(_url(client_id="nobody", response_type="token",
                               redirect_uri="https://evil.example/callback"))
    assert response.status_code == 400
    assert "Location" not in response.headers
    text = page_text(response)
    assert "Connexion impossible" in text
    assert f'<p class="fr-text--lead" id="error-message">{UNPROCESSED}</p>' in text


def test_a_login_spent_by_another_tab_first_leads_to_the_login_page_again(
        client, module, make_user, monkeypatch):
    """Two tabs come back from the same login: the one that spends it second logs in again."""
    make_user()
    url = _url(prompt="login")
    page = client.get("/login?" + urlencode({"next": url}))
    client.post("/login", data={"csrf_token": csrf_token(page.text), "identifier": "jdupont",
                                "password": STRONG_PASSWORD, "next": url})
    was_opened_for = sessions.was_opened_for

    def spent_by_the_other_tab_meanwhile(row, target, now):
        opened = was_opened_for(row, target, now)
        assert sessions.use_login_target(row, target) is opened
        return opened

    monkeypatch.setattr(sessions, "was_opened_for", spent_by_the_other_tab_meanwhile)
    assert _login_target(client.get(url)) == (url, {})
    assert _codes() == 0


def test_a_refusal_before_the_consent_page_leaves_the_fresh_login_to_its_request(
        client, make_module, make_user):
    """A module that asks consent spends a login made for its request at the consent
    decision: refused before it (here an essential acr), the same request reloaded gets
    the same refusal, not the password form again."""
    make_module("third-party", skip_consent=False)
    make_user()
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["eidas2"]}}})
    url = _url(client_id="third-party", prompt="login", claims=claims)
    _login_for(client, url)
    _back(client, client.get(url), "access_denied")
    _back(client, client.get(url), "access_denied")
