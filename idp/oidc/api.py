"""The machine endpoints: token, userinfo, JWKS, discovery, revocation, introspection.

A CSRF-exempt blueprint (client authentication protects it, SPEC 4); every
answer is JSON (or a JWT) and ``Cache-Control: no-store`` (RFC 6749 5.1,
set for every page by ``idp.headers``).
"""

from __future__ import annotations

from flask import Blueprint
from flask import current_app
from flask import jsonify

from idp.assistance.clients import AUTH_METHODS
from idp.clock import utcnow
from idp.database import commit
from idp.extensions import limiter
from idp.oidc import claims
from idp.oidc import keys
from idp.oidc.clients import SUPPORTED_SCOPES
from idp.oidc.server import current_server
from idp.oidc.server import endpoint_url

bp = Blueprint("oidc_api", __name__)


def _token_limit() -> str:
    return current_app.config["IDP_RATELIMIT_TOKEN"]


@bp.post("/token")
@limiter.limit(_token_limit)
def token():
    """Token endpoint (RFC 6749 3.2, OIDC Core 3.1.3): codes and refresh tokens."""
    response = current_server().create_token_response()
    # Errors commit too: a replayed code or a reused refresh token revoked their family.
    commit()
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo():
    """UserInfo endpoint (OIDC Core 5.3): JSON, or a signed JWT (SPEC 2.1)."""
    return current_server().create_endpoint_response("userinfo")


@bp.post("/revoke")
@limiter.limit(_token_limit)
def revoke():
    """Revocation endpoint (RFC 7009)."""
    response = current_server().create_endpoint_response("revocation")
    commit()
    return response


@bp.post("/introspect")
@limiter.limit(_token_limit)
def introspect():
    """Introspection endpoint (RFC 7662), for a module's own tokens."""
    return current_server().create_endpoint_response("introspection")


@bp.get("/jwks")
def jwks():
    """The public signing keys (RFC 7517), retired ones until their tokens are over."""
    now = utcnow()
    keys.active_key(keys.DEFAULT_ALG, now)  # created on first need
    document = keys.public_jwks(now)
    commit()
    response = jsonify(document)
    response.content_type = "application/jwk-set+json"
    return response


@bp.get("/.well-known/openid-configuration")
def discovery():
    """OpenID Provider metadata (OIDC Discovery 3; RFC 8414): exactly what is supported."""
    issuer = current_app.config["IDP_ISSUER"]
    algs = list(keys.ALGORITHMS)
    return jsonify({
        "issuer": issuer,
        "authorization_endpoint": endpoint_url(issuer, "authorization"),
        "token_endpoint": endpoint_url(issuer, "token"),
        "userinfo_endpoint": endpoint_url(issuer, "userinfo"),
        "jwks_uri": endpoint_url(issuer, "jwks"),
        "revocation_endpoint": endpoint_url(issuer, "revocation"),
        "introspection_endpoint": endpoint_url(issuer, "introspection"),
        # RP-Initiated Logout 1.0 2.1; Back-Channel Logout 1.0 2.1 (logout tokens carry sid).
        "end_session_endpoint": endpoint_url(issuer, "end_session"),
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "userinfo_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": list(claims.SUPPORTED_CLAIMS) + ["iss", "aud", "exp", "iat",
                                                              "nonce", "at_hash"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "acr_values_supported": list(claims.ACR_SUPPORTED),
        "prompt_values_supported": ["none", "login"],
        "authorization_response_iss_parameter_supported": True,
        "ui_locales_supported": ["fr-FR"],
    })
