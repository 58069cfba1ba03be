"""The home page's recent connections and open sessions, each of which the user can end."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.auth import user_agents
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


# --- the browser of each session, as a person names it ------------------------------

FIREFOX_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 "
                   "Firefox/128.0")


@pytest.mark.parametrize(("header", "named"), [
    (FIREFOX_WINDOWS, "Firefox sur Windows"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0", "Edge sur Windows"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0.0.0 Safari/537.36", "Chrome sur Linux"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Safari/605.1.15", "Safari sur macOS"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari sur iPhone"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) CriOS/126.0 Mobile/15E148 Safari/604.1", "Chrome sur iPhone"),
    ("Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36", "Samsung Internet sur Android"),
    ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0.0.0 Mobile Safari/537.36 OPR/82.0", "Opera sur Android"),
    ("Mozilla/5.0 (Windows NT 10.0; Trident/7.0; rv:11.0) like Gecko",
     "Internet Explorer sur Windows"),
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0.0.0 Safari/537.36", "Chrome sur ChromeOS"),
    ("python-requests/2.32.3", "Navigateur non reconnu"),
    ("Something (Windows NT 10.0) Safari/1.0", "Navigateur non reconnu sur Windows"),
    ("", "inconnu"),
    (None, "inconnu"),
])
def test_a_user_agent_is_named_as_a_person_says_it(header, named):
    assert user_agents.describe(header) == named


def test_the_sessions_table_names_the_browser(app, make_user):
    make_user()
    browser = app.test_client()
    login(browser, "jdupont", STRONG_PASSWORD, headers={"User-Agent": FIREFOX_WINDOWS})
    text = page_text(browser.get("/", headers={"User-Agent": FIREFOX_WINDOWS}))
    assert '<td class="idp-wrap">Firefox sur Windows</td>' in text
    assert "Gecko/20100101" not in text
