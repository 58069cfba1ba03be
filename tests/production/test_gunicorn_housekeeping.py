"""What a gunicorn run leaves on the machine once it has stopped."""

from __future__ import annotations

import stat
import time
from pathlib import Path

from tests.production.conftest import production_environ
from tests.production.servers import Gunicorn


def user_folders(server: Gunicorn, tmp_path: Path) -> list[Path]:
    """A home and a runtime folder of the user running ``server``, empty."""
    folders = [tmp_path / "home", tmp_path / "runtime"]
    for folder in folders:
        folder.mkdir()
    server.environ.update(HOME=str(folders[0]), XDG_RUNTIME_DIR=str(folders[1]))
    return folders


def test_a_run_leaves_no_metrics_directory_behind(pg_url, smtp_server, secret_key, tmp_path):
    server = Gunicorn(production_environ(pg_url, smtp_server.port, secret_key), tmp_path,
                      workers=1)
    del server.environ["PROMETHEUS_MULTIPROC_DIR"]  # none given by the operator
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    server.environ["TMPDIR"] = str(scratch)
    folders = user_folders(server, tmp_path)
    server.start()
    try:
        assert len(list(scratch.glob("idp-prometheus-*"))) == 1  # made for this run
        # No control socket at the one path every instance of this user would share.
        assert [list(folder.rglob("*")) for folder in folders] == [[], []]
    finally:
        server.stop()
    assert list(scratch.glob("idp-prometheus-*")) == []


def test_a_control_socket_is_where_the_operator_puts_it(pg_url, smtp_server, secret_key,
                                                       tmp_path):
    server = Gunicorn(production_environ(pg_url, smtp_server.port, secret_key), tmp_path,
                      workers=1)
    folders = user_folders(server, tmp_path)
    own = tmp_path / "run" / "gunicorn.ctl"
    server.environ["GUNICORN_CONTROL_SOCKET"] = str(own)
    server.start()
    try:
        deadline = time.monotonic() + 30  # started by the master once its workers run
        while not own.is_socket() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert own.is_socket(), server.log_tail()
        assert stat.S_IMODE(own.stat().st_mode) == 0o600
        assert [list(folder.rglob("*")) for folder in folders] == [[], []]
    finally:
        server.stop()


def test_a_metrics_directory_given_by_the_operator_stays(pg_url, smtp_server, secret_key,
                                                        tmp_path):
    server = Gunicorn(production_environ(pg_url, smtp_server.port, secret_key), tmp_path,
                      workers=1)
    server.start()
    server.stop()
    assert (tmp_path / f"prometheus-{server.port}").is_dir()
