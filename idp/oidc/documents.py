"""Discovery and JWKS answered before Flask, from precomputed bytes.

Modules fetch these two public documents often (at start, on an unknown kid,
when their cache ends). The Flask views in ``idp.oidc.api`` build them and leave
their bytes in ``app.extensions``; this WSGI layer then answers GET and HEAD
from those bytes without a request context, a session, the limiter or the
database: the same body, ETag (304 on If-None-Match), Cache-Control, CORS, security
headers and request id as the view, the latency counted, the access logged.

Discovery only changes with the configuration. The JWKS bytes are served while
the process's copy of the keys is fresh (``IDP_KEYS_REFRESH_SECONDS``, see
``idp.oidc.keys``); after that the request goes to the view, which reads the
keys again.
"""

from __future__ import annotations

import time

from flask import Flask
from werkzeug.http import parse_etags

from idp import headers
from idp import logs
from idp import metrics
from idp.clock import utcnow
from idp.oidc import cors
from idp.settings import settings

# path -> (app.extensions key, Flask endpoint, content type, Cache-Control)
DOCUMENTS = {
    "/.well-known/openid-configuration": (
        "idp_discovery", "oidc_api.discovery", "application/json", "public, max-age=3600"),
    # A rotation is learnt from an unknown kid (OIDC Core 10.1.1), hence the shorter life.
    "/jwks": ("idp_jwks", "oidc_api.jwks", "application/jwk-set+json", "public, max-age=300"),
}
CACHE_CONTROL = {endpoint: policy for _key, endpoint, _type, policy in DOCUMENTS.values()}


class PublicDocuments:
    """WSGI middleware: the cached documents, or the application for everything else."""

    def __init__(self, app: Flask, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self.production = settings(app).env == "production"

    def __call__(self, environ, start_response):
        document = DOCUMENTS.get(environ.get("PATH_INFO", ""))
        method = environ.get("REQUEST_METHOD")
        if document is None or method not in ("GET", "HEAD") or environ.get("QUERY_STRING"):
            return self.wsgi_app(environ, start_response)
        key, endpoint, content_type, cache_control = document
        cached = self.app.extensions.get(key)
        if not cached or ("fresh_until" in cached and cached["fresh_until"] <= utcnow()):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        body, etag = cached["body"], cached["etag"]
        request_id = logs.request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        response_headers = [
            ("Content-Type", content_type),
            ("ETag", f'"{etag}"'),
            ("Cache-Control", cache_control),
            *cors.public_headers(),
            *headers.security_headers(self.production),
            (logs.REQUEST_ID_HEADER, request_id),
        ]
        wanted = environ.get("HTTP_IF_NONE_MATCH")
        if wanted and parse_etags(wanted).contains(etag):
            status, body = "304 NOT MODIFIED", b""
        else:
            status = "200 OK"
            response_headers.append(("Content-Length", str(len(body))))
            if method == "HEAD":
                body = b""
        start_response(status, response_headers)
        metrics.observe(endpoint, started)
        if self.production:
            logs.access_line(method, environ.get("PATH_INFO", ""), endpoint, int(status[:3]),
                             started, environ.get("REMOTE_ADDR"), request_id)
        return [body]


def init_app(app: Flask) -> None:
    app.wsgi_app = PublicDocuments(app, app.wsgi_app)
