"""The migrations give exactly the models' schema on PostgreSQL too (SPEC 5).

The concurrency tests of the lockout and the audit chain run on PostgreSQL with
the whole suite (`make test-postgresql`) and under gunicorn (test_gunicorn_*.py)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from idp.extensions import db


def test_migrated_schema_matches_the_models(app):
    with db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert differences == []
