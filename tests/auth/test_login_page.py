"""The login page as a person meets it (docs/flows.md, « Login and its errors »): its
title and error summary after a refused post, the errors tied to their fields
(RGAA 11.10, 11.11), the DSFR password field, the module being opened, and
« J'ai oublié mon mot de passe » without JavaScript."""

from __future__ import annotations

import re

import pytest

from idp.database import commit
from idp.oidc.registration import NewClient
from idp.oidc.registration import create_client
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import page_text
from tests.conftest import post_form
from tests.conftest import reload

MSG_INVALID = "Le couple identifiant/ mot de passe est incorrecte"
MSG_REQUIRED = "Ce champ est obligatoire."
WRONG = "Pas-Le-Bon-Mot-De-Passe-1"


def title(response) -> str:
    return re.search(r"<title>(.*?)</title>", page_text(response), re.S).group(1)


def input_tag(response, field_id: str) -> str:
    return re.search(rf'<input[^>]*\bid="{field_id}"[^>]*>', response.text).group(0)


def described_by(response, field_id: str) -> list[str]:
    found = re.search(r'aria-describedby="([^"]*)"', input_tag(response, field_id))
    return found.group(1).split() if found else []


def element_text(response, element_id: str) -> str:
    found = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', page_text(response),
                      re.S)
    assert found, f"no element {element_id}"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(2)).split())


# --- a refused post ----------------------------------------------------------------


def test_the_page_before_any_post_has_no_error(client):
    response = client.get("/login")
    assert title(response).startswith("Connexion — ")
    assert "data-error-summary" not in response.text
    assert 'aria-invalid="true"' not in response.text


def test_empty_fields_get_a_summary_that_links_to_each_field(client):
    response = post_form(client, "/login", {"identifier": "", "password": ""})
    assert response.status_code == 200
    assert title(response).startswith("Erreur : Connexion — ")
    summary = re.search(r'<div[^>]*id="login-errors"[^>]*>.*?</div>', page_text(response),
                        re.S).group(0)
    assert "data-error-summary" in summary
    assert 'tabindex="-1"' in summary
    assert re.findall(r'<a href="#(\w+)">([^<]*)</a>', summary) == [
        ("identifier", f"Identifiant : {MSG_REQUIRED}"),
        ("password", f"Mot de passe : {MSG_REQUIRED}"),
    ]
    # The summary comes first in the form, then each field says its own error.
    assert response.text.index('id="login-errors"') < response.text.index('id="identifier"')
    for field in ("identifier", "password"):
        assert described_by(response, field) == [f"{field}-error"]
        assert 'aria-invalid="true"' in input_tag(response, field)
        assert element_text(response, f"{field}-error") == MSG_REQUIRED


def test_a_wrong_password_is_tied_to_both_fields(client, make_user):
    make_user()
    response = login(client, "jdupont", WRONG)
    assert title(response).startswith("Erreur : Connexion — ")
    assert element_text(response, "login-error-message") == MSG_INVALID
    assert element_text(response, "login-error-detail") == "Il vous reste 2 essais."
    assert '<a href="#password">' in response.text  # the summary's link to the field
    for field in ("identifier", "password"):
        assert described_by(response, field) == ["login-error-message", "login-error-detail"]
        assert 'aria-invalid="true"' in input_tag(response, field)


def test_the_summary_takes_the_focus_with_a_static_script(client):
    response = post_form(client, "/login", {"identifier": "", "password": ""})
    assert '<script src="/static/js/error-summary.js" defer></script>' in response.text
    script = client.get("/static/js/error-summary.js")
    assert script.status_code == 200
    assert b"summary.focus()" in script.data
    script.close()


# --- the password field ------------------------------------------------------------


def test_the_password_is_the_dsfr_password_field(client):
    response = client.get("/login")
    assert 'class="fr-password fr-input-group"' in response.text
    assert 'class="fr-password__input fr-input"' in input_tag(response, "password")
    assert 'autocomplete="current-password"' in input_tag(response, "password")
    show = input_tag(response, "password-show")
    assert 'type="checkbox"' in show
    assert 'aria-label="Afficher le mot de passe"' in show
    assert 'name=' not in show  # never sent with the form
    assert '<label class="fr--password__checkbox fr-label" for="password-show">Afficher' \
        in response.text


# --- the module being opened -------------------------------------------------------


@pytest.fixture
def module(app):
    create_client(NewClient(client_id="dossiers", name="Bonus Eco — dossiers",
                            redirect_uris=["https://dossiers.example/callback"],
                            habilitation="bonuseco", skip_consent=True), actor="test")
    commit()


def test_the_login_for_a_module_names_it(client, module):
    response = client.get("/login", query_string={
        "next": "/authorize?client_id=dossiers&response_type=code&scope=openid"})
    assert element_text(response, "login-module") == "pour accéder à Bonus Eco — dossiers"
    assert title(response).startswith("Connexion pour accéder à Bonus Eco — dossiers — ")
    refused = post_form(client, "/login", {
        "identifier": "jdupont", "password": WRONG,
        "next": "/authorize?client_id=dossiers&response_type=code"})
    assert element_text(refused, "login-module") == "pour accéder à Bonus Eco — dossiers"


@pytest.mark.parametrize("target", [
    "/authorize?client_id=inconnu",
    "/authorize?client_id=dossiers&client_id=autre",
    "/?client_id=dossiers",
    "https://evil.example/authorize?client_id=dossiers",
    "",
])
def test_no_module_is_named_otherwise(client, module, target):
    response = client.get("/login", query_string={"next": target})
    assert 'id="login-module"' not in response.text
    assert "Bonus Eco — dossiers" not in page_text(response)


# --- « J'ai oublié mon mot de passe » without JavaScript ---------------------------


def test_the_forgot_password_link_is_a_button_of_the_form(client):
    response = client.get("/login")
    button = re.search(r'<button[^>]*id="forgot-password-link"[^>]*>([^<]*)</button>',
                       response.text)
    assert button.group(1) == "J'ai oublié mon mot de passe"
    assert 'role="link"' in button.group(0)  # the agency's sheet speaks of a link
    assert 'formnovalidate' in button.group(0)
    # After « Se connecter »: Enter in a field logs in, it never leaves for this page.
    assert response.text.index(">Se connecter</button>") < button.start()
    assert "js/login.js" not in response.text


@pytest.mark.parametrize(("typed", "location"), [
    ("jdupont", "/forgot-password?identifier=jdupont"),
    ("", "/forgot-password"),
    ("Jean Dupont&x=1", "/forgot-password?identifier=Jean+Dupont%26x%3D1"),
])
def test_the_identifier_typed_goes_along_and_the_password_never(client, make_user, typed,
                                                                location):
    page = client.get("/login")
    response = client.post("/login", data={
        "csrf_token": csrf_token(page.text), "identifier": typed,
        "password": STRONG_PASSWORD, "action": "forgot-password"})
    assert response.status_code == 303
    assert response.headers["Location"] == location
    assert STRONG_PASSWORD not in response.headers["Location"]


def test_the_forgot_password_button_checks_no_password(client, make_user, audit_rows):
    user = make_user()
    page = client.get("/login")
    client.post("/login", data={"csrf_token": csrf_token(page.text), "identifier": "jdupont",
                                "password": WRONG, "action": "forgot-password"})
    assert audit_rows("login.failure") == []
    assert reload(user).failed_attempts == 0
