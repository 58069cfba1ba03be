"""BonusEco IdP: the OpenID Connect identity provider of the Bonus Eco extranet."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import FlaskGroup

from config import INSTANCE_DIR
from config import load_config
from idp.settings import Config
from idp.settings import settings

ROOT = Path(__file__).resolve().parent.parent


class _Application(Flask):
    config_class = Config  # typed settings: idp.settings


def create_app(overrides: dict | None = None, environ: dict | None = None) -> Flask:
    """Build the application: configuration, extensions, blueprints, errors, headers, CLI."""
    app = _Application(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder="static",
        instance_path=str(INSTANCE_DIR),
    )
    app.config.update(load_config(environ))
    app.config.update(overrides or {})
    if settings(app).database_uri.startswith("sqlite:///"):
        Path(app.instance_path).mkdir(mode=0o700, parents=True, exist_ok=True)

    from idp import audit_sealer
    from idp import cli
    from idp import database
    from idp import errors
    from idp import headers
    from idp import input_filter
    from idp import logs
    from idp import metrics
    from idp import web
    from idp.auth import current
    from idp.extensions import csrf
    from idp.extensions import db
    from idp.extensions import limiter
    from idp.extensions import migrate
    from idp.oidc import server as oidc_server

    logs.init_app(app)
    metrics.init_app(app)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", database.engine_options(
        settings(app).database_uri))
    db.init_app(app)
    database.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True,
                     compare_type=True)
    input_filter.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    oidc_server.init_app(app)
    web.init_app(app)
    _register_blueprints(app)
    app.after_request(current.touch_session)
    errors.init_app(app)
    headers.init_app(app)
    cli.init_app(app)
    audit_sealer.init_app(app)
    return app


def _register_blueprints(app: Flask) -> None:
    """Every route of the IdP, by module: "where is this URL?" is answered here."""
    from idp import legal
    from idp import metrics
    from idp import web
    from idp.assistance import actions as assistance_actions
    from idp.assistance import creation as assistance_creation
    from idp.assistance import views as assistance_views
    from idp.auth import account
    from idp.auth import first_connection
    from idp.auth import forgot_password
    from idp.auth import home
    from idp.auth import login
    from idp.auth import logout
    from idp.auth import password_change
    from idp.extensions import csrf
    from idp.oidc import api
    from idp.oidc import logout as oidc_logout
    from idp.oidc import views as oidc_views

    pages = (
        login.bp,               # /login
        first_connection.bp,    # /first-connection/...: secret question, captcha
        password_change.bp,     # /password-change (expired or provisional password)
        forgot_password.bp,     # /forgot-password, /forgot-password/question
        home.bp,                # /, /sessions/<sid>/end
        account.bp,             # /account/password, /account/secret-question
        logout.bp,              # /logout
        oidc_views.bp,          # /authorize, /authorize/consent
        oidc_logout.bp,         # /end-session, /end-session/confirm
        assistance_views.bp,    # /assistance/, /assistance/accounts/<login>
        assistance_actions.bp,  # /assistance/accounts/<login>/<action>, habilitations
        assistance_creation.bp,  # /assistance/new-account, /assistance/import
        legal.bp,               # /legal/accessibility, notice, personal-data, cookies (footer)
    )
    for blueprint in pages:
        app.register_blueprint(blueprint)
    # Machine endpoints: client authentication protects them, no cookie, no CSRF token.
    csrf.exempt(api.bp)
    app.register_blueprint(api.bp)  # /token, /userinfo, /revoke, /introspect, /jwks, discovery
    app.register_blueprint(web.health)  # /healthz, /readyz
    app.register_blueprint(metrics.bp)  # /metrics


def _create_app():
    from config import ConfigError

    try:
        return create_app()
    except ConfigError as error:
        # Production refuses an unsafe setting (docs/deployment.md), in one line. SystemExit passes
        # through Flask's group, which would print a traceback for an Exception
        # (``idp --help``) or turn it into "no such command".
        click.echo(f"Erreur de configuration : {error}", err=True)
        sys.exit(2)


def main() -> None:
    """Console script ``idp``."""
    # A command counts nothing into gunicorn's Prometheus folder: nothing scrapes its
    # counts, each run would leave its files there, and a folder that does not exist
    # yet would crash it (docs/deployment.md, « gunicorn »).
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    cli = FlaskGroup(create_app=_create_app, help="BonusEco IdP : administration.")
    cli.main(prog_name="idp")
