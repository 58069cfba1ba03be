"""Validation of a logout token by the module (Back-Channel Logout 1.0, 2.6)."""

from __future__ import annotations

import time

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_AGE = 300  # seconds: an older iat is refused
ALGORITHMS = ["RS256", "ES256"]


class LogoutTokenError(Exception):
    """The logout token is not valid; the module answers 400."""


def _decode(idp, token: str):
    """2.6 step 3: the signature, with the IdP's JWKS (fetched again for a new kid)."""
    try:
        keys = KeySet.import_key_set(idp.fetch_jwk_set())
        try:
            return jwt.decode(token, keys, algorithms=ALGORITHMS)
        except InvalidKeyIdError:
            keys = KeySet.import_key_set(idp.fetch_jwk_set(force=True))
            return jwt.decode(token, keys, algorithms=ALGORITHMS)
    except (JoseError, ValueError) as error:
        raise LogoutTokenError(f"signature: {type(error).__name__}") from None


def verify_logout_token(idp, token: str, demo: dict) -> dict:
    """The claims of a valid logout token; raises LogoutTokenError otherwise."""
    if not token or len(token) > 8000:
        raise LogoutTokenError("missing logout_token")
    decoded = _decode(idp, token)
    if decoded.header.get("typ") != "logout+jwt":
        raise LogoutTokenError("typ")  # 2.4: explicit typing, never an ID token
    claims = decoded.claims
    # 2.6 step 4: iss, aud, iat (and exp) like an ID token.
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": demo["ISSUER"]},
        aud={"essential": True, "value": demo["CLIENT_ID"]},
        iat={"essential": True}, exp={"essential": True}, jti={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as error:
        raise LogoutTokenError(f"claims: {type(error).__name__}") from None
    if claims["iat"] < time.time() - MAX_AGE:
        raise LogoutTokenError("too old")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(EVENT), dict):
        raise LogoutTokenError("events")  # 2.6 step 6
    if not claims.get("sid") and not claims.get("sub"):
        raise LogoutTokenError("sid or sub")  # step 7
    if "nonce" in claims:
        raise LogoutTokenError("nonce")  # step 8: never in a logout token
    return claims
