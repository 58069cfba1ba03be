"""The first connection's completion (the agency's procedure sheet).

It is complete only once its four steps have been done, each once: the
provisional password used, a personal password chosen, the secret question
set and the captcha passed. Until then every login asks again the steps not
done yet, the captcha included, and the account records when it completed.
"""

from __future__ import annotations

from datetime import datetime

from idp import audit
from idp.models import User


def is_complete(user: User) -> bool:
    return user.first_connection_completed_at is not None


def record_completion(user: User, now: datetime) -> bool:
    """Mark the first connection complete once every step is done; whether it was."""
    if is_complete(user) or user.password_hash is None or not user.has_secrets:
        return False
    user.first_connection_completed_at = now
    audit.record("first_connection.completed", outcome="success", user=user)
    return True
