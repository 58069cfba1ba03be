"""Logging: plain in development, one JSON object per line in production.

Every request carries a request id: the caller's ``X-Request-Id`` when it is
well-formed (so a reverse proxy's id follows the request through), otherwise a
fresh random one; it is returned in the response and written on every log line
of the request, so that a person's report (the error page's reference) and the
proxy's log lead to the same lines.

Never logged: query strings (authorization requests carry state and nonce,
callbacks carry codes), form bodies, headers, cookies. The access line holds the
method, the path, the endpoint, the status and the duration only: no secret.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time

from flask import Flask
from flask import g
from flask import has_request_context
from flask import request

from idp.clock import utcnow
from idp.settings import settings

REQUEST_ID_HEADER = "X-Request-Id"
# Letters, digits and -_.: only (a UUID fits): nothing a log reader could
# mistake for another field, nothing that needs escaping in a header.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{8,128}")
access_log = logging.getLogger("idp.access")
# Where a request's id, endpoint and path wait for its access line (WSGI environ).
_ENVIRON_KEY = "idp.logs"


def request_id() -> str | None:
    """The current request's id, or None outside a request."""
    if not has_request_context():
        return None
    return g.get("request_id")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):  # idp.oidc.documents passes its own
            record.request_id = request_id()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": utcnow().isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "request_id", None):
            entry["request_id"] = record.request_id
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class StderrHandler(logging.StreamHandler):
    """A handler writing to ``sys.stderr`` as it is when a record is emitted.

    ``StreamHandler(sys.stderr)`` keeps the stream of the moment it was built: an
    application built inside a command runner that swaps ``sys.stderr`` (click's, in
    the tests) would go on writing to the runner's closed buffer.
    """

    def __init__(self) -> None:
        self._chosen = None  # set by setStream (the tests read the lines there)
        super().__init__()

    @property
    def stream(self):
        return self._chosen or sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        self._chosen = None if value is sys.stderr else value


def request_id_from(given: str) -> str:
    """The caller's ``X-Request-Id`` when well-formed, otherwise a fresh random one."""
    return given if _WELL_FORMED.fullmatch(given) else secrets.token_hex(16)


def _assign_request_id() -> None:
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER, ""))
    # For the access line, written outside Flask (AccessLog) once the answer is known.
    request.environ[_ENVIRON_KEY] = (
        g.request_id, request.url_rule.endpoint if request.url_rule else None, request.path)


def _return_request_id(response):
    if "request_id" in g:
        response.headers[REQUEST_ID_HEADER] = g.request_id
    return response


def access_line(method: str, path: str, endpoint: str | None, status: int,
                started: float | None, ip: str | None, request_id: str | None = None) -> None:
    """One line per request: never the query string, a body, a header or a cookie."""
    fields = {
        "method": method,
        "path": path,
        "endpoint": endpoint,
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
        "ip": ip,
    }
    extra = {"fields": fields}
    if request_id:
        extra["request_id"] = request_id
    access_log.info("request", extra=extra)


class AccessLog:
    """The access line of every answer Flask gives, written around Flask.

    Outside Flask, it is written whatever happens on the way out: a hook that
    fails after the view, an error page that fails in turn, an exception that
    escapes Flask (logged as a 500 and raised again). Every 5xx has its line.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        answered = []

        def record_status(status, headers, exc_info=None):
            answered.append(int(status[:3]))
            return start_response(status, headers, exc_info)

        try:
            return self.wsgi_app(environ, record_status)
        except BaseException:
            answered.append(500)
            raise
        finally:
            request_id, endpoint, path = environ.get(
                _ENVIRON_KEY, (None, None, environ.get("PATH_INFO", "")))
            access_line(environ.get("REQUEST_METHOD", ""), path,
                        endpoint, answered[-1] if answered else 500, started,
                        environ.get("REMOTE_ADDR"), request_id)


def init_app(app: Flask) -> None:
    app.before_request(_assign_request_id)
    app.after_request(_return_request_id)
    if settings(app).env != "production":
        return
    app.wsgi_app = AccessLog(app.wsgi_app)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
