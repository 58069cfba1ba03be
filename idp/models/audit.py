"""The tamper-evident audit trail (docs/security.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import Index
from sqlalchemy import String
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
    # SHA-256 of the previous row's hash and this row's content (hex).
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_login_created", "login", "created_at"),
        Index("ix_audit_user_created", "user_id", "created_at"),
    )
