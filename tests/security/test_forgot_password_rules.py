"""The rules of the forgotten-password answer (idp.security.reset, SPEC 1.2), called directly.

Each answer is a fresh unit of work, as in a request: the account is read again, the rule
runs, the transaction is committed (and its mails sent over SMTP). The audit rows and the
mails are checked field by field; the 24-hour windows to the exact second (the time is the
``now`` the view passes, taken from the clock).
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine
from argon2 import PasswordHasher

from idp.database import commit
from idp.extensions import db
from idp.security import passwords
from idp.security import reset
from idp.security import secrets
from idp.security.authentication import find_user
from idp.security.keyed_hash import keyed_identifier
from tests.conftest import SECRET_ANSWER
from tests.conftest import SECRET_QUESTION
from tests.conftest import reload

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
SECOND = timedelta(seconds=1)
WRONG = "Idefix-Pas-Le-Bon"
SENT, WRONG_OUTCOME, BLOCKED, UNKNOWN = (reset.Outcome.SENT, reset.Outcome.WRONG,
                                         reset.Outcome.BLOCKED, reset.Outcome.UNKNOWN)


def ask(login: str, given: str, now: datetime) -> reset.Outcome:
    """One answer to the question, as the view gives it, in its own unit of work."""
    db.session.expire_all()
    outcome = reset.answer(find_user(login), login, given, now)
    commit()
    return outcome


def fields(row) -> tuple:
    return row.event, row.outcome, row.user_id, row.login, row.actor, row.details


def reset_rows(audit_rows) -> list[tuple]:
    return [fields(row) for row in audit_rows() if row.event.startswith(("reset.", "password."))]


@pytest.fixture
def user(make_user):
    return make_user("jdupont", given_name="Jean", family_name="Dupont")


# --- the outcome of each branch and its audit row ------------------------------------


def test_a_right_answer_issues_a_provisional_password(user, mailbox, audit_rows):
    assert ask("jdupont", f" {SECRET_ANSWER.upper()} ", START) is SENT

    assert reset_rows(audit_rows) == [
        ("password.reset_sent", "info", user.id, "jdupont", "jdupont",
         {"reason": "mot de passe oublié"}),
    ]
    user = reload(user)
    assert user.provisional_expires_at == START + timedelta(hours=72)
    [message] = mailbox.to("jdupont@example.test")
    assert passwords.verify_password(user.provisional_hash,
                                     mailbox.provisional_password("jdupont@example.test"))
    assert message["To"] == "jdupont@example.test"


def test_a_wrong_answer_is_counted_and_audited_with_its_count(user, mailbox, audit_rows):
    assert ask("jdupont", WRONG, START) is WRONG_OUTCOME
    assert ask("jdupont", WRONG, START + SECOND) is WRONG_OUTCOME

    assert reset_rows(audit_rows) == [
        ("reset.answer_wrong", "failure", user.id, "jdupont", None, {"count": 1}),
        ("reset.answer_wrong", "failure", user.id, "jdupont", None, {"count": 2}),
    ]
    assert mailbox.messages == []
    user = reload(user)
    assert (user.reset_failures, user.reset_failures_since) == (2, START)
    assert user.reset_blocked_until is None


def test_an_unknown_identifier_is_ignored_and_audited_as_unknown(app, mailbox, audit_rows):
    assert ask("inconnu", SECRET_ANSWER, START) is UNKNOWN
    assert reset_rows(audit_rows) == [
        ("reset.answer_ignored", "failure", None, keyed_identifier("inconnu"), None,
         {"reason": "unknown"}),
    ]
    assert mailbox.messages == []


@pytest.mark.parametrize("columns", [
    pytest.param({"is_active": False}, id="deactivated"),
    pytest.param({"secret_question": None, "secret_answer_hash": None},
                 id="secrets-cleared-meanwhile"),
])
def test_an_account_that_cannot_reset_is_ignored_and_audited_as_unavailable(
        make_user, mailbox, audit_rows, columns):
    user = make_user("jdupont", **columns)
    for _ in range(3):
        assert ask("jdupont", WRONG, START) is UNKNOWN
    assert ask("jdupont", SECRET_ANSWER, START) is UNKNOWN

    assert reset_rows(audit_rows) == [
        ("reset.answer_ignored", "failure", user.id, "jdupont", None,
         {"reason": "unavailable"}),
    ] * 4
    user = reload(user)
    assert (user.reset_failures, user.provisional_hash) == (0, None)
    assert mailbox.messages == []


def test_the_third_wrong_answer_blocks_audits_and_warns_the_owner(app, user, mailbox,
                                                                  audit_rows):
    for _ in range(3):
        assert ask("jdupont", WRONG, START) is WRONG_OUTCOME

    assert reset_rows(audit_rows)[2:] == [
        ("reset.answer_wrong", "failure", user.id, "jdupont", None, {"count": 3}),
        ("reset.blocked", "info", user.id, "jdupont", None, {}),
    ]
    assert reload(user).reset_blocked_until == START + DAY
    [message] = mailbox.messages
    assert message["To"] == "jdupont@example.test"
    assert message["From"] == app.config["IDP_MAIL_SENDER"]
    assert message["Subject"] == \
        "BonusEco — tentatives de réinitialisation de votre mot de passe"
    body = mailbox.body(message)
    assert body.startswith("Bonjour Jean Dupont,\n\n")
    assert "le mot de passe de votre compte BonusEco (jdupont).\n" in body
    assert "aucun nouveau mot de passe ne sera envoyé pendant 24 heures." in body

    # The right answer is now refused, and audited as such.
    assert ask("jdupont", SECRET_ANSWER, START + SECOND) is BLOCKED
    assert reset_rows(audit_rows)[-1] == (
        "reset.refused_by_counter", "failure", user.id, "jdupont", None, {})
    assert reload(user).provisional_hash is None


def test_blocking_one_account_leaves_the_others_alone(make_user, user, mailbox):
    other = make_user("mdurand")
    for _ in range(3):
        ask("jdupont", WRONG, START)

    assert reload(other).reset_blocked_until is None
    assert ask("mdurand", SECRET_ANSWER, START + SECOND) is SENT
    assert [message["To"] for message in mailbox.messages] == [
        "jdupont@example.test", "mdurand@example.test"]


# --- the 24-hour windows, to the second ------------------------------------------------


def test_the_counting_window_closes_exactly_24_hours_after_the_first_wrong_answer(user):
    ask("jdupont", WRONG, START)
    ask("jdupont", WRONG, START + DAY - SECOND)
    assert (reload(user).reset_failures, reload(user).reset_failures_since) == (2, START)
    # Its start does not slide with each answer: at START + 24 h it is over.
    assert ask("jdupont", WRONG, START + DAY) is WRONG_OUTCOME
    user = reload(user)
    assert (user.reset_failures, user.reset_failures_since) == (1, START + DAY)
    assert user.reset_blocked_until is None


def test_a_block_ends_after_24_hours_and_three_new_wrong_answers_start_another(user, mailbox,
                                                                               audit_rows):
    for _ in range(3):
        ask("jdupont", WRONG, START)
    assert ask("jdupont", SECRET_ANSWER, START + DAY - SECOND) is BLOCKED

    # At the very end of the block, three wrong answers block again and warn again.
    for _ in range(3):
        assert ask("jdupont", WRONG, START + DAY) is WRONG_OUTCOME
    assert reload(user).reset_blocked_until == START + 2 * DAY
    assert len(audit_rows("reset.blocked")) == 2
    assert len(mailbox.messages) == 2
    assert ask("jdupont", SECRET_ANSWER, START + 2 * DAY - SECOND) is BLOCKED
    assert ask("jdupont", SECRET_ANSWER, START + 2 * DAY) is SENT


def test_the_block_is_not_extended_by_more_wrong_answers(user, mailbox, audit_rows):
    for _ in range(3):
        ask("jdupont", WRONG, START)
    ask("jdupont", WRONG, START + timedelta(hours=1))
    assert reload(user).reset_blocked_until == START + DAY
    assert len(audit_rows("reset.blocked")) == 1
    assert len(mailbox.messages) == 1


# --- every branch costs the same argon2 work (FPW-02) -----------------------------------


@pytest.fixture
def argon2_work(monkeypatch) -> list[str]:
    """Every argon2 hash and verification made, real or dummy."""
    passwords.dummy_verify()  # its throwaway hash is made once per process: not counted
    made: list[str] = []
    original_hash, original_verify = PasswordHasher.hash, PasswordHasher.verify

    def counting_hash(self, password, **kwargs):
        made.append("hash")
        return original_hash(self, password, **kwargs)

    def counting_verify(self, stored_hash, password):
        made.append("verify")
        return original_verify(self, stored_hash, password)

    monkeypatch.setattr(PasswordHasher, "hash", counting_hash)
    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    return made


@pytest.mark.parametrize(("login", "given", "outcome"), [
    ("inconnu", SECRET_ANSWER, UNKNOWN),
    ("jdupont", WRONG, WRONG_OUTCOME),
    ("jdupont", SECRET_ANSWER, SENT),
])
def test_each_branch_makes_one_verification_and_one_hash(user, argon2_work, login, given,
                                                         outcome):
    assert ask(login, given, START) is outcome
    assert sorted(argon2_work) == ["hash", "verify"]


def test_a_refused_right_answer_costs_the_same_too(user, argon2_work):
    for _ in range(3):
        ask("jdupont", WRONG, START)
    argon2_work.clear()
    assert ask("jdupont", SECRET_ANSWER, START) is BLOCKED
    assert sorted(argon2_work) == ["hash", "verify"]


# --- the question shown and the « secrets non renseignés » page ------------------------


def test_the_question_is_the_accounts_own_else_a_stable_one_of_the_list(make_user, user):
    assert reset.question_for(user, "jdupont") == SECRET_QUESTION
    # A deactivated account without secrets reaches the question like an unknown
    # identifier: it gets a plausible question, never an empty one.
    parti = make_user("parti", is_active=False, secret_question=None, secret_answer_hash=None)
    assert not reset.shows_no_secrets_page(parti, "parti")
    question = reset.question_for(parti, "parti")
    assert question in secrets.QUESTIONS
    assert reset.question_for(None, "parti") == question
    assert len({reset.question_for(None, f"quidam.{index}") for index in range(200)}) == 6


@pytest.fixture
def share_clock():
    """Time as seen by the share's cache (idp.clock)."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def test_the_share_is_zero_without_accounts_then_counts_active_accounts_only(app, make_user,
                                                                             share_clock):
    assert reset.no_secrets_share() == 0.0
    # Neither an inactive account without secrets nor one with them counts as « without ».
    make_user("newbie", provisional="Pr0visoireXyzAb")
    make_user("parti", is_active=False, secret_question=None, secret_answer_hash=None)
    make_user("alice")
    make_user("bruno")
    share_clock.shift(reset.SHARE_REFRESH)
    assert reset.no_secrets_share() == 0.25


def test_the_share_is_counted_again_exactly_when_its_refresh_is_due(app, make_user,
                                                                    share_clock):
    make_user("alice")
    assert reset.no_secrets_share() == 0.0
    make_user("newbie", provisional="Pr0visoireXyzAb")
    share_clock.shift(reset.SHARE_REFRESH - SECOND)
    assert reset.no_secrets_share() == 0.0
    share_clock.shift(SECOND)
    assert reset.no_secrets_share() == 0.5
