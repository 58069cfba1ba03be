"""The registered modules as Authlib sees them (its ClientMixin), without touching the model."""

from __future__ import annotations

import hmac
from datetime import datetime

from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.util import scope_to_list
from sqlalchemy import select

from idp.extensions import db
from idp.extensions import request_cache
from idp.models import Client
from idp.models import User
from idp.security.keyed_hash import keyed_hash

# OIDC scopes, and those of ProConnect (the French federation), named after their claim.
SUPPORTED_SCOPES = ("openid", "profile", "email", "habilitations", "uid", "given_name",
                    "usual_name", "siret")
GRANT_TYPES = ("authorization_code", "refresh_token")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")


def is_client_id(value: str) -> bool:
    """Printable ASCII, 1 to 64 characters: what registration accepts."""
    return 0 < len(value) <= 64 and value.isascii() and value.isprintable()


def hash_client_secret(secret: str) -> str:
    return keyed_hash("client-secret", secret)


class OAuthClient(ClientMixin):
    """A ``Client`` row with the methods Authlib calls."""

    def __init__(self, row: Client):
        self.row = row

    @property
    def client_id(self) -> str:
        return self.row.client_id

    @property
    def is_public(self) -> bool:
        return self.row.is_public

    @property
    def id_token_signed_response_alg(self) -> str:
        return self.row.id_token_signed_response_alg or "RS256"

    @property
    def client_metadata(self) -> dict:
        """OIDC Registration 2 names read by Authlib's userinfo and end session endpoints."""
        metadata = {"post_logout_redirect_uris": list(self.row.post_logout_redirect_uris or [])}
        if self.row.userinfo_signed:
            metadata["userinfo_signed_response_alg"] = self.id_token_signed_response_alg
        return metadata

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        # OIDC Core 3.1.2.1: redirect_uri is REQUIRED; never fall back to a registered one.
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """Known scopes only (OIDC Core 3.1.2.1: unknown ones are ignored); openid required."""
        scopes = [s for s in dict.fromkeys(scope_to_list(scope) or []) if s in SUPPORTED_SCOPES]
        if "openid" not in scopes:
            return None
        return " ".join(scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string comparison (RFC 9700 2.1, 4.1.3): no prefix, case or port leniency.
        return redirect_uri in (self.row.redirect_uris or [])

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.row.secret_hash:
            return False
        return hmac.compare_digest(hash_client_secret(client_secret), self.row.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # One registered method per client, for every endpoint.
        return method in AUTH_METHODS and method == self.row.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES


def modules_open_to(user: User, now: datetime) -> list[Client]:
    """The active modules whose habilitation the user currently holds (the home page)."""
    valid = {grant.habilitation_id for grant in user.grants if grant.is_valid(now)}
    if not valid:
        return []
    stmt = (
        select(Client)
        .where(Client.is_active.is_(True), Client.habilitation_id.in_(valid))
        .order_by(Client.name)
    )
    return list(db.session.execute(stmt).scalars())


def query_client(client_id) -> OAuthClient | None:
    """An active client by its client_id; disabled clients do not exist (never redirected to)."""
    if not isinstance(client_id, str) or not is_client_id(client_id):
        return None  # a NUL, say, that PostgreSQL would refuse to compare
    # Authlib asks up to three times per request: read once per request (never longer,
    # so that a client disabled by the Assistance console is refused at once).
    known = request_cache("clients")
    if client_id not in known:
        row = db.session.execute(
            select(Client).where(Client.client_id == client_id, Client.is_active.is_(True))
        ).scalar_one_or_none()
        known[client_id] = OAuthClient(row) if row is not None else None
    return known[client_id]
