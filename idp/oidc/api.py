"""The machine endpoints: token, userinfo, JWKS, discovery, revocation, introspection.

A CSRF-exempt blueprint (client authentication protects it); every
answer is JSON (or a JWT) and ``Cache-Control: no-store`` (RFC 6749 5.1,
set for every page by ``idp.headers``), except discovery and JWKS: public
documents served as precomputed bytes with an ETag and ``Cache-Control: public``,
so that modules revalidate (304) instead of refetching.
"""

from __future__ import annotations

import hashlib
import json

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request

from idp.clock import utcnow
from idp.database import commit
from idp.database import read_only
from idp.extensions import limiter
from idp.oidc import claims
from idp.oidc import cors
from idp.oidc import documents
from idp.oidc import keys
from idp.oidc.clients import AUTH_METHODS
from idp.oidc.clients import SUPPORTED_SCOPES
from idp.oidc.provider import current_server
from idp.oidc.provider import endpoint_url
from idp.settings import settings

bp = Blueprint("oidc_api", __name__)
# Browser-only modules: who may read these answers (idp.oidc.cors).
bp.before_request(cors.read_allowed_origins)
bp.after_request(cors.add_headers)


def _token_limit() -> str:
    return settings().ratelimit_token


@bp.post("/token")
@limiter.limit(_token_limit)
def token():
    """Token endpoint (RFC 6749 3.2, OIDC Core 3.1.3): codes and refresh tokens."""
    if cors.foreign_origin():
        return {"error": "invalid_request",
                "error_description": "The origin of this request is not registered "
                                     "for this client."}, 400
    response = current_server().create_token_response()
    # Errors commit too: a replayed code or a reused refresh token revoked their family.
    commit()
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
@read_only
def userinfo():
    """UserInfo endpoint (OIDC Core 5.3): JSON, or a signed JWT per client. Reads only."""
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
    keys.ensure_active(keys.DEFAULT_ALG, now)  # created on first need
    commit()
    body = _json_bytes(keys.public_jwks(now))
    etag = _etag(body)
    # One assignment: idp.oidc.documents reads it from other threads.
    current_app.extensions["idp_jwks"] = {
        "body": body, "etag": etag, "fresh_until": keys.copy_fresh_until(now)}
    return _cacheable(body, etag, "application/jwk-set+json")


@bp.get("/.well-known/openid-configuration")
def discovery():
    """OpenID Provider metadata (OIDC Discovery 3; RFC 8414): exactly what is supported."""
    cache = current_app.extensions.get("idp_discovery")
    if cache is None:
        body = _json_bytes(_metadata(settings().issuer))
        cache = current_app.extensions["idp_discovery"] = {"body": body, "etag": _etag(body)}
    return _cacheable(cache["body"], cache["etag"], "application/json")


def _metadata(issuer: str) -> dict:
    algs = list(keys.ALGORITHMS)
    return {
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
        "response_modes_supported": ["query", "form_post"],
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
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": True,
        "ui_locales_supported": ["fr-FR"],
    }


def _json_bytes(document: dict) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _etag(body: bytes) -> str:
    """From the content: every worker and every host gives the same tag."""
    return hashlib.sha256(body).hexdigest()[:32]


def _cacheable(body: bytes, etag: str, mimetype: str) -> Response:
    """The precomputed document, or 304 when the module holds this version (RFC 9110 13.1.2)."""
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(body, mimetype=mimetype)
    response.set_etag(etag)
    return response


@bp.after_app_request
def _cache_control(response: Response) -> Response:
    """Public caching for discovery and JWKS, over idp.headers' ``no-store``.

    App-wide hooks run in the reverse order of their registration, and this blueprint
    is registered before ``idp.headers.init_app``: this one runs after ``no-store`` was
    set (tests/oidc/test_discovery.py checks the result).
    """
    policy = documents.CACHE_CONTROL.get(request.endpoint or "")
    if policy is not None and response.status_code in (200, 304):
        response.headers["Cache-Control"] = policy
        response.headers.pop("Pragma", None)
    return response
