"""`idp notify-expiring` (SPEC 1.4): reminders 15, 7 and 1 days before expiry, never twice."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine

from tests.cli.conftest import assert_one_line_refusal

CHANGED_AT = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)  # expires 90 days later: 31 May 2026


@pytest.fixture
def clock():
    with time_machine.travel(CHANGED_AT, tick=False) as traveller:
        yield traveller


def run_on(runner, clock, days_after_change: float) -> int:
    clock.move_to(CHANGED_AT + timedelta(days=days_after_change))
    result = runner.invoke(args=["notify-expiring"])
    assert result.exit_code == 0, result.output
    return int(re.match(r"(\d+) rappel", result.stdout).group(1))


def test_reminders_at_15_7_and_1_days_each_once(runner, mailbox, make_user, clock, audit_rows):
    make_user(changed_days_ago=0)
    address = "jdupont@example.test"

    assert run_on(runner, clock, 74) == 0  # 16 days left: too early
    assert run_on(runner, clock, 75) == 1
    assert run_on(runner, clock, 75.5) == 0  # the cron ran twice the same day
    assert run_on(runner, clock, 76) == 0
    assert run_on(runner, clock, 83) == 1
    assert run_on(runner, clock, 83) == 0
    assert run_on(runner, clock, 89) == 1
    assert run_on(runner, clock, 89.9) == 0
    assert run_on(runner, clock, 90) == 0  # expired: the login page takes over
    bodies = [mailbox.body(message) for message in mailbox.to(address)]
    assert len(bodies) == 3
    assert "expire le\n31/05/2026, dans 15 jours." in bodies[0]
    assert "dans 7 jours." in bodies[1]
    assert "dans 1 jour." in bodies[2]
    assert [row.details["days_left"] for row in audit_rows("password.expiry_reminder")] == [
        15, 7, 1]


def test_a_missed_day_still_sends_the_next_stage_once(runner, mailbox, make_user, clock):
    make_user(changed_days_ago=0)

    assert run_on(runner, clock, 85) == 1  # 5 days left: the 7-day reminder, late
    assert run_on(runner, clock, 86) == 0
    assert run_on(runner, clock, 89) == 1
    assert len(mailbox.to("jdupont@example.test")) == 2


def test_only_active_accounts_with_a_chosen_password_are_reminded(runner, mailbox, make_user,
                                                                   clock):
    make_user("actif", changed_days_ago=0)
    make_user("inactif", changed_days_ago=0, is_active=False)
    make_user("nouveau", provisional="Provisoire-Abc-23")
    clock.move_to(CHANGED_AT + timedelta(days=30))
    make_user("recent", changed_days_ago=0)

    assert run_on(runner, clock, 75) == 1
    assert [m["To"] for m in mailbox.messages] == ["actif@example.test"]


def test_bad_input_is_one_line(runner, snapshot):
    before = snapshot()
    assert_one_line_refusal(runner.invoke(args=["notify-expiring", "--jours", "15"]),
                            "option inconnue")
    assert snapshot() == before
