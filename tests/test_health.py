"""Probes for the orchestrator and the fail-closed pages (SPEC 5, REL-01)."""

import pytest

from idp import create_app
from idp.extensions import db
from tests.conftest import TEST_OVERRIDES
from tests.conftest import environ_for
from tests.conftest import free_port
from tests.conftest import page_text


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {
        "status": "ready", "checks": {"database": "ok", "migrations": "ok", "keys": "ok"}}
    assert client.get("/healthz?details").get_json() == {"status": "ok", "dependencies": {
        "database": "ok", "ratelimit": "ok", "migrations": "ok"}}


def test_health_details_are_for_the_metrics_readers_only(client):
    stranger = client.get("/healthz?details", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert stranger.get_json() == {"status": "ok"}


def test_readyz_refuses_a_signing_key_that_does_not_load(client):
    from sqlalchemy import update

    from idp.clock import utcnow
    from idp.database import commit
    from idp.models import SigningKey
    from idp.oidc import keys

    keys.ensure_active(keys.DEFAULT_ALG, utcnow())
    db.session.execute(update(SigningKey).values(private_jwk='{"kty": "RSA"}'))
    commit()
    keys.forget_cached_keys()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {
        "database": "ok", "migrations": "ok", "keys": "down"}


def set_schema_version(version: str) -> None:
    from sqlalchemy import text

    from idp.database import commit

    db.session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": version})
    commit()


def test_readyz_refuses_a_database_behind_the_code(client):
    set_schema_version("0001_accounts_core")  # the first migration: this code knows it
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {
        "database": "ok", "migrations": "down", "keys": "down"}


def test_a_database_ahead_of_the_code_is_ready(client):
    # A newer release ran its expand migration while this one still serves
    # (docs/deployment.md, « Zero-downtime migrations »).
    set_schema_version("9999_of_a_newer_release")
    assert client.get("/readyz").status_code == 200


@pytest.fixture
def broken_database_app(tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "idp.sqlite3"
    return create_app(dict(TEST_OVERRIDES), environ=environ_for(f"sqlite:///{missing}", None))


def test_readyz_reports_an_unreachable_database(broken_database_app):
    response = broken_database_app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "unavailable",
        "checks": {"database": "down", "migrations": "down", "keys": "down"}}
    assert broken_database_app.test_client().get("/healthz").status_code == 200


def test_an_unreachable_database_gives_the_french_503_page(broken_database_app):
    client = broken_database_app.test_client()
    broken_database_app.config["WTF_CSRF_ENABLED"] = False
    response = client.post("/login", data={"identifier": "jdupont", "password": "x" * 12})
    assert response.status_code == 503
    assert "Service indisponible" in page_text(response)
    assert "Retry-After" in response.headers
    assert "Traceback" not in response.text
    assert "sqlite" not in response.text.lower()


@pytest.fixture
def redis_down_app(app_environ):
    # A Redis that does not answer: nothing listens on this loopback port.
    app_environ["IDP_RATELIMIT_STORAGE_URI"] = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(dict(TEST_OVERRIDES, WTF_CSRF_ENABLED=False), environ=app_environ)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_an_unreachable_rate_limit_store_is_a_detail_not_unreadiness(redis_down_app):
    client = redis_down_app.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "migrations": "ok", "keys": "ok"}
    details = client.get("/healthz?details").get_json()["dependencies"]
    assert details == {"database": "ok", "ratelimit": "down", "migrations": "ok"}
    metrics = client.get("/metrics").text
    assert 'idp_dependency_up{dependency="ratelimit"} 0.0' in metrics
    assert 'idp_dependency_up{dependency="database"} 1.0' in metrics


def test_login_is_refused_not_unlimited_without_the_rate_limit_store(redis_down_app):
    response = redis_down_app.test_client().post(
        "/login", data={"identifier": "jdupont", "password": "x" * 12})
    assert response.status_code == 503
    assert "Service indisponible" in page_text(response)
