"""What a login attempt costs does not tell account states apart (OWASP Authentication CS).

Timing is proven by counting: every attempt makes the same number of argon2
verifications, whatever the identifier names (nothing, a plain account, a
deactivated one, one with a provisional password pending, a locked one...).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from idp.clock import utcnow
from idp.database import commit
from idp.security import passwords
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login

WRONG = "Pas-Le-Bon-Mot-De-Passe-1"
PROVISIONAL = "Hibou-Sapin-Nuage-61"


@pytest.fixture
def app_environ(app_environ):
    """The rate limits stay out of the way: only the argon2 work is counted here."""
    app_environ.update(
        IDP_RATELIMIT_LOGIN="1000/minute", IDP_RATELIMIT_LOGIN_IDENTIFIER="1000/minute"
    )
    return app_environ


def _locked():
    return {"failed_attempts": 3, "locked_until": utcnow() + timedelta(minutes=20)}


def _pending(hours: int = 72):
    return {"provisional_expires_at": utcnow() + timedelta(hours=hours)}


# (identifier typed, password typed, columns of the account "jdupont" or None for no account)
CASES = {
    "unknown identifier": ("inconnu", WRONG, None),
    "plain account, wrong password": ("jdupont", WRONG, {}),
    "plain account, right password": ("jdupont", STRONG_PASSWORD, {}),
    "deactivated account": ("jdupont", STRONG_PASSWORD, {"is_active": False}),
    "reset pending, wrong password": ("jdupont", WRONG, {"provisional": PROVISIONAL}),
    "reset pending, old password": ("jdupont", STRONG_PASSWORD, {"provisional": PROVISIONAL}),
    "reset pending, provisional": ("jdupont", PROVISIONAL, {"provisional": PROVISIONAL}),
    "first connection, wrong password": ("jdupont", WRONG, {"first": True}),
    "first connection, provisional": ("jdupont", PROVISIONAL, {"first": True}),
    "expired provisional": ("jdupont", PROVISIONAL, {"provisional": PROVISIONAL, "expired": True}),
    "locked account": ("jdupont", STRONG_PASSWORD, {"locked": True}),
    "locked account, reset pending": ("jdupont", WRONG, {"locked": True,
                                                          "provisional": PROVISIONAL}),
}


def _make(make_user, columns: dict | None):
    if columns is None:
        return
    extra = {}
    if columns.get("is_active") is False:
        extra["is_active"] = False
    if columns.get("locked"):
        extra.update(_locked())
    if columns.get("first"):
        make_user(provisional=PROVISIONAL, **_pending(), **extra)
        return
    user = make_user(**extra)
    if columns.get("provisional"):
        user.provisional_hash = passwords.hash_password(columns["provisional"])
        user.is_provisional = True
        hours = -1 if columns.get("expired") else 72
        user.provisional_expires_at = utcnow() + timedelta(hours=hours)
        commit()


@pytest.mark.parametrize("case", list(CASES))
def test_login_15_every_account_state_costs_two_argon2_verifications(
    client, make_user, argon2_calls, case
):
    identifier, password, columns = CASES[case]
    _make(make_user, columns)
    argon2_calls.clear()
    response = login(client, identifier, password)
    assert response.status_code in (200, 303)
    assert argon2_calls.count("verify") == 2, case


def test_login_02_unknown_and_known_identifiers_cost_the_same(client, make_user, argon2_calls):
    make_user()
    counts = []
    for identifier in ("jdupont", "inconnu", "jdupont", "inconnu-2"):
        argon2_calls.clear()
        login(client, identifier, WRONG)
        counts.append(argon2_calls.count("verify"))
    assert counts == [2, 2, 2, 2]
