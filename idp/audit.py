"""The audit trail: ``record()`` is the one way to write it (docs/security.md).

Rows are chained: each carries the SHA-256 of the previous row's hash and of
its own content, so an edited or deleted row breaks the chain at that point
(``verify_chain``). A request only inserts its rows, without any lock: the
chain is built afterwards by ``seal()`` (a background thread of each web process,
``idp.audit_sealer``, and ``idp audit seal``), one sealer at a time (a try-lock:
the others skip), in the order of ``seal_seq``, which the sealer gives.

Why not chain by id: ids are taken when a row is inserted, and transactions
commit out of order, so a row with a lower id may become visible after higher
ones were sealed. The sealer takes every row still unsealed, whatever its id,
and appends it to the chain: a row committed late is sealed in a later batch,
never skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from flask import has_request_context
from flask import request
from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update

from idp import database
from idp import metrics
from idp.clock import utcnow
from idp.extensions import db
from idp.models import AuditEvent
from idp.models.audit import unsealed_tail

GENESIS = "0" * 64
# The sealers' try-lock on PostgreSQL (pg_try_advisory_xact_lock): one sealer at a time.
_SEALER_LOCK_KEY = 0x1D9A0D17
# Rows chained per transaction: the lock (SQLite's writer lock) is held that long only.
SEAL_BATCH = 500
# Detail keys that could carry a secret: refused outright, whatever the caller.
FORBIDDEN_KEYS = ("password", "answer", "token", "secret", "captcha", "code_verifier", "otp")
# Length of the login, client_id and actor columns (idp.models.audit).
COLUMN_LENGTH = 64


_CHAINED = ("event", "outcome", "login", "user_id", "ip", "client_id", "actor", "details")


def _fields(row: AuditEvent | Mapping) -> dict:
    """What a row says, as chained and as exported (a row, or the values of one)."""
    values = row if isinstance(row, Mapping) else {name: getattr(row, name)
                                                     for name in ("created_at", *_CHAINED)}
    fields = {"created_at": values["created_at"].isoformat(timespec="microseconds")}
    fields.update((name, values[name]) for name in _CHAINED)
    return fields


def _content(row: AuditEvent | Mapping) -> str:
    return json.dumps(_fields(row), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def row_hash(prev_hash: str, row: AuditEvent | Mapping) -> str:
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
    caller. No lock and no read of the chain: ``seal()`` chains the row later.
    """
    _check_details(details)
    if ip is None and has_request_context():
        ip = request.remote_addr
    db.session.execute(insert(AuditEvent.__table__).values(
        created_at=utcnow(),
        event=event,
        outcome=outcome,
        login=fit(login if login is not None else getattr(user, "login", None)),
        user_id=getattr(user, "id", None),
        ip=ip,
        client_id=fit(client_id),
        actor=fit(actor),
        details=details,
    ))
    metrics.count_event(event, details)


# --- the sealer ----------------------------------------------------------------------------


def seal(batch: int = SEAL_BATCH, max_batches: int | None = None) -> int | None:
    """Chain the unsealed rows, ``batch`` per transaction, until none is left (or
    ``max_batches`` were done); how many were sealed, or None when another sealer
    holds the lock (it is doing the work). Commits; the caller's session must hold
    no transaction of its own.
    """
    if not _anything_to_seal():
        return 0
    sealed = 0
    while max_batches is None or max_batches > 0:
        done = _seal_batch(batch)
        if done is None:
            return None if sealed == 0 else sealed
        sealed += done
        if done < batch:
            break
        if max_batches is not None:
            max_batches -= 1
    return sealed


def _anything_to_seal() -> bool:
    """One read of the unsealed rows' index, without the sealer's lock (nor, on SQLite,
    the write lock): an idle round of every web process's sealer costs only that."""
    with database.reading():
        try:
            found = db.session.execute(
                select(AuditEvent.id).where(AuditEvent.seal_seq.is_(None)).limit(1)).first()
        finally:
            database.rollback()
    return found is not None


def _seal_batch(batch: int) -> int | None:
    """One transaction: the lock, the end of the chain, the next unsealed rows by id."""
    session = db.session
    try:
        if not _try_lock(session):
            database.rollback()
            return None
        last = session.execute(
            select(AuditEvent.seal_seq, AuditEvent.hash).where(AuditEvent.seal_seq.is_not(None))
            .order_by(AuditEvent.seal_seq.desc()).limit(1)
        ).one_or_none()
        seq, prev = (last.seal_seq, last.hash) if last else (0, GENESIS)
        # Plain rows, not ORM objects: nothing lingers in the session's identity map.
        rows = session.execute(
            select(AuditEvent.id, AuditEvent.created_at,
                   *(getattr(AuditEvent, name) for name in _CHAINED))
            .where(AuditEvent.seal_seq.is_(None)).order_by(AuditEvent.id).limit(batch)
        ).all()
        links = []
        for row in rows:
            seq += 1
            digest = row_hash(prev, row._mapping)
            links.append({"row_id": row.id, "seq": seq, "prev": prev, "digest": digest})
            prev = digest
        if links:
            table = AuditEvent.__table__
            session.execute(
                update(table).where(table.c.id == bindparam("row_id"))
                .values(seal_seq=bindparam("seq"), prev_hash=bindparam("prev"),
                        hash=bindparam("digest")),
                links, execution_options={"synchronize_session": False},
            )
        database.commit()
    except BaseException:
        database.rollback()
        raise
    metrics.AUDIT_SEALED.inc(len(links))
    return len(links)


def _try_lock(session) -> bool:
    """PostgreSQL: a transaction-scoped try-lock, never a wait. SQLite: transactions
    begin IMMEDIATE (idp.database), so the first statement takes the writer lock."""
    if session.get_bind().dialect.name == "postgresql":
        return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                    {"k": _SEALER_LOCK_KEY}).scalar_one())
    return True


@dataclass
class Tail:
    """The rows the sealer has not chained yet (not a break: verify reports them)."""

    count: int
    oldest_at: datetime | None


def unsealed() -> Tail:
    return Tail(*unsealed_tail(db.session))


@dataclass
class ChainBreak:
    row_id: int  # the edited row; for a missing one, the row after the gap
    problem: str  # "edited" or "missing"
    seal_seq: int  # its place in the chain (the missing place for "missing")


def verify_chain(batch: int = 1000) -> ChainBreak | None:
    """Walk the sealed rows in chain order; the first edited or missing row, or None.

    The unsealed rows are not part of the chain yet (``unsealed()`` counts them).
    A deleted row leaves a gap in ``seal_seq``; an edited one a hash that no
    longer matches its content, or the next row's ``prev_hash``.
    """
    prev_hash, prev = GENESIS, None
    for row in _iter_sealed(batch):
        expected_seq = 1 if prev is None else prev.seal_seq + 1
        if row.seal_seq != expected_seq:
            return ChainBreak(row.id, "missing", expected_seq)
        if row.prev_hash != prev_hash:
            if prev is None:
                return ChainBreak(row.id, "edited", row.seal_seq)
            # The previous row was rewritten together with its own hash.
            return ChainBreak(prev.id, "edited", prev.seal_seq)
        if row_hash(row.prev_hash, row) != row.hash:
            return ChainBreak(row.id, "edited", row.seal_seq)
        prev_hash, prev = row.hash, row
    return None


def _iter_sealed(batch: int) -> Iterator[AuditEvent]:
    last_seq = 0
    while True:
        rows = db.session.execute(
            select(AuditEvent).where(AuditEvent.seal_seq > last_seq)
            .order_by(AuditEvent.seal_seq).limit(batch)
        ).scalars().all()
        if not rows:
            return
        yield from rows
        last_seq = rows[-1].seal_seq
        db.session.expunge_all()


def export(since=None, login: str | None = None) -> Iterator[dict]:
    """Audit rows as dicts for JSON lines (``idp audit export``): the sealed rows in
    chain order, then the unsealed ones (no ``seal_seq`` nor ``hash`` yet) by id."""
    filters = []
    if since is not None:
        filters.append(AuditEvent.created_at >= since)
    if login is not None:
        filters.append(AuditEvent.login == login)
    for part in (
        select(AuditEvent).where(AuditEvent.seal_seq.is_not(None), *filters)
        .order_by(AuditEvent.seal_seq),
        select(AuditEvent).where(AuditEvent.seal_seq.is_(None), *filters).order_by(AuditEvent.id),
    ):
        for row in db.session.execute(part.execution_options(yield_per=500)).scalars():
            yield {"id": row.id, **_fields(row), "seal_seq": row.seal_seq, "hash": row.hash}


def recent_events(user, event: str, limit: int) -> list[AuditEvent]:
    """The user's last ``limit`` rows of ``event``, newest first."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.user_id == user.id, AuditEvent.event == event)
        .order_by(AuditEvent.id.desc()).limit(limit)
    )
    return list(db.session.execute(stmt).scalars())
