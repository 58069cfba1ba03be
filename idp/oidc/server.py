"""Authlib's authorization server, built per application (STYLE.md) and stored on it."""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2.base import invalid_error_characters
from authlib.oauth2.rfc6749 import UnsupportedResponseTypeError
from authlib.oauth2.rfc9207 import IssuerParameter as _IssuerParameter
from flask import Flask
from flask import current_app

from idp.oidc import clients
from idp.oidc import tokens
from idp.oidc.client_auth import PrivateKeyJWT
from idp.oidc.client_auth import client_secret_basic
from idp.oidc.endpoints import IntrospectionEndpoint
from idp.oidc.endpoints import RevocationEndpoint
from idp.oidc.endpoints import UserInfoEndpoint
from idp.oidc.grants import AuthorizationCodeGrant
from idp.oidc.grants import OpenIDCode
from idp.oidc.grants import RefreshTokenGrant
from idp.oidc.grants import S256CodeChallenge

EXTENSION_KEY = "idp_oidc_server"


class IssuerParameter(_IssuerParameter):
    """RFC 9207 2: ``iss`` in every authorization response, errors included."""

    def __init__(self, issuer: str):
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class Server(AuthorizationServer):
    """Authlib's server, without echoing an unknown ``response_type`` in the error.

    Authlib puts the value in ``error_description``, whose characters RFC 6749
    4.1.2.1 restricts to printable ASCII without « " » and « \\ »; any other
    character (« é », a control) made it raise ValueError, a 500.
    """

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


def endpoint_url(issuer: str, name: str) -> str:
    """Endpoints hang under the configured issuer, never under the request's Host."""
    paths = {"authorization": "/authorize", "token": "/token", "userinfo": "/userinfo",
             "jwks": "/jwks", "revocation": "/revoke", "introspection": "/introspect",
             "end_session": "/end-session"}
    return issuer + paths[name]


def build_server(app: Flask) -> AuthorizationServer:
    from idp.oidc.logout import EndSessionEndpoint

    issuer = app.config["IDP_ISSUER"]
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
    server.register_grant(RefreshTokenGrant)
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(EndSessionEndpoint)
    protector = ResourceProtector()
    protector.register_token_validator(tokens.AccessTokenValidator(issuer))
    server.register_endpoint(UserInfoEndpoint(resource_protector=protector))
    server.register_extension(IssuerParameter(issuer))
    return server


def current_server() -> AuthorizationServer:
    return current_app.extensions[EXTENSION_KEY]


def add_issuer(response):
    """Add ``iss`` to an error redirect made outside create_authorization_response."""
    IssuerParameter(current_app.config["IDP_ISSUER"]).add_issuer_parameter(None, response)
    return response


def init_app(app: Flask) -> None:
    """Build the server for ``app`` and register the OIDC pages and API."""
    from idp.extensions import csrf
    from idp.oidc import api
    from idp.oidc import backchannel
    from idp.oidc import documents
    from idp.oidc import logout  # noqa: F401 (adds the end-session pages to views.bp)
    from idp.oidc import views

    app.extensions[EXTENSION_KEY] = build_server(app)
    backchannel.init_app(app)
    app.register_blueprint(views.bp)
    # Client authentication protects the API; no cookie, no CSRF token (SPEC 4).
    csrf.exempt(api.bp)
    app.register_blueprint(api.bp)
    documents.init_app(app)
