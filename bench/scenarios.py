"""What the bench does to each server, as units for ``bench.driver.run``.

IdP side (the clients of ``idp demo seed``; demo-module signs ID tokens with RS256,
demo-module-2 with ES256, see bench/seed.py): discovery, JWKS, the token endpoint
alone, userinfo alone, the returning user's flow (SSO session kept: authorize ->
code -> token -> userinfo), the password login flow (authorize -> login page ->
password -> code -> token -> userinfo, fresh cookies each time) and the Assistance
search. Reference side (bench/reference/server.mjs): its whole code flow with its
development login and consent pages (9 requests) and its returning-user flow.

Every unit checks what it gets (status, code, token, claims): a wrong answer is an
error in the table, never a fast request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import secrets
import threading
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

from bench.driver import BenchError
from bench.driver import Http
from bench.driver import expect
from bench.driver import local_path

CALLBACK_PREFIX = "http://127.0.0.1:"
IDP_CLIENTS = {  # client_id -> redirect URI (idp.demo.DEMO_CLIENTS)
    "demo-module": "http://127.0.0.1:5001/callback",
    "demo-module-2": "http://127.0.0.1:5002/callback",
}
IDP_SCOPE = "openid profile email habilitations"
REF_CALLBACK = "http://127.0.0.1:8765/callback"
REF_SECRET = "ref-secret-for-the-benchmark-only-0123456789abcdef"  # noqa: S105 (server.mjs)
SEARCHES = ("bench-00421", "bench-0", "essai 0042", "banc essai 00999", "BENCH-00777@", "zzzz")
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


def basic(client_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_path(endpoint: str, client_id: str, redirect_uri: str, scope: str,
                   challenge: str) -> str:
    return endpoint + "?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": scope, "state": secrets.token_urlsafe(12), "nonce": secrets.token_urlsafe(12),
        "code_challenge": challenge, "code_challenge_method": "S256",
    })


def code_from(location: str) -> str:
    if not location.startswith(CALLBACK_PREFIX):
        raise BenchError(f"not sent back to the client: {location[:200]}")
    params = parse_qs(urlsplit(location).query)
    if "code" not in params:
        raise BenchError(f"no code: {location[:200]}")
    return params["code"][0]


def redeem(http: Http, token_path: str, client_id: str, secret: str, redirect_uri: str,
           code: str, verifier: str) -> str:
    """The code exchange (client_secret_basic + PKCE); returns the access token."""
    response = expect(http.post(token_path, {
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }, headers=basic(client_id, secret)), 200)
    body = json.loads(response.body)
    if "id_token" not in body:
        raise BenchError("no id_token in the token response")
    return body["access_token"]


def userinfo(http: Http, path: str, access_token: str) -> None:
    response = expect(http.get(path, headers={"Authorization": f"Bearer {access_token}"}), 200)
    if b'"sub"' not in response.body:
        raise BenchError("userinfo without sub")


# --- the IdP -------------------------------------------------------------------------

class Idp:
    """Units against the IdP; ``accounts`` bench accounts exist (bench-00001...)."""

    def __init__(self, accounts: int, client_secret: str, password: str,
                 operator: tuple[str, str]):
        self.accounts, self.secret, self.password = accounts, client_secret, password
        self.operator = operator
        self.pool: list[tuple[str, str, str]] = []  # (client_id, code, verifier)
        self.pool_lock = threading.Lock()
        self.access_tokens: dict[int, str] = {}

    def random_login(self) -> str:
        return f"bench-{random.randint(1, self.accounts):05d}"  # noqa: S311 (not crypto)

    # One-request units.
    @staticmethod
    def discovery(http: Http, _index: int) -> None:
        expect(http.get("/.well-known/openid-configuration"), 200)

    @staticmethod
    def jwks(http: Http, _index: int) -> None:
        expect(http.get("/jwks"), 200)

    # Logging in.
    def login_form(self, http: Http, path: str, identifier: str, password: str) -> str:
        """GET the login page at ``path``, post the form; the 303's Location."""
        page = expect(http.get(path), 200)
        found = CSRF.search(page.text)
        if not found:
            raise BenchError("no CSRF token on the login page")
        next_url = parse_qs(urlsplit(path).query).get("next", [""])[0]
        response = expect(http.post("/login", {
            "csrf_token": found.group(1), "identifier": identifier, "password": password,
            "next": next_url,
        }), 303)
        return response.location

    def code(self, http: Http, client_id: str, login: str | None) -> tuple[str, str]:
        """(code, verifier): through the login page when ``login`` is given, else by SSO."""
        verifier, challenge = pkce()
        redirect_uri = IDP_CLIENTS[client_id]
        response = http.get(authorize_path("/authorize", client_id, redirect_uri, IDP_SCOPE,
                                           challenge))
        if login is not None:
            expect(response, 302, 303)
            back = self.login_form(http, local_path(response.location), login, self.password)
            response = http.get(local_path(back))
        return code_from(expect(response, 302, 303).location), verifier

    def flow(self, http: Http, client_id: str, login: str | None) -> None:
        code, verifier = self.code(http, client_id, login)
        token = redeem(http, "/token", client_id, self.secret, IDP_CLIENTS[client_id], code,
                       verifier)
        userinfo(http, "/userinfo", token)

    def password_flow(self, http: Http, _index: int) -> None:
        """A new browser: authorize -> login page -> password -> code -> token -> userinfo."""
        http.cookies.clear()
        self.flow(http, "demo-module", self.random_login())

    def log_in(self, http: Http, index: int) -> None:
        """Setup: an SSO session for this thread (its own bench account)."""
        self.flow(http, "demo-module", f"bench-{1 + index % self.accounts:05d}")

    def returning_flow(self, client_id: str):
        def unit(http: Http, _index: int) -> None:
            self.flow(http, client_id, None)
        return unit

    # The token endpoint alone: codes made beforehand through the real flow.
    def make_code(self, http: Http, _index: int) -> None:
        code, verifier = self.code(http, "demo-module", None)
        with self.pool_lock:
            self.pool.append(("demo-module", code, verifier))

    def token(self, http: Http, _index: int) -> None:
        with self.pool_lock:
            if not self.pool:
                raise BenchError("code pool empty")
            client_id, code, verifier = self.pool.pop()
        redeem(http, "/token", client_id, self.secret, IDP_CLIENTS[client_id], code, verifier)

    # Userinfo alone: one access token per thread, made in setup.
    def get_access_token(self, http: Http, index: int) -> None:
        self.log_in(http, index)
        code, verifier = self.code(http, "demo-module", None)
        self.access_tokens[index] = redeem(http, "/token", "demo-module", self.secret,
                                           IDP_CLIENTS["demo-module"], code, verifier)

    def userinfo(self, http: Http, index: int) -> None:
        userinfo(http, "/userinfo", self.access_tokens[index])

    # The Assistance console.
    def operator_login(self, http: Http, _index: int) -> None:
        login, password = self.operator
        self.login_form(http, "/login", login, password)

    @staticmethod
    def search(http: Http, _index: int) -> None:
        query = SEARCHES[random.randrange(len(SEARCHES))]  # noqa: S311 (not crypto)
        response = expect(http.get("/assistance/?" + urlencode({"q": query})), 200)
        if b'name="password"' in response.body:
            raise BenchError("the login page, not the console")


# --- the reference (oidc-provider) ---------------------------------------------------

class Reference:
    """Units against bench/reference/server.mjs (clients ref-rs256 and ref-es256)."""

    scope = "openid profile email"

    @staticmethod
    def discovery(http: Http, _index: int) -> None:
        expect(http.get("/.well-known/openid-configuration"), 200)

    @staticmethod
    def jwks(http: Http, _index: int) -> None:
        expect(http.get("/jwks"), 200)

    def interaction(self, http: Http, location: str, form: dict[str, str]) -> str:
        """GET the interaction page, post its form, follow the resume: the next Location."""
        page = expect(http.get(local_path(location)), 200)
        found = FORM_ACTION.search(page.text)
        if not found:
            raise BenchError("no form on the interaction page")
        posted = expect(http.post(local_path(found.group(1)), form), 302, 303)
        return expect(http.get(local_path(posted.location)), 302, 303).location

    def flow(self, http: Http, client_id: str, interactive: bool) -> None:
        verifier, challenge = pkce()
        response = expect(http.get(authorize_path("/auth", client_id, REF_CALLBACK, self.scope,
                                                  challenge)), 302, 303)
        location = response.location
        if interactive:
            # Login page, login, resume -> consent page, consent, resume -> callback.
            location = self.interaction(http, location, {"prompt": "login",
                                                         "login": "bench-00001",
                                                         "password": "any"})
            location = self.interaction(http, location, {"prompt": "consent"})
        token = redeem(http, "/token", client_id, REF_SECRET, REF_CALLBACK, code_from(location),
                       verifier)
        userinfo(http, "/me", token)

    def full_flow(self, client_id: str):
        def unit(http: Http, _index: int) -> None:
            http.cookies.clear()
            self.flow(http, client_id, interactive=True)
        return unit

    def log_in(self, client_id: str):
        def setup(http: Http, _index: int) -> None:
            self.flow(http, client_id, interactive=True)
        return setup

    def returning_flow(self, client_id: str):
        def unit(http: Http, _index: int) -> None:
            self.flow(http, client_id, interactive=False)
        return unit


def bare(http: Http, _index: int) -> None:
    expect(http.get("/"), 200)
