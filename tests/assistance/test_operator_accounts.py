"""Operators act only on accounts without ``assistance``; operators' accounts are the CLI's.

Whatever the action and the state of the target's ``assistance`` grant (valid,
revoked, out of its dates, account deactivated), the console refuses with a
French page, changes nothing, sends nothing and records the refused attempt.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import g
from sqlalchemy import select
from sqlalchemy import update

from idp.assistance import permissions
from idp.assistance import services
from idp.clock import utcnow
from idp.database import rollback
from idp.extensions import db
from idp.models import Habilitation
from idp.models import HabilitationGrant
from idp.models import User
from tests.assistance.conftest import OPERATOR
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import page_text
from tests.conftest import reload

COLLEAGUE = "agent.durand"
BASE = f"/assistance/accounts/{COLLEAGUE}"
# Every console action on an existing account, with what its form posts.
CONSOLE_ACTIONS = {
    "activate": (f"{BASE}/activate", {}),
    "deactivate": (f"{BASE}/deactivate", {}),
    "reset-password": (f"{BASE}/reset-password", {}),
    "unlock": (f"{BASE}/unlock", {}),
    "clear-secrets": (f"{BASE}/clear-secrets", {}),
    "resend-welcome": (f"{BASE}/resend-welcome", {}),
    "end-sessions": (f"{BASE}/end-sessions", {}),
    "grant": (f"{BASE}/habilitations/grant", {"habilitation": "bonuseco", "profile": "x"}),
    "grant-assistance": (f"{BASE}/habilitations/grant", {"habilitation": "assistance"}),
    "revoke": (f"{BASE}/habilitations/bonuseco/revoke", {}),
    "restore": (f"{BASE}/habilitations/bonuseco/restore", {}),
    "revoke-assistance": (f"{BASE}/habilitations/assistance/revoke", {}),
    "restore-assistance": (f"{BASE}/habilitations/assistance/restore", {}),
}
# How the colleague's ``assistance`` stands: an account that ever held it stays the CLI's.
STATES = ("valid", "account-deactivated", "grant-revoked", "grant-expired", "grant-future")


def _assistance_grant():
    code = select(Habilitation.id).where(Habilitation.code == "assistance").scalar_subquery()
    return update(HabilitationGrant).where(HabilitationGrant.habilitation_id == code)


def _put_in_state(user: User, state: str) -> None:
    now = utcnow()
    grant = _assistance_grant().where(HabilitationGrant.user_id == user.id)
    if state == "account-deactivated":
        db.session.execute(update(User).where(User.id == user.id).values(is_active=False))
    elif state == "grant-revoked":
        db.session.execute(grant.values(revoked_at=now - timedelta(days=1)))
    elif state == "grant-expired":
        db.session.execute(grant.values(ends_at=now - timedelta(days=1)))
    elif state == "grant-future":
        db.session.execute(grant.values(starts_at=now + timedelta(days=30)))
    db.session.commit()


def _snapshot(user: User) -> tuple:
    """Everything an action could change on the account."""
    fresh = reload(user)
    columns = {name: getattr(fresh, name) for name in User.__table__.columns.keys()}
    grants = sorted((grant.habilitation.code, grant.profile, grant.revoked_at, grant.ends_at)
                    for grant in fresh.grants)
    return columns, grants


@pytest.fixture
def colleague(make_user):
    """Another operator, locked, with a revoked ``bonuseco`` so that restore has a target."""
    user = make_user(COLLEAGUE, habilitations=("bonuseco", "assistance"),
                     locked_until=utcnow() + timedelta(minutes=10))
    bonuseco = select(Habilitation.id).where(Habilitation.code == "bonuseco").scalar_subquery()
    db.session.execute(update(HabilitationGrant).where(
        HabilitationGrant.user_id == user.id, HabilitationGrant.habilitation_id == bonuseco,
    ).values(revoked_at=utcnow()))
    db.session.commit()
    return user


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", sorted(CONSOLE_ACTIONS))
def test_ops_01_operator_cannot_act_on_an_operator(console, colleague, audit_rows, mailbox,
                                                    action, state):
    _put_in_state(colleague, state)
    url, data = CONSOLE_ACTIONS[action]
    before, rows_before = _snapshot(colleague), len(audit_rows())
    assert console.get(url).status_code == 403
    token = csrf_token(console.get("/assistance/new-account").text)
    response = console.post(url, data={"csrf_token": token, "reason": "essai", "confirm": "y",
                                       **data})
    assert response.status_code == 403
    assert "Action refusée" in page_text(response)
    assert "ligne de commande" in page_text(response)
    assert _snapshot(colleague) == before
    assert mailbox.messages == []
    rows = audit_rows()[rows_before:]
    assert [(row.event, row.outcome, row.login, row.actor) for row in rows] == [
        ("assistance.refused", "failure", COLLEAGUE, OPERATOR)]


def test_ops_01_operator_cannot_reactivate_an_operator_who_then_deactivates_others(
        client, operator, colleague, audit_rows):
    """The attack: a deactivated operator brought back by an accomplice."""
    _put_in_state(colleague, "account-deactivated")
    login(client, OPERATOR, STRONG_PASSWORD)
    url = f"{BASE}/activate"
    page = client.get("/assistance/new-account")
    response = client.post(url, data={"csrf_token": csrf_token(page.text), "reason": "retour"})
    assert response.status_code == 403
    assert reload(colleague).is_active is False
    assert audit_rows("account.activated") == []


def test_ops_01_the_account_page_of_an_operator_offers_no_action(console, colleague):
    text = page_text(console.get(BASE))
    assert "se gère en ligne de commande" in text
    assert f"{BASE}/reset-password" not in text
    assert f"{BASE}/habilitations/grant" not in text
    assert "/revoke" not in text
    assert "/restore" not in text


SERVICE_CALLS = {
    "activate": lambda user, **kw: services.activate_user(user, **kw),
    "deactivate": lambda user, **kw: services.deactivate_user(user, **kw),
    "reset-password": lambda user, **kw: services.reset_password(user, **kw),
    "unlock": lambda user, **kw: services.unlock_account(user, **kw),
    "clear-secrets": lambda user, **kw: services.clear_secrets(user, **kw),
    "resend-welcome": lambda user, **kw: services.resend_welcome(user, **kw),
    "end-sessions": lambda user, **kw: services.end_sessions(user, **kw),
    "grant": lambda user, **kw: services.grant_habilitation(user, "bonuseco", "", **kw),
    "revoke": lambda user, **kw: services.revoke_habilitation(user, "bonuseco", **kw),
    "restore": lambda user, **kw: services.restore_habilitation(user, "bonuseco", **kw),
}


@pytest.mark.parametrize("state", ["valid", "grant-revoked"])
@pytest.mark.parametrize("action", sorted(SERVICE_CALLS))
def test_ops_01_the_services_refuse_inside_a_console_request(app, operator, colleague, action,
                                                             state):
    """Whatever helper reaches a service during a console request, the rule holds."""
    _put_in_state(colleague, state)
    permissions.set_console_operator(reload(operator))
    try:
        with pytest.raises(permissions.OperatorNotAllowed, match="ligne de commande"):
            SERVICE_CALLS[action](reload(colleague), actor=OPERATOR, reason="x", now=utcnow())
    finally:
        g.pop("assistance_operator")
        rollback()


@pytest.mark.parametrize("command", [
    ["users", "deactivate", COLLEAGUE], ["users", "activate", COLLEAGUE],
    ["users", "unlock", COLLEAGUE], ["users", "reset-password", COLLEAGUE],
    ["users", "revoke", COLLEAGUE, "assistance"], ["users", "grant", COLLEAGUE, "bonuseco"],
])
def test_ops_01_the_command_line_still_acts_on_operators(runner, colleague, mailbox, command):
    if command[1] == "activate":
        _put_in_state(colleague, "account-deactivated")
    result = runner.invoke(args=command)
    assert result.exit_code == 0, result.output
