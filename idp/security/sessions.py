"""SSO sessions, server side: a logout ends the row, so a replayed cookie is worth nothing.

The Flask cookie holds only an opaque random id; the row holds the rest.
Idle and absolute timeouts come from IDP_SESSION_IDLE_MINUTES and
IDP_SESSION_MAX_HOURS (ASVS 3.3.2: 30 minutes / 12 hours).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy import update

from idp import audit
from idp.extensions import db
from idp.models import UserSession
from idp.security.keyed_hash import token_hash
from idp.settings import settings

# Refresh last_seen_at at most this often, to keep reads from writing.
TOUCH_INTERVAL = timedelta(seconds=60)
# A login made for one request serves it within this time, once.
LOGIN_TARGET_WINDOW = timedelta(minutes=10)

# Called as hook(rows, now) in the transaction that ends sessions, whoever ends
# them: the OIDC provider revokes their refresh tokens and sends back-channel
# logouts (Back-Channel Logout 1.0). A list, to avoid an import cycle.
SESSION_ENDED_HOOKS: list = []


def _ended(rows: list[UserSession], now: datetime) -> None:
    if rows:
        for hook in SESSION_ENDED_HOOKS:
            hook(rows, now)


def open_session(user, auth_time: datetime, amr: list[str], now: datetime,
                 ip: str | None, user_agent: str | None,
                 login_target: str | None = None) -> tuple[str, UserSession]:
    """Create a session; returns the cookie token (shown once) and the row.

    ``login_target`` is the local URL the login was made for (``was_opened_for``).
    """
    token = secrets.token_urlsafe(32)
    row = UserSession(
        id_hash=token_hash(token),
        sid=secrets.token_urlsafe(24),
        user_id=user.id,
        auth_time=auth_time,
        amr=amr,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings().session_max_hours),
        ip=ip,
        user_agent=(user_agent or "")[:300] or None,
        login_target_hash=_target_hash(login_target) if login_target else None,
    )
    db.session.add(row)
    db.session.flush()
    return token, row


def _target_hash(target: str) -> str:
    return hashlib.sha256(target.encode("utf-8", "surrogatepass")).hexdigest()


def was_opened_for(row: UserSession, target: str, now: datetime) -> bool:
    """Whether this session's login was made for ``target``, lately, and not used yet.

    How an authorization request asking prompt=login or max_age (OIDC Core
    3.1.2.1) knows the password was just checked for it: nothing the user agent
    sends can say so. The consent page may stand between the two, hence a window.
    """
    return (
        row.login_target_hash is not None
        and hmac.compare_digest(row.login_target_hash, _target_hash(target))
        and now - row.created_at <= LOGIN_TARGET_WINDOW
    )


def use_login_target(row: UserSession, target: str) -> bool:
    """Spend ``was_opened_for`` atomically; False when another request did first."""
    result = db.session.execute(
        update(UserSession)
        .where(UserSession.id == row.id, UserSession.login_target_hash == _target_hash(target))
        .values(login_target_hash=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def is_live(row: UserSession, now: datetime) -> bool:
    idle = timedelta(minutes=settings().session_idle_minutes)
    return (
        row.ended_at is None
        and row.expires_at > now
        and row.last_seen_at + idle > now
        and row.user.is_active
    )


def find_session(token: str | None, now: datetime) -> UserSession | None:
    """The live session behind a cookie token; None when absent or over. A read only:
    ``touch`` moves its idle timer."""
    if not token:
        return None
    row = db.session.execute(
        select(UserSession).where(UserSession.id_hash == token_hash(token))
    ).scalar_one_or_none()
    if row is None or not is_live(row, now):
        return None
    return row


def needs_touch(row: UserSession, now: datetime) -> bool:
    """The idle timer moves at most once a minute: one write a minute, not one a request."""
    return now - row.last_seen_at > TOUCH_INTERVAL


def touch(session_id: int, now: datetime) -> None:
    """Move the idle timer of a session still open (one UPDATE)."""
    db.session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.ended_at.is_(None),
               UserSession.last_seen_at < now)
        .values(last_seen_at=now)
    )


def end_session(row: UserSession, now: datetime) -> bool:
    """End one session; False when it had already ended."""
    result = db.session.execute(
        update(UserSession)
        .where(UserSession.id == row.id, UserSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    if result.rowcount != 1:
        return False
    _ended([row], now)
    return True


def log_out(row: UserSession, now: datetime, **details) -> bool:
    """A logout: end ``row``, record it in the audit trail; the modules are told by
    back-channel once committed. ``details`` (``via``, ``client_id``) go to the audit
    row. False when the session had already ended: nothing is recorded."""
    if not end_session(row, now):
        return False
    audit.record("logout", outcome="success", user=row.user, sid=row.sid, **details)
    return True


def end_all_sessions(user_id: int, now: datetime, keep_id: int | None = None) -> list[str]:
    """End every live session of a user (credential change, deactivation); their sids."""
    stmt = select(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
    rows = db.session.execute(stmt).scalars().all()
    ended = [row for row in rows if row.id != keep_id]
    for row in ended:
        row.ended_at = now
    _ended(ended, now)
    return [row.sid for row in ended]


def live_sessions(user_id: int, now: datetime) -> list[UserSession]:
    stmt = (
        select(UserSession)
        .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .order_by(UserSession.created_at.desc())
    )
    return [row for row in db.session.execute(stmt).scalars() if is_live(row, now)]
