"""Configuration (SPEC 3.2): defaults, production refusals, bad values, the CLI's refusal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import config
from config import ConfigError
from config import load_config

IDP = Path(sys.executable).parent / "idp"
STRONG_KEY = "q7Vf2mXc9LpR4sTz8WnB1yHk6JdG3aEu"
PRODUCTION = {
    "IDP_ENV": "production",
    "IDP_SECRET_KEY": STRONG_KEY,
    "IDP_ISSUER": "https://connexion.bonuseco.asp-public.fr",
    "IDP_MAIL_SERVER": "smtp.asp-public.fr",
    "IDP_RATELIMIT_STORAGE_URI": "redis://redis.internal:6379/0",
}


@pytest.fixture
def instance_dir(tmp_path, monkeypatch):
    """Keep the development secret key out of the checkout's instance/ folder."""
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path)
    return tmp_path


def production(**changes) -> dict:
    environ = dict(PRODUCTION)
    environ.update(changes)
    return environ


def test_defaults_of_every_variable(instance_dir):
    values = load_config({})
    assert values["IDP_ENV"] == values["ENV_NAME"] == "development"
    assert values["IDP_ISSUER"] == "http://127.0.0.1:5000"
    assert values["IDP_DATABASE_URL"].startswith("sqlite:///")
    assert values["IDP_DATABASE_URL"].endswith("/instance/idp.sqlite3")
    assert values["SQLALCHEMY_DATABASE_URI"] == values["IDP_DATABASE_URL"]
    assert values["IDP_RATELIMIT_STORAGE_URI"] == values["RATELIMIT_STORAGE_URI"] == "memory://"
    assert values["IDP_MAIL_SERVER"] == ""
    assert values["IDP_MAIL_PORT"] == 25
    assert values["IDP_MAIL_USE_TLS"] is False
    assert values["IDP_MAIL_USERNAME"] == ""
    assert values["IDP_MAIL_PASSWORD"] == ""
    assert "@" in values["IDP_MAIL_SENDER"]
    assert values["IDP_LOCKOUT_THRESHOLD"] == 3
    assert values["IDP_LOCKOUT_MINUTES"] == 20
    assert values["IDP_PASSWORD_MAX_AGE_DAYS"] == 90
    assert values["IDP_PROVISIONAL_PASSWORD_HOURS"] == 72
    assert values["IDP_PASSWORD_HASH_PROFILE"] == values["PASSWORD_HASH_PROFILE"] == "owasp-minimum"
    assert values["IDP_ASSISTANCE_PHONE"] == "0 800 74 74 00"
    assert values["IDP_MANUAL_URL"].startswith("https://")
    for name in ("IDP_RATELIMIT_LOGIN", "IDP_RATELIMIT_FORGOT_PASSWORD", "IDP_RATELIMIT_TOKEN"):
        assert "/minute" in values[name]
    assert values["IDP_CAPTCHA_FIXED_TEXT"] == ""
    assert values["IDP_DEBUG"] is False
    assert values["DEBUG"] is False


def test_development_writes_mails_to_the_instance_outbox(instance_dir):
    assert load_config({})["OUTBOX_DIR"] == str(instance_dir / "outbox")


def test_development_keeps_one_private_secret_key_across_restarts(instance_dir):
    first = load_config({})["SECRET_KEY"]
    assert len(first) >= 32
    assert load_config({})["SECRET_KEY"] == first
    assert (instance_dir / "secret_key").stat().st_mode & 0o777 == 0o600


def test_development_on_loopback_uses_a_plain_cookie(instance_dir):
    values = load_config({})
    assert values["SESSION_COOKIE_NAME"] == "idp_session"
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_values_from_the_environment_are_parsed():
    values = load_config({
        "IDP_ENV": "testing", "IDP_MAIL_PORT": "2525", "IDP_MAIL_USE_TLS": "yes",
        "IDP_LOCKOUT_THRESHOLD": "5", "IDP_ISSUER": "http://127.0.0.1:5000/",
        "IDP_ASSISTANCE_PHONE": "01 23 45 67 89", "IDP_PASSWORD_HASH_PROFILE": "owasp-minimum",
    })
    assert values["TESTING"] is True
    assert values["IDP_MAIL_PORT"] == 2525
    assert values["IDP_MAIL_USE_TLS"] is True
    assert values["IDP_LOCKOUT_THRESHOLD"] == 5
    assert values["IDP_ISSUER"] == "http://127.0.0.1:5000"
    assert values["IDP_ASSISTANCE_PHONE"] == "01 23 45 67 89"
    assert values["PASSWORD_HASH_PROFILE"] == "owasp-minimum"


def test_a_valid_production_configuration_loads_with_secure_host_cookies():
    values = load_config(production())
    assert values["ENV_NAME"] == "production"
    assert values["SECRET_KEY"] == STRONG_KEY
    assert values["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["SESSION_COOKIE_SAMESITE"] == "Lax"
    # __Host- cookies must have Path=/ and no Domain.
    assert values["SESSION_COOKIE_PATH"] == "/"
    assert values.get("SESSION_COOKIE_DOMAIN") is None
    assert values["PREFERRED_URL_SCHEME"] == "https"
    assert values["DEBUG"] is False


def test_production_accepts_an_http_issuer_on_loopback():
    values = load_config(production(IDP_ISSUER="http://127.0.0.1:8000"))
    assert values["IDP_ISSUER"] == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"IDP_SECRET_KEY": ""}, "IDP_SECRET_KEY"),
        ({"IDP_SECRET_KEY": "Xy7-short-key"}, "IDP_SECRET_KEY"),
        ({"IDP_SECRET_KEY": "a" * 64}, "IDP_SECRET_KEY"),
        ({"IDP_SECRET_KEY": "abababababababababababababababab"}, "IDP_SECRET_KEY"),
        ({"IDP_ISSUER": "http://connexion.bonuseco.asp-public.fr"}, "IDP_ISSUER"),
        ({"IDP_ISSUER": "http://192.168.1.10:5000"}, "IDP_ISSUER"),
        ({"IDP_ISSUER": "ftp://connexion.bonuseco.asp-public.fr"}, "IDP_ISSUER"),
        ({"IDP_DEBUG": "1"}, "IDP_DEBUG"),
        ({"IDP_CAPTCHA_FIXED_TEXT": "ABCD"}, "IDP_CAPTCHA_FIXED_TEXT"),
        ({"IDP_MAIL_SERVER": ""}, "IDP_MAIL_SERVER"),
        # Each worker would count apart: N workers allow N times every limit.
        ({"IDP_RATELIMIT_STORAGE_URI": "memory://"}, "IDP_RATELIMIT_STORAGE_URI"),
        ({"IDP_RATELIMIT_STORAGE_URI": ""}, "IDP_RATELIMIT_STORAGE_URI"),
    ],
    ids=["missing-key", "short-key", "one-letter-key", "two-letter-key", "http-issuer",
         "http-private-ip", "ftp-issuer", "debug", "captcha-fixed-text", "no-smtp",
         "memory-rate-limits", "default-rate-limits"],
)
def test_production_refuses_an_unsafe_setting(changes, named):
    with pytest.raises(ConfigError, match=named):
        load_config(production(**changes))


def test_production_without_a_secret_key_variable_at_all_is_refused():
    environ = production()
    del environ["IDP_SECRET_KEY"]
    with pytest.raises(ConfigError, match="IDP_SECRET_KEY"):
        load_config(environ)


def test_the_fixed_captcha_text_is_honoured_outside_production():
    assert load_config({"IDP_ENV": "testing", "IDP_CAPTCHA_FIXED_TEXT": "ABCD"})[
        "IDP_CAPTCHA_FIXED_TEXT"] == "ABCD"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IDP_ENV", "staging"),
        ("IDP_MAIL_PORT", "vingt-cinq"),
        ("IDP_MAIL_PORT", "0"),
        ("IDP_MAIL_PORT", "70000"),
        ("IDP_LOCKOUT_THRESHOLD", "3.5"),
        ("IDP_LOCKOUT_THRESHOLD", "0"),
        ("IDP_LOCKOUT_MINUTES", "-20"),
        ("IDP_PASSWORD_MAX_AGE_DAYS", "quatre-vingt-dix"),
        ("IDP_PROVISIONAL_PASSWORD_HOURS", "0"),
        ("IDP_PROXY_HOPS", "-1"),
        ("IDP_MAIL_USE_TLS", "peut-être"),
        ("IDP_DEBUG", "2"),
        ("IDP_PASSWORD_HASH_PROFILE", "bcrypt"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_config({"IDP_ENV": "testing", name: value})


def _run_idp(args: list[str], environ: dict, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "FLASK_"))}
    env.update(environ, IDP_DATABASE_URL=f"sqlite:///{tmp_path / 'idp.sqlite3'}")
    return subprocess.run([str(IDP), *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize("args", [["users", "show", "jdupont"], ["db", "upgrade"], ["--help"]])
def test_idp_refuses_to_start_in_production_with_one_line(args, tmp_path):
    result = _run_idp(args, production(IDP_SECRET_KEY="changeme"), tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "IDP_SECRET_KEY" in lines[0]
    assert not (tmp_path / "idp.sqlite3").exists()


def test_metrics_and_rate_limit_store_settings():
    import ipaddress

    defaults = load_config({"IDP_ENV": "testing"})
    assert defaults["IDP_METRICS_ALLOWED_NETWORKS"] == (
        ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    assert defaults["IDP_METRICS_TOKEN"] == ""
    assert defaults["RATELIMIT_KEY_PREFIX"] == "idp"
    assert defaults["RATELIMIT_STORAGE_OPTIONS"] == {}
    values = load_config(production(IDP_METRICS_ALLOWED_NETWORKS="10.0.5.0/24, 192.0.2.7"))
    assert [str(n) for n in values["IDP_METRICS_ALLOWED_NETWORKS"]] == [
        "10.0.5.0/24", "192.0.2.7/32"]
    # Redis must answer fast or the request fails closed (REL-01).
    assert values["RATELIMIT_STORAGE_OPTIONS"] == {"socket_timeout": 2,
                                                   "socket_connect_timeout": 2}


@pytest.mark.parametrize("value", ["10.0.0.0/33", "réseau-local", "10.0.0.1, ::g"])
def test_a_bad_metrics_network_is_a_config_error(value):
    with pytest.raises(ConfigError, match="IDP_METRICS_ALLOWED_NETWORKS"):
        load_config({"IDP_ENV": "testing", "IDP_METRICS_ALLOWED_NETWORKS": value})


def test_production_refuses_a_short_metrics_token():
    with pytest.raises(ConfigError, match="IDP_METRICS_TOKEN"):
        load_config(production(IDP_METRICS_TOKEN="short-token"))
    assert load_config(production(IDP_METRICS_TOKEN=STRONG_KEY))["IDP_METRICS_TOKEN"] == STRONG_KEY


# --- files under instance/: private from their creation -----------------------------------


@pytest.fixture
def loose_umask(monkeypatch):
    """A permissive umask, and no chmod: a file must be created private, not fixed after."""
    previous = os.umask(0o000)
    monkeypatch.setattr(os, "chmod", lambda *args, **kwargs: None)
    monkeypatch.setattr(Path, "chmod", lambda *args, **kwargs: None)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_development_secret_key_is_created_private(instance_dir, loose_umask):
    load_config({})
    assert _mode(instance_dir / "secret_key") == 0o600


def test_the_sqlite_database_and_its_wal_files_are_created_private(tmp_path, loose_umask):
    from sqlalchemy import text

    from idp import create_app
    from idp.extensions import db

    path = tmp_path / "instance" / "idp.sqlite3"
    path.parent.mkdir()
    app = create_app({}, environ={"IDP_ENV": "testing",
                                  "IDP_DATABASE_URL": f"sqlite:///{path}"})
    with app.app_context():
        db.session.execute(text("CREATE TABLE probe (x INTEGER)"))
        db.session.execute(text("INSERT INTO probe VALUES (1)"))
        db.session.commit()
        # The WAL and shared-memory files exist while a connection is open.
        with db.engine.connect() as connection:
            connection.execute(text("SELECT x FROM probe")).all()
            files = sorted(tmp_path.joinpath("instance").iterdir())
            modes = {file.name: _mode(file) for file in files}
        db.engine.dispose()
    # The writers' lock file too (idp.database): whoever opens it can hold every writer up.
    assert modes == {"idp.sqlite3": 0o600, "idp.sqlite3-shm": 0o600, "idp.sqlite3-wal": 0o600,
                     "idp.sqlite3.lock": 0o600}
