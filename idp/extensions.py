"""Unbound extensions, bound to the application in ``create_app``."""

from flask import g
from flask import has_request_context
from flask import request
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base of every model."""


def client_ip() -> str:
    """The client address; ProxyFix (IDP_PROXY_HOPS) decides which hop is trusted."""
    return request.remote_addr or "unknown"


def request_cache(name: str) -> dict:
    """A dict that lives as long as the current request (empty outside one).

    For what a request asks several times and cannot change meanwhile (the
    client Authlib looks up three times, the SSO session behind a grant); never
    longer, so that a change made elsewhere is seen by the next request.
    """
    if not has_request_context():
        return {}
    return g.setdefault(f"_idp_cache_{name}", {})


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
limiter = Limiter(key_func=client_ip)
