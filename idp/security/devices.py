"""Device cookies (OWASP « Slow Down Online Guessing Attacks with Device Cookies »).

A successful login leaves in the browser a signed cookie that names the login
and carries a random nonce (nothing secret: it proves only that this browser
logged in as that login before). An attempt presenting a valid one for the
identifier typed is counted against that device alone, never against the
account: failures made elsewhere neither lock nor rate-limit it, and three
failures made on it lock this device's cookie for the lock duration, with the
same atomic reservation as the account (``idp.security.lockout``).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app
from itsdangerous import BadData
from itsdangerous import URLSafeTimedSerializer

from idp.security.keyed_hash import keyed_hash

SALT = "device-cookie"
LIFETIME = timedelta(days=365)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=SALT)


def issue(login: str) -> str:
    """A new cookie value for ``login`` (a fresh nonce at each successful login)."""
    return _serializer().dumps({"login": login, "nonce": secrets.token_urlsafe(16)})


def nonce_for(value: str | None, login: str) -> str | None:
    """The nonce of a valid, unexpired cookie naming ``login``; None for anything else."""
    if not value or len(value) > 512:
        return None
    try:
        payload = _serializer().loads(value, max_age=int(LIFETIME.total_seconds()))
    except BadData:
        return None
    if not isinstance(payload, dict) or payload.get("login") != login:
        return None
    nonce = payload.get("nonce")
    return nonce if isinstance(nonce, str) and nonce else None


def counter_key(nonce: str) -> str:
    """The key of the device's failure counter (a ``login_throttles`` row)."""
    return keyed_hash("device-throttle", nonce)
