"""Atomicity on PostgreSQL across concurrent requests (SPEC 5)."""

from __future__ import annotations

import threading

import requests
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func
from sqlalchemy import select

from idp import audit
from idp.extensions import db
from idp.models import AuditEvent
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import reload
from tests.security.concurrency import run_concurrently


def test_migrated_schema_matches_the_models(app):
    with db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert differences == []


def _attempt(url: str, identifier: str, password: str) -> str:
    session = requests.Session()
    page = session.get(f"{url}/login", timeout=30)
    response = session.post(
        f"{url}/login",
        data={"csrf_token": csrf_token(page.text), "identifier": identifier, "password": password},
        allow_redirects=False, timeout=60,
    )
    return "success" if response.status_code == 303 else response.text


def test_concurrent_wrong_passwords_lock_exactly_once(app, live_server, make_user, audit_rows):
    user = make_user("concurrent")
    results = run_concurrently(20, lambda i: _attempt(live_server.url, "concurrent", "wrong-" * 3))
    assert "success" not in results
    user = reload(user)
    assert user.failed_attempts == 3
    assert user.locked_until is not None
    assert len([r for r in audit_rows("account.locked") if r.login == "concurrent"]) == 1
    checked = [r for r in audit_rows("login.failure")
               if r.login == "concurrent" and r.details.get("reason") == "credentials"]
    assert len(checked) == 3
    assert _attempt(live_server.url, "concurrent", STRONG_PASSWORD) != "success"


def test_one_right_password_among_concurrent_wrong_ones_is_checked_once(
    app, live_server, make_user, audit_rows
):
    make_user("racer")
    for _ in range(2):
        _attempt(live_server.url, "racer", "wrong-password-x")
    results = run_concurrently(
        20, lambda i: _attempt(live_server.url, "racer", STRONG_PASSWORD if i == 7 else "nope" * 4)
    )
    checked = [r for r in audit_rows("login.failure")
               if r.login == "racer" and r.details.get("reason") == "credentials"]
    successes = results.count("success")
    # Only the threshold's last slot was open: one password check in all.
    assert len(checked) + successes == 3


def test_audit_chain_stays_linear_under_concurrent_writers(app):
    barrier = threading.Barrier(8)

    def writer(index: int) -> None:
        with app.app_context():
            barrier.wait()
            for n in range(10):
                audit.record("test.concurrent", login=f"writer-{index}", n=n)
                db.session.commit()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.session.expire_all()
    count = db.session.execute(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "test.concurrent")
    ).scalar_one()
    assert count == 80
    assert audit.verify_chain() is None
