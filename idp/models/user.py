"""Accounts and their password history."""

from __future__ import annotations

import secrets
import unicodedata
from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import event
from sqlalchemy import inspect
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from idp.clock import utcnow
from idp.extensions import db
from idp.models.types import UTCDateTime


def byte_ordered(length: int):
    """A string compared byte by byte, so that a prefix is an index range.

    PostgreSQL's locales (C.UTF-8 included) order text in ways its planner does
    not trust for prefix ranges; the "C" collation is plain byte order, as on
    SQLite, whose own collation already is.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def new_subject() -> str:
    """A stable opaque identifier for the OIDC ``sub`` claim (never the login)."""
    return secrets.token_urlsafe(24)


def search_key(*parts: str | None) -> str:
    """Lower-case, accent-free, single-spaced text: what the console's prefix search compares.

    « Lefèvre  Zoé » and « lefevre zoe » give the same key, so an operator finds
    an account however the caller spells it.
    """
    text = unicodedata.normalize("NFKD", " ".join(part for part in parts if part))
    bare = "".join(char for char in text if not unicodedata.combining(char))
    return " ".join(bare.casefold().split())


# Room for the keys; NFKD and case folding may lengthen a name (« ß » -> « ss »).
KEY_LENGTHS = {"family_name": 201, "email": 254}


def _key_default(*columns: str):
    """Column default for Core inserts (bulk seeding), which skip the ORM hooks below."""

    def default(context) -> str:
        row = context.get_current_parameters()
        return search_key(*(row.get(column) for column in columns))[:KEY_LENGTHS[columns[0]]]

    return default


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Opaque, stable OIDC subject (OIDC Core 2: locally unique, never reassigned).
    subject: Mapped[str] = mapped_column(String(64), unique=True, default=new_subject)
    # Normalised identifier (NFKC, trimmed, lower case): the key of the account.
    login: Mapped[str] = mapped_column(byte_ordered(64), unique=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100), index=True)
    # SIRET of the professional's establishment: 14 digits, Luhn-checked.
    siret: Mapped[str | None] = mapped_column(byte_ordered(14), index=True)
    # argon2id hash of the chosen password; NULL until the first connection is done.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # When the current chosen password was set (expiry counts from here).
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set while a provisional password is outstanding (creation or reset).
    is_provisional: Mapped[bool] = mapped_column(default=False)
    # argon2id hash of the outstanding provisional password.
    provisional_hash: Mapped[str | None] = mapped_column(String(255))
    # End of validity of the provisional password (IDP_PROVISIONAL_PASSWORD_HOURS).
    provisional_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Consecutive password checks since the last success or lock expiry,
    # reserved before each check (atomic conditional UPDATE).
    failed_attempts: Mapped[int] = mapped_column(default=0)
    # While in the future, every login attempt gets the lock message.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Secret question wording as shown to the user (NULL: secrets not set).
    secret_question: Mapped[str | None] = mapped_column(String(200))
    # argon2id hash of the normalised secret answer.
    secret_answer_hash: Mapped[str | None] = mapped_column(String(255))
    # False: deactivated by the agency, no login at all.
    is_active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the first connection was completed: provisional password used, password
    # changed, secret question set and captcha passed, each once. NULL: the next
    # login asks again every step not done yet, the captcha included.
    first_connection_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Wrong secret answers in the forgotten-password procedure since
    # reset_failures_since (3 in 24 hours stop the mails for 24 hours; docs/flows.md).
    reset_failures: Mapped[int] = mapped_column(default=0)
    reset_failures_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # While in the future, a right answer sends no mail.
    reset_blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Days-before-expiry of the last reminder sent for the current password
    # (15, 7, 1), so that `idp notify-expiring` never sends one twice.
    expiry_reminder_days: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # search_key(family_name, given_name) and search_key(email): indexed so that the
    # Assistance console's prefix search stays fast on 100,000 accounts and more.
    name_key: Mapped[str] = mapped_column(
        byte_ordered(KEY_LENGTHS["family_name"]), index=True,
        default=_key_default("family_name", "given_name"))
    email_key: Mapped[str] = mapped_column(
        byte_ordered(KEY_LENGTHS["email"]), index=True, default=_key_default("email"))

    grants: Mapped[list[HabilitationGrant]] = relationship(  # noqa: F821
        back_populates="user", cascade="all, delete-orphan",
        foreign_keys="HabilitationGrant.user_id",
    )

    @property
    def has_secrets(self) -> bool:
        return self.secret_answer_hash is not None

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


@event.listens_for(User, "before_insert")
def _set_search_keys(_mapper, _connection, user: User) -> None:
    user.name_key = search_key(user.family_name, user.given_name)[:KEY_LENGTHS["family_name"]]
    user.email_key = search_key(user.email)[:KEY_LENGTHS["email"]]


@event.listens_for(User, "before_update")
def _refresh_search_keys(_mapper, _connection, user: User) -> None:
    """Keep the keys in step when the name or the email change (and only then: no reload)."""
    attrs = inspect(user).attrs
    if any(attrs[name].history.has_changes() for name in ("family_name", "given_name", "email")):
        _set_search_keys(_mapper, _connection, user)


class PasswordHistory(db.Model):
    """Hashes of the previous chosen passwords (policy: not one of the last 5)."""

    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_password_history_user_created", "user_id", "created_at"),)


class LoginThrottle(db.Model):
    """Failure counter for identifiers that match no account, and for known devices.

    Keyed by a keyed hash of the normalised identifier, so that an unknown
    identifier locks exactly like a known one without storing what was typed;
    or by a keyed hash of a device cookie's nonce (``idp.security.devices``).
    """

    __tablename__ = "login_throttles"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
