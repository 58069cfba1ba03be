"""Probes for the orchestrator (SPEC 5)."""

from idp import create_app
from tests.conftest import TEST_OVERRIDES
from tests.conftest import environ_for


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_readyz_reports_an_unreachable_database(tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "idp.sqlite3"
    app = create_app(dict(TEST_OVERRIDES), environ=environ_for(f"sqlite:///{missing}", None))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}
    assert app.test_client().get("/healthz").status_code == 200
