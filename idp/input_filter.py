"""Refuse, before any view runs, a request carrying a character no value of ours may hold.

The NUL character has no place in a login, a password, a search or a URL, and
PostgreSQL text columns cannot store it (PostgreSQL documentation, « Character
Types »): left to the views, it would fail at the first query. One check here
covers every page and parameter: the path, the query string, the form (names,
values, file names) and the headers. Refused too: a multipart part without a
readable name, and a query string of raw bytes that are not UTF-8 (Werkzeug
cannot even read it). Nothing has been read or written yet, so the refusal
changes nothing.

The answer takes the shape its caller understands: the French 400 page for
people, ``invalid_request`` for the OAuth endpoints (RFC 6749 4.1.2.1, 5.2;
RFC 6750 3.1).
"""

from __future__ import annotations

from flask import Flask
from flask import jsonify
from flask import request

from idp.errors import render_error

NUL = "\x00"
MSG_MALFORMED = ("La demande contient un caractère non autorisé. Revenez à la page précédente "
                 "et vérifiez votre saisie.")
# Machine endpoints: their errors are OAuth JSON (RFC 6749 5.2, RFC 6750 3.1).
JSON_BLUEPRINTS = ("oidc_api",)


def _pairs():
    """Every name and value the request carries, as text."""
    yield request.path, ""
    for data in (request.args, request.form):
        yield from data.items(multi=True)
    for name, upload in request.files.items(multi=True):
        yield name, upload.filename or ""
    yield from request.headers.items()


def _query_is_text() -> bool:
    """Raw bytes that are not UTF-8 (not percent-encoded) break ``request.args`` itself."""
    try:
        request.query_string.decode()
    except UnicodeDecodeError:
        return False
    return True


def is_malformed() -> bool:
    if not _query_is_text():
        return True
    # A multipart part whose name cannot be read is kept under the name None: Werkzeug
    # accepts it, Flask-WTF's CSRF check then fails on it.
    return any(name is None or NUL in name or NUL in (value or "") for name, value in _pairs())


def _refuse():
    if request.blueprint in JSON_BLUEPRINTS:
        body = {"error": "invalid_request",
                "error_description": "A parameter holds a forbidden character."}
        return jsonify(body), 400
    if request.endpoint == "oidc.authorize" and _query_is_text():
        from idp.oidc.views import malformed_authorization

        return malformed_authorization()
    return render_error(400, MSG_MALFORMED)


def _check_request():
    return _refuse() if is_malformed() else None


def init_app(app: Flask) -> None:
    # Registered before CSRFProtect and the limiter: the first look at a request.
    app.before_request(_check_request)
