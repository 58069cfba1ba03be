"""The relying applications (BonusEco modules) registered with the IdP."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from idp.clock import utcnow
from idp.extensions import db
from idp.models.habilitation import Habilitation
from idp.models.types import UTCDateTime


class Client(db.Model):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Keyed SHA-256 of the generated secret (hex); NULL for public clients and
    # private_key_jwt clients. Secrets are high-entropy, so no slow hash is needed.
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    # Exact strings matched byte for byte (RFC 9700 2.1).
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000))
    # Home page of the module, linked from « Mes applications ».
    client_uri: Mapped[str | None] = mapped_column(String(2000))
    # The habilitation a user must hold to log in to this client.
    habilitation_id: Mapped[int] = mapped_column(ForeignKey("habilitations.id"))
    # client_secret_basic, client_secret_post, private_key_jwt or none.
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    is_public: Mapped[bool] = mapped_column(default=False)
    # Legacy modules only: authorization requests may come without PKCE (S256
    # stays the only method when they do send it). False: PKCE required.
    pkce_optional: Mapped[bool] = mapped_column(default=False)
    # First-party modules skip the consent page.
    skip_consent: Mapped[bool] = mapped_column(default=False)
    jwks_uri: Mapped[str | None] = mapped_column(String(2000))
    # Client's public keys for private_key_jwt, as a JWKS document.
    jwks: Mapped[dict | None] = mapped_column(JSON)
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(8), default="RS256")
    # When true, userinfo answers a signed JWT instead of JSON.
    userinfo_signed: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Free text kept by operators (never shown to users).
    notes: Mapped[str | None] = mapped_column(Text)

    habilitation: Mapped[Habilitation] = relationship(lazy="joined", innerjoin=True)
