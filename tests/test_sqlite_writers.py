"""SQLite writers queue in the kernel, on a file lock beside the database (idp.database),
not in SQLite's busy handler, which sleeps between retries (docs/deployment.md).

The busy handler is turned off here (busy_timeout 0): two writers that met at SQLite
would fail at once with « database is locked ». Threads and processes hammering
read-then-write transactions must lose no write and see no such error; every way a
transaction ends must let the next writer in. These tests run on SQLite whatever the
suite's backend: the queue exists only there.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from idp import create_app
from idp import database
from idp.extensions import db
from tests.conftest import TEST_OVERRIDES
from tests.conftest import environ_for
from tests.security.concurrency import run_concurrently

ROOT = Path(__file__).resolve().parent.parent
# A deadline for a busy machine, not a bound on anything measured.
DEADLINE_S = 60

# Each process: builds the engine as the IdP does, turns SQLite's busy handler off,
# says it is ready, then runs its threads' read-then-write transactions.
HAMMER = """
import sys, threading
from sqlalchemy import create_engine, event, text
from idp import database
url, threads, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
engine = create_engine(url, **database.engine_options(url))
database._configure_sqlite(engine)
event.listen(engine, "connect", lambda c, r: c.execute("PRAGMA busy_timeout=0"))
errors = []
def hammer():
    try:
        for _ in range(rounds):
            with engine.begin() as conn:
                last = conn.execute(text("SELECT coalesce(max(n), 0) FROM hammer")).scalar()
                conn.execute(text("INSERT INTO hammer (n) VALUES (:n)"), {"n": last + 1})
    except Exception as exc:
        errors.append(repr(exc))
print("ready", flush=True)
workers = [threading.Thread(target=hammer) for _ in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
print("\\n".join(errors) or "done", flush=True)
"""


@pytest.fixture
def engine(template_database, tmp_path):
    """The IdP's engine on a SQLite file (its app context open), its busy handler off,
    a ``hammer`` table to write to."""
    path = tmp_path / "idp.sqlite3"
    shutil.copy(template_database, path)
    app = create_app(dict(TEST_OVERRIDES), environ=environ_for(f"sqlite:///{path}", None))
    with app.app_context():
        event.listen(db.engine, "connect", lambda conn, record: conn.execute(
            "PRAGMA busy_timeout=0"))
        db.engine.dispose()
        with db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE hammer (n INTEGER NOT NULL UNIQUE)"))
        yield db.engine
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def short_wait(monkeypatch):
    """A thread waits 1 s for the others of its process: a lock left held fails fast."""
    monkeypatch.setattr(database, "BUSY_TIMEOUT_S", 1)


def lock_path(engine) -> str:
    return os.path.realpath(engine.url.database) + ".lock"


def is_queue_free(engine) -> bool:
    """Whether another process could take the writers' file lock now."""
    descriptor = os.open(lock_path(engine), os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)  # unlocks, if it locked
    return True


def write_once(engine) -> None:
    with engine.begin() as conn:
        last = conn.execute(text("SELECT coalesce(max(n), 0) FROM hammer")).scalar()
        conn.execute(text("INSERT INTO hammer (n) VALUES (:n)"), {"n": last + 1})


def written(engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT n FROM hammer ORDER BY n")).scalars())


def test_the_lock_file_is_the_owners_alone(engine):
    assert Path(lock_path(engine)).stat().st_mode & 0o777 == 0o600


def test_threads_queue_and_every_write_lands(engine):
    """8 threads x 25 read-then-write transactions: without the queue, the first two
    that met would fail at SQLite (busy handler off), or two would write the same n."""
    rounds = 25

    def hammer(_index: int) -> None:
        for _ in range(rounds):
            write_once(engine)

    run_concurrently(8, hammer)
    assert written(engine) == list(range(1, 8 * rounds + 1))
    assert is_queue_free(engine)


def test_processes_queue_and_every_write_lands(engine):
    """2 processes of 2 threads, released together: the file lock queues them."""
    processes, threads, rounds = 2, 2, 40
    url = engine.url.render_as_string(hide_password=False)
    holder = os.open(lock_path(engine), os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # holds them all until every one is ready
    children = [subprocess.Popen(  # noqa: S603 (this interpreter, the script above)
        [sys.executable, "-c", HAMMER, url, str(threads), str(rounds)], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(processes)]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready", child.stderr.read()
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
    outputs = [child.communicate(timeout=DEADLINE_S) for child in children]
    assert [out.strip() for out, _err in outputs] == ["done"] * processes, outputs
    assert written(engine) == list(range(1, processes * threads * rounds + 1))
    assert is_queue_free(engine)


def wait_for_a_blocked_flock(path: str) -> None:
    """Until /proc/locks shows a writer blocked on ``path``'s file lock (``->``)."""
    inode = f":{os.stat(path).st_ino} "
    done = threading.Event()
    for _ in range(DEADLINE_S * 100):
        with open("/proc/locks") as locks:
            if any("-> FLOCK" in line and inode in line for line in locks):
                return
        done.wait(0.01)
    raise AssertionError("no writer ever waited on the file lock")


def test_a_waiting_writer_waits_on_the_file_lock_not_in_sqlite(engine):
    """While it waits, SQLite's write lock is free: it has not begun; it writes once
    the lock is released."""
    holder = os.open(lock_path(engine), os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    writer = threading.Thread(target=write_once, args=(engine,))
    try:
        writer.start()
        wait_for_a_blocked_flock(lock_path(engine))
        other = sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # "database is locked" if the writer had begun
        assert other.execute("SELECT count(*) FROM hammer").fetchone() == (0,)
        other.execute("ROLLBACK")
        other.close()
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
        writer.join(DEADLINE_S)
    assert written(engine) == [1]


def end_by_exception(engine) -> None:
    def failing() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO hammer (n) VALUES (1)"))
            assert not is_queue_free(engine)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        failing()


def end_by_session_rollback(engine) -> None:
    db.session.execute(text("INSERT INTO hammer (n) VALUES (1)"))
    assert not is_queue_free(engine)
    database.rollback()


def end_by_session_removed(engine) -> None:
    """The request ends without committing: the pool rolls the connection back."""
    db.session.execute(text("INSERT INTO hammer (n) VALUES (1)"))
    assert not is_queue_free(engine)
    db.session.remove()


def end_by_invalidation(engine) -> None:
    """A connection found dead is invalidated: closed, never returned to the pool."""
    conn = engine.connect()
    conn.execute(text("INSERT INTO hammer (n) VALUES (1)"))
    assert not is_queue_free(engine)
    conn.invalidate()
    conn.close()


def end_by_failed_statement(engine) -> None:
    def failing() -> None:
        with engine.begin() as conn:
            assert not is_queue_free(engine)
            conn.execute(text("INSERT INTO no_such_table VALUES (1)"))

    with pytest.raises(OperationalError):
        failing()


def end_by_failed_begin(engine) -> None:
    """Another program holds SQLite's write lock without queuing (a ``sqlite3`` shell)."""
    other = sqlite3.connect(engine.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            write_once(engine)
    finally:
        other.execute("ROLLBACK")
        other.close()


@pytest.mark.parametrize("end", [end_by_exception, end_by_session_rollback,
                                 end_by_session_removed, end_by_invalidation,
                                 end_by_failed_statement, end_by_failed_begin])
def test_a_failed_transaction_leaves_the_queue(engine, short_wait, end):
    end(engine)
    assert is_queue_free(engine)  # other processes
    write_once(engine)  # this process's threads: else « database is locked » in 1 s
    assert written(engine) == [1]


def test_a_thread_waiting_on_itself_fails_instead_of_hanging(engine, short_wait):
    """A second connection of the thread that writes: « database is locked », as
    SQLite answers, once the threads' wait is over (1 s here)."""
    with engine.begin() as first:
        first.execute(text("INSERT INTO hammer (n) VALUES (1)"))
        with pytest.raises(OperationalError, match="database is locked"):
            write_once(engine)
    assert written(engine) == [1]
    assert is_queue_free(engine)


def test_a_forked_child_leaves_its_parents_lock_alone(engine):
    """A child forked while the parent writes inherits the connection: dropping it
    there must not unlock the parent's file lock."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO hammer (n) VALUES (1)"))
        child = multiprocessing.get_context("fork").Process(
            target=conn.connection.driver_connection.leave_queue)
        child.start()
        child.join(DEADLINE_S)
        assert child.exitcode == 0
        assert not is_queue_free(engine)
    assert is_queue_free(engine)
