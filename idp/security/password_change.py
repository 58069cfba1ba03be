"""Setting a new password: the policy, the history, the effects (docs/security.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy import select

from idp import audit
from idp import mail
from idp.extensions import db
from idp.models import PasswordHistory
from idp.models import User
from idp.security import passwords
from idp.security import sessions
from idp.settings import settings


def previous_hashes(user: User) -> list[str]:
    """The current password and the last ones (the policy's history)."""
    stmt = (
        select(PasswordHistory.password_hash)
        .where(PasswordHistory.user_id == user.id)
        .order_by(PasswordHistory.created_at.desc(), PasswordHistory.id.desc())
        .limit(passwords.HISTORY_SIZE)
    )
    hashes = list(db.session.execute(stmt).scalars())
    if user.password_hash and user.password_hash not in hashes:
        # Set outside the history (an account made with its password), or a new hash of
        # the current password stored at login (stronger profile): one more to check, so
        # that none of the last ones drops out.
        hashes.insert(0, user.password_hash)
    return hashes


def set_password(user: User, new_password: str, now: datetime, *, reason: str,
                 keep_session_id: int | None = None) -> None:
    """Check the policy, store the new password, end the provisional one and other sessions.

    Raises ``PasswordRejected`` with the French reason; changes nothing then.
    """
    passwords.check_policy(new_password, user, previous_hashes(user))
    new_hash = passwords.hash_password(new_password)
    user.password_hash = new_hash
    user.password_changed_at = now
    user.is_provisional = False
    user.provisional_hash = None
    user.provisional_expires_at = None
    user.expiry_reminder_days = None
    db.session.add(PasswordHistory(user_id=user.id, password_hash=new_hash, created_at=now))
    db.session.flush()
    _trim_history(user)
    ended = sessions.end_all_sessions(user.id, now, keep_id=keep_session_id)
    audit.record("password.changed", outcome="success", user=user, actor=user.login,
                 reason=reason, sessions_ended=len(ended))
    mail.send_later(mail.compose(user.email, "password_changed", user=user, now=now))


def _trim_history(user: User) -> None:
    keep = select(PasswordHistory.id).where(PasswordHistory.user_id == user.id).order_by(
        PasswordHistory.created_at.desc(), PasswordHistory.id.desc()
    ).limit(passwords.HISTORY_SIZE)
    db.session.execute(
        delete(PasswordHistory).where(
            PasswordHistory.user_id == user.id, PasswordHistory.id.not_in(keep)
        )
    )


def expiry_of(user: User) -> datetime | None:
    return passwords.password_expires_at(
        user.password_changed_at, settings().password_max_age_days
    )
