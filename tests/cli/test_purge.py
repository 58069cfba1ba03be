"""`idp purge` (daily cron): expired rows go, rows that still protect something stay."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from idp.database import commit
from idp.extensions import db
from idp.models import AuthorizationCode
from idp.models import Challenge
from idp.models import LoginFlow
from idp.models import LoginThrottle
from idp.models import Token
from idp.models import UsedClientAssertion
from idp.models import UserSession
from idp.oidc.registration import NewClient
from idp.oidc.registration import create_client
from tests.cli.conftest import assert_one_line_refusal

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
MONTH = timedelta(days=30)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def owner(clock, make_user) -> tuple[int, int]:
    """A user and a client, for the rows that reference them."""
    user = make_user()
    client, _ = create_client(NewClient(
        client_id="module-a", name="Module A", habilitation="bonuseco",
        redirect_uris=["https://module-a.example/callback"],
    ), actor="test")
    commit()
    return user.id, client.id


def purge(runner) -> str:
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    return result.stdout


def keys(column) -> set[str]:
    db.session.expire_all()
    return set(db.session.execute(select(column)).scalars())


# --- one seed per table: rows named "gone-..." must be deleted, "kept-..." kept -----------


def seed_codes(app, user_id: int, client_id: int):
    grace = timedelta(hours=app.config["IDP_SESSION_MAX_HOURS"]) + DAY
    for name, expires_at in (("gone-old", NOW - grace - SECOND),
                             ("kept-replayable", NOW - grace + SECOND)):
        db.session.add(AuthorizationCode(
            code_hash=name, client_id=client_id, user_id=user_id, sid="sid",
            redirect_uri="https://module-a.example/callback", scope="openid",
            auth_time=expires_at, amr=["pwd"], acr="eidas1", created_at=expires_at - SECOND,
            expires_at=expires_at, consumed_at=expires_at - SECOND, family_id="family",
        ))
    return "codes", AuthorizationCode.code_hash


def seed_grants(app, user_id: int, client_id: int):
    old = NOW - DAY - SECOND
    rows = (  # name, access end, refresh end (the last one rotated: reuse detection)
        ("gone-access-only", old, None),
        ("kept-access-recent", NOW - DAY + SECOND, None),
        ("gone-refresh-ended", old, old),
        ("kept-refresh-valid", old, NOW + timedelta(hours=1)),
        ("kept-refresh-rotated", old, NOW - DAY + SECOND),
    )
    parent = None
    for name, access_end, refresh_end in rows:
        row = Token(
            access_jti=name, refresh_hash=name if refresh_end else None, family_id="family",
            parent_id=parent, client_id=client_id, user_id=user_id, sid="sid", scope="openid",
            auth_time=old - DAY, issued_at=access_end - timedelta(minutes=10),
            access_expires_at=access_end, refresh_expires_at=refresh_end,
            rotated_at=old if name.endswith("rotated") else None,
        )
        db.session.add(row)
        db.session.flush()
        parent = row.id  # a chain of refreshes: deleting a parent leaves its child
    return "grants", Token.access_jti


def seed_assertions(app, user_id: int, client_id: int):
    for name, expires_at in (("gone-old", NOW - DAY - SECOND),
                             ("kept-in-leeway", NOW - timedelta(seconds=30)),
                             ("kept-valid", NOW + timedelta(minutes=5))):
        db.session.add(UsedClientAssertion(key_hash=name, expires_at=expires_at))
    return "assertions", UsedClientAssertion.key_hash


def seed_login_flows(app, user_id: int, client_id: int):
    for name, expires_at in (("gone-old", NOW - DAY - SECOND), ("kept-recent", NOW - DAY + SECOND)):
        db.session.add(LoginFlow(id_hash=name, user_id=user_id, authenticated_at=expires_at,
                                 created_at=expires_at, expires_at=expires_at))
    return "login_flows", LoginFlow.id_hash


def seed_challenges(app, user_id: int, client_id: int):
    for name, expires_at in (("gone-old", NOW - DAY - SECOND), ("kept-recent", NOW - DAY + SECOND)):
        db.session.add(Challenge(kind="captcha", owner_hash=name, prompt="ABCDE", answer="ABCDE",
                                 created_at=expires_at, expires_at=expires_at))
    return "challenges", Challenge.owner_hash


def seed_sessions(app, user_id: int, client_id: int):
    rows = (  # name, absolute end, ended at
        ("kept-live", NOW + timedelta(hours=1), None),
        ("gone-ended", NOW + timedelta(hours=1) - MONTH, NOW - MONTH - SECOND),
        ("kept-ended", NOW + timedelta(hours=1) - MONTH, NOW - MONTH + SECOND),
        ("gone-expired", NOW - MONTH - SECOND, None),
        ("kept-expired", NOW - MONTH + SECOND, None),
    )
    for name, expires_at, ended_at in rows:
        db.session.add(UserSession(
            id_hash=name, sid=name, user_id=user_id, auth_time=expires_at - DAY,
            created_at=expires_at - DAY, last_seen_at=expires_at - DAY, expires_at=expires_at,
            ended_at=ended_at, ip="203.0.113.7", user_agent="Firefox",
        ))
    return "sessions", UserSession.sid


def seed_throttles(app, user_id: int, client_id: int):
    rows = (  # name, last update, locked until
        # Two failures stay counted, however old, as an account's would (no enumeration).
        ("kept-stale-count", NOW - DAY - SECOND, None),
        ("gone-lock-over", NOW - DAY - SECOND, NOW - SECOND),
        ("kept-lock-over-recent", NOW - DAY + SECOND, NOW - SECOND),
        ("kept-locked", NOW - DAY - SECOND, NOW + timedelta(minutes=5)),
    )
    for name, updated_at, locked_until in rows:
        db.session.add(LoginThrottle(key_hash=name, failed_attempts=2, updated_at=updated_at,
                                     locked_until=locked_until))
    return "throttles", LoginThrottle.key_hash


SEEDS = (seed_codes, seed_grants, seed_assertions, seed_login_flows, seed_challenges,
         seed_sessions, seed_throttles)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda seed: seed.__name__.removeprefix("seed_"))
def test_each_table_loses_what_is_past_its_retention_only(app, runner, owner, audit_rows,
                                                           seed):
    name, column = seed(app, *owner)
    commit()
    seeded = keys(column)

    purge(runner)

    kept = {key for key in seeded if key.startswith("kept-")}
    assert keys(column) == kept
    counts = audit_rows("maintenance.purged")[-1].details
    assert counts == {rule: 0 for rule in counts} | {name: len(seeded - kept)}


def test_a_deleted_parent_leaves_its_refreshed_child(app, runner, owner):
    seed_grants(app, *owner)
    commit()

    purge(runner)

    db.session.expire_all()
    child = db.session.execute(
        select(Token).where(Token.access_jti == "kept-access-recent")).scalar_one()
    assert child.parent_id is None  # ON DELETE SET NULL


def test_one_line_with_the_counts_then_nothing_left_to_delete(app, runner, owner, audit_rows):
    for seed in SEEDS:
        seed(app, *owner)
    commit()

    assert purge(runner) == (
        "Purge terminée : 1 codes, 2 jetons, 1 assertions, 1 étapes de connexion, "
        "1 défis, 2 sessions, 1 compteurs.\n")
    assert purge(runner) == (
        "Purge terminée : 0 codes, 0 jetons, 0 assertions, 0 étapes de connexion, "
        "0 défis, 0 sessions, 0 compteurs.\n")

    first, second = audit_rows("maintenance.purged")
    assert first.actor == "cli"
    assert first.details == {"codes": 1, "grants": 2, "assertions": 1, "login_flows": 1,
                             "challenges": 1, "sessions": 2, "throttles": 1}
    assert set(second.details.values()) == {0}


def test_audit_rows_are_never_deleted(runner, clock, make_user, audit_rows):
    clock.move_to(NOW - timedelta(days=800))
    make_user("ancien")
    clock.move_to(NOW)
    rows = audit_rows()
    assert rows[0].created_at < NOW - 2 * 365 * DAY
    before = [row.id for row in rows]

    purge(runner)

    assert [row.id for row in audit_rows()][:len(before)] == before
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


def test_bad_input_is_one_line(runner, snapshot):
    before = snapshot()
    assert_one_line_refusal(runner.invoke(args=["purge", "--jours", "30"]), "option inconnue")
    assert snapshot() == before
