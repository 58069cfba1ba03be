"""The audit trail: ``record()`` is the one way to write it (docs/security.md).

Rows are chained: each carries the SHA-256 of the previous row's hash and of
its own content, so an edited or deleted row breaks the chain at that point
(``verify_chain``). Writers are serialised so that the chain stays linear:
PostgreSQL takes a transaction-scoped advisory lock; SQLite transactions
already begin IMMEDIATE (one writer at a time, see ``idp.database``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

from flask import has_request_context
from flask import request
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text

from idp import metrics
from idp.clock import utcnow
from idp.extensions import db
from idp.models import AuditEvent

GENESIS = "0" * 64
_ADVISORY_LOCK_KEY = 0x1D9A0D17
# Detail keys that could carry a secret: refused outright, whatever the caller.
FORBIDDEN_KEYS = ("password", "answer", "token", "secret", "captcha", "code_verifier", "otp")
# Length of the login, client_id and actor columns (idp.models.audit).
COLUMN_LENGTH = 64


_CHAINED = ("event", "outcome", "login", "user_id", "ip", "client_id", "actor", "details")


def _fields(row: AuditEvent | dict) -> dict:
    """What a row says, as chained and as exported (a row, or the values of one)."""
    values = row if isinstance(row, dict) else {name: getattr(row, name)
                                                  for name in ("created_at", *_CHAINED)}
    fields = {"created_at": values["created_at"].isoformat(timespec="microseconds")}
    fields.update((name, values[name]) for name in _CHAINED)
    return fields


def _content(row: AuditEvent | dict) -> str:
    return json.dumps(_fields(row), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def row_hash(prev_hash: str, row: AuditEvent | dict) -> str:
    return hashlib.sha256(f"{prev_hash}|{_content(row)}".encode()).hexdigest()


def fit(value: str | None, length: int = COLUMN_LENGTH) -> str | None:
    """A value cut to its column, marked « … » when cut: what an unknown identifier of
    65 to 128 characters records, and never the login of a real account (at most 64)."""
    if value is None or len(value) <= length:
        return value
    return value[: length - 1] + "…"


def _check_details(details: dict) -> None:
    for key in details:
        lowered = key.lower()
        if any(word in lowered for word in FORBIDDEN_KEYS):
            raise ValueError(f"audit detail {key!r} could hold a secret")


def record(
    event: str,
    *,
    outcome: str = "info",
    user=None,
    login: str | None = None,
    client_id: str | None = None,
    actor: str | None = None,
    ip: str | None = None,
    **details,
) -> None:
    """Add one audit row to the current transaction (committed with the request).

    A Core INSERT rather than an ORM object: the row is never read back by the
    caller, and the unit of work cost more than the chaining itself.
    """
    _check_details(details)
    if ip is None and has_request_context():
        ip = request.remote_addr
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
    prev = session.execute(
        select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).scalar_one_or_none() or GENESIS
    values = {
        "created_at": utcnow(),
        "event": event,
        "outcome": outcome,
        "login": fit(login if login is not None else getattr(user, "login", None)),
        "user_id": getattr(user, "id", None),
        "ip": ip,
        "client_id": fit(client_id),
        "actor": fit(actor),
        "details": details,
        "prev_hash": prev,
    }
    values["hash"] = row_hash(prev, values)
    session.execute(insert(AuditEvent.__table__).values(**values))
    metrics.count_event(event, details)


@dataclass
class ChainBreak:
    row_id: int
    problem: str


def verify_chain(batch: int = 1000) -> ChainBreak | None:
    """Walk the trail in order; the first edited or missing row, or None."""
    prev_hash, prev_id = GENESIS, None
    for row in _iter_rows(batch):
        if row.prev_hash != prev_hash:
            if prev_id is None:
                return ChainBreak(row.id, "edited")
            if row.id != prev_id + 1:
                return ChainBreak(prev_id + 1, "missing")
            # The previous row was rewritten together with its own hash.
            return ChainBreak(prev_id, "edited")
        if row_hash(row.prev_hash, row) != row.hash:
            return ChainBreak(row.id, "edited")
        prev_hash, prev_id = row.hash, row.id
    return None


def _iter_rows(batch: int) -> Iterator[AuditEvent]:
    last_id = 0
    while True:
        rows = db.session.execute(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ).scalars().all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id
        db.session.expunge_all()


def export(since=None, login: str | None = None) -> Iterator[dict]:
    """Audit rows as dicts for JSON lines (``idp audit export``)."""
    stmt = select(AuditEvent).order_by(AuditEvent.id)
    if since is not None:
        stmt = stmt.where(AuditEvent.created_at >= since)
    if login is not None:
        stmt = stmt.where(AuditEvent.login == login)
    for row in db.session.execute(stmt.execution_options(yield_per=500)).scalars():
        yield {"id": row.id, **_fields(row), "hash": row.hash}


def recent_events(user, event: str, limit: int) -> list[AuditEvent]:
    """The user's last ``limit`` rows of ``event``, newest first."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.user_id == user.id, AuditEvent.event == event)
        .order_by(AuditEvent.id.desc()).limit(limit)
    )
    return list(db.session.execute(stmt).scalars())
