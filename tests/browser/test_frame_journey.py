"""The frame every page shares (docs/accessibility.md): the four legal pages of the
footer, the display settings it opens, and an error page; each page state audited."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser import wording
from tests.browser.steps import expect_message

pytestmark = pytest.mark.browser

# The links of the footer's bottom row and the titles of their pages.
LEGAL_PAGES = [
    (re.compile(r"^Accessibilité : "), "Déclaration d'accessibilité", "legal-accessibility"),
    ("Mentions légales", "Mentions légales", "legal-notice"),
    ("Données personnelles", "Données personnelles", "legal-personal-data"),
    ("Gestion des cookies", "Gestion des cookies", "legal-cookies"),
]


def test_legal_pages_display_settings_and_an_error_page(page, check, live_server):
    page.goto(f"{live_server.url}/login")
    for link, title, state in LEGAL_PAGES:
        page.get_by_role("contentinfo").get_by_role("link", name=link).click()
        expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
        check(page, state)

    page.get_by_role("button", name="Paramètres d'affichage").click()
    settings = page.get_by_role("dialog", name="Paramètres d'affichage")
    expect(settings).to_be_visible()
    check(page, "display-settings")
    page.keyboard.press("Escape")
    expect(settings).to_be_hidden()

    page.goto(f"{live_server.url}/page-inexistante")
    expect(page.get_by_role("heading", name="Page introuvable")).to_be_visible()
    expect_message(page, wording.ERROR_HELP)
    expect(page.get_by_role("link", name="Retour à la page de connexion")).to_be_visible()
    check(page, "error-not-found")
