"""What the OIDC pages and API need of the provider, without building it.

``idp.oidc.server`` builds Authlib's authorization server once per application
(``init_app``, called by ``create_app``) and stores it on the application; the
views reach it through ``current_server()``. This module imports no view and
no blueprint, so that views and server never import each other.
"""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc9207 import IssuerParameter as _IssuerParameter
from flask import current_app

from idp.settings import settings

EXTENSION_KEY = "idp_oidc_server"

PATHS = {"authorization": "/authorize", "token": "/token", "userinfo": "/userinfo",
         "jwks": "/jwks", "revocation": "/revoke", "introspection": "/introspect",
         "end_session": "/end-session"}


class IssuerParameter(_IssuerParameter):
    """RFC 9207 2: ``iss`` in every authorization response, errors included."""

    def __init__(self, issuer: str):
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


def endpoint_url(issuer: str, name: str) -> str:
    """Endpoints hang under the configured issuer, never under the request's Host."""
    return issuer + PATHS[name]


def current_server() -> AuthorizationServer:
    return current_app.extensions[EXTENSION_KEY]


def add_issuer(response):
    """Add ``iss`` to an error redirect made outside create_authorization_response."""
    IssuerParameter(settings().issuer).add_issuer_parameter(None, response)
    return response
