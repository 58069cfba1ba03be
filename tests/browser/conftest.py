"""Playwright driving Debian's Chromium (``make test`` installs it)."""

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling Google's
# hosts, which this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


# Like the test keys of hosted captchas: every image shows this text (SPEC 3.2).
CAPTCHA_TEXT = "KM7RT4"


@pytest.fixture
def app_environ(app_environ):
    app_environ["IDP_CAPTCHA_FIXED_TEXT"] = CAPTCHA_TEXT
    return app_environ
