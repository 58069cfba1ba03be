"""Production mode: PostgreSQL and Redis (SPEC 5). Run by ``make test-production``.

Each test module gets its own fresh PostgreSQL database, migrated with
``idp db upgrade``; Redis is flushed of this suite's keys only.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import psycopg
import pytest

from idp import create_app
from idp.extensions import db
from tests.conftest import TEST_OVERRIDES
from tests.conftest import IsolatedClient
from tests.conftest import LiveServer
from tests.conftest import environ_for

PG_ADMIN_URL = os.environ.get("IDP_TEST_PG_ADMIN", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="module")
def pg_url():
    name = f"idp_test_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{url}/{name}"
    env = {**os.environ, "IDP_ENV": "testing", "IDP_DATABASE_URL": url}
    subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "idp"), "db", "upgrade"],
        env=env, check=True, capture_output=True,
    )
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/production/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.production)


@pytest.fixture
def app_environ(pg_url, smtp_server):
    return environ_for(pg_url, smtp_server.port, IDP_RATELIMIT_STORAGE_URI=REDIS_URL)


@pytest.fixture
def limiter_prefix() -> str:
    """Rate-limit keys of one test, shared by every app instance of that test."""
    return f"idp-test-{secrets.token_hex(4)}"


def build_app(app_environ, limiter_prefix):
    overrides = dict(TEST_OVERRIDES, RATELIMIT_KEY_PREFIX=limiter_prefix)
    app = create_app(overrides, environ=app_environ)
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture
def app(app_environ, limiter_prefix):
    app = build_app(app_environ, limiter_prefix)
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def live_server(app):
    server = LiveServer(app).start()
    yield server
    server.stop()
