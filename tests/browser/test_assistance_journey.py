"""An Assistance operator at work in Chromium (SPEC 1.3, issue 6).

The operator logs in through the IdP's login page, finds a locked user,
unlocks them with a reason, resets another user's password; that user then
logs in with the provisional password read from the mail (real SMTP) and
chooses a new one, reaching « Mes applications ».
"""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from idp.clock import utcnow
from tests.browser.conftest import STEP_TIMEOUT_MS
from tests.browser.conftest import choose_password
from tests.conftest import STRONG_PASSWORD

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Hirondelle-Boussole-Granit-71"


def test_operator_unlocks_one_user_and_resets_another(page, browser, live_server, make_user,
                                                      mailbox):
    make_user("agent.roux", habilitations=("assistance",))
    make_user("vdurand", failed_attempts=3, locked_until=utcnow() + timedelta(minutes=20))
    make_user("mleroy", email="m.leroy@example.test")

    page.goto(f"{live_server.url}/assistance/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Identifiant").fill("agent.roux")
    page.get_by_label("Mot de passe", exact=True).fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", name="Rechercher un compte")).to_be_visible()

    page.get_by_label("Rechercher un compte").fill("vdur")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.get_by_role("cell", name="Verrouillé")).to_be_visible()
    page.get_by_role("link", name="vdurand").click()
    expect(page.get_by_text(re.compile("Verrouillé jusqu'au")).first).to_be_visible()
    page.get_by_role("link", name="Déverrouiller").click()
    page.get_by_label("Motif").fill("Appel de M. Durand, ticket 1234")
    page.get_by_role("button", name="Déverrouiller le compte").click()
    expect(page.get_by_text("Le compte vdurand est déverrouillé.")).to_be_visible()
    expect(page.locator("#account-history")).to_contain_text("Appel de M. Durand, ticket 1234")

    page.get_by_role("link", name="Rechercher un compte").click()
    page.get_by_label("Rechercher un compte").fill("m.leroy@example")
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_role("link", name="mleroy").click()
    page.get_by_role("link", name="Réinitialiser le mot de passe").click()
    page.get_by_label("Motif").fill("Appel de Mme Leroy")
    page.get_by_role("button", name="Envoyer un mot de passe provisoire").click()
    expect(page.locator("#action-error, #confirm-error")).to_have_count(1)  # box not ticked
    page.get_by_label("Motif").fill("Appel de Mme Leroy")
    # The DSFR draws the box over the label: a person clicks the label.
    page.locator("label[for=confirm]").click()
    expect(page.get_by_label("Je confirme cette action")).to_be_checked()
    page.get_by_role("button", name="Envoyer un mot de passe provisoire").click()
    expect(page.get_by_text("Un mot de passe provisoire a été envoyé par mail à mleroy.")) \
        .to_be_visible()
    provisional = mailbox.provisional_password("m.leroy@example.test")
    expect(page.locator("body")).not_to_contain_text(provisional)

    # The user, in their own browser.
    context = browser.new_context(locale="fr-FR")
    user_page = context.new_page()
    user_page.set_default_timeout(STEP_TIMEOUT_MS)
    user_page.goto(f"{live_server.url}/login")
    user_page.get_by_label("Identifiant").fill("mleroy")
    user_page.get_by_label("Mot de passe", exact=True).fill(provisional)
    user_page.get_by_role("button", name="Se connecter").click()
    expect(user_page).to_have_url(re.compile(r"/password-change$"))
    choose_password(user_page, NEW_PASSWORD)
    expect(user_page.get_by_role("heading", name="Mes applications")).to_be_visible()
    context.close()
