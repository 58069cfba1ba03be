"""Known devices keep their owner in during a flood (OWASP « Slow Down Online Guessing
Attacks with Device Cookies »): the per-identifier limit counts failures only, and a
browser that logged in before is neither locked out nor limited by failures made
elsewhere; failures made on it lock its own device cookie."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import requests
import time_machine
from itsdangerous import URLSafeTimedSerializer

from idp import create_app
from idp.auth import device
from idp.extensions import db
from idp.security import devices
from tests.conftest import STRONG_PASSWORD
from tests.conftest import TEST_OVERRIDES
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import page_text
from tests.conftest import post_form
from tests.conftest import reload
from tests.security.concurrency import run_concurrently

MSG_INVALID = "Le couple identifiant/ mot de passe est incorrecte"
MSG_LOCKED = (
    "Le compte a été verrouillé suite à un trop grand nombre d'échecs de connexion "
    "avec cet identifiant utilisateur"
)
WRONG = "Pas-Le-Bon-Mot-De-Passe-1"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ATTACKER = {"REMOTE_ADDR": "203.0.113.66"}
COOKIE = "idp_device"


@pytest.fixture
def app_environ(app_environ):
    """The agency's per-identifier limit, low enough for a flood to reach it."""
    app_environ["IDP_RATELIMIT_LOGIN_IDENTIFIER"] = "5/minute"
    return app_environ


def outcome(response) -> str:
    if response.status_code == 303:
        return "success"
    if response.status_code == 429:
        return "limited"
    text = page_text(response)
    return "locked" if MSG_LOCKED in text else "invalid" if MSG_INVALID in text else "form"


def attempt(client, identifier: str, password: str, **kwargs) -> str:
    return outcome(login(client, identifier, password, **kwargs))


def log_out(client) -> None:
    assert post_form(client, "/logout", {}).status_code == 200


@pytest.fixture
def owner(app, make_user):
    """The owner's browser, which logged in once before (and logged out)."""
    browser = app.test_client()
    browser.user = make_user()
    with time_machine.travel(START - timedelta(days=30), tick=False):
        assert attempt(browser, "jdupont", STRONG_PASSWORD) == "success"
        log_out(browser)
    return browser


def flood(app, identifier: str, count: int) -> list[str]:
    """Empty and wrong passwords from another browser and another address."""
    attacker = app.test_client()
    return [attempt(attacker, identifier, "" if n % 2 else WRONG, environ_base=ATTACKER)
            for n in range(count)]


def test_login_14_owner_with_device_cookie_gets_in_during_a_flood(app, owner, audit_rows):
    with time_machine.travel(START, tick=False):
        outcomes = flood(app, "jdupont", 30)
        assert outcomes[:2] == ["invalid", "form"]
        assert "locked" in outcomes
        assert outcomes[-1] == "limited"
        # A new browser of the owner, right password: the account lock applies to it.
        assert attempt(app.test_client(), "jdupont", STRONG_PASSWORD) in ("locked", "limited")
        # The owner's known browser is neither locked out nor limited.
        assert attempt(owner, "jdupont", STRONG_PASSWORD) == "success"
    assert audit_rows("login.success")[-1].login == "jdupont"


def test_login_14_failures_on_the_owners_device_still_lock_it(app, owner):
    with time_machine.travel(START, tick=False):
        flood(app, "jdupont", 10)
        assert [attempt(owner, "jdupont", WRONG) for _ in range(3)] == ["invalid"] * 3
        assert attempt(owner, "jdupont", STRONG_PASSWORD) == "locked"
    with time_machine.travel(START + timedelta(minutes=19, seconds=59), tick=False):
        assert attempt(owner, "jdupont", STRONG_PASSWORD) == "locked"
    with time_machine.travel(START + timedelta(minutes=20, seconds=1), tick=False):
        assert attempt(owner, "jdupont", STRONG_PASSWORD) == "success"


def test_login_14_the_device_lock_keeps_the_owners_account_counter_apart(app, owner):
    with time_machine.travel(START, tick=False):
        assert [attempt(owner, "jdupont", WRONG) for _ in range(3)] == ["invalid"] * 3
        assert attempt(owner, "jdupont", STRONG_PASSWORD) == "locked"
        # Another browser is not held by the device's lock: the account itself is not locked.
        assert attempt(app.test_client(), "jdupont", STRONG_PASSWORD) == "success"
    assert reload(owner.user).failed_attempts == 0


def test_login_14_the_per_identifier_limit_counts_failures_only(app, make_user):
    make_user()
    browser = app.test_client()
    with time_machine.travel(START, tick=False):
        for _ in range(8):
            assert attempt(browser, "jdupont", STRONG_PASSWORD) == "success"
            log_out(browser)
        stranger = app.test_client()
        # Empty passwords check nothing and cost nothing: they count neither.
        assert [attempt(stranger, "jdupont", "") for _ in range(8)] == ["form"] * 8
        assert attempt(stranger, "jdupont", STRONG_PASSWORD) == "success"


def test_login_14_a_device_cookie_names_one_login(app, owner, make_user):
    make_user("pmartin")
    with time_machine.travel(START, tick=False):
        flood(app, "pmartin", 10)
        # The owner's cookie names jdupont: it does not vouch for pmartin.
        assert attempt(owner, "pmartin", STRONG_PASSWORD) in ("locked", "limited")


def test_login_14_a_forged_or_foreign_device_cookie_is_ignored(app, owner):
    forger = app.test_client()
    forged = URLSafeTimedSerializer("not-the-key", salt="device-cookie").dumps(
        {"login": "jdupont", "nonce": "x" * 22})
    forger.set_cookie(COOKIE, forged)
    with time_machine.travel(START, tick=False):
        flood(app, "jdupont", 10)
        assert attempt(forger, "jdupont", STRONG_PASSWORD) in ("locked", "limited")


def test_login_14_the_device_cookie_attributes(app, make_user):
    make_user()
    browser = app.test_client()
    response = login(browser, "jdupont", STRONG_PASSWORD)
    [set_cookie] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE)]
    attributes = [part.strip().lower() for part in set_cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    max_age = next(int(a.split("=")[1]) for a in attributes if a.startswith("max-age="))
    assert max_age >= 180 * 24 * 3600
    value = browser.get_cookie(COOKIE).value
    assert STRONG_PASSWORD not in value
    # Each login gives a new nonce.
    log_out(browser)
    login(browser, "jdupont", STRONG_PASSWORD)
    assert browser.get_cookie(COOKIE).value != value
    with app.test_request_context():
        assert devices.nonce_for(browser.get_cookie(COOKIE).value, "jdupont") is not None
        assert devices.nonce_for(browser.get_cookie(COOKIE).value, "pmartin") is None


def test_login_14_secure_device_cookie_off_loopback(app_environ, smtp_server):
    app_environ["IDP_ISSUER"] = "https://idp.example.test"
    app = create_app(dict(TEST_OVERRIDES), environ=app_environ)
    with app.test_request_context():
        assert device.cookie_name() == "__Host-idp_device"
        assert device.cookie_options()["secure"] is True


# --- concurrent failures on one device (same atomic reservation as the account) ---------


def test_login_14_concurrent_failures_on_a_device_check_at_most_three(
    live_server, owner, audit_rows
):
    value = owner.get_cookie(COOKIE).value

    def browser() -> requests.Session:
        http = requests.Session()
        http.cookies.set(COOKIE, value)
        token = csrf_token(http.get(f"{live_server.url}/login", timeout=30).text)
        return http, token

    live_server.app.config["IDP_RATELIMIT_LOGIN_IDENTIFIER"] = "1000/minute"
    db.session.commit()
    racers = [browser() for _ in range(12)]

    def post(i: int) -> str:
        http, token = racers[i]
        response = http.post(f"{live_server.url}/login", allow_redirects=False, timeout=60,
                             data={"csrf_token": token, "identifier": "jdupont",
                                   "password": WRONG})
        return outcome(response)

    outcomes = run_concurrently(12, post)
    assert sorted(outcomes) == ["invalid"] * 3 + ["locked"] * 9
    checks = [row for row in audit_rows("login.failure")
              if row.details.get("reason") == "credentials"]
    assert len(checks) == 3
