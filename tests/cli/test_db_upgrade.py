"""`idp db upgrade` on a new database: the schema, then the first signing key, once."""

from __future__ import annotations

from sqlalchemy import select

from idp import create_app
from idp.extensions import db
from idp.models import AuditEvent
from idp.models import SigningKey
from tests.conftest import TEST_OVERRIDES
from tests.conftest import environ_for


def test_upgrade_creates_the_first_signing_key_once(tmp_path):
    app = create_app(dict(TEST_OVERRIDES),
                     environ=environ_for(f"sqlite:///{tmp_path / 'new.sqlite3'}", None))
    runner = app.test_cli_runner()

    first = runner.invoke(args=["db", "upgrade"])
    again = runner.invoke(args=["db", "upgrade"])

    assert first.exit_code == 0, first.output
    assert again.exit_code == 0, again.output
    with app.app_context():
        keys = db.session.execute(select(SigningKey)).scalars().all()
        assert [(key.alg, key.retired_at) for key in keys] == [("RS256", None)]
        created = db.session.execute(select(AuditEvent).where(
            AuditEvent.event == "key.created")).scalars().all()
        assert [row.details["kid"] for row in created] == [keys[0].kid]
        db.engine.dispose()
    assert f"Première clé de signature RS256 : {keys[0].kid}." in first.stdout
    assert "clé" not in again.stdout
    listed = runner.invoke(args=["keys", "list"])
    assert listed.stdout.startswith(f"{keys[0].kid}\tRS256\t")


def test_upgrade_keeps_the_active_key(tmp_path):
    app = create_app(dict(TEST_OVERRIDES),
                     environ=environ_for(f"sqlite:///{tmp_path / 'new.sqlite3'}", None))
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    rotated = runner.invoke(args=["keys", "rotate", "--alg", "RS256"])
    assert rotated.exit_code == 0, rotated.output

    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0

    with app.app_context():
        active = db.session.execute(select(SigningKey).where(
            SigningKey.retired_at.is_(None))).scalars().all()
        assert len(active) == 1
        assert len(db.session.execute(select(SigningKey)).scalars().all()) == 2
        db.engine.dispose()
