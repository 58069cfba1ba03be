"""Configuration read from ``IDP_*`` environment variables (README, « Configuration »).

``load_config(environ)`` returns a plain dict for ``app.config``; in production it
refuses to start on an unsafe setting (``ConfigError``). Every variable has its
default here, in one place, so the README table and the code cannot drift apart.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"

ENVIRONMENTS = ("development", "testing", "production")


def _int_between(low: int, high: int | None = None):
    """An integer parser refusing values out of range (a lockout threshold of 0 locks
    everyone out; a negative duration never ends)."""

    def parse(value: str) -> int:
        number = int(value)
        if number < low or (high is not None and number > high):
            bounds = f"entre {low} et {high}" if high is not None else f"au moins {low}"
            raise ValueError(f"{number} : attendu {bounds}")
        return number

    return parse


_POSITIVE = _int_between(1)


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _str(value: str) -> str:
    return value


def _hash_profile(value: str) -> str:
    """An argon2id profile name of idp.security.passwords.PROFILES (imported late:
    the idp package imports this module)."""
    from idp.security.passwords import PROFILES

    if value not in PROFILES:
        raise ValueError(f"{value!r} : attendu {', '.join(PROFILES)}")
    return value


def _networks(value: str) -> tuple:
    """Comma-separated networks (``10.0.0.0/8, ::1/128``); a bare address is one host."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False)
                 for part in value.split(",") if part.strip())


# name -> (default, parser). Defaults are the agency's values (README, « Configuration »).
VARIABLES: dict[str, tuple[object, object]] = {
    "IDP_ENV": ("development", _str),
    "IDP_SECRET_KEY": ("", _str),
    "IDP_ISSUER": ("http://127.0.0.1:5000", _str),
    "IDP_DATABASE_URL": (f"sqlite:///{INSTANCE_DIR / 'idp.sqlite3'}", _str),
    "IDP_RATELIMIT_STORAGE_URI": ("memory://", _str),
    "IDP_MAIL_SERVER": ("", _str),
    "IDP_MAIL_PORT": (25, _int_between(1, 65535)),
    "IDP_MAIL_USE_TLS": (False, _bool),
    "IDP_MAIL_USERNAME": ("", _str),
    "IDP_MAIL_PASSWORD": ("", _str),
    "IDP_MAIL_SENDER": ("BonusEco <ne-pas-repondre@bonuseco.asp-public.fr>", _str),
    "IDP_LOCKOUT_THRESHOLD": (3, _POSITIVE),
    "IDP_LOCKOUT_MINUTES": (20, _POSITIVE),
    "IDP_PASSWORD_MAX_AGE_DAYS": (90, _POSITIVE),
    "IDP_PROVISIONAL_PASSWORD_HOURS": (72, _POSITIVE),
    # argon2id parameters of new hashes (idp.security.passwords.PROFILES): OWASP's
    # recommended set by default; the trade-off is in docs/deployment.md, « Password
    # hashing profile ».
    "IDP_PASSWORD_HASH_PROFILE": ("owasp-minimum", _hash_profile),
    "IDP_ASSISTANCE_PHONE": ("0 800 74 74 00", _str),
    "IDP_MANUAL_URL": ("https://www.asp-public.fr/bonus-eco/guide-utilisateur", _str),
    "IDP_RATELIMIT_LOGIN": ("30/minute;300/hour", _str),
    "IDP_RATELIMIT_LOGIN_IDENTIFIER": ("10/minute;100/hour", _str),
    "IDP_RATELIMIT_FORGOT_PASSWORD": ("10/minute;60/hour", _str),
    "IDP_RATELIMIT_TOKEN": ("300/minute", _str),
    "IDP_CAPTCHA_FIXED_TEXT": ("", _str),
    "IDP_SESSION_IDLE_MINUTES": (30, _POSITIVE),
    "IDP_SESSION_MAX_HOURS": (12, _POSITIVE),
    # PostgreSQL: a statement (or a wait for a lock) that takes longer is cancelled and
    # the request answers 503 at once instead of holding a worker (docs/deployment.md).
    # 0 lifts the limit (a long migration or purge run by hand).
    "IDP_DB_STATEMENT_TIMEOUT_MS": (5000, _int_between(0)),
    "IDP_DB_LOCK_TIMEOUT_MS": (3000, _int_between(0)),
    "IDP_PROXY_HOPS": (0, _int_between(0)),
    # The direct peers whose forwarded headers IDP_PROXY_HOPS believes: a client that
    # reaches gunicorn directly cannot choose its address (docs/deployment.md).
    "IDP_TRUSTED_PROXIES": (_networks("127.0.0.0/8,::1/128"), _networks),
    "IDP_KEYS_REFRESH_SECONDS": (5, _int_between(0, 300)),
    # Shared Redis: each deployment (or test) counts under its own prefix.
    "IDP_RATELIMIT_KEY_PREFIX": ("idp", _str),
    # /metrics: from these networks, or anywhere with the bearer token (docs/deployment.md).
    "IDP_METRICS_ALLOWED_NETWORKS": (_networks("127.0.0.0/8,::1/128"), _networks),
    "IDP_METRICS_TOKEN": ("", _str),
    # Seconds between two sealing rounds of the audit chain in each web process
    # (idp.audit_sealer); 0 turns the thread off (then cron runs ``idp audit seal``).
    "IDP_AUDIT_SEAL_INTERVAL": (2, _int_between(0, 3600)),
    "IDP_DEBUG": (False, _bool),
}

MIN_SECRET_KEY_LENGTH = 32
WEAK_SECRET_KEYS = {"dev", "secret", "changeme", "change-me", "development", "test"}


class ConfigError(Exception):
    """A setting that makes the application unsafe or unable to start."""


def _read(environ: dict[str, str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, (default, parse) in VARIABLES.items():
        raw = environ.get(name)
        if raw is None or raw == "":
            values[name] = default
            continue
        try:
            values[name] = parse(raw)  # type: ignore[operator]
        except ValueError as exc:
            raise ConfigError(f"{name}: valeur invalide ({exc})") from None
    if values["IDP_ENV"] not in ENVIRONMENTS:
        raise ConfigError(f"IDP_ENV must be one of {', '.join(ENVIRONMENTS)}")
    return values


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_production(values: dict[str, object]) -> None:
    """Refuse the unsafe production settings (docs/deployment.md, « Environment »)."""
    key = str(values["IDP_SECRET_KEY"])
    if not key:
        raise ConfigError("IDP_SECRET_KEY is required in production")
    if len(key) < MIN_SECRET_KEY_LENGTH or key.lower() in WEAK_SECRET_KEYS or len(set(key)) < 10:
        raise ConfigError(
            f"IDP_SECRET_KEY is too weak: use at least {MIN_SECRET_KEY_LENGTH} random characters"
        )
    issuer = urlsplit(str(values["IDP_ISSUER"]))
    if issuer.scheme != "https" and not (issuer.scheme == "http" and _is_loopback(issuer.hostname)):
        raise ConfigError("IDP_ISSUER must be an https:// URL in production")
    if values["IDP_DEBUG"]:
        raise ConfigError("IDP_DEBUG must be off in production")
    if values["IDP_CAPTCHA_FIXED_TEXT"]:
        raise ConfigError("IDP_CAPTCHA_FIXED_TEXT is refused in production")
    if not values["IDP_MAIL_SERVER"]:
        raise ConfigError("IDP_MAIL_SERVER is required in production")
    if str(values["IDP_RATELIMIT_STORAGE_URI"]).startswith("memory://"):
        # In one process's memory each gunicorn worker would count apart, and each
        # host too: N workers would allow N times every limit.
        raise ConfigError("IDP_RATELIMIT_STORAGE_URI must name a shared store (redis://...) "
                          "in production, not memory://")
    token = str(values["IDP_METRICS_TOKEN"])
    if token and len(token) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            f"IDP_METRICS_TOKEN is too weak: use at least {MIN_SECRET_KEY_LENGTH} random characters"
        )


def _development_secret_key(env: object) -> str:
    """A random key kept in instance/ so that restarts and workers share sessions."""
    if env == "testing":
        return os.urandom(32).hex()
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        INSTANCE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private_file(path, os.urandom(32).hex().encode())
    return path.read_text().strip()


def create_private_file(path: Path) -> int | None:
    """Create ``path`` readable by its owner only, from the first byte on; its open
    descriptor, or None when it already exists.

    Writing then chmod-ing leaves a window in which the umask's mode (often
    0644) lets other local users open the file and keep it open.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    # A umask can only remove bits; fchmod makes the mode exact whatever it is.
    os.fchmod(descriptor, 0o600)
    return descriptor


def write_private_file(path: Path, data: bytes) -> None:
    """Write a new owner-only file (an existing one is left as it is)."""
    descriptor = create_private_file(path)
    if descriptor is not None:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)


def _storage_options(uri: str) -> dict:
    """Redis must answer fast or not at all: a hung store would hold every login
    worker; a refused one gives the 503 page at once (fail closed)."""
    if uri.startswith(("redis://", "rediss://", "redis+")):
        return {"socket_timeout": 2, "socket_connect_timeout": 2}
    return {}


def load_config(environ: dict[str, str] | None = None) -> dict[str, object]:
    """Read the environment and return the Flask config mapping."""
    values = _read(dict(os.environ) if environ is None else environ)
    env = values["IDP_ENV"]
    if env == "production":
        check_production(values)
    issuer = str(values["IDP_ISSUER"]).rstrip("/")
    secure_cookie = not (
        env != "production" and _is_loopback(urlsplit(issuer).hostname)
    ) and urlsplit(issuer).scheme == "https"
    secret_key = values["IDP_SECRET_KEY"] or _development_secret_key(env)
    config: dict[str, object] = dict(values)
    config.update(
        ENV_NAME=env,
        IDP_ISSUER=issuer,
        SECRET_KEY=secret_key,
        DEBUG=bool(values["IDP_DEBUG"]),
        TESTING=env == "testing",
        SQLALCHEMY_DATABASE_URI=values["IDP_DATABASE_URL"],
        PASSWORD_HASH_PROFILE=values["IDP_PASSWORD_HASH_PROFILE"],
        RATELIMIT_STORAGE_URI=values["IDP_RATELIMIT_STORAGE_URI"],
        # No X-RateLimit headers: computing them asks the store again after the view,
        # when the work may be committed (idp.extensions, docs/deployment.md « Redis »).
        RATELIMIT_HEADERS_ENABLED=False,
        # The limiter store must answer: failing open would disable the
        # lockout's companion defence (docs/security.md, « Fail closed »).
        RATELIMIT_SWALLOW_ERRORS=False,
        # A moving window allows no burst at a window's edge (twice the limit in a
        # few seconds with fixed windows), and it times entries with the
        # application's clock on memory and Redis alike.
        RATELIMIT_STRATEGY="moving-window",
        RATELIMIT_KEY_PREFIX=values["IDP_RATELIMIT_KEY_PREFIX"],
        RATELIMIT_STORAGE_OPTIONS=_storage_options(str(values["IDP_RATELIMIT_STORAGE_URI"])),
        # __Host- requires Secure; plain HTTP on loopback in development cannot use it.
        SESSION_COOKIE_NAME="__Host-idp" if secure_cookie else "idp_session",
        SESSION_COOKIE_SECURE=secure_cookie,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        PREFERRED_URL_SCHEME="https" if secure_cookie else "http",
        MAX_CONTENT_LENGTH=256 * 1024,
        MAX_FORM_MEMORY_SIZE=64 * 1024,
        WTF_CSRF_TIME_LIMIT=3600,
        WTF_CSRF_SSL_STRICT=secure_cookie,
        OUTBOX_DIR=str(INSTANCE_DIR / "outbox"),
        CAPTCHA_VOICES_DIR=str(BASE_DIR / "build" / "captcha-voices"),
    )
    return config
