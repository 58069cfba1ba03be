"""When a first connection counts as complete (idp.security.first_connection): a personal
password and the secrets, recorded once with its time and its audit row."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

from idp.database import commit
from idp.security import first_connection
from idp.security import passwords
from tests.conftest import SECRET_QUESTION
from tests.conftest import STRONG_PASSWORD
from tests.conftest import reload

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def attempt(user, now) -> bool:
    done = first_connection.record_completion(user, now)
    commit()
    return done


def test_nothing_is_recorded_while_a_step_is_missing(make_user, audit_rows):
    user = make_user("newbie", provisional="Hibou-Sapin-Nuage-61")
    assert attempt(user, START) is False  # neither a personal password nor secrets
    user.password_hash = passwords.hash_password(STRONG_PASSWORD)
    assert attempt(user, START) is False  # no secrets yet
    user.password_hash = None
    user.secret_question = SECRET_QUESTION
    user.secret_answer_hash = passwords.hash_password("rantanplan")
    assert attempt(user, START) is False  # secrets, but still the provisional password
    assert reload(user).first_connection_completed_at is None
    assert not first_connection.is_complete(reload(user))
    assert audit_rows("first_connection.completed") == []


def test_completion_is_recorded_once(make_user, audit_rows):
    user = make_user("newbie", provisional="Hibou-Sapin-Nuage-61")
    user.password_hash = passwords.hash_password(STRONG_PASSWORD)
    user.secret_question = SECRET_QUESTION
    user.secret_answer_hash = passwords.hash_password("rantanplan")
    assert attempt(user, START) is True
    assert first_connection.is_complete(reload(user))
    assert reload(user).first_connection_completed_at == START
    [row] = audit_rows("first_connection.completed")
    assert (row.outcome, row.login, row.user_id, row.actor, row.details) == (
        "success", "newbie", user.id, None, {})
    # Done once: a later pass through the steps changes nothing.
    assert attempt(reload(user), START + timedelta(days=1)) is False
    assert reload(user).first_connection_completed_at == START
    assert len(audit_rows("first_connection.completed")) == 1
