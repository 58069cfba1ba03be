"""An Assistance operator at work in Chromium (docs/flows.md, « The Assistance console »).

The operator logs in through the IdP's login page, searches, opens a locked account and
unlocks it with a reason (refused first without one), then resets another person's
password, an action that also asks to tick the confirmation box.
"""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from idp.clock import utcnow
from tests.browser import wording
from tests.browser.steps import expect_field_error
from tests.browser.steps import log_in
from tests.browser.steps import open_account
from tests.browser.steps import search_accounts
from tests.conftest import STRONG_PASSWORD

pytestmark = pytest.mark.browser


def test_operator_searches_opens_an_account_and_acts_with_a_reason(page, check, live_server,
                                                                   make_user, mailbox):
    make_user("agent.roux", habilitations=("assistance",))
    make_user("vdurand", failed_attempts=3, locked_until=utcnow() + timedelta(minutes=20))
    make_user("mleroy", email="m.leroy@example.test")

    page.goto(f"{live_server.url}/assistance/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    log_in(page, "agent.roux", STRONG_PASSWORD)
    expect(page.get_by_role("heading", name="Rechercher un compte")).to_be_visible()
    check(page, "assistance-search")

    search_accounts(page, "vdur")
    expect(page.get_by_role("cell", name="Verrouillé")).to_be_visible()
    check(page, "assistance-search-results")
    open_account(page, "vdurand")
    expect(page.get_by_text(re.compile("Verrouillé jusqu'au")).first).to_be_visible()
    check(page, "assistance-account")
    page.get_by_role("link", name="Déverrouiller").click()
    check(page, "assistance-action")
    page.get_by_role("button", name="Déverrouiller le compte").click()
    expect_field_error(page.get_by_label("Motif"), wording.REASON_MISSING)
    check(page, "assistance-action-refused")
    page.get_by_label("Motif").fill("Appel de M. Durand, ticket 1234")
    page.get_by_role("button", name="Déverrouiller le compte").click()
    expect(page.get_by_text("Le compte vdurand est déverrouillé.")).to_be_visible()
    expect(page.locator("#account-history")).to_contain_text("Appel de M. Durand, ticket 1234")
    check(page, "assistance-account-after-action")

    page.get_by_role("link", name="Rechercher un compte").click()
    search_accounts(page, "m.leroy@example")
    open_account(page, "mleroy")
    page.get_by_role("link", name="Réinitialiser le mot de passe").click()
    page.get_by_label("Motif").fill("Appel de Mme Leroy")
    page.get_by_role("button", name="Envoyer un mot de passe provisoire").click()
    expect_field_error(page.get_by_label("Je confirme cette action"), wording.CONFIRM_MISSING)
    check(page, "assistance-action-unconfirmed")
    # The DSFR draws the box over the label: a person clicks the label.
    page.locator("label[for=confirm]").click()
    expect(page.get_by_label("Je confirme cette action")).to_be_checked()
    page.get_by_role("button", name="Envoyer un mot de passe provisoire").click()
    expect(page.get_by_text("Un mot de passe provisoire a été envoyé par mail à mleroy.")) \
        .to_be_visible()
    # Operators never see it: only the mail carries it.
    provisional = mailbox.provisional_password("m.leroy@example.test")
    expect(page.locator("body")).not_to_contain_text(provisional)
