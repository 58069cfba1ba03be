"""The home page's recent connections and open sessions, each of which the user can end."""

from __future__ import annotations

from sqlalchemy import select

from idp.extensions import db
from idp.models import UserSession
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import page_text


def _sids() -> list[str]:
    rows = db.session.execute(select(UserSession).order_by(UserSession.id)).scalars().all()
    return [row.sid for row in rows]


def test_home_lists_recent_connections_and_open_sessions(app, make_user):
    make_user()
    first, second = app.test_client(), app.test_client()
    for browser in (first, second):
        assert login(browser, "jdupont", STRONG_PASSWORD).status_code == 303
    text = page_text(first.get("/"))
    assert "Mes connexions récentes" in text
    assert text.count("<td>127.0.0.1</td>") == 2 + 2  # two sessions, two connections
    assert "(cette session)" in text
    for sid in _sids():
        assert f"/sessions/{sid}/end" in text


def test_ending_another_session_logs_that_browser_out(app, make_user, audit_rows):
    make_user()
    first, second = app.test_client(), app.test_client()
    for browser in (first, second):
        login(browser, "jdupont", STRONG_PASSWORD)
    _mine, other = _sids()
    page = first.get("/")
    response = first.post(f"/sessions/{other}/end", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 303
    assert "La session a été fermée." in page_text(first.get("/"))
    assert second.get("/").status_code == 303  # back to the login page
    assert first.get("/").status_code == 200
    assert audit_rows("logout")[-1].details == {"sid": other, "via": "home"}


def test_ending_the_current_session_is_a_logout(app, client, make_user):
    make_user()
    login(client, "jdupont", STRONG_PASSWORD)
    (mine,) = _sids()
    page = client.get("/")
    response = client.post(f"/sessions/{mine}/end", data={"csrf_token": csrf_token(page.text)})
    assert "Vous êtes déconnecté" in page_text(response)
    assert client.get("/").status_code == 303


def test_ending_a_session_needs_the_csrf_token_and_ones_own_session(app, make_user):
    make_user()
    make_user("mleroy")
    mine, theirs = app.test_client(), app.test_client()
    login(mine, "jdupont", STRONG_PASSWORD)
    login(theirs, "mleroy", STRONG_PASSWORD)
    _own, other_users = _sids()
    assert mine.post(f"/sessions/{other_users}/end").status_code == 400
    page = mine.get("/")
    mine.post(f"/sessions/{other_users}/end", data={"csrf_token": csrf_token(page.text)})
    assert theirs.get("/").status_code == 200  # someone else's session is not ours to end
