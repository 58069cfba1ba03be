"""The 3-try lockout (docs/flows.md), counted atomically in the database.

Each password check first *reserves* an attempt with one conditional UPDATE:
the counter is bumped only while the account is not locked and fewer than
``threshold`` attempts are outstanding, and the attempt that reaches the
threshold sets the lock at once. So, whatever the number of concurrent
requests or processes, at most ``threshold`` checks are ever made against the
hash before the lock (docs/security.md, « Atomic lockout »). A success
clears the counter and the lock.

The same rules apply to ``users`` rows and to ``login_throttles`` rows (keyed
hash of an unknown identifier, so unknown identifiers lock identically; or of a
known device's nonce, so a device locks on its own failures only).
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta

from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import literal
from sqlalchemy import or_
from sqlalchemy import update

from idp.extensions import db
from idp.models import LoginThrottle
from idp.models import User
from idp.models.types import UTCDateTime


def _target(user: User | None, throttle_key: str):
    if user is not None:
        return User.__table__, User.__table__.c.id == user.id
    return LoginThrottle.__table__, LoginThrottle.__table__.c.key_hash == throttle_key


def ensure_throttle_row(throttle_key: str, now: datetime) -> None:
    """Create the counter row of an unknown identifier if it does not exist yet."""
    table = LoginThrottle.__table__
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table).values(key_hash=throttle_key, failed_attempts=0, updated_at=now)
    db.session.execute(stmt.on_conflict_do_nothing(index_elements=["key_hash"]))


def reserve_attempt(
    user: User | None, throttle_key: str, now: datetime, threshold: int, minutes: int
) -> int | None:
    """Reserve one password check; its rank (1..threshold), or None when locked."""
    table, match = _target(user, throttle_key)
    now_value = literal(now, UTCDateTime())
    lock_value = literal(now + timedelta(minutes=minutes), UTCDateTime())
    lock_over = and_(table.c.locked_until.is_not(None), table.c.locked_until <= now_value)
    # Failures counted under a higher threshold than today's, with no lock: the
    # next attempt is the last try before the lock, never a lock without an end.
    unlocked_at_threshold = and_(table.c.locked_until.is_(None),
                                 table.c.failed_attempts >= threshold)
    current = case((lock_over, 0), (unlocked_at_threshold, threshold - 1),
                   else_=table.c.failed_attempts)
    values = {
        "failed_attempts": current + 1,
        "locked_until": case((current + 1 >= threshold, lock_value), else_=None),
    }
    if table is LoginThrottle.__table__:
        values["updated_at"] = now_value
    stmt = (
        update(table)
        .where(match, or_(table.c.locked_until.is_(None), lock_over), current < threshold)
        .values(**values)
        .returning(table.c.failed_attempts)
    )
    rank = db.session.execute(stmt).scalar_one_or_none()
    return rank


def clear_attempts(user: User | None, throttle_key: str) -> None:
    """A successful check (or an unlock) starts the counter again."""
    table, match = _target(user, throttle_key)
    db.session.execute(update(table).where(match).values(failed_attempts=0, locked_until=None))
