"""The `idp` command as an operator runs it in production: what goes to stdout and stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.production.conftest import production_environ

IDP = Path(sys.executable).parent / "idp"
ROOT = Path(__file__).resolve().parents[2]


def run_idp(environ: dict, *args: str) -> subprocess.CompletedProcess:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    return subprocess.run([str(IDP), *args], cwd=ROOT, env={**inherited, **environ},
                          capture_output=True, text=True, timeout=120, check=False)


def json_lines(text: str) -> list[dict]:
    found = []
    for line in text.splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def test_logs_go_to_stderr_and_the_secret_alone_to_stdout(pg_url, smtp_server, secret_key):
    environ = production_environ(pg_url, smtp_server.port, secret_key,
                                 IDP_ISSUER="http://127.0.0.1:5000")
    upgraded = run_idp(environ, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert json_lines(upgraded.stdout) == []
    assert all(line["logger"] for line in json_lines(upgraded.stderr))
    created = run_idp(environ, "users", "create", "cli.prod", "--email", "cli.prod@example.fr",
                      "--given-name", "Camille", "--family-name", "Prod",
                      "--habilitation", "bonuseco")
    assert created.returncode == 0, created.stderr
    assert json_lines(created.stdout) == []  # French text only, no log line
    assert "cli.prod" in created.stdout
    assert any(line["message"] == "mail sent" for line in json_lines(created.stderr))

    client = run_idp(environ, "clients", "create", "cli-module", "--name", "Module CLI",
                     "--redirect-uri", "https://cli.example.fr/callback",
                     "--habilitation", "bonuseco")
    assert client.returncode == 0, client.stderr
    (secret,) = client.stdout.splitlines()  # alone: SECRET=$(idp clients create ...)
    assert len(secret) >= 40
    assert secret not in client.stderr
    assert "Client cli-module enregistré" in client.stderr
