"""The SSO session rules of idp.security.sessions, called directly with the time they judge.

A session row as opened (what the cookie token, the sid and the columns hold),
the idle (30 min) and absolute (12 h) ends with the instant of the limit
already past, the touch of ``last_seen_at`` at most once a minute, the login
made for one request (10 minutes, once), and ending one or every session of a
user (the hooks told once, with exactly the sessions ended).
"""

from __future__ import annotations

import hashlib
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from idp.extensions import db
from idp.models import UserSession
from idp.security import sessions
from idp.security.keyed_hash import token_hash

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
TARGET = "/authorize?client_id=module-a&prompt=login&state=s1"


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def hook_calls(monkeypatch):
    """What the session-ended hooks receive: (sids, now) per call."""
    calls = []
    monkeypatch.setattr(sessions, "SESSION_ENDED_HOOKS",
                        [lambda rows, now: calls.append(([row.sid for row in rows], now))])
    return calls


def open_at(user, now, **kwargs) -> tuple[str, UserSession]:
    options = {"ip": "192.0.2.10", "user_agent": "Firefox/140.0", **kwargs}
    return sessions.open_session(user, now - timedelta(minutes=1), ["pwd"], now, **options)


def stored(row: UserSession) -> UserSession:
    """The row as the database holds it now (updates bypass the identity map)."""
    db.session.expire_all()
    return db.session.get(UserSession, row.id)


# --- opening -----------------------------------------------------------------------------


def test_an_opened_session_holds_the_hash_of_its_cookie_token_and_its_facts(user):
    token, row = open_at(user, START, login_target=TARGET)
    row = stored(row)
    assert len(token) == 43  # 256 random bits, base64url
    assert row.id_hash == hashlib.sha256(token.encode()).hexdigest() == token_hash(token)
    assert len(row.sid) == 32  # 192 bits, public
    assert row.sid != token
    assert row.user_id == user.id
    assert row.auth_time == START - timedelta(minutes=1)
    assert row.amr == ["pwd"]
    assert row.created_at == row.last_seen_at == START
    assert row.expires_at == START + timedelta(hours=12)
    assert row.ended_at is None
    assert row.ip == "192.0.2.10"
    assert row.user_agent == "Firefox/140.0"
    assert row.login_target_hash == hashlib.sha256(TARGET.encode()).hexdigest()


def test_each_session_gets_its_own_token_and_sid(user):
    first_token, first = open_at(user, START)
    second_token, second = open_at(user, START)
    assert first_token != second_token
    assert first.sid != second.sid
    assert first.id_hash != second.id_hash


@pytest.mark.parametrize(("user_agent", "kept"), [
    (None, None),
    ("", None),
    ("A" * 300, "A" * 300),
    ("B" * 301, "B" * 300),
], ids=["none", "empty", "300", "301"])
def test_the_user_agent_is_kept_up_to_300_characters(user, user_agent, kept):
    _token, row = open_at(user, START, user_agent=user_agent, ip=None, login_target=None)
    row = stored(row)
    assert row.user_agent == kept
    assert row.ip is None
    assert row.login_target_hash is None


# --- idle and absolute ends ----------------------------------------------------------------


IDLE_END = START + timedelta(minutes=30)
ABSOLUTE_END = START + timedelta(hours=12)


@pytest.mark.parametrize(("last_seen", "now", "alive"), [
    (START, IDLE_END - SECOND, True),
    (START, IDLE_END, False),
    # Busy until the last minute: the absolute end comes all the same.
    (ABSOLUTE_END - timedelta(minutes=1), ABSOLUTE_END - SECOND, True),
    (ABSOLUTE_END - timedelta(minutes=1), ABSOLUTE_END, False),
], ids=["idle-29m59s", "idle-30m00s", "age-11h59m59s", "age-12h00m00s"])
def test_a_session_ends_thirty_idle_minutes_or_twelve_hours_after_it_opened(
        user, last_seen, now, alive):
    token, row = open_at(user, START)
    row.last_seen_at = last_seen
    assert sessions.is_live(row, now) is alive
    assert (sessions.find_session(token, now) is not None) is alive


def test_an_ended_session_or_a_deactivated_user_has_no_live_session(user):
    ended_token, ended = open_at(user, START)
    assert sessions.end_session(ended, START + SECOND)
    assert not sessions.is_live(stored(ended), START + 2 * SECOND)
    assert sessions.find_session(ended_token, START + 2 * SECOND) is None

    token, row = open_at(user, START)
    assert sessions.is_live(row, START + SECOND)
    user.is_active = False
    assert not sessions.is_live(row, START + SECOND)
    assert sessions.find_session(token, START + SECOND) is None


@pytest.mark.parametrize("token", [None, "", "not-a-session-token"])
def test_no_or_an_unknown_token_finds_no_session(user, token):
    open_at(user, START)
    assert sessions.find_session(token, START + SECOND) is None


def test_a_token_finds_its_own_session(user):
    first_token, first = open_at(user, START)
    second_token, second = open_at(user, START)
    assert sessions.find_session(first_token, START + SECOND).id == first.id
    assert sessions.find_session(second_token, START + SECOND).id == second.id


@pytest.mark.parametrize(("after", "touched"), [
    (timedelta(seconds=60), False),
    (timedelta(seconds=61), True),
], ids=["60s", "61s"])
def test_activity_is_written_at_most_once_a_minute(user, after, touched):
    token, _row = open_at(user, START)
    found = sessions.find_session(token, START + after)
    assert sessions.needs_touch(found, START + after) is touched
    sessions.touch(found.id, START + after)
    assert stored(found).last_seen_at == START + after


def test_finding_a_session_writes_nothing(user):
    token, _row = open_at(user, START)
    found = sessions.find_session(token, START + timedelta(minutes=5))
    assert found.last_seen_at == START
    assert found not in db.session.dirty
    assert stored(found).last_seen_at == START


def test_an_ended_session_is_not_touched(user):
    token, row = open_at(user, START)
    sessions.end_session(row, START + SECOND)
    sessions.touch(row.id, START + timedelta(minutes=5))
    assert stored(row).last_seen_at == START


def test_activity_restarts_the_idle_timer(user):
    token, _row = open_at(user, START)
    seen = START + timedelta(minutes=20)
    sessions.touch(sessions.find_session(token, seen).id, seen)
    late = seen + timedelta(minutes=29, seconds=59)
    assert sessions.find_session(token, late) is not None
    sessions.touch(sessions.find_session(token, late).id, late)
    assert sessions.find_session(token, late + timedelta(minutes=29)) is not None
    assert sessions.find_session(token, late + timedelta(minutes=30)) is None


def test_activity_moves_only_its_own_session_and_never_back(user, make_user):
    """One person's activity keeps no other session alive (another browser of theirs,
    or anyone else's); a late write of an earlier instant does not move the timer back."""
    _token, mine = open_at(user, START)
    _token, my_other = open_at(user, START)
    _token, theirs = open_at(make_user("mmartin"), START)
    later = START + timedelta(minutes=20)
    sessions.touch(mine.id, later)
    assert stored(mine).last_seen_at == later
    assert stored(my_other).last_seen_at == START
    assert stored(theirs).last_seen_at == START
    sessions.touch(mine.id, later - timedelta(minutes=5))  # a slower concurrent request
    assert stored(mine).last_seen_at == later


# --- a login made for one request ------------------------------------------------------------


@pytest.mark.parametrize(("after", "counts"), [
    (timedelta(minutes=10), True),
    (timedelta(minutes=10) + SECOND, False),
], ids=["10m00s", "10m01s"])
def test_a_login_made_for_a_request_serves_it_for_ten_minutes(user, after, counts):
    _token, row = open_at(user, START, login_target=TARGET)
    assert sessions.was_opened_for(row, TARGET, START + after) is counts


def test_a_login_made_for_another_request_or_for_none_does_not_count(user):
    _token, row = open_at(user, START, login_target=TARGET)
    assert not sessions.was_opened_for(row, TARGET + "&max_age=0", START + SECOND)
    _token, plain = open_at(user, START)
    assert not sessions.was_opened_for(plain, TARGET, START + SECOND)


def test_a_target_that_is_not_valid_utf8_is_still_compared(user):
    target = "/authorize?state=\udcff"  # a lone surrogate, as undecodable bytes arrive
    _token, row = open_at(user, START, login_target=target)
    assert sessions.was_opened_for(row, target, START + SECOND)
    assert not sessions.was_opened_for(row, "/authorize?state=\udcfe", START + SECOND)


def test_a_login_made_for_a_request_is_spent_once(user):
    _token, row = open_at(user, START, login_target=TARGET)
    _other_token, other = open_at(user, START, login_target=TARGET)
    assert not sessions.use_login_target(row, TARGET + "&x=1")
    assert sessions.use_login_target(row, TARGET)
    assert not sessions.use_login_target(row, TARGET)
    assert stored(row).login_target_hash is None
    # The other session, opened for the same request, keeps its own.
    assert stored(other).login_target_hash == hashlib.sha256(TARGET.encode()).hexdigest()
    assert sessions.use_login_target(other, TARGET)


# --- ending sessions ---------------------------------------------------------------------------


def test_ending_a_session_ends_it_once_and_tells_the_hooks(user, hook_calls):
    _token, row = open_at(user, START)
    _other_token, other = open_at(user, START)
    assert sessions.end_session(row, START + SECOND) is True
    assert hook_calls == [([row.sid], START + SECOND)]
    assert sessions.end_session(row, START + 2 * SECOND) is False
    assert hook_calls == [([row.sid], START + SECOND)]
    assert stored(row).ended_at == START + SECOND
    assert stored(other).ended_at is None


def test_a_logout_is_recorded_once_even_when_asked_twice(user, hook_calls, audit_rows):
    """Two tabs logging out at once: one logout, one audit row; the late one is told."""
    _token, row = open_at(user, START)
    assert sessions.log_out(row, START + SECOND, via="home") is True
    assert sessions.log_out(row, START + 2 * SECOND, via="home") is False
    (recorded,) = audit_rows("logout")
    assert recorded.details["sid"] == row.sid
    assert recorded.details["via"] == "home"
    assert hook_calls == [([row.sid], START + SECOND)]


def test_ending_every_session_of_a_user_but_one(user, make_user, hook_calls):
    other_user = make_user("mmartin")
    _t1, kept = open_at(user, START)
    _t2, first = open_at(user, START + SECOND)
    _t3, second = open_at(user, START + 2 * SECOND)
    _t4, earlier = open_at(user, START)
    assert sessions.end_session(earlier, START + 3 * SECOND)
    _t5, stranger = open_at(other_user, START)
    hook_calls.clear()

    now = START + timedelta(minutes=1)
    ended = sessions.end_all_sessions(user.id, now, keep_id=kept.id)
    assert sorted(ended) == sorted([first.sid, second.sid])
    assert len(hook_calls) == 1
    assert sorted(hook_calls[0][0]) == sorted(ended)
    assert hook_calls[0][1] == now
    db.session.flush()
    assert stored(first).ended_at == stored(second).ended_at == now
    assert stored(earlier).ended_at == START + 3 * SECOND
    assert stored(kept).ended_at is None
    assert stored(stranger).ended_at is None

    assert sessions.end_all_sessions(user.id, now + SECOND) == [kept.sid]
    assert sessions.end_all_sessions(user.id, now + 2 * SECOND) == []
    assert len(hook_calls) == 2  # nothing ended, nobody told


def test_live_sessions_lists_a_users_live_sessions_newest_first(user, make_user):
    other_user = make_user("mmartin")
    _t1, oldest = open_at(user, START)
    _t2, middle = open_at(user, START + timedelta(minutes=5))
    _t3, newest = open_at(user, START + timedelta(minutes=10))
    _t4, ended = open_at(user, START + timedelta(minutes=11))
    sessions.end_session(ended, START + timedelta(minutes=12))
    open_at(other_user, START + timedelta(minutes=13))
    now = START + timedelta(minutes=20)
    assert [row.id for row in sessions.live_sessions(user.id, now)] == \
        [newest.id, middle.id, oldest.id]
    # Thirty idle minutes later the oldest is over.
    later = START + timedelta(minutes=30)
    assert [row.id for row in sessions.live_sessions(user.id, later)] == [newest.id, middle.id]
