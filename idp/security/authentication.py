"""The password check of the login page, with the lockout (docs/flows.md).

``authenticate()`` raises ``InvalidCredentials`` (the one message for unknown
identifiers, wrong passwords and deactivated accounts, with the tries left),
``AccountLocked`` or ``ProvisionalExpired``, or returns what the login state
machine needs.

Failures count against the account, or against a ``login_throttles`` row: an
unknown identifier's, or a known device's when the browser presents a device
cookie naming this login (``idp.security.devices``), so that failures made
elsewhere never lock its owner out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from idp import audit
from idp import mail
from idp.database import commit
from idp.exceptions import IdpError
from idp.extensions import db
from idp.models import User
from idp.security import devices
from idp.security import lockout
from idp.security import passwords
from idp.security import sessions
from idp.security.identifiers import normalise_login
from idp.security.keyed_hash import keyed_hash
from idp.security.keyed_hash import recorded_login
from idp.settings import settings

MSG_INVALID = "Le couple identifiant/ mot de passe est incorrecte"
MSG_LOCKED = (
    "Le compte a été verrouillé suite à un trop grand nombre d'échecs de connexion "
    "avec cet identifiant utilisateur"
)
MSG_PROVISIONAL_EXPIRED = (
    "Votre mot de passe provisoire a expiré. Utilisez le lien « J'ai oublié mon mot de passe » "
    "ou appelez l'Assistance au {phone}."
)


MSG_TRIES_LEFT = "Il vous reste {count} essai{plural}."
MSG_NOW_LOCKED = (
    "Votre compte est maintenant verrouillé pendant {minutes} minute{plural}. Vous pourrez "
    "réessayer ensuite, utiliser le lien « J'ai oublié mon mot de passe » ou appeler "
    "l'Assistance au {phone}."
)


class LoginRefused(IdpError):
    message = MSG_INVALID
    # A second line under the message, or None.
    detail: str | None = None


class InvalidCredentials(LoginRefused):
    """A wrong password (or identifier); ``remaining`` tries before the lock, 0: now locked."""

    message = MSG_INVALID

    def __init__(self, remaining: int | None = None):
        super().__init__()
        self.remaining = remaining

    @property
    def detail(self) -> str | None:  # type: ignore[override]
        return tries_left_notice(self.remaining)


def tries_left_notice(remaining: int | None) -> str | None:
    """What a failure adds: the tries left, or that the lock starts and what to do."""
    if remaining is None:
        return None
    if remaining > 0:
        return MSG_TRIES_LEFT.format(count=remaining, plural="s" if remaining > 1 else "")
    minutes = settings().lockout_minutes
    return MSG_NOW_LOCKED.format(minutes=minutes, plural="s" if minutes > 1 else "",
                                 phone=settings().assistance_phone)


MSG_LOCK_NEXT_STEPS = (
    "Le verrouillage dure {minutes} minute{plural}. Vous pourrez ensuite réessayer. Sans "
    "attendre, utilisez le lien « J'ai oublié mon mot de passe » (le mot de passe provisoire "
    "reçu par mail ouvre le compte même verrouillé) ou appelez l'Assistance au {phone}."
)


class AccountLocked(LoginRefused):
    message = MSG_LOCKED

    @property
    def detail(self) -> str:  # type: ignore[override]
        """Under the agency's lock message: how long, and what to do meanwhile."""
        minutes = settings().lockout_minutes
        return MSG_LOCK_NEXT_STEPS.format(minutes=minutes, plural="s" if minutes > 1 else "",
                                          phone=settings().assistance_phone)


class ProvisionalExpired(LoginRefused):
    @property
    def message(self) -> str:  # type: ignore[override]
        return MSG_PROVISIONAL_EXPIRED.format(phone=settings().assistance_phone)


@dataclass
class Authenticated:
    user: User
    # "provisional" or "expired" when the password must be changed first.
    password_change_reason: str | None
    # The first connection is not complete: its steps not done yet are asked again.
    is_first_connection: bool = False


def find_user(identifier: str) -> User | None:
    login = normalise_login(identifier)
    return db.session.execute(select(User).where(User.login == login)).scalar_one_or_none()


@dataclass(frozen=True)
class _Stored:
    """The secrets of an account, read before the commit so that the slow checks
    run outside any transaction (SQLite's single writer stays free meanwhile)."""

    is_active: bool
    password_hash: str | None
    provisional_hash: str | None
    provisional_expires_at: datetime | None

    @classmethod
    def of(cls, user: User | None) -> _Stored | None:
        if user is None:
            return None
        return cls(user.is_active, user.password_hash, user.provisional_hash,
                   user.provisional_expires_at)

    def provisional_valid(self, now: datetime) -> bool:
        return self.provisional_expires_at is None or self.provisional_expires_at > now


@dataclass(frozen=True)
class _Counter:
    """Whose failures an attempt counts against: the account (``user``), or a
    ``login_throttles`` row under ``key`` (an unknown identifier, or a known device)."""

    user: User | None
    # Unused for an account: its counter is its ``users`` row.
    key: str = ""
    is_device: bool = False


def _counter_for(user: User | None, login: str, device_nonce: str | None,
                 now: datetime) -> _Counter:
    """A known device counts apart from the account (OWASP device cookies)."""
    if device_nonce is not None and user is not None:
        counter = _Counter(None, devices.counter_key(device_nonce), is_device=True)
    elif user is not None:
        return _Counter(user)
    else:
        counter = _Counter(None, keyed_hash("login-throttle", login))
    lockout.ensure_throttle_row(counter.key, now)
    return counter


def authenticate(identifier: str, password: str, now: datetime,
                 device_nonce: str | None = None) -> Authenticated:
    """Check a login attempt; commits the reservation before the hash check.

    ``device_nonce``: that of a valid device cookie naming this identifier, if any.
    """
    threshold = settings().lockout_threshold
    login = normalise_login(identifier)
    user = find_user(login)
    counter = _counter_for(user, login, device_nonce, now)
    rank = lockout.reserve_attempt(
        counter.user, counter.key, now, threshold, settings().lockout_minutes
    )
    stored = _Stored.of(user)
    # Visible to every other process before the slow check.
    commit()
    if rank is None:
        return _while_locked(user, stored, login, counter, password, now)
    matched = _check_password(stored, password, now)
    if matched is None:
        _register_failure(user, login, counter, rank, threshold)
        raise InvalidCredentials(remaining=max(threshold - rank, 0))
    return _accept(user, stored, counter, matched, password, now)


def _accept(user: User, stored: _Stored, counter: _Counter, matched: str, password: str,
            now: datetime) -> Authenticated:
    """A secret matched: restart the count, then what the login state machine needs."""
    # Hash before the first write: SQLite holds its write lock from there to the commit.
    rehashed = (passwords.hash_password(password) if matched == "password"
                and passwords.needs_rehash(stored.password_hash) else None)
    lockout.clear_attempts(counter.user, counter.key)
    if rehashed:
        user.password_hash = rehashed
    if matched == "provisional-expired":
        audit.record("login.failure", outcome="failure", user=user, reason="provisional_expired")
        commit()
        raise ProvisionalExpired()
    first_connection = user.first_connection_completed_at is None
    reason = _password_change_reason(user, matched, now)
    if matched == "provisional":
        _consume_provisional(user, now)
    return Authenticated(user, reason, first_connection)


def _while_locked(user, stored, login, counter: _Counter, password, now) -> Authenticated:
    """During a lock only a reset's provisional password opens the account."""
    usable = stored is not None and stored.is_active and stored.provisional_valid(now)
    # The chosen password is not checked during a lock, but the two verifications
    # are spent as at any other attempt, so the lock's timing says nothing either.
    passwords.dummy_verify()
    if passwords.verify_password(stored.provisional_hash if usable else None, password):
        lockout.clear_attempts(counter.user, counter.key)
        first_connection = user.first_connection_completed_at is None
        _consume_provisional(user, now)
        return Authenticated(user, "provisional", first_connection)
    audit.record("login.failure", outcome="failure", user=user, login=recorded_login(user, login),
                 reason="locked")
    commit()
    raise AccountLocked()


def _consume_provisional(user: User, now: datetime) -> None:
    """A provisional password's use ends the old password.

    It lifts the lock and ends the user's other sessions, so that whoever held
    the old password is out. The provisional password itself keeps working,
    until its expiry, as long as no personal password has been chosen, so that
    an interrupted procedure can start again with it; choosing one
    (``idp.security.password_change.set_password``) ends it.
    """
    user.password_hash = None
    lockout.clear_attempts(user, "")
    ended = sessions.end_all_sessions(user.id, now)
    # Ending the sessions also revokes their refresh tokens (sessions.SESSION_ENDED_HOOKS).
    audit.record("password.provisional_used", outcome="success", user=user,
                 sessions_ended=len(ended))


def _check_password(stored: _Stored | None, password: str, now: datetime) -> str | None:
    """Which secret matched: "password", "provisional", "provisional-expired" or None.

    Always two argon2 verifications, one per slot (chosen password, provisional
    password), against the account's hash or a dummy one: unknown, deactivated,
    plain accounts and accounts with a provisional password pending cost the
    same (OWASP Authentication Cheat Sheet, « Authentication Responses »).
    """
    usable = stored is not None and stored.is_active
    chosen = passwords.verify_password(stored.password_hash if usable else None, password)
    provisional = passwords.verify_password(stored.provisional_hash if usable else None,
                                            password)
    if chosen:
        return "password"
    if provisional:
        return "provisional" if stored.provisional_valid(now) else "provisional-expired"
    return None


def _password_change_reason(user: User, matched: str, now: datetime) -> str | None:
    if matched == "provisional":
        return "provisional"
    max_age = settings().password_max_age_days
    if passwords.is_password_expired(user.password_changed_at, max_age, now):
        return "expired"
    return None


def _register_failure(user: User | None, login: str, counter: _Counter, rank: int,
                      threshold: int) -> None:
    recorded = recorded_login(user, login)
    audit.record("login.failure", outcome="failure", user=user, login=recorded,
                 reason="credentials")
    if rank >= threshold:
        audit.record("account.locked", outcome="info", user=user, login=recorded,
                     **({"scope": "device"} if counter.is_device else {}))
        if user is not None:
            mail.send_later(mail.compose(
                user.email, "account_locked", user=user,
                minutes=settings().lockout_minutes,
            ))
    commit()
