"""``make bench-wsgi``: the IdP under each WSGI server, side by side; one table.

    .venv/bin/python -m bench.wsgi_servers          # every server (about 5 minutes)
    BENCH_WSGI_SERVERS=gthread,granian .venv/bin/python -m bench.wsgi_servers

What it measures: the scenarios a module puts to the IdP (discovery, JWKS, userinfo,
authorize with an SSO session, the token endpoint's code exchange, the returning
user's whole flow with RS256), exactly as ``make bench`` runs them (bench/run.py's
``run_oidc_scenarios``), on its SQLite database of 1,000 accounts and 10,000 audit
rows, reset before each server. Servers, each with the same number of worker
processes (BENCH_WORKERS, default one per core, as gunicorn.conf.py) and the same
environment as in bench/run.py (IDP_ENV=testing, argon2id owasp-minimum, in-memory
rate limits, an http://127.0.0.1 issuer):

- ``gthread``: ``gunicorn -c gunicorn.conf.py wsgi:app``, as shipped (gthread,
  4 threads per worker, the app preloaded);
- ``sync``: the same with ``-k sync --threads 1`` (with more than one thread gunicorn
  silently runs gthread instead of sync); a sync worker closes every connection after
  its response, so each request of the driver opens a new one;
- ``granian``: ``granian --interface wsgi --workers N wsgi:app`` with its defaults
  (blocking threads per worker: half its backpressure, 256 here);
- ``granian-4t``: the same with ``--blocking-threads 4``, gthread's thread count.

Environment: BENCH_SECONDS (timed window per scenario, default 5), BENCH_CONCURRENCY
(closed-loop clients, default 8), BENCH_WORKERS, BENCH_WSGI_SERVERS (a comma-separated
subset of the names above). Method as bench/run.py's: requests (or flows) per wall
second and per server CPU-second, where server CPU is utime+stime, read from /proc,
of the server's main process and its children (gunicorn's master and workers,
granian's main process and its workers: the script checks that the server has no
process deeper than that, whose CPU would go uncounted), and latency p50/p99.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from bench import run

GRANIAN = Path(sys.executable).parent / "granian"


def granian(name: str, target: str, environ: dict[str, str], ready: str,
            workers: int = run.WORKERS, options: tuple[str, ...] = ()) -> run.Server:
    """``granian --interface wsgi`` on a free loopback port, ``workers`` processes."""
    environ = {k: v for k, v in run.server_environ(environ, workers).items()
               if not k.startswith("GRANIAN_")}
    port = run.free_port()
    command = [str(GRANIAN), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--log-level", "warning", *options, target]
    return run.Server(name, command, environ, ready, children=workers, port=port)


SERVERS = {  # name -> launcher (bench.run.gunicorn's signature)
    "gthread": run.gunicorn,
    "sync": functools.partial(run.gunicorn, options=("-k", "sync", "--threads", "1")),
    "granian": granian,
    "granian-4t": functools.partial(granian, options=("--blocking-threads", "4")),
}


def descendants(pid: int) -> list[int]:
    """Every process under ``pid``, at any depth (/proc/<pid>/task/*/children)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def check_process_tree(server: run.Server, workers: int) -> None:
    """The CPU sampling reads the main process and its children: no grandchild may work."""
    counted = set(server.pids())
    every = {server.process.pid, *descendants(server.process.pid)}
    if every - counted or len(counted) < workers + 1:
        raise RuntimeError(f"{server.name}: processes {sorted(every)}, CPU counted for "
                           f"{sorted(counted)}")
    print(f"  {server.name}: {len(counted)} processes, all counted "
          f"(main {server.process.pid}, children {sorted(counted - {server.process.pid})})",
          flush=True)


def print_table(names: list[str]) -> None:
    """Markdown, one row per scenario and server; per CPU-s also relative to gthread."""
    print(f"\n{run.SECONDS:g} s per scenario, {run.CONCURRENCY} closed-loop clients, "
          f"{run.WORKERS} worker processes per server, {os.cpu_count()} cores, SQLite 1k; "
          "'per CPU-s' = units per second of the server's CPU (main process + workers)\n")
    print("| scenario | server | per s | per CPU-s | vs gthread | p50 ms | p99 ms | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    scenarios = list(dict.fromkeys(row.scenario for row in run.ROWS))
    for scenario in scenarios:
        rows = {row.data: row.result for row in run.ROWS if row.scenario == scenario}
        base = rows.get("gthread")
        for name in names:
            result = rows.get(name)
            if result is None:
                continue
            ratio = (f"{result.per_cpu / base.per_cpu:.2f}x"
                     if base is not None and base.per_cpu else "")
            print(f"| {scenario} | {name} | {result.per_wall:.1f} | {result.per_cpu:.1f} | "
                  f"{ratio} | {result.percentile(50):.1f} | {result.percentile(99):.1f} | "
                  f"{result.errors} |")


def main() -> None:
    wanted = os.environ.get("BENCH_WSGI_SERVERS") or ",".join(SERVERS)
    names = [name.strip() for name in wanted.split(",") if name.strip()]
    unknown = [name for name in names if name not in SERVERS]
    if unknown:
        sys.exit(f"BENCH_WSGI_SERVERS: unknown {unknown}; known: {', '.join(SERVERS)}")
    run.BUILD.mkdir(parents=True, exist_ok=True)
    print(f"bench-wsgi: {', '.join(names)}; {run.SECONDS:g} s per scenario, "
          f"{run.CONCURRENCY} clients, {run.WORKERS} workers, {os.cpu_count()} cores",
          flush=True)
    for name in names:
        # The same starting state for each server: the volatile tables cleared.
        _data, base, environ, _db_pids = run.idp_database("sqlite", run.SMALL_ACCOUNTS,
                                                          run.SMALL_AUDIT)
        server = run.idp_server(f"wsgi-{name}-{base}", environ, run.WORKERS,
                                launcher=SERVERS[name])
        try:
            check_process_tree(server, run.WORKERS)
            run.run_oidc_scenarios(server, name, run.SMALL_ACCOUNTS)
            check_process_tree(server, run.WORKERS)
        finally:
            server.stop()
    print_table(names)


if __name__ == "__main__":
    main()
