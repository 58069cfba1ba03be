"""Habilitations (rights to use a module) and their grants to users."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from idp.clock import utcnow
from idp.extensions import db
from idp.models.types import UTCDateTime

# The two habilitations that exist once `idp db upgrade` has run.
BUILTIN_HABILITATIONS = {"bonuseco": "Bonus Eco", "assistance": "Assistance"}


class Habilitation(db.Model):
    __tablename__ = "habilitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Short code required by clients, e.g. "bonuseco".
    code: Mapped[str] = mapped_column(String(64), unique=True)
    # French label shown to users and in the welcome mail.
    label: Mapped[str] = mapped_column(String(200))


class HabilitationGrant(db.Model):
    """A user's right to a habilitation, with a profile and a validity window."""

    __tablename__ = "habilitation_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    habilitation_id: Mapped[int] = mapped_column(ForeignKey("habilitations.id"))
    # Free profile within the module, e.g. "concessionnaire" (may be empty).
    profile: Mapped[str] = mapped_column(String(64), default="")
    # Validity window; NULL means open-ended on that side.
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Login of the operator, or "cli" for the command line.
    granted_by: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when revoked; a revoked grant can be restored (cleared).
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User", back_populates="grants", foreign_keys=[user_id])
    habilitation: Mapped[Habilitation] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (
        Index("ix_grants_user_habilitation", "user_id", "habilitation_id", unique=True),
    )

    def is_valid(self, now: datetime) -> bool:
        """Whether the grant gives access right now (not revoked, inside its dates)."""
        if self.revoked_at is not None:
            return False
        if self.starts_at is not None and self.starts_at > now:
            return False
        return self.ends_at is None or self.ends_at > now
