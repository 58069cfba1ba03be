"""`idp db upgrade` builds exactly the models' schema and the built-in habilitations."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy import text

from idp.extensions import db
from idp.models import BUILTIN_HABILITATIONS

IDP = Path(sys.executable).parent / "idp"


def test_db_upgrade_gives_the_models_schema_and_builtin_habilitations(tmp_path):
    path = tmp_path / "empty.sqlite3"
    sqlite3.connect(path).close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "FLASK_"))}
    env.update(IDP_ENV="testing", IDP_DATABASE_URL=f"sqlite:///{path}")

    result = subprocess.run([str(IDP), "db", "upgrade"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), db.metadata)
            habilitations = dict(conn.execute(text("SELECT code, label FROM habilitations")).all())
    finally:
        engine.dispose()
    assert differences == []
    assert habilitations == BUILTIN_HABILITATIONS == {"bonuseco": "Bonus Eco",
                                                      "assistance": "Assistance"}
