"""docs/deployment.md's runbook, followed to the letter on loopback.

The shell blocks of the guide marked ``<!-- runbook: NAME -->`` run word for word,
in one operator's shell (what a block exports, and where it ``cd``-ed, holds for
the next one), with this test's values for the names of the « site » block and
its own folders for ``/etc/idp``, ``/srv/idp`` and ``/var/...``. Between them,
what a person and a module do goes over real HTTP to the gunicorn the guide
starts: the first operator's first connection, a login through the module, a
refresh token kept over a backup and its restore. The cron lines run as cron
would run them: their command line, alone, with cron's bare environment.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import signal
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
from psycopg import sql

from idp.security.secrets import QUESTIONS
from tests import backends
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import free_port
from tests.production.conftest import PG_ADMIN_URL
from tests.production.conftest import REDIS_URL
from tests.production.flows import CALLBACK
from tests.production.flows import TIMEOUT
from tests.production.flows import Module
from tests.production.flows import get_code
from tests.production.flows import redeem
from tests.production.flows import refresh
from tests.production.flows import sign_in
from tests.production.servers import ROOT
from tests.production.servers import Gunicorn

GUIDE = ROOT / "docs" / "deployment.md"
MARKED = re.compile(r"<!-- runbook: ([\w-]+) -->\n```(\w+)\n(.*?)\n```", re.S)
OPERATOR = "jeanne.martin"
OPERATOR_MAIL = "jeanne.martin@asp-public.fr"
CAPTCHA = "KMR7TX"
# The gunicorn of the guide, with one thing patched: the captcha generator, so that
# the test knows the text without reading the answer back.
CAPTCHA_PATCH = f"""from idp.security import challenges
challenges._text = lambda: {CAPTCHA!r}
"""


def guide_blocks() -> dict[str, str]:
    found: dict[str, str] = {}
    for name, _language, body in MARKED.findall(GUIDE.read_text()):
        assert name not in found, f"two blocks named {name}"
        found[name] = body
    return found


class OperatorShell:
    """One shell session: each block runs in bash with what the previous ones left."""

    def __init__(self, environ: dict, folders: dict[str, Path], state: Path):
        self.environ = environ
        self.cwd = str(state)
        self.folders = folders
        self.state = state
        self.blocks = guide_blocks()

    def text(self, name: str) -> str:
        text = self.blocks[name]
        for written, here in self.folders.items():
            text = text.replace(written, str(here))
        return text

    def run(self, name: str) -> subprocess.CompletedProcess:
        env_file, cwd_file = self.state / "env", self.state / "cwd"
        script = (f"set -ae\ncd {shlex.quote(self.cwd)}\n{self.text(name)}\n"
                  f"pwd >{shlex.quote(str(cwd_file))}\nenv -0 >{shlex.quote(str(env_file))}\n")
        result = subprocess.run(["bash", "-c", script], env=self.environ, capture_output=True,
                                text=True, timeout=180, check=False)
        assert result.returncode == 0, f"block {name}:\n{result.stdout}\n{result.stderr}"
        self.environ = dict(item.split("=", 1)
                            for item in env_file.read_text().split("\0") if "=" in item)
        self.cwd = cwd_file.read_text().strip()
        return result

    def start_gunicorn(self, tmp_path: Path, patch: Path) -> Gunicorn:
        """The « start » block in the background; the helper waits for its workers."""
        bind = self.environ["BIND"]
        server = Gunicorn({}, tmp_path, workers=max(2, os.cpu_count() or 1))
        server.url = f"http://{bind}"
        with open(server.log_path, "ab") as log:
            server.process = subprocess.Popen(
                ["bash", "-c", f"cd {shlex.quote(self.cwd)} && exec {self.text('start')}"],
                env={**self.environ, "PYTHONPATH": str(patch)}, stdout=log,
                stderr=subprocess.STDOUT)
        server.wait_ready()
        return server

    def cron_lines(self) -> list[str]:
        lines = [line for line in self.text("cron").splitlines()
                 if line.strip() and not line.startswith("#")]
        return [line.split(None, 6)[6] for line in lines]  # after m h dom mon dow user


def first_connection(url: str, provisional: str) -> requests.Session:
    """The operator's first connection, as the guide's list says it (step 6)."""
    browser = requests.Session()

    def post(path: str, data: dict) -> str:
        page = browser.get(url + path, timeout=TIMEOUT)
        response = browser.post(url + path, data={"csrf_token": csrf_token(page.text), **data},
                                allow_redirects=False, timeout=TIMEOUT)
        assert response.status_code == 303, (path, response.status_code, response.text[:300])
        return response.headers["Location"]

    assert post("/login", {"identifier": OPERATOR, "password": provisional}) == "/password-change"
    assert post("/password-change", {"new_password": STRONG_PASSWORD,
                                     "confirmation": STRONG_PASSWORD}) == (
        "/first-connection/secret-question")
    assert post("/first-connection/secret-question", {
        "question": QUESTIONS[0], "own_question": "", "answer": "Rantanplan"}) == (
        "/first-connection/captcha")
    assert post("/first-connection/captcha", {"text": CAPTCHA}) == "/"
    assert "Mes applications" in browser.get(url + "/", timeout=TIMEOUT).text
    return browser


def site_values(smtp_port: int) -> dict[str, str]:
    admin = urlsplit(PG_ADMIN_URL)
    name = f"idp_runbook_{secrets.token_hex(4)}"
    port = free_port()
    return {
        "ISSUER": f"http://127.0.0.1:{port}", "BIND": f"127.0.0.1:{port}",
        "DB_HOST": admin.hostname or "127.0.0.1", "DB_PORT": str(admin.port or 5432),
        "DB_NAME": name, "DB_USER": name, "REDIS_URL": REDIS_URL,
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port),
        "MODULE_ID": "mon-module", "MODULE_CALLBACK": CALLBACK,
    }


def operator_environ(home: Path) -> dict[str, str]:
    """A login shell's environment, with the PostgreSQL administrator of the blocks run
    « as a PostgreSQL superuser », and without this project's virtualenv on PATH."""
    admin = urlsplit(PG_ADMIN_URL)
    venv = str(ROOT / ".venv" / "bin")
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv)
    environ = {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8",
               "PGHOST": admin.hostname or "127.0.0.1", "PGPORT": str(admin.port or 5432),
               "PGDATABASE": admin.path.lstrip("/") or "postgres"}
    if admin.username:
        environ["PGUSER"] = admin.username
    return environ


def drop_everything(site: dict[str, str], restored: str | None) -> None:
    for name in filter(None, (site["DB_NAME"], restored)):
        backends.drop_database(PG_ADMIN_URL, name)
    with psycopg.connect(backends.psycopg_url(PG_ADMIN_URL), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(site["DB_USER"])))


def run_cron_line(command: str, home: Path) -> subprocess.CompletedProcess:
    """As cron runs it: /bin/sh, the user's home, PATH=/usr/bin:/bin and nothing else."""
    return subprocess.run(["/bin/sh", "-c", command], cwd=home, capture_output=True, text=True,
                          env={"HOME": str(home), "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh",
                               "LOGNAME": "idp"}, timeout=120, check=False)


@pytest.fixture
def operator(tmp_path, smtp_server):
    home = tmp_path / "home"
    folders = {"/etc/idp": tmp_path / "etc-idp", "/srv/idp": ROOT,
               "/var/backups/idp": tmp_path / "backups", "/var/log": tmp_path / "log"}
    home.mkdir()
    folders["/var/log"].mkdir()
    site = site_values(smtp_server.port)
    shell = OperatorShell({**operator_environ(home), **site}, folders, home)
    started: list[Gunicorn] = []
    yield shell, site, started
    for server in started:
        server.stop()
    drop_everything(site, shell.environ.get("RESTORED_NAME"))


def test_the_runbook_deploys_logs_in_backs_up_and_restores(operator, mailbox, tmp_path):
    shell, site, started = operator
    written = set(re.findall(r"(?:^|\s)([A-Z_]+)=", shell.blocks["site"], re.M))
    assert written == set(site)  # step 1's names: exactly those the test gives
    patch = tmp_path / "patch"
    patch.mkdir()
    (patch / "sitecustomize.py").write_text(CAPTCHA_PATCH)

    shell.run("database")
    shell.run("secret-key")
    shell.run("env-file")
    env_file = tmp_path / "etc-idp" / "env"
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    upgraded = shell.run("upgrade")
    assert re.search(r"^\S+\tRS256\tcréée le .*\tactive$", upgraded.stdout, re.M), upgraded.stdout
    shell.run("first-operator")
    welcome = "\n".join(mailbox.body(message) for message in mailbox.to(OPERATOR_MAIL))
    assert f"Identifiant : {OPERATOR}" in welcome
    assert "Habilitation : Assistance" in welcome
    provisional = mailbox.provisional_password(OPERATOR_MAIL)
    shell.run("module")
    module = Module(site["MODULE_ID"], shell.environ["MODULE_SECRET"])

    server = shell.start_gunicorn(tmp_path, patch)
    started.append(server)
    assert '"status":"ready"' in shell.run("ready").stdout.replace(" ", "")
    browser = first_connection(server.url, provisional)
    code, verifier = get_code(server.url, browser, module)
    tokens = redeem(server.url, module, code, verifier)
    assert tokens.status_code == 200, tokens.text
    kept = tokens.json()["refresh_token"]

    for command in shell.cron_lines():
        ran = run_cron_line(command, Path(shell.environ["HOME"]))
        assert ran.returncode == 0, (command, ran.stdout, ran.stderr)
    cron_log = (tmp_path / "log" / "idp-cron.log").read_text()
    assert "Traceback" not in cron_log
    rotated = shell.run("rotate")
    assert "Nouvelle clé RS256" in rotated.stdout
    assert rotated.stdout.count("\tRS256\t") == 2

    shell.run("backup")
    assert Path(shell.environ["BACKUP"]).stat().st_size > 0
    # After the backup, the kept refresh token is used once in the live database.
    assert refresh(server.url, module, kept).status_code == 200
    server.process.send_signal(signal.SIGTERM)  # systemctl stop idp
    server.process.wait(timeout=60)

    shell.run("restore")
    shell.run("restore-point")
    assert env_file.read_text().count(f"/{shell.environ['RESTORED_NAME']}\n") == 1
    checked = shell.run("restore-check")
    assert "Journal d'audit intègre." in checked.stdout
    assert "pas encore scellée" not in checked.stdout  # none left to seal

    server = shell.start_gunicorn(tmp_path, patch)  # systemctl start idp
    started.append(server)
    assert '"status":"ready"' in shell.run("ready").stdout.replace(" ", "")
    # The restored database knows the token as it was at the backup: unused, honoured
    # (the live database would refuse it as reused, and revoke its family).
    renewed = refresh(server.url, module, kept)
    assert renewed.status_code == 200, renewed.text
    browser = sign_in(server.url, OPERATOR, STRONG_PASSWORD)
    code, verifier = get_code(server.url, browser, module)
    assert redeem(server.url, module, code, verifier).status_code == 200
