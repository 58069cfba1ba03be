"""The browser-only module of examples/browser_module/ in Chromium: a static page on an
origin of its own (another loopback port than the IdP's), a public client with PKCE that
talks to the IdP with fetch() only, so every answer it reads is one the IdP's CORS
headers let it read.

The page's configuration is its config.js, written here for the test's IdP and port.
"""

from __future__ import annotations

import json
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import HTTP_TIMEOUT
from tests.conftest import STRONG_PASSWORD
from tests.conftest import free_port
from tests.security.oauth import authorize_url
from tests.security.oauth import pkce_pair

pytestmark = pytest.mark.browser

SOURCE = Path(__file__).resolve().parents[2] / "examples" / "browser_module"
CLIENT_ID = "browser-module"


class StaticFiles(SimpleHTTPRequestHandler):
    """The files of one folder; callbacks (a query with a code) forwarded if told so."""

    forward_callbacks_to: str | None = None

    def do_GET(self):  # noqa: N802 (http.server's hook)
        query = urlsplit(self.path).query
        if self.forward_callbacks_to and "code=" in query:
            self.send_response(302)
            self.send_header("Location", f"{self.forward_callbacks_to}/?{query}")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format, *args):  # noqa: A002 (http.server's signature)
        """Quiet: the tests read the page, not the access log."""


class Site:
    """examples/browser_module/ served from a loopback port, its config.js for ``issuer``."""

    def __init__(self, folder: Path, issuer: str, *, port: int | None = None,
                 redirect_uri: str | None = None, forward_callbacks_to: str | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        shutil.copytree(SOURCE, folder)
        config = {"issuer": issuer, "clientId": CLIENT_ID,
                  "redirectUri": redirect_uri or self.url + "/",
                  "postLogoutRedirectUri": self.url + "/",
                  "scope": "openid profile email habilitations"}
        (folder / "config.js").write_text(f"window.BONUSECO_MODULE = {json.dumps(config)};\n")
        handler = type("Handler", (StaticFiles,), {"forward_callbacks_to": forward_callbacks_to})
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port),
                                           partial(handler, directory=str(folder)))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def sites():
    started: list[Site] = []

    def start(*args, **kwargs) -> Site:
        started.append(Site(*args, **kwargs))
        return started[-1]

    yield start
    for site in started:
        site.stop()


def log_in_from(page, site: Site) -> None:
    """Open the module, click its button and log in at the IdP."""
    page.goto(site.url + "/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    page.get_by_role("button", name="Se connecter avec BonusEco").click()
    expect(page.get_by_role("heading", name="Connexion à BonusEco")).to_be_visible()
    page.get_by_label("Identifiant").fill("jdupont")
    page.get_by_label("Mot de passe", exact=True).fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()


def token_answer(idp_url: str):
    return lambda response: (response.url == idp_url + "/token"
                             and response.request.method == "POST")


def test_login_userinfo_refresh_revocation_and_logout_from_the_page(
        page, live_server, make_module, make_user, sites, tmp_path):
    make_user("jdupont")
    site = sites(tmp_path / "module", live_server.url)
    make_module(CLIENT_ID, public=True, redirect_uris=[site.url + "/"],
                post_logout_redirect_uris=[site.url + "/"], habilitation="bonuseco",
                skip_consent=True)

    userinfo = live_server.url + "/userinfo"
    with page.expect_response(token_answer(live_server.url)) as exchanged, \
            page.expect_request(lambda r: r.url == userinfo and r.method == "GET") as asked:
        log_in_from(page, site)
    expect(page.locator("#message")).to_have_text("Vous êtes connecté avec BonusEco.")
    expect(page).to_have_url(site.url + "/")  # the code is out of the address bar
    expect(page.locator("#welcome")).to_have_text("Bonjour Jean Dupont.")
    expect(page.locator("#userinfo-claims")).to_contain_text("jdupont@example.test")
    expect(page.locator("#userinfo-claims")).to_contain_text("habilitation_codes")
    expect(page.locator("#id-token-claims")).to_contain_text("eidas1")
    assert exchanged.value.headers["access-control-allow-origin"] == site.url
    first = exchanged.value.json()
    assert asked.value.headers["authorization"] == f"Bearer {first['access_token']}"

    with page.expect_response(token_answer(live_server.url)) as renewed:
        page.get_by_role("button", name="Renouveler les jetons").click()
    expect(page.locator("#message")).to_have_text("Vos jetons ont été renouvelés.")
    refreshed = renewed.value.json()
    assert refreshed["access_token"] != first["access_token"]
    assert refreshed["refresh_token"] != first["refresh_token"]
    assert refreshed["id_token"] != first["id_token"]  # verified by the page (OIDC Core 12.2)
    bearer = {"Authorization": f"Bearer {refreshed['access_token']}"}
    assert requests.get(userinfo, headers=bearer, timeout=HTTP_TIMEOUT).status_code == 200

    page.get_by_role("button", name="Révoquer le jeton de rafraîchissement").click()
    expect(page.locator("#message")).to_have_text(
        "Votre jeton de rafraîchissement a été révoqué.")
    expect(page.get_by_role("button", name="Renouveler les jetons")).to_be_disabled()
    # The IdP's side: the refresh token and the access tokens of the login are dead.
    again = requests.post(live_server.url + "/token", timeout=HTTP_TIMEOUT, data={
        "grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"],
        "client_id": CLIENT_ID})
    assert again.json()["error"] == "invalid_grant"
    assert requests.get(userinfo, headers=bearer, timeout=HTTP_TIMEOUT).status_code == 401

    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.locator("#message")).to_have_text("Vous êtes déconnecté de BonusEco.")
    expect(page).to_have_url(site.url + "/")
    expect(page.get_by_role("button", name="Se connecter avec BonusEco")).to_be_visible()
    page.goto(live_server.url + "/")  # the IdP's session is over too
    expect(page.get_by_role("heading", name="Connexion à BonusEco")).to_be_visible()


def test_the_page_on_an_origin_not_registered_cannot_read_the_token_response(
        page, live_server, make_module, make_user, sites, tmp_path):
    """The same page on another port: discovery, public, is read; the code, forwarded to it
    from the registered redirect URI, is sent to /token, but the IdP names no other origin
    than the registered one, so the browser keeps the answer from the page."""
    make_user("jdupont")
    elsewhere_port = free_port()
    registered = sites(tmp_path / "registered", live_server.url,
                       forward_callbacks_to=f"http://127.0.0.1:{elsewhere_port}")
    make_module(CLIENT_ID, public=True, redirect_uris=[registered.url + "/"],
                habilitation="bonuseco", skip_consent=True)
    elsewhere = sites(tmp_path / "elsewhere", live_server.url, port=elsewhere_port,
                      redirect_uri=registered.url + "/")
    console = []
    page.on("console", lambda message: console.append(message.text))
    failed = []
    page.on("requestfailed", lambda request: failed.append(request.url))

    with page.expect_response(live_server.url + "/.well-known/openid-configuration") as found:
        log_in_from(page, elsewhere)
    expect(page).to_have_url(elsewhere.url + "/")
    expect(page.locator("#error")).to_have_text(
        "La réponse de BonusEco n'a pas pu être lue par cette page : son adresse n'est pas "
        "autorisée pour ce module (CORS), ou le serveur est injoignable.")
    expect(page.locator("#logged-in")).to_be_hidden()
    assert found.value.headers["access-control-allow-origin"] == "*"
    assert failed == [live_server.url + "/token"]
    blocked = [text for text in console if "blocked by CORS policy" in text]
    assert blocked, console
    assert f"from origin '{elsewhere.url}'" in blocked[0]


def test_the_page_refuses_an_answer_it_did_not_ask_for_another_nonce_or_a_forged_signature(
        page, live_server, make_module, make_user, sites, tmp_path):
    make_user("jdupont")
    site = sites(tmp_path / "module", live_server.url)
    make_module(CLIENT_ID, public=True, redirect_uris=[site.url + "/"],
                habilitation="bonuseco", skip_consent=True)
    exchanges = []
    page.on("request", lambda r: exchanges.append(r.url) if r.url.endswith("/token") else None)

    # A callback no login of this page asked for (OIDC Core 3.1.2.7: state).
    page.goto(f"{site.url}/?code=forged&state=forged&iss={live_server.url}")
    expect(page.locator("#error")).to_have_text(
        "Cette réponse de BonusEco ne répond à aucune demande de cette page.")
    assert exchanges == []

    # A login whose pending request, in this page's storage, holds another nonce.
    verifier, challenge = pkce_pair()
    page.evaluate("""pending => sessionStorage.setItem("bonuseco-pending-login",
                                                     JSON.stringify(pending))""",
                  {"state": "s-1", "nonce": "not-the-nonce-sent", "verifier": verifier})
    page.goto(live_server.url + authorize_url(
        CLIENT_ID, challenge, redirect_uri=site.url + "/", state="s-1", nonce="n-1"))
    page.get_by_label("Identifiant").fill("jdupont")
    page.get_by_label("Mot de passe", exact=True).fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("#error")).to_have_text("Jeton d'identité refusé (nonce).")
    expect(page.locator("#logged-in")).to_be_hidden()
    assert exchanges == [live_server.url + "/token"]

    # The IdP's token response with the ID token's signature altered on the way.
    def forge(route):
        answer = route.fetch()
        body = answer.json()
        header, payload, signature = body["id_token"].split(".")
        altered = "AAAA" if not signature.endswith("AAAA") else "BBBB"
        body["id_token"] = f"{header}.{payload}.{signature[:-4]}{altered}"
        route.fulfill(response=answer, body=json.dumps(body))

    page.route(live_server.url + "/token", forge)
    page.get_by_role("button", name="Se connecter avec BonusEco").click()  # SSO: no form
    expect(page.locator("#error")).to_have_text(
        "La signature du jeton d'identité est invalide.")
    expect(page.locator("#logged-in")).to_be_hidden()
