"""Database engine settings and the transaction: when it begins, when it ends, and
what happens only once it is committed.

A unit of work begins with its first statement (SQLAlchemy's autobegin) and ends
with ``commit()`` or ``rollback()``, the only two ways the code ends one. What
must happen only if the data is committed (mails, back-channel logouts, metrics)
is added to a batch with ``after_commit``: SQLAlchemy runs the batches once the
transaction is committed, and a rollback drops them. docs/architecture.md says
where each flow commits.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import functools
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from flask import Flask
from sqlalchemy import event
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from config import create_private_file
from idp.extensions import db
from idp.settings import settings


def engine_options(uri: str) -> dict:
    """SQLite: a busy timeout so several workers can share the file.

    PostgreSQL: pre-ping so that connections killed by a restart are replaced
    without restarting the IdP, and a short connect timeout so that an
    unreachable server gives the 503 page quickly instead of holding workers
    (the statement and lock timeouts: ``_configure_postgresql``).
    Both: statement parameters (hashes, identifiers) never appear in error
    messages, hence never in logs.
    """
    if uri.startswith("sqlite"):
        return {"connect_args": {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False,
                                 "factory": QueuedConnection},
                "hide_parameters": True}
    # tcp_user_timeout (ms): a server host that vanished without a reset (no ACK of what
    # was sent) fails the request within seconds instead of TCP's 15 minutes.
    return {"pool_pre_ping": True, "hide_parameters": True,
            "connect_args": {"connect_timeout": 5, "tcp_user_timeout": 10000}}


# How long a writer may wait for the database before its request answers 503: SQLite's
# busy timeout, and the wait of a thread for the other threads of its process.
BUSY_TIMEOUT_S = 30


def _configure_sqlite(engine: Engine) -> None:
    """WAL mode and IMMEDIATE transactions (the SQLAlchemy pysqlite recipe), writers
    queued on a file lock.

    Deferred transactions that read then write fail with SQLITE_BUSY when
    another writer committed in between; beginning IMMEDIATE makes writers
    wait for each other, which keeps the lockout, the code redemption and the
    audit chain atomic across processes. SQLite's own wait (its busy handler)
    sleeps and retries, up to 100 ms a time: under load a writer slept long after
    the lock was free. So a writer first queues in the kernel (``_WriterQueue``)
    and begins IMMEDIATE only once it is at the head; the busy timeout remains for
    whoever writes without queuing (the ``sqlite3`` shell, say).
    """
    queue = _writer_queue(engine.url.database)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if _READ_ONLY.get():
            conn.exec_driver_sql("BEGIN")
            return
        connection = conn.connection.driver_connection
        queued = queue is not None and isinstance(connection, QueuedConnection)
        if queued:
            connection.join_queue(queue)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if queued:
                connection.leave_queue()
            raise


class _WriterQueue:
    """The writers of one SQLite file, one at a time, waiting in the kernel.

    Between processes: an exclusive ``flock`` on ``<database>.lock``; the kernel
    wakes the next waiter when the holder unlocks, closes or dies. A flock
    belongs to an open file description, so each transaction opens its own. The
    threads of one process first take a ``threading.Lock`` (a futex), bounded by
    the busy timeout: a thread that waits on itself (a second connection while
    its first one writes) fails with « database is locked » as SQLite would.
    """

    def __init__(self, lock_path: str):
        self.lock_path = lock_path
        self.threads = threading.Lock()

    def acquire(self) -> int:
        """Wait for the head of the queue; the descriptor that holds the file lock."""
        if not self.threads.acquire(timeout=BUSY_TIMEOUT_S):
            raise OperationalError("BEGIN IMMEDIATE", None,
                                   sqlite3.OperationalError("database is locked"))
        try:
            descriptor = os.open(self.lock_path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            self.threads.release()
            raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        except BaseException:
            os.close(descriptor)
            self.threads.release()
            raise
        return descriptor

    def release(self, descriptor: int) -> None:
        # Unlocked explicitly: a child forked meanwhile shares the open file description,
        # which closing this descriptor alone would leave locked.
        try:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            try:
                os.close(descriptor)
            finally:
                self.threads.release()


# One queue per database file in this process (several engines may open the same file).
_QUEUES: dict[str, _WriterQueue] = {}
_QUEUES_LOCK = threading.Lock()


def _writer_queue(database: str | None) -> _WriterQueue | None:
    """The queue of a database file; None in memory, where one connection is alone."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = os.path.realpath(database)
    with _QUEUES_LOCK:
        return _QUEUES.setdefault(path, _WriterQueue(path + ".lock"))


def _new_thread_locks_after_fork() -> None:
    # A thread of the parent may have held one when it forked: no thread of the child
    # will ever release it. The file locks stay the parent's (``QueuedConnection``).
    for queue in _QUEUES.values():
        queue.threads = threading.Lock()


class QueuedConnection(sqlite3.Connection):
    """A pysqlite connection that leaves the writers' queue when its transaction ends.

    Every end passes here: SQLAlchemy's commit and rollback, the pool's rollback
    when a connection comes back, ``close`` when one is invalidated, and the
    garbage collector for one nobody closed.
    """

    _queued: tuple[_WriterQueue, int, int] | None = None  # queue, descriptor, pid

    def join_queue(self, queue: _WriterQueue) -> None:
        self.leave_queue()
        self._queued = (queue, queue.acquire(), os.getpid())

    def leave_queue(self) -> None:
        queued, self._queued = self._queued, None
        # A forked child inherits the parent's connections and descriptors, not its
        # place in the queue: unlocking would unlock the parent's open file description.
        if queued is not None and queued[2] == os.getpid():
            queued[0].release(queued[1])

    def _end(self, end: Callable[[], None]) -> None:
        """Commit or roll back, then leave unless the transaction is still open (a
        failed COMMIT may leave it so: the rollback that follows leaves)."""
        try:
            end()
        finally:
            try:
                ended = not self.in_transaction
            except sqlite3.ProgrammingError:  # closed
                ended = True
            if ended:
                self.leave_queue()

    def commit(self) -> None:
        self._end(super().commit)

    def rollback(self) -> None:
        self._end(super().rollback)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.leave_queue()

    def __del__(self) -> None:
        self.leave_queue()


# Set while a view that never writes runs (``read_only``): on SQLite its transaction
# begins DEFERRED, a plain WAL reader that neither waits for writers nor holds them up.
_READ_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("idp_read_only",
                                                                   default=False)


@contextlib.contextmanager
def reading():
    """Transactions begun in the block only read: on SQLite they take no write lock."""
    token = _READ_ONLY.set(True)
    try:
        yield
    finally:
        _READ_ONLY.reset(token)


def read_only(view):
    """Mark a view that only reads (userinfo): SQLite need not take the write lock."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        with reading():
            return view(*args, **kwargs)

    return wrapped


def _create_private_database(database: str | None) -> None:
    """Create the SQLite file owner-only before SQLite creates it with the umask's mode,
    and the writers' lock file beside it (``_WriterQueue``): whoever can open that one
    can lock it and hold every writer up.

    An empty file is a valid empty database; SQLite gives its -wal and -shm
    files the permissions of the database file (sqlite.org/tempfiles.html).
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    if not Path(database).parent.is_dir():
        return  # SQLite cannot open it either: /readyz reports it, the pages answer 503
    for path in (Path(database), Path(os.path.realpath(database) + ".lock")):
        descriptor = create_private_file(path)
        if descriptor is not None:
            os.close(descriptor)


def _configure_postgresql(engine: Engine, statement_ms: int, lock_ms: int) -> None:
    """Statement and lock timeouts of every connection, given when it opens.

    A PostgreSQL that stops answering (a stuck query, a lock held elsewhere) would
    hold the request until gunicorn kills the worker (30 s); cancelled by the
    server, the statement fails at once and the request answers 503
    (docs/deployment.md, « PostgreSQL »). libpq's ``options`` carries them in the
    startup packet: no statement, no transaction of their own.
    """
    timeouts = f"-c statement_timeout={int(statement_ms)} -c lock_timeout={int(lock_ms)}"

    @event.listens_for(engine, "do_connect")
    def _with_timeouts(dialect, connection_record, cargs, cparams):
        cparams["options"] = " ".join(filter(None, (cparams.get("options"), timeouts)))


def init_app(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            _create_private_database(engine.url.database)
            _configure_sqlite(engine)
        elif engine.dialect.name == "postgresql":
            found = settings(app)
            _configure_postgresql(engine, found.db_statement_timeout_ms,
                                  found.db_lock_timeout_ms)
    _ENGINES.add(engine)
    # Registered after Flask-SQLAlchemy's own, so it runs first (teardowns run in reverse).
    app.teardown_appcontext(_end_session)


def _end_session(_exc) -> None:
    """End the request's session, whatever became of its connection.

    A view that only reads leaves its transaction open; if the connection was
    dropped meanwhile (PostgreSQL restarted, a network cut), ending it fails, and
    a failing teardown would turn the view's answer into a 500. The connection is
    given up by the pool, the answer stands.
    """
    try:
        db.session.remove()
    except SQLAlchemyError as error:
        log.warning("database session ended on a lost connection: %s", type(error).__name__)
        db.session.remove()


# gunicorn's preload_app forks workers from a process that may hold pooled
# connections: a child must open its own, never share its parent's socket
# (SQLAlchemy "Using Connection Pools with Multiprocessing"). Weak references:
# the test suite builds hundreds of apps and must not keep their engines alive.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _dispose_after_fork() -> None:
    for engine in list(_ENGINES):
        engine.dispose(close=False)
    _new_thread_locks_after_fork()


os.register_at_fork(after_in_child=_dispose_after_fork)


log = logging.getLogger(__name__)

_AFTER_COMMIT = "idp_after_commit"
Batch = TypeVar("Batch", bound=Callable[[], None])


def after_commit(kind: type[Batch]) -> Batch:
    """The ``kind`` batch of the current transaction, created on first use.

    A batch is a callable that collects what to do (``Outbox`` of ``idp.mail``,
    say) and does it when called: once the transaction is committed, in the
    order the batches were first used; never when it is rolled back.
    """
    batches = db.session.info.setdefault(_AFTER_COMMIT, [])
    for batch in batches:
        if type(batch) is kind:
            return batch
    batch = kind()
    batches.append(batch)
    return batch


def commit() -> None:
    """End the unit of work, keeping it; its after-commit batches run."""
    db.session.commit()


def rollback() -> None:
    """End the unit of work without keeping anything: rows and after-commit batches.

    On a dead connection the rollback itself may fail: the session is then
    discarded, and the pool replaces the connection.
    """
    db.session.info.pop(_AFTER_COMMIT, None)
    try:
        db.session.rollback()
    except SQLAlchemyError:
        db.session.remove()


def answers() -> bool:
    """The database answers a trivial query (readiness, the ``/metrics`` gauge)."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    finally:
        rollback()  # discards the session when the connection is dead
    return True


@event.listens_for(Session, "after_commit")
def _run_batches(session: Session) -> None:
    for batch in session.info.pop(_AFTER_COMMIT, ()):
        try:
            batch()
        except Exception as exc:  # noqa: BLE001 (the data is committed: log, go on)
            log.error("after-commit %s failed: %s", type(batch).__name__, type(exc).__name__)


@event.listens_for(Session, "after_soft_rollback")
def _drop_batches(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the transaction, not a savepoint in it
        session.info.pop(_AFTER_COMMIT, None)
