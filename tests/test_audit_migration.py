"""The migration to the sealed audit chain keeps the rows chained before it: they are
sealed in id order and still verify, and the sealer goes on from the last one. On a
SQLite file, or on a fresh PostgreSQL database with ``make test-postgresql``."""

from __future__ import annotations

import importlib.util
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from flask_migrate import downgrade
from flask_migrate import upgrade
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text

from idp import audit
from idp import create_app
from idp.extensions import db
from idp.models import AuditEvent
from tests import backends
from tests.conftest import TEST_OVERRIDES
from tests.conftest import environ_for
from tests.sealing import seal_audit

BEFORE = "0008_first_connection"
MIGRATION = Path(__file__).resolve().parent.parent / "migrations/versions/0009_audit_sealing.py"
# Ids with gaps, as PostgreSQL leaves them (a rolled-back insert consumes its id).
OLD_IDS = (1, 2, 4, 7, 8)


@pytest.fixture
def empty_database_url(tmp_path):
    if not backends.ON_POSTGRESQL:
        yield f"sqlite:///{tmp_path / 'old.sqlite3'}"
        return
    name = backends.create_database(backends.TEST_DATABASE_URL, prefix="idp_migration")
    yield backends.sqlalchemy_url(backends.TEST_DATABASE_URL, name)
    backends.drop_database(backends.TEST_DATABASE_URL, name)


def chain_the_old_way() -> None:
    """Rows as the previous release wrote them: chained at insert time, in id order."""
    prev = audit.GENESIS
    for number, row_id in enumerate(OLD_IDS):
        values = {"created_at": datetime(2026, 3, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=number),
                  "event": "login.success", "outcome": "success", "login": f"user-{number}",
                  "user_id": number, "ip": "192.0.2.1", "client_id": None, "actor": None,
                  "details": {"n": number, "reason": "ancien é"}}
        digest = audit.row_hash(prev, values)
        db.session.execute(insert(AuditEvent.__table__).values(
            id=row_id, prev_hash=prev, hash=digest, **values))
        prev = digest
    if db.engine.dialect.name == "postgresql":  # explicit ids leave the sequence behind
        db.session.execute(text("SELECT setval(pg_get_serial_sequence('audit_events', 'id'), "
                                "(SELECT max(id) FROM audit_events))"))
    db.session.commit()


def sealed_order() -> list[tuple[int, int | None]]:
    db.session.expire_all()
    return [tuple(row) for row in db.session.execute(
        select(AuditEvent.id, AuditEvent.seal_seq).order_by(AuditEvent.id))]


def test_rows_chained_before_are_sealed_in_id_order_and_still_verify(empty_database_url,
                                                                      smtp_server):
    app = create_app(dict(TEST_OVERRIDES), environ=environ_for(empty_database_url, None))
    with app.app_context():
        upgrade(revision=BEFORE)
        chain_the_old_way()
        db.session.remove()
        db.engine.dispose()

        upgrade()

        assert sealed_order() == [(row_id, n + 1) for n, row_id in enumerate(OLD_IDS)]
        assert audit.verify_chain() is None
        assert audit.unsealed().count == 0
        last = db.session.execute(select(AuditEvent).where(AuditEvent.id == 8)).scalar_one()
        last_hash = last.hash
        audit.record("test.after", n=1)
        db.session.commit()
        assert seal_audit() == 1
        after = db.session.execute(
            select(AuditEvent).where(AuditEvent.event == "test.after")).scalar_one()
        assert (after.seal_seq, after.prev_hash) == (len(OLD_IDS) + 1, last_hash)
        assert audit.verify_chain() is None
        db.session.remove()  # SQLite: the migration's connection would wait for this one

        downgrade(revision=BEFORE)  # everything sealed: the previous release's shape
        db.session.remove()
        db.engine.dispose()
        upgrade()
        assert audit.verify_chain() is None
        db.session.remove()
        db.engine.dispose()


def test_the_numbering_runs_in_batches_without_gap(app):
    for n in range(7):
        audit.record("test.row", n=n)
    db.session.commit()
    spec = importlib.util.spec_from_file_location("audit_sealing_migration", MIGRATION)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    migration.BATCH = 3

    migration._number_the_chained_rows(db.session.connection())
    db.session.commit()

    numbered = [seq for _, seq in sealed_order()]
    assert numbered == [1, 2, 3, 4, 5, 6, 7]
    assert db.session.execute(text("SELECT count(*) FROM audit_events")).scalar_one() == 7
