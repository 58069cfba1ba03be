"""Unexpected errors: a French 500 page with a reference, nothing inside leaks (HDR-06)."""

import logging

import pytest

from idp import create_app
from idp.assistance.permissions import OperatorNotAllowed
from idp.exceptions import InvalidInput
from tests.conftest import TEST_OVERRIDES


@pytest.fixture
def failing_app(app_environ):
    app = create_app(dict(TEST_OVERRIDES), environ=app_environ)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internal detail: password=hunter2")

    @app.get("/refused")
    def refused():
        raise OperatorNotAllowed("vous ne pouvez pas agir sur votre propre compte")

    @app.get("/invalid")
    def invalid():
        raise InvalidInput("adresse électronique invalide « x »")

    return app


def test_unexpected_error_gives_the_french_500_page(failing_app, caplog):
    with caplog.at_level(logging.ERROR):
        response = failing_app.test_client().get("/boom")
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "Erreur du service" in text
    assert "Référence de l'incident" in text
    assert "Traceback" not in text
    assert "hunter2" not in text
    assert "RuntimeError" not in text
    assert "0 800 74 74 00" in text
    # The log keeps the reference for the operators, with the exception type.
    assert any("RuntimeError" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/refused", 403, "vous ne pouvez pas agir sur votre propre compte"),
    ("/invalid", 400, "adresse électronique invalide « x »"),
])
def test_a_refusal_no_view_shows_gets_the_french_page_with_its_status(failing_app, path,
                                                                     status, message):
    response = failing_app.test_client().get(path)
    assert response.status_code == status
    text = response.get_data(as_text=True)
    assert message in text
    assert "Référence de l'incident" not in text


def test_malformed_requests_get_french_pages(client):
    assert "Requête invalide" in client.post("/login", data={"identifier": "x"}).get_data(
        as_text=True)
    too_big = client.post("/login", data={"identifier": "x" * (300 * 1024)})
    assert too_big.status_code == 413
    assert "trop volumineuses" in too_big.get_data(as_text=True)
    assert client.open("/login", method="TRACE").status_code == 405
