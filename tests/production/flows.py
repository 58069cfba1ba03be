"""What a browser and a module do against the gunicorn IdP, over real HTTP."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import requests

from tests.conftest import csrf_token
from tests.security.oauth import authorize_url
from tests.security.oauth import pkce_pair

CALLBACK = "http://127.0.0.1:8765/callback"
TIMEOUT = 30


@dataclass
class LoginAttempt:
    """A browser that has loaded the login page, ready to post it (before the barrier)."""

    url: str
    session: requests.Session
    token: str

    @classmethod
    def prepare(cls, url: str, next_url: str = "") -> LoginAttempt:
        session = requests.Session()
        page = session.get(f"{url}/login", params={"next": next_url} if next_url else None,
                           timeout=TIMEOUT)
        page.raise_for_status()
        return cls(url, session, csrf_token(page.text))

    def post(self, identifier: str, password: str, next_url: str = "") -> requests.Response:
        return self.session.post(f"{self.url}/login", data={
            "csrf_token": self.token, "identifier": identifier, "password": password,
            "next": next_url,
        }, allow_redirects=False, timeout=TIMEOUT)


def attempt(url: str, identifier: str, password: str) -> requests.Response:
    return LoginAttempt.prepare(url).post(identifier, password)


@dataclass
class Module:
    client_id: str
    secret: str


def get_code(url: str, browser: requests.Session, module: Module) -> tuple[str, str]:
    """(code, verifier) for a browser already signed in (its SSO session answers)."""
    verifier, challenge = pkce_pair()
    path = authorize_url(module.client_id, challenge, redirect_uri=CALLBACK,
                         scope="openid profile", state=secrets.token_urlsafe(8),
                         nonce=secrets.token_urlsafe(8))
    response = browser.get(url + path, allow_redirects=False, timeout=TIMEOUT)
    location = response.headers.get("Location", "")
    assert location.startswith(CALLBACK), (response.status_code, location, response.text[:300])
    return parse_qs(urlsplit(location).query)["code"][0], verifier


def sign_in(url: str, login: str, password: str) -> requests.Session:
    """A browser with an SSO session on the IdP."""
    attempt_ = LoginAttempt.prepare(url)
    response = attempt_.post(login, password)
    assert response.status_code == 303, response.text[:500]
    return attempt_.session


def redeem(url: str, module: Module, code: str, verifier: str) -> requests.Response:
    return requests.post(f"{url}/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }, auth=(module.client_id, module.secret), timeout=TIMEOUT)


def refresh(url: str, module: Module, refresh_token: str) -> requests.Response:
    return requests.post(f"{url}/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh_token,
    }, auth=(module.client_id, module.secret), timeout=TIMEOUT)
