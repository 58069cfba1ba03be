"""`idp audit export`, `idp audit verify` and `idp audit seal`: JSON lines, filters, tamper
evidence, the unsealed tail (docs/security.md, « Audit trail »)."""

from __future__ import annotations

import json
from datetime import UTC
from datetime import datetime

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy import text

from idp.audit import row_hash
from idp.extensions import db
from idp.models import AuditEvent
from tests.cli.conftest import assert_one_line_refusal
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.sealing import seal_audit


def export(runner, *options: str) -> list[dict]:
    result = runner.invoke(args=["audit", "export", *options])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def create_account(runner, login_: str) -> None:
    result = runner.invoke(args=["users", "create", login_, "--email", f"{login_}@example.test",
                                 "--given-name", "Jean", "--family-name", "Dupont",
                                 "--habilitation", "bonuseco"])
    assert result.exit_code == 0, result.output


def row_ids() -> list[int]:
    """The rows in chain order, sealed first."""
    seal_audit()
    return list(db.session.execute(
        select(AuditEvent.id).order_by(AuditEvent.seal_seq)).scalars())


def tamper(sql: str, **params) -> None:
    """What an intruder with write access to the database would do."""
    db.session.execute(text(sql), params)
    db.session.commit()


def test_export_prints_json_lines_without_any_secret(runner, mailbox, client):
    create_account(runner, "mmartin")
    provisional = mailbox.provisional_password("mmartin@example.test")
    login(client, "mmartin", "Mauvais-Mot-De-Passe-1")
    login(client, "mmartin", provisional)
    runner.invoke(args=["users", "reset-password", "mmartin", "--reason", "appel"])
    runner.invoke(args=["clients", "create", "module-a", "--name", "A", "--redirect-uri",
                        "https://a.example.fr/cb", "--habilitation", "bonuseco"])
    seal_audit()

    result = runner.invoke(args=["audit", "export"])

    entries = [json.loads(line) for line in result.stdout.splitlines()]
    events = [entry["event"] for entry in entries]
    assert events[0] == "account.created"
    assert {"login.failure", "password.reset_sent", "client.created"} <= set(events)
    assert [entry["seal_seq"] for entry in entries] == list(range(1, len(entries) + 1))
    created = entries[0]
    assert created["login"] == "mmartin"
    assert created["actor"] == "cli"
    assert created["details"]["habilitations"] == ["bonuseco"]
    assert len(created["hash"]) == 64
    assert datetime.fromisoformat(created["created_at"]).tzinfo is not None
    for secret in (provisional, mailbox.provisional_password("mmartin@example.test"),
                   "Mauvais-Mot-De-Passe-1", "$argon2", "idpcs_"):
        assert secret not in result.stdout


def test_export_gives_the_chain_in_its_order_then_the_unsealed_rows(runner, mailbox):
    create_account(runner, "alice")
    seal_audit()
    create_account(runner, "bruno")
    # A row sealed in a later batch although its id is lower (PostgreSQL commits out of
    # order): the export follows the chain, not the ids.
    tamper("UPDATE audit_events SET id = 0 WHERE login = 'bruno'")
    seal_audit()
    create_account(runner, "chloe")

    entries = export(runner)

    assert [(entry["login"], entry["seal_seq"]) for entry in entries] == [
        ("alice", 1), ("bruno", 2), ("chloe", None)]
    assert entries[1]["id"] == 0
    assert entries[2]["hash"] is None


def test_export_filters_by_login(runner, make_user, mailbox):
    make_user("jdupont")
    make_user("mmartin")
    runner.invoke(args=["users", "unlock", "jdupont"])

    entries = export(runner, "--login", "jdupont")

    assert [entry["event"] for entry in entries] == ["account.created", "account.unlocked"]
    assert {entry["login"] for entry in entries} == {"jdupont"}
    assert export(runner, "--login", "personne") == []


def test_export_since_a_day(runner, mailbox):
    with time_machine.travel(datetime(2026, 1, 10, 9, 0, tzinfo=UTC), tick=False) as clock:
        create_account(runner, "janvier")
        clock.move_to(datetime(2026, 2, 1, 0, 0, tzinfo=UTC))
        create_account(runner, "fevrier")
        clock.move_to(datetime(2026, 3, 15, 23, 59, tzinfo=UTC))
        create_account(runner, "mars")

    since_february = export(runner, "--since", "2026-02-01")

    assert [entry["login"] for entry in since_february] == ["fevrier", "mars"]
    assert [entry["login"] for entry in export(runner, "--since", "2026-03-16")] == []
    assert [entry["login"] for entry in export(runner, "--since", "2026-03-15",
                                               "--login", "mars")] == ["mars"]


@pytest.mark.parametrize(("options", "named"), [
    (["--since", "hier"], "--since invalide « hier »"),
    (["--since", "2026-13-01"], "--since invalide"),
    (["--login"], "--login"),
    (["--utilisateur", "jdupont"], "option inconnue"),
])
def test_export_refuses_bad_input_in_one_line(options, named, runner):
    assert_one_line_refusal(runner.invoke(args=["audit", "export", *options]), named)


def test_verify_an_intact_trail(runner, make_user, client):
    make_user()
    login(client, "jdupont", "Mauvais-Mot-De-Passe-1")
    login(client, "jdupont", STRONG_PASSWORD)
    seal_audit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Journal d'audit intègre."


def test_verify_reports_the_unsealed_tail_without_failing(runner, mailbox):
    with time_machine.travel(datetime(2026, 1, 10, 9, 0, tzinfo=UTC), tick=False) as clock:
        create_account(runner, "alice")
        seal_audit()
        create_account(runner, "bruno")
        clock.shift(45)

        result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Journal d'audit intègre.",
        "1 ligne(s) pas encore scellée(s), la plus ancienne depuis 45 s "
        "(vérifiées une fois scellées).",
    ]


def test_seal_chains_what_was_written_since_the_last_sealing(runner, mailbox):
    create_account(runner, "alice")
    create_account(runner, "bruno")

    first = runner.invoke(args=["audit", "seal"])
    again = runner.invoke(args=["audit", "seal"])

    assert (first.exit_code, first.stdout) == (0, "2 ligne(s) scellée(s).\n")
    assert (again.exit_code, again.stdout) == (0, "0 ligne(s) scellée(s).\n")
    assert runner.invoke(args=["audit", "verify"]).stdout == "Journal d'audit intègre.\n"


def test_seal_refuses_bad_input_in_one_line(runner):
    assert_one_line_refusal(runner.invoke(args=["audit", "seal", "--tout"]), "option inconnue")


def test_verify_an_empty_trail(runner):
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


def test_verify_names_an_edited_row(runner, mailbox):
    for name in ("alice", "bruno", "chloe"):
        create_account(runner, name)
    ids = row_ids()
    tamper("UPDATE audit_events SET details = :details WHERE id = :id",
           details=json.dumps({"reason": "rien à signaler"}), id=ids[1])

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code != 0
    assert result.stderr.strip() == f"Journal d'audit altéré : ligne {ids[1]} modifiée."


def test_verify_names_a_row_edited_with_its_hash_recomputed(runner, mailbox):
    for name in ("alice", "bruno", "chloe"):
        create_account(runner, name)
    ids = row_ids()
    db.session.expire_all()
    row = db.session.get(AuditEvent, ids[0])
    row.login = "quelquun"
    row.hash = row_hash(row.prev_hash, row)
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code != 0
    assert f"ligne {ids[0]} modifiée" in result.stderr


def test_verify_names_a_deleted_row(runner, mailbox):
    for name in ("alice", "bruno", "chloe"):
        create_account(runner, name)
    ids = row_ids()
    tamper("DELETE FROM audit_events WHERE id = :id", id=ids[1])

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code != 0
    assert result.stderr.strip() == ("Journal d'audit altéré : maillon n° 2 manquant "
                                     f"(ligne supprimée avant la ligne {ids[2]}).")


def test_verify_refuses_bad_input_in_one_line(runner):
    assert_one_line_refusal(runner.invoke(args=["audit", "verify", "--depuis", "hier"]),
                            "option inconnue")
