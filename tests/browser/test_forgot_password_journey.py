"""« J'ai oublié mon mot de passe » in Chromium, each branch of docs/flows.md: an unknown
identifier and a wrong answer end on the same page as the right answer, which alone
mails a provisional password; an account without secrets gets the Assistance's message.

The live server runs in this process, so patching the generator of the operation makes
it deterministic; the test still reads the operation on the page.
"""

import re

import pytest
from playwright.sync_api import expect

from idp.security import challenges
from tests.browser import wording
from tests.browser.steps import answer_operation
from tests.browser.steps import choose_password
from tests.browser.steps import expect_field_error
from tests.browser.steps import expect_message
from tests.browser.steps import log_in
from tests.browser.steps import operation_result
from tests.conftest import SECRET_ANSWER
from tests.conftest import SECRET_QUESTION
from tests.conftest import STRONG_PASSWORD
from tests.user_guide import FORGOT_PASSWORD_LINK
from tests.user_guide import MSG_FORGOT_PASSWORD_DONE
from tests.user_guide import MSG_SECRETS_NOT_SET

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Hirondelle-Boussole-Granit-71"
EMAIL = "jdupont@example.test"


def start(page, live_server, identifier: str) -> None:
    """From the login page, the identifier typed, to the first page of the procedure."""
    page.goto(f"{live_server.url}/login")
    page.get_by_label("Identifiant", exact=True).fill(identifier)
    page.get_by_role("link", name=FORGOT_PASSWORD_LINK, exact=True).click()
    expect(page.get_by_role("heading", name=FORGOT_PASSWORD_LINK)).to_be_visible()
    expect(page.get_by_label("Identifiant", exact=True)).to_have_value(identifier)


def answer_question(page, answer: str) -> None:
    expect(page.get_by_role("heading", name="Répondez à votre question secrète")).to_be_visible()
    page.get_by_label("Réponse secrète").fill(answer)
    page.get_by_role("button", name="Valider").click()
    expect_message(page, MSG_FORGOT_PASSWORD_DONE)


def test_every_branch_of_the_forgotten_password(page, check, live_server, make_user, mailbox,
                                                monkeypatch):
    monkeypatch.setattr(challenges, "arithmetic_operation", lambda: (13, "-", 6))
    make_user("jdupont", email=EMAIL)

    # An unknown identifier: the same pages, a plausible question, the same end.
    start(page, live_server, "mmartin")
    check(page, "forgot-password")
    page.get_by_label("Résultat").fill("8")
    page.get_by_role("button", name="Continuer").click()
    expect_field_error(page.get_by_label("Résultat"), wording.WRONG_RESULT)
    check(page, "forgot-password-wrong-result")
    assert operation_result(page) == 7
    answer_operation(page)
    expect(page).to_have_url(re.compile(r"/forgot-password/question$"))
    check(page, "forgot-password-question")
    answer_question(page, "Rantanplan")
    check(page, "forgot-password-done")

    # A wrong answer: the same end, no mail.
    start(page, live_server, "jdupont")
    answer_operation(page)
    expect(page.locator("#secret-question")).to_have_text(SECRET_QUESTION)
    answer_question(page, "Idefix")

    # An account whose secrets were never set.
    make_user("pnoel", secret_question=None, secret_answer_hash=None)
    start(page, live_server, "pnoel")
    answer_operation(page)
    expect_message(page, MSG_SECRETS_NOT_SET)
    check(page, "forgot-password-no-secrets")

    # The right answer, whatever its case: the mail, then the password change.
    start(page, live_server, "jdupont")
    answer_operation(page)
    answer_question(page, SECRET_ANSWER.lower())
    (mail,) = mailbox.to(EMAIL)  # the wrong answer sent none
    assert mail["Subject"] == wording.NEW_PROVISIONAL_MAIL_SUBJECT
    provisional = mailbox.provisional_password(EMAIL)
    assert provisional != STRONG_PASSWORD
    assert mailbox.to("pnoel@example.test") == []

    page.get_by_role("link", name="Retour à la page de connexion").click()
    log_in(page, "jdupont", provisional)
    expect(page).to_have_url(re.compile(r"/password-change$"))
    choose_password(page, NEW_PASSWORD)
    # The secret question is set: neither it nor the captcha is asked again.
    expect(page.get_by_role("heading", name="Mes applications")).to_be_visible()
