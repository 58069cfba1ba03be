"""Prometheus metrics (SPEC 5): who may read them, and what they count."""

from __future__ import annotations

import http.client

import pytest
from prometheus_client import REGISTRY

from idp import audit
from idp.extensions import db
from tests.conftest import HTTP_TIMEOUT
from tests.conftest import STRONG_PASSWORD
from tests.conftest import LiveServer
from tests.conftest import login

METRICS_TOKEN = "m" * 20 + "etrics-token-0123456789"


@pytest.fixture
def app_environ(app_environ):
    app_environ["IDP_METRICS_TOKEN"] = METRICS_TOKEN
    return app_environ


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_loopback_reads_the_metrics(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "idp_request_duration_seconds" in response.text


def test_other_networks_do_not_see_the_metrics(client):
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", environ_base=outside).status_code == 404
    wrong = {"Authorization": "Bearer " + "x" * 43}
    assert client.get("/metrics", environ_base=outside, headers=wrong).status_code == 404


def test_the_bearer_token_opens_the_metrics_from_anywhere(client):
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"},
                          headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200


def test_configured_networks_replace_loopback(app_environ):
    from idp import create_app
    from tests.conftest import TEST_OVERRIDES

    app_environ["IDP_METRICS_ALLOWED_NETWORKS"] = "10.0.0.0/8, 192.0.2.7"
    app = create_app(dict(TEST_OVERRIDES), environ=app_environ)
    client = app.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
    assert client.get("/metrics").status_code == 404
    with app.app_context():
        db.engine.dispose()


def test_logins_and_locks_are_counted_by_outcome(client, make_user, app):
    make_user("jdupont")
    before = {name: sample("idp_logins_total", outcome=name) for name in ("success", "credentials")}
    locks = sample("idp_account_locks_total")
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    other = app.test_client()  # signed in, the first one would be sent home
    for _ in range(app.config["IDP_LOCKOUT_THRESHOLD"]):
        login(other, "jdupont", "wrong-password-1")
    assert sample("idp_logins_total", outcome="success") == before["success"] + 1
    assert sample("idp_logins_total", outcome="credentials") == before["credentials"] + 3
    assert sample("idp_account_locks_total") == locks + 1


def test_an_event_counts_only_once_its_transaction_commits(app):
    before = sample("idp_password_changes_total")
    audit.record("password.changed", outcome="success", login="someone")
    db.session.rollback()
    assert sample("idp_password_changes_total") == before
    audit.record("password.changed", outcome="success", login="someone")
    db.session.commit()
    assert sample("idp_password_changes_total") == before + 1


def test_tokens_are_counted_by_grant(app):
    before = sample("idp_tokens_issued_total", grant="refresh_token")
    audit.record("token.issued", outcome="success", grant="refresh_token", family="f")
    db.session.commit()
    assert sample("idp_tokens_issued_total", grant="refresh_token") == before + 1


def test_request_latency_is_observed_by_endpoint(client):
    before = sample("idp_request_duration_seconds_count", endpoint="health.healthz")
    client.get("/healthz")
    assert sample("idp_request_duration_seconds_count", endpoint="health.healthz") == before + 1
    unmatched = sample("idp_request_duration_seconds_count", endpoint="unmatched")
    client.get("/no-such-page")
    assert sample("idp_request_duration_seconds_count", endpoint="unmatched") == unmatched + 1
    assert sample("idp_request_duration_seconds_count", endpoint="health.healthz") == before + 1


def get_metrics_from(server, source: str, forwarded_for: str) -> int:
    """GET /metrics over real HTTP from a loopback ``source`` address, claiming a client."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=HTTP_TIMEOUT,
                                            source_address=(source, 0))
    try:
        connection.request("GET", "/metrics", headers={"X-Forwarded-For": forwarded_for})
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.fixture
def behind_a_proxy(app_environ):
    """gunicorn reachable directly, the proxy at 127.0.0.3, Prometheus at 127.0.0.1."""
    from idp import create_app
    from tests.conftest import TEST_OVERRIDES

    app_environ.update(IDP_PROXY_HOPS="1", IDP_TRUSTED_PROXIES="127.0.0.3",
                       IDP_METRICS_ALLOWED_NETWORKS="127.0.0.1")
    app = create_app(dict(TEST_OVERRIDES), environ=app_environ)
    server = LiveServer(app).start()
    yield server
    server.stop()
    with app.app_context():
        db.engine.dispose()


def test_a_forwarded_address_opens_the_metrics_only_through_the_trusted_proxy(behind_a_proxy):
    # Straight to gunicorn, claiming Prometheus's address: not believed.
    assert get_metrics_from(behind_a_proxy, "127.0.0.2", "127.0.0.1") == 404
    # Through the proxy, which appended the real client's address.
    assert get_metrics_from(behind_a_proxy, "127.0.0.3", "127.0.0.1") == 200
    assert get_metrics_from(behind_a_proxy, "127.0.0.3", "127.0.0.1, 127.0.0.2") == 404


def test_a_latency_that_cannot_be_recorded_leaves_the_answer_alone(client, monkeypatch, caplog):
    from idp import metrics

    def full_disk(endpoint, started):
        raise OSError("No space left on device")

    monkeypatch.setattr(metrics, "observe", full_disk)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "request latency not observed: OSError" in caplog.text
