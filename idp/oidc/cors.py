"""Cross-origin access for browser-only modules (CORS, the Fetch standard).

A module that runs in the browser (a public client with PKCE) calls the IdP
with ``fetch()``; the browser lets its page read the answer only when the IdP
allows the page's origin. Which origins (docs/modules.md, « Browser-only
modules »):

- discovery and JWKS, public documents: any origin (``*``);
- token, userinfo and revocation: the origins of the redirect URIs registered
  for the client the request is about (named by ``client_id`` or HTTP Basic at
  token and revocation, the access token's client at userinfo). Preflights
  (``OPTIONS``) name no client yet: they are answered for the origins of any
  active client, and the request itself is then checked against its client.
  A token request from another origin is refused before anything is spent.

No cookies cross origins (no ``Access-Control-Allow-Credentials``): these
endpoints authenticate the client and the token, never the browser's session.
The authorization and end-session endpoints are navigations, not fetches: no
CORS there.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response
from flask import g
from flask import request
from sqlalchemy import select

from idp.extensions import db
from idp.models import Client
from idp.oidc import clients
from idp.oidc import tokens
from idp.settings import settings

PUBLIC_ENDPOINTS = ("oidc_api.discovery", "oidc_api.jwks")
CLIENT_ENDPOINTS = ("oidc_api.token", "oidc_api.userinfo", "oidc_api.revoke")
# Preflight answers are cached by the browser for this many seconds.
MAX_AGE = "600"
ALLOWED_HEADERS = "Authorization, Content-Type"


def public_headers() -> list[tuple[str, str]]:
    """The headers of discovery and JWKS, whoever asks (also served outside Flask)."""
    return [("Access-Control-Allow-Origin", "*")]


def origin_of(uri: str) -> str | None:
    """The serialised origin of an absolute http(s) URI, as browsers send it."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def client_origins(row: Client | None) -> set[str]:
    if row is None:
        return set()
    return {origin for uri in row.redirect_uris or [] if (origin := origin_of(uri))}


def _any_client_origins() -> set[str]:
    uris = db.session.execute(
        select(Client.redirect_uris).where(Client.is_active.is_(True))).scalars()
    return {origin for listed in uris for uri in listed or [] if (origin := origin_of(uri))}


def _named_client() -> Client | None:
    """The client a token, userinfo or revocation request is about (None if unknown)."""
    if request.endpoint == "oidc_api.userinfo":
        presented = _bearer_token()
        row = tokens.find_access(presented, settings().issuer) if presented else None
        return row.client if row is not None else None
    client_id = request.form.get("client_id")
    if request.authorization is not None and request.authorization.type == "basic":
        client_id = request.authorization.username
    found = clients.query_client(client_id)
    return found.row if found is not None else None


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        return request.form.get("access_token")
    return None


def _allowed_origins() -> set[str]:
    """The registered origins of the client the request is about, read once per request."""
    if "idp_cors_origins" not in g:
        g.idp_cors_origins = client_origins(_named_client())
    return g.idp_cors_origins


def read_allowed_origins() -> None:
    """Before the view, while nothing is committed: the origins that may read the answer.

    Read after the commit instead, they would need the database again, and its
    failure would turn committed work (a rotated refresh token) into an error
    (docs/deployment.md, « PostgreSQL »)."""
    if (request.headers.get("Origin") and request.endpoint in CLIENT_ENDPOINTS
            and request.method != "OPTIONS"):
        _allowed_origins()


def foreign_origin() -> bool:
    """A page of an origin the named client did not register calls the token endpoint.

    A form POST needs no preflight: without this check the IdP would redeem the
    code (or rotate the refresh token) before the browser hid the answer from the
    page, spending it for nothing. Server-side modules send no Origin."""
    origin = request.headers.get("Origin")
    return origin is not None and origin not in _allowed_origins()


def add_headers(response: Response) -> Response:
    """The CORS headers of a machine endpoint's answer, when a page's origin asks."""
    endpoint = request.endpoint or ""
    if endpoint in PUBLIC_ENDPOINTS:
        response.headers.extend(public_headers())
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Headers"] = "If-None-Match"
            response.headers["Access-Control-Max-Age"] = MAX_AGE
        return response
    origin = request.headers.get("Origin")
    if endpoint not in CLIENT_ENDPOINTS or not origin:
        return response
    response.vary.add("Origin")
    preflight = request.method == "OPTIONS"
    allowed = _any_client_origins() if preflight else _allowed_origins()
    if origin not in allowed:
        return response  # no header: the browser keeps the answer from the page
    response.headers["Access-Control-Allow-Origin"] = origin
    if preflight:
        response.headers["Access-Control-Allow-Methods"] = ", ".join(
            sorted(m for m in response.allow if m not in ("HEAD", "OPTIONS")))
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = MAX_AGE
    else:
        # A browser module reads the challenge of a refused token (RFC 6750 3).
        response.headers["Access-Control-Expose-Headers"] = "WWW-Authenticate"
    return response
