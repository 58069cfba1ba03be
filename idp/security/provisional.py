"""Provisional passwords: random, hashed, valid 72 hours by default, sent by mail.

An account gets one when it is created, when the welcome mails are sent again,
and when its owner (the forgotten-password procedure) or the Assistance asks for
a new password. It works until the person chooses a personal password; the old
personal password, if any, keeps working meanwhile (docs/flows.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from idp import audit
from idp import mail
from idp.models import User
from idp.security import passwords
from idp.settings import settings


@dataclass(frozen=True)
class Provisional:
    """A provisional password and its argon2 hash, made before any transaction opens."""

    password: str
    hash: str

    @classmethod
    def new(cls) -> Provisional:
        password = passwords.generate_provisional_password()
        return cls(password, passwords.hash_password(password))


def issue(user: User, now: datetime, ready: Provisional | None = None) -> str:
    """Give ``user`` a new provisional password (``ready``, or a fresh one); the clear text."""
    provisional = ready or Provisional.new()
    user.is_provisional = True
    user.provisional_hash = provisional.hash
    hours = settings().provisional_password_hours
    user.provisional_expires_at = now + timedelta(hours=hours)
    return provisional.password


def send_new(user: User, *, actor: str, reason: str, now: datetime) -> None:
    """Issue a provisional password, record who asked, and mail it once committed."""
    provisional = issue(user, now)
    audit.record("password.reset_sent", user=user, actor=actor, reason=reason)
    mail.send_later(mail.compose(
        user.email, "provisional_password", user=user, provisional=provisional,
        expires_at=user.provisional_expires_at,
    ))
