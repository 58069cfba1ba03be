"""The journey of issue 3 in Chromium: the demo module logs in through the IdP, a second
module gets in by SSO without a form, and logging out from the module ends both."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import STRONG_PASSWORD

pytestmark = pytest.mark.browser


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
