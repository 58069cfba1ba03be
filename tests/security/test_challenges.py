"""Server-side challenges as plain rules (SPEC 1.1 step 4, SPEC 1.2, CAP-01/CAP-02).

A challenge belongs to one owner and one kind, is used once, lives a few minutes
and is refused after three wrong answers; a new one retires the owner's open one
of the same kind and nothing else. The expected answer is only in the table.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import Challenge
from idp.security import challenges

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWNER = "a" * 64
OTHER_OWNER = "b" * 64
ANSWER = "KM7RT4"


def rows_of(owner: str) -> list[Challenge]:
    """The owner's challenges as stored, oldest first."""
    db.session.expire_all()
    query = select(Challenge).where(Challenge.owner_hash == owner).order_by(Challenge.id)
    return list(db.session.execute(query).scalars())


def stored(row: Challenge) -> Challenge:
    db.session.expire_all()
    return db.session.get(Challenge, row.id)


def add(kind: str = "captcha", owner: str = OWNER, *, failures: int = 0,
        expires_at: datetime = NOW + timedelta(minutes=5),
        consumed_at: datetime | None = None) -> Challenge:
    row = Challenge(kind=kind, owner_hash=owner, prompt=ANSWER, answer=ANSWER,
                    failures=failures, created_at=NOW, expires_at=expires_at,
                    consumed_at=consumed_at)
    db.session.add(row)
    db.session.flush()
    return row


# --- the answer typed ----------------------------------------------------------------


def test_the_answer_typed_loses_its_spaces_and_case_and_stops_at_32_characters():
    assert challenges.normalise(" km7\trt 4\n") == "KM7RT4"
    assert challenges.normalise("") == ""
    assert challenges.normalise(None) == ""
    assert challenges.normalise("a" * 40) == "A" * 32


# --- the captcha text ----------------------------------------------------------------


def test_the_captcha_text_is_six_unambiguous_characters(app):
    assert app.config["IDP_CAPTCHA_FIXED_TEXT"] == ""
    texts = {challenges._text() for _ in range(20)}
    assert len(texts) > 1
    for text in texts:
        assert len(text) == challenges.CAPTCHA_LENGTH == 6
        assert set(text) <= set(challenges.CAPTCHA_ALPHABET)


@pytest.mark.parametrize("environment", ["development", "testing"])
def test_the_fixed_text_is_shown_upper_case_outside_production(app, monkeypatch, environment):
    monkeypatch.setitem(app.config, "ENV_NAME", environment)
    monkeypatch.setitem(app.config, "IDP_CAPTCHA_FIXED_TEXT", "km7rt4")
    assert challenges._text() == "KM7RT4"


def test_the_fixed_text_is_ignored_in_production(app, monkeypatch):
    # config.py already refuses it there: this is the second lock.
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    monkeypatch.setitem(app.config, "IDP_CAPTCHA_FIXED_TEXT", "km7rt4")
    text = challenges._text()
    assert text != "KM7RT4"
    assert len(text) == 6
    assert set(text) <= set(challenges.CAPTCHA_ALPHABET)


# --- the arithmetic question ---------------------------------------------------------


def test_operands_up_to_20_and_a_subtraction_puts_the_larger_first(monkeypatch):
    draws = iter([3, 9, 1, 3, 9, 0])
    bounds = []

    def randbelow(bound: int) -> int:
        bounds.append(bound)
        return next(draws)

    monkeypatch.setattr(challenges.secrets, "randbelow", randbelow)
    assert challenges.arithmetic_operation() == (9, "-", 3)
    assert challenges.arithmetic_operation() == (3, "+", 9)
    # Two operands in 0-20, then one draw out of two for the operator.
    assert bounds == [21, 21, 2, 21, 21, 2]


def test_a_new_arithmetic_question_holds_its_result_and_retires_the_last_one(app,
                                                                                monkeypatch):
    operations = iter([(9, "-", 3), (7, "+", 5)])
    monkeypatch.setattr(challenges, "arithmetic_operation", lambda: next(operations))
    captcha = add("captcha")
    elsewhere = add("arithmetic", OTHER_OWNER)

    first = challenges.new_arithmetic(OWNER, NOW)
    assert (first.kind, first.prompt, first.answer) == ("arithmetic", "9 - 3", "6")
    later = NOW + timedelta(minutes=1)
    second = challenges.new_arithmetic(OWNER, later)

    assert [(r.id, r.kind, r.prompt, r.answer, r.failures, r.created_at, r.expires_at,
             r.consumed_at) for r in rows_of(OWNER)] == [
        (captcha.id, "captcha", ANSWER, ANSWER, 0, NOW, NOW + timedelta(minutes=5), None),
        (first.id, "arithmetic", "9 - 3", "6", 0, NOW, NOW + timedelta(minutes=10), later),
        (second.id, "arithmetic", "7 + 5", "12", 0, later, later + timedelta(minutes=10),
         None),
    ]
    assert stored(elsewhere).consumed_at is None
    assert challenges.current(OWNER, "arithmetic", later).id == second.id


# --- the forgotten-password state ----------------------------------------------------


def test_the_reset_state_keeps_64_characters_of_the_login_and_no_answer(app):
    arithmetic = add("arithmetic")
    elsewhere = add("reset", OTHER_OWNER)
    login = "l" * 70
    first = challenges.new_reset_state(OWNER, login, NOW)
    later = NOW + timedelta(minutes=1)
    second = challenges.new_reset_state(OWNER, "jdupont", later)

    assert [(r.id, r.kind, r.prompt, r.answer, r.created_at, r.expires_at, r.consumed_at)
            for r in rows_of(OWNER)] == [
        (arithmetic.id, "arithmetic", ANSWER, ANSWER, NOW, NOW + timedelta(minutes=5), None),
        (first.id, "reset", "l" * 64, "", NOW, NOW + timedelta(minutes=10), later),
        (second.id, "reset", "jdupont", "", later, later + timedelta(minutes=10), None),
    ]
    assert stored(elsewhere).consumed_at is None
    assert challenges.current(OWNER, "reset", later).id == second.id


# --- a new captcha -------------------------------------------------------------------


def test_a_new_captcha_retires_the_owners_open_captcha_only(app, monkeypatch):
    monkeypatch.setitem(app.config, "IDP_CAPTCHA_FIXED_TEXT", "km 7rt4")
    answered = add("captcha", consumed_at=NOW)
    old = add("captcha")
    arithmetic = add("arithmetic")
    elsewhere = add("captcha", OTHER_OWNER)
    later = NOW + timedelta(minutes=1)

    new = challenges.new_captcha(OWNER, later)

    assert [(r.id, r.kind, r.prompt, r.answer, r.failures, r.created_at, r.expires_at,
             r.consumed_at) for r in rows_of(OWNER)] == [
        # Already used: keeps the time it was used.
        (answered.id, "captcha", ANSWER, ANSWER, 0, NOW, NOW + timedelta(minutes=5), NOW),
        (old.id, "captcha", ANSWER, ANSWER, 0, NOW, NOW + timedelta(minutes=5), later),
        (arithmetic.id, "arithmetic", ANSWER, ANSWER, 0, NOW, NOW + timedelta(minutes=5),
         None),
        # Shown as drawn, answered without spaces.
        (new.id, "captcha", "KM 7RT4", "KM7RT4", 0, later, later + timedelta(minutes=5),
         None),
    ]
    assert stored(elsewhere).consumed_at is None
    assert challenges.current(OWNER, "captcha", later).id == new.id


def test_the_open_captcha_is_kept_until_it_expires(app):
    first = challenges.current_or_new_captcha(OWNER, NOW)
    assert (first.kind, first.owner_hash) == ("captcha", OWNER)
    almost = NOW + timedelta(minutes=5) - timedelta(microseconds=1)
    assert challenges.current_or_new_captcha(OWNER, almost).id == first.id
    expired = NOW + timedelta(minutes=5)
    second = challenges.current_or_new_captcha(OWNER, expired)
    assert second.id != first.id
    assert [(r.id, r.owner_hash, r.created_at, r.consumed_at) for r in rows_of(OWNER)] == [
        (first.id, OWNER, NOW, expired),
        (second.id, OWNER, expired, None),
    ]


# --- the challenge in force ----------------------------------------------------------


def test_the_challenge_in_force_is_the_latest_open_one_of_that_owner_and_kind(app):
    add("captcha")
    latest = add("captcha")
    # Each later than ``latest``, each not the owner's open captcha.
    add("captcha", consumed_at=NOW)
    add("arithmetic")
    add("captcha", OTHER_OWNER)
    assert challenges.current(OWNER, "captcha", NOW).id == latest.id


def test_no_challenge_in_force_without_one(app):
    add("arithmetic")
    add("captcha", OTHER_OWNER)
    assert challenges.current(OWNER, "captcha", NOW) is None


def test_a_challenge_ends_at_its_expiry_instant(app):
    row = add(expires_at=NOW + timedelta(minutes=5))
    before = NOW + timedelta(minutes=5) - timedelta(microseconds=1)
    assert challenges.current(OWNER, "captcha", before).id == row.id
    assert challenges.current(OWNER, "captcha", NOW + timedelta(minutes=5)) is None


def test_a_challenge_ends_at_its_third_failure(app):
    row = add(failures=2)
    assert challenges.current(OWNER, "captcha", NOW).id == row.id
    row.failures = 3
    db.session.flush()
    assert challenges.current(OWNER, "captcha", NOW) is None


# --- using a challenge ---------------------------------------------------------------


def test_a_challenge_is_consumed_once(app):
    row = add()
    elsewhere = add(owner=OTHER_OWNER)
    first, second = NOW + timedelta(seconds=1), NOW + timedelta(seconds=2)
    assert challenges.consume(row, first) is True
    assert stored(row).consumed_at == first
    assert challenges.consume(row, second) is False
    assert stored(row).consumed_at == first
    assert stored(elsewhere).consumed_at is None


def test_the_right_answer_passes_once_in_any_case_and_spacing(app):
    row = add()
    challenges.check(OWNER, "captcha", " km7 rt4 ", NOW)
    assert stored(row).consumed_at == NOW
    assert stored(row).failures == 0
    with pytest.raises(challenges.ChallengeFailed):
        challenges.check(OWNER, "captcha", ANSWER, NOW)


def test_the_answer_of_another_owner_or_kind_does_not_count(app):
    add("captcha", OTHER_OWNER)
    add("arithmetic")
    with pytest.raises(challenges.ChallengeFailed):
        challenges.check(OWNER, "captcha", ANSWER, NOW)
    with pytest.raises(challenges.ChallengeFailed):
        challenges.check(OTHER_OWNER, "arithmetic", ANSWER, NOW)


def test_each_wrong_answer_counts_one_failure_on_that_challenge_only(app):
    row = add()
    elsewhere = add(owner=OTHER_OWNER)
    for failures in (1, 2, 3):
        with pytest.raises(challenges.ChallengeFailed):
            challenges.check(OWNER, "captcha", "ZZZZZZ", NOW)
        assert stored(row).failures == failures
        assert stored(row).consumed_at is None
    assert stored(elsewhere).failures == 0
    # Three failures: even the right answer is refused, a new challenge is needed.
    with pytest.raises(challenges.ChallengeFailed):
        challenges.check(OWNER, "captcha", ANSWER, NOW)
    assert stored(row).consumed_at is None


def test_a_non_ascii_answer_is_a_wrong_answer(app):
    row = add()
    with pytest.raises(challenges.ChallengeFailed):
        challenges.check(OWNER, "captcha", "\u0661\u0662 \u00c9\u00c9\u00c9", NOW)
    assert stored(row).failures == 1


def test_an_expired_challenge_refuses_the_right_answer(app):
    row = add(expires_at=NOW)
    with pytest.raises(challenges.ChallengeFailed):
        challenges.check(OWNER, "captcha", ANSWER, NOW)
    assert stored(row).consumed_at is None
