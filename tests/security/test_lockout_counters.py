"""The failure counters themselves (idp.security.lockout): one row per account,
unknown identifier or device, reserved atomically, with the lock's end stored in
UTC whatever the zone of the time given; and the identifiers and keyed hashes
they are found by."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
from flask import current_app
from sqlalchemy import select

from idp.database import commit
from idp.extensions import db
from idp.models import LoginThrottle
from idp.security import lockout
from idp.security.authentication import AccountLocked
from idp.security.authentication import InvalidCredentials
from idp.security.authentication import authenticate
from idp.security.identifiers import normalise_login
from idp.security.keyed_hash import keyed_hash
from idp.security.keyed_hash import keyed_identifier
from tests.conftest import STRONG_PASSWORD
from tests.conftest import reload

WRONG = "Pas-Le-Bon-Mot-De-Passe-1"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PARIS_WINTER = timezone(timedelta(hours=1))


def outcome(identifier: str, password: str, now: datetime) -> str:
    try:
        authenticate(identifier, password, now)
    except InvalidCredentials as refusal:
        return f"invalid:{refusal.remaining}"
    except AccountLocked:
        return "locked"
    return "success"


def throttle(key_hash: str) -> LoginThrottle:
    db.session.expire_all()
    return db.session.execute(
        select(LoginThrottle).where(LoginThrottle.key_hash == key_hash)).scalar_one()


# --- the lock's end, whatever the zone of the time given --------------------------------


def test_the_lock_is_stored_in_utc_and_lifts_at_its_instant_in_any_zone(app, make_user):
    user = make_user()
    start = START.astimezone(PARIS_WINTER)
    assert [outcome("jdupont", WRONG, start) for _ in range(3)] == [
        "invalid:2", "invalid:1", "invalid:0"]
    assert reload(user).locked_until == START + timedelta(minutes=20)
    assert outcome("jdupont", STRONG_PASSWORD,
                   start + timedelta(minutes=20, seconds=-1)) == "locked"
    assert outcome("jdupont", STRONG_PASSWORD, start + timedelta(minutes=20)) == "success"


def test_after_the_lock_the_count_starts_again_from_one(app, make_user):
    user = make_user()
    for _ in range(3):
        outcome("jdupont", WRONG, START)
    assert outcome("jdupont", WRONG, START + timedelta(minutes=20)) == "invalid:2"
    user = reload(user)
    assert (user.failed_attempts, user.locked_until) == (1, None)


def test_an_unknown_identifiers_row_records_its_last_attempt(app):
    key = keyed_hash("login-throttle", "inconnu")
    outcome("inconnu", WRONG, START)
    assert (throttle(key).failed_attempts, throttle(key).updated_at) == (1, START)
    later = (START + timedelta(minutes=5)).astimezone(PARIS_WINTER)
    outcome("inconnu", WRONG, later)
    row = throttle(key)
    assert (row.failed_attempts, row.updated_at, row.locked_until) == (
        2, START + timedelta(minutes=5), None)
    outcome("inconnu", WRONG, later)
    assert throttle(key).locked_until == START + timedelta(minutes=25)


def test_raising_the_threshold_does_not_open_a_current_lock(app, make_user):
    user = make_user()
    for _ in range(3):
        outcome("jdupont", WRONG, START)
    app.config["IDP_LOCKOUT_THRESHOLD"] = 5
    assert outcome("jdupont", STRONG_PASSWORD, START + timedelta(minutes=1)) == "locked"
    assert reload(user).failed_attempts == 3


@pytest.mark.parametrize(("password", "expected"), [
    pytest.param(STRONG_PASSWORD, "success", id="right-password"),
    pytest.param(WRONG, "invalid:0", id="wrong-password-locks"),
])
def test_lowering_the_threshold_leaves_one_try_before_a_lock_that_ends(
        app, make_user, password, expected):
    """Four failures counted under a threshold of 5, then the threshold becomes 3: the
    account is not locked (no lock was set), the next attempt is the last try."""
    user = make_user()
    app.config["IDP_LOCKOUT_THRESHOLD"] = 5
    assert [outcome("jdupont", WRONG, START) for _ in range(4)][-1] == "invalid:1"
    app.config["IDP_LOCKOUT_THRESHOLD"] = 3
    later = START + timedelta(minutes=1)
    assert outcome("jdupont", password, later) == expected
    user = reload(user)
    if expected == "success":
        assert (user.failed_attempts, user.locked_until) == (0, None)
    else:
        assert (user.failed_attempts, user.locked_until) == (3, later + timedelta(minutes=20))
        assert outcome("jdupont", STRONG_PASSWORD, later + timedelta(minutes=20)) == "success"


def test_each_counter_counts_its_own_failures(app, make_user):
    jdupont = make_user()
    pmartin = make_user("pmartin")
    outcome("jdupont", WRONG, START)
    outcome("inconnu", WRONG, START)
    outcome("inconnu-2", WRONG, START)
    assert (reload(jdupont).failed_attempts, reload(pmartin).failed_attempts) == (1, 0)
    assert outcome("pmartin", WRONG, START) == "invalid:2"
    assert outcome("inconnu", WRONG, START) == "invalid:1"
    lockout.clear_attempts(None, keyed_hash("login-throttle", "inconnu"))
    lockout.clear_attempts(jdupont, "")
    commit()
    assert throttle(keyed_hash("login-throttle", "inconnu")).failed_attempts == 0
    assert throttle(keyed_hash("login-throttle", "inconnu-2")).failed_attempts == 1
    assert (reload(jdupont).failed_attempts, reload(pmartin).failed_attempts) == (0, 1)


# --- identifiers and keyed hashes -------------------------------------------------------


def by_hand(purpose: str, value: str) -> str:
    key = hashlib.sha256(f"{purpose}:{current_app.secret_key}".encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def test_keyed_hashes_are_hmac_sha256_under_a_key_per_purpose(app):
    assert keyed_hash("login-throttle", "jdupont") == by_hand("login-throttle", "jdupont")
    assert keyed_hash("device-throttle", "jdupont") != keyed_hash("login-throttle", "jdupont")
    assert keyed_identifier("inconnu") == "hmac:" + by_hand("unknown-identifier", "inconnu")[:32]


@pytest.mark.parametrize(("typed", "login"), [
    ("", ""),
    (None, ""),
    ("  JDupont\t", "jdupont"),
    ("\uff2a\uff24\uff35\uff30\uff2f\uff2e\uff34", "jdupont"),
    ("A" * 200, "a" * 128),
])
def test_an_identifier_is_normalised_and_cut_at_twice_the_longest_login(typed, login):
    assert normalise_login(typed) == login
