"""Issue 4 in Chromium: from the welcome mails to the demo module, as the guide reads."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CAPTCHA_TEXT
from tests.browser.conftest import choose_password
from tests.browser.conftest import demo_module

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Hirondelle-Boussole-Granit-71"
EMAIL = "claire.morel@garage-morel.test"


@pytest.fixture
def module(live_server):
    server = demo_module(live_server.url, "demo-module", "Module de démonstration")
    yield server
    server.stop()


def create_account(app, mailbox) -> str:
    """``idp users create`` as the agency does; the provisional password comes by mail."""
    result = app.test_cli_runner().invoke(args=[
        "users", "create", "cmorel", "--email", EMAIL, "--given-name", "Claire",
        "--family-name", "Morel", "--habilitation", "bonuseco:concessionnaire",
    ])
    assert result.exit_code == 0, result.output
    identifier_mail, password_mail = mailbox.to(EMAIL)
    assert "Identifiant : cmorel" in mailbox.body(identifier_mail)
    assert "Habilitation : Bonus Eco" in mailbox.body(identifier_mail)
    assert "Mot de passe provisoire" not in mailbox.body(identifier_mail)
    return mailbox.provisional_password(EMAIL)


def start_at_module(page, module, provisional: str) -> None:
    page.goto(module.url + "/")
    page.get_by_role("button", name="Se connecter avec BonusEco").click()
    expect(page.get_by_role("heading", name="Connexion à BonusEco")).to_be_visible()
    page.get_by_label("Identifiant").fill("cmorel")
    page.get_by_label("Mot de passe", exact=True).fill(provisional)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(re.compile(r"/password-change$"))


def choose_secret(page) -> None:
    expect(page).to_have_url(re.compile(r"/first-connection/secret-question$"))
    page.get_by_label("Question secrète").select_option(
        "Quel est le nom de votre premier animal de compagnie ?")
    page.get_by_label("Réponse secrète").fill("Rantanplan")
    page.get_by_role("button", name="Enregistrer la question secrète").click()
    expect(page).to_have_url(re.compile(r"/first-connection/captcha$"))


def type_captcha(page, text: str) -> None:
    page.get_by_label("Saisissez les caractères de l'image").fill(text)
    page.get_by_role("button", name="Valider").click()


def test_from_the_welcome_mails_to_the_module(page, app, live_server, module, mailbox):
    provisional = create_account(app, mailbox)
    start_at_module(page, module, provisional)
    choose_password(page, NEW_PASSWORD)
    choose_secret(page)
    image = page.locator("#captcha-image")
    expect(image).to_have_attribute("alt", re.compile("caractères"))
    expect(page.locator("#captcha-image")).to_have_js_property("naturalWidth", 280)
    expect(page.get_by_role("link", name="Écouter la version audio")).to_be_visible()
    type_captcha(page, CAPTCHA_TEXT.lower())
    # The pending authorization resumes: the module receives its code.
    expect(page).to_have_url(module.url + "/")
    expect(page.locator("#welcome")).to_contain_text("Vous êtes connecté avec BonusEco")
    expect(page.locator("#userinfo-claims")).to_contain_text(EMAIL)
    expect(page.locator("#userinfo-claims")).to_contain_text("concessionnaire")


def test_weak_password_and_wrong_captcha_are_refused(page, app, live_server, module, mailbox):
    provisional = create_account(app, mailbox)
    start_at_module(page, module, provisional)
    choose_password(page, "motdepasse2024")
    expect(page.locator("#new_password-error")).to_contain_text("trop facile à deviner")
    choose_password(page, NEW_PASSWORD)
    choose_secret(page)
    type_captcha(page, "AAAAAA")
    expect(page.locator("#captcha-error")).to_contain_text("ne correspondent pas")
    expect(page).to_have_url(re.compile(r"/first-connection/captcha$"))
    type_captcha(page, CAPTCHA_TEXT)
    expect(page).to_have_url(module.url + "/")
