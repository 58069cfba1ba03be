"""The keyboard alone, no mouse (WCAG 2.1.1, 2.4.1, 2.4.7): from a module to the IdP's
login page, logged in, back on the module, and logged out; every control reached with
Tab shows where the focus is, and is pressed with Enter or Space."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import STRONG_PASSWORD

pytestmark = pytest.mark.browser

# More than any page of the journey has controls before the one sought.
MAX_TABS = 40


def tab_to(page, target) -> None:
    """Press Tab until ``target`` has the focus (unless it has it), which must be visible."""
    for _ in range(MAX_TABS):
        if target.evaluate("element => element === document.activeElement"):
            assert target.evaluate("element => element.matches(':focus-visible')")
            outline = target.evaluate("element => getComputedStyle(element).outlineStyle")
            assert outline != "none", f"no focus outline on {target}"
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} not reached in {MAX_TABS} presses of Tab")


def test_login_and_a_module_with_the_keyboard_only(page, module, make_user):
    make_user("jdupont")
    page.goto(module.url + "/")
    tab_to(page, page.get_by_role("button", name="Se connecter avec BonusEco"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Connexion à BonusEco")).to_be_visible()

    # The first stop is the skip link, which leads past the header to the content.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Contenu")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#contenu$"))  # the Tab after goes on from there
    page.keyboard.press("Tab")
    expect(page.get_by_role("main").locator(":focus")).to_have_count(1)

    tab_to(page, page.get_by_label("Identifiant", exact=True))
    page.keyboard.type("jdupont")
    tab_to(page, page.get_by_label("Mot de passe", exact=True))
    page.keyboard.type(STRONG_PASSWORD)
    tab_to(page, page.get_by_role("button", name="Se connecter"))
    page.keyboard.press("Space")

    expect(page).to_have_url(module.url + "/")
    expect(page.locator("#welcome")).to_contain_text("Vous êtes connecté avec BonusEco")
    tab_to(page, page.get_by_role("button", name="Se déconnecter"))
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_have_text("Vous êtes déconnecté de BonusEco.")
