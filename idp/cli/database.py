"""``idp db ...``: Flask-Migrate's commands, with ``idp db upgrade`` also making sure a
signing key is active, so that ``idp keys list`` shows it and the first token request
of a new deployment does not create one (docs/deployment.md, « Runbook »).
"""

from __future__ import annotations

import click
from flask_migrate.cli import db as migrate_group
from sqlalchemy import select

from idp import audit
from idp.cli.common import ACTOR
from idp.cli.common import done
from idp.cli.common import guarded
from idp.clock import utcnow
from idp.extensions import db
from idp.models import SigningKey
from idp.oidc import keys as signing_keys


@guarded
def ensure_signing_key() -> None:
    """Create the first signing key when none of the default algorithm is active."""
    active = db.session.execute(select(SigningKey.id).where(
        SigningKey.retired_at.is_(None), SigningKey.alg == signing_keys.DEFAULT_ALG)).first()
    if active is not None:
        db.session.rollback()
        return
    row = signing_keys.create_key(signing_keys.DEFAULT_ALG, utcnow())
    audit.record("key.created", actor=ACTOR, kid=row.kid, alg=row.alg)
    done(f"Première clé de signature {row.alg} : {row.kid}.")


def _upgrade_command() -> click.Command:
    """Flask-Migrate's ``upgrade`` (same options), then the signing key (not with --sql,
    which only prints the migration)."""
    migrate_upgrade = migrate_group.commands["upgrade"]

    @click.pass_context
    def upgrade(ctx, **options):
        ctx.invoke(migrate_upgrade.callback, **options)
        if not options.get("sql"):
            ensure_signing_key()

    return click.Command("upgrade", callback=upgrade, params=migrate_upgrade.params,
                         help=migrate_upgrade.help)


def db_group() -> click.Group:
    """A copy of Flask-Migrate's ``db`` group (its own object is shared by every app)."""
    return click.Group("db", callback=migrate_group.callback, params=migrate_group.params,
                       help=migrate_group.help,
                       commands={**migrate_group.commands, "upgrade": _upgrade_command()})
