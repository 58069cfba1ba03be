"""Playwright driving Debian's Chromium (``make test`` installs it), the IdP on a live
server whose issuer is its own URL, the demo modules of ``examples/``, and the audit
of every page state (a11y.py)."""

import pytest

from examples.demo_module import create_app as create_demo
from idp.database import commit
from idp.oidc import backchannel
from idp.oidc.registration import NewClient
from idp.oidc.registration import create_client
from tests.browser.a11y import PageStates
from tests.browser.steps import CAPTCHA_TEXT
from tests.conftest import STEP_TIMEOUT_MS
from tests.conftest import LiveServer
from tests.conftest import free_port


@pytest.fixture(scope="session")
def browser(chromium):
    """Debian's Chromium, launched once per session (``tests.conftest.chromium``)."""
    return chromium


@pytest.fixture
def new_page(browser):
    """Open a page in a browser context of its own: a person's browser, with Playwright's
    context options (``viewport``, ``device_scale_factor``, ``java_script_enabled``...)."""
    contexts = []

    def open_page(**options):
        context = browser.new_context(locale="fr-FR", **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def check(request):
    """``check(page, state)``: audit the page state and keep its screenshot (a11y.py)."""
    states = PageStates(request.node.name)
    yield states
    states.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """A test fails on the findings of ``check`` once its journey is over, all listed."""
    states = item.funcargs.get("check")
    try:
        result = yield
    except BaseException as error:
        if states is not None and states.findings:
            error.add_note(states.report())
        raise
    if states is not None and states.findings:
        pytest.fail(states.report(), pytrace=False)
    return result


@pytest.fixture
def idp_port() -> int:
    return free_port()


@pytest.fixture
def app_environ(app_environ, idp_port):
    # The issuer is the live server's own URL, so that discovery and tokens agree.
    app_environ["IDP_ISSUER"] = f"http://127.0.0.1:{idp_port}"
    app_environ["IDP_CAPTCHA_FIXED_TEXT"] = CAPTCHA_TEXT
    return app_environ


@pytest.fixture
def live_server(app, idp_port):
    server = LiveServer(app, idp_port).start()
    yield server
    server.stop()


def demo_module(idp_url: str, client_id: str, name: str) -> LiveServer:
    """The demo module of ``examples/``, registered at the IdP, served on a free port."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    _client, secret = create_client(NewClient(
        client_id=client_id, name=name, redirect_uris=[f"{base}/callback"],
        habilitation="bonuseco", post_logout_redirect_uris=[f"{base}/"],
        backchannel_logout_uri=f"{base}/backchannel-logout", skip_consent=True,
    ), actor="test")
    commit()
    app = create_demo({"ISSUER": idp_url, "CLIENT_ID": client_id, "CLIENT_SECRET": secret,
                       "PORT": port, "NAME": name, "BASE_URL": base})
    return LiveServer(app, port).start()


@pytest.fixture
def module(live_server, monkeypatch):
    """The first demo module, « Module de démonstration »."""
    # It answers the back-channel logout as soon as it can: the IdP's 3 s for it become
    # a deadline of 30, for a busy machine (the logout waits no longer than the answers).
    monkeypatch.setattr(backchannel, "DELIVERY_TIMEOUT", 30.0)
    server = demo_module(live_server.url, "demo-module", "Module de démonstration")
    yield server
    server.stop()


@pytest.fixture
def modules(live_server, module):
    """Two demo modules, for single sign-on from one to the other."""
    second = demo_module(live_server.url, "demo-module-2", "Second module")
    yield [module, second]
    second.stop()
