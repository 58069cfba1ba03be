"""The audit chain: requests only insert, the sealer chains (docs/security.md, « Audit
trail »), on the embedded SQLite and on PostgreSQL (``make test-postgresql``)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine
from prometheus_client import REGISTRY
from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text

from idp import audit
from idp import create_app
from idp.audit_sealer import Sealer
from idp.extensions import db
from idp.models import AuditEvent
from tests.conftest import STRONG_PASSWORD
from tests.conftest import TEST_OVERRIDES
from tests.conftest import login
from tests.sealing import seal_audit
from tests.security.concurrency import run_concurrently

DEADLINE = 60  # seconds: for a busy machine, never a wait


def chain() -> list[tuple[int, int | None]]:
    """(id, seal_seq) of every row, in chain order, the unsealed ones last by id."""
    db.session.expire_all()
    return [(row.id, row.seal_seq) for row in db.session.execute(
        select(AuditEvent).order_by(AuditEvent.seal_seq.is_(None), AuditEvent.seal_seq,
                                    AuditEvent.id)).scalars()]


def write(count: int, event: str = "test.row") -> None:
    for n in range(count):
        audit.record(event, n=n)
    db.session.commit()


class Statements(list):
    """Every SQL statement the engine sends while the block runs."""

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        self.append(" ".join(statement.split()))

    def reading_the_chain(self) -> list[str]:
        return [s for s in self if "advisory" in s.lower()
                or (s.upper().startswith("SELECT") and "audit_events" in s)]


# --- requests write without lock; the sealer chains -----------------------------------------


def test_a_login_inserts_its_audit_row_without_lock_nor_reading_the_chain(client, make_user):
    make_user()
    with Statements() as statements:
        response = login(client, "jdupont", STRONG_PASSWORD)
    assert response.status_code == 303
    assert any(s.startswith("INSERT INTO audit_events") for s in statements)
    assert statements.reading_the_chain() == []


def test_a_csv_import_writes_its_rows_without_the_chain_lock(runner, tmp_path, mailbox):
    path = tmp_path / "comptes.csv"
    path.write_text("login,email,given_name,family_name\n"
                    "ginette,ginette@example.test,Ginette,Garnier\n"
                    "hugo,hugo@example.test,Hugo,Henry\n", encoding="utf-8")
    with Statements() as statements:
        result = runner.invoke(args=["users", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert sum(s.startswith("INSERT INTO audit_events") for s in statements) >= 2
    assert statements.reading_the_chain() == []


def test_rows_wait_unsealed_until_the_sealer_chains_them_in_order(app):
    write(5)
    assert [seq for _, seq in chain()] == [None] * 5
    assert audit.unsealed().count == 5

    assert seal_audit() == 5

    rows = chain()
    assert [seq for _, seq in rows] == [1, 2, 3, 4, 5]
    assert [row_id for row_id, _ in rows] == sorted(row_id for row_id, _ in rows)
    assert audit.verify_chain() is None
    assert audit.unsealed().count == 0
    assert seal_audit() == 0


def test_an_idle_round_reads_one_index_and_takes_no_lock(app):
    """Every web process seals every few seconds: with nothing to chain, a round must
    neither wait for the writers (SQLite's write lock) nor take the sealer's lock."""
    write(2)
    assert seal_audit() == 2
    with Statements() as statements:
        assert audit.seal() == 0
    assert [s for s in statements if s.upper().startswith("SELECT")] == [
        s for s in statements if "audit_events" in s]
    assert len([s for s in statements if "audit_events" in s]) == 1
    assert not [s for s in statements if "IMMEDIATE" in s.upper() or "ADVISORY" in s.upper()
                or s.upper().startswith(("UPDATE", "INSERT"))]

    write(1)  # and a row written since is sealed by the next round
    with Statements() as statements:
        assert audit.seal() == 1
    assert any(s.upper().startswith("UPDATE AUDIT_EVENTS") for s in statements)
    assert audit.verify_chain() is None


def test_sealing_goes_on_from_the_end_of_the_chain_in_bounded_batches(app):
    write(7)
    assert audit.seal(batch=3, max_batches=1) == 3
    assert audit.unsealed().count == 4
    assert audit.seal(batch=3) == 4
    first = db.session.execute(
        select(AuditEvent).where(AuditEvent.seal_seq == 1)).scalar_one()
    fourth = db.session.execute(
        select(AuditEvent).where(AuditEvent.seal_seq == 4)).scalar_one()
    third = db.session.execute(
        select(AuditEvent).where(AuditEvent.seal_seq == 3)).scalar_one()
    assert first.prev_hash == audit.GENESIS
    assert fourth.prev_hash == third.hash  # across the two transactions
    assert audit.verify_chain() is None


def test_a_row_that_appears_below_the_sealed_ids_is_sealed_next_not_skipped(app):
    """What PostgreSQL does when transactions commit out of order (a lower id committed
    after higher ones were sealed; tests/production/test_audit_sealing.py does it with
    two connections): here the row is given a low id by hand."""
    table = AuditEvent.__table__
    values = {"created_at": datetime(2026, 5, 1, tzinfo=UTC), "event": "test.row",
              "outcome": "info", "details": {}}
    db.session.execute(insert(table).values(id=1000, **values))
    db.session.commit()
    seal_audit()
    db.session.execute(insert(table).values(id=500, **values))
    db.session.commit()

    assert seal_audit() == 1

    assert chain() == [(1000, 1), (500, 2)]
    assert audit.verify_chain() is None


def test_concurrent_writers_and_sealers_give_one_linear_chain_with_every_row(app):
    db.session.commit()  # the test's own transaction must not hold SQLite's writer lock
    writers, per_writer, sealers = 4, 12, 3
    sealed_some = threading.Event()
    finished = threading.Event()
    remaining = [writers]
    lock = threading.Lock()

    def write_rows(index: int) -> None:
        for n in range(per_writer):
            if n == per_writer // 2:  # the second half while the sealers work
                assert sealed_some.wait(timeout=DEADLINE), "the sealers never sealed"
            audit.record("test.concurrent", login=f"writer-{index}", n=n)
            db.session.commit()
        with lock:
            remaining[0] -= 1
            if remaining[0] == 0:
                finished.set()

    def seal_until_finished() -> None:
        while not finished.is_set():
            if audit.seal(batch=4):
                sealed_some.set()

    def act(index: int) -> None:
        with app.app_context():
            try:
                if index < writers:
                    write_rows(index)
                else:
                    seal_until_finished()
            except BaseException:
                finished.set()  # a failing writer must not leave the sealers looping
                raise
            finally:
                db.session.remove()

    run_concurrently(writers + sealers, act)
    seal_audit()

    rows = chain()
    assert len(rows) == writers * per_writer
    assert sorted(seq for _, seq in rows) == list(range(1, len(rows) + 1))
    assert audit.verify_chain() is None


# --- tampering --------------------------------------------------------------------------


def test_an_edited_sealed_row_breaks_the_chain(app):
    write(3)
    seal_audit()
    row_id = chain()[1][0]
    db.session.execute(text("UPDATE audit_events SET outcome = 'success' WHERE id = :id"),
                       {"id": row_id})
    db.session.commit()
    broken = audit.verify_chain()
    assert (broken.row_id, broken.problem, broken.seal_seq) == (row_id, "edited", 2)


@pytest.mark.parametrize("how", ["DELETE FROM audit_events WHERE id = :id",
                                 "UPDATE audit_events SET seal_seq = NULL WHERE id = :id"])
def test_a_deleted_or_unsealed_row_leaves_a_gap_in_the_chain(app, how):
    write(3)
    seal_audit()
    (first, _), (second, _), (third, _) = chain()
    db.session.execute(text(how), {"id": second})
    db.session.commit()
    seal_audit()  # an unsealed row is sealed again, at the end: the gap stays

    broken = audit.verify_chain()

    assert (broken.row_id, broken.problem, broken.seal_seq) == (third, "missing", 2)


def test_the_first_sealed_row_deleted_is_found(app):
    write(2)
    seal_audit()
    (first, _), (second, _) = chain()
    db.session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": first})
    db.session.commit()
    assert audit.verify_chain() == audit.ChainBreak(second, "missing", 1)


def test_a_secret_cannot_be_written_to_the_audit(app):
    for key in ("password", "secret_answer", "access_token", "captcha_text"):
        with pytest.raises(ValueError, match="could hold a secret"):
            audit.record("test.secret", **{key: "x"})


# --- the gauges --------------------------------------------------------------------------


def metric(client, name: str) -> float | None:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_the_gauges_show_the_unsealed_tail_and_the_counter_the_sealed_rows(app, client):
    sealed_before = REGISTRY.get_sample_value("idp_audit_sealed_events_total") or 0.0
    with time_machine.travel(datetime(2026, 6, 1, 8, 0, tzinfo=UTC), tick=False) as clock:
        write(2)
        clock.shift(timedelta(seconds=30))
        write(1)
        assert metric(client, "idp_audit_unsealed_events") == 3
        assert metric(client, "idp_audit_oldest_unsealed_seconds") == 30
        seal_audit()
        assert metric(client, "idp_audit_unsealed_events") == 0
        assert metric(client, "idp_audit_oldest_unsealed_seconds") == 0
    assert REGISTRY.get_sample_value("idp_audit_sealed_events_total") == sealed_before + 3


def test_the_gauges_are_absent_while_the_database_does_not_answer(app_environ, tmp_path):
    app_environ["IDP_DATABASE_URL"] = f"sqlite:///{tmp_path / 'absent' / 'idp.sqlite3'}"
    broken = create_app(dict(TEST_OVERRIDES), environ=app_environ)
    response = broken.test_client().get("/metrics")
    assert response.status_code == 200
    assert 'idp_dependency_up{dependency="database"} 0.0' in response.text
    assert "idp_audit_unsealed_events" not in response.text


# --- the sealer thread of the web processes ----------------------------------------------


def wait_for_round(sealer: Sealer) -> None:
    assert sealer.round_done.wait(timeout=DEADLINE), "the sealer thread never ran"


def test_the_sealer_thread_seals_and_stops_at_once(app):
    write(4)
    sealer = Sealer(app, interval=3600)
    sealer.ensure_running()
    sealer.ensure_running()  # once per process
    wait_for_round(sealer)

    sealer.stop(timeout=DEADLINE)  # wakes it from its hour-long wait

    assert not sealer.is_running()
    assert sealer.rounds == 1
    assert [seq for _, seq in chain()] == [1, 2, 3, 4]


def test_the_sealer_thread_survives_a_database_that_does_not_answer(app_environ, tmp_path,
                                                                      caplog):
    app_environ["IDP_DATABASE_URL"] = f"sqlite:///{tmp_path / 'absent' / 'idp.sqlite3'}"
    broken = create_app(dict(TEST_OVERRIDES), environ=app_environ)
    sealer = Sealer(broken, interval=3600)
    with caplog.at_level(logging.WARNING, logger="idp.audit_sealer"):
        sealer.ensure_running()
        wait_for_round(sealer)
        assert sealer.is_running()  # it tries again next round
        sealer.stop(timeout=DEADLINE)
    assert not sealer.is_running()
    assert "audit sealing failed, next try in 3600 s: OperationalError" in caplog.text


def test_web_processes_start_the_sealer_on_their_first_request(app_environ):
    app_environ["IDP_AUDIT_SEAL_INTERVAL"] = "3600"
    web = create_app(dict(TEST_OVERRIDES, TESTING=False), environ=app_environ)
    sealer = web.extensions["idp_audit_sealer"]
    assert not sealer.is_running()  # not in the process that built the app (gunicorn's master)
    try:
        assert web.test_client().get("/healthz").status_code == 200
        assert sealer.is_running()
    finally:
        sealer.stop(timeout=DEADLINE)
        with web.app_context():
            db.engine.dispose()


@pytest.mark.parametrize(("interval", "overrides"), [("0", {"TESTING": False}), ("2", {})])
def test_no_sealer_thread_when_off_or_under_test(app_environ, interval, overrides):
    app_environ["IDP_AUDIT_SEAL_INTERVAL"] = interval
    web = create_app(dict(TEST_OVERRIDES, **overrides), environ=app_environ)
    assert web.test_client().get("/healthz").status_code == 200
    assert "idp_audit_sealer" not in web.extensions
