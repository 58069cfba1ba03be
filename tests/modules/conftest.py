"""Relying parties nobody here wrote, started by the tests on loopback: the IdP on a live
server whose issuer is its own URL, the modules registered with ``make_module``.

``browser`` is a person's browser as plain HTTP (``tests.conftest.Browser``);
``page`` is Debian's Chromium driven by Playwright, for journeys that need one.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from playwright.sync_api import sync_playwright

from tests.browser.conftest import CHROMIUM
from tests.browser.conftest import CHROMIUM_ARGS
from tests.browser.conftest import STEP_TIMEOUT_MS
from tests.oidc.conftest import app_environ  # noqa: F401 (fixtures shared with tests/oidc)
from tests.oidc.conftest import browser  # noqa: F401
from tests.oidc.conftest import idp_port  # noqa: F401
from tests.oidc.conftest import live_server  # noqa: F401
from tests.oidc.conftest import make_module  # noqa: F401


@pytest.fixture(scope="session")
def chromium():
    expect.set_options(timeout=STEP_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    yield page
    context.close()
