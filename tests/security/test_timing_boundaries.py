"""Every time rule at its exact boundary, one second each side, with the injected clock.

SESS-06 (SSO idle 30 min, absolute 12 h), LOGIN-03 (lock 20 min), FIRST-02
(provisional password 72 h), TOK-08 (authorization code 60 s), PWD-07
(password expiry 90 days). The comparisons read in the code: a session lives
while ``last_seen_at + idle > now`` and ``expires_at > now``; a lock lifts when
``locked_until <= now``; a provisional password and a code are valid while
their ``expires_at > now``; a password has expired when ``changed + 90 d <= now``.
So the instant of the limit itself is already on the far side.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine

from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.conftest import page_text
from tests.security.oauth import authorize
from tests.security.oauth import redeem
from tests.security.oauth import register_module

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MSG_LOCKED = "Le compte a été verrouillé"
MSG_PROVISIONAL_EXPIRED = "Votre mot de passe provisoire a expiré."
PROVISIONAL = "Hibou-Sapin-Nuage-61"
WRONG = "Pas-Le-Bon-Mot-De-Passe-1"
SECOND = timedelta(seconds=1)


@pytest.fixture
def app_environ(app_environ):
    """Rate limits out of the way: the clock jumps, the limits are not under test here."""
    app_environ.update(
        IDP_RATELIMIT_LOGIN="1000/minute", IDP_RATELIMIT_LOGIN_IDENTIFIER="1000/minute"
    )
    return app_environ


def signed_in(response) -> bool:
    """GET / answers the home page to a live session, a redirect to /login otherwise."""
    if response.status_code == 200:
        return True
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login")
    return False


@pytest.fixture
def module(app):
    return register_module()


# --- SESS-06: idle 30 minutes ------------------------------------------------------------


@pytest.mark.parametrize(("idle", "alive"), [
    (timedelta(minutes=30) - SECOND, True),
    (timedelta(minutes=30), False),
    (timedelta(minutes=30) + SECOND, False),
], ids=["29m59s", "30m00s", "30m01s"])
def test_sess_06_idle_timeout_at_thirty_minutes(app, make_user, module, idle, alive):
    client = app.test_client()
    with time_machine.travel(START, tick=False):
        make_user()
        assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    with time_machine.travel(START + idle, tick=False):
        assert signed_in(client.get("/")) is alive
        query, _ = authorize(client, module.client_id, prompt="none")
    if alive:
        assert "code" in query
    else:
        assert query["error"] == "login_required"
        assert "code" not in query


def test_sess_06_activity_restarts_the_idle_timer(app, make_user):
    client = app.test_client()
    with time_machine.travel(START, tick=False):
        make_user()
        login(client, "jdupont", STRONG_PASSWORD)
    with time_machine.travel(START + timedelta(minutes=20), tick=False):
        assert signed_in(client.get("/"))
    with time_machine.travel(START + timedelta(minutes=50) - SECOND, tick=False):
        assert signed_in(client.get("/"))
    with time_machine.travel(START + timedelta(minutes=80) - SECOND, tick=False):
        assert not signed_in(client.get("/"))


# --- SESS-06: absolute 12 hours ---------------------------------------------------------


@pytest.mark.parametrize(("age", "alive"), [
    (timedelta(hours=12) - SECOND, True),
    (timedelta(hours=12), False),
], ids=["11h59m59s", "12h00m00s"])
def test_sess_06_absolute_timeout_at_twelve_hours_despite_activity(app, make_user, age, alive):
    client = app.test_client()
    with time_machine.travel(START, tick=False):
        make_user()
        assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    step = timedelta(minutes=20)
    moment = START + step
    while moment < START + age:  # a request every 20 minutes: never idle
        with time_machine.travel(moment, tick=False):
            assert signed_in(client.get("/")), moment
        moment += step
    with time_machine.travel(START + age, tick=False):
        assert signed_in(client.get("/")) is alive


# --- LOGIN-03: lock 20 minutes ----------------------------------------------------------


@pytest.mark.parametrize(("wait", "unlocked"), [
    (timedelta(minutes=20) - SECOND, False),
    (timedelta(minutes=20), True),
], ids=["19m59s", "20m00s"])
def test_login_03_lock_lifts_at_twenty_minutes(app, make_user, wait, unlocked):
    with time_machine.travel(START, tick=False):
        make_user()
        for _ in range(3):
            login(app.test_client(), "jdupont", WRONG)
    with time_machine.travel(START + wait, tick=False):
        response = login(app.test_client(), "jdupont", STRONG_PASSWORD)
    if unlocked:
        assert response.status_code == 303
    else:
        assert response.status_code == 200
        assert MSG_LOCKED in page_text(response)


# --- FIRST-02: provisional password 72 hours --------------------------------------------


@pytest.mark.parametrize(("wait", "valid"), [
    (timedelta(hours=72) - SECOND, True),
    (timedelta(hours=72), False),
], ids=["71h59m59s", "72h00m00s"])
def test_first_02_provisional_password_expires_at_seventy_two_hours(app, make_user, wait, valid):
    with time_machine.travel(START, tick=False):
        make_user("mleroy", provisional=PROVISIONAL)
    with time_machine.travel(START + wait, tick=False):
        response = login(app.test_client(), "mleroy", PROVISIONAL)
    if valid:
        assert response.status_code == 303
        assert response.headers["Location"] == "/password-change"
    else:
        assert response.status_code == 200
        assert MSG_PROVISIONAL_EXPIRED in page_text(response)


# --- TOK-08: authorization code 60 seconds ----------------------------------------------


@pytest.mark.parametrize(("wait", "valid"), [
    (timedelta(seconds=60) - SECOND, True),
    (timedelta(seconds=60), False),
], ids=["59s", "60s"])
def test_tok_08_code_expires_at_sixty_seconds(app, make_user, module, wait, valid):
    client = app.test_client()
    with time_machine.travel(START, tick=False):
        make_user()
        login(client, "jdupont", STRONG_PASSWORD)
        query, verifier = authorize(client, module.client_id)
    with time_machine.travel(START + wait, tick=False):
        response = redeem(app.test_client(), module, query["code"], verifier)
    if valid:
        assert response.status_code == 200
        assert response.json["access_token"]
    else:
        assert response.status_code == 400
        assert response.json["error"] == "invalid_grant"


# --- PWD-07: password expiry 90 days ----------------------------------------------------


@pytest.mark.parametrize(("age", "expired"), [
    (timedelta(days=90) - SECOND, False),
    (timedelta(days=90), True),
    (timedelta(days=91), True),
], ids=["89d23h59m59s", "90d", "91d"])
def test_pwd_07_password_expires_at_ninety_days(app, make_user, age, expired):
    make_user(password_changed_at=START)
    with time_machine.travel(START + age, tick=False):
        response = login(app.test_client(), "jdupont", STRONG_PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == ("/password-change" if expired else "/")
