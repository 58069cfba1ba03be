"""Database engine settings and the one commit per request."""

from __future__ import annotations

import contextvars
import functools
import os
import weakref
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from config import create_private_file
from idp import mail
from idp.extensions import db


def engine_options(uri: str) -> dict:
    """SQLite: a busy timeout so several workers can share the file (SPEC 5).

    PostgreSQL: pre-ping so that connections killed by a restart are replaced
    without restarting the IdP, and a short connect timeout so that an
    unreachable server gives the 503 page quickly instead of holding workers.
    Both: statement parameters (hashes, identifiers) never appear in error
    messages, hence never in logs (REL-07).
    """
    if uri.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False},
                "hide_parameters": True}
    return {"pool_pre_ping": True, "hide_parameters": True,
            "connect_args": {"connect_timeout": 5}}


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
        conn.exec_driver_sql("BEGIN" if _READ_ONLY.get() else "BEGIN IMMEDIATE")


# Set while a view that never writes runs (``read_only``): on SQLite its transaction
# begins DEFERRED, a plain WAL reader that neither waits for writers nor holds them up.
_READ_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("idp_read_only",
                                                                   default=False)


def read_only(view):
    """Mark a view that only reads (userinfo): SQLite need not take the write lock."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        token = _READ_ONLY.set(True)
        try:
            return view(*args, **kwargs)
        finally:
            _READ_ONLY.reset(token)

    return wrapped


def _create_private_database(database: str | None) -> None:
    """Create the SQLite file owner-only before SQLite creates it with the umask's mode.

    An empty file is a valid empty database; SQLite gives its -wal and -shm
    files the permissions of the database file (sqlite.org/tempfiles.html).
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    if not Path(database).parent.is_dir():
        return  # SQLite cannot open it either: /readyz reports it, the pages answer 503
    descriptor = create_private_file(Path(database))
    if descriptor is not None:
        os.close(descriptor)


def init_app(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            _create_private_database(engine.url.database)
            _configure_sqlite(engine)
    _ENGINES.add(engine)


# gunicorn's preload_app forks workers from a process that may hold pooled
# connections: a child must open its own, never share its parent's socket
# (SQLAlchemy "Using Connection Pools with Multiprocessing"). Weak references:
# the test suite builds hundreds of apps and must not keep their engines alive.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _dispose_after_fork() -> None:
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_dispose_after_fork)


def commit(wait_for_mail: bool = False) -> int:
    """Commit the unit of work, then hand over the mails it queued (never before).

    Mails leave from a background thread unless ``wait_for_mail``; then they are
    sent now and the number that could not be delivered is returned.
    """
    db.session.commit()
    return mail.flush(wait=wait_for_mail)
