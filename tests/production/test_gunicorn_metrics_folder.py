"""gunicorn's Prometheus folder (docs/deployment.md, « gunicorn »): made when missing,
emptied at start, and never left behind, even by a master killed without exiting."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

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


def own_folder(pg_url, smtp_server, secret_key, tmp_path, **environ) -> tuple[Gunicorn, Path]:
    """A gunicorn without a folder given, and the temporary directory it makes its own in."""
    server = gunicorn(pg_url, smtp_server, secret_key, tmp_path)
    del server.environ["PROMETHEUS_MULTIPROC_DIR"]
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    server.environ.update(TMPDIR=str(scratch), **environ)
    return server, scratch


def test_a_start_that_fails_leaves_no_folder(pg_url, smtp_server, secret_key, tmp_path):
    server, scratch = own_folder(pg_url, smtp_server, secret_key, tmp_path,
                                 IDP_SECRET_KEY="trop-court")  # production refuses it
    with pytest.raises(RuntimeError, match="gunicorn exited"):
        server.start()
    assert "IDP_SECRET_KEY" in server.log_tail()
    assert list(scratch.iterdir()) == []


def test_a_configuration_reload_keeps_the_folder(pg_url, smtp_server, secret_key, tmp_path):
    server, scratch = own_folder(pg_url, smtp_server, secret_key, tmp_path)
    server.start()
    try:
        (folder,) = scratch.iterdir()
        before = set(server.worker_pids())
        os.kill(server.process.pid, signal.SIGHUP)  # gunicorn reads this file again
        deadline = time.monotonic() + 60
        while not (server.worker_pids() and before.isdisjoint(server.worker_pids())):
            assert time.monotonic() < deadline, server.log_tail()
            time.sleep(0.1)
        server.wait_ready()
        assert list(scratch.iterdir()) == [folder]
    finally:
        server.stop()
    assert list(scratch.iterdir()) == []
