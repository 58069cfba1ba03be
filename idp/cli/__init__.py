"""The ``idp`` command group (SPEC 3.3): thin wrappers around the services."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import FlaskGroup

from idp.cli.admin import audit_group
from idp.cli.admin import clients
from idp.cli.admin import demo
from idp.cli.admin import habilitations
from idp.cli.admin import keys
from idp.cli.admin import notify_expiring
from idp.cli.admin import purge
from idp.cli.users import users


def init_app(app: Flask) -> None:
    for group in (users, habilitations, clients, audit_group, demo, keys, notify_expiring,
                  purge):
        app.cli.add_command(group)


def _create_app():
    from config import ConfigError
    from idp import create_app

    try:
        return create_app()
    except ConfigError as error:
        # SPEC 3.2: production refuses to start, in one line. SystemExit passes
        # through Flask's group, which would print a traceback for an Exception
        # (``idp --help``) or turn it into "no such command".
        click.echo(f"Erreur de configuration : {error}", err=True)
        sys.exit(2)


def main() -> None:
    """Console script ``idp``."""
    cli = FlaskGroup(create_app=_create_app, help="BonusEco IdP : administration.")
    cli.main(prog_name="idp")
