"""`idp purge` at the exact limit of each retention rule (injected clock): a row whose time
equals the limit has not passed it, so it stays; one second later it goes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from idp.database import commit
from idp.extensions import db
from idp.models import AuthorizationCode
from idp.models import Challenge
from idp.models import LoginFlow
from idp.models import LoginThrottle
from idp.models import Token
from idp.models import UsedClientAssertion
from idp.models import UserSession
from tests.cli.test_purge import DAY
from tests.cli.test_purge import MONTH
from tests.cli.test_purge import NOW
from tests.cli.test_purge import SECOND
from tests.cli.test_purge import clock  # noqa: F401 (fixture)
from tests.cli.test_purge import keys
from tests.cli.test_purge import owner  # noqa: F401 (fixture)
from tests.cli.test_purge import purge


def code_at_limit(app, user_id, client_id):
    expires_at = NOW - timedelta(hours=app.config["IDP_SESSION_MAX_HOURS"]) - DAY
    db.session.add(AuthorizationCode(
        code_hash="at-limit", client_id=client_id, user_id=user_id, sid="sid",
        redirect_uri="https://module-a.example/callback", scope="openid",
        auth_time=expires_at, amr=["pwd"], acr="eidas1", created_at=expires_at - SECOND,
        expires_at=expires_at, consumed_at=expires_at - SECOND, family_id="family",
    ))
    return "codes", AuthorizationCode.code_hash


def _grant(name, user_id, client_id, access_end, refresh_end):
    return Token(
        access_jti=name, refresh_hash=name if refresh_end else None, family_id=name,
        client_id=client_id, user_id=user_id, sid="sid", scope="openid",
        auth_time=access_end - DAY, issued_at=access_end - timedelta(minutes=10),
        access_expires_at=access_end, refresh_expires_at=refresh_end,
    )


def access_token_at_limit(app, user_id, client_id):
    db.session.add(_grant("at-limit", user_id, client_id, NOW - DAY, None))
    return "grants", Token.access_jti


def refresh_token_at_limit(app, user_id, client_id):
    db.session.add(_grant("at-limit", user_id, client_id, NOW - DAY - SECOND, NOW - DAY))
    return "grants", Token.access_jti


def assertion_at_limit(app, user_id, client_id):
    db.session.add(UsedClientAssertion(key_hash="at-limit", expires_at=NOW - DAY))
    return "assertions", UsedClientAssertion.key_hash


def login_flow_at_limit(app, user_id, client_id):
    expires_at = NOW - DAY
    db.session.add(LoginFlow(id_hash="at-limit", user_id=user_id, authenticated_at=expires_at,
                             created_at=expires_at, expires_at=expires_at))
    return "login_flows", LoginFlow.id_hash


def challenge_at_limit(app, user_id, client_id):
    expires_at = NOW - DAY
    db.session.add(Challenge(kind="captcha", owner_hash="at-limit", prompt="ABCDE",
                             answer="ABCDE", created_at=expires_at, expires_at=expires_at))
    return "challenges", Challenge.owner_hash


def _session(user_id, expires_at, ended_at):
    return UserSession(
        id_hash="at-limit", sid="at-limit", user_id=user_id, auth_time=expires_at - DAY,
        created_at=expires_at - DAY, last_seen_at=expires_at - DAY, expires_at=expires_at,
        ended_at=ended_at, ip="203.0.113.7", user_agent="Firefox",
    )


def ended_session_at_limit(app, user_id, client_id):
    db.session.add(_session(user_id, NOW + timedelta(hours=1) - MONTH, NOW - MONTH))
    return "sessions", UserSession.sid


def expired_session_at_limit(app, user_id, client_id):
    db.session.add(_session(user_id, NOW - MONTH, None))
    return "sessions", UserSession.sid


def lock_ending_now(app, user_id, client_id):
    db.session.add(LoginThrottle(key_hash="at-limit", failed_attempts=3,
                                 updated_at=NOW - DAY - SECOND, locked_until=NOW))
    return "throttles", LoginThrottle.key_hash


def lock_over_updated_at_limit(app, user_id, client_id):
    db.session.add(LoginThrottle(key_hash="at-limit", failed_attempts=3, updated_at=NOW - DAY,
                                 locked_until=NOW - SECOND))
    return "throttles", LoginThrottle.key_hash


AT_LIMIT = (code_at_limit, access_token_at_limit, refresh_token_at_limit, assertion_at_limit,
            login_flow_at_limit, challenge_at_limit, ended_session_at_limit,
            expired_session_at_limit, lock_ending_now, lock_over_updated_at_limit)


@pytest.mark.parametrize("seed", AT_LIMIT, ids=lambda seed: seed.__name__)
def test_a_row_exactly_at_its_limit_stays_and_goes_a_second_later(app, runner, owner, clock,  # noqa: F811
                                                                   audit_rows, seed):
    name, column = seed(app, *owner)
    commit()

    purge(runner)
    assert keys(column) == {"at-limit"}
    assert audit_rows("maintenance.purged")[-1].details[name] == 0

    clock.move_to(NOW + SECOND)
    purge(runner)
    assert keys(column) == set()
    assert audit_rows("maintenance.purged")[-1].details[name] == 1
