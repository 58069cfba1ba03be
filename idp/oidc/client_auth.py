"""private_key_jwt client authentication (OIDC Core 9, RFC 7523 2.2) on Authlib's assertion."""

from __future__ import annotations

import hashlib
from datetime import UTC
from datetime import datetime

import requests
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.jwk import KeySet
from sqlalchemy.exc import IntegrityError

from idp.extensions import db
from idp.models import UsedClientAssertion

JWKS_TIMEOUT = 5


class PrivateKeyJWT(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, issuer: str, token_endpoint: str):
        super().__init__(validate_jti=True, leeway=60)
        self.issuer = issuer
        self.token_endpoint = token_endpoint

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
