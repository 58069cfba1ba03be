"""The ``idp`` commands: thin wrappers around the services, added to each application
by ``create_app``; the console script is ``idp.main``."""

from __future__ import annotations

from flask import Flask

from idp.cli.admin import audit_group
from idp.cli.admin import clients
from idp.cli.admin import demo
from idp.cli.admin import habilitations
from idp.cli.admin import keys
from idp.cli.admin import notify_expiring
from idp.cli.admin import purge
from idp.cli.database import db_group
from idp.cli.users import users


def init_app(app: Flask) -> None:
    for group in (users, habilitations, clients, audit_group, demo, keys, notify_expiring,
                  purge):
        app.cli.add_command(group)
    # Replaces Flask-Migrate's ``db`` group (added by migrate.init_app, before this).
    app.cli.add_command(db_group())
