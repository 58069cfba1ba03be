"""The ``idp`` commands and gunicorn's Prometheus folder (docs/deployment.md, « gunicorn »):
a ``PROMETHEUS_MULTIPROC_DIR`` in the shared environment file neither crashes a command
nor collects its files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

IDP = Path(sys.executable).parent / "idp"


def run_idp(tmp_path: Path, metrics_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "FLASK_"))}
    env.update(IDP_ENV="testing", IDP_DATABASE_URL=f"sqlite:///{tmp_path / 'idp.sqlite3'}",
               IDP_SECRET_KEY="k" * 8 + "0123456789abcdefghijklmnopqrstuv",
               PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    return subprocess.run([str(IDP), *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.parametrize("exists", [False, True])
def test_commands_ignore_the_metrics_folder(tmp_path, exists):
    metrics_dir = tmp_path / "prometheus"
    if exists:
        metrics_dir.mkdir()

    upgraded = run_idp(tmp_path, metrics_dir, "db", "upgrade")
    created = run_idp(tmp_path, metrics_dir, "users", "create", "metrics.cli",
                      "--email", "metrics.cli@example.fr", "--given-name", "Camille",
                      "--family-name", "Folder", "--habilitation", "bonuseco")
    listed = run_idp(tmp_path, metrics_dir, "keys", "list")

    for result in (upgraded, created, listed):
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    assert "\tRS256\t" in listed.stdout
    if exists:
        assert list(metrics_dir.iterdir()) == []  # nothing written in it
    else:
        assert not metrics_dir.exists()  # not made either
