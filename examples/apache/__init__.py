"""Apache 2.4 with mod_auth_openidc as a BonusEco module: a standalone server around
``bonuseco-module.conf``, for ``make run`` (``python -m examples.apache``) and the tests
(tests/modules/test_apache.py).

``ApacheModule`` holds the values; ``start`` writes them as Apache variables (``Define``) in
a file of its own folder, which then includes ``server.conf``, and runs ``apache2`` in the
foreground until ``stop``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
APACHE = Path("/usr/sbin/apache2")
MOD_AUTH_OPENIDC = Path("/usr/lib/apache2/modules/mod_auth_openidc.so")
INSTALL = "sudo apt-get install -y apache2 libapache2-mod-auth-openidc"
# Started as root, Apache's workers need a user of their own (Debian's).
WORKERS_USER = "www-data"
# Apache variables hold no quotes, spaces or dollars: what the values may contain.
PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.:/@%+=-]+")


def is_installed() -> bool:
    return APACHE.is_file() and MOD_AUTH_OPENIDC.is_file()


@dataclass
class ApacheModule:
    """One module served by Apache on 127.0.0.1:``port``, its files in ``run_dir``."""

    port: int
    issuer: str
    client_id: str
    client_secret: str
    crypto_passphrase: str
    run_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def redirect_uri(self) -> str:
        return f"{self.url}/app/redirect_uri"

    @property
    def backchannel_logout_uri(self) -> str:
        return f"{self.redirect_uri}?logout=backchannel"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"{self.url}/"

    def variables(self) -> dict[str, str]:
        return {
            "BONUSECO_PORT": str(self.port),
            "BONUSECO_RUN_DIR": str(self.run_dir),
            "BONUSECO_EXAMPLES": str(HERE),
            "BONUSECO_ISSUER": self.issuer,
            "BONUSECO_BASE_URL": self.url,
            "BONUSECO_CLIENT_ID": self.client_id,
            "BONUSECO_CLIENT_SECRET": self.client_secret,
            "BONUSECO_CRYPTO_PASSPHRASE": self.crypto_passphrase,
        }

    def write_config(self) -> Path:
        """The server's configuration file (readable by its owner only: it holds secrets)."""
        lines = []
        for name, value in self.variables().items():
            if not PLAIN_VALUE.fullmatch(value):
                raise ValueError(f"{name}: unexpected characters in {value!r}")
            lines.append(f'Define {name} "{value}"')
        if os.geteuid() == 0:
            lines.append(f"Define BONUSECO_USER {WORKERS_USER}")
        lines.append(f'Include "{HERE / "server.conf"}"')
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / "apache2.conf"
        path.touch(mode=0o600)
        path.write_text("\n".join(lines) + "\n")
        return path


class ApacheServer:
    """``apache2 -DFOREGROUND`` for an ``ApacheModule``; its parent process is ours."""

    def __init__(self, module: ApacheModule):
        self.module = module
        self.process: subprocess.Popen | None = None

    def start(self, deadline_seconds: float = 60) -> ApacheServer:
        """Start and wait until the public page answers; raise with the error log if not."""
        config = self.module.write_config()
        # What Apache says before its error log is open (a syntax error) goes to stderr.log.
        with (self.module.run_dir / "stderr.log").open("ab") as stderr:
            self.process = subprocess.Popen(  # noqa: S603 (fixed program, our own config)
                [str(APACHE), "-f", str(config), "-DFOREGROUND"],
                stdin=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"apache2 exited ({self.process.returncode})\n{self.log()}")
            try:
                if requests.get(self.module.url + "/", timeout=5).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"apache2 did not answer in {deadline_seconds} s\n{self.log()}")

    def stop(self) -> None:
        """Stop Apache (SIGTERM to its parent, which stops the workers) and wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log(self) -> str:
        """Apache's stderr and error log, for a failure's message."""
        texts = []
        for name in ("stderr.log", "error.log"):
            path = self.module.run_dir / name
            if path.exists():
                texts.append(f"--- {path}\n{path.read_text(errors='replace')}")
        return "\n".join(texts) or "(no log)"
