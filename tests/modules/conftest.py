"""Relying parties nobody here wrote, started by the tests on loopback: the IdP on a live
server whose issuer is its own URL, the modules registered with ``make_module``.

``browser`` is a person's browser as plain HTTP (``tests.conftest.Browser``);
``page`` is Debian's Chromium driven by Playwright, for journeys that need one.
"""

from __future__ import annotations

import pytest

from tests.conftest import STEP_TIMEOUT_MS
from tests.oidc.conftest import app_environ  # noqa: F401 (fixtures shared with tests/oidc)
from tests.oidc.conftest import browser  # noqa: F401
from tests.oidc.conftest import idp_port  # noqa: F401
from tests.oidc.conftest import live_server  # noqa: F401
from tests.oidc.conftest import make_module  # noqa: F401


@pytest.fixture
def page(chromium):
    context = chromium.new_context(locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    yield page
    context.close()
