"""The forgotten-password procedure's rules (docs/flows.md, « Forgotten password »).

Only a right answer sends a new provisional password. Wrong answers are
counted per account with one conditional UPDATE: the third in 24 hours stops
the mails for that account for 24 hours and warns the owner. Unknown
identifiers cost the same argon2 verification and get a plausible question,
chosen deterministically from the identifier, so they look like known ones.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from enum import Enum

from flask import current_app
from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import literal
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from idp import audit
from idp import mail
from idp.clock import utcnow
from idp.extensions import db
from idp.models import User
from idp.models.types import UTCDateTime
from idp.security import passwords
from idp.security import provisional
from idp.security import secrets
from idp.security.keyed_hash import keyed_hash
from idp.security.keyed_hash import recorded_login

WINDOW = timedelta(hours=24)
MAX_WRONG_ANSWERS = 3


class Outcome(Enum):
    SENT = "sent"
    WRONG = "wrong"
    BLOCKED = "blocked"
    UNKNOWN = "unknown"


def question_for(user: User | None, login: str) -> str:
    """The question to show: the user's own, or a stable plausible one for unknown logins."""
    if user is not None and user.secret_question:
        return user.secret_question
    index = int(keyed_hash("forgot-question", login), 16) % len(secrets.QUESTIONS)
    return secrets.QUESTIONS[index]


def shows_no_secrets_page(user: User | None, login: str) -> bool:
    """Whether the procedure stops at the « secrets non renseignés » page.

    For an account: active and without secrets. For an unknown identifier: a
    share of them as large as the share of accounts that get the page, picked
    by a keyed hash of the identifier, so that the same identifier always gets
    the same page and the page says nothing about whether an account exists
    (OWASP Forgot Password Cheat Sheet, « consistent messages »).
    """
    if user is not None:
        return user.is_active and not user.has_secrets
    draw = int(keyed_hash("forgot-no-secrets", login)[:15], 16) / 16**15
    return draw < no_secrets_share()


# How long a worker keeps the share before counting again: the figure moves slowly
# (accounts created, first connections completed), and counting a million rows at
# every request would cost more than the rest of the procedure.
SHARE_REFRESH = timedelta(minutes=10)


def no_secrets_share() -> float:
    """The share of accounts whose procedure stops at that page, counted at most
    every ``SHARE_REFRESH`` in each worker (every worker counts the same database)."""
    cache = current_app.extensions.setdefault("idp_no_secrets_share", {})
    now = utcnow()
    if cache.get("until") is None or now >= cache["until"]:
        cache["value"], cache["until"] = _count_no_secrets_share(), now + SHARE_REFRESH
    return cache["value"]


def _count_no_secrets_share() -> float:
    table = User.__table__
    without = case((and_(table.c.is_active, table.c.secret_answer_hash.is_(None)), 1), else_=0)
    total, matching = db.session.execute(
        select(func.count(), func.coalesce(func.sum(without), 0)).select_from(table)
    ).one()
    return matching / total if total else 0.0


def _count_wrong_answer(user: User, now: datetime) -> int:
    """Add a wrong answer to the account's 24-hour window; the count after it."""
    table = User.__table__
    now_value = literal(now, UTCDateTime())
    window_open = and_(table.c.reset_failures_since.is_not(None),
                       table.c.reset_failures_since > literal(now - WINDOW, UTCDateTime()))
    return db.session.execute(
        update(table).where(table.c.id == user.id)
        .values(
            reset_failures=case((window_open, table.c.reset_failures), else_=0) + 1,
            reset_failures_since=case((window_open, table.c.reset_failures_since),
                                      else_=now_value),
        )
        .returning(table.c.reset_failures)
    ).scalar_one()


def _block(user: User, now: datetime) -> bool:
    """Start the 24-hour block once (True for the request that started it)."""
    table = User.__table__
    result = db.session.execute(
        update(table)
        .where(table.c.id == user.id,
               or_(table.c.reset_blocked_until.is_(None),
                   table.c.reset_blocked_until <= literal(now, UTCDateTime())))
        .values(reset_blocked_until=now + WINDOW)
    )
    return result.rowcount == 1


def is_blocked(user: User, now: datetime) -> bool:
    return user.reset_blocked_until is not None and user.reset_blocked_until > now


def answer(user: User | None, login: str, given: str, now: datetime) -> Outcome:
    """Check the secret answer and act; the caller commits and shows the same page.

    Every branch costs one argon2 verification and one argon2 hash (the right
    answer hashes the new provisional password; the others a throwaway one), and
    mails leave in the background: the time of the answer says nothing.
    """
    outcome = _answer(user, login, given, now)
    if outcome is not Outcome.SENT:
        passwords.dummy_hash()
    return outcome


def _answer(user: User | None, login: str, given: str, now: datetime) -> Outcome:
    if user is None or not user.has_secrets or not user.is_active:
        passwords.dummy_verify()
        audit.record("reset.answer_ignored", outcome="failure", user=user,
                     login=recorded_login(user, login),
                     reason="unknown" if user is None else "unavailable")
        return Outcome.UNKNOWN
    if not secrets.verify_answer(user, given):
        wrong = _count_wrong_answer(user, now)
        audit.record("reset.answer_wrong", outcome="failure", user=user, count=wrong)
        if wrong >= MAX_WRONG_ANSWERS and _block(user, now):
            audit.record("reset.blocked", outcome="info", user=user)
            mail.send_later(mail.compose(user.email, "reset_attempts", user=user))
        return Outcome.WRONG
    if is_blocked(user, now):
        audit.record("reset.refused_by_counter", outcome="failure", user=user)
        return Outcome.BLOCKED
    provisional.send_new(user, actor=user.login, reason="mot de passe oublié", now=now)
    return Outcome.SENT
