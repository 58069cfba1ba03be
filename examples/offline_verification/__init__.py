"""Verifying a BonusEco access token offline, as a module's API would (RFC 9068).

The IdP's access tokens are JWTs signed with the keys of its JWKS. A module
that receives one (a browser-only module calling its own API, say) can check
it without asking the IdP: signature, ``typ``, issuer, audience, lifetime.
What it cannot see offline is a revocation (a logout, a removed habilitation):
the token lives 10 minutes at most, and the module that needs to know at once
asks the introspection endpoint instead (docs/modules.md, « Access tokens »).

Keys rotate (``idp keys rotate``): a token signed by a key the module has not
seen yet names a new ``kid``; the module then reads the JWKS again, at most
once per ``MIN_REFETCH_SECONDS``, so that forged kids cannot make it hammer
the IdP.

    verifier = AccessTokenVerifier("https://idp.example", "mon-module")
    claims = verifier.verify(token)   # raises InvalidAccessToken
    claims["sub"], claims["scope"], claims["client_id"]
"""

from __future__ import annotations

import time

import requests
from joserfc import jws
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

ALGORITHMS = ["RS256", "ES256"]  # what the IdP signs with; never "none" or HS256
MIN_REFETCH_SECONDS = 60
LEEWAY_SECONDS = 30  # clock skew between the IdP and the module


class InvalidAccessToken(Exception):
    """The token is not a valid access token of this IdP for this module."""


class AccessTokenVerifier:
    def __init__(self, issuer: str, audience: str, clock=time.time):
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.clock = clock
        self.jwks_uri = requests.get(
            self.issuer + "/.well-known/openid-configuration", timeout=10).json()["jwks_uri"]
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")

    def _keyset(self, kid: str) -> KeySet:
        known = self._keys is not None and any(k.kid == kid for k in self._keys.keys)
        if not known and self.clock() - self._fetched_at >= MIN_REFETCH_SECONDS:
            self._keys = KeySet.import_key_set(
                requests.get(self.jwks_uri, timeout=10).json())
            self._fetched_at = self.clock()
        if self._keys is None:
            raise InvalidAccessToken("no keys")
        return self._keys

    def verify(self, token: str) -> dict:
        try:
            kid = jws.extract_compact(token.encode()).headers().get("kid")
            decoded = jwt.decode(token, self._keyset(kid), algorithms=ALGORITHMS)
        except (JoseError, ValueError, TypeError, UnicodeError) as error:
            raise InvalidAccessToken(f"undecodable: {type(error).__name__}") from None
        if decoded.header.get("typ") != "at+jwt":  # RFC 9068 4: not an ID token
            raise InvalidAccessToken("not an access token")
        claims = decoded.claims
        try:
            jwt.JWTClaimsRegistry(
                now=int(self.clock()), leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.audience},
                exp={"essential": True}, sub={"essential": True},
            ).validate(claims)
        except JoseError as error:
            raise InvalidAccessToken(f"refused: {error.error}") from None
        return claims
