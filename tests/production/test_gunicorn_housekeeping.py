"""What a gunicorn run leaves on the machine once it has stopped."""

from __future__ import annotations

from tests.production.conftest import production_environ
from tests.production.servers import Gunicorn


def test_a_run_leaves_no_metrics_directory_behind(pg_url, smtp_server, secret_key, tmp_path):
    server = Gunicorn(production_environ(pg_url, smtp_server.port, secret_key), tmp_path,
                      workers=1)
    del server.environ["PROMETHEUS_MULTIPROC_DIR"]  # none given by the operator
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    server.environ["TMPDIR"] = str(scratch)
    server.start()
    try:
        assert len(list(scratch.glob("idp-prometheus-*"))) == 1  # made for this run
    finally:
        server.stop()
    assert list(scratch.glob("idp-prometheus-*")) == []


def test_a_metrics_directory_given_by_the_operator_stays(pg_url, smtp_server, secret_key,
                                                        tmp_path):
    server = Gunicorn(production_environ(pg_url, smtp_server.port, secret_key), tmp_path,
                      workers=1)
    server.start()
    server.stop()
    assert (tmp_path / f"prometheus-{server.port}").is_dir()
