"""Challenges kept server side, never in the cookie: image captchas and arithmetic questions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.types import UTCDateTime


class Challenge(db.Model):
    """One challenge shown to one browser; the expected answer never leaves the server."""

    __tablename__ = "challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "captcha" or "arithmetic".
    kind: Mapped[str] = mapped_column(String(16))
    # Who may answer: the SHA-256 of the login flow id or of a page-state id.
    owner_hash: Mapped[str] = mapped_column(String(64))
    # The text to show (captcha) or the question (arithmetic) — rendered on demand.
    prompt: Mapped[str] = mapped_column(String(64))
    # The expected answer, normalised (upper case, no spaces).
    answer: Mapped[str] = mapped_column(String(32))
    # Wrong answers so far; past the limit a new challenge is forced.
    failures: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when answered right or replaced: a challenge is single use.
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The captcha as drawn at its first fetch (PNG, then WAV bytes): every later fetch
    # gets the same bytes, so averaging fetches removes no noise. Loaded on demand.
    image: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    audio: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)

    __table_args__ = (Index("ix_challenges_owner_kind", "owner_hash", "kind"),)
