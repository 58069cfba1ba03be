"""Request ids and JSON logs in production (SPEC 5, SECURITY-CHECKLIST REL-07)."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from logging.config import fileConfig
from pathlib import Path

import pytest
from flask import Flask

from config import load_config
from idp import create_app
from idp import logs
from idp.extensions import db
from tests import backends
from tests.conftest import TEST_OVERRIDES


def test_every_response_carries_a_fresh_request_id(client):
    first = client.get("/healthz").headers["X-Request-Id"]
    second = client.get("/healthz").headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


def test_a_well_formed_request_id_is_kept(client):
    given = "3f1c2a9e-5b7d-4e0f-9a61-2c8d7e4b1f00"
    response = client.get("/healthz", headers={"X-Request-Id": given})
    assert response.headers["X-Request-Id"] == given


@pytest.mark.parametrize("given", ["short", "a b c d e f g h", "x" * 129, "id<script>alert"])
def test_a_malformed_request_id_is_replaced(client, given):
    response = client.get("/healthz", headers={"X-Request-Id": given})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])


@pytest.fixture
def production_app(database_url, smtp_server):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    # Production refuses memory:// limits; without a test Redis, the store is swapped
    # for the in-process one after the configuration check (this app has one process).
    overrides = {**TEST_OVERRIDES} if backends.TEST_REDIS_URL else {
        **TEST_OVERRIDES, "RATELIMIT_STORAGE_URI": "memory://", "RATELIMIT_STORAGE_OPTIONS": {}}
    app = create_app(overrides, environ={
        "IDP_ENV": "production", "IDP_DATABASE_URL": database_url,
        "IDP_SECRET_KEY": "k7Qz-3vLp9Xw2Rm8Tb4Nc6Yh1Jd5Fg0Sa", "IDP_ISSUER": "http://127.0.0.1:5000",
        "IDP_MAIL_SERVER": "127.0.0.1", "IDP_MAIL_PORT": str(smtp_server.port),
        "IDP_RATELIMIT_STORAGE_URI": backends.TEST_REDIS_URL or "redis://127.0.0.1:6379/0",
    })
    app.log_stream = io.StringIO()
    root.handlers[0].setStream(app.log_stream)
    yield app
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    app.extensions["idp_audit_sealer"].stop()  # started by the first request (not testing)
    with app.app_context():
        db.engine.dispose()


def test_production_logs_json_lines_with_the_request_id_and_no_query(production_app):
    client = production_app.test_client()
    response = client.get("/authorize?code=SECRET-CODE-123&state=xyz",
                          headers={"X-Request-Id": "req-0123456789"})
    lines = [json.loads(line) for line in production_app.log_stream.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "idp.access"]
    assert access, lines
    assert access[-1]["request_id"] == "req-0123456789" == response.headers["X-Request-Id"]
    assert access[-1]["path"] == "/authorize"
    assert access[-1]["status"] == response.status_code
    assert "SECRET-CODE-123" not in json.dumps(lines)


def test_discovery_served_from_its_cached_bytes_is_logged_like_any_request(production_app):
    client = production_app.test_client()
    path = "/.well-known/openid-configuration"
    client.get(path)  # built by the view
    response = client.get(path, headers={"X-Request-Id": "req-cached-0001"})  # cached bytes
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    lines = [json.loads(line) for line in production_app.log_stream.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "idp.access"]
    assert [line["endpoint"] for line in access[-2:]] == ["oidc_api.discovery"] * 2
    assert access[-1]["request_id"] == "req-cached-0001"
    assert access[-1]["status"] == 200


def test_a_failure_on_the_way_out_still_has_its_access_line(production_app):
    """A hook after the view fails, then the error page's hooks fail again: the
    answer is a 500 all the same, and its access line is written."""

    def broken(response):
        raise RuntimeError("after the commit")

    production_app.after_request(broken)
    response = production_app.test_client().get(
        "/healthz", headers={"X-Request-Id": "req-broken-00001"})
    assert response.status_code == 500
    lines = [json.loads(line) for line in production_app.log_stream.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "idp.access"]
    assert access[-1]["request_id"] == "req-broken-00001"
    assert (access[-1]["status"], access[-1]["path"]) == (500, "/healthz")


def logged_after_a_closed_stderr(configure, capsys) -> str:
    """Configure logging while sys.stderr is a buffer (a command runner's), close it,
    log: what reached the real stderr."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    swapped = io.StringIO()
    real, sys.stderr = sys.stderr, swapped
    try:
        configure()
    finally:
        sys.stderr = real
    swapped.close()
    try:
        logging.getLogger("idp.test").warning("after the runner")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    return capsys.readouterr().err


def test_production_logs_follow_the_current_stderr(capsys):
    # An application built while click's CliRunner had swapped sys.stderr.
    app = Flask(__name__)
    app.config.update(load_config({"IDP_ENV": "testing"}), ENV_NAME="production")
    err = logged_after_a_closed_stderr(lambda: logs.init_app(app), capsys)
    assert "after the runner" in err
    assert "Logging error" not in err


def test_migration_logs_follow_the_current_stderr(capsys):
    # migrations/alembic.ini configures logging at each ``db upgrade``.
    ini = Path(__file__).resolve().parent.parent / "migrations" / "alembic.ini"
    err = logged_after_a_closed_stderr(
        lambda: fileConfig(ini, disable_existing_loggers=False), capsys)
    assert "after the runner" in err
    assert "Logging error" not in err
