"""How many SQL statements the hot requests send: each at most its budget.

The budgets are the counts measured on the code of today (they are not targets): a
change that adds a statement to a login, an SSO authorization, a code redemption, a
refresh or a userinfo fails here and must say why, lowering a budget is welcome.
Counted: every statement the engine sends (SQLAlchemy's ``before_cursor_execute``),
except the ``BEGIN`` SQLite's transactions send themselves (idp.database) and
PostgreSQL's driver sends unseen; commits and rollbacks are not statements here.
The counts are the same whatever the machine's load: timings are bench/'s business.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from idp.extensions import db
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.security.oauth import authorize
from tests.security.oauth import redeem
from tests.security.oauth import refresh
from tests.security.oauth import register_module

# The counts measured, the same on SQLite and on PostgreSQL (``make test-postgresql``
# runs this file there); a request may send fewer, never more.
BUDGETS = {"login": 12, "authorize": 7, "token": 7, "refresh": 7, "userinfo": 1,
           "userinfo with habilitations": 2}


@contextmanager
def counted_statements():
    """The statements the engine sends inside the block, in order."""
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith("BEGIN"):
            sent.append(" ".join(statement.split())[:160])

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def within_budget(request: str, sent: list[str]) -> None:
    budget = BUDGETS[request]
    assert len(sent) <= budget, (
        f"{request} sends {len(sent)} statements, budget {budget}:\n" + "\n".join(sent))


@pytest.fixture
def flow(app, client, make_user):
    """An account that has done its first connection and a module, nothing counted."""
    make_user()
    return register_module()


def test_login_form_post(client, flow):
    page = client.get("/login")
    form = {"csrf_token": csrf_token(page.get_data(as_text=True)),
            "identifier": "jdupont", "password": STRONG_PASSWORD}
    with counted_statements() as sent:
        response = client.post("/login", data=form)
    assert response.status_code == 303
    within_budget("login", sent)


def test_authorize_with_an_open_sso_session(client, flow):
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    authorize(client, flow.client_id, nonce="first")  # the session's first: not counted
    with counted_statements() as sent:
        query, _verifier = authorize(client, flow.client_id, nonce="second")
    assert query["code"]
    within_budget("authorize", sent)


def test_code_redemption_refresh_and_userinfo(client, flow):
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    # The IdP's first token creates its signing key: not the hot path, not counted.
    query, verifier = authorize(client, flow.client_id, nonce="first")
    assert redeem(client, flow, query["code"], verifier).status_code == 200
    query, verifier = authorize(client, flow.client_id, scope="openid profile", nonce="second")
    with counted_statements() as sent:
        tokens = redeem(client, flow, query["code"], verifier)
    assert tokens.status_code == 200
    within_budget("token", sent)

    with counted_statements() as sent:
        refreshed = refresh(client, flow, tokens.json["refresh_token"])
    assert refreshed.status_code == 200
    within_budget("refresh", sent)

    bearer = {"Authorization": f"Bearer {refreshed.json['access_token']}"}
    with counted_statements() as sent:
        userinfo = client.get("/userinfo", headers=bearer)
    assert userinfo.status_code == 200
    assert userinfo.json["given_name"] == "Jean"
    within_budget("userinfo", sent)


def test_userinfo_with_the_habilitations_scope(client, flow):
    """The scope modules use most: the account and its valid grants, one read each."""
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    query, verifier = authorize(client, flow.client_id, nonce="first")
    assert redeem(client, flow, query["code"], verifier).status_code == 200
    query, verifier = authorize(client, flow.client_id, scope="openid profile habilitations",
                                nonce="second")
    tokens = redeem(client, flow, query["code"], verifier)
    assert tokens.status_code == 200
    bearer = {"Authorization": f"Bearer {tokens.json['access_token']}"}
    with counted_statements() as sent:
        userinfo = client.get("/userinfo", headers=bearer)
    assert userinfo.status_code == 200
    assert [grant["code"] for grant in userinfo.json["habilitations"]] == ["bonuseco"]
    within_budget("userinfo with habilitations", sent)
