"""The migration that records the first connection's completion marks the accounts in use."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from flask_migrate import downgrade
from flask_migrate import upgrade

from idp import create_app
from idp.extensions import db
from tests.conftest import TEST_OVERRIDES
from tests.conftest import environ_for

BEFORE = "0007_pkce_optional"
ROWS = {
    # login: (password_hash, password_changed_at, secret_answer_hash, last_login_at)
    "in-use": ("$argon2id$x", "2026-01-02 10:00:00", "$argon2id$a", "2026-02-03 08:00:00"),
    "never-logged": ("$argon2id$x", "2026-01-02 10:00:00", "$argon2id$a", None),
    "reset-pending": (None, "2026-01-02 10:00:00", "$argon2id$a", "2026-02-03 08:00:00"),
    "newcomer": (None, None, None, None),
    "password-only": ("$argon2id$x", "2026-01-02 10:00:00", None, None),
}


def _insert(connection, login: str, values: tuple) -> None:
    password_hash, changed_at, answer_hash, last_login = values
    connection.execute(
        "INSERT INTO users (subject, login, email, given_name, family_name, password_hash, "
        "password_changed_at, is_provisional, secret_answer_hash, failed_attempts, is_active, "
        "last_login_at, reset_failures, created_at, name_key, email_key) VALUES (:login, :login, "
        ":email, 'A', 'B', :ph, :changed, false, :answer, 0, true, :last, 0, "
        "'2026-01-01 09:00:00', 'b a', :email)",
        {"login": login, "email": f"{login}@example.test", "ph": password_hash,
        "changed": changed_at, "answer": answer_hash, "last": last_login})


def test_accounts_past_their_first_connection_are_marked_complete(tmp_path, smtp_server):
    path = tmp_path / "old.sqlite3"
    app = create_app(dict(TEST_OVERRIDES), environ=environ_for(f"sqlite:///{path}", None))
    with app.app_context():
        upgrade(revision=BEFORE)
        db.engine.dispose()
        with sqlite3.connect(path) as connection:
            for login, values in ROWS.items():
                _insert(connection, login, values)
        upgrade(revision="0008_first_connection")
        db.engine.dispose()
        with closing(sqlite3.connect(path)) as connection:
            marked = dict(connection.execute(
                "SELECT login, first_connection_completed_at FROM users").fetchall())
        downgrade(revision=BEFORE)
        db.engine.dispose()
    assert {login: str(value)[:19] if value else None for login, value in marked.items()} == {
        "in-use": "2026-02-03 08:00:00",
        "never-logged": "2026-01-02 10:00:00",
        "reset-pending": "2026-02-03 08:00:00",
        "newcomer": None,
        "password-only": None,
    }
