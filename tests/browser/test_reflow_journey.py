"""Small screens and large text (WCAG 1.4.10 Reflow, 1.4.4 Resize text): a person's pages
in a window 320 px wide, the Assistance console at 200 % zoom; on every page, nothing
scrolls sideways (``check`` fails otherwise) and axe finds nothing."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from idp.clock import utcnow
from tests.browser.steps import CAPTCHA_TEXT
from tests.browser.steps import SECRET_ANSWER_CHOICE
from tests.browser.steps import choose_password
from tests.browser.steps import choose_secret
from tests.browser.steps import expect_message
from tests.browser.steps import forgotten_password_from_logout
from tests.browser.steps import log_in
from tests.browser.steps import log_out_from_home
from tests.browser.steps import open_account
from tests.browser.steps import search_accounts
from tests.browser.steps import type_captcha
from tests.conftest import STRONG_PASSWORD
from tests.user_guide import MSG_INVALID_CREDENTIALS

pytestmark = pytest.mark.browser

PROVISIONAL = "Pr0visoireXyzAb"
NEW_PASSWORD = "Hirondelle-Boussole-Granit-71"


def test_first_connection_logout_and_forgotten_password_320_px_wide(new_page, check,
                                                                     live_server, make_user):
    make_user("cmorel", provisional=PROVISIONAL)
    page = new_page(viewport={"width": 320, "height": 640})
    page.goto(f"{live_server.url}/login")
    check(page, "login")
    log_in(page, "cmorel", PROVISIONAL + "x")
    expect_message(page, MSG_INVALID_CREDENTIALS)
    check(page, "login-refused")
    log_in(page, "cmorel", PROVISIONAL)
    expect(page).to_have_url(re.compile(r"/password-change$"))
    check(page, "password-change")
    choose_password(page, NEW_PASSWORD)
    expect(page).to_have_url(re.compile(r"/first-connection/secret-question$"))
    check(page, "secret-question")
    choose_secret(page)
    expect(page).to_have_url(re.compile(r"/first-connection/captcha$"))
    check(page, "captcha")
    type_captcha(page, CAPTCHA_TEXT)
    expect(page.get_by_role("heading", name="Mes applications")).to_be_visible()
    check(page, "home")

    log_out_from_home(page)
    check(page, "logout-done")
    forgotten_password_from_logout(page, check, "cmorel", SECRET_ANSWER_CHOICE)


def test_assistance_console_at_200_percent_zoom(new_page, check, live_server, make_user):
    """A 1280 × 800 screen at 200 %: 640 × 400 CSS pixels, each drawn with 2 × 2."""
    make_user("agent.roux", habilitations=("assistance",))
    make_user("vdurand", failed_attempts=3, locked_until=utcnow() + timedelta(minutes=20))
    page = new_page(viewport={"width": 640, "height": 400}, device_scale_factor=2)
    page.goto(f"{live_server.url}/assistance/")
    check(page, "login")
    log_in(page, "agent.roux", STRONG_PASSWORD)
    search_accounts(page, "vdur")
    check(page, "assistance-search-results")
    open_account(page, "vdurand")
    check(page, "assistance-account")
    page.get_by_role("link", name="Déverrouiller").click()
    expect(page.get_by_role("button", name="Déverrouiller le compte")).to_be_visible()
    check(page, "assistance-action")
