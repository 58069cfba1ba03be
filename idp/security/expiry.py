"""Password expiry reminders: 15, 7 and 1 days before (``idp notify-expiring``, daily)."""

from __future__ import annotations

import math
from datetime import datetime
from datetime import timedelta

from sqlalchemy import select

from idp import audit
from idp import mail
from idp.extensions import db
from idp.models import User
from idp.security.passwords import password_expires_at
from idp.settings import settings

REMINDER_DAYS = (15, 7, 1)


def reminder_stage(days_left: int) -> int | None:
    """The smallest reminder stage not before ``days_left`` (None: too early or expired)."""
    if days_left <= 0:
        return None
    stages = [stage for stage in REMINDER_DAYS if days_left <= stage]
    return min(stages) if stages else None


def send_expiry_reminders(now: datetime) -> int:
    """Mail each user whose password expires soon, once per stage; returns the count.

    Idempotent: the stage sent is stored, so a second run the same day sends nothing.
    """
    max_age = settings().password_max_age_days
    horizon = now - timedelta(days=max_age - max(REMINDER_DAYS))
    stmt = select(User).where(
        User.is_active.is_(True),
        User.password_hash.is_not(None),
        User.password_changed_at.is_not(None),
        User.password_changed_at <= horizon,
    )
    sent = 0
    for user in db.session.execute(stmt).scalars():
        expires_at = password_expires_at(user.password_changed_at, max_age)
        days_left = math.ceil((expires_at - now) / timedelta(days=1))
        stage = reminder_stage(days_left)
        if stage is None or (user.expiry_reminder_days is not None
                             and user.expiry_reminder_days <= stage):
            continue
        user.expiry_reminder_days = stage
        audit.record("password.expiry_reminder", user=user, actor="cli", days_left=days_left)
        mail.send_later(mail.compose(user.email, "password_expiring", user=user,
                                     expires_at=expires_at, days_left=days_left))
        sent += 1
    return sent
