"""Client authentication on Authlib's methods: private_key_jwt (OIDC Core 9, RFC 7523 2.2)
with short-lived assertions, and Basic credentials that may be unreadable.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC
from datetime import datetime

import requests
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.jwk import KeySet
from sqlalchemy.exc import IntegrityError

from idp.clock import utcnow
from idp.extensions import db
from idp.models import UsedClientAssertion

JWKS_TIMEOUT = 5
# An assertion is made for one request: valid a few minutes at most (RFC 7523 3).
ASSERTION_MAX_LIFETIME = 300


def client_secret_basic(query_client, request):
    """Authlib's client_secret_basic; unreadable credentials name no client.

    Authlib's parser fails on a scheme without credentials (« Basic » and
    blanks: ValueError) and on bytes that are not UTF-8 (RFC 7617 2.1:
    UnicodeDecodeError, a ValueError too). Authlib then answers 401 invalid_client.
    """
    try:
        return authenticate_client_secret_basic(query_client, request)
    except ValueError:
        return None


def _is_numeric_date(value) -> bool:
    """RFC 7519 2: a number of seconds, possibly with a fraction (never a boolean)."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def check_assertion_lifetime(claims, now: float) -> None:
    """exp required, at most ASSERTION_MAX_LIFETIME after now and after iat."""
    exp = claims.get("exp")
    if not _is_numeric_date(exp):
        raise InvalidClientError(description="Missing or invalid 'exp' claim.")
    if "iat" in claims and not _is_numeric_date(claims["iat"]):
        raise InvalidClientError(description="Invalid 'iat' claim.")
    start = min(now, claims.get("iat", now))
    if exp - now > ASSERTION_MAX_LIFETIME or exp - start > ASSERTION_MAX_LIFETIME:
        raise InvalidClientError(description="The assertion is valid for too long.")


class PrivateKeyJWT(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, issuer: str, token_endpoint: str):
        super().__init__(validate_jti=True, leeway=60)
        self.issuer = issuer
        self.token_endpoint = token_endpoint

    def extract_assertion(self, assertion: str):
        try:
            return super().extract_assertion(assertion)
        except RecursionError:  # JSON nested a thousand deep
            raise InvalidClientError(description="Invalid JWT payload.") from None

    def verify_claims(self, claims):
        check_assertion_lifetime(claims, utcnow().timestamp())
        super().verify_claims(claims)

    def get_audiences(self) -> list[str]:
        # OIDC Core 9: the aud SHOULD be the token endpoint; the issuer is accepted too.
        return [self.token_endpoint, self.issuer]

    def validate_jti(self, claims, jti) -> bool:
        """RFC 7523 3: a jti is accepted once; the primary key refuses a replay atomically."""
        key = hashlib.sha256(f"{claims['sub']}:{jti}".encode()).hexdigest()
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
        try:
            with db.session.begin_nested():
                db.session.add(UsedClientAssertion(key_hash=key, expires_at=expires_at))
        except IntegrityError:
            return False
        return True

    def resolve_client_public_key(self, client) -> KeySet:
        """The client's registered JWKS, or the one at its jwks_uri."""
        document = client.row.jwks
        if document is None and client.row.jwks_uri:
            try:
                response = requests.get(client.row.jwks_uri, timeout=JWKS_TIMEOUT)
                response.raise_for_status()
                document = response.json()
            except (requests.RequestException, ValueError):
                raise InvalidClientError(description="The client keys are unreachable.") from None
        if not isinstance(document, dict):
            raise InvalidClientError(description="The client has no keys.")
        try:
            return KeySet.import_key_set(document)
        except Exception:  # a malformed JWKS is the client's fault: refuse it
            raise InvalidClientError(description="The client keys are invalid.") from None
