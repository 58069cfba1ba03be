"""Console fixtures: an operator logged in through the IdP's own login page."""

from __future__ import annotations

import pytest

from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import page_text

OPERATOR = "agent.martin"


@pytest.fixture
def operator(make_user):
    return make_user(OPERATOR, habilitations=("bonuseco", "assistance"),
                     email="agent.martin@asp.test")


@pytest.fixture
def console(client, operator):
    """The test client, logged in as the operator."""
    response = login(client, OPERATOR, STRONG_PASSWORD)
    assert response.status_code == 303, page_text(response)
    return client


def act(client, url: str, data: dict, **kwargs):
    """GET the action page (its CSRF token), then POST the form."""
    page = client.get(url)
    assert page.status_code == 200, page_text(page)
    return client.post(url, data={"csrf_token": csrf_token(page.text), **data}, **kwargs)


def confirm(client, url: str, reason: str = "appel de l'utilisateur", **extra):
    """A destructive action: reason and the confirmation box."""
    return act(client, url, {"reason": reason, "confirm": "y", **extra})
