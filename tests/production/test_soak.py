"""A bounded soak with faults: 8 clients doing the work of real modules against
gunicorn (3 workers, production mode) for about two minutes, while a worker is killed, the
signing key rotated, the daily purge run, and PostgreSQL and Redis refused or frozen,
each fault twice, one at a time (docs/deployment.md, « Health, logs and metrics »).

PostgreSQL and Redis are reached through ``CuttableProxy``: the machine's own
services are never stopped. The load is ``soak.py``, the checks ``soak_checks.py``. At the end:
no 5xx but 503 inside a fault, each with its access-log line; nothing committed was
answered with an error (every refresh token the modules hold is live, or revoked for
a reason the audit trail records), but for a request in flight at the instant
PostgreSQL went away, whose COMMIT may be done with its acknowledgement lost
(counted apart); no code yielded tokens twice; the locks are the failures counted
(a try in flight at a cut or a kill counts without its audit row: counted apart);
the audit chain verifies; each kind of request is served again within a second of
the fault's end. The figures are printed (``pytest -s``) and written to
``soak-figures.txt`` in the test's temporary folder, each request to
``soak-answers.jsonl``.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests import backends
from tests.conftest import short_transaction
from tests.production.conftest import PG_ADMIN_URL
from tests.production.conftest import REDIS_URL
from tests.production.conftest import UNLIMITED
from tests.production.conftest import production_environ
from tests.production.servers import CuttableProxy
from tests.production.servers import Gunicorn
from tests.production.soak import Client
from tests.production.soak import Probe
from tests.production.soak import Record
from tests.production.soak_checks import Figures
from tests.production.soak_checks import Window
from tests.production.test_command_line import run_idp

CLIENTS = 8
WORKERS = 3
LOCK_ACCOUNTS = 4  # per client: a lock round every third journey
WARM_UP = 3  # seconds of load before the first fault
OUTAGE = 3  # seconds PostgreSQL or Redis is refused, Redis frozen
PG_FREEZE = 2  # under the statement timeout (IDP_DB_STATEMENT_TIMEOUT_MS, 5 s)
GAP = 2  # seconds of load between the end of a fault's recovery and the next fault
FAULTS = ("killed worker", "key rotation", "purge", "PostgreSQL refused",
          "PostgreSQL frozen", "Redis refused", "Redis frozen")


@pytest.fixture
def proxies():
    pg = CuttableProxy(backends.make_url_port(PG_ADMIN_URL)).start()
    redis = CuttableProxy(backends.make_url_port(REDIS_URL, default=6379)).start()
    yield pg, redis
    pg.stop()
    redis.stop()


@pytest.fixture
def soaked(proxies, pg_url, smtp_server, secret_key, tmp_path):
    """gunicorn through the proxies, and the environment of the `idp` commands (direct)."""
    pg, redis = proxies
    through_proxy = pg_url.replace(f":{backends.make_url_port(PG_ADMIN_URL)}/", f":{pg.port}/")
    environ = production_environ(
        through_proxy, smtp_server.port, secret_key,
        IDP_RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{redis.port}/0", **UNLIMITED)
    server = Gunicorn(environ, tmp_path, workers=WORKERS).start()
    commands = production_environ(pg_url, smtp_server.port, secret_key, IDP_ISSUER=server.url)
    yield server, commands
    server.stop()


def inject(fault: str, server, commands, pg, redis) -> None:
    """Bring the fault about; returns when it has ended (restored, thawed, command done)."""
    if fault == "killed worker":
        assert server.kill_worker() is not None
    elif fault in ("key rotation", "purge"):
        done = run_idp(commands, *(("keys", "rotate") if fault == "key rotation" else ("purge",)))
        assert done.returncode == 0, done.stderr
    else:
        proxy = pg if fault.startswith("PostgreSQL") else redis
        if fault.endswith("refused"):
            proxy.cut()
            time.sleep(OUTAGE)
            proxy.restore()
        else:
            proxy.freeze()
            time.sleep(PG_FREEZE if proxy is pg else OUTAGE)
            proxy.thaw()


def test_soak_with_faults(soaked, proxies, make_user, make_module, app, tmp_path, capsys):
    server, commands = soaked
    pg, redis = proxies
    started = time.monotonic()
    record = Record()
    module, probe_module = make_module("soak-module"), make_module("soak-probe")
    clients = []
    for i in range(CLIENTS):
        make_user(f"soak-{i}")
        locks = [f"soak-lock-{i}-{n}" for n in range(LOCK_ACCOUNTS)]
        for login in locks:
            make_user(login)
        clients.append(Client(server.url, module, f"soak-{i}", locks, record))
    make_user("soak-probe")
    # Its own record: its tokens are not the modules' (the counts), its answers are checked.
    probe = Probe(server.url, probe_module, "soak-probe", [], Record()).prepare()

    stop = threading.Event()
    threads = [threading.Thread(target=c.run, args=(stop,)) for c in clients]
    for thread in threads:
        thread.start()
    windows: list[Window] = []
    try:
        time.sleep(WARM_UP)
        for fault in FAULTS * 2:
            window = Window(fault, time.monotonic(), 0.0)
            inject(fault, server, commands, pg, redis)
            window.ended_at = time.monotonic()
            window.recovery = probe.recovery(window.ended_at)
            windows.append(window)
            time.sleep(GAP)
    finally:
        pg.thaw()
        redis.thaw()
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    loaded = time.monotonic() - started

    record.answers += probe.record.answers
    record.findings += probe.record.findings
    figures = Figures(record, windows, loaded, f"{CLIENTS} clients, {WORKERS} workers")
    figures.errors_by_cause()
    figures.spent_after_5xx()
    figures.access_lines(server)
    with short_transaction():
        figures.held_tokens()
        figures.codes_and_refreshes(module.client_id)
        figures.lockouts(app.config["IDP_LOCKOUT_THRESHOLD"])
    figures.audit_chain(commands)
    report = figures.table()
    path = tmp_path / "soak-figures.txt"
    path.write_text(report)
    with open(tmp_path / "soak-answers.jsonl", "w") as answers:  # each request, for a post-mortem
        for answer in record.answers:
            answers.write(json.dumps({**vars(answer), "window": getattr(
                figures.window_of(answer), "fault", None)}) + "\n")
    with capsys.disabled():
        print(f"\n{report}\n[soak] figures written to {path}")

    assert not record.findings, record.findings
    assert not figures.problems, figures.problems
    assert not figures.slow_recoveries(), figures.slow_recoveries()
