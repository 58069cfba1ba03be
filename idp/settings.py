"""The application's settings as one typed, frozen object: ``settings()``.

``config.py`` reads the ``IDP_*`` environment variables (one table, with their
defaults) into Flask's ``app.config``; ``Settings`` is that configuration with
a name and a type per setting, so that a misspelt name is an AttributeError the
editor and the linter see, not a KeyError at run time. It is built once per
state of the configuration: ``Config`` forgets it whenever a value changes
(the tests change some), and the next ``settings()`` builds it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields

import flask
from flask import current_app

# Settings whose configuration key is not IDP_<NAME>.
_KEYS = {
    "env": "ENV_NAME",
    "database_uri": "SQLALCHEMY_DATABASE_URI",
    "secure_cookies": "SESSION_COOKIE_SECURE",
    "password_hash_profile": "PASSWORD_HASH_PROFILE",
    "outbox_dir": "OUTBOX_DIR",
    "captcha_voices_dir": "CAPTCHA_VOICES_DIR",
}


@dataclass(frozen=True)
class Settings:
    env: str  # development, testing or production
    issuer: str  # without a trailing slash
    database_uri: str
    secure_cookies: bool  # https issuer: Secure, __Host- cookies
    # Mail
    mail_server: str
    mail_port: int
    mail_use_tls: bool
    mail_username: str
    mail_password: str = field(repr=False)
    mail_sender: str
    outbox_dir: str  # .eml files when no mail server is set (development)
    # The agency's rules (docs/flows.md)
    lockout_threshold: int
    lockout_minutes: int
    password_max_age_days: int
    provisional_password_hours: int
    password_hash_profile: str
    session_idle_minutes: int
    session_max_hours: int
    # What the pages and mails show
    assistance_phone: str
    manual_url: str
    captcha_fixed_text: str  # development and tests only
    captcha_voices_dir: str
    # Rate limits (Flask-Limiter strings)
    ratelimit_login: str
    ratelimit_login_identifier: str
    ratelimit_forgot_password: str
    ratelimit_token: str
    # Operations
    db_statement_timeout_ms: int  # PostgreSQL statement_timeout; 0: none
    db_lock_timeout_ms: int  # PostgreSQL lock_timeout; 0: none
    proxy_hops: int
    trusted_proxies: tuple  # ip_network objects: the direct peers ProxyFix believes
    keys_refresh_seconds: int
    audit_seal_interval: int  # seconds between sealing rounds of a web process; 0: off
    metrics_allowed_networks: tuple
    metrics_token: str = field(repr=False)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_config(cls, config) -> Settings:
        return cls(**{each.name: config[config_key(each.name)] for each in fields(cls)})


def config_key(name: str) -> str:
    """The ``app.config`` key of a setting."""
    return _KEYS.get(name, f"IDP_{name.upper()}")


class Config(flask.Config):
    """Flask's configuration, forgetting its ``Settings`` whenever a value changes."""

    settings: Settings | None = None

    def _changed(self) -> None:
        self.settings = None

    def __setitem__(self, key, value) -> None:
        self._changed()
        super().__setitem__(key, value)

    def __delitem__(self, key) -> None:
        self._changed()
        super().__delitem__(key)

    def update(self, *args, **kwargs) -> None:
        self._changed()
        super().update(*args, **kwargs)

    def setdefault(self, key, default=None):
        self._changed()
        return super().setdefault(key, default)

    def pop(self, *args):
        self._changed()
        return super().pop(*args)

    def clear(self) -> None:
        self._changed()
        super().clear()


def settings(app: flask.Flask | None = None) -> Settings:
    """The settings of ``app`` (the current application by default)."""
    config = (app or current_app).config
    if not isinstance(config, Config):  # an application not built by create_app
        return Settings.from_config(config)
    if config.settings is None:
        config.settings = Settings.from_config(config)
    return config.settings
