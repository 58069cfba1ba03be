"""``make bench``: every scenario against the IdP, the reference and bare Flask; one table.

    .venv/bin/python -m bench.run            # everything (about 10 minutes)
    BENCH_QUICK=1 .venv/bin/python -m bench.run   # SQLite, 1,000 accounts only

Environment: BENCH_SECONDS (timed window per scenario, default 5), BENCH_CONCURRENCY
(closed-loop clients, default 8), BENCH_WORKERS (gunicorn workers, default one per core
as gunicorn.conf.py: 2 here), BENCH_TAIL_WORKERS (the password-flow tail run, default 4),
BENCH_QUICK=1, BENCH_LARGE_ACCOUNTS / BENCH_LARGE_AUDIT (default 1,000,000 and
10,000,000), BENCH_PG_URL (default postgresql+psycopg://127.0.0.1:5432, databases
idp_bench_* are created there), BENCH_REDIS_URL (default redis://127.0.0.1:6379/0),
BENCH_IDP_TARGET (default wsgi:app; another module:app benchmarks a variant).

Servers: the IdP and the bare Flask app under ``gunicorn -c gunicorn.conf.py`` (its
default of one worker per core, gthread) with IDP_ENV=testing, an http://127.0.0.1
issuer and the argon2id profile owasp-minimum (m=19456 KiB, t=2, p=1); on PostgreSQL
the rate limits count in Redis, on SQLite in memory. The password flow runs once more
on a server with 4 workers on the 2 cores (the target "4 workers on 2 cores: no error,
p99 < 4x p50"): its own row, "password flow, 4 workers". The reference is
bench/reference/server.mjs on Node.

Method. Each scenario runs ``concurrency`` closed loops for BENCH_SECONDS after one
second of warm-up; server CPU is utime+stime of the gunicorn master and workers (or
the node process) over the window, read from /proc. On PostgreSQL the CPU of the
database's own backends is shown apart (+db), not included. The token endpoint is
timed alone: codes are first made through the real flow (SSO authorize, whose
figures are shown as their own row), then only the code exchanges are timed. The
argon2 share of the password flow is argon2's CPU per verification, measured in
this process with the same parameters, divided by the flow's server CPU.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import psycopg
import requests
from sqlalchemy import make_url

from bench import driver
from bench import scenarios
from bench import seed

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "bench"
GUNICORN = Path(sys.executable).parent / "gunicorn"
CONF = ROOT / "gunicorn.conf.py"
NODE_SERVER = ROOT / "bench" / "reference" / "server.mjs"
START_TIMEOUT = 60


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


SECONDS = float(os.environ.get("BENCH_SECONDS") or 5)
CONCURRENCY = env_int("BENCH_CONCURRENCY", 8)
WORKERS = env_int("BENCH_WORKERS", max(2, os.cpu_count() or 1))  # gunicorn.conf.py's
TAIL_WORKERS = env_int("BENCH_TAIL_WORKERS", 4)
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
LARGE_ACCOUNTS = env_int("BENCH_LARGE_ACCOUNTS", 1_000_000)
LARGE_AUDIT = env_int("BENCH_LARGE_AUDIT", 10_000_000)
SMALL_ACCOUNTS, SMALL_AUDIT = 1000, 10_000
PG_URL = os.environ.get("BENCH_PG_URL") or "postgresql+psycopg://127.0.0.1:5432"
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/0"
# The WSGI target benchmarked; another module:app measures a variant (an experiment).
IDP_TARGET = os.environ.get("BENCH_IDP_TARGET") or "wsgi:app"


# --- servers -------------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A server process on a free loopback port; ``pids()`` for the CPU sampling."""

    def __init__(self, name: str, command: list[str], environ: dict[str, str], ready: str,
                 children: int = 0, port: int | None = None):
        self.name, self.command, self.ready, self.children = name, command, ready, children
        self.port = port or free_port()
        self.environ = {**environ, "GUNICORN_BIND": f"127.0.0.1:{self.port}",
                        "REF_PORT": str(self.port)}
        self.log_path = BUILD / "logs" / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 (the bench's own fixed commands)
                self.command, cwd=ROOT, env=self.environ,
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited, see {self.log_path}")
            if len(self.pids()) > self.children and self._answers():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready in {START_TIMEOUT} s, see {self.log_path}")

    def _answers(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.port}{self.ready}", timeout=5).ok
        except requests.RequestException:
            return False

    def pids(self) -> list[int]:
        return driver.process_tree(self.process.pid)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def server_environ(environ: dict[str, str], workers: int) -> dict[str, str]:
    """The bench's own environment less IDP_* and the server's knobs, then ``environ``."""
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith(("IDP_", "PROMETHEUS_", "GUNICORN_", "WEB_CONCURRENCY"))}
    metrics = Path(tempfile.mkdtemp(prefix="idp-bench-prometheus-"))
    return {**inherited, **environ, "WEB_CONCURRENCY": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics), "GUNICORN_LOG_LEVEL": "warning"}


def gunicorn(name: str, target: str, environ: dict[str, str], ready: str,
             workers: int = WORKERS, options: tuple[str, ...] = ()) -> Server:
    """gunicorn.conf.py when the project has one (it reads WEB_CONCURRENCY), else gthread;
    ``options`` go on the command line after it (they override the file)."""
    environ = server_environ(environ, workers)
    port = free_port()
    if CONF.exists():
        command = [str(GUNICORN), "-c", str(CONF), *options, target]
    else:
        command = [str(GUNICORN), "-w", str(workers), "-k", "gthread", "--threads", "4",
                   "--bind", f"127.0.0.1:{port}", target]
    return Server(name, command, environ, ready, children=workers, port=port)


# --- results -------------------------------------------------------------------------

@dataclass
class Row:
    scenario: str
    data: str
    result: driver.Result
    notes: list[str] = field(default_factory=list)
    db_cpu: float = 0.0  # PostgreSQL backends' CPU seconds over the window


ROWS: list[Row] = []


def measure(scenario: str, data: str, unit, server: Server, *, setup=None, db_pids=None,
            seconds: float = SECONDS, warmup: float = 1.0, max_units=None,
            concurrency: int = CONCURRENCY) -> Row:
    db_before = driver.cpu_seconds(db_pids()) if db_pids else 0.0
    result = driver.run(scenario, unit, "127.0.0.1", server.port, pids=server.pids,
                        concurrency=concurrency, seconds=seconds, warmup=warmup, setup=setup,
                        max_units=max_units)
    row = Row(scenario, data, result)
    if db_pids:
        row.db_cpu = driver.cpu_seconds(db_pids()) - db_before
    ROWS.append(row)
    print(f"  {scenario:<34} {data:<14} {result.per_wall:8.1f}/s {result.per_cpu:8.1f}/CPU-s"
          f"  p50 {result.percentile(50):6.1f} ms  p99 {result.percentile(99):6.1f} ms"
          f"  errors {result.errors}" + (f" ({result.first_error})" if result.errors else ""),
          flush=True)
    return row


# --- the IdP -------------------------------------------------------------------------

def postgresql_backends(url: str):
    database = make_url(url).database
    admin = seed._libpq(str(make_url(url).set(database="postgres")))

    def pids() -> list[int]:
        with psycopg.connect(admin, autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                (database,)).fetchall()
        return [pid for (pid,) in rows]

    return pids


def idp_database(backend: str, accounts: int, audit_rows: int):
    """Seed (or reuse) a bench database; its label, name, the IdP's environment and the
    PostgreSQL backends' pids (None on SQLite)."""
    size = "1k" if accounts == SMALL_ACCOUNTS else f"{accounts // 1000}k"
    if accounts >= 1_000_000:
        size = f"{accounts // 1_000_000}M"
    data = f"{'SQLite' if backend == 'sqlite' else 'PG'} {size}"
    name = f"idp_bench_{accounts}_{audit_rows}"
    if backend == "sqlite":
        url = f"sqlite:///{BUILD / (name + '.sqlite3')}"
        storage, db_pids = "memory://", None
    else:
        url = f"{PG_URL.rstrip('/')}/{name}"
        storage, db_pids = REDIS_URL, postgresql_backends(url)
    print(f"\n{data}: {accounts:,} accounts, {audit_rows:,} audit rows ({url})", flush=True)
    started = time.perf_counter()
    seed.prepare(url, accounts, audit_rows)
    print(f"  database ready in {time.perf_counter() - started:.0f} s", flush=True)
    port_environ = seed.app_environ(url)
    port_environ.update(IDP_RATELIMIT_STORAGE_URI=storage,
                        IDP_RATELIMIT_KEY_PREFIX=f"idp-bench-{os.getpid()}-{name}")
    return data, name, port_environ, db_pids


def bench_idp(backend: str, accounts: int, audit_rows: int) -> None:
    data, name, port_environ, db_pids = idp_database(backend, accounts, audit_rows)
    server = idp_server(f"idp-{backend}-{name}", port_environ, WORKERS)
    try:
        run_idp_scenarios(server, data, accounts, db_pids)
    finally:
        server.stop()
    # The tail target's own condition: more workers than cores.
    server = idp_server(f"idp-{backend}-{name}-tail", port_environ, TAIL_WORKERS)
    try:
        idp = scenarios.Idp(accounts, *_idp_secrets())
        # A fresh server: 3 s of warm-up so that every worker has imported the keys and
        # compiled its templates before the clock starts (a cold start is not a tail).
        measure(f"password flow, {TAIL_WORKERS} workers", data, idp.password_flow, server,
                db_pids=db_pids, warmup=3.0)
    finally:
        server.stop()


def idp_server(name: str, environ: dict[str, str], workers: int, launcher=None) -> Server:
    """The IdP under ``launcher`` (a function like ``gunicorn``, the default), started."""
    server = (launcher or gunicorn)(name, IDP_TARGET, environ,
                                    "/.well-known/openid-configuration", workers=workers)
    # The issuer must be the server's own URL (discovery, iss), known once the port is.
    server.environ["IDP_ISSUER"] = f"http://127.0.0.1:{server.port}"
    return server.start()


def _idp_secrets() -> tuple:
    from idp.demo import BENCH_PASSWORD
    from idp.demo import DEMO_CLIENT_SECRET
    from idp.demo import DEMO_PASSWORD

    return DEMO_CLIENT_SECRET, BENCH_PASSWORD, ("demo.assistance", DEMO_PASSWORD)


def run_oidc_scenarios(server: Server, data: str, accounts: int, db_pids=None):
    """What a module asks of the IdP: discovery to the returning-user flow RS256."""
    idp = scenarios.Idp(accounts, *_idp_secrets())
    common = {"db_pids": db_pids}
    measure("discovery", data, idp.discovery, server, **common)
    measure("JWKS", data, idp.jwks, server, **common)
    measure("userinfo", data, idp.userinfo, server, setup=idp.get_access_token, **common)
    # Codes through the real flow (its own row), then the token endpoint alone.
    measure("authorize, SSO (code only)", data, idp.make_code, server, setup=idp.log_in,
            seconds=min(SECONDS, 40), **common)
    measure("token (code exchange)", data, idp.token, server, seconds=SECONDS * 4, warmup=0,
            max_units=len(idp.pool), **common)
    idp.pool.clear()
    measure("returning-user flow RS256", data, idp.returning_flow("demo-module"), server,
            setup=idp.log_in, **common)
    return idp


def run_idp_scenarios(server: Server, data: str, accounts: int, db_pids) -> None:
    idp = run_oidc_scenarios(server, data, accounts, db_pids)
    common = {"db_pids": db_pids}
    measure("returning-user flow ES256", data, idp.returning_flow("demo-module-2"), server,
            setup=idp.log_in, **common)
    measure("password flow", data, idp.password_flow, server, **common)
    measure("Assistance search", data, idp.search, server, setup=idp.operator_login,
            **common)
    # Its latency as an operator sees it: one search at a time, no queue behind others.
    measure("Assistance search, 1 operator", data, idp.search, server,
            setup=idp.operator_login, concurrency=1, **common)


# --- the reference and the baseline --------------------------------------------------

def bench_reference() -> None:
    node = shutil.which("node")
    if node is None or not (NODE_SERVER.parent / "node_modules" / "oidc-provider").exists():
        print("\nreference: node or bench/reference/node_modules missing (make bench installs "
              "them); skipped", flush=True)
        return
    print("\nreference: oidc-provider (bench/reference/server.mjs)", flush=True)
    server = Server("reference", [node, str(NODE_SERVER)],
                    {**os.environ, "NODE_ENV": "production"},
                    "/.well-known/openid-configuration").start()
    ref = scenarios.Reference()
    try:
        measure("discovery", "reference", ref.discovery, server)
        measure("JWKS", "reference", ref.jwks, server)
        measure("whole code flow RS256 (9 req.)", "reference", ref.full_flow("ref-rs256"),
                server)
        measure("returning-user flow RS256", "reference", ref.returning_flow("ref-rs256"),
                server, setup=ref.log_in("ref-rs256"))
        measure("returning-user flow ES256", "reference", ref.returning_flow("ref-es256"),
                server, setup=ref.log_in("ref-es256"))
    finally:
        server.stop()


def bench_bare_flask() -> None:
    print("\nbaseline: bare Flask under gunicorn (bench/bare_flask.py)", flush=True)
    server = gunicorn("bare-flask", "bench.bare_flask:app", {}, "/").start()
    try:
        measure("bare Flask endpoint", "baseline", scenarios.bare, server)
    finally:
        server.stop()


def argon2_cpu_per_verification(rounds: int = 40) -> float:
    """CPU seconds of one argon2id verification with the bench's parameters, in-process."""
    from argon2 import PasswordHasher
    from argon2 import Type

    from idp.demo import BENCH_PASSWORD
    from idp.security.passwords import PROFILES

    hasher = PasswordHasher(type=Type.ID, **PROFILES["owasp-minimum"])
    stored = hasher.hash(BENCH_PASSWORD)
    hasher.verify(stored, BENCH_PASSWORD)
    started = time.process_time()
    for _ in range(rounds):
        hasher.verify(stored, BENCH_PASSWORD)
    return (time.process_time() - started) / rounds


def main() -> None:
    from bench import report

    BUILD.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"bench: {SECONDS:g} s per scenario, {CONCURRENCY} clients, {WORKERS} gunicorn "
          f"workers ({TAIL_WORKERS} for the tail row), {os.cpu_count()} cores"
          + (" (BENCH_QUICK)" if QUICK else ""), flush=True)
    argon2 = argon2_cpu_per_verification()
    print(f"argon2id m=19456 KiB t=2 p=1: {argon2 * 1000:.1f} ms of CPU per verification")
    bench_bare_flask()
    bench_reference()
    configs = [("sqlite", SMALL_ACCOUNTS, SMALL_AUDIT)]
    if not QUICK:
        configs += [("sqlite", LARGE_ACCOUNTS, LARGE_AUDIT),
                    ("postgresql", SMALL_ACCOUNTS, SMALL_AUDIT),
                    ("postgresql", LARGE_ACCOUNTS, LARGE_AUDIT)]
    for backend, accounts, audit_rows in configs:
        bench_idp(backend, accounts, audit_rows)
    print()
    report.print_table(ROWS, argon2, SECONDS, CONCURRENCY, WORKERS, TAIL_WORKERS)
    print(f"\nbench done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
