"""The secrets hunt (REL-07, CAP-01, SESS-02): a pytest plugin active in every test.

While a test runs, it records

* the secrets it uses: every value posted to a password field (``password``,
  ``current_password``, ``new_password``, ``confirmation``); a secret answer
  (``answer``), a captcha text (``text``) or an arithmetic result (``result``)
  once the IdP accepted it (the POST was answered with a redirect: a refused
  guess is no secret, and a refused answer is shown back in its own field); the
  ``code`` of every redirect and the ``access_token`` and ``refresh_token`` of
  every /token response;
* the places they could leak: every log record of level INFO and above (the
  production level), the status line, headers, Set-Cookie values (the Flask
  session cookie decoded too) and text body of every response of the IdP (test
  client and live server alike: the recorder wraps ``app.wsgi_app``), every mail
  that reaches the test SMTP servers, and every audit row left in the database
  at the end of the test.

At teardown it looks for each secret in each place and fails the test naming
the secret's origin and the exact place.

What is not a leak, and so not searched:

* the tokens in the body of a /token response (that is where they are issued);
* a code in a ``Location`` header (the redirect to the module's registered
  callback is how a code is delivered, RFC 6749 4.1.2);
* the line ``Mot de passe provisoire : ...`` of a mail (the agency sends it on
  purpose; the rest of the mail is searched);
* records of the ``werkzeug`` logger: the test live server's access log, with
  query strings; production runs gunicorn with its access log off and the
  IdP's own access line has no query string (idp/logs.py);
* requests: a test may put a secret where it does not belong on purpose.

Values shorter than MIN_LENGTH characters (an arithmetic result, a one-letter
password of a refusal test) would match any page, so they are searched only as
exact values of the decoded session cookie.

Apps a test builds itself (``create_app`` in the test) and the gunicorn
processes of tests/production are not recorded.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import threading
import zlib
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

MIN_LENGTH = 6
PASSWORD_FIELDS = ("password", "current_password", "new_password", "confirmation")
ACCEPTED_FIELDS = {"answer": "secret answer", "text": "captcha text", "result": "arithmetic result"}
TOKEN_FIELDS = ("access_token", "refresh_token")
PROVISIONAL_LINE = re.compile(r"^Mot de passe provisoire : \S+$", re.M)
TEXT_TYPES = ("text/", "application/json", "application/jwt", "application/xml")
NOT_SEARCHED_LOGGERS = ("werkzeug",)


@dataclass(frozen=True)
class Secret:
    value: str
    origin: str  # e.g. "password posted to /login"
    kind: str  # password, answer, captcha, arithmetic, code, token


@dataclass
class Place:
    where: str  # e.g. "body of the response to POST /login (200 text/html)"
    text: str
    kind: str  # body, header, cookie, location, log, mail, audit
    path: str = ""


@dataclass
class Hunt:
    """What one test used and wrote."""

    secrets: set = field(default_factory=set)
    places: list = field(default_factory=list)
    cookies: list = field(default_factory=list)  # (where, decoded session dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def secret(self, value, origin: str, kind: str) -> None:
        if isinstance(value, str) and value:
            with self.lock:
                self.secrets.add(Secret(value, origin, kind))

    def place(self, where: str, text: str, kind: str, path: str = "") -> None:
        if text:
            with self.lock:
                self.places.append(Place(where, text, kind, path))

    def findings(self) -> list[str]:
        with self.lock:
            secrets, places, cookies = set(self.secrets), list(self.places), list(self.cookies)
        found = []
        for secret in sorted(secrets, key=lambda s: (s.kind, s.value)):
            if len(secret.value) >= MIN_LENGTH:
                found += [f"{_shown(secret)} in {place.where}" for place in places
                          if secret.value in place.text and not _expected(secret, place)]
            found += [f"{_shown(secret)} in the decoded session cookie set by {where}"
                      for where, values in cookies if secret.value in values]
        return list(dict.fromkeys(found))

    def forget(self, value: str) -> None:
        """Drop a secret (a test that plants a leak on purpose cleans up after itself)."""
        with self.lock:
            self.secrets = {s for s in self.secrets if s.value != value}


def _shown(secret: Secret) -> str:
    return f"{secret.kind} {secret.value[:4]!r}... ({secret.origin})"


def _expected(secret: Secret, place: Place) -> bool:
    """The legitimate echoes listed in the module docstring."""
    if secret.kind == "token" and place.kind == "body" and place.path == "/token":
        return True
    return secret.kind == "code" and place.kind == "location"


# --- the current test's hunt -----------------------------------------------------------------

_current: Hunt | None = None


def current() -> Hunt | None:
    return _current


# --- what the IdP receives and answers (a WSGI middleware around app.wsgi_app) -----------------


class Recorder:
    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        watch_logs()  # the migrations' logging configuration has just reset the root logger

    def __call__(self, environ, start_response):
        hunt = _current
        if hunt is None:
            return self.wsgi_app(environ, start_response)
        form = _form(environ)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return start_response(status, headers, exc_info)

        iterable = self.wsgi_app(environ, capture)
        try:
            body = b"".join(iterable)
        finally:
            if hasattr(iterable, "close"):
                iterable.close()
        _record(hunt, environ, form, captured.get("status", ""), captured.get("headers", []), body)
        return [body]


def _form(environ) -> dict:
    """The posted fields, the input put back for the app."""
    if environ.get("REQUEST_METHOD") != "POST" or not environ.get("CONTENT_LENGTH"):
        return {}
    body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
    environ["wsgi.input"] = io.BytesIO(body)
    from werkzeug.wrappers import Request

    request = Request(dict(environ, **{"wsgi.input": io.BytesIO(body)}))
    try:
        return {key: request.form.getlist(key) for key in request.form}
    except Exception:  # noqa: BLE001 (malformed on purpose: nothing to record)
        return {}
    finally:
        request.close()  # uploaded files are spooled to temporary files


def _record(hunt: Hunt, environ, form: dict, status: str, headers, body: bytes) -> None:
    method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
    request = f"{method} {path}"
    redirected = status[:1] == "3"
    for name in PASSWORD_FIELDS:
        for value in form.get(name, []):
            hunt.secret(value, f"{name} posted to {path}", "password")
    if redirected:
        for name, label in ACCEPTED_FIELDS.items():
            for value in form.get(name, []):
                hunt.secret(value, f"{name} accepted by {path}", label.split()[-1])
    content_type = ""
    for name, value in headers:
        lowered = name.lower()
        if lowered == "content-type":
            content_type = value
        if lowered == "location":
            for code in parse_qs(urlsplit(value).query).get("code", []):
                hunt.secret(code, f"code issued by {request}", "code")
            hunt.place(f"the Location header of {request}", value, "location", path)
        elif lowered == "set-cookie":
            hunt.place(f"a Set-Cookie header of {request}", value, "cookie", path)
            decoded = _decoded_cookie(value)
            if decoded is not None:
                hunt.place(f"the decoded session cookie set by {request}", decoded, "cookie", path)
                hunt.cookies.append((request, _values(decoded)))
        else:
            hunt.place(f"the {name} header of {request}", value, "header", path)
    if not content_type.startswith(TEXT_TYPES):
        return
    text = body.decode("utf-8", "replace")
    if path == "/token" and status.startswith("200"):
        try:
            issued = json.loads(text)
        except ValueError:
            issued = {}
        for name in TOKEN_FIELDS:
            hunt.secret(issued.get(name), f"{name} issued by {request}", "token")
    hunt.place(f"the body of the response to {request} ({status} {content_type})", text,
               "body", path)


def _decoded_cookie(header: str) -> str | None:
    """The JSON inside a Flask (itsdangerous) session cookie, or None."""
    value = header.split(";", 1)[0].partition("=")[2].strip('"')
    compressed = value.startswith(".")
    payload = value.lstrip(".").split(".", 1)[0]
    if not payload:
        return None
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        return (zlib.decompress(raw) if compressed else raw).decode()
    except (ValueError, zlib.error, UnicodeDecodeError):
        return None


def _values(decoded: str) -> set[str]:
    """Every scalar of the session cookie's JSON, as text."""
    try:
        data = json.loads(decoded)
    except ValueError:
        return set()
    found, stack = set(), [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack += list(item.values())
        elif isinstance(item, list):
            stack += item
        elif item is not None:
            found.add(str(item))
    return found


# --- logs, mails, audit rows ---------------------------------------------------------------


class LogRecorder(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        hunt = _current
        if hunt is None or record.name.startswith(NOT_SEARCHED_LOGGERS):
            return
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 (a broken record is not ours to judge)
            text = str(record.msg)
        extra = {k: v for k, v in record.__dict__.items() if k in ("fields", "details")}
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        hunt.place(f"a log record of {record.name} ({record.levelname})",
                   f"{text} {extra!r}", "log")


LOG_RECORDER = LogRecorder(level=logging.INFO)


def watch_logs() -> None:
    """Our handler on the root logger, which lets INFO through (the production level)."""
    root = logging.getLogger()
    if LOG_RECORDER not in root.handlers:  # fileConfig and production apps reset them
        root.addHandler(LOG_RECORDER)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)


def saw_mail(message) -> None:
    """Called by the test SMTP servers (tests/conftest.py) for each mail received."""
    hunt = _current
    if hunt is None:
        return
    parts = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(PROVISIONAL_LINE.sub("", part.get_content().replace("\r\n", "\n")))
    hunt.place(f"the mail « {message['Subject']} » to {message['To']}", "\n".join(parts), "mail")


def saw_audit_rows(app) -> None:
    """Called by the ``app`` fixture before it closes the database."""
    hunt = _current
    if hunt is None:
        return
    from idp.extensions import db
    from idp.models import AuditEvent

    try:
        db.session.rollback()
        rows = db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
    except Exception:  # noqa: BLE001 (a test that stopped its database leaves nothing to read)
        db.session.rollback()
        return
    for row in rows:
        text = " ".join(repr(getattr(row, column.key)) for column in AuditEvent.__table__.columns)
        hunt.place(f"the audit row #{row.id} {row.event}", text, "audit")


# --- the pytest side -------------------------------------------------------------------------


def pytest_configure(config):
    config.stash[_ROOT_LEVEL] = logging.getLogger().level


def pytest_unconfigure(config):
    logging.getLogger().setLevel(config.stash.get(_ROOT_LEVEL, logging.WARNING))
    logging.getLogger().removeHandler(LOG_RECORDER)


_ROOT_LEVEL = pytest.StashKey[int]()


@pytest.fixture(autouse=True)
def secrets_hunt():
    """The current test's hunt; at teardown, every secret found where it should not be."""
    global _current  # noqa: PLW0603 (one test at a time)
    watch_logs()
    hunt = _current = Hunt()
    yield hunt
    from idp import mail

    mail.wait_until_sent()
    _current = None
    found = hunt.findings()
    if found:
        pytest.fail("secrets found where they must not be:\n  " + "\n  ".join(found[:20]),
                    pytrace=False)
