"""The Assistance console's guard and refusals, shared by its pages.

Operators log in through this IdP's own login page (``login_required``) and
need a currently valid ``assistance`` habilitation; anyone else gets the
French 403 page. Every console blueprint (``views``, ``actions``,
``creation``) runs ``require_operator`` before its views.
"""

from __future__ import annotations

import logging

from flask import abort
from flask import g
from flask import request

from idp.assistance import permissions
from idp.assistance import services
from idp.auth.current import current_session
from idp.auth.flow import login_required
from idp.clock import utcnow
from idp.database import commit
from idp.errors import render_error
from idp.exceptions import InvalidInput
from idp.models import User

log = logging.getLogger(__name__)

MSG_NOT_OPERATOR = ("Cette console est réservée aux agents de l'Assistance (habilitation "
                    "« Assistance » en cours de validité).")


@login_required
def require_operator():
    """Let through only operators with a valid ``assistance`` habilitation."""
    user = current_session().user
    if not permissions.may_operate(user, utcnow()):
        # A log line, not an audit row: a guard that runs before the view writes nothing.
        log.warning("assistance console refused to %s", user.login)
        return render_error(403, MSG_NOT_OPERATOR)
    g.operator = user
    permissions.set_console_operator(user)
    return None


def target_user(login: str) -> User:
    """The account named in the URL, or the French 404 page."""
    try:
        return services.get_user(login)
    except InvalidInput:
        abort(404)


def refused_page(action: str, error: permissions.OperatorNotAllowed, *,
                 user: User | None = None, login: str | None = None):
    """The French 403 page; an attempt (a POST) is also recorded in the audit trail.

    The unit of work of the refused action must have been rolled back already:
    the audit row is committed alone.
    """
    if request.method == "POST":
        permissions.record_refusal(g.operator.login, action, error, user=user, login=login)
        commit()
    return render_error(403, f"Action refusée : {error}.")


def refusal(user: User | None, action: str, code: str | None = None):
    """The 403 page when the operator rules forbid acting on ``user`` / ``code``; else None."""
    try:
        permissions.check_operator_may_act(g.operator, user, code)
    except permissions.OperatorNotAllowed as error:
        return refused_page(action, error, user=user)
    return None
