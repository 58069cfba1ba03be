"""A person logs in through the real login page in Chromium."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CAPTCHA_TEXT
from tests.browser.conftest import choose_password
from tests.browser.conftest import type_new_password
from tests.conftest import STRONG_PASSWORD

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Hirondelle-Boussole-Granit-71"


def test_first_connection_from_provisional_password_to_home_page(page, live_server, make_user):
    make_user("mleroy", provisional="Pr0visoireXyzAb")
    page.goto(f"{live_server.url}/login")
    expect(page.get_by_role("heading", name="Connexion à BonusEco")).to_be_visible()
    expect(page.get_by_text("0 800 74 74 00").first).to_be_visible()

    page.get_by_label("Identifiant").fill("mleroy")
    page.get_by_label("Mot de passe", exact=True).fill("Pr0visoireXyzAb")
    page.get_by_role("button", name="Se connecter").click()

    expect(page).to_have_url(re.compile(r"/password-change$"))
    type_new_password(page, "azertyuiop123")
    expect(page.locator("#password-strength-label")).not_to_be_empty()
    page.get_by_label("Confirmation du nouveau mot de passe").fill("azertyuiop123")
    page.get_by_role("button", name="Enregistrer le mot de passe").click()
    expect(page.locator("#new_password-error")).to_contain_text("trop facile à deviner")

    choose_password(page, NEW_PASSWORD)

    expect(page).to_have_url(re.compile(r"/first-connection/secret-question$"))
    page.get_by_label("Question secrète").select_option(
        "Quel est le nom de votre premier animal de compagnie ?"
    )
    page.get_by_label("Réponse secrète").fill("Rantanplan")
    page.get_by_role("button", name="Enregistrer la question secrète").click()

    expect(page).to_have_url(re.compile(r"/first-connection/captcha$"))
    image = page.locator("#captcha-image")
    expect(image).to_have_attribute("alt", re.compile("caractères"))
    # The image really loads (same origin, allowed by the CSP).
    expect(page.locator("#captcha-image")).to_have_js_property("naturalWidth", 280)
    page.get_by_label("Saisissez les caractères de l'image").fill("xxxxxx")
    page.get_by_role("button", name="Valider").click()
    expect(page.locator("#captcha-error")).to_be_visible()
    page.get_by_label("Saisissez les caractères de l'image").fill(CAPTCHA_TEXT.lower())
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", name="Mes applications")).to_be_visible()


def test_wrong_password_shows_the_verbatim_message(page, live_server, make_user):
    make_user("jdupont")
    page.goto(f"{live_server.url}/login")
    page.get_by_label("Identifiant").fill("jdupont")
    page.get_by_label("Mot de passe", exact=True).fill(STRONG_PASSWORD + "x")
    page.get_by_role("button", name="Se connecter").click()
    # The verbatim message, then the tries left before the lock, in the summary that
    # takes the focus.
    expect(page.locator("#login-error")).to_be_focused()
    expect(page.locator("#login-error p")).to_have_text([
        "Le couple identifiant/ mot de passe est incorrecte",
        "Il vous reste 2 essais.",
    ])
