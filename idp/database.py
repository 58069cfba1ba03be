"""Database engine settings and the one commit per request."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from idp import mail
from idp.extensions import db


def engine_options(uri: str) -> dict:
    """SQLite: a busy timeout so several workers can share the file (SPEC 5)."""
    if uri.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True}


def _configure_sqlite(engine: Engine) -> None:
    """WAL mode and IMMEDIATE transactions (the SQLAlchemy pysqlite recipe).

    Deferred transactions that read then write fail with SQLITE_BUSY when
    another writer committed in between; beginning IMMEDIATE makes writers
    queue on the busy timeout instead, which keeps the lockout, the code
    redemption and the audit chain atomic across processes.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def init_app(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            _configure_sqlite(engine)


def commit() -> int:
    """Commit the unit of work, then send the mails it queued (never before).

    Returns the number of mails that could not be delivered.
    """
    db.session.commit()
    return mail.flush()
