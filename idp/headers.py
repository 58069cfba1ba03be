"""Security headers on every response (the rules: docs/security.md, « HTTP »)."""

from flask import Flask
from flask import request

from idp.settings import settings

# No inline script or style; DSFR icons are SVG files and data: URIs.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


SECURITY_HEADERS = (
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def security_headers(production: bool) -> list[tuple[str, str]]:
    """The headers of every response, for answers built outside Flask (idp.oidc.documents)."""
    found = [("Content-Security-Policy", CSP), *SECURITY_HEADERS]
    return [*found, HSTS] if production else found


def _secure_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    for name, value in SECURITY_HEADERS:
        headers[name] = value
    if not request.path.startswith("/static/"):
        # Pages and API answers carry personal data or one-time state.
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    return response


def _hsts(response):
    response.headers[HSTS[0]] = HSTS[1]
    return response


def init_app(app: Flask) -> None:
    app.after_request(_secure_headers)
    if settings(app).env == "production":
        app.after_request(_hsts)
    # Werkzeug's server banner names its version; gunicorn's is set in its config.
