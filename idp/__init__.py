"""BonusEco IdP: the OpenID Connect identity provider of the Bonus Eco extranet."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from config import INSTANCE_DIR
from config import load_config

ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict | None = None, environ: dict | None = None) -> Flask:
    """Build the application: configuration, extensions, blueprints, errors, headers, CLI."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder="static",
        instance_path=str(INSTANCE_DIR),
    )
    app.config.update(load_config(environ))
    app.config.update(overrides or {})
    if str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite:///"):
        Path(app.instance_path).mkdir(mode=0o700, parents=True, exist_ok=True)

    from idp import cli
    from idp import database
    from idp import errors
    from idp import headers
    from idp import input_filter
    from idp import logs
    from idp import metrics
    from idp import web
    from idp.extensions import csrf
    from idp.extensions import db
    from idp.extensions import limiter
    from idp.extensions import migrate
    from idp.oidc import server as oidc_server

    logs.init_app(app)
    metrics.init_app(app)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", database.engine_options(
        str(app.config["SQLALCHEMY_DATABASE_URI"])))
    db.init_app(app)
    database.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True,
                     compare_type=True)
    input_filter.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    oidc_server.init_app(app)
    web.init_app(app)
    errors.init_app(app)
    headers.init_app(app)
    cli.init_app(app)
    return app
