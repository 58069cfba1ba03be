"""Modules in Chromium: the demo module logs in through the IdP, a second module gets in
by SSO without a form, a module's logout the IdP cannot check asks first, logging out
from the module ends both; a person without the module's habilitation is refused and
sent back; form_post."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from idp.database import commit
from idp.oidc.registration import NewClient
from idp.oidc.registration import create_client
from tests.browser import wording
from tests.browser.steps import expect_message
from tests.browser.steps import log_in
from tests.conftest import STRONG_PASSWORD
from tests.security.oauth import authorize_url
from tests.user_guide import MSG_HABILITATION_MISSING

pytestmark = pytest.mark.browser


def test_login_sso_and_logout_from_a_module(page, check, live_server, modules, make_user):
    make_user("jdupont")
    first, second = modules
    idp_pages = []
    page.on("request", lambda req: idp_pages.append(req.url)
            if req.url.startswith(live_server.url) else None)

    page.goto(first.url + "/")
    page.get_by_role("button", name="Se connecter avec BonusEco").click()
    expect(page.get_by_role("heading", name="Connexion à BonusEco")).to_be_visible()
    log_in(page, "jdupont", STRONG_PASSWORD)
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

    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", name="Mes applications")).to_be_visible()
    expect(page.get_by_role("link", name="Module de démonstration")).to_be_visible()
    check(page, "home")
    # A module may ask for the person's consent again (prompt=consent).
    page.goto(live_server.url + authorize_url("demo-module", redirect_uri=first.url + "/callback",
                                              prompt="consent"))
    expect(page.get_by_role("heading", name="Module de démonstration demande l'accès à vos "
                                            "informations")).to_be_visible()
    check(page, "consent")
    # A module's request without the person's ID token: the IdP asks first.
    page.goto(live_server.url + "/end-session?client_id=demo-module")
    expect(page.get_by_role("heading", name=wording.LOGOUT_QUESTION)).to_be_visible()
    expect_message(page, wording.MODULE_ASKS_LOGOUT.format(name="Module de démonstration"))
    expect_message(page, wording.LOGOUT_EVERYWHERE)
    check(page, "end-session-confirm")
    page.get_by_role("link", name="Rester connecté").click()
    expect(page.get_by_role("heading", name="Mes applications")).to_be_visible()

    page.goto(first.url + "/")
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page).to_have_url(re.compile(re.escape(first.url) + r"/\?state="))
    expect(page.locator("#message")).to_have_text("Vous êtes déconnecté de BonusEco.")

    page.goto(second.url + "/")  # told by back-channel logout
    expect(page.locator("#message")).to_have_text("Votre session a été fermée depuis BonusEco.")
    expect(page.get_by_role("button", name="Se connecter avec BonusEco")).to_be_visible()

    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", name="Connexion à BonusEco")).to_be_visible()


def test_missing_habilitation_is_refused_with_the_way_back(page, check, module, make_user):
    make_user("jdupont", habilitations=())
    page.goto(module.url + "/")
    page.get_by_role("button", name="Se connecter avec BonusEco").click()
    log_in(page, "jdupont", STRONG_PASSWORD)
    expect(page.get_by_role("heading", name="Accès refusé")).to_be_visible()
    expect_message(page, MSG_HABILITATION_MISSING)
    expect_message(page, wording.FORBIDDEN_HELP)
    check(page, "forbidden")
    page.get_by_text("Retour à l'application Module de démonstration").click()
    # Back on the module, which receives error=access_denied and no code.
    expect(page).to_have_url(re.compile(re.escape(module.url) + r"/callback\?.*access_denied"))
    expect(page.get_by_text("Connexion refusée : access_denied")).to_be_visible()


def test_form_post_reaches_the_module_as_a_post_under_the_csp(page, live_server, make_user,
                                                             httpserver):
    """response_mode=form_post: Chromium, enforcing the IdP's CSP (no inline script),
    posts the code to the module by itself after the login."""
    make_user("jdupont")
    callback = httpserver.url_for("/callback")
    create_client(NewClient(client_id="form-post-module", name="Module form_post",
                            redirect_uris=[callback], habilitation="bonuseco",
                            skip_consent=True), actor="test")
    commit()
    httpserver.expect_request("/callback", method="POST").respond_with_data("reçu")
    violations = []
    page.on("console", lambda msg: violations.append(msg.text)
            if "Content Security Policy" in msg.text else None)

    page.goto(live_server.url + authorize_url("form-post-module", redirect_uri=callback,
                                              response_mode="form_post", state="st-fp"))
    page.get_by_label("Identifiant").fill("jdupont")
    page.get_by_label("Mot de passe", exact=True).fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("body")).to_have_text("reçu")
    (request,) = [req for req, _resp in httpserver.log if req.path == "/callback"]
    assert request.method == "POST"
    assert set(request.form) == {"code", "state", "iss"}
    assert request.form["state"] == "st-fp"
    assert request.form["iss"] == live_server.url
    assert violations == []
