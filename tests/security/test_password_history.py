"""Setting a new password (idp.security.password_change): what it stores, keeps in the
history, ends, records and mails (SPEC 4, PWD-10)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlalchemy import select

from idp.database import commit
from idp.extensions import db
from idp.models import PasswordHistory
from idp.models import UserSession
from idp.security import passwords
from idp.security import sessions
from idp.security.password_change import expiry_of
from idp.security.password_change import previous_hashes
from idp.security.password_change import set_password
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.conftest import reload
from tests.security.test_passwords import MSG_HISTORY
from tests.security.test_passwords import refusal

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHOSEN = [f"Trombone-Lagune-{word}-{n}" for n, word in enumerate(
    ["Kiwi", "Falaise", "Horloge", "Cactus", "Volcan", "Sardine", "Pinceau"], start=31)]


def history_of(user) -> list[PasswordHistory]:
    db.session.expire_all()
    return list(db.session.execute(
        select(PasswordHistory).where(PasswordHistory.user_id == user.id)
        .order_by(PasswordHistory.id)
    ).scalars())


def test_the_new_password_replaces_every_provisional_trace(make_user):
    user = make_user("mleroy", provisional="Hibou-Sapin-Nuage-61",
                     provisional_expires_at=START + timedelta(hours=72), expiry_reminder_days=7)
    set_password(user, CHOSEN[0], START, reason="provisional")
    commit()
    user = reload(user)
    assert passwords.verify_password(user.password_hash, CHOSEN[0])
    assert user.password_changed_at == START
    assert user.is_provisional is False
    assert user.provisional_hash is None
    assert user.provisional_expires_at is None
    assert user.expiry_reminder_days is None
    [row] = history_of(user)
    assert (row.password_hash, row.created_at) == (user.password_hash, START)


def test_the_change_ends_the_other_sessions_records_it_and_mails_the_owner(
    make_user, audit_rows, mailbox
):
    user = make_user()
    _, kept = sessions.open_session(user, START, ["pwd"], START, "192.0.2.1", "kept")
    sessions.open_session(user, START, ["pwd"], START, "192.0.2.2", "other")
    stranger = make_user("pmartin")
    sessions.open_session(stranger, START, ["pwd"], START, "192.0.2.3", "theirs")
    commit()
    now = START + timedelta(minutes=5)
    set_password(user, CHOSEN[0], now, reason="self-service", keep_session_id=kept.id)
    commit()
    ended = {row.user_agent: row.ended_at for row in
             db.session.execute(select(UserSession)).scalars()}
    assert ended == {"kept": None, "other": now, "theirs": None}
    [row] = audit_rows("password.changed")
    assert (row.outcome, row.login, row.user_id, row.actor) == (
        "success", "jdupont", user.id, "jdupont")
    assert row.details == {"reason": "self-service", "sessions_ended": 1}
    [notice] = mailbox.to("jdupont@example.test")
    assert notice["Subject"] == "BonusEco — votre mot de passe a été changé"
    body = mailbox.body(notice)
    assert "Bonjour Jean Dupont," in body
    assert "(jdupont) a été changé le\n02/03/2026 à 10:05 (heure de Paris)" in body
    assert CHOSEN[0] not in body
    assert mailbox.to("pmartin@example.test") == []


def test_without_a_session_to_keep_every_session_ends(make_user, audit_rows):
    user = make_user()
    for agent in ("one", "two"):
        sessions.open_session(user, START, ["pwd"], START, "192.0.2.1", agent)
    commit()
    set_password(user, CHOSEN[0], START, reason="test")
    commit()
    assert [row.ended_at for row in db.session.execute(select(UserSession)).scalars()] == [
        START, START]
    assert audit_rows("password.changed")[0].details["sessions_ended"] == 2


def test_the_history_keeps_the_five_last_passwords_of_each_account(make_user):
    user = make_user()
    neighbour = make_user("pmartin")
    set_password(neighbour, CHOSEN[6], START, reason="test")
    for n, password in enumerate(CHOSEN[:6]):
        set_password(user, password, START + timedelta(minutes=n), reason="test")
    commit()
    rows = history_of(user)
    assert len(rows) == 5
    assert [row.created_at for row in rows] == [START + timedelta(minutes=n) for n in range(1, 6)]
    assert len(history_of(neighbour)) == 1
    assert refusal(CHOSEN[6], neighbour) == MSG_HISTORY
    assert refusal(CHOSEN[1], user) == MSG_HISTORY  # the fifth last
    assert refusal(CHOSEN[0], user) is None  # the sixth last


def test_changes_within_one_instant_keep_the_last_ones_made(make_user):
    user = make_user()
    for password in CHOSEN:
        set_password(user, password, START, reason="test")
    commit()
    rows = history_of(user)
    assert len(rows) == 5
    assert passwords.verify_password(rows[-1].password_hash, CHOSEN[-1])
    assert refusal(CHOSEN[2], user) == MSG_HISTORY  # the fifth last
    assert refusal(CHOSEN[1], user) is None


def test_the_current_password_counts_even_outside_the_history(make_user):
    user = make_user()  # its password was set without a history row
    assert previous_hashes(user) == [user.password_hash]
    assert refusal(STRONG_PASSWORD, user) == MSG_HISTORY
    newcomer = make_user("mleroy", provisional="Hibou-Sapin-Nuage-61")
    assert previous_hashes(newcomer) == []


def test_a_hash_upgraded_at_login_keeps_the_five_last_passwords_refused(app, client, make_user,
                                                                      monkeypatch):
    user = make_user()  # its first password, STRONG_PASSWORD, then five changes
    start = datetime.now(UTC) - timedelta(hours=1)
    for n, password in enumerate(CHOSEN[:5]):
        set_password(user, password, start + timedelta(minutes=n), reason="test")
    commit()
    # A stronger hash profile: the next login stores a new hash of the same password.
    monkeypatch.setitem(app.config, "PASSWORD_HASH_PROFILE", "owasp-strong")
    assert login(client, "jdupont", CHOSEN[4]).headers["Location"] == "/"
    user = reload(user)
    assert user.password_hash not in [row.password_hash for row in history_of(user)]
    assert refusal(CHOSEN[0], user) == MSG_HISTORY  # the fifth last
    assert refusal(STRONG_PASSWORD, user) is None  # the sixth last


def test_the_password_expires_at_the_configured_age(app, make_user):
    user = make_user(password_changed_at=START)
    assert expiry_of(user) == START + timedelta(days=90)
    app.config["IDP_PASSWORD_MAX_AGE_DAYS"] = 30
    assert expiry_of(user) == START + timedelta(days=30)
    assert expiry_of(make_user("mleroy", provisional="Hibou-Sapin-Nuage-61")) is None
