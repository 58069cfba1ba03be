"""The tamper-evident audit trail (docs/security.md).

Requests only insert rows; the sealer (``idp.audit.seal``) chains them later, in
the order of ``seal_seq``: an unsealed row has no ``seal_seq``, ``prev_hash`` nor
``hash`` yet.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import BigInteger
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.types import UTCDateTime


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Dotted event name, e.g. "login.failure", "account.locked".
    event: Mapped[str] = mapped_column(String(64))
    # "success", "failure" or "info".
    outcome: Mapped[str] = mapped_column(String(16))
    # Login the event is about (as typed for unknown identifiers: never a secret).
    login: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column()
    ip: Mapped[str | None] = mapped_column(String(45))
    client_id: Mapped[str | None] = mapped_column(String(64))
    # Who acted: the user's login, an operator's login, or "cli".
    actor: Mapped[str | None] = mapped_column(String(64))
    # Non-secret details (reason, habilitation code...).
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    # Place in the chain (1, 2, 3... without gaps), given by the sealer; None until sealed.
    # Not the id: ids are taken at insert time and committed out of order.
    seal_seq: Mapped[int | None] = mapped_column(BigInteger)
    # Hash of the previous row in the chain (64 zeros for the first), hex; None until sealed.
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    # SHA-256 of prev_hash and this row's content (idp.audit.row_hash), hex; None until sealed.
    hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_login_created", "login", "created_at"),
        Index("ix_audit_user_created", "user_id", "created_at"),
        Index("ix_audit_seal_seq", "seal_seq", unique=True),
        # The unsealed tail, small: what the sealer and the metrics look for.
        Index("ix_audit_unsealed", "id", postgresql_where=text("seal_seq IS NULL"),
              sqlite_where=text("seal_seq IS NULL")),
    )


def unsealed_tail(session) -> tuple[int, datetime | None]:
    """How many rows wait for the sealer, and when the oldest of them was written."""
    count, oldest = session.execute(
        select(func.count(), func.min(AuditEvent.created_at)).where(AuditEvent.seal_seq.is_(None))
    ).one()
    return count, oldest  # min() keeps the column's type: an aware UTC datetime
