"""Proxy handling, the template globals every page needs, and the health checks."""

from __future__ import annotations

from flask import Blueprint
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from idp.database import rollback
from idp.extensions import db
from idp.extensions import limiter
from idp.settings import settings


def _page_globals() -> dict:
    return {
        "assistance_phone": settings().assistance_phone,
        "manual_url": settings().manual_url,
    }


def init_app(app: Flask) -> None:
    hops = settings(app).proxy_hops
    if hops:
        # Only the configured number of trusted proxies is believed (docs/deployment.md).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0)
    app.context_processor(_page_globals)


health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz():
    """Process alive."""
    return {"status": "ok"}


@health.get("/readyz")
def readyz():
    """Database and rate-limit store reachable; 503 names which is not."""
    checks = {"database": _database_ok(), "ratelimit": _ratelimit_ok()}
    ready = all(checks.values())
    body = {"status": "ready" if ready else "unavailable",
            "checks": {name: "ok" if ok else "down" for name, ok in checks.items()}}
    return body, 200 if ready else 503


def _database_ok() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    finally:
        rollback()  # discards the session when the connection is dead
    return True


def _ratelimit_ok() -> bool:
    """The limiter's store answers (memory:// always does; Redis must answer a PING)."""
    try:
        return bool(limiter.storage.check())
    except Exception:  # noqa: BLE001 (any failure of the store means not ready)
        return False
