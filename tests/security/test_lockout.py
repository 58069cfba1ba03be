"""The 3-try lockout (SPEC 1.4), counted atomically in the database (SPEC 5)."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from idp.extensions import db
from idp.models import LoginThrottle
from idp.models import User
from idp.security.keyed_hash import keyed_hash
from idp.security.keyed_hash import keyed_identifier
from tests.conftest import STRONG_PASSWORD
from tests.conftest import Browser
from tests.conftest import login
from tests.conftest import page_text
from tests.conftest import reload
from tests.security.concurrency import run_concurrently

MSG_INVALID = "Le couple identifiant/ mot de passe est incorrecte"
MSG_LOCKED = (
    "Le compte a été verrouillé suite à un trop grand nombre d'échecs de connexion "
    "avec cet identifiant utilisateur"
)
WRONG = "Pas-Le-Bon-Mot-De-Passe-1"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def app_environ(app_environ):
    """The rate limits stay out of the way: this file tests the lockout alone."""
    app_environ.update(
        IDP_RATELIMIT_LOGIN="1000/minute", IDP_RATELIMIT_LOGIN_IDENTIFIER="1000/minute"
    )
    return app_environ


def attempt(client, identifier: str, password: str, **kwargs) -> str:
    """Post the login form; what the page says ("success" when the login went through)."""
    response = login(client, identifier, password, **kwargs)
    if response.status_code == 303:
        return "success"
    assert response.status_code == 200
    text = page_text(response)
    if MSG_LOCKED in text:
        return "locked"
    assert MSG_INVALID in text
    return "invalid"


def throttle_rows() -> list[LoginThrottle]:
    db.session.expire_all()
    return list(db.session.execute(select(LoginThrottle)).scalars())


def credential_checks(audit_rows, login_name: str) -> int:
    """Password checks made: failures on credentials plus successes."""
    failures = [row for row in audit_rows("login.failure")
                if row.login == login_name and row.details.get("reason") == "credentials"]
    successes = [row for row in audit_rows("login.success") if row.login == login_name]
    return len(failures) + len(successes)


# --- the rules, through the login page --------------------------------------------


def test_third_failure_locks_for_twenty_minutes(client, make_user, audit_rows):
    user = make_user()
    with time_machine.travel(START, tick=False):
        assert [attempt(client, "jdupont", WRONG) for _ in range(3)] == ["invalid"] * 3
    user = reload(user)
    assert user.failed_attempts == 3
    assert user.locked_until == START + timedelta(minutes=20)
    assert [row.login for row in audit_rows("account.locked")] == ["jdupont"]


def test_the_lock_notice_does_not_hold_the_third_failure(client, make_user, held_smtp):
    """The lock mail leaves in the background: the third failure of a real account
    answers as an unknown identifier's does, without waiting for SMTP."""
    make_user()
    assert [attempt(client, "jdupont", WRONG) for _ in range(3)] == ["invalid"] * 3
    assert held_smtp.mailbox.received == []
    held_smtp.gate.set()
    assert len(held_smtp.mailbox.to("jdupont@example.test")) == 1


def test_right_password_during_the_lock_gets_the_lock_message(client, make_user, audit_rows):
    make_user()
    for _ in range(3):
        attempt(client, "jdupont", WRONG)
    response = login(client, "jdupont", STRONG_PASSWORD)
    assert response.status_code == 200
    assert MSG_LOCKED in page_text(response)
    assert client.get("/").status_code == 303  # no session
    assert audit_rows("login.failure")[-1].details == {"reason": "locked"}
    assert audit_rows("login.success") == []


def test_lock_lifts_after_twenty_minutes_and_the_counter_starts_again(client, make_user):
    user = make_user()
    with time_machine.travel(START, tick=False):
        for _ in range(3):
            attempt(client, "jdupont", WRONG)
    with time_machine.travel(START + timedelta(minutes=19, seconds=59), tick=False):
        assert attempt(client, "jdupont", STRONG_PASSWORD) == "locked"
    with time_machine.travel(START + timedelta(minutes=20, seconds=1), tick=False):
        assert attempt(client, "jdupont", WRONG) == "invalid"
        assert reload(user).failed_attempts == 1
        assert attempt(client, "jdupont", STRONG_PASSWORD) == "success"
    user = reload(user)
    assert user.failed_attempts == 0
    assert user.locked_until is None


def test_a_success_resets_the_counter(app, client, make_user):
    user = make_user()
    assert [attempt(client, "jdupont", WRONG) for _ in range(2)] == ["invalid"] * 2
    assert attempt(client, "jdupont", STRONG_PASSWORD) == "success"
    # Another browser (this one is now a known device, counted apart): the account's count.
    other = app.test_client()
    assert [attempt(other, "jdupont", WRONG) for _ in range(2)] == ["invalid"] * 2
    user = reload(user)
    assert user.failed_attempts == 2
    assert user.locked_until is None
    assert attempt(other, "jdupont", STRONG_PASSWORD) == "success"


def test_unknown_identifiers_lock_the_same_way(client, make_user, audit_rows):
    make_user()
    outcomes = [attempt(client, "inconnu", WRONG) for _ in range(4)]
    assert outcomes == ["invalid", "invalid", "invalid", "locked"]
    [row] = throttle_rows()
    assert row.failed_attempts == 3
    assert row.locked_until is not None
    # A hash keyed with the app's secret, not the text typed nor its plain digest.
    assert row.key_hash == keyed_hash("login-throttle", "inconnu")
    assert row.key_hash != hashlib.sha256(b"inconnu").hexdigest()
    assert db.session.execute(select(User.login)).scalars().all() == ["jdupont"]
    assert [row.login for row in audit_rows("account.locked")] == [keyed_identifier("inconnu")]
    assert all("inconnu" not in (row.login or "") for row in audit_rows())


def _comparable(response, identifier: str) -> str:
    """The page without what legitimately differs: CSRF token and the identifier typed."""
    text = response.get_data(as_text=True)
    text = re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "CSRF", text)
    return text.replace(identifier, "IDENTIFIER")


def test_unknown_identifier_and_wrong_password_give_the_same_page(client, make_user):
    make_user()
    pages = {}
    for identifier in ("jdupont", "inconnu-42"):
        responses = [login(client, identifier, WRONG) for _ in range(4)]
        pages[identifier] = [(r.status_code, _comparable(r, identifier)) for r in responses]
    assert pages["jdupont"] == pages["inconnu-42"]
    assert MSG_INVALID in html.unescape(pages["jdupont"][0][1])
    assert MSG_LOCKED in html.unescape(pages["jdupont"][3][1])


def test_identifier_variants_and_addresses_feed_one_counter(client, make_user):
    user = make_user()
    variants = ["JDupont", "  jdupont ", "\uff2a\uff24\uff35\uff30\uff2f\uff2e\uff34"]  # fullwidth
    for n, variant in enumerate(variants):
        outcome = attempt(client, variant, WRONG, environ_base={"REMOTE_ADDR": f"10.0.0.{n}"},
                          headers={"X-Forwarded-For": f"192.0.2.{n}"})
        assert outcome == "invalid"
    assert reload(user).failed_attempts == 3
    assert attempt(client, "JDUPONT", STRONG_PASSWORD) == "locked"
    assert throttle_rows() == []


# --- concurrent attempts against a real threaded server (SPEC 5, LOGIN-04/05) ------------


class LoginPage:
    """The login page open in one person's browser, posted when the test says."""

    def __init__(self, live_server):
        self.browser = Browser(live_server.url)
        self.page = self.browser.open("/login")

    def login(self, identifier: str, password: str) -> str:
        response = self.browser.post_login(self.page, identifier, password)
        self.browser.http.close()
        if response.status_code == 303:
            return "success"
        text = page_text(response)
        return "locked" if MSG_LOCKED in text else "invalid" if MSG_INVALID in text else text


def login_pages(live_server, count: int) -> list[LoginPage]:
    return [LoginPage(live_server) for _ in range(count)]


def test_twenty_concurrent_wrong_passwords_never_check_more_than_three(
    live_server, make_user, audit_rows, mailbox
):
    user = make_user()
    racers = login_pages(live_server, 20)
    outcomes = run_concurrently(20, lambda i: racers[i].login("jdupont", WRONG))
    assert sorted(set(outcomes)) == ["invalid", "locked"]
    assert outcomes.count("invalid") == 3
    user = reload(user)
    assert user.failed_attempts <= 3
    assert user.locked_until is not None
    assert credential_checks(audit_rows, "jdupont") == 3
    assert len(audit_rows("account.locked")) == 1
    assert len(mailbox.to("jdupont@example.test")) == 1
    [late] = login_pages(live_server, 1)
    assert late.login("jdupont", STRONG_PASSWORD) == "locked"


def test_one_right_password_among_twenty_concurrent_attempts_is_checked_at_most_once(
    live_server, make_user, audit_rows
):
    make_user()
    for early in login_pages(live_server, 2):
        assert early.login("jdupont", WRONG) == "invalid"
    racers = login_pages(live_server, 20)
    outcomes = run_concurrently(
        20, lambda i: racers[i].login("jdupont", STRONG_PASSWORD if i == 7 else WRONG)
    )
    assert outcomes.count("success") <= 1
    assert set(outcomes) <= {"success", "invalid", "locked"}
    checks = [row for row in audit_rows()
              if row.login == "jdupont" and (row.event == "login.success" or (
                  row.event == "login.failure" and row.details.get("reason") == "credentials"))]
    events = [row.event for row in checks]
    if "login.success" not in events:
        # Two sequential failures left one slot before the lock: one check, a wrong one.
        assert events == ["login.failure"] * 3
        return
    # The right password won the last slot; racers held back until then were refused.
    # Its success restarts the count (SPEC 1.4), so late racers get at most 3 new checks.
    first_success = events.index("login.success")
    assert events[:first_success + 1] == ["login.failure", "login.failure", "login.success"]
    assert events[first_success + 1:] == ["login.failure"] * len(events[first_success + 1:])
    assert len(events) - first_success - 1 <= 3
