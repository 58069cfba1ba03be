"""Production mode: PostgreSQL, Redis and gunicorn (SPEC 5). Run by ``make test-production``.

Each test module gets its own fresh PostgreSQL database, migrated once; rate
limits count in Redis under a prefix of their own. ``gunicorn_server`` starts the
real ``gunicorn.conf.py`` (4 workers, ``IDP_ENV=production``) on that database;
the in-process ``app`` (same database, same secret key) sets up accounts and
modules and reads the results.
"""

from __future__ import annotations

import os
import secrets

import pytest

from idp import create_app
from idp.database import commit
from idp.extensions import db
from idp.oidc.registration import NewClient
from idp.oidc.registration import create_client
from tests import backends
from tests.conftest import TEST_OVERRIDES
from tests.conftest import IsolatedClient
from tests.conftest import LiveServer
from tests.conftest import environ_for
from tests.production.flows import CALLBACK
from tests.production.flows import Module
from tests.production.servers import Gunicorn

PG_ADMIN_URL = backends.TEST_DATABASE_URL or "postgresql://127.0.0.1:5432/test"
REDIS_URL = backends.TEST_REDIS_URL or "redis://127.0.0.1:6379/0"
# Races must meet the lockout and the atomic updates, not the rate limits.
UNLIMITED = {name: "10000/minute" for name in (
    "IDP_RATELIMIT_LOGIN", "IDP_RATELIMIT_LOGIN_IDENTIFIER", "IDP_RATELIMIT_TOKEN",
    "IDP_RATELIMIT_FORGOT_PASSWORD")}
# Nor the lock timeout: twenty requests queued on one row on two busy cores may wait
# longer than the production default (3 s) for the ones before them, and get a 503.
RACES = UNLIMITED | {"IDP_DB_LOCK_TIMEOUT_MS": "20000"}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/production/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.production)
            # The one asyncio code of this process is the test's own TCP relay
            # (servers.CuttableProxy). Under load, a connection the kernel accepted as
            # the relay closed can be collected by CPython 3.11 before its handler ever
            # runs, its socket unclosed: a ResourceWarning about the harness, never
            # about the IdP, which runs in its own processes here.
            item.add_marker(pytest.mark.filterwarnings(
                "ignore:unclosed transport:ResourceWarning"))


@pytest.fixture(scope="module")
def pg_url():
    """A fresh database for the module, migrated in process."""
    from flask_migrate import upgrade

    name = backends.create_database(PG_ADMIN_URL)
    url = backends.sqlalchemy_url(PG_ADMIN_URL, name)
    app = create_app(dict(TEST_OVERRIDES), environ=environ_for(url, None))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    yield url
    backends.drop_database(PG_ADMIN_URL, name)


@pytest.fixture(scope="module")
def secret_key() -> str:
    """Shared by gunicorn and the in-process app: it keys the stored client secrets."""
    return secrets.token_urlsafe(32)


@pytest.fixture
def app_environ(pg_url, smtp_server, secret_key):
    return environ_for(pg_url, smtp_server.port, IDP_RATELIMIT_STORAGE_URI=REDIS_URL,
                       IDP_SECRET_KEY=secret_key)


@pytest.fixture
def limiter_prefix(monkeypatch) -> str:
    """Rate-limit keys of one test, shared by every app instance of that test
    (set on the module-level limiter, which keeps the first app's prefix)."""
    from idp.extensions import limiter

    prefix = f"idp-test-{secrets.token_hex(4)}"
    monkeypatch.setattr(limiter, "_key_prefix", prefix)
    return prefix


def build_app(app_environ, limiter_prefix):
    overrides = dict(TEST_OVERRIDES, RATELIMIT_KEY_PREFIX=limiter_prefix)
    app = create_app(overrides, environ=app_environ)
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture
def app(app_environ, limiter_prefix):
    app = build_app(app_environ, limiter_prefix)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def live_server(app):
    server = LiveServer(app).start()
    yield server
    server.stop()


def production_environ(database_url: str, smtp_port: int, secret_key: str, **extra) -> dict:
    """What an operator sets (README, docs/deployment.md), on loopback."""
    return {
        "IDP_ENV": "production", "IDP_SECRET_KEY": secret_key,
        "IDP_DATABASE_URL": database_url, "IDP_RATELIMIT_STORAGE_URI": REDIS_URL,
        "IDP_RATELIMIT_KEY_PREFIX": f"idp-test-{secrets.token_hex(4)}",
        "IDP_MAIL_SERVER": "127.0.0.1", "IDP_MAIL_PORT": str(smtp_port), **extra,
    }


@pytest.fixture
def start_gunicorn(pg_url, smtp_server, secret_key, tmp_path):
    """Start gunicorn (4 workers) with extra IDP_* settings; stopped after the test."""
    started: list[Gunicorn] = []

    def start(database_url: str | None = None, **extra) -> Gunicorn:
        environ = production_environ(database_url or pg_url, smtp_server.port, secret_key,
                                     **extra)
        server = Gunicorn(environ, tmp_path)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def gunicorn_server(pg_url, smtp_server, secret_key, tmp_path_factory):
    """One gunicorn for a module's races, without rate limits in the way."""
    environ = production_environ(pg_url, smtp_server.port, secret_key, **RACES)
    server = Gunicorn(environ, tmp_path_factory.mktemp("gunicorn")).start()
    yield server
    server.stop()


@pytest.fixture
def make_module(app):
    def make(client_id: str | None = None) -> Module:
        client_id = client_id or f"module-{secrets.token_hex(3)}"
        _client, secret = create_client(NewClient(
            client_id=client_id, name=f"Module {client_id}", redirect_uris=[CALLBACK],
            habilitation="bonuseco", skip_consent=True,
        ), actor="test")
        commit()
        return Module(client_id, secret)

    return make
