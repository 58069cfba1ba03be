"""Access tokens (RFC 9068 JWTs), opaque rotating refresh tokens, and their records.

Each issuance is one ``Token`` row: the access token's ``jti`` (so a JWT can be
revoked for userinfo and introspection) and the SHA-256 of the refresh token.
Rows descending from one code redemption share a ``family_id``: reusing a
rotated refresh token, or replaying the code, revokes the whole family
(RFC 9700 4.14.2, RFC 6749 4.1.2).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc6750.errors import InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc import jws
from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import select
from sqlalchemy import update

from idp import audit
from idp.clock import utcnow
from idp.extensions import db
from idp.extensions import request_cache
from idp.models import Token
from idp.models import UserSession
from idp.oidc import keys
from idp.oidc.clients import OAuthClient

# Short-lived: a revoked habilitation stops a module's offline use within this.
ACCESS_TOKEN_LIFETIME = 600
REFRESH_PREFIX = "idprt_"


def _refresh_token(**_context) -> str:
    """256 random bits (RFC 6749 10.10) behind a prefix that makes a leaked one recognisable."""
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def refresh_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class _Subject:
    """What Authlib reads of the user for the ``sub`` of an access token."""

    def __init__(self, user):
        self.user = user

    def get_user_id(self) -> str:
        # RFC 9068 2.2: sub is the OIDC subject, the opaque one (never the login).
        return self.user.subject


class _Signer(JWTBearerTokenGenerator):
    """Authlib's RFC 9068 generator for one algorithm, signing with its current key."""

    def get_jwks(self):
        return keys.signing_keyset(self.alg, utcnow())


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """RFC 9068 access tokens (``typ`` at+jwt), signed like the module's ID tokens.

    The module's ``id_token_signed_response_alg`` (RS256 by default, ES256 when
    registered so) signs its access tokens too: a module verifies one algorithm,
    and ES256 costs a fifth of RSA 3072 at every token response.
    """

    def __init__(self, issuer: str):
        super().__init__(issuer=issuer, alg=keys.DEFAULT_ALG,
                         refresh_token_generator=_refresh_token,
                         expires_generator=ACCESS_TOKEN_LIFETIME)
        # The signers write the JWT's exp: the same lifetime as the response's
        # expires_in, whatever the grant (RFC 9068 2.2; RFC 6749 5.1).
        self._signers = {alg: _Signer(issuer=issuer, alg=alg,
                                      expires_generator=ACCESS_TOKEN_LIFETIME)
                         for alg in keys.ALGORITHMS}

    def access_token_generator(self, client, grant_type, user, scope):
        alg = getattr(client, "id_token_signed_response_alg", None) or keys.DEFAULT_ALG
        signer = self._signers.get(alg, self._signers[keys.DEFAULT_ALG])
        return signer.access_token_generator(client, grant_type, _Subject(user), scope)


@dataclass
class PresentedToken:
    """A ``Token`` row as presented: its access token or its refresh token (TokenMixin)."""

    row: Token
    kind: str  # "access_token" or "refresh_token"

    @property
    def scope(self) -> str:
        return self.row.scope

    @property
    def expires_at(self) -> datetime:
        if self.kind == "refresh_token":
            return self.row.refresh_expires_at
        return self.row.access_expires_at

    def check_client(self, client: OAuthClient) -> bool:
        return self.row.client_id == client.row.id

    def get_scope(self) -> str:
        return self.row.scope

    def is_expired(self) -> bool:
        return self.expires_at is None or self.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        rotated = self.kind == "refresh_token" and self.row.rotated_at is not None
        return self.row.revoked_at is not None or rotated

    def get_user(self):
        return self.row.user

    def get_client(self) -> OAuthClient:
        return OAuthClient(self.row.client)


def session_alive(sid: str, now: datetime) -> UserSession | None:
    """The SSO session behind a grant, unless ended or past its absolute end.

    Asked twice per token request (grant check, then the refresh token's end):
    read once per request.
    """
    seen = request_cache("sso_sessions")
    if sid not in seen:
        seen[sid] = db.session.execute(
            select(UserSession).where(UserSession.sid == sid)).scalar()
    row = seen[sid]
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    return row


def _jti(access_token: str) -> str:
    return json.loads(jws.extract_compact(access_token.encode()).payload)["jti"]


def save_token(token: dict, request) -> Token:
    """Authlib's save_token: record the issuance of the code or refresh grant."""
    now = utcnow()
    code, parent = request.authorization_code, request.refresh_token
    origin = code if code is not None else parent.row
    family_id = code.family_id if code is not None else parent.row.family_id
    session = session_alive(origin.sid, now)
    refresh = token.get("refresh_token")
    row = Token(
        access_jti=_jti(token["access_token"]),
        refresh_hash=refresh_hash(refresh) if refresh else None,
        family_id=family_id,
        parent_id=parent.row.id if parent is not None else None,
        client_id=request.client.row.id, user_id=request.user.id, sid=origin.sid,
        scope=token.get("scope", ""), claims=origin.claims, auth_time=origin.auth_time,
        issued_at=now, access_expires_at=now + timedelta(seconds=token["expires_in"]),
        refresh_expires_at=session.expires_at if refresh and session else None,
    )
    db.session.add(row)
    audit.record("token.issued", outcome="success", user=request.user,
                 client_id=request.client.client_id, grant=request.payload.grant_type,
                 family=family_id)
    return row


def find_refresh(value: str) -> Token | None:
    if not isinstance(value, str) or not value.startswith(REFRESH_PREFIX) or len(value) > 200:
        return None
    stmt = select(Token).where(Token.refresh_hash == refresh_hash(value))
    return db.session.execute(stmt).scalar_one_or_none()


def find_access(value: str, issuer: str) -> Token | None:
    """The record of a JWT access token we signed, whatever its state."""
    if not isinstance(value, str) or value.count(".") != 2 or len(value) > 8000:
        return None
    keyset = keys.verification_keyset(utcnow(), keys.kid_of(value))
    try:
        decoded = jwt.decode(value, keyset, algorithms=list(keys.ALGORITHMS))
    except (JoseError, ValueError, TypeError, KeyError):
        return None  # undecodable, foreign or unknown-kid tokens are simply unknown
    if decoded.header.get("typ") != "at+jwt" or decoded.claims.get("iss") != issuer:
        return None
    stmt = select(Token).where(Token.access_jti == str(decoded.claims.get("jti")))
    return db.session.execute(stmt).scalar_one_or_none()


def find_presented(value: str, hint: str | None, issuer: str) -> PresentedToken | None:
    """Either kind of token, the hint only deciding the order (RFC 7009 2.1)."""
    order = ("refresh_token", "access_token")
    if hint == "access_token":
        order = order[::-1]
    for kind in order:
        row = find_refresh(value) if kind == "refresh_token" else find_access(value, issuer)
        if row is not None:
            return PresentedToken(row, kind)
    return None


def revoke_tokens(now: datetime, *where) -> int:
    """Revoke every live token matching ``where`` (refresh tokens, and access tokens
    at introspection and userinfo) in one UPDATE; how many."""
    return db.session.execute(
        update(Token).where(Token.revoked_at.is_(None), *where)
        .values(revoked_at=now).execution_options(synchronize_session=False)
    ).rowcount


def revoke_family(family_id: str, now: datetime) -> int:
    """Revoke every live token of a family; how many."""
    revoked = revoke_tokens(now, Token.family_id == family_id)
    db.session.expire_all()
    return revoked


def claim_rotation(row: Token, now: datetime) -> bool:
    """Mark a refresh token used, atomically: False when another request did first."""
    result = db.session.execute(
        update(Token)
        .where(Token.id == row.id, Token.rotated_at.is_(None), Token.revoked_at.is_(None))
        .values(rotated_at=now).execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


class AccessTokenValidator(BearerTokenValidator):
    """Bearer JWT access tokens for userinfo: signature, issuer, then the record's state."""

    def __init__(self, issuer: str):
        super().__init__()
        self.issuer = issuer

    def authenticate_token(self, token_string: str) -> PresentedToken | None:
        row = find_access(token_string, self.issuer)
        return PresentedToken(row, "access_token") if row is not None else None

    def validate_token(self, token, scopes, request):
        super().validate_token(token, scopes, request)
        if not token.row.user.is_active:
            raise InvalidTokenError(realm=self.realm, extra_attributes=self.extra_attributes)
