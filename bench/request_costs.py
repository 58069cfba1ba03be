"""What each request of the flows costs the database and the CPU, in-process.

    .venv/bin/python -m bench.request_costs [--database-url URL] [--flows N]

The app of bench/profile_flow.py (``seeded_app``: migrations, ``idp demo seed
--users 10``, the bench's environment, so the argon2id profile owasp-minimum)
on a fresh SQLite file under build/request-costs/ by default. With
``--database-url postgresql+psycopg://127.0.0.1:5432/test`` (an admin database of
a server where the user may create databases) it runs on a scratch database
``idp_costs_<random>`` created there and dropped at the end (tests/backends.py).

Each flow is a new browser of demo-module through the Flask test client: authorize
(no session) -> login page -> password POST -> authorize (the session's first),
then the measured SSO authorize, its code exchange (token), a refresh of that
token, userinfo with the refreshed access token, discovery and JWKS. Ten flows of
warm-up are not counted; each row gives, over N flows, the median per request:

- statements: what SQLAlchemy's ``before_cursor_execute`` sees, less the explicit
  ``BEGIN`` / ``BEGIN IMMEDIATE`` idp.database sends on SQLite (the count of
  tests/test_statement_budgets.py);
- round trips: the calls that reach the database: those statements, plus each
  ``BEGIN`` the driver sends (SQLite: idp.database's explicit one, seen by
  ``before_cursor_execute``; psycopg: the one it sends by itself before a
  statement when its connection is idle, counted when ``before_cursor_execute``
  finds the connection ``IDLE``), plus each ``COMMIT`` / ``ROLLBACK`` that the
  dialect's ``do_commit`` / ``do_rollback`` (SQLAlchemy's commits, rollbacks and
  the pool's reset on return) sends while the connection is in a transaction (when
  it is not, neither driver sends anything), plus the pool's pre-ping (``SELECT
  1`` through the dialect's ``do_ping``, PostgreSQL only). On PostgreSQL each is a
  network round trip (checked once against libpq's trace, psycopg's
  ``pgconn.trace``: each request's count equalled the Query and Sync messages it
  sent); on SQLite a call into the library in this process. Not counted: opening
  a connection (the pool keeps them; none is opened after the warm-up here);
- transactions: the ``BEGIN`` s counted above;
- locking tx (all runs): how many transactions took a write lock over the N runs
  (the lock holds are over these);
- lock hold: for each transaction that takes a write lock, from just before its
  first locking statement is sent to the return of its ``COMMIT`` / ``ROLLBACK``;
  median and max over every such transaction of the N requests (wall time), and
  the median of this process's CPU time (``process_time``) over the same span
  (less than the wall time by the waits for the server and any preemption by
  other processes: the machine's load shows as the gap). The locking
  statement is, on PostgreSQL, the first INSERT, UPDATE, DELETE or SELECT ... FOR
  UPDATE / FOR SHARE (the row locks); on SQLite, ``BEGIN IMMEDIATE`` (the database
  file's writer lock; idp.database's writer-queue ``flock`` is taken just before it,
  outside the measure): the file stays locked from there to the end even when the
  transaction writes nothing;
- driver wall: wall time inside the driver's ``execute`` of those statements,
  its commits, rollbacks and pings (fetching the rows afterwards is not included:
  on SQLite, stepping past a result's first row happens there);
- Python CPU: the request's ``time.process_time`` (the test client's own work
  included) less the CPU time (``process_time``) spent inside the same driver
  calls. Not the wall time: on PostgreSQL the driver mostly waits for the server,
  whose CPU is another process's and is not shown.

One process, one request at a time: no waiting for locks is measured, only how
long each request would make others wait. The argon2id verification of the
password POST is printed apart (bench/run.py's in-process measurement).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import threading
import time
from dataclasses import dataclass
from dataclasses import field

from sqlalchemy import event
from sqlalchemy import make_url

from bench.profile_flow import ROOT
from bench.profile_flow import Flow
from bench.profile_flow import seeded_app

ROWS = ("login page", "password", "authorize (SSO)", "token (code)", "refresh", "userinfo",
        "discovery", "jwks")
WARM_UP = 10
LOCKING = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b|\bFOR\s+(NO\s+KEY\s+)?(UPDATE|SHARE)\b",
                     re.IGNORECASE)


@dataclass
class Cost:
    """What one request sent (see the module docstring)."""

    statements: int = 0
    round_trips: int = 0
    transactions: int = 0
    driver_wall: float = 0.0
    driver_cpu: float = 0.0
    cpu: float = 0.0
    holds: list[tuple[float, float]] = field(default_factory=list)  # (wall, this CPU)
    sent: list[str] = field(default_factory=list)  # the round trips, for --show


class Meter:
    """Engine and dialect hooks that charge the current request's ``Cost``."""

    def __init__(self, engine):
        self.cost: Cost | None = None
        self.thread = threading.get_ident()
        self.lock_since: tuple[float, float] | None = None
        self.started: tuple[float, float] = (0.0, 0.0)
        self.sqlite = engine.dialect.name == "sqlite"
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        dialect = engine.dialect
        for name in ("do_commit", "do_rollback", "do_ping"):
            setattr(dialect, name, self._wrap(getattr(dialect, name), name))

    def _charged(self) -> Cost | None:
        return self.cost if threading.get_ident() == self.thread else None

    def _in_transaction(self, dbapi_connection) -> bool:
        # The pool's proxy (SQLAlchemy's commits) or the connection itself (a pre-ping).
        dbapi_connection = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        if self.sqlite:
            return dbapi_connection.in_transaction
        return dbapi_connection.info.transaction_status != 0  # psycopg's IDLE

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        cost = self._charged()
        if cost is None:
            return
        begin = statement.lstrip().upper().startswith("BEGIN")
        if begin or (not self.sqlite
                     and not self._in_transaction(conn.connection)):
            cost.transactions += 1
            cost.round_trips += 1
            cost.sent.append(" ".join(statement.split()) if begin else "BEGIN (psycopg's own)")
        if not begin:
            cost.statements += 1
            cost.round_trips += 1
            cost.sent.append(" ".join(statement.split())[:150])
        if self.lock_since is None and (
                LOCKING.search(statement) if not self.sqlite
                else statement.upper().startswith(("BEGIN IMMEDIATE", "INSERT", "UPDATE",
                                                   "DELETE"))):
            self.lock_since = (time.perf_counter(), time.process_time())
        self.started = (time.perf_counter(), time.process_time())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        cost = self._charged()
        if cost is not None:
            cost.driver_wall += time.perf_counter() - self.started[0]
            cost.driver_cpu += time.process_time() - self.started[1]

    def _wrap(self, method, name: str):
        ping = name == "do_ping"

        def wrapped(dbapi_connection, *args):
            cost = self._charged()
            if cost is None:
                return method(dbapi_connection, *args)
            sends = ping or self._in_transaction(dbapi_connection)
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return method(dbapi_connection, *args)
            finally:
                ended, ended_cpu = time.perf_counter(), time.process_time()
                cost.driver_wall += ended - wall
                cost.driver_cpu += ended_cpu - cpu
                cost.round_trips += sends
                if sends:
                    cost.sent.append({"do_commit": "COMMIT", "do_rollback": "ROLLBACK",
                                      "do_ping": "SELECT 1 (pre-ping)"}[name])
                if not ping and self.lock_since is not None:
                    cost.holds.append((ended - self.lock_since[0],
                                       ended_cpu - self.lock_since[1]))
                    self.lock_since = None
        return wrapped


def measure_flows(app, flows: int) -> dict[str, list[Cost]]:
    with app.app_context():
        from idp.extensions import db

        meter = Meter(db.engine)
    costs: dict[str, list[Cost]] = {row: [] for row in ROWS}
    counting = {"on": False}

    def timed(step: str, call):
        if not counting["on"] or step not in costs:
            return call()
        meter.cost, meter.lock_since = Cost(), None
        started = time.process_time()
        try:
            return call()
        finally:
            meter.cost.cpu = time.process_time() - started
            costs[step].append(meter.cost)
            meter.cost = None

    flow = Flow("demo-module", timed)
    for index in range(WARM_UP + flows):
        counting["on"] = index >= WARM_UP
        client = app.test_client()
        flow.code(client, step="authorize (no session)")  # measures its login page, password
        code, verifier = flow.code(client, step="authorize (SSO)")
        tokens = flow.redeem(client, code, verifier, step="token (code)")
        tokens = flow.token(client, {"grant_type": "refresh_token",
                                     "refresh_token": tokens["refresh_token"]}, step="refresh")
        flow.userinfo(client, tokens["access_token"])
        for step, path in (("discovery", "/.well-known/openid-configuration"),
                           ("jwks", "/jwks")):
            response = timed(step, lambda path=path, client=client: client.get(path))
            assert response.status_code == 200
    return costs


def median(values) -> float:
    return statistics.median(values) if values else 0.0


def print_table(costs: dict[str, list[Cost]], backend: str, accounts: int, flows: int) -> None:
    print(f"{backend}, {accounts} accounts, {flows} flows (medians per request; lock hold "
          "over every locking transaction; ms)")
    header = ("request", "statements", "round trips", "transactions", "locking tx (all runs)",
              "lock hold med", "lock hold max", "CPU in hold med", "driver wall", "Python CPU")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    for row in ROWS:
        runs = costs[row]
        holds = [wall * 1000 for run in runs for wall, _cpu in run.holds]
        held_cpu = [cpu * 1000 for run in runs for _wall, cpu in run.holds]
        cells = [row, *(f"{median([getattr(run, name) for run in runs]):g}"
                        for name in ("statements", "round_trips", "transactions")),
                 str(len(holds)),
                 f"{median(holds):.2f}" if holds else "-",
                 f"{max(holds):.2f}" if holds else "-",
                 f"{median(held_cpu):.2f}" if holds else "-",
                 f"{median([run.driver_wall * 1000 for run in runs]):.2f}",
                 f"{median([(run.cpu - run.driver_cpu) * 1000 for run in runs]):.2f}"]
        print("| " + " | ".join(cells) + " |")


def count_accounts(app) -> int:
    with app.app_context():
        from sqlalchemy import func
        from sqlalchemy import select

        from idp.extensions import db
        from idp.models import User

        accounts = db.session.scalar(select(func.count()).select_from(User))
        db.session.remove()
        return accounts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="",
                        help="PostgreSQL admin URL, e.g. postgresql+psycopg://127.0.0.1:5432/test")
    parser.add_argument("--flows", type=int, default=200)
    parser.add_argument("--show", action="append", default=[], choices=ROWS,
                        help="also print the round trips of this request's last run")
    args = parser.parse_args()
    scratch = None
    if args.database_url:
        from tests.backends import create_database
        from tests.backends import sqlalchemy_url

        scratch = create_database(args.database_url, prefix="idp_costs")
        url, backend = sqlalchemy_url(args.database_url, scratch), "PostgreSQL"
        shown = make_url(url).render_as_string(hide_password=True)
    else:
        work = ROOT / "build" / "request-costs"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        url = shown = f"sqlite:///{work / 'idp.sqlite3'}"
        backend = "SQLite"
    try:
        app = seeded_app(url)
        with app.app_context():
            from idp.extensions import db

            version = db.engine.dialect.server_version_info
        costs = measure_flows(app, args.flows)
        print(f"database: {shown} (server {'.'.join(map(str, version or ()))})")
        print_table(costs, backend, count_accounts(app), args.flows)
        for row in args.show:
            print(f"\n{row}, the round trips of the last run:")
            print("\n".join(f"  {sent}" for sent in costs[row][-1].sent))
        with app.app_context():
            db.engine.dispose()
    finally:
        if scratch is not None:
            from tests.backends import drop_database

            drop_database(args.database_url, scratch)
    from bench.run import argon2_cpu_per_verification

    print(f"argon2id owasp-minimum (m=19456 KiB, t=2, p=1), measured apart: "
          f"{argon2_cpu_per_verification() * 1000:.1f} ms of CPU per verification (a password "
          "POST verifies twice, idp.security.authentication._check_password)")


if __name__ == "__main__":
    main()
