"""The login's refusals in Chromium, as docs/flows.md tells them: the tries left, the lock;
the expired password changed first, the pages of « Mon compte », then logging out from
the IdP's own pages."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser import wording
from tests.browser.steps import choose_password
from tests.browser.steps import expect_message
from tests.browser.steps import log_in
from tests.conftest import STRONG_PASSWORD
from tests.user_guide import MSG_ACCOUNT_LOCKED
from tests.user_guide import MSG_INVALID_CREDENTIALS

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Hirondelle-Boussole-Granit-71"
WRONG_PASSWORD = STRONG_PASSWORD + "x"


def test_wrong_passwords_say_the_tries_left_then_the_third_locks(page, check, live_server,
                                                                  make_user, mailbox):
    make_user("jdupont")
    page.goto(f"{live_server.url}/login")
    log_in(page, "jdupont", WRONG_PASSWORD)
    expect_message(page, MSG_INVALID_CREDENTIALS)
    expect_message(page, wording.TRIES_LEFT_2)
    check(page, "login-refused-2-tries-left")
    log_in(page, "jdupont", WRONG_PASSWORD)
    expect_message(page, wording.TRIES_LEFT_1)
    expect_message(page, MSG_INVALID_CREDENTIALS)
    check(page, "login-refused-1-try-left")
    log_in(page, "jdupont", WRONG_PASSWORD)
    expect_message(page, wording.NOW_LOCKED)
    expect_message(page, MSG_INVALID_CREDENTIALS)
    check(page, "login-refused-now-locked")
    (locked_mail,) = mailbox.to("jdupont@example.test")
    assert locked_mail["Subject"] == wording.LOCKED_MAIL_SUBJECT

    log_in(page, "jdupont", STRONG_PASSWORD)  # even the right password, during the lock
    expect_message(page, MSG_ACCOUNT_LOCKED)
    check(page, "login-locked")
    expect(page).to_have_url(re.compile(r"/login$"))


def test_expired_password_is_changed_first_then_logout_from_the_idp(page, check, live_server,
                                                                     make_user):
    make_user("jdupont", changed_days_ago=91)
    page.goto(f"{live_server.url}/login")
    log_in(page, "jdupont", STRONG_PASSWORD)
    expect(page).to_have_url(re.compile(r"/password-change$"))
    expect_message(page, wording.EXPIRED_NOTICE)
    check(page, "password-change-expired")
    choose_password(page, NEW_PASSWORD)
    expect(page.get_by_role("heading", name="Mes applications")).to_be_visible()
    expect_message(page, wording.NO_APPLICATION)
    check(page, "home-no-application")
    for button, state in [("Changer mon mot de passe", "account-password"),
                          ("Changer ma question secrète", "account-secret-question")]:
        page.get_by_role("link", name=button).click()
        expect(page.get_by_role("heading", name=button)).to_be_visible()
        check(page, state)
        page.get_by_role("link", name="Annuler").click()
        expect(page.get_by_role("heading", name="Mes applications")).to_be_visible()

    page.goto(f"{live_server.url}/logout")
    expect(page.get_by_role("heading", name=wording.LOGOUT_QUESTION)).to_be_visible()
    check(page, "logout-confirm")
    page.get_by_role("main").get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("heading", name=wording.LOGGED_OUT_TITLE)).to_be_visible()
    expect_message(page, wording.LOGGED_OUT)
    check(page, "logout-done")
    page.get_by_role("link", name=wording.LOG_IN_AGAIN).click()
    expect(page.get_by_role("heading", name="Connexion à BonusEco")).to_be_visible()
    page.goto(f"{live_server.url}/")  # the session is over
    expect(page).to_have_url(re.compile(r"/login"))
