"""Logins while a CSV import runs: the import must not hold up the login page.

Builds a throw-away SQLite deployment (``idp db upgrade``, ``idp demo seed``,
the production argon2 profile), serves it with gunicorn (``gunicorn.conf.py``),
then logs ``demo.actif`` in again and again through the login page: first
alone, then while ``idp users import`` creates N accounts from a CSV file in
another process. Prints the import's duration and the login latencies
(median, p95, max) in both phases.

    .venv/bin/python bench/import_while_login.py [--lines 250] [--baseline 20]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOGIN = "demo.actif"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(folder: Path, port: int) -> dict:
    return {**os.environ, "IDP_ENV": "development", "IDP_ISSUER": f"http://127.0.0.1:{port}",
            "IDP_DATABASE_URL": f"sqlite:///{folder / 'idp.sqlite3'}",
            "IDP_SECRET_KEY": "bench-" + "k" * 40, "IDP_MAIL_SERVER": "",
            "IDP_RATELIMIT_LOGIN": "100000/minute", "IDP_RATELIMIT_LOGIN_IDENTIFIER":
            "100000/minute", "GUNICORN_BIND": f"127.0.0.1:{port}", "PYTHONPATH": str(ROOT)}


def log_in(base: str, password: str) -> float:
    """One whole login through the page (GET the form, POST it); seconds."""
    started = time.perf_counter()
    with requests.Session() as browser:
        page = browser.get(base + "/login", timeout=60)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
        answer = browser.post(base + "/login", allow_redirects=False, timeout=120, data={
            "csrf_token": token, "identifier": LOGIN, "password": password})
    if answer.status_code != 303:
        raise SystemExit(f"login refused: {answer.status_code}")
    return time.perf_counter() - started


def describe(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    median = statistics.median(samples) * 1000
    return (f"{name:<28} {len(samples):>5} logins  median {median:7.0f} ms"
            f"  p95 {p95 * 1000:7.0f} ms  max {ordered[-1] * 1000:7.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=250)
    parser.add_argument("--baseline", type=int, default=20)
    args = parser.parse_args()
    from idp.demo import DEMO_PASSWORD

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        port = free_port()
        env = environment(folder, port)
        for command in (["db", "upgrade"], ["demo", "seed"]):
            subprocess.run(  # noqa: S603 (the bench's own fixed commands)
                [BIN / "idp", *command], env=env, check=True, cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        csv = folder / "comptes.csv"
        csv.write_text("login,email,given_name,family_name\n" + "".join(
            f"import-{i:05d},import-{i:05d}@example.test,Prénom,Nom{i}\n"
            for i in range(args.lines)), encoding="utf-8")
        server = subprocess.Popen(  # noqa: S603 (the bench's own fixed command)
            [BIN / "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], env=env, cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    requests.get(base + "/healthz", timeout=1)
                    break
                except requests.ConnectionError:
                    time.sleep(0.1)
            alone = [log_in(base, DEMO_PASSWORD) for _ in range(args.baseline)]
            started = time.perf_counter()
            importing = subprocess.Popen(  # noqa: S603 (the bench's own fixed command)
                [BIN / "idp", "users", "import", str(csv)], env=env, cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            during = []
            while importing.poll() is None:
                during.append(log_in(base, DEMO_PASSWORD))
            took = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"import of {args.lines} lines: {took:.1f} s (exit {importing.returncode})")
    print(describe("logins alone", alone))
    print(describe("logins during the import", during))


if __name__ == "__main__":
    main()
