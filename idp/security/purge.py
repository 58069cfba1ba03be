"""Deletion of the rows that have expired and serve no more purpose (``idp purge``, daily cron).

Without it the tables below grow with every login and every token request.
Each rule, and why a row is kept that long:

- ``authorization_codes``: ``expires_at`` older than ``IDP_SESSION_MAX_HOURS``
  plus one day. A consumed code is kept so that its replay still revokes the
  tokens it issued; those cannot outlive the SSO session they came from.
- ``tokens``: access token ended for more than a day and refresh token absent
  or ended for more than a day. A rotated or revoked refresh token is kept
  until its end, so that its reuse is still detected and revokes the family.
  ``parent_id`` is ON DELETE SET NULL: children outliving a parent are fine.
- ``used_client_assertions``: ``exp`` passed for more than a day. The token
  endpoint still accepts an assertion 60 seconds after its ``exp`` (Authlib's
  leeway) and the hosts' clocks differ: deleting it at ``exp`` would let a
  replay through, a day later it is refused on its ``exp`` alone.
- ``login_flows`` and ``challenges``: expired for more than a day; both are
  short-lived and single use, the day only spares the requests in progress.
- ``user_sessions``: ended, or past their absolute end, for more than 30 days.
  They hold the IP address and user agent (personal data), so they are not
  kept forever; the month leaves time to look into an incident. A live
  session is never touched.
- ``login_throttles``: rows whose lock is over, a day after their last update.
  The next attempt would restart them at 0 anyway, as it does for an account.
  A counter of 1 or 2 failures stays (an account's does too: were it to vanish,
  waiting a day would tell an unknown identifier from a real account), and a
  locked row stays until its lock ends.

Never deleted: ``audit_events`` (a tamper-evident chain, kept and exported by
``idp audit export``), ``users``, ``password_history``, ``signing_keys``,
``clients`` and the habilitations.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from datetime import timedelta

from sqlalchemy import Delete
from sqlalchemy import and_
from sqlalchemy import delete
from sqlalchemy import or_

from idp import audit
from idp.extensions import db
from idp.models import AuthorizationCode
from idp.models import Challenge
from idp.models import LoginFlow
from idp.models import LoginThrottle
from idp.models import Token
from idp.models import UsedClientAssertion
from idp.models import UserSession
from idp.settings import settings

# The only caller is ``idp purge`` (idp.cli.common.ACTOR).
ACTOR = "cli"
MARGIN = timedelta(days=1)
SESSION_RETENTION = timedelta(days=30)


def code_grace() -> timedelta:
    """How long a code is kept after its expiry: the longest SSO session, plus a day."""
    return timedelta(hours=settings().session_max_hours) + MARGIN


def _codes(now: datetime) -> Delete:
    table = AuthorizationCode.__table__
    return delete(table).where(table.c.expires_at < now - code_grace())


def _grants(now: datetime) -> Delete:
    table = Token.__table__
    cutoff = now - MARGIN
    refresh_over = or_(table.c.refresh_expires_at.is_(None), table.c.refresh_expires_at < cutoff)
    return delete(table).where(table.c.access_expires_at < cutoff, refresh_over)


def _assertions(now: datetime) -> Delete:
    table = UsedClientAssertion.__table__
    return delete(table).where(table.c.expires_at < now - MARGIN)


def _login_flows(now: datetime) -> Delete:
    table = LoginFlow.__table__
    return delete(table).where(table.c.expires_at < now - MARGIN)


def _challenges(now: datetime) -> Delete:
    table = Challenge.__table__
    return delete(table).where(table.c.expires_at < now - MARGIN)


def _sessions(now: datetime) -> Delete:
    table = UserSession.__table__
    cutoff = now - SESSION_RETENTION
    # A NULL ended_at (not ended) never compares true: the absolute end decides.
    return delete(table).where(or_(table.c.ended_at < cutoff, table.c.expires_at < cutoff))


def _throttles(now: datetime) -> Delete:
    table = LoginThrottle.__table__
    lock_over = and_(table.c.locked_until.is_not(None), table.c.locked_until < now)
    return delete(table).where(table.c.updated_at < now - MARGIN, lock_over)


# Audit detail key -> the DELETE of its table (no key may contain "token", see audit).
RULES: dict[str, Callable[[datetime], Delete]] = {
    "codes": _codes,
    "grants": _grants,
    "assertions": _assertions,
    "login_flows": _login_flows,
    "challenges": _challenges,
    "sessions": _sessions,
    "throttles": _throttles,
}


def purge(now: datetime) -> dict[str, int]:
    """Delete what the rules allow and audit it; the rows deleted per rule (uncommitted)."""
    counts = {name: db.session.execute(rule(now)).rowcount for name, rule in RULES.items()}
    audit.record("maintenance.purged", actor=ACTOR, **counts)
    return counts
