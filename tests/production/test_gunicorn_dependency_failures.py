"""Redis or PostgreSQL failing in the middle of a request, on gunicorn (docs/deployment.md).

Redis is cut at the moment PostgreSQL commits (``CommitWatcher``): whatever the
request did is committed, and its answer must still be the one of committed
work, never an error; a request that comes while Redis is down is refused
before it does anything. Every answer, the 5xx first, has its access-log line.
"""

from __future__ import annotations

import json
import secrets
import time

import psycopg
import pytest
import requests
from sqlalchemy import text

from idp.extensions import db
from tests import backends
from tests.conftest import STRONG_PASSWORD
from tests.conftest import short_transaction
from tests.production.conftest import PG_ADMIN_URL
from tests.production.conftest import REDIS_URL
from tests.production.flows import TIMEOUT
from tests.production.flows import LoginAttempt
from tests.production.flows import get_code
from tests.production.flows import redeem
from tests.production.flows import sign_in
from tests.production.servers import CommitWatcher
from tests.production.servers import CuttableProxy

MSG_INVALID = "Le couple identifiant/ mot de passe est incorrecte"


@pytest.fixture
def redis_proxy():
    proxy = CuttableProxy(backends.make_url_port(REDIS_URL, default=6379)).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def commits():
    proxy = CommitWatcher(backends.make_url_port(PG_ADMIN_URL)).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def server(commits, redis_proxy, start_gunicorn, pg_url):
    """gunicorn reaching PostgreSQL and Redis through the two proxies (stopped before
    them: fixtures end in the reverse order of their start)."""
    through_proxy = pg_url.replace(
        f":{backends.make_url_port(PG_ADMIN_URL)}/", f":{commits.port}/")
    # No audit sealer thread: its own COMMITs, every few seconds, would fire the faults
    # armed for the COMMIT of the request under test.
    return start_gunicorn(database_url=through_proxy,
                          IDP_RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{redis_proxy.port}/0",
                          IDP_AUDIT_SEAL_INTERVAL="0")


def access_lines(server) -> dict[str, dict]:
    """The access-log lines of the server, by request id."""
    lines = {}
    for raw in server.log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if entry.get("logger") == "idp.access":
            lines[entry.get("request_id")] = entry
    return lines


class Answers(list):
    """The requests the test sent, each with its own request id."""

    def post(self, url: str, headers: dict | None = None, timeout: float = TIMEOUT,
             **kwargs) -> requests.Response:
        request_id = f"test-{secrets.token_hex(8)}"
        response = requests.post(url, headers={"X-Request-Id": request_id, **(headers or {})},
                                 timeout=timeout, **kwargs)
        self.append((request_id, response.status_code))
        return response

    def assert_logged(self, server) -> None:
        logged = access_lines(server)
        for request_id, status in self:
            assert request_id in logged, (request_id, status, server.log_tail())
            assert logged[request_id]["status"] == status


def refresh(answers: Answers, server, module, refresh_token: str) -> requests.Response:
    return answers.post(f"{server.url}/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh_token,
    }, auth=(module.client_id, module.secret))


def test_redis_lost_at_the_commit_of_a_rotation_still_answers_the_new_tokens(
        server, commits, redis_proxy, make_user, make_module):
    make_user("rotating")
    module = make_module()
    browser = sign_in(server.url, "rotating", STRONG_PASSWORD)
    first = redeem(server.url, module, *get_code(server.url, browser, module)).json()
    browser.close()  # no idle keep-alive connection for gunicorn to wait out when it stops
    answers = Answers()
    commits.arm(redis_proxy.cut)
    try:
        rotated = refresh(answers, server, module, first["refresh_token"])
        assert commits.fired.is_set()  # Redis went away with the rotation's commit
        # Redis still down: refused before anything is done, the new token not spent.
        refused = refresh(answers, server, module, rotated.json().get("refresh_token", ""))
    finally:
        redis_proxy.restore()
    assert rotated.status_code == 200, rotated.text
    assert {"access_token", "id_token", "refresh_token"} <= rotated.json().keys()
    assert refused.status_code == 503
    again = refresh(answers, server, module, rotated.json()["refresh_token"])
    assert again.status_code == 200, again.text  # the answered token is the live one
    answers.assert_logged(server)


def test_redis_lost_at_the_commit_of_a_login_failure_still_shows_the_refusal(
        server, commits, redis_proxy, make_user):
    make_user("failing")
    login_attempt = LoginAttempt.prepare(server.url)
    commits.arm(redis_proxy.cut)
    try:
        request_id = f"test-{secrets.token_hex(8)}"
        login_attempt.session.headers["X-Request-Id"] = request_id
        response = login_attempt.post("failing", "Mauvais-Mot-De-Passe-00")
        assert commits.fired.is_set()
    finally:
        redis_proxy.restore()
        login_attempt.session.close()
    # The failure is counted by the lockout (PostgreSQL); only the limiter's count of it
    # is lost, and logged.
    assert response.status_code == 200, response.text[:300]
    assert MSG_INVALID in response.text
    logged = access_lines(server)
    assert logged[request_id]["status"] == 200
    assert "rate-limit refusal not counted" in server.log_path.read_text()


# --- a database that stops answering without refusing ------------------------------------


def test_the_statement_and_lock_timeouts_reach_every_connection(app):
    with short_transaction():
        found = [db.session.execute(text(f"SHOW {name}")).scalar()
                 for name in ("statement_timeout", "lock_timeout")]
    assert found == ["5s", "3s"]  # the defaults of IDP_DB_STATEMENT_TIMEOUT_MS, ..._LOCK_...


def test_a_frozen_database_answers_a_fast_503_with_its_access_line(
        start_gunicorn, pg_url, make_user, make_module):
    make_user("frozen")
    module = make_module()
    # The statement timeout alone: a wait for a lock counts as the statement's time.
    server = start_gunicorn(IDP_DB_STATEMENT_TIMEOUT_MS="1000", IDP_DB_LOCK_TIMEOUT_MS="0")
    browser = sign_in(server.url, "frozen", STRONG_PASSWORD)
    first = redeem(server.url, module, *get_code(server.url, browser, module)).json()
    browser.close()  # no idle keep-alive connection for gunicorn to wait out when it stops
    answers = Answers()
    with psycopg.connect(backends.psycopg_url(pg_url)) as holder:
        holder.execute("LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE")  # until rollback
        started = time.monotonic()
        frozen = refresh(answers, server, module, first["refresh_token"])
        waited = time.monotonic() - started
        holder.rollback()
    assert frozen.status_code == 503
    assert waited < 10, waited  # not gunicorn's 30 s
    answers.assert_logged(server)
    # Nothing was spent: the same refresh token rotates once the lock is gone.
    assert refresh(answers, server, module, first["refresh_token"]).status_code == 200


def test_a_database_frozen_after_the_commit_of_a_rotation_or_revocation_still_answers(
        server, commits, make_user, make_module):
    """A browser-only module's refresh and revocation: who may read the answer (CORS) is
    known before the commit, so nothing asks PostgreSQL between the commit and the answer."""
    make_user("cors-rotating")
    module = make_module()
    browser = sign_in(server.url, "cors-rotating", STRONG_PASSWORD)
    first = redeem(server.url, module, *get_code(server.url, browser, module)).json()
    browser.close()  # no idle keep-alive connection for gunicorn to wait out when it stops
    origin = "http://127.0.0.1:8765"  # the origin of the module's registered callback
    answers = Answers()
    commits.freeze_after_commit()
    try:
        rotated = answers.post(f"{server.url}/token", data={
            "grant_type": "refresh_token", "refresh_token": first["refresh_token"],
        }, auth=(module.client_id, module.secret), headers={"Origin": origin}, timeout=10)
        assert commits.fired.is_set()  # PostgreSQL stopped answering after the commit
    finally:
        commits.thaw()
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["Access-Control-Allow-Origin"] == origin
    live = refresh(answers, server, module, rotated.json()["refresh_token"]).json()
    commits.freeze_after_commit()
    try:
        revoked = answers.post(f"{server.url}/revoke", data={
            "token": live["refresh_token"], "token_type_hint": "refresh_token",
        }, auth=(module.client_id, module.secret), headers={"Origin": origin}, timeout=10)
        assert commits.fired.is_set()
    finally:
        commits.thaw()
    assert revoked.status_code == 200, revoked.text
    assert revoked.headers["Access-Control-Allow-Origin"] == origin
    assert refresh(answers, server, module, live["refresh_token"]).status_code == 400
    answers.assert_logged(server)
