"""Authlib's authorization server, built once per application and stored on it.

The views reach it through ``idp.oidc.provider.current_server()``."""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.base import invalid_error_characters
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749 import UnsupportedGrantTypeError
from authlib.oauth2.rfc6749 import UnsupportedResponseTypeError
from flask import Flask

from idp.oidc import clients
from idp.oidc import tokens
from idp.oidc.client_auth import PrivateKeyJWT
from idp.oidc.client_auth import client_secret_basic
from idp.oidc.endpoints import EndSessionEndpoint
from idp.oidc.endpoints import IntrospectionEndpoint
from idp.oidc.endpoints import RevocationEndpoint
from idp.oidc.endpoints import UserInfoEndpoint
from idp.oidc.endpoints import UserInfoProtector
from idp.oidc.grants import AuthorizationCodeGrant
from idp.oidc.grants import OpenIDCode
from idp.oidc.grants import OpenIDRefresh
from idp.oidc.grants import RefreshTokenGrant
from idp.oidc.grants import S256CodeChallenge
from idp.oidc.provider import EXTENSION_KEY
from idp.oidc.provider import IssuerParameter
from idp.oidc.provider import endpoint_url
from idp.settings import settings

# The token request's parameters (RFC 6749 4.1.3, 6; RFC 7636 4.5; RFC 7523 2.2):
# each at most once (3.2).
TOKEN_PARAMETERS = ("grant_type", "code", "redirect_uri", "code_verifier", "refresh_token",
                    "scope", "client_id", "client_secret", "client_assertion",
                    "client_assertion_type")


class UnsupportedGrantType(UnsupportedGrantTypeError):
    """unsupported_grant_type, without echoing the value (see ``Server``)."""

    def __init__(self):
        super().__init__(None)

    def get_error_description(self):
        return "The grant type is not supported by the server."


class Server(AuthorizationServer):
    """Authlib's server, with the error codes of RFC 6749 where Authlib differs.

    An unknown ``response_type`` or ``grant_type`` is never echoed in the error:
    Authlib puts the value in ``error_description``, whose characters RFC 6749
    4.1.2.1 restricts to printable ASCII without « " » and « \\ »; any other
    character (« é », a control) made it raise ValueError, a 500.
    """

    def create_token_response(self, request=None):
        """invalid_request for a missing or repeated parameter (RFC 6749 5.2, 3.2), before
        Authlib, which says unsupported_grant_type when grant_type is missing."""
        payload = self.create_oauth2_request(request).payload
        for name in TOKEN_PARAMETERS:
            if len(payload.datalist.get(name, [])) > 1:
                return self.handle_error_response(
                    None, InvalidRequestError(f"Multiple '{name}' in request."))
        if not payload.grant_type:
            return self.handle_error_response(
                None, InvalidRequestError("Missing 'grant_type' in request."))
        return super().create_token_response(request)

    def get_token_grant(self, request):
        if any(grant_cls.check_token_endpoint(request) for grant_cls, _ in self._token_grants):
            return super().get_token_grant(request)
        raise UnsupportedGrantType()

    def get_authorization_grant(self, request):
        response_type = request.payload.response_type or ""
        if not invalid_error_characters(response_type):
            return super().get_authorization_grant(request)
        # The first argument is the attribute, the second the description (Authlib
        # itself passes them the other way round, hence the raw value as description).
        raise UnsupportedResponseTypeError(
            response_type, "The response type is not supported by the server.",
            redirect_uri=self._checked_redirect_uri(request))

    def _checked_redirect_uri(self, request) -> str | None:
        """The redirect URI errors may go back to (RFC 6749 4.1.2.1), as Authlib decides it."""
        client = self.query_client(request.payload.client_id)
        if client is None:
            return None
        requested = request.payload.redirect_uri
        if not requested:
            return client.get_default_redirect_uri()
        return requested if client.check_redirect_uri(requested) else None


def build_server(app: Flask) -> AuthorizationServer:
    issuer = settings(app).issuer
    server = Server(query_client=clients.query_client, save_token=tokens.save_token)
    server.init_app(app)
    server.issuer = issuer
    server.register_token_generator("default", tokens.AccessTokenGenerator(issuer))
    server.register_client_auth_method("client_secret_basic", client_secret_basic)
    server.register_client_auth_method(
        PrivateKeyJWT.CLIENT_AUTH_METHOD,
        PrivateKeyJWT(issuer, endpoint_url(issuer, "token")),
    )
    server.register_grant(AuthorizationCodeGrant,
                          [S256CodeChallenge(required=True), OpenIDCode(issuer)])
    server.register_grant(RefreshTokenGrant, [OpenIDRefresh(issuer)])
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(EndSessionEndpoint)
    protector = UserInfoProtector()
    protector.register_token_validator(tokens.AccessTokenValidator(issuer))
    server.register_endpoint(UserInfoEndpoint(resource_protector=protector))
    server.register_extension(IssuerParameter(issuer))
    return server


def init_app(app: Flask) -> None:
    """Build the server for ``app``; ``create_app`` registers the OIDC blueprints."""
    from idp.oidc import backchannel
    from idp.oidc import documents

    app.extensions[EXTENSION_KEY] = build_server(app)
    backchannel.init_app(app)
    documents.init_app(app)
