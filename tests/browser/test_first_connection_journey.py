"""The first connection in Chromium, as docs/flows.md tells it: from the two welcome mails
to the module, each page and each refusal audited; then two interrupted ones resumed (on
the password change, and after the new password)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import wording
from tests.browser.steps import CAPTCHA_TEXT
from tests.browser.steps import choose_password
from tests.browser.steps import choose_secret
from tests.browser.steps import confirm_password
from tests.browser.steps import expect_field_error
from tests.browser.steps import expect_message
from tests.browser.steps import log_in
from tests.browser.steps import type_captcha
from tests.browser.steps import type_new_password
from tests.user_guide import ASSISTANCE_PHONE
from tests.user_guide import BONUSECO_LABEL
from tests.user_guide import MAIL_HABILITATION_LINE
from tests.user_guide import MAIL_IDENTIFIER_LINE
from tests.user_guide import MAIL_PROVISIONAL_PASSWORD_LINE
from tests.user_guide import MSG_INVALID_CREDENTIALS

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Hirondelle-Boussole-Granit-71"
EMAIL = "claire.morel@garage-morel.test"


def create_account(app, mailbox) -> str:
    """``idp users create`` as the agency does; the provisional password comes by mail."""
    result = app.test_cli_runner().invoke(args=[
        "users", "create", "cmorel", "--email", EMAIL, "--given-name", "Claire",
        "--family-name", "Morel", "--habilitation", "bonuseco:concessionnaire",
    ])
    assert result.exit_code == 0, result.output
    identifier_mail, password_mail = mailbox.to(EMAIL)
    assert f"{MAIL_IDENTIFIER_LINE}cmorel" in mailbox.body(identifier_mail)
    assert f"{MAIL_HABILITATION_LINE}{BONUSECO_LABEL}" in mailbox.body(identifier_mail)
    assert MAIL_PROVISIONAL_PASSWORD_LINE not in mailbox.body(identifier_mail)
    assert MAIL_PROVISIONAL_PASSWORD_LINE in mailbox.body(password_mail)
    return mailbox.provisional_password(EMAIL)


def test_from_the_welcome_mails_to_the_module(page, check, app, module, mailbox):
    provisional = create_account(app, mailbox)
    page.goto(module.url + "/")
    page.get_by_role("button", name="Se connecter avec BonusEco").click()
    expect(page.get_by_role("heading", name="Connexion à BonusEco")).to_be_visible()
    header = page.get_by_role("banner")  # its links, and their copy in the « Menu » modal
    expect(header.get_by_role("link", name=f"Assistance : {ASSISTANCE_PHONE}").first) \
        .to_have_attribute("href", "tel:" + ASSISTANCE_PHONE.replace(" ", ""))
    expect(header.get_by_role("link", name="Manuel utilisateur").first).to_be_visible()
    expect(page.get_by_role("contentinfo")).to_contain_text(wording.FOOTER)
    check(page, "login")
    log_in(page, "cmorel", provisional)

    expect(page).to_have_url(re.compile(r"/password-change$"))
    expect_message(page, wording.PROVISIONAL_NOTICE)
    check(page, "password-change")
    type_new_password(page, "motdepasse2024")
    expect(page.get_by_text("Robustesse :")).to_be_visible()
    expect(page.locator("#password-strength-label")).not_to_be_empty()
    check(page, "password-change-strength-meter")
    confirm_password(page, "motdepasse2024")
    expect_field_error(page.get_by_label("Nouveau mot de passe", exact=True), wording.TOO_EASY)
    check(page, "password-change-refused")
    choose_password(page, NEW_PASSWORD)

    expect(page).to_have_url(re.compile(r"/first-connection/secret-question$"))
    expect(page.get_by_role("heading", name="Choisissez votre question secrète")).to_be_visible()
    check(page, "secret-question")
    page.get_by_label("Réponse secrète").fill("Rantanplan")
    page.get_by_role("button", name="Enregistrer la question secrète").click()
    expect_field_error(page.get_by_label("Question secrète", exact=True), wording.REQUIRED)
    check(page, "secret-question-refused")
    choose_secret(page)

    expect(page).to_have_url(re.compile(r"/first-connection/captcha$"))
    image = page.get_by_role("img", name=wording.CAPTCHA_ALT)
    expect(image).to_have_js_property("naturalWidth", 280)  # loads under the CSP
    expect(page.get_by_role("link", name="Écouter la version audio")).to_be_visible()
    check(page, "captcha")
    type_captcha(page, "AAAAAA")
    expect_field_error(page.get_by_label("Saisissez les caractères de l'image"),
                       wording.CAPTCHA_WRONG)
    check(page, "captcha-refused")
    type_captcha(page, CAPTCHA_TEXT.lower())  # either case is accepted

    # The pending authorization resumes: the module receives its code.
    expect(page).to_have_url(module.url + "/")
    expect(page.locator("#welcome")).to_contain_text("Vous êtes connecté avec BonusEco")
    expect(page.locator("#userinfo-claims")).to_contain_text(EMAIL)
    expect(page.locator("#userinfo-claims")).to_contain_text("concessionnaire")


def test_interrupted_after_the_new_password_resumes_at_the_secret_question(
        new_page, app, live_server, mailbox):
    provisional = create_account(app, mailbox)
    page = new_page()
    page.goto(live_server.url + "/login")
    log_in(page, "cmorel", provisional)
    choose_password(page, NEW_PASSWORD)
    expect(page).to_have_url(re.compile(r"/first-connection/secret-question$"))
    page.context.close()  # the tab and the browser closed: the login flow is lost

    page = new_page()
    page.goto(live_server.url + "/login")
    log_in(page, "cmorel", provisional)  # ended by the personal password
    expect_message(page, MSG_INVALID_CREDENTIALS)
    log_in(page, "cmorel", NEW_PASSWORD)
    # Every step not done yet is asked again, the captcha included.
    expect(page).to_have_url(re.compile(r"/first-connection/secret-question$"))
    choose_secret(page)
    expect(page).to_have_url(re.compile(r"/first-connection/captcha$"))
    type_captcha(page, CAPTCHA_TEXT)
    expect(page.get_by_role("heading", name="Mes applications")).to_be_visible()


def test_interrupted_on_the_password_change_resumes_with_the_provisional_password(
        new_page, app, live_server, mailbox):
    """The tab closed on the password-change page: the provisional password still opens
    the first connection, which asks every step again, the captcha included."""
    provisional = create_account(app, mailbox)
    page = new_page()
    page.goto(live_server.url + "/login")
    log_in(page, "cmorel", provisional)
    expect(page).to_have_url(re.compile(r"/password-change$"))
    page.context.close()

    page = new_page()
    page.goto(live_server.url + "/login")
    log_in(page, "cmorel", provisional)  # works until a personal password is chosen
    expect(page).to_have_url(re.compile(r"/password-change$"))
    choose_password(page, NEW_PASSWORD)
    expect(page).to_have_url(re.compile(r"/first-connection/secret-question$"))
    choose_secret(page)
    expect(page).to_have_url(re.compile(r"/first-connection/captcha$"))
    type_captcha(page, CAPTCHA_TEXT)
    expect(page.get_by_role("heading", name="Mes applications")).to_be_visible()
