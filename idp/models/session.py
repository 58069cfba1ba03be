"""Server-side state: login flows in progress and SSO sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from idp.clock import utcnow
from idp.extensions import db
from idp.models.types import UTCDateTime


class LoginFlow(db.Model):
    """A login between a correct password and the session: the steps still to do.

    The cookie holds only the opaque id; everything else stays here, on the server.
    """

    __tablename__ = "login_flows"

    # SHA-256 of the opaque id held in the cookie.
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Ordered names of the steps still to do, e.g. ["password_change"].
    pending_steps: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Why the password change is asked: "provisional" or "expired".
    password_change_reason: Mapped[str | None] = mapped_column(String(16))
    # Authentication methods used so far (OIDC amr), e.g. ["pwd"].
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    # When the password was checked: becomes the session's auth_time.
    authenticated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Where to go once done (a local path: a pending authorization or the home page).
    next_url: Mapped[str | None] = mapped_column(String(4000))
    # HMAC (under a per-flow key kept in the cookie) of the case-folded new
    # password and its length, so the secret-answer step can refuse an answer
    # containing it without the password being kept anywhere.
    password_probe: Mapped[str | None] = mapped_column(String(64))
    password_length: Mapped[int | None] = mapped_column()
    # Bumped at each step so that two posts of one step cannot both advance.
    version: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the flow ends (session granted or abandoned): single use.
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User")


class UserSession(db.Model):
    """An SSO session at the IdP (server side; the cookie holds its opaque id)."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the opaque id held in the cookie.
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Public session id (OIDC sid claim, back-channel logout); not a credential.
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # When the password was last checked for this session (OIDC auth_time).
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Last request seen; idle timeout counts from here.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Absolute end of the session, whatever the activity.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set by logout, by the user ending it, or by a credential change.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    # SHA-256 of the local URL the login that opened this session was made for
    # (an authorization request asking prompt=login or max_age); cleared once
    # that request has used it, so a fresh password check serves it once only.
    login_target_hash: Mapped[str | None] = mapped_column(String(64))

    user = relationship("User", lazy="joined", innerjoin=True)  # every use reads both

    __table_args__ = (Index("ix_user_sessions_user_ended", "user_id", "ended_at"),)
