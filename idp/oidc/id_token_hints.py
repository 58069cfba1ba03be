"""ID tokens handed back to the IdP as ``id_token_hint``: at /authorize (OIDC Core
3.1.2.1) and at /end-session (RP-Initiated Logout 1.0 2).

A hint is an ID token this IdP signed, whatever its ``exp``: RP-Initiated Logout
2 accepts "an expired ID Token of a recent session", and OIDC Core 3.1.2.1 says
the hint need not be current. Whatever else the IdP signs is not one: access
tokens (``typ`` at+jwt, RFC 9068 2.1), logout tokens (``typ`` logout+jwt),
signed userinfo responses (no ``iat``); nor is anything signed by another key or
naming another issuer. "Recent" is within the longest SSO session.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta

from joserfc import jwt
from joserfc.errors import JoseError

from idp.oidc import keys
from idp.settings import settings

MAX_HINT_LENGTH = 8000
# RFC 7519 5.1: "JWT" is the only type an untyped ID token may declare.
ID_TOKEN_TYPES = (None, "JWT")


def read_id_token_hint(value: object, issuer: str, now: datetime) -> dict | None:
    """The claims of a recent ID token this IdP signed; None for anything else."""
    if not isinstance(value, str) or len(value) > MAX_HINT_LENGTH or value.count(".") != 2:
        return None
    keyset = keys.verification_keyset(now, keys.kid_of(value))
    try:
        decoded = jwt.decode(value, keyset, algorithms=list(keys.ALGORITHMS))
    except (JoseError, ValueError, TypeError, KeyError, UnicodeError):
        return None  # undecodable, unsigned, or signed by a key that is not ours
    claims = dict(decoded.claims)
    if not _is_id_token(decoded.header, claims, issuer) or not _is_recent(claims, now):
        return None
    return claims


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_id_token(header: dict, claims: dict, issuer: str) -> bool:
    """What every ID token of ours carries (OIDC Core 2; ``sid``: Back-Channel Logout 2.1)."""
    typ = header.get("typ")
    if (typ.upper() if isinstance(typ, str) else typ) not in ID_TOKEN_TYPES:
        return False
    audience = claims.get("aud")
    return (
        claims.get("iss") == issuer
        and isinstance(claims.get("sub"), str) and bool(claims["sub"])
        and (isinstance(audience, str) or isinstance(audience, list))
        and all(_is_int(claims.get(name)) for name in ("iat", "exp", "auth_time"))
        and isinstance(claims.get("sid"), str)
    )


def _is_recent(claims: dict, now: datetime) -> bool:
    """Issued within the longest SSO session: older, no session of it can be alive."""
    oldest = now - timedelta(hours=settings().session_max_hours)
    return claims["iat"] >= oldest.timestamp()
