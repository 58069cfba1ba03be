"""Without JavaScript every procedure still works (the pages are plain forms): the login,
the whole first connection with the image captcha and a new image asked for, logging
out, and the forgotten password; every page state audited as shown (a11y.py)."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser import wording
from tests.browser.steps import CAPTCHA_TEXT
from tests.browser.steps import SECRET_ANSWER_CHOICE
from tests.browser.steps import choose_secret
from tests.browser.steps import confirm_password
from tests.browser.steps import expect_message
from tests.browser.steps import forgotten_password_from_logout
from tests.browser.steps import log_in
from tests.browser.steps import log_out_from_home
from tests.browser.steps import type_captcha

pytestmark = pytest.mark.browser

PROVISIONAL = "Pr0visoireXyzAb"
NEW_PASSWORD = "Hirondelle-Boussole-Granit-71"
EMAIL = "cmorel@example.test"


def test_first_connection_logout_and_forgotten_password_without_javascript(
        new_page, check, live_server, make_user, mailbox):
    make_user("cmorel", provisional=PROVISIONAL, email=EMAIL)
    page = new_page(java_script_enabled=False)
    page.goto(f"{live_server.url}/login")
    check(page, "login")
    log_in(page, "cmorel", PROVISIONAL)

    expect(page).to_have_url(re.compile(r"/password-change$"))
    expect_message(page, wording.PROVISIONAL_NOTICE)
    check(page, "password-change")
    page.get_by_label("Nouveau mot de passe", exact=True).fill(NEW_PASSWORD)
    confirm_password(page, NEW_PASSWORD)  # no strength meter: it needs JavaScript

    expect(page).to_have_url(re.compile(r"/first-connection/secret-question$"))
    check(page, "secret-question")
    choose_secret(page)

    expect(page).to_have_url(re.compile(r"/first-connection/captcha$"))
    image = page.get_by_role("img", name=wording.CAPTCHA_ALT)
    expect(image).to_have_js_property("naturalWidth", 280)
    first_image = image.get_attribute("src")
    page.get_by_role("button", name="Afficher une autre image").click()
    expect(page.get_by_role("img", name=wording.CAPTCHA_ALT)).not_to_have_attribute(
        "src", first_image)
    check(page, "captcha")
    type_captcha(page, CAPTCHA_TEXT)
    expect(page.get_by_role("heading", name="Mes applications")).to_be_visible()
    check(page, "home")

    log_out_from_home(page)  # a form: no script needed
    check(page, "logout-done")
    forgotten_password_from_logout(page, check, "cmorel", SECRET_ANSWER_CHOICE)
    assert mailbox.provisional_password(EMAIL) != PROVISIONAL
