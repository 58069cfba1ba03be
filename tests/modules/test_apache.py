"""Apache 2.4 with mod_auth_openidc as a module (examples/apache/), driven in Chromium: the
login, the claims the application receives, the refresh, both logouts and Apache's own
gate on a habilitation's profile.

Apache starts once for the file, on a free loopback port; each test has its own IdP (its
own database) on the file's IdP port, and registers the module there with the secret
Apache was given.
"""

from __future__ import annotations

import secrets

import pytest
from joserfc import jwt
from playwright.sync_api import expect

from examples.apache import ApacheModule
from examples.apache import ApacheServer
from idp.assistance import services
from idp.database import commit
from idp.extensions import db
from idp.models import Client
from idp.oidc import backchannel
from idp.oidc.clients import hash_client_secret
from tests.conftest import STRONG_PASSWORD
from tests.conftest import free_port
from tests.conftest import now
from tests.conftest import short_transaction
from tests.oidc.conftest import fresh
from tests.oidc.conftest import jwks

pytestmark = pytest.mark.browser

CLIENT_ID = "apache-module"
LOGIN_HEADING = "Connexion à BonusEco"
LOGOUT_DONE = "Vous êtes déconnecté"


@pytest.fixture(scope="module")
def idp_port() -> int:
    """One port for every test's IdP: Apache's configuration names it."""
    return free_port()


@pytest.fixture(scope="module")
def apache(idp_port, tmp_path_factory):
    module = ApacheModule(
        port=free_port(), issuer=f"http://127.0.0.1:{idp_port}", client_id=CLIENT_ID,
        client_secret=secrets.token_urlsafe(32), crypto_passphrase=secrets.token_urlsafe(32),
        run_dir=tmp_path_factory.mktemp("apache"))
    server = ApacheServer(module).start()
    yield server
    server.stop()


@pytest.fixture
def apache_module(apache, live_server, make_module, monkeypatch) -> ApacheModule:
    """The module registered at this test's IdP; Apache's log of the test is printed (and
    shown by pytest when the test fails)."""
    # Apache answers the back-channel logout as soon as it can: the IdP's 3 s for it become
    # a deadline of 30, for a busy machine (the logout waits no longer than the answer).
    monkeypatch.setattr(backchannel, "DELIVERY_TIMEOUT", 30.0)
    module = apache.module
    made = make_module(CLIENT_ID, redirect_uris=[module.redirect_uri],
                       post_logout_redirect_uris=[module.post_logout_redirect_uri],
                       backchannel_logout_uri=module.backchannel_logout_uri)
    db.session.get(Client, made.row_id).secret_hash = hash_client_secret(module.client_secret)
    commit()
    log = module.run_dir / "error.log"
    start = log.stat().st_size
    yield module
    print(f"--- Apache's error log during the test ({log})")
    print(log.read_bytes()[start:].decode(errors="replace"))


def user_with_profile(make_user, login: str, profile: str):
    """An account holding bonuseco with ``profile``; returns its subject."""
    user = make_user(login)
    services.grant_habilitation(user, "bonuseco", profile, actor="test", reason="fixture",
                                now=now())
    commit()
    return fresh(user, "subject")


def log_in(page, module: ApacheModule, login: str, url: str = "/app/") -> None:
    """Open a protected page of the module: the IdP's login form, then back on the page."""
    page.goto(module.url + url)
    expect(page.get_by_role("heading", name=LOGIN_HEADING)).to_be_visible()
    page.get_by_label("Identifiant").fill(login)
    page.get_by_label("Mot de passe", exact=True).fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(module.url + url)
    expect(page.locator("#welcome")).to_have_text("Vous êtes connecté avec BonusEco.")


def variable(page, name: str) -> str:
    """A variable mod_auth_openidc handed the application, as its page shows it."""
    return page.locator(f"#{name}").inner_text()


def test_login_through_apache_hands_the_claims_to_the_application(
        page, live_server, apache_module, make_user):
    subject = user_with_profile(make_user, "jdupont", "concessionnaire")

    log_in(page, apache_module, "jdupont")

    assert variable(page, "OIDC_CLAIM_sub") == subject
    assert variable(page, "REMOTE_USER") == subject
    assert variable(page, "OIDC_CLAIM_iss") == live_server.url
    assert variable(page, "OIDC_CLAIM_aud") == CLIENT_ID
    assert variable(page, "OIDC_CLAIM_acr") == "eidas1"
    assert variable(page, "OIDC_CLAIM_email") == "jdupont@example.test"
    assert variable(page, "OIDC_CLAIM_given_name") == "Jean"
    # Userinfo's array of strings, joined by mod_auth_openidc's delimiter.
    codes = variable(page, "OIDC_CLAIM_habilitation_codes").split(",")
    assert sorted(codes) == ["bonuseco", "bonuseco:concessionnaire"]
    # The access token is the IdP's JWT (RFC 9068) for this person and this module.
    token = jwt.decode(variable(page, "OIDC_access_token"), jwks(live_server.url))
    assert token.claims["sub"] == subject
    assert token.claims["client_id"] == CLIENT_ID


def test_refresh_hook_gets_a_new_access_token_from_the_idp(
        page, live_server, apache_module, make_user, audit_rows):
    subject = user_with_profile(make_user, "jdupont", "concessionnaire")
    log_in(page, apache_module, "jdupont")
    before = variable(page, "OIDC_access_token")

    page.get_by_role("link", name="Renouveler le jeton d'accès").click()

    expect(page).to_have_url(apache_module.url + "/app/")
    expect(page.locator("#OIDC_access_token")).not_to_have_text(before)
    after = jwt.decode(variable(page, "OIDC_access_token"), jwks(live_server.url))
    assert after.claims["sub"] == subject
    with short_transaction():
        issued = [(row.client_id, row.details["grant"]) for row in audit_rows("token.issued")]
    assert issued == [(CLIENT_ID, "authorization_code"), (CLIENT_ID, "refresh_token")]


def test_logout_from_the_module_ends_the_idp_session(page, live_server, apache_module,
                                                     make_user):
    user_with_profile(make_user, "jdupont", "concessionnaire")
    log_in(page, apache_module, "jdupont")

    page.get_by_role("link", name="Se déconnecter").click()

    # RP-Initiated Logout at the IdP, then back to the module's public page.
    expect(page).to_have_url(apache_module.post_logout_redirect_uri)
    page.goto(apache_module.url + "/app/")
    expect(page.get_by_role("heading", name=LOGIN_HEADING)).to_be_visible()


def test_logout_at_the_idp_ends_the_apache_session(page, live_server, apache_module,
                                                   make_user, caplog):
    user_with_profile(make_user, "jdupont", "concessionnaire")
    log_in(page, apache_module, "jdupont")

    page.goto(live_server.url + "/logout")
    page.get_by_role("button", name="Se déconnecter").click()

    expect(page.get_by_role("heading", name=LOGOUT_DONE)).to_be_visible()
    # Apache answered the logout token 200 (Back-Channel Logout 1.0, 2.8), not an error.
    assert f"back-channel logout delivered to {CLIENT_ID}" in caplog.messages
    # Told by back-channel logout, Apache no longer knows the person: its protected page
    # sends to the IdP, whose session has ended too.
    page.goto(apache_module.url + "/app/")
    expect(page.get_by_role("heading", name=LOGIN_HEADING)).to_be_visible()


def test_apache_refuses_a_profile_its_location_does_not_require(page, apache_module,
                                                               make_user):
    user_with_profile(make_user, "jdupont", "concessionnaire")
    log_in(page, apache_module, "jdupont")

    response = page.goto(apache_module.url + "/app/gestion/")

    assert response.status == 403
    assert response.url == apache_module.url + "/app/gestion/"  # Apache's answer, no IdP
    expect(page.get_by_role("heading", name="Accès refusé")).to_be_visible()


def test_apache_lets_in_the_profile_its_location_requires(page, apache_module, make_user):
    user_with_profile(make_user, "mmartin", "gestionnaire")

    log_in(page, apache_module, "mmartin", url="/app/gestion/")

    expect(page.get_by_role("heading", name="Espace gestionnaire")).to_be_visible()
    codes = variable(page, "OIDC_CLAIM_habilitation_codes").split(",")
    assert sorted(codes) == ["bonuseco", "bonuseco:gestionnaire"]
