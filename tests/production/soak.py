"""The load of the soak (tests/production/test_soak.py): browsers and modules doing
their work against gunicorn over loopback, every request sent with a request id of
its own and every answer recorded.

A step is sent again while the IdP answers 5xx or its answer is lost (a killed
worker). What comes back after that tells whether committed work was answered
with an error: a code or a refresh token refused on its retry after a 5xx had
been spent by the request that answered 5xx (a finding); after a lost answer, the
lost request may have spent it, and the retry is then a replay, refused and
recorded with that reason.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import requests

from idp.security.authentication import MSG_INVALID
from idp.security.authentication import MSG_LOCKED
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.production.flows import CALLBACK
from tests.production.flows import Module
from tests.security.oauth import authorize_url
from tests.security.oauth import pkce_pair

WRONG = "Mauvais-Mot-De-Passe-00"
TIMEOUT = 30
RETRY_PAUSE = 0.1
GIVE_UP = 40  # seconds a step is sent again through a fault before it is a finding


@dataclass
class Answer:
    kind: str
    request_id: str
    sent_at: float
    answered_at: float
    status: int | str  # the HTTP status, or the name of the error when none came back


@dataclass
class Held:
    """A refresh token a module holds at the end, and what the module expects of it."""

    login: str
    refresh_token: str
    expected: str  # live, revoked, session_ended, code_replayed, reuse_detected


@dataclass
class LockRound:
    login: str
    failures: int = 0  # wrong passwords answered as such
    lost: int = 0  # wrong passwords whose answer was lost (counted or not)
    locked_seen: bool = False
    refused: list = field(default_factory=list)  # the tries answered 5xx


@dataclass
class Record:
    """Everything the clients saw, shared by their threads (list.append is atomic)."""

    answers: list[Answer] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    lock_rounds: list[LockRound] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    # (what, the first 5xx, the refusal's status): a code or refresh token refused on
    # its retry after a 5xx
    spent_by_5xx: list = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def send(self, kind: str, session, method: str, url: str, **kwargs):
        """One request; its response, or None when no answer came back."""
        return self.exchange(kind, session, method, url, **kwargs)[0]

    def exchange(self, kind: str, session, method: str, url: str, **kwargs):
        """One request: (its response or None, its ``Answer``)."""
        request_id = f"soak-{secrets.token_hex(8)}"
        # A new connection each time: a kept-alive one left idle past gunicorn's keepalive
        # (5 s, a fault's length) may be closed by gunicorn as the next request goes out.
        headers = {"X-Request-Id": request_id, "Connection": "close", **kwargs.pop("headers", {})}
        sent_at = time.monotonic()
        try:
            response = (session or requests).request(
                method, url, headers=headers, timeout=TIMEOUT, allow_redirects=False, **kwargs)
            status = response.status_code
        except requests.RequestException as error:
            response, status = None, type(error).__name__
        answer = Answer(kind, request_id, sent_at, time.monotonic(), status)
        self.answers.append(answer)
        return response, answer

    def until_served(self, kind: str, session, method: str, url: str, **kwargs):
        """Sent again while 5xx or lost: (the first other response or None, the
        ``Answer`` of each failed try before it)."""
        return self.until(lambda: self.exchange(kind, session, method, url, **kwargs), kind)

    def until(self, attempt, kind: str):
        before: list[Answer] = []
        deadline = time.monotonic() + GIVE_UP
        while True:
            response, answer = attempt()
            if response is not None and response.status_code < 500:
                return response, before
            if answer is not None:
                before.append(answer)
            if time.monotonic() > deadline:
                self.findings.append(f"{kind}: not served for {GIVE_UP} s")
                return None, before
            time.sleep(RETRY_PAUSE)


def lost(before: list[Answer]) -> list[Answer]:
    """The tries whose answer never came (a killed worker)."""
    return [answer for answer in before if isinstance(answer.status, str)]


class Client:
    """A person and a module: sign in, code with PKCE, redemption, userinfo, refreshes,
    then revocation, logout, a replayed code or nothing; now and then wrong passwords."""

    def __init__(self, url: str, module: Module, login: str, lock_logins: list[str],
                 record: Record):
        self.url, self.module, self.login = url, module, login
        self.lock_logins = lock_logins
        self.record = record

    def run(self, stop: threading.Event) -> None:
        number = 0
        while not stop.is_set():
            self.journey(number)
            if number % 3 == 2 and self.lock_logins:
                self.lock_round(self.lock_logins.pop())
            number += 1

    def journey(self, number: int) -> None:
        browser = self.sign_in(self.login, STRONG_PASSWORD)
        if browser is None:
            return
        try:
            code = self.code(browser)
            tokens = code and self.redeem(*code)
            if not tokens:
                return
            self.userinfo(tokens["access_token"])
            for _ in range(2):
                tokens = self.refresh(tokens["refresh_token"])
                if tokens is None:
                    return
            self.end(number % 4, browser, tokens["refresh_token"], code[0])
        finally:
            browser.close()

    def end(self, ending: int, browser, refresh_token: str, code: str) -> None:
        expected = ("live", "revoked", "session_ended", "code_replayed")[ending]
        if ending == 1:
            self.revoke(refresh_token)
        elif ending == 2:
            self.log_out(browser)
        elif ending == 3:
            self.replay(code)
        self.record.held.append(Held(self.login, refresh_token, expected))

    # --- the steps ------------------------------------------------------------------

    def login_page(self, browser) -> str | None:
        page, _ = self.record.until_served("login_page", browser, "GET", f"{self.url}/login")
        return csrf_token(page.text) if page is not None else None

    def post_login(self, kind: str, browser, login: str, password: str):
        """The login form, loaded again and posted again while 5xx or lost, as a person
        does (a 5xx page gives the browser a new session cookie: the old form is spent)."""

        def attempt():
            token = self.login_page(browser)
            if token is None:
                return None, None
            return self.record.exchange(kind, browser, "POST", f"{self.url}/login", data={
                "csrf_token": token, "identifier": login, "password": password, "next": ""})

        return self.record.until(attempt, kind)

    def sign_in(self, login: str, password: str):
        browser = requests.Session()
        posted, before = self.post_login("login", browser, login, password)
        if posted is not None and posted.status_code == 303:
            return browser
        if posted is not None and lost(before):
            # The lost post may have completed the login: its form is spent; start again.
            self.record.counts[f"login lost with a killed worker ({posted.status_code})"] += 1
        elif posted is not None:
            self.record.findings.append(f"login refused: {posted.status_code} "
                                        f"{html.unescape(posted.text)[:300]}")
        browser.close()
        return None

    def code(self, browser) -> tuple[str, str] | None:
        verifier, challenge = pkce_pair()
        path = authorize_url(self.module.client_id, challenge, redirect_uri=CALLBACK,
                             scope="openid profile", state=secrets.token_urlsafe(8),
                             nonce=secrets.token_urlsafe(8))
        response, before = self.record.until_served("authorize", browser, "GET",
                                                    self.url + path)
        location = response.headers.get("Location", "") if response is not None else ""
        code = parse_qs(urlsplit(location).query).get("code")
        if location.startswith(CALLBACK) and code:
            return code[0], verifier
        if response is not None and lost(before):
            # The lost request may have used the nonce: a module starts a new request.
            self.record.counts[f"authorization lost with a killed worker ({location})"] += 1
        elif response is not None:
            self.record.findings.append(f"authorize: {response.status_code} {location}")
        return None

    def token_request(self, kind: str, data: dict):
        return self.record.until_served(kind, None, "POST", f"{self.url}/token", data=data,
                                        auth=(self.module.client_id, self.module.secret))

    def redeem(self, code: str, verifier: str) -> dict | None:
        response, before = self.token_request("token", {
            "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "code_verifier": verifier})
        return self.spent(response, before, "redemption", code)

    def refresh(self, refresh_token: str) -> dict | None:
        response, before = self.token_request("refresh", {
            "grant_type": "refresh_token", "refresh_token": refresh_token})
        return self.spent(response, before, "refresh", refresh_token)

    def spent(self, response, before: list[Answer], what: str, value: str) -> dict | None:
        """The tokens, or None when refused on a retry: a try before had spent the code or
        token (replay or reuse detection revoked what it issued). After a lost answer
        that is expected; after a 5xx, ``test_soak.py`` tells whether that 5xx was in
        flight when PostgreSQL went away (its commit's acknowledgement lost) or a fault."""
        if response is None:
            return None
        if response.status_code == 200:
            self.record.counts[f"{what} answered"] += 1
            return response.json()
        if what == "refresh":
            self.record.held.append(Held(self.login, value, "reuse_detected"))
        if lost(before):
            self.record.counts[f"{what} lost with a killed worker"] += 1
        else:
            self.record.spent_by_5xx.append((what, before[0], response.status_code))
        return None

    def userinfo(self, access_token: str) -> None:
        response, _ = self.record.until_served(
            "userinfo", None, "GET", f"{self.url}/userinfo",
            headers={"Authorization": f"Bearer {access_token}"})
        if response is not None and response.status_code != 200:
            self.record.findings.append(f"userinfo: {response.status_code}")

    def revoke(self, refresh_token: str) -> None:
        response, _ = self.record.until_served(
            "revoke", None, "POST", f"{self.url}/revoke",
            data={"token": refresh_token, "token_type_hint": "refresh_token"},
            auth=(self.module.client_id, self.module.secret))
        if response is not None and response.status_code != 200:
            self.record.findings.append(f"revoke: {response.status_code}")

    def log_out(self, browser) -> None:
        page, _ = self.record.until_served("logout_page", browser, "GET", f"{self.url}/logout")
        if page is None:
            return
        done, _ = self.record.until_served("logout", browser, "POST", f"{self.url}/logout",
                                           data={"csrf_token": csrf_token(page.text)})
        if done is not None and done.status_code != 200:
            self.record.findings.append(f"logout: {done.status_code}")

    def replay(self, code: str) -> None:
        response, _ = self.token_request("replay", {
            "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "code_verifier": "x" * 43})
        if response is None:
            return
        if response.status_code == 400 and response.json().get("error") == "invalid_grant":
            self.record.counts["replays refused"] += 1
        else:
            self.record.findings.append(f"code replay answered {response.status_code}")

    def lock_round(self, login: str) -> None:
        """Wrong passwords, each from a fresh browser, until the lock shows."""
        done = LockRound(login)
        for _ in range(6):
            browser = requests.Session()
            response, before = self.post_login("wrong_password", browser, login, WRONG)
            browser.close()
            done.lost += len(lost(before))
            done.refused += [answer for answer in before if answer not in lost(before)]
            text = html.unescape(response.text) if response is not None else ""
            if MSG_LOCKED in text:
                done.locked_seen = True
                break
            if response is not None and response.status_code == 200 and MSG_INVALID in text:
                done.failures += 1
            elif response is not None:
                self.record.findings.append(f"wrong password: {response.status_code}")
        self.record.lock_rounds.append(done)


class Probe(Client):
    """Right after a fault ends: how long until each kind of request succeeds again."""

    KINDS = ("login", "authorize", "refresh", "userinfo")

    def prepare(self) -> Probe:
        self.browser = self.sign_in(self.login, STRONG_PASSWORD)
        self.tokens = self.redeem(*self.code(self.browser))
        return self

    def succeeds(self, kind: str) -> bool:
        send = self.record.send
        if kind == "login":
            browser = requests.Session()
            page = send("probe_login_page", browser, "GET", f"{self.url}/login")
            posted = page is not None and page.status_code == 200 and send(
                "probe_login", browser, "POST", f"{self.url}/login", data={
                    "csrf_token": csrf_token(page.text), "identifier": self.login,
                    "password": STRONG_PASSWORD, "next": ""})
            browser.close()
            return bool(posted) and posted.status_code == 303
        if kind == "authorize":
            path = authorize_url(self.module.client_id, pkce_pair()[1], redirect_uri=CALLBACK,
                                 nonce=secrets.token_urlsafe(8))
            response = send("probe_authorize", self.browser, "GET", self.url + path)
            return response is not None and \
                response.headers.get("Location", "").startswith(CALLBACK)
        if kind == "refresh":
            response = send("probe_refresh", None, "POST", f"{self.url}/token", data={
                "grant_type": "refresh_token", "refresh_token": self.tokens["refresh_token"],
            }, auth=(self.module.client_id, self.module.secret))
            if response is not None and response.status_code == 200:
                self.tokens = response.json()
            return response is not None and response.status_code == 200
        response = send("probe_userinfo", None, "GET", f"{self.url}/userinfo",
                        headers={"Authorization": f"Bearer {self.tokens['access_token']}"})
        return response is not None and response.status_code == 200

    def recovery(self, since: float, deadline: float = 15) -> dict[str, tuple | None]:
        """For each kind, seconds from ``since`` to the sending and to the answer of its
        first success (None: none came)."""
        found: dict[str, tuple | None] = {}

        def probe(kind: str) -> None:
            found[kind] = None
            while time.monotonic() - since < deadline:
                sent_at = time.monotonic()
                if self.succeeds(kind):
                    found[kind] = (sent_at - since, time.monotonic() - since)
                    return
                time.sleep(0.02)

        threads = [threading.Thread(target=probe, args=(kind,)) for kind in self.KINDS]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return found
