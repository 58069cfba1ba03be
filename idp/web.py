"""Blueprints, proxy handling and the template globals every page needs."""

from __future__ import annotations

from flask import Flask
from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from idp.extensions import db


def _page_globals() -> dict:
    config = current_app.config
    return {
        "assistance_phone": config["IDP_ASSISTANCE_PHONE"],
        "manual_url": config["IDP_MANUAL_URL"],
    }


def init_app(app: Flask) -> None:
    hops = app.config["IDP_PROXY_HOPS"]
    if hops:
        # Only the configured number of trusted proxies is believed (LOGIN-09).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0)
    from idp.auth import bp as auth_bp

    app.register_blueprint(auth_bp)
    app.context_processor(_page_globals)

    @app.get("/healthz")
    def healthz():
        """Process alive."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz():
        """Database reachable (SPEC 5)."""
        try:
            db.session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            db.session.rollback()
            return {"status": "unavailable"}, 503
        return {"status": "ready"}
