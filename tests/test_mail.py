"""Mails (SPEC 3.2, 3.4): .eml files without SMTP, sent only after the commit, SMTP down."""

from __future__ import annotations

import email
import email.policy
import re
import sqlite3
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from idp import mail
from idp.extensions import db
from tests.cli.conftest import assert_one_line_refusal
from tests.conftest import csrf_token
from tests.conftest import environ_for as environ_for
from tests.conftest import free_port

CREATE = ["users", "create", "mmartin", "--email", "marie.martin@example.test",
          "--given-name", "Marie", "--family-name", "Martin", "--habilitation", "bonuseco"]


@pytest.fixture
def app_environ(database_url) -> dict:
    """No IDP_MAIL_SERVER: outside production, mails are written as .eml files."""
    environ = environ_for(database_url, None)
    assert environ["IDP_MAIL_SERVER"] == ""
    return environ


@pytest.fixture
def outbox(app, tmp_path):
    path = tmp_path / "outbox"
    app.config["OUTBOX_DIR"] = str(path)
    return path


def read_outbox(path) -> list:
    if not path.exists():
        return []
    return [email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
            for file in sorted(path.glob("*.eml"))]


def body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def user_is_committed(app, login: str) -> bool:
    """Look from another connection (SQLite or PostgreSQL), as the mail's reader would."""
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as other:
            return other.execute(text("SELECT 1 FROM users WHERE login = :login"),
                                 {"login": login}).first() is not None
    finally:
        engine.dispose()


def test_without_smtp_mails_are_eml_files_in_the_outbox(runner, outbox):
    result = runner.invoke(args=CREATE)

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    messages = read_outbox(outbox)
    assert len(messages) == 2
    assert {m["To"] for m in messages} == {"marie.martin@example.test"}
    assert all(m["From"] and m["Subject"].startswith("BonusEco") for m in messages)
    texts = [body(m) for m in messages]
    identifier = next(t for t in texts if "Identifiant :" in t)
    password = next(t for t in texts if "Mot de passe provisoire :" in t)
    assert re.search(r"^Identifiant : mmartin$", identifier, re.M)
    assert re.search(r"^Habilitation : Bonus Eco$", identifier, re.M)
    assert re.search(r"^Mot de passe provisoire : \S{12,}$", password, re.M)
    assert "Mot de passe provisoire" not in identifier
    # It works until a personal password is chosen (an interrupted first connection
    # starts again with it): the mail must not say it works only once.
    assert "jusqu'à ce que vous ayez choisi votre mot de passe personnel" in password
    assert "qu'une fois" not in password


# Times in mails are Paris time, as on the pages (docs/accessibility.md, « Times »): the
# agency's users read « 00:30 », not the UTC the database keeps.
SUMMER_EVENING = datetime(2026, 7, 4, 22, 30, tzinfo=UTC)  # 5 July, 00:30 in Paris (UTC+2)
WINTER_MORNING = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)  # 09:00 in Paris (UTC+1)


def test_the_welcome_password_mail_gives_its_expiry_in_paris_time(runner, outbox):
    with time_machine.travel(SUMMER_EVENING, tick=False):
        result = runner.invoke(args=CREATE)

    assert result.exit_code == 0, result.output
    [password] = [body(m) for m in read_outbox(outbox) if "Mot de passe provisoire :" in body(m)]
    # 72 hours later: 7 July 22:30 UTC, 8 July 00:30 in Paris.
    assert "jusqu'au 08/07/2026 à 00:30 (heure de Paris)." in password
    assert "UTC" not in password


def test_a_reset_password_mail_gives_its_expiry_in_paris_time(runner, outbox, make_user):
    with time_machine.travel(WINTER_MORNING, tick=False):
        make_user("mmartin")
        result = runner.invoke(args=["users", "reset-password", "mmartin"])

    assert result.exit_code == 0, result.output
    [message] = read_outbox(outbox)
    assert message["Subject"] == "BonusEco — votre nouveau mot de passe provisoire"
    assert "jusqu'au 18/01/2026 à 09:00 (heure de Paris)." in body(message)
    assert "UTC" not in body(message)


def test_the_expiry_reminder_gives_the_day_in_paris(runner, outbox, make_user):
    changed_at = datetime(2026, 5, 1, 23, 30, tzinfo=UTC)  # 2 May, 01:30 in Paris
    with time_machine.travel(changed_at, tick=False) as clock:
        make_user("mmartin", changed_days_ago=0)
        # 90 days later: 30 July 23:30 UTC, which is 31 July in Paris.
        clock.move_to(changed_at + timedelta(days=75))
        result = runner.invoke(args=["notify-expiring"])

    assert result.exit_code == 0, result.output
    [message] = read_outbox(outbox)
    assert "expire le\n31/07/2026, dans 15 jours." in body(message)


def test_mails_are_sent_only_after_the_commit(runner, outbox, app, monkeypatch):
    seen = []
    deliver = mail.deliver

    def spy(message, settings):
        seen.append(user_is_committed(app, "mmartin"))
        deliver(message, settings)

    monkeypatch.setattr(mail, "deliver", spy)

    runner.invoke(args=CREATE)

    assert seen == [True, True]
    assert len(read_outbox(outbox)) == 2


def test_a_rolled_back_action_sends_nothing(runner, outbox, app):
    def refuse_commit(connection):
        raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database is locked"))

    event.listen(db.engine, "commit", refuse_commit)
    try:
        refused = runner.invoke(args=CREATE)
    finally:
        event.remove(db.engine, "commit", refuse_commit)

    assert_one_line_refusal(refused, "base de données")
    assert read_outbox(outbox) == []
    assert not user_is_committed(app, "mmartin")
    # The next action sends its own mails, and only those.
    other = runner.invoke(args=["users", "create", "jdupont", "--email", "jdupont@example.test",
                                "--given-name", "Jean", "--family-name", "Dupont"])
    assert other.exit_code == 0, other.output
    assert [m["To"] for m in read_outbox(outbox)] == ["jdupont@example.test"] * 2


def test_a_refused_import_line_sends_nothing_for_that_line(runner, outbox, tmp_path):
    path = tmp_path / "comptes.csv"
    path.write_text("login,email,given_name,family_name,habilitations\n"
                    "alice,alice@example.test,Alice,Arnaud,bonuseco\n"
                    "bruno,bruno@example.test,Bruno,Blanc,inconnue\n")

    runner.invoke(args=["users", "import", str(path)])

    assert [m["To"] for m in read_outbox(outbox)] == ["alice@example.test"] * 2


@pytest.fixture
def smtp_down(app):
    """An SMTP server configured but not answering (nothing listens on the port)."""
    app.config.update(IDP_MAIL_SERVER="127.0.0.1", IDP_MAIL_PORT=free_port())


def test_a_down_smtp_server_does_not_crash_a_command(runner, smtp_down, audit_rows, caplog):
    result = runner.invoke(args=CREATE)

    assert result.exit_code == 0, result.output
    assert "Compte mmartin créé" in result.stdout
    assert result.stderr.strip() == "Attention : 2 mail(s) n'ont pas pu être envoyés."
    assert [row.login for row in audit_rows("account.created")] == ["mmartin"]
    failures = [r for r in caplog.records if r.getMessage().startswith("mail delivery failed")]
    assert len(failures) == 2
    assert "Mot de passe provisoire" not in caplog.text


def test_a_down_smtp_server_does_not_crash_an_import(runner, smtp_down, tmp_path, audit_rows):
    path = tmp_path / "comptes.csv"
    path.write_text("login,email,given_name,family_name\nalice,alice@example.test,Alice,Arnaud\n")

    result = runner.invoke(args=["users", "import", str(path)])

    assert result.exit_code == 0, result.output
    assert "ligne 2 : alice créé" in result.stdout
    assert result.stderr.strip() == ("Attention : ligne 2 (alice) : 2 mail(s) n'ont pas pu "
                                     "être envoyés.")
    assert [row.login for row in audit_rows("account.created")] == ["alice"]


def test_a_web_flow_with_smtp_down_answers_logs_and_the_next_mail_still_leaves(
        app, client, make_user, smtp_server, caplog):
    """Background delivery: a refused mail is logged (never its content), the page is
    unaffected, and the delivery thread goes on with the next mails."""
    make_user("jdupont")
    make_user("mmartin")

    def lock(login: str) -> None:
        for _ in range(3):  # the third failure locks and queues the lock notice
            page = client.get("/login")
            response = client.post("/login", data={
                "identifier": login, "password": "Pas-Le-Bon-Mot-De-Passe-1",
                "csrf_token": csrf_token(page.text)})
            assert response.status_code == 200

    mailbox = smtp_server.handler.mailbox
    mailbox.clear()
    app.config.update(IDP_MAIL_SERVER="127.0.0.1", IDP_MAIL_PORT=free_port())  # relay down
    lock("jdupont")
    assert mail.wait_until_sent()
    failures = [r for r in caplog.records if r.getMessage().startswith("mail delivery failed")]
    assert len(failures) == 1
    assert mailbox.messages == []

    app.config.update(IDP_MAIL_PORT=smtp_server.port)  # back
    lock("mmartin")
    assert [m["To"] for m in mailbox.messages] == ["mmartin@example.test"]
