"""`idp notify-expiring` in detail: the mail and audit row of each reminder, field by field,
the exact day boundaries with the injected clock, and the accounts it must leave alone."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine

from idp.security.expiry import reminder_stage
from tests.conftest import reload

CHANGED_AT = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)  # expires 90 days later: 31 May 2026
EXPIRES_AT = CHANGED_AT + timedelta(days=90)
SECOND = timedelta(seconds=1)


@pytest.fixture
def clock():
    with time_machine.travel(CHANGED_AT, tick=False) as traveller:
        yield traveller


def run_at(runner, clock, when: datetime) -> int:
    clock.move_to(when)
    result = runner.invoke(args=["notify-expiring"])
    assert result.exit_code == 0, result.output
    return int(re.fullmatch(r"(\d+) rappel\(s\) envoyé\(s\)\.\n", result.stdout).group(1))


@pytest.mark.parametrize(("days_left", "stage"), [
    (-1, None), (0, None), (1, 1), (2, 7), (7, 7), (8, 15), (15, 15), (16, None), (90, None),
])
def test_the_stage_of_each_number_of_days_left(days_left, stage):
    assert reminder_stage(days_left) == stage


def test_the_reminder_mail_and_audit_row_field_by_field(app, runner, mailbox, make_user, clock,
                                                        audit_rows):
    user = make_user("mdurand", changed_days_ago=0, given_name="Marie", family_name="Durand")

    assert run_at(runner, clock, EXPIRES_AT - timedelta(days=15)) == 1

    [message] = mailbox.messages
    assert message["To"] == "mdurand@example.test"
    assert message["From"] == app.config["IDP_MAIL_SENDER"]
    assert message["Subject"] == "BonusEco — votre mot de passe expire bientôt"
    body = mailbox.body(message)
    assert body.startswith("Bonjour Marie Durand,\n\n")
    assert ("Le mot de passe de votre compte BonusEco (mdurand) expire le\n"
            "31/05/2026, dans 15 jours.\n") in body
    assert f"Pour le changer avant cette date : {app.config['IDP_ISSUER']}/\n" in body
    [row] = audit_rows("password.expiry_reminder")
    assert (row.outcome, row.user_id, row.login, row.actor) == ("info", user.id, "mdurand", "cli")
    assert row.details == {"days_left": 15}
    assert reload(user).expiry_reminder_days == 15


def test_each_stage_starts_to_the_second(runner, mailbox, make_user, clock):
    """A reminder is due once the days left, rounded up, reach 15, 7 or 1."""
    make_user(changed_days_ago=0)
    for stage in (15, 7, 1):
        assert run_at(runner, clock, EXPIRES_AT - timedelta(days=stage) - SECOND) == 0
        assert run_at(runner, clock, EXPIRES_AT - timedelta(days=stage)) == 1
    bodies = [mailbox.body(message) for message in mailbox.to("jdupont@example.test")]
    assert [re.search(r"dans (\d+) jours?\.", body).group(1) for body in bodies] == \
        ["15", "7", "1"]


def test_no_reminder_once_the_password_has_expired(runner, mailbox, make_user, clock,
                                                   audit_rows):
    """Never reminded before (the cron did not run): at the expiry and after, the login page
    asks for a new password, no mail says « dans 0 jour »."""
    make_user(changed_days_ago=0)
    assert run_at(runner, clock, EXPIRES_AT) == 0
    assert run_at(runner, clock, EXPIRES_AT + timedelta(hours=23)) == 0
    assert mailbox.messages == []
    assert audit_rows("password.expiry_reminder") == []
    # One second before the expiry, the last reminder still leaves.
    assert run_at(runner, clock, EXPIRES_AT - SECOND) == 1
    assert "dans 1 jour." in mailbox.body(mailbox.messages[0])


def test_every_account_due_is_counted_and_reminded_in_one_run(runner, mailbox, make_user, clock,
                                                              audit_rows):
    # Already reminded at 15 days: skipped this time, and created first so that the
    # accounts due come after it.
    make_user("deja", changed_days_ago=0, expiry_reminder_days=15)
    first = make_user("alice", changed_days_ago=0)
    second = make_user("bruno", changed_days_ago=0)

    assert run_at(runner, clock, EXPIRES_AT - timedelta(days=10)) == 2

    assert sorted(message["To"] for message in mailbox.messages) == [
        "alice@example.test", "bruno@example.test"]
    rows = audit_rows("password.expiry_reminder")
    assert sorted((row.user_id, row.login) for row in rows) == [
        (first.id, "alice"), (second.id, "bruno")]


def test_an_account_on_its_provisional_password_is_not_reminded(runner, mailbox, make_user,
                                                                 clock):
    """After a forgotten-password reset, the first login with the provisional password ends
    the old one (password_hash emptied) and the change is under way: no reminder."""
    make_user("actif", changed_days_ago=0)
    make_user("oubli", changed_days_ago=0, password_hash=None, provisional_hash="x")

    assert run_at(runner, clock, EXPIRES_AT - timedelta(days=10)) == 1
    assert [message["To"] for message in mailbox.messages] == ["actif@example.test"]
