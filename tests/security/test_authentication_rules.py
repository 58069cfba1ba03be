"""``authenticate()`` called directly, with the injected time: what it returns or
raises, the counters it leaves, and every field of its audit rows and lock mails
(SPEC 1.2, 1.4; idp.security.authentication)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine
from flask import current_app
from sqlalchemy import select

from idp.database import commit
from idp.extensions import db
from idp.models import LoginThrottle
from idp.models import UserSession
from idp.security import passwords
from idp.security.authentication import AccountLocked
from idp.security.authentication import InvalidCredentials
from idp.security.authentication import ProvisionalExpired
from idp.security.authentication import authenticate
from idp.security.authentication import tries_left_notice
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.conftest import reload

WRONG = "Pas-Le-Bon-Mot-De-Passe-1"
PROVISIONAL = "Hibou-Sapin-Nuage-61"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NONCE = "n0nce-of-a-known-device"
MSG_LOCKED = (
    "Le compte a été verrouillé suite à un trop grand nombre d'échecs de connexion "
    "avec cet identifiant utilisateur"
)
MSG_NOW_LOCKED = (
    "Votre compte est maintenant verrouillé pendant 20 minutes. Vous pourrez réessayer "
    "ensuite, utiliser le lien « J'ai oublié mon mot de passe » ou appeler l'Assistance au "
    "0 800 74 74 00."
)


def keyed(purpose: str, value: str) -> str:
    """HMAC-SHA-256 under a key derived from the app's secret and the purpose, by hand."""
    key = hashlib.sha256(f"{purpose}:{current_app.secret_key}".encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def fields(row) -> tuple:
    return row.event, row.outcome, row.login, row.user_id, row.details


def refused(identifier: str, password: str, now: datetime, **kwargs):
    """The exception an attempt raises (it must raise one)."""
    with pytest.raises((InvalidCredentials, AccountLocked, ProvisionalExpired)) as caught:
        authenticate(identifier, password, now, **kwargs)
    return caught.value


def give_provisional(user, now: datetime, hours: int = 72) -> None:
    """What a reset does to the account: a provisional password beside the chosen one."""
    user.provisional_hash = passwords.hash_password(PROVISIONAL)
    user.provisional_expires_at = now + timedelta(hours=hours)
    commit()


def lock(identifier: str, now: datetime, **kwargs) -> None:
    for _ in range(3):
        assert isinstance(refused(identifier, WRONG, now, **kwargs), InvalidCredentials)


# --- the right password ------------------------------------------------------------


def test_right_password_restarts_the_count_and_keeps_the_hash(app, make_user):
    user = make_user()
    stored = user.password_hash
    now = datetime.now(UTC)
    assert refused("jdupont", WRONG, now).remaining == 2
    result = authenticate(" JDupont ", STRONG_PASSWORD, now)
    assert (result.user.id, result.password_change_reason, result.is_first_connection) == (
        user.id, None, False)
    user = reload(user)
    assert (user.failed_attempts, user.locked_until) == (0, None)
    # The hash is current: it is neither rewritten nor touched.
    assert user.password_hash == stored


def test_an_expired_password_must_be_changed(app, make_user):
    user = make_user(changed_days_ago=91)
    result = authenticate("jdupont", STRONG_PASSWORD, datetime.now(UTC))
    assert (result.user.id, result.password_change_reason, result.is_first_connection) == (
        user.id, "expired", False)


def test_the_password_age_counts_from_the_time_given(app, make_user):
    user = make_user(password_changed_at=START)
    before = authenticate("jdupont", STRONG_PASSWORD, START + timedelta(days=90, seconds=-1))
    at_limit = authenticate("jdupont", STRONG_PASSWORD, START + timedelta(days=90))
    assert (before.password_change_reason, at_limit.password_change_reason) == (None, "expired")
    assert reload(user).failed_attempts == 0


# --- wrong passwords, the lock, its audit rows and its mail -------------------------


def test_three_wrong_passwords_lock_the_account_with_audit_and_mail(
    app, make_user, audit_rows, mailbox
):
    user = make_user()
    now = datetime.now(UTC)
    failures = [refused("jdupont", WRONG, now) for _ in range(3)]
    assert [type(f) for f in failures] == [InvalidCredentials] * 3
    assert [(f.remaining, f.detail) for f in failures] == [
        (2, "Il vous reste 2 essais."), (1, "Il vous reste 1 essai."), (0, MSG_NOW_LOCKED)]
    user = reload(user)
    assert (user.failed_attempts, user.locked_until) == (3, now + timedelta(minutes=20))
    credentials = ("login.failure", "failure", "jdupont", user.id, {"reason": "credentials"})
    assert [fields(row) for row in audit_rows() if row.event != "account.created"] == [
        credentials, credentials, credentials,
        ("account.locked", "info", "jdupont", user.id, {}),
    ]
    [notice] = mailbox.messages
    assert notice["To"] == "jdupont@example.test"
    assert notice["Subject"] == "BonusEco — votre compte est temporairement verrouillé"
    body = mailbox.body(notice)
    assert body.startswith("Bonjour Jean Dupont,\n")
    assert "votre compte BonusEco (jdupont) est\nverrouillé pour 20 minutes." in body


def test_the_lock_mail_and_the_lock_follow_the_configured_duration(app, make_user, mailbox):
    app.config["IDP_LOCKOUT_MINUTES"] = 45
    user = make_user()
    now = datetime.now(UTC)
    lock("jdupont", now)
    assert reload(user).locked_until == now + timedelta(minutes=45)
    [notice] = mailbox.to("jdupont@example.test")
    assert "verrouillé pour 45 minutes." in mailbox.body(notice)


def test_during_the_lock_even_the_right_password_is_refused_and_audited(
    app, make_user, audit_rows
):
    user = make_user()
    lock("jdupont", START)
    for password in (STRONG_PASSWORD, WRONG):
        refusal = refused("jdupont", password, START + timedelta(minutes=19, seconds=59))
        assert type(refusal) is AccountLocked
        assert refusal.message == MSG_LOCKED
        # Under the agency's message: how long the lock lasts and what to do meanwhile.
        assert refusal.detail.startswith("Le verrouillage dure 20 minutes.")
        assert "J'ai oublié mon mot de passe" in refusal.detail
        assert "0 800 74 74 00" in refusal.detail
        assert fields(audit_rows()[-1]) == (
            "login.failure", "failure", "jdupont", user.id, {"reason": "locked"})
    user = reload(user)
    assert (user.failed_attempts, user.locked_until) == (3, START + timedelta(minutes=20))


def test_an_unknown_identifier_locks_alike_under_a_keyed_hash(app, make_user, audit_rows,
                                                             mailbox):
    make_user()
    lock("inconnu", START)
    refusal = refused("Inconnu", STRONG_PASSWORD, START + timedelta(minutes=1))
    assert type(refusal) is AccountLocked
    recorded = "hmac:" + keyed("unknown-identifier", "inconnu")[:32]
    credentials = ("login.failure", "failure", recorded, None, {"reason": "credentials"})
    assert [fields(row) for row in audit_rows() if row.event != "account.created"] == [
        credentials, credentials, credentials,
        ("account.locked", "info", recorded, None, {}),
        ("login.failure", "failure", recorded, None, {"reason": "locked"}),
    ]
    [row] = db.session.execute(select(LoginThrottle)).scalars()
    assert (row.key_hash, row.failed_attempts) == (keyed("login-throttle", "inconnu"), 3)
    assert row.locked_until == START + timedelta(minutes=20)
    assert mailbox.messages == []


def test_a_deactivated_account_is_refused_like_a_wrong_password(app, make_user, audit_rows):
    user = make_user(is_active=False)
    refusal = refused("jdupont", STRONG_PASSWORD, datetime.now(UTC))
    assert (type(refusal), refusal.remaining) == (InvalidCredentials, 2)
    assert fields(audit_rows()[-1]) == (
        "login.failure", "failure", "jdupont", user.id, {"reason": "credentials"})


# --- what a refusal says under the message -----------------------------------------


def test_the_line_under_the_message(app):
    assert tries_left_notice(None) is None
    assert InvalidCredentials().detail is None
    assert tries_left_notice(2) == "Il vous reste 2 essais."
    assert tries_left_notice(1) == "Il vous reste 1 essai."
    assert tries_left_notice(0) == MSG_NOW_LOCKED


@pytest.mark.parametrize(("minutes", "said"), [(1, "1 minute."), (2, "2 minutes.")])
def test_the_lock_notice_agrees_with_the_number_of_minutes(app, minutes, said):
    app.config["IDP_LOCKOUT_MINUTES"] = minutes
    app.config["IDP_ASSISTANCE_PHONE"] = "01 23 45 67 89"
    assert tries_left_notice(0) == (
        f"Votre compte est maintenant verrouillé pendant {said} Vous pourrez réessayer "
        "ensuite, utiliser le lien « J'ai oublié mon mot de passe » ou appeler l'Assistance "
        "au 01 23 45 67 89.")


# --- provisional passwords ---------------------------------------------------------


def test_a_new_accounts_provisional_password_opens_the_first_connection(
    app, make_user, audit_rows
):
    user = make_user("mleroy", provisional=PROVISIONAL)
    result = authenticate("mleroy", PROVISIONAL, datetime.now(UTC))
    assert (result.user.id, result.password_change_reason, result.is_first_connection) == (
        user.id, "provisional", True)
    assert reload(user).password_hash is None
    assert fields(audit_rows()[-1]) == (
        "password.provisional_used", "success", "mleroy", user.id, {"sessions_ended": 0})


def test_a_provisional_password_ends_the_old_password_and_the_sessions(
    app, client, make_user, audit_rows
):
    user = make_user()
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    now = datetime.now(UTC)
    give_provisional(user, now)
    refused("jdupont", WRONG, now)
    result = authenticate("jdupont", PROVISIONAL, now)
    assert (result.user.id, result.password_change_reason, result.is_first_connection) == (
        user.id, "provisional", False)
    commit()
    [session_row] = db.session.execute(select(UserSession)).scalars()
    assert session_row.ended_at == now
    assert client.get("/").status_code == 303
    assert fields(audit_rows()[-1]) == (
        "password.provisional_used", "success", "jdupont", user.id, {"sessions_ended": 1})
    user = reload(user)
    assert (user.password_hash, user.failed_attempts, user.locked_until) == (None, 0, None)
    assert isinstance(refused("jdupont", STRONG_PASSWORD, now), InvalidCredentials)


def test_an_expired_provisional_password_is_refused_and_says_what_to_do(
    app, make_user, audit_rows
):
    with time_machine.travel(START, tick=False):
        user = make_user("mleroy", provisional=PROVISIONAL)
    limit = START + timedelta(hours=72)
    refused("mleroy", WRONG, limit)
    refusal = refused("mleroy", PROVISIONAL, limit)
    assert type(refusal) is ProvisionalExpired
    assert refusal.message == (
        "Votre mot de passe provisoire a expiré. Utilisez le lien « J'ai oublié mon mot de "
        "passe » ou appelez l'Assistance au 0 800 74 74 00.")
    assert refusal.detail is None
    assert fields(audit_rows()[-1]) == (
        "login.failure", "failure", "mleroy", user.id, {"reason": "provisional_expired"})
    user = reload(user)
    # The expired password matched: the count restarts, and it becomes nothing else.
    assert (user.password_hash, user.failed_attempts) == (None, 0)
    assert audit_rows("password.provisional_used") == []


# --- during a lock: only a valid provisional password opens (SPEC 1.2) ----------------


def test_a_provisional_password_opens_a_locked_account_and_lifts_the_lock(
    app, make_user, audit_rows
):
    user = make_user()
    lock("jdupont", START)
    give_provisional(user, START)
    result = authenticate("jdupont", PROVISIONAL, START + timedelta(minutes=1))
    assert (result.user.id, result.password_change_reason, result.is_first_connection) == (
        user.id, "provisional", False)
    commit()
    user = reload(user)
    assert (user.password_hash, user.failed_attempts, user.locked_until) == (None, 0, None)
    assert fields(audit_rows()[-1]) == (
        "password.provisional_used", "success", "jdupont", user.id, {"sessions_ended": 0})
    # The count starts again from nothing.
    assert refused("jdupont", WRONG, START + timedelta(minutes=2)).remaining == 2


def test_a_provisional_password_during_the_lock_ends_the_sessions(app, client, make_user):
    user = make_user()
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    now = datetime.now(UTC)
    lock("jdupont", now)
    give_provisional(user, now)
    authenticate("jdupont", PROVISIONAL, now)
    commit()
    [session_row] = db.session.execute(select(UserSession)).scalars()
    assert session_row.ended_at == now
    assert client.get("/").status_code == 303


def test_a_locked_first_connection_goes_on_with_its_provisional_password(app, make_user):
    user = make_user("mleroy", provisional=PROVISIONAL)
    now = datetime.now(UTC)
    lock("mleroy", now)
    result = authenticate("mleroy", PROVISIONAL, now)
    assert (result.user.id, result.password_change_reason, result.is_first_connection) == (
        user.id, "provisional", True)


@pytest.mark.parametrize(("left", "opens"), [(timedelta(seconds=1), True), (timedelta(0), False)],
                         ids=["1s-before-expiry", "at-expiry"])
def test_during_the_lock_the_provisional_password_works_until_its_expiry(
    app, make_user, audit_rows, left, opens
):
    with time_machine.travel(START, tick=False):
        user = make_user("mleroy", provisional=PROVISIONAL)
    expiry = START + timedelta(hours=72)
    lock("mleroy", expiry - timedelta(minutes=5))
    if opens:
        assert authenticate("mleroy", PROVISIONAL, expiry - left).password_change_reason == (
            "provisional")
    else:
        assert type(refused("mleroy", PROVISIONAL, expiry - left)) is AccountLocked
        assert fields(audit_rows()[-1]) == (
            "login.failure", "failure", "mleroy", user.id, {"reason": "locked"})


def test_during_the_lock_a_deactivated_accounts_provisional_password_is_refused(
    app, make_user
):
    user = make_user()
    lock("jdupont", START)
    give_provisional(user, START)
    user.is_active = False
    commit()
    assert type(refused("jdupont", PROVISIONAL, START + timedelta(minutes=1))) is AccountLocked
    assert reload(user).provisional_hash is not None


# --- a known device counts apart (OWASP device cookies) ------------------------------


def test_failures_on_a_known_device_lock_that_device_only(app, make_user, audit_rows,
                                                          mailbox):
    user = make_user()
    lock("jdupont", START, device_nonce=NONCE)
    credentials = ("login.failure", "failure", "jdupont", user.id, {"reason": "credentials"})
    assert [fields(row) for row in audit_rows() if row.event != "account.created"] == [
        credentials, credentials, credentials,
        ("account.locked", "info", "jdupont", user.id, {"scope": "device"}),
    ]
    [row] = db.session.execute(select(LoginThrottle)).scalars()
    assert (row.key_hash, row.failed_attempts) == (keyed("device-throttle", NONCE), 3)
    assert row.locked_until == START + timedelta(minutes=20)
    assert len(mailbox.to("jdupont@example.test")) == 1
    later = START + timedelta(minutes=1)
    assert type(refused("jdupont", STRONG_PASSWORD, later, device_nonce=NONCE)) is AccountLocked
    # The account itself is not locked: elsewhere the right password opens it.
    assert reload(user).failed_attempts == 0
    assert authenticate("jdupont", STRONG_PASSWORD, later).user.id == user.id


def test_a_success_on_a_known_device_restarts_its_count(app, make_user):
    make_user()
    for _ in range(2):
        refused("jdupont", WRONG, START, device_nonce=NONCE)
    authenticate("jdupont", STRONG_PASSWORD, START, device_nonce=NONCE)
    [row] = db.session.execute(select(LoginThrottle)).scalars()
    db.session.refresh(row)
    assert (row.failed_attempts, row.locked_until) == (0, None)
    assert refused("jdupont", WRONG, START, device_nonce=NONCE).remaining == 2


def test_a_provisional_password_on_a_locked_device_lifts_the_devices_lock(app, make_user):
    user = make_user()
    lock("jdupont", START, device_nonce=NONCE)
    give_provisional(user, START)
    later = START + timedelta(minutes=1)
    result = authenticate("jdupont", PROVISIONAL, later, device_nonce=NONCE)
    assert (result.user.id, result.password_change_reason) == (user.id, "provisional")
    commit()
    [row] = db.session.execute(select(LoginThrottle)).scalars()
    db.session.refresh(row)
    assert (row.failed_attempts, row.locked_until) == (0, None)
    assert refused("jdupont", WRONG, later, device_nonce=NONCE).remaining == 2


def test_a_provisional_password_on_a_known_device_lifts_the_accounts_lock(app, make_user):
    user = make_user()
    lock("jdupont", START)
    give_provisional(user, START)
    later = START + timedelta(minutes=1)
    result = authenticate("jdupont", PROVISIONAL, later, device_nonce=NONCE)
    assert (result.user.id, result.password_change_reason) == (user.id, "provisional")
    commit()
    user = reload(user)
    assert (user.password_hash, user.failed_attempts, user.locked_until) == (None, 0, None)
    assert refused("jdupont", WRONG, later).remaining == 2
