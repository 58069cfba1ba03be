"""The login state machine seen from the browser and the database (idp.auth.flow):
each step answers 303 to the next, the flow row moves one version per step and
ends when the session opens; a new login ends what it replaces, and only that;
a step that lost a race changes nothing (SPEC 1.1, SESS-04)."""

from __future__ import annotations

import hashlib
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from idp.auth import flow
from idp.database import commit
from idp.extensions import db
from idp.models import LoginFlow
from idp.models import UserSession
from idp.security import sessions
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import post_form
from tests.conftest import reload

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PROVISIONAL = "Pr0visoireABCDE"
CAPTCHA = "KM7RT4"
QUESTION = "Quel est le nom de votre premier animal de compagnie ?"
BROWSER = {"User-Agent": "Navigateur-Test/1.0"}
ADDRESS = {"REMOTE_ADDR": "198.51.100.7"}


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def newcomer(app, make_user):
    app.config["IDP_CAPTCHA_FIXED_TEXT"] = CAPTCHA
    return make_user("newbie", provisional=PROVISIONAL)


def flow_rows() -> dict[str, LoginFlow]:
    """Every flow row, by its id hash, as the database holds it now."""
    db.session.expire_all()
    rows = db.session.execute(select(LoginFlow)).scalars().all()
    return {row.id_hash: row for row in rows}


def flow_of(client) -> LoginFlow | None:
    with client.session_transaction() as cookie:
        token = cookie.get("flow")
    if token is None:
        return None
    db.session.expire_all()
    return db.session.get(LoginFlow, hashlib.sha256(token.encode()).hexdigest())


def stale_copy(row: LoginFlow) -> LoginFlow:
    """The flow as a request read it before another request changed it."""
    return LoginFlow(id_hash=row.id_hash, user_id=row.user_id, version=row.version,
                     pending_steps=list(row.pending_steps))


def change_password(client, password=STRONG_PASSWORD, **kwargs):
    return post_form(client, "/password-change",
                     {"new_password": password, "confirmation": password}, **kwargs)


def set_secret(client, answer="Rantanplan", **kwargs):
    return post_form(client, "/first-connection/secret-question",
                     {"question": QUESTION, "own_question": "", "answer": answer}, **kwargs)


def answer_captcha(client, **kwargs):
    return post_form(client, "/first-connection/captcha", {"text": CAPTCHA}, **kwargs)


def assert_303(response, location: str) -> None:
    assert (response.status_code, response.headers["Location"]) == (303, location)


def live_sessions() -> list[UserSession]:
    db.session.expire_all()
    return list(db.session.execute(
        select(UserSession).where(UserSession.ended_at.is_(None))).scalars())


# --- one login through its steps -----------------------------------------------------


def test_each_step_moves_the_flow_one_version_then_the_session_opens(
    client, newcomer, clock, audit_rows
):
    assert_303(login(client, "newbie", PROVISIONAL), "/password-change")
    row = flow_of(client)
    assert (row.pending_steps, row.version, row.password_change_reason, row.amr) == (
        ["password_change", "secret_question", "captcha"], 0, "provisional", ["pwd"])
    assert (row.authenticated_at, row.expires_at, row.consumed_at) == (
        START, START + timedelta(minutes=30), None)
    [pending] = audit_rows("login.steps_pending")
    assert (pending.outcome, pending.login, pending.user_id, pending.details) == (
        "info", "newbie", newcomer.id,
        {"steps": ["password_change", "secret_question", "captcha"]})

    clock.shift(timedelta(minutes=1))
    assert_303(change_password(client), "/first-connection/secret-question")
    row = flow_of(client)
    assert (row.pending_steps, row.version) == (["secret_question", "captcha"], 1)
    # The secret question still needs the probe of the new password.
    assert row.password_probe is not None
    assert row.password_length == len(STRONG_PASSWORD)

    clock.shift(timedelta(minutes=1))
    assert_303(set_secret(client), "/first-connection/captcha")
    row = flow_of(client)
    assert (row.pending_steps, row.version, row.consumed_at) == (["captcha"], 2, None)
    # Past the secret question the probe is useless: forgotten at once.
    assert (row.password_probe, row.password_length) == (None, None)

    clock.shift(timedelta(minutes=1))
    assert_303(answer_captcha(client, headers=BROWSER, environ_base=ADDRESS), "/")
    assert flow_of(client) is None  # the cookie holds the session now, not the flow
    [row] = flow_rows().values()
    assert (row.pending_steps, row.version, row.consumed_at) == ([], 3, START
                                                                 + timedelta(minutes=3))
    [session] = live_sessions()
    assert (session.user_id, session.auth_time, session.amr, session.ip,
            session.user_agent, session.created_at) == (
        newcomer.id, START, ["pwd"], "198.51.100.7", "Navigateur-Test/1.0",
        START + timedelta(minutes=3))
    assert reload(newcomer).last_login_at == START + timedelta(minutes=3)
    [success] = audit_rows("login.success")
    assert (success.outcome, success.login, success.user_id, success.ip, success.details) == (
        "success", "newbie", newcomer.id, "198.51.100.7", {"sid": session.sid})


def test_the_flow_id_in_the_cookie_is_256_random_bits(client, newcomer):
    login(client, "newbie", PROVISIONAL)
    with client.session_transaction() as cookie:
        token = cookie["flow"]
    assert len(token) == 43  # 32 bytes, URL-safe base64 without padding
    assert flow_of(client) is not None


def test_a_login_without_steps_opens_the_session_and_ends_its_flow(
    client, make_user, clock, audit_rows
):
    user = make_user()
    page = client.get("/login", query_string={"next": "/authorize?client_id=demo"})
    response = client.post("/login", data={
        "csrf_token": csrf_token(page.text), "identifier": "jdupont",
        "password": STRONG_PASSWORD, "next": "/authorize?client_id=demo",
    }, headers=BROWSER)
    assert_303(response, "/authorize?client_id=demo")
    [row] = flow_rows().values()
    assert (row.pending_steps, row.consumed_at, row.next_url) == (
        [], START, "/authorize?client_id=demo")
    [session] = live_sessions()
    assert (session.user_id, session.auth_time, session.amr, session.user_agent) == (
        user.id, START, ["pwd"], "Navigateur-Test/1.0")
    # The session knows which request its password check was made for (prompt=login).
    assert sessions.was_opened_for(session, "/authorize?client_id=demo", START)
    assert not sessions.was_opened_for(session, "/authorize?client_id=other", START)
    assert audit_rows("login.steps_pending") == []


def test_a_login_whose_secrets_were_cleared_asks_only_the_secret_question(
    client, make_user, audit_rows
):
    make_user(secret_question=None, secret_answer_hash=None)
    assert_303(login(client, "jdupont", STRONG_PASSWORD), "/first-connection/secret-question")
    assert audit_rows("login.steps_pending")[0].details == {"steps": ["secret_question"]}
    # No new password in this flow: no answer is refused for containing it.
    assert_303(set_secret(client, answer="Rantanplan le chien"), "/")
    assert client.get("/").status_code == 200


def test_a_page_needing_a_session_sends_a_login_in_progress_to_its_step(client, newcomer,
                                                                        clock):
    assert_303(client.get("/"), "/login?next=/")
    login(client, "newbie", PROVISIONAL)
    assert_303(client.get("/"), "/password-change")
    change_password(client)
    assert_303(client.get("/account/password"), "/first-connection/secret-question")
    # Past its thirty minutes the flow is over: back to the login page.
    clock.shift(timedelta(minutes=30))
    assert_303(client.get("/"), "/login?next=/")


# --- a new login replaces ------------------------------------------------------------


def relogin(client, identifier: str, password: str):
    """A login in a browser holding a session (as a request asking prompt=login does)."""
    return login(client, identifier, password, page_url="/login?next=/")


def test_a_new_login_in_this_browser_ends_the_session_it_held(app, client, make_user,
                                                            clock, audit_rows):
    user = make_user()
    login(client, "jdupont", STRONG_PASSWORD)
    [first] = live_sessions()
    clock.shift(timedelta(minutes=5))
    assert_303(relogin(client, "jdupont", STRONG_PASSWORD), "/")
    [second] = live_sessions()
    assert second.id != first.id
    db.session.expire_all()
    assert db.session.get(UserSession, first.id).ended_at == START + timedelta(minutes=5)
    [logout] = audit_rows("logout")
    assert (logout.outcome, logout.login, logout.user_id, logout.details) == (
        "success", "jdupont", user.id, {"sid": first.sid, "via": "relogin"})
    # Another browser's session is not this browser's: it stays.
    other = app.test_client()
    login(other, "jdupont", STRONG_PASSWORD)
    assert len(live_sessions()) == 2
    assert len(audit_rows("logout")) == 1


def test_a_new_login_with_steps_ends_the_session_once_the_steps_are_done(
    client, make_user, clock, audit_rows
):
    user = make_user()
    login(client, "jdupont", STRONG_PASSWORD)
    [first] = live_sessions()
    user = reload(user)
    user.secret_question, user.secret_answer_hash = None, None  # cleared by the Assistance
    commit()
    assert_303(relogin(client, "jdupont", STRONG_PASSWORD), "/first-connection/secret-question")
    assert [row.id for row in live_sessions()] == [first.id]
    assert audit_rows("logout") == []
    assert_303(set_secret(client), "/")
    [second] = live_sessions()
    assert second.id != first.id
    [logout] = audit_rows("logout")
    assert logout.details == {"sid": first.sid, "via": "relogin"}


def test_a_new_login_ends_the_accounts_open_flows_and_this_browsers_own(app, make_user,
                                                                        newcomer, clock):
    make_user("other", provisional="Autre0ProvisoireX")
    first_browser, second_browser, bystander = (app.test_client() for _ in range(3))
    login(first_browser, "newbie", PROVISIONAL)
    first_flow = flow_of(first_browser).id_hash
    login(bystander, "other", "Autre0ProvisoireX")
    bystanders_flow = flow_of(bystander).id_hash

    clock.shift(timedelta(minutes=1))
    login(second_browser, "newbie", PROVISIONAL)  # elsewhere: the first flow ends
    second_flow = flow_of(second_browser).id_hash
    assert flow_rows()[first_flow].consumed_at == START + timedelta(minutes=1)
    assert_303(first_browser.get("/password-change"), "/login")

    clock.shift(timedelta(minutes=1))
    login(first_browser, "newbie", PROVISIONAL)  # back in the first browser
    rows = flow_rows()
    assert rows[second_flow].consumed_at == START + timedelta(minutes=2)
    assert rows[first_flow].consumed_at == START + timedelta(minutes=1)  # ended once
    assert rows[bystanders_flow].consumed_at is None
    assert bystander.get("/password-change").status_code == 200

    # This browser's flow ends with a login as someone else, the account's other flows not.
    clock.shift(timedelta(minutes=1))
    third_flow = flow_of(first_browser).id_hash
    login(second_browser, "newbie", PROVISIONAL)
    fourth_flow = flow_of(second_browser).id_hash
    make_user("jdupont")
    assert_303(login(second_browser, "jdupont", STRONG_PASSWORD), "/")
    rows = flow_rows()
    assert rows[fourth_flow].consumed_at == START + timedelta(minutes=3)
    assert rows[third_flow].consumed_at == START + timedelta(minutes=3)  # by the 4th login
    assert rows[bystanders_flow].consumed_at is None
    assert all(row.password_probe is None for row in rows.values())


def test_a_browsers_flow_ends_when_it_logs_in_as_someone_else(app, make_user, newcomer):
    make_user("jdupont")
    browser, elsewhere = app.test_client(), app.test_client()
    login(elsewhere, "newbie", PROVISIONAL)
    login(browser, "newbie", PROVISIONAL)  # ends the flow elsewhere
    login(elsewhere, "newbie", PROVISIONAL)  # ends the browser's flow...
    login(browser, "newbie", PROVISIONAL)  # ...and the browser takes over again
    browsers_flow = flow_of(browser).id_hash
    elsewheres_flow = flow_of(elsewhere).id_hash
    assert flow_rows()[elsewheres_flow].consumed_at is not None
    # Not the same account: only this browser's own flow ends.
    login(elsewhere, "newbie", PROVISIONAL)
    newest = flow_of(elsewhere).id_hash
    login(browser, "jdupont", STRONG_PASSWORD)
    rows = flow_rows()
    assert rows[browsers_flow].consumed_at is not None
    assert rows[newest].consumed_at is None
    assert elsewhere.get("/password-change").status_code == 200


def test_finishing_a_login_leaves_the_other_accounts_flows_open(app, make_user, newcomer):
    make_user("expired", changed_days_ago=91)
    make_user("jdupont")
    newbie, expired, regular = (app.test_client() for _ in range(3))
    login(newbie, "newbie", PROVISIONAL)
    login(expired, "expired", STRONG_PASSWORD)
    # One step done by one account: the other account's flow is where it was.
    assert_303(change_password(newbie), "/first-connection/secret-question")
    assert flow_of(expired).pending_steps == ["password_change"]
    assert flow_of(expired).version == 0
    assert expired.get("/password-change").status_code == 200
    # A login that finishes (with or without steps) consumes its own flow only.
    assert_303(login(regular, "jdupont", STRONG_PASSWORD), "/")
    assert_303(change_password(expired, "Autruche-Violon-Cascade-62"), "/")
    row = flow_of(newbie)
    assert (row.consumed_at, row.pending_steps) == (None, ["secret_question", "captcha"])
    assert newbie.get("/first-connection/secret-question").status_code == 200


# --- races: a step posted twice, a flow ended meanwhile ------------------------------


def test_a_step_completed_meanwhile_is_not_completed_again(app, client, newcomer):
    login(client, "newbie", PROVISIONAL)
    read_before = stale_copy(flow_of(client))
    assert_303(change_password(client), "/first-connection/secret-question")
    with app.test_request_context():
        response = flow.complete_step(read_before, "password_change", START)
    assert_303(response, "/login")
    row = flow_of(client)
    assert (row.pending_steps, row.version, row.consumed_at) == (
        ["secret_question", "captcha"], 1, None)
    assert row.password_probe is not None
    assert live_sessions() == []


def test_a_flow_ended_meanwhile_cannot_move_on(app, client, newcomer):
    login(client, "newbie", PROVISIONAL)
    read_before = stale_copy(flow_of(client))
    login(app.test_client(), "newbie", PROVISIONAL)  # ends it
    with app.test_request_context():
        response = flow.complete_step(read_before, "password_change", START)
    assert_303(response, "/login")
    row = flow_rows()[read_before.id_hash]
    assert (row.pending_steps, row.version) == (["password_change", "secret_question",
                                                 "captcha"], 0)
    assert row.consumed_at is not None


def test_an_ended_flow_never_opens_a_session(app, client, make_user, audit_rows):
    make_user("expired", changed_days_ago=91)
    login(client, "expired", STRONG_PASSWORD)
    read_before = stale_copy(flow_of(client))
    login(app.test_client(), "expired", STRONG_PASSWORD)  # ends it
    with app.test_request_context():
        response = flow.finish(read_before, START)
    assert_303(response, "/login")
    commit()
    assert live_sessions() == []
    assert audit_rows("login.success") == []
