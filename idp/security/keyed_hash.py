"""Keyed SHA-256 (HMAC) of values that must be looked up but never stored in clear."""

import hashlib
import hmac

from flask import current_app


def keyed_hash(purpose: str, value: str) -> str:
    """HMAC-SHA-256 of ``value`` under the app's secret key, separated by purpose."""
    key = hashlib.sha256(f"{purpose}:{current_app.secret_key}".encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    """Plain SHA-256 of a high-entropy random token (session and flow ids)."""
    return hashlib.sha256(token.encode()).hexdigest()


def keyed_identifier(login: str) -> str:
    """How an identifier that names no account is recorded (audit, rate-limit keys).

    What was typed may be a password in the wrong field: only a keyed hash of it
    is kept, enough to see the same identifier tried again, never its text
    (OWASP Logging Cheat Sheet, « Data to exclude »).
    """
    return "hmac:" + keyed_hash("unknown-identifier", login)[:32]


def recorded_login(named_account: object | None, login: str) -> str:
    """The identifier as the audit trail may show it: in clear only when it names an account."""
    return login if named_account is not None else keyed_identifier(login)
