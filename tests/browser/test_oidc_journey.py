"""The journey of issue 3 in Chromium: the demo module logs in through the IdP, a second
module gets in by SSO without a form, and logging out from the module ends both."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from examples.demo_module import create_app as create_demo
from idp.assistance.clients import NewClient
from idp.assistance.clients import create_client
from idp.database import commit
from tests.conftest import STRONG_PASSWORD
from tests.conftest import free_port
from tests.oidc.conftest import IssuerServer

pytestmark = pytest.mark.browser


@pytest.fixture
def idp_port() -> int:
    return free_port()


@pytest.fixture
def app_environ(app_environ, idp_port):
    # The issuer is the live server's own URL, so that discovery and tokens agree.
    app_environ["IDP_ISSUER"] = f"http://127.0.0.1:{idp_port}"
    return app_environ


@pytest.fixture
def live_server(app, idp_port):
    server = IssuerServer(app, idp_port).start()
    yield server
    server.stop()


def demo_module(idp_url: str, client_id: str, name: str) -> IssuerServer:
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
    return IssuerServer(app, port).start()


@pytest.fixture
def modules(live_server):
    started = [demo_module(live_server.url, "demo-module", "Module de démonstration"),
               demo_module(live_server.url, "demo-module-2", "Second module")]
    yield started
    for module in started:
        module.stop()


def test_login_sso_and_logout_across_two_modules(page, live_server, modules, make_user):
    make_user("jdupont")
    first, second = modules
    idp_pages = []
    page.on("request", lambda req: idp_pages.append(req.url)
            if req.url.startswith(live_server.url) else None)

    page.goto(first.url + "/")
    page.get_by_role("button", name="Se connecter avec BonusEco").click()
    expect(page.get_by_role("heading", name="Connexion à BonusEco")).to_be_visible()
    page.get_by_label("Identifiant").fill("jdupont")
    page.get_by_label("Mot de passe").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(first.url + "/")
    expect(page.locator("#welcome")).to_contain_text("Vous êtes connecté avec BonusEco")
    expect(page.locator("#id-token-claims")).to_contain_text("eidas1")
    expect(page.locator("#userinfo-claims")).to_contain_text("jdupont@example.test")

    idp_pages.clear()
    page.goto(second.url + "/")
    page.get_by_role("button", name="Se connecter avec BonusEco").click()
    expect(page).to_have_url(second.url + "/")
    expect(page.locator("#welcome")).to_be_visible()
    assert not [url for url in idp_pages if "/login" in url]  # SSO: no login form

    page.goto(first.url + "/")
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page).to_have_url(re.compile(re.escape(first.url) + r"/\?state="))
    expect(page.locator("#message")).to_have_text("Vous êtes déconnecté de BonusEco.")

    page.goto(second.url + "/")  # told by back-channel logout
    expect(page.locator("#message")).to_have_text("Votre session a été fermée depuis BonusEco.")
    expect(page.get_by_role("button", name="Se connecter avec BonusEco")).to_be_visible()

    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", name="Connexion à BonusEco")).to_be_visible()
