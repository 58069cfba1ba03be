"""The audit chain on PostgreSQL, where transactions commit out of order and where the
previous release made every audit writer wait for the others (docs/security.md,
« Audit trail »)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text

from idp import audit
from idp.extensions import db
from idp.models import AuditEvent
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.sealing import seal_audit

DEADLINE = 60  # seconds: for a busy machine, never a wait


@contextmanager
def another_connection():
    """A second connection in a transaction, as another request or process would hold."""
    with db.engine.connect() as connection:
        with connection.begin() as transaction:
            yield connection
            if transaction.is_active:
                transaction.rollback()


def test_a_row_committed_after_higher_ids_were_sealed_is_sealed_next(app):
    seal_audit()
    with another_connection() as slow:
        late_id = slow.execute(insert(AuditEvent.__table__).values(  # takes its id first...
            created_at=datetime.now(UTC), event="test.late", outcome="info", details={},
        ).returning(AuditEvent.id)).scalar_one()
        audit.record("test.early", n=1)
        audit.record("test.early", n=2)
        db.session.commit()
        assert seal_audit() == 2  # ...the later rows are sealed, the late one is not visible
        slow.commit()  # ...and commits last
    assert seal_audit() == 1

    rows = db.session.execute(select(AuditEvent.id, AuditEvent.event, AuditEvent.seal_seq)
                              .where(AuditEvent.event.like("test.%"))
                              .order_by(AuditEvent.seal_seq)).all()
    assert [event for _, event, _ in rows] == ["test.early", "test.early", "test.late"]
    assert rows[2].id == late_id < rows[0].id
    assert [seq for _, _, seq in rows] == [rows[0].seal_seq + n for n in range(3)]
    assert audit.verify_chain() is None
    assert audit.unsealed().count == 0


def test_a_login_does_not_wait_for_an_open_transaction_that_wrote_audit_rows(app, client,
                                                                           make_user):
    """The previous release chained at insert time under an advisory lock: this login
    waited for the other transaction, until lock_timeout cancelled it (503)."""
    make_user("pressee")
    wrote, done = threading.Event(), threading.Event()

    def another_request() -> None:
        with app.app_context():
            audit.record("test.open", n=1)
            wrote.set()
            done.wait(timeout=DEADLINE)  # not committed while the login runs
            db.session.rollback()
            db.session.remove()

    other = threading.Thread(target=another_request)
    other.start()
    try:
        assert wrote.wait(timeout=DEADLINE)
        response = login(client, "pressee", STRONG_PASSWORD)
    finally:
        done.set()
        other.join()
    assert response.status_code == 303


def test_a_sealer_at_work_holds_up_no_login_and_the_other_sealers_skip(app, client, runner,
                                                                         make_user):
    make_user("pendant")
    with another_connection() as sealer:
        assert sealer.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                              {"k": audit._SEALER_LOCK_KEY}).scalar_one()
        response = login(client, "pendant", STRONG_PASSWORD)
        db.session.commit()
        assert audit.seal() is None  # another sealer has the lock: this one skips
        skipped = runner.invoke(args=["audit", "seal"])
    assert response.status_code == 303
    assert (skipped.exit_code, skipped.stdout) == (
        0, "Scellement déjà en cours ailleurs : rien à faire ici.\n")
    assert audit.unsealed().count > 0
    assert seal_audit() > 0
    assert audit.verify_chain() is None
