"""Authlib's revocation (RFC 7009), introspection (RFC 7662), userinfo (OIDC Core 5.3)
and end-session (RP-Initiated Logout 1.0) endpoints, with what Authlib leaves to us."""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oidc.core import UserInfo
from authlib.oidc.core import UserInfoEndpoint as _UserInfoEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from flask import g
from flask import request

from idp import audit
from idp.auth.current import end_browser_session
from idp.clock import utcnow
from idp.oidc import claims
from idp.oidc import id_token_hints
from idp.oidc import keys
from idp.oidc import tokens
from idp.oidc.clients import AUTH_METHODS
from idp.oidc.clients import OAuthClient


class RevocationEndpoint(_RevocationEndpoint):
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def query_token(self, token_string, token_type_hint):
        return tokens.find_presented(token_string, token_type_hint, self.server.issuer)

    def revoke_token(self, token, request) -> None:
        """A refresh token takes its whole family with it (RFC 7009 2.1)."""
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
        # A module introspects only its own tokens: tokens stay with their audience.
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


class BearerChallenge(OAuth2Error):
    """401 with the bare ``Bearer`` challenge: the request carried no access token, so
    no error code (RFC 6750 3.1: the client may not know it needed one)."""

    status_code = 401

    def get_body(self):
        return []

    def get_headers(self):
        return [*super().get_headers(), ("WWW-Authenticate", "Bearer")]


class BearerRequestError(OAuth2Error):
    """400 ``invalid_request`` (RFC 6750 3.1): a malformed Authorization header, or the
    token sent twice (2: clients MUST NOT use more than one method)."""

    error = "invalid_request"
    status_code = 400

    def get_headers(self):
        challenge = f'Bearer error="{self.error}", error_description="{self.description}"'
        return [*super().get_headers(), ("WWW-Authenticate", challenge)]


class UserInfoProtector(ResourceProtector):
    """The access token from the Authorization header (RFC 6750 2.1) or a form-encoded
    POST body (2.2: pyoidc's default), never from the query string (2.3: it ends up in
    logs and browser history)."""

    def parse_request_authorization(self, _request):
        header = request.headers.get("Authorization")
        in_body = (request.method == "POST"
                   and request.mimetype == "application/x-www-form-urlencoded"
                   and "access_token" in request.form)
        if header is None:
            if not in_body:
                raise BearerChallenge()
            return self.get_token_validator("bearer"), request.form["access_token"]
        if in_body:
            raise BearerRequestError("The access token was sent twice.")
        scheme, _, token_string = header.partition(" ")
        if scheme.lower() != "bearer":
            raise BearerChallenge()  # another scheme: no bearer credentials at all
        if not token_string.strip():
            raise BearerRequestError("The Authorization header holds no access token.")
        return self.get_token_validator("bearer"), token_string.strip()


class UserInfoEndpoint(_UserInfoEndpoint):
    """JSON, or a JWT signed with the client's algorithm when it registered so."""

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


class EndSessionEndpoint(_EndSessionEndpoint):
    def _validate_id_token_hint(self, id_token_hint):
        # 2: "the OP MUST validate that it was the issuer of the ID Token": only a
        # recent ID token of ours, never another JWT we signed (an access token).
        claims = id_token_hints.read_id_token_hint(id_token_hint, self.server.issuer, utcnow())
        if claims is None:
            raise InvalidRequestError("Invalid 'id_token_hint'.")
        return claims

    def validate_request(self, request):
        try:
            validated = super().validate_request(request)
        except (ValueError, TypeError, KeyError):
            raise InvalidRequestError("Invalid 'id_token_hint'.") from None
        if validated.id_token_claims is not None \
                and request.payload.data.get("post_logout_redirect_uri") \
                and validated.redirect_uri is None:
            # 3: not exactly registered for the hint's client: an error, shown (4).
            raise InvalidRequestError("The 'post_logout_redirect_uri' is not registered.")
        return validated

    def end_session(self, end_session_request) -> None:
        client = end_session_request.client
        end_browser_session(utcnow(), via="end_session",
                            client_id=client.client_id if client is not None else None)
