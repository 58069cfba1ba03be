"""Shared fixtures: app, client, runner, a real SMTP server, users, a login helper.

The database is SQLite by default, PostgreSQL and Redis when IDP_TEST_DATABASE_URL
and IDP_TEST_REDIS_URL are set (tests/backends.py, ``make test-postgresql``).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import html
import os
import re
import secrets
import shutil
import socket
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from aiosmtpd.controller import Controller
from argon2 import PasswordHasher
from flask import has_app_context
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from idp import create_app
from idp import mail
from idp.assistance import services
from idp.database import after_commit
from idp.database import commit
from idp.extensions import db
from idp.models import AuditEvent
from idp.models import User
from idp.security import passwords
from idp.security.secrets import normalise_answer
from tests import backends
from tests.security import secrets_hunt


def pytest_configure(config):
    # Every test is watched for secrets written where they must not be
    # (tests/security/secrets_hunt.py).
    config.pluginmanager.register(secrets_hunt, "secrets_hunt")

STRONG_PASSWORD = "Girafe-Parapluie-Ocean-93"
OTHER_STRONG_PASSWORD = "Cerf-Volant-Bibliotheque-58"
SECRET_QUESTION = "Quel est le nom de votre premier animal de compagnie ?"
SECRET_ANSWER = "Rantanplan"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- a real SMTP server in the test process (aiosmtpd) -------------------------------


# Seconds the test waits for this process's mails to be handed over: a deadline for a busy
# machine, not a wait (idp.mail.wait_until_sent returns once they are).
MAIL_DEADLINE = 60


@dataclass
class Mailbox:
    """What reached the SMTP server. Web flows send from a background thread
    (idp.mail), so reading waits until this process has handed its mails over."""

    received: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, content: bytes) -> None:
        message = email.message_from_bytes(content, policy=email.policy.default)
        secrets_hunt.saw_mail(message)
        with self.lock:
            self.received.append(message)

    def clear(self) -> None:
        mail.wait_until_sent(MAIL_DEADLINE)
        with self.lock:
            self.received.clear()

    @property
    def messages(self) -> list:
        assert mail.wait_until_sent(MAIL_DEADLINE), f"mails still queued after {MAIL_DEADLINE} s"
        with self.lock:
            return list(self.received)

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]

    @staticmethod
    def body(message) -> str:
        # SMTP carries CRLF line ends; a mail reader shows lines, so match on "\n".
        return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")

    def provisional_password(self, address: str) -> str:
        """The provisional password of the last mail to ``address`` that carries one."""
        for message in reversed(self.to(address)):
            found = re.search(r"^Mot de passe provisoire : (\S+)$", self.body(message), re.M)
            if found:
                return found.group(1)
        raise AssertionError(f"no provisional password mailed to {address}")


@dataclass
class SmtpHandler:
    """The aiosmtpd side; kept apart from Mailbox, whose reads wait on idp.mail."""

    mailbox: Mailbox

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        self.mailbox.receive(envelope.content)
        return "250 OK"


@pytest.fixture(scope="session")
def smtp_server():
    controller = Controller(SmtpHandler(Mailbox()), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def mailbox(smtp_server) -> Mailbox:
    smtp_server.handler.mailbox.clear()
    return smtp_server.handler.mailbox


@dataclass
class HeldSmtpHandler(SmtpHandler):
    """An SMTP server that keeps each mail's DATA waiting until ``release``."""

    gate: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, 30)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def held_smtp(app):
    """Point the app at a slow SMTP server: yields its handler (``.gate``, ``.mailbox``)."""
    handler = HeldSmtpHandler(Mailbox())
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(IDP_MAIL_SERVER="127.0.0.1", IDP_MAIL_PORT=controller.port)
    yield handler
    handler.gate.set()
    mail.wait_until_sent()
    controller.stop()


# --- the application -----------------------------------------------------------------


def environ_for(database_url: str, smtp_port: int | None, **extra) -> dict:
    environ = {
        "IDP_ENV": "testing",
        "IDP_DATABASE_URL": database_url,
        "IDP_ISSUER": "http://127.0.0.1:5000",
        "IDP_MAIL_SERVER": "127.0.0.1" if smtp_port else "",
        "IDP_MAIL_PORT": str(smtp_port or 25),
    }
    if backends.TEST_REDIS_URL:
        environ["IDP_RATELIMIT_STORAGE_URI"] = backends.TEST_REDIS_URL
    environ.update(extra)
    return environ


TEST_OVERRIDES = {"PASSWORD_HASH_PROFILE": "owasp-minimum", "WTF_CSRF_ENABLED": True}


@pytest.fixture(autouse=True)
def _no_audit_sealer_left_running():
    """A web app built with TESTING off starts the audit sealer at its first request
    (idp.audit_sealer); left running, it outlives the test's database and warns every
    interval, and its dropped connections surface as warnings in later tests."""
    yield
    left = [thread for thread in threading.enumerate() if thread.name == "idp-audit-sealer"]
    assert not left, "the test left the audit sealer running: app.extensions" \
        "['idp_audit_sealer'].stop() before the app goes"


@pytest.fixture(autouse=True)
def _ratelimit_key_prefix(monkeypatch):
    """Each test counts its rate limits apart (a shared Redis keeps them for minutes).

    The limiter is one module-level object and keeps the key prefix of the first
    app it was bound to (Flask-Limiter's init_app), so the prefix is set on it.
    """
    if backends.TEST_REDIS_URL:
        from idp.extensions import limiter

        monkeypatch.setattr(limiter, "_key_prefix", f"idp-test-{secrets.token_hex(4)}")


MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _migrations_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.rglob("*.py")):
        digest.update(str(path.relative_to(MIGRATIONS)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def template_database(tmp_path_factory):
    """Run the migrations once; each test starts from a copy of the result.

    The result is kept in the temporary folder under the digest of the migrations,
    for the next test sessions: each mutant of ``make mutation`` is one session.
    """
    from flask_migrate import upgrade

    cached = Path(tempfile.gettempdir()) / f"idp-test-template-{_migrations_digest()}.sqlite3"
    if cached.exists():
        return cached
    path = tmp_path_factory.mktemp("template") / "idp.sqlite3"
    app = create_app(TEST_OVERRIDES, environ=environ_for(f"sqlite:///{path}", None))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    # Another session may build it at the same time: each publishes a whole file.
    partial = cached.with_name(f"{cached.name}.{os.getpid()}")
    shutil.copy(path, partial)
    os.replace(partial, cached)
    return path


@pytest.fixture(scope="session")
def postgresql_database():
    """One migrated PostgreSQL database for the session (IDP_TEST_DATABASE_URL)."""
    from flask_migrate import upgrade

    name = backends.create_database(backends.TEST_DATABASE_URL)
    url = backends.sqlalchemy_url(backends.TEST_DATABASE_URL, name)
    app = create_app(TEST_OVERRIDES, environ=environ_for(url, None))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    database = backends.ResettableDatabase(backends.TEST_DATABASE_URL, name)
    yield database
    database.close()
    backends.drop_database(backends.TEST_DATABASE_URL, name)


@pytest.fixture
def database_url(request, tmp_path) -> str:
    """A freshly migrated database: a SQLite file, or PostgreSQL when configured."""
    if backends.ON_POSTGRESQL:
        database = request.getfixturevalue("postgresql_database")
        database.reset()
        return database.url
    path = tmp_path / "idp.sqlite3"
    shutil.copy(request.getfixturevalue("template_database"), path)
    return f"sqlite:///{path}"


@pytest.fixture
def app_environ(database_url, smtp_server) -> dict:
    """Environment of the app under test; tests may add IDP_* variables before ``app``."""
    return environ_for(database_url, smtp_server.port)


class IsolatedClient(FlaskClient):
    """Each request gets its own app context (its own ``g`` and database session),
    as in production, even though the test itself holds one open."""

    def open(self, *args, **kwargs):
        # SQLite transactions begin IMMEDIATE (idp.database): a read the test made
        # holds the write lock until it ends, and the request would wait for it.
        db.session.commit()
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def app(app_environ):
    app = create_app(dict(TEST_OVERRIDES), environ=app_environ)
    app.test_client_class = IsolatedClient
    app.wsgi_app = secrets_hunt.Recorder(app.wsgi_app)
    with app.app_context():
        yield app
        secrets_hunt.saw_audit_rows(app)
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- users and logging in ------------------------------------------------------------


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def make_user(app):
    """Create an account directly in a given state (password set unless provisional)."""

    def make(login="jdupont", password=STRONG_PASSWORD, *, habilitations=("bonuseco",),
             provisional=None, changed_days_ago=1, email=None, **columns) -> User:
        user = services.create_user(services.NewAccount(
            login=login, email=email or f"{login}@example.test", given_name="Jean",
            family_name="Dupont", habilitations=tuple((c, "") for c in habilitations),
        ), actor="test", reason="fixture", now=now())
        if provisional is None:
            user.is_provisional = False
            user.provisional_hash = None
            user.provisional_expires_at = None
            user.password_hash = passwords.hash_password(password)
            user.password_changed_at = now() - timedelta(days=changed_days_ago)
            # An account in use has done its first connection: its secrets are set.
            user.secret_question = SECRET_QUESTION
            user.secret_answer_hash = passwords.hash_password(normalise_answer(SECRET_ANSWER))
            user.first_connection_completed_at = user.password_changed_at
        else:
            user.provisional_hash = passwords.hash_password(provisional)
        for name, value in columns.items():
            setattr(user, name, value)
        after_commit(mail.Outbox).clear()  # the fixture's welcome mails are not under test
        commit()
        return user

    return make


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    if not found:
        found = re.search(r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def post_form(client, url: str, data: dict, *, page_url: str | None = None, **kwargs):
    """GET the page for its CSRF token, then POST the form like a browser."""
    page = client.get(page_url or url)
    payload = {"csrf_token": csrf_token(page.get_data(as_text=True)), **data}
    return client.post(url, data=payload, **kwargs)


def login(client, identifier: str, password: str, **kwargs):
    return post_form(client, "/login", {"identifier": identifier, "password": password}, **kwargs)


def page_text(response) -> str:
    """The page as a person reads it: entities decoded (« d'échecs » is sent as d&#39;échecs)."""
    return html.unescape(response.text)


@pytest.fixture
def audit_rows(app):
    def rows(event: str | None = None) -> list[AuditEvent]:
        db.session.expire_all()
        query = db.select(AuditEvent).order_by(AuditEvent.id)
        if event:
            query = query.where(AuditEvent.event == event)
        return list(db.session.execute(query).scalars())

    return rows


@pytest.fixture
def argon2_calls(monkeypatch) -> list[str]:
    """Every argon2 operation, real or dummy, in order: "verify" or "hash" (argon2-cffi's
    PasswordHasher is the one entry point). What a request costs is proven by counting
    them; timed assertions do not belong in tests (bench/ measures)."""
    made: list[str] = []
    verify = PasswordHasher.verify
    hash_ = PasswordHasher.hash

    def counting_verify(self, stored_hash, password):
        made.append("verify")
        return verify(self, stored_hash, password)

    def counting_hash(self, password, *, salt=None):
        made.append("hash")
        return hash_(self, password, salt=salt)

    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    monkeypatch.setattr(PasswordHasher, "hash", counting_hash)
    return made


def reload(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


@contextmanager
def short_transaction():
    """Read through ``db.session`` in a transaction of its own, ended on leaving the block.

    For reads the next user of the database is not one of the test's clients
    (``IsolatedClient``, ``Browser``), which end the test's transaction themselves:
    SQLite transactions begin IMMEDIATE (idp.database), and a read left open holds the
    write lock that the live server, a second worker or another thread waits for. What
    the test wrote before is committed with it, as the clients do; rows read are expired
    afterwards, so take their values inside the block.
    """
    db.session.expire_all()
    try:
        yield db.session
    finally:
        db.session.commit()


# --- Debian's Chromium, driven by Playwright (tests/browser, tests/modules) -----------------

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling Google's
# hosts, which this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# How long a step may wait for the page (actions and ``expect``): a deadline for a busy
# machine, not a wait; Playwright's 5 s for ``expect`` failed there.
STEP_TIMEOUT_MS = 30_000


@pytest.fixture(scope="session")
def chromium():
    """One Playwright and one Chromium for the whole session: Playwright's sync API
    cannot start twice in one process (its event loop would already be running)."""
    from playwright.sync_api import expect
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


# --- a live server (threads, browsers) -----------------------------------------------


class LiveServer:
    def __init__(self, app, port: int | None = None):
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = make_server("127.0.0.1", self.port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()  # the port is free for the next server at once


@pytest.fixture
def live_server(app):
    server = LiveServer(app).start()
    yield server
    server.stop()


# A deadline for a request to a live server, not a bound: a busy machine may take seconds.
HTTP_TIMEOUT = 60


class Browser:
    """A person's browser on a live IdP: one cookie jar, the IdP's redirects followed
    and the first one off-site (to a module) returned, the login form filled.

    Like ``IsolatedClient``, each request made from the test's own thread first ends
    the test's transaction: SQLite transactions begin IMMEDIATE (idp.database), and a
    read the test left open would make the live server wait for the write lock.
    """

    def __init__(self, idp_url: str):
        self.idp_url = idp_url
        self.http = requests.Session()

    def send(self, method: str, url: str, **kwargs) -> requests.Response:
        """One request, redirects not followed; ``url`` may be a path on the IdP."""
        if has_app_context():  # the test's thread (threads started by a test have none)
            db.session.commit()
        if url.startswith("/"):
            url = self.idp_url + url
        return self.http.request(method, url, allow_redirects=False, timeout=HTTP_TIMEOUT,
                                 **kwargs)

    def post(self, url: str, data: dict | None = None) -> requests.Response:
        return self.send("POST", url, data=data)

    def open(self, url: str) -> requests.Response:
        """GET ``url`` and follow the IdP's redirects; stops at one that leaves the IdP."""
        response = self.send("GET", url)
        while response.status_code in (302, 303):
            location = response.headers["Location"]
            if location.startswith("/"):
                location = self.idp_url + location
            if not location.startswith(self.idp_url):
                return response
            response = self.send("GET", location)
        return response

    def post_login(self, page: requests.Response, login: str,
                   password: str = STRONG_PASSWORD) -> requests.Response:
        """Post the login form shown in ``page`` (its next comes from the URL)."""
        next_url = parse_qs(urlsplit(page.url).query).get("next", [""])[0]
        return self.post("/login", data={"csrf_token": csrf_token(page.text),
                                         "identifier": login, "password": password,
                                         "next": next_url})

    def login(self, page: requests.Response, login: str,
              password: str = STRONG_PASSWORD) -> requests.Response:
        """Log in from ``page`` and follow where the IdP goes next."""
        response = self.post_login(page, login, password)
        assert response.status_code == 303, response.text[:500]
        return self.open(response.headers["Location"])
