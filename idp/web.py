"""Proxy handling, the template globals every page needs, and the health checks."""

from __future__ import annotations

import ipaddress
import logging

from alembic.script import ScriptDirectory
from flask import Blueprint
from flask import Flask
from flask import current_app
from flask import request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from idp import database
from idp import metrics
from idp.clock import utcnow
from idp.database import rollback
from idp.extensions import db
from idp.extensions import limiter
from idp.oidc import keys
from idp.settings import settings

log = logging.getLogger(__name__)


def _page_globals() -> dict:
    return {
        "assistance_phone": settings().assistance_phone,
        "manual_url": settings().manual_url,
    }


class TrustedProxyFix:
    """ProxyFix for the requests whose direct peer is a trusted proxy, and only those.

    ProxyFix believes the last ``hops`` entries of X-Forwarded-For from anyone: a
    client reaching gunicorn directly would choose its own address (and read
    /metrics by claiming 127.0.0.1, or escape its rate limit). docs/deployment.md,
    « Reverse proxy, TLS and IDP_PROXY_HOPS ».
    """

    def __init__(self, wsgi_app, hops: int, trusted: tuple):
        self.direct = wsgi_app
        self.through_proxy = ProxyFix(wsgi_app, x_for=hops, x_proto=hops, x_host=0)
        self.trusted = trusted

    def __call__(self, environ, start_response):
        if is_in(environ.get("REMOTE_ADDR"), self.trusted):
            return self.through_proxy(environ, start_response)
        return self.direct(environ, start_response)


class UnforwardedWarning:
    """With ``IDP_PROXY_HOPS=0`` a proxy's X-Forwarded-For is ignored: every user behind
    it has the proxy's address, so all share one rate limit (and the audit trail names
    the proxy). Said once per process, when a trusted proxy sends the header
    (docs/deployment.md, « Reverse proxy, TLS and IDP_PROXY_HOPS »)."""

    def __init__(self, wsgi_app, trusted: tuple):
        self.wsgi_app = wsgi_app
        self.trusted = trusted
        self.warned = False

    def __call__(self, environ, start_response):
        if (not self.warned and environ.get("HTTP_X_FORWARDED_FOR")
                and is_in(environ.get("REMOTE_ADDR"), self.trusted)):
            self.warned = True
            log.warning("X-Forwarded-For from a trusted proxy ignored: IDP_PROXY_HOPS is 0, "
                        "so every client behind the proxy shares its address and its rate "
                        "limits; set IDP_PROXY_HOPS to the number of proxies",
                        extra={"proxy": environ.get("REMOTE_ADDR")})
        return self.wsgi_app(environ, start_response)


def is_in(address: str | None, networks: tuple) -> bool:
    """Whether an address (as the socket gives it) belongs to one of ``networks``."""
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def init_app(app: Flask) -> None:
    hops = settings(app).proxy_hops
    if hops:
        # Only the configured number of trusted proxies is believed (docs/deployment.md).
        app.wsgi_app = TrustedProxyFix(app.wsgi_app, hops, settings(app).trusted_proxies)
    else:
        app.wsgi_app = UnforwardedWarning(app.wsgi_app, settings(app).trusted_proxies)
    app.context_processor(_page_globals)


health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz():
    """Process alive; with ``?details``, each dependency as this process sees it."""
    if "details" not in request.args or not metrics.is_allowed():
        return {"status": "ok"}
    found = {"database": database.answers(), "ratelimit": limiter.store_answers()}
    found["migrations"] = found["database"] and _schema_is_current()
    return {"status": "ok",
            "dependencies": {name: "ok" if ok else "down" for name, ok in found.items()}}


@health.get("/readyz")
def readyz():
    """Whether this process can serve: its database answers, at the code's schema, and
    the signing keys it holds load (a brand-new deployment has none yet: created at
    first need).

    The rate-limit store is not part of it: it is shared by every host, and
    while it is down the pages that need it answer 503 on every host alike,
    while discovery, JWKS, userinfo and SSO logins still work (docs/deployment.md,
    « Health, logs and metrics »).
    """
    checks = {"database": database.answers()}
    checks["migrations"] = checks["database"] and _schema_is_current()
    checks["keys"] = checks["migrations"] and _keys_load()
    ready = all(checks.values())
    body = {"status": "ready" if ready else "unavailable",
            "checks": {name: "ok" if ok else "down" for name, ok in checks.items()}}
    return body, 200 if ready else 503


def _schema_is_current() -> bool:
    """The database is at this code's migration heads, or past them.

    Past them: a newer release ran its expand migration while this one still
    serves (docs/deployment.md, « Zero-downtime migrations »); the revision is
    then unknown to this code. Behind them (a revision this code knows but not
    its head) or never migrated: not ready.
    """
    try:
        found = set(db.session.execute(text("SELECT version_num FROM alembic_version"))
                    .scalars())
    except SQLAlchemyError:  # no alembic_version table: never migrated
        return False
    finally:
        rollback()
    heads, known = _schema_revisions()
    return bool(found) and (found == heads or not found & known)


def _keys_load() -> bool:
    """Every published signing key imports (once per key and process: cached)."""
    try:
        for record in keys.published(utcnow()):
            keys.private_key(record)
    except SQLAlchemyError:
        return False
    except Exception:  # noqa: BLE001 (a key that does not import, whatever the reason)
        log.error("a signing key does not load")
        return False
    finally:
        rollback()
    return True


def _schema_revisions() -> tuple[set[str], set[str]]:
    """The heads of migrations/ and all its revisions, read once per process (Alembic
    imports every file)."""
    revisions = current_app.extensions.get("idp_schema_revisions")
    if revisions is None:
        config = current_app.extensions["migrate"].migrate.get_config()
        scripts = ScriptDirectory.from_config(config)
        revisions = current_app.extensions["idp_schema_revisions"] = (
            set(scripts.get_heads()), {script.revision for script in scripts.walk_revisions()})
    return revisions
