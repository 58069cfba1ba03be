"""Faults under gunicorn: a worker killed, PostgreSQL and Redis unreachable (REL-01).

The machine's PostgreSQL and Redis are shared (CI), so they are never stopped:
gunicorn reaches them through a ``CuttableProxy`` that the test cuts and restores.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests
from sqlalchemy import func
from sqlalchemy import select

from idp import audit
from idp.extensions import db
from idp.models import AuditEvent
from idp.models import User
from idp.models import UserSession
from tests import backends
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import short_transaction
from tests.production.conftest import PG_ADMIN_URL
from tests.production.conftest import REDIS_URL
from tests.production.conftest import UNLIMITED
from tests.production.flows import LoginAttempt
from tests.production.flows import attempt
from tests.production.flows import get_code
from tests.production.flows import redeem
from tests.production.flows import sign_in
from tests.production.servers import CuttableProxy
from tests.security.concurrency import run_concurrently

RECOVERY_SECONDS = 20
MSG_UNAVAILABLE = "Service indisponible"


def until(condition, seconds: float = RECOVERY_SECONDS, every: float = 0.2) -> bool:
    """Whether ``condition`` came true before the deadline (a deadline, never a wait)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


def logs_in(url: str, login: str) -> bool:
    try:
        return attempt(url, login, STRONG_PASSWORD).status_code == 303
    except requests.RequestException:
        return False


# --- a worker killed in the middle of a login -------------------------------------------


def post_or_killed(login_attempt: LoginAttempt, login: str) -> int | str:
    try:
        return login_attempt.post(login, STRONG_PASSWORD).status_code
    except requests.ConnectionError:
        return "killed"


def all_sealed() -> bool:
    with short_transaction():
        return audit.unsealed().count == 0


def assert_whole(logins: list[str]) -> None:
    """No half-written login: the audit chain holds (sealed by the workers' sealer
    threads, idp.audit_sealer), and a session exists exactly when its login.success
    row does."""
    assert until(all_sealed), "the workers never sealed the audit rows"
    with short_transaction():
        assert audit.verify_chain() is None
        for login in logins:
            user = db.session.execute(select(User).where(User.login == login)).scalar_one()
            sessions = db.session.execute(
                select(UserSession).where(UserSession.user_id == user.id)).scalars().all()
            successes = db.session.execute(select(AuditEvent).where(
                AuditEvent.event == "login.success", AuditEvent.login == login)).scalars().all()
            assert len(sessions) == len(successes) <= 1
            assert user.failed_attempts <= 1  # at most the one reservation the kill cut short


def a_check_is_reserved(logins: list[str]) -> bool:
    """Whether a login is between the reservation of its password check (committed before
    the slow hash: one failed attempt) and its outcome."""
    with short_transaction():
        return db.session.execute(select(func.count()).select_from(User).where(
            User.login.in_(logins), User.failed_attempts > 0)).scalar_one() > 0


def kill_in_flight(app, server, logins: list[str], finished: threading.Event):
    """Kill the workers once a login is in flight, however fast or slow the machine."""

    def watch() -> None:
        with app.app_context():
            seen = until(lambda: finished.is_set() or a_check_is_reserved(logins), every=0.005)
            if seen and not finished.is_set():
                server.kill_workers()

    watcher = threading.Thread(target=watch)
    watcher.start()
    return watcher


def test_workers_killed_during_logins_leave_consistent_data(start_gunicorn, make_user, app):
    server = start_gunicorn(**UNLIMITED)
    logins = [f"killed-{i}" for i in range(12)]
    for login in logins:
        make_user(login)
    attempts = [LoginAttempt.prepare(server.url) for _ in logins]
    finished = threading.Event()
    watcher = kill_in_flight(app, server, logins, finished)
    results = run_concurrently(len(logins), lambda i: post_or_killed(attempts[i], logins[i]))
    finished.set()
    watcher.join()
    assert "killed" in results, results  # the kill met logins in flight
    server.wait_ready()  # gunicorn replaced the workers

    assert_whole(logins)
    # Everyone can start again, in the same browser, whether its login went through or not.
    for login, login_attempt in zip(logins, attempts, strict=True):
        page = login_attempt.session.get(f"{server.url}/login", timeout=30)
        if page.status_code == 200 and 'name="password"' in page.text:
            login_attempt.token = csrf_token(page.text)
            assert login_attempt.post(login, STRONG_PASSWORD).status_code == 303
        else:  # its login had completed: the SSO session is there
            assert "/login" not in page.url


# --- PostgreSQL and Redis unreachable ---------------------------------------------------


@pytest.fixture
def pg_proxy():
    port = backends.make_url_port(PG_ADMIN_URL)
    proxy = CuttableProxy(port).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def redis_proxy():
    proxy = CuttableProxy(backends.make_url_port(REDIS_URL, default=6379)).start()
    yield proxy
    proxy.stop()


class Load:
    """Background browsers posting the login form until stopped; their statuses."""

    def __init__(self, url: str, login: str, threads: int = 4):
        self.url, self.login = url, login
        self.statuses: list = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                login_attempt = LoginAttempt.prepare(self.url)  # the page needs no database
                posted_at = time.monotonic()
                status = login_attempt.post(self.login, "Mauvais-Mot-De-Passe-00").status_code
            except requests.RequestException as error:
                posted_at, status = time.monotonic(), type(error).__name__
            self.statuses.append((posted_at, time.monotonic(), status))

    def between(self, start: float, end: float) -> list:
        """Statuses of the posts sent and answered inside [start, end)."""
        return [status for posted_at, answered_at, status in self.statuses
                if start <= posted_at and answered_at < end]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def test_postgresql_unreachable_under_load_fails_closed_then_recovers(
        start_gunicorn, pg_url, pg_proxy, make_user):
    make_user("steady")
    make_user("loaded")
    through_proxy = pg_url.replace(
        f":{backends.make_url_port(PG_ADMIN_URL)}/", f":{pg_proxy.port}/")
    server = start_gunicorn(database_url=through_proxy, **UNLIMITED)
    assert logs_in(server.url, "steady")
    with Load(server.url, "loaded") as load:
        assert until(lambda: len(load.statuses) >= 4), server.log_tail()  # the load runs
        pg_proxy.cut()
        cut_at = time.monotonic()
        # Posts sent and answered during the outage, however long each one takes.
        assert until(lambda: len(load.between(cut_at, time.monotonic())) >= 4, seconds=60), \
            server.log_tail()
        ready = requests.get(f"{server.url}/readyz", timeout=10)
        login = LoginAttempt.prepare(server.url).post("steady", STRONG_PASSWORD)
        restored_at = time.monotonic()
        pg_proxy.restore()
        assert until(lambda: logs_in(server.url, "steady")), server.log_tail()
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "down"
    assert login.status_code == 503
    assert MSG_UNAVAILABLE in login.text
    during = load.between(cut_at, restored_at)
    assert during
    assert set(during) == {503}, during  # fail closed: no check, no page, no 500
    assert {status for *_, status in load.statuses} <= {200, 503}
    assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200


def test_redis_unreachable_refuses_logins_then_recovers(start_gunicorn, redis_proxy, make_user,
                                                        make_module):
    user = make_user("limited-by-redis")
    module = make_module()
    server = start_gunicorn(
        IDP_RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{redis_proxy.port}/0", **UNLIMITED)
    browser = sign_in(server.url, "limited-by-redis", STRONG_PASSWORD)
    tokens = redeem(server.url, module, *get_code(server.url, browser, module)).json()
    redis_proxy.cut()
    try:
        login_attempt = LoginAttempt.prepare(server.url)  # the page itself has no limit
        response = login_attempt.post("limited-by-redis", STRONG_PASSWORD)
        ready = requests.get(f"{server.url}/readyz", timeout=10)
        details = requests.get(f"{server.url}/healthz?details", timeout=10).json()
        scraped = requests.get(f"{server.url}/metrics", timeout=10).text
        # What needs no rate limit goes on: the documents, userinfo, an SSO login.
        served = [requests.get(f"{server.url}{path}", timeout=10).status_code
                  for path in ("/.well-known/openid-configuration", "/jwks")]
        userinfo = requests.get(f"{server.url}/userinfo", timeout=10, headers={
            "Authorization": f"Bearer {tokens['access_token']}"})
        code, _verifier = get_code(server.url, browser, module)
    finally:
        redis_proxy.restore()
    assert response.status_code == 503
    assert MSG_UNAVAILABLE in response.text
    # Redis is shared by every host: its loss must not take them all out of the pool.
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "keys": "ok"}
    assert details["dependencies"]["ratelimit"] == "down"
    assert 'idp_dependency_up{dependency="ratelimit"} 0.0' in scraped
    assert served == [200, 200]
    assert userinfo.status_code == 200
    assert code
    with short_transaction():
        assert db.session.get(User, user.id).failed_attempts == 0  # not even checked
    assert until(lambda: logs_in(server.url, "limited-by-redis")), server.log_tail()
