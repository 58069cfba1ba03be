"""OpenID Connect state: signing keys, authorization codes and issued tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from idp.clock import utcnow
from idp.extensions import db
from idp.models.types import UTCDateTime


class SigningKey(db.Model):
    """A key of the IdP that signs ID tokens, access tokens and signed userinfo."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    # JWK "kid" header of the tokens it signs (random, public).
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    # "RS256" or "ES256".
    alg: Mapped[str] = mapped_column(String(8))
    # Private JWK as JSON text; only its public part is ever published.
    private_jwk: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by `idp keys rotate`: the key no longer signs.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # After a retirement: end of publication in the JWKS (tokens it signed are over).
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_signing_keys_alg_retired", "alg", "retired_at"),)


class AuthorizationCode(db.Model):
    """An authorization code (RFC 6749 4.1.2): single use, 60 seconds."""

    __tablename__ = "authorization_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the code (hex); the code itself is never stored.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # SSO session the code was issued in (OIDC sid claim).
    sid: Mapped[str] = mapped_column(String(64))
    # Exact redirect_uri of the request, checked again at the token endpoint.
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    # Granted scope, space separated.
    scope: Mapped[str] = mapped_column(String(500))
    nonce: Mapped[str | None] = mapped_column(String(500))
    # PKCE (RFC 7636): the S256 challenge, when one was sent.
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    # When the password was checked (OIDC auth_time), and how (amr), at which level (acr).
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    acr: Mapped[str] = mapped_column(String(32))
    # The "claims" request parameter (OIDC Core 5.5), parsed; NULL when absent.
    claims: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set by the one redemption that won (conditional UPDATE); a replay finds it set.
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Token family created by that redemption, revoked when the code is replayed.
    family_id: Mapped[str | None] = mapped_column(String(64))

    # Always needed together (token endpoint, userinfo): one query, not three.
    client = relationship("Client", lazy="joined", innerjoin=True)
    user = relationship("User", lazy="joined", innerjoin=True)

    # Authlib's AuthorizationCodeMixin (OIDC flavour).
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.auth_time.timestamp())

    def get_acr(self) -> str:
        return self.acr

    def get_amr(self) -> list[str]:
        return list(self.amr)


class Token(db.Model):
    """One issuance at the token endpoint: a JWT access token and maybe a refresh token."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "jti" claim of the JWT access token (RFC 9068), to revoke it.
    access_jti: Mapped[str] = mapped_column(String(64), unique=True)
    # SHA-256 of the opaque refresh token (hex); NULL when none was issued.
    refresh_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Every token descending from one code redemption shares it (RFC 9700 4.14.2).
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    # The token whose refresh produced this one.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id", ondelete="SET NULL"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SSO session behind the grant; its end ends the refresh tokens.
    sid: Mapped[str] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(String(500))
    # The "claims" request parameter of the authorization (OIDC Core 5.5), for userinfo.
    claims: Mapped[dict | None] = mapped_column(JSON)
    # Carried over to refreshed ID tokens and access tokens.
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by revocation, a code replay, a refresh reuse or the end of the session.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the refresh token was used once (conditional UPDATE): reuse is theft.
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Always needed together (token endpoint, userinfo): one query, not three.
    client = relationship("Client", lazy="joined", innerjoin=True)
    user = relationship("User", lazy="joined", innerjoin=True)


class UsedClientAssertion(db.Model):
    """The jti of private_key_jwt assertions already seen (RFC 7523 3, replay)."""

    __tablename__ = "used_client_assertions"

    # SHA-256 of "client_id:jti"; the primary key makes a replay fail on insert.
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Until when the assertion could be replayed (its exp); purged afterwards.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
