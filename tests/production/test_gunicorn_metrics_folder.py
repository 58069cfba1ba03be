"""gunicorn's Prometheus folder (docs/deployment.md, « gunicorn »): made when missing,
emptied at start, and never left behind, even by a master killed without exiting."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.production.conftest import production_environ
from tests.production.servers import Gunicorn


def gunicorn(pg_url, smtp_server, secret_key, tmp_path) -> Gunicorn:
    return Gunicorn(production_environ(pg_url, smtp_server.port, secret_key), tmp_path,
                    workers=1)


def test_a_given_folder_is_made_when_missing_and_emptied_at_start(pg_url, smtp_server,
                                                                   secret_key, tmp_path):
    server = gunicorn(pg_url, smtp_server, secret_key, tmp_path)
    given = tmp_path / "run" / "idp" / "prometheus"
    server.environ["PROMETHEUS_MULTIPROC_DIR"] = str(given)
    server.start()
    server.stop()
    left = given / "counter_999999.db"  # as a worker of an older run leaves it
    left.write_bytes(b"\0" * 16)
    server.start()
    try:
        assert given.is_dir()
        assert not left.exists()
    finally:
        server.stop()


def wait_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() for pid in pids):
            return
        time.sleep(0.1)
    raise AssertionError(f"still running: {pids}")


def test_a_killed_masters_folder_is_removed_at_the_next_start(pg_url, smtp_server,
                                                              secret_key, tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    first, second = (gunicorn(pg_url, smtp_server, secret_key, tmp_path) for _ in range(2))
    for server in (first, second):
        del server.environ["PROMETHEUS_MULTIPROC_DIR"]  # none given by the operator
        server.environ["TMPDIR"] = str(scratch)
    other = scratch / "idp-prometheus-1-kept"  # pid 1 runs: not a leftover
    other.mkdir()
    first.start()
    workers = first.worker_pids()
    os.kill(first.process.pid, signal.SIGKILL)  # no on_exit
    first.process.wait(timeout=10)
    wait_gone(workers)  # a worker exits once its master is gone
    assert len(list(scratch.glob(f"idp-prometheus-{first.process.pid}-*"))) == 1

    second.start()
    try:
        assert sorted(p.name.split("-")[2] for p in scratch.iterdir()) == sorted(
            ["1", str(second.process.pid)])
    finally:
        second.stop()
    assert list(scratch.iterdir()) == [other]
