"""Authlib's revocation (RFC 7009), introspection (RFC 7662) and userinfo (OIDC Core 5.3)."""

from __future__ import annotations

from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oidc.core import UserInfo
from authlib.oidc.core import UserInfoEndpoint as _UserInfoEndpoint
from flask import g

from idp import audit
from idp.assistance.clients import AUTH_METHODS
from idp.clock import utcnow
from idp.oidc import claims
from idp.oidc import keys
from idp.oidc import tokens
from idp.oidc.clients import OAuthClient


class RevocationEndpoint(_RevocationEndpoint):
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def query_token(self, token_string, token_type_hint):
        return tokens.find_presented(token_string, token_type_hint, self.server.issuer)

    def revoke_token(self, token, request) -> None:
        """A refresh token takes its whole family with it (RFC 7009 2.1, RT-07)."""
        now = utcnow()
        if token.kind == "refresh_token":
            tokens.revoke_family(token.row.family_id, now)
        elif token.row.revoked_at is None:
            token.row.revoked_at = now
        audit.record("token.revoked", outcome="success", user=token.row.user,
                     client_id=request.client.client_id, kind=token.kind)


class IntrospectionEndpoint(_IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def query_token(self, token_string, token_type_hint):
        return tokens.find_presented(token_string, token_type_hint, self.server.issuer)

    def check_permission(self, token, client, request) -> bool:
        # A module introspects only its own tokens (HAB-05: tokens stay with their audience).
        return token.check_client(client)

    def introspect_token(self, token) -> dict:
        row = token.row
        payload = {
            "active": True, "client_id": row.client.client_id, "scope": row.scope,
            "sub": row.user.subject, "aud": row.client.client_id, "iss": self.server.issuer,
            "exp": int(token.expires_at.timestamp()), "iat": int(row.issued_at.timestamp()),
            "sid": row.sid,
        }
        if token.kind == "access_token":
            payload.update(token_type="Bearer", jti=row.access_jti)  # noqa: S106 (a type name)
        return payload


class UserInfoEndpoint(_UserInfoEndpoint):
    """JSON, or a JWT signed with the client's algorithm when it registered so (SPEC 2.1)."""

    def get_issuer(self) -> str:
        return self.server.issuer

    def generate_user_info(self, user, scope) -> UserInfo:
        # Authlib's resource protector keeps the validated token on g.
        row = g.authlib_server_oauth2_token.row
        return UserInfo(claims.user_claims(user, row.client, scope, row.claims, "userinfo",
                                           utcnow()))

    def resolve_private_key(self):
        client = OAuthClient(g.authlib_server_oauth2_token.row.client)
        return keys.signing_keyset(client.id_token_signed_response_alg, utcnow())
