"""The Assistance console (SPEC 1.3, issue 6): search and account pages; the guard.

Operators log in through this IdP's own login page (``login_required``) and
need a currently valid ``assistance`` habilitation; anyone else gets the
French 403 page. The actions live in ``actions.py``, account creation and the
CSV import in ``creation.py``; all of them call ``services`` like the CLI.
Pages are never cached: ``idp.headers`` sets ``Cache-Control: no-store``.
"""

from __future__ import annotations

import logging

from flask import Blueprint
from flask import abort
from flask import g
from flask import render_template
from flask import request

from idp.assistance import permissions
from idp.assistance import search
from idp.assistance import services
from idp.assistance import status
from idp.assistance.forms import SearchForm
from idp.assistance.validation import InvalidInput
from idp.auth.current import current_session
from idp.auth.current import login_required
from idp.clock import utcnow
from idp.database import commit
from idp.errors import render_error
from idp.models import User
from idp.security.sessions import live_sessions

log = logging.getLogger(__name__)

bp = Blueprint("assistance", __name__, url_prefix="/assistance")
bp.add_app_template_filter(status.fr_datetime, "fr_datetime")

MSG_NOT_OPERATOR = ("Cette console est réservée aux agents de l'Assistance (habilitation "
                    "« Assistance » en cours de validité).")


@bp.before_request
@login_required
def require_operator():
    """Let through only operators with a valid ``assistance`` habilitation."""
    user = current_session().user
    if not permissions.may_operate(user, utcnow()):
        # A log line, not an audit row: no writes before the view (STYLE.md).
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


@bp.get("/")
def search_page():
    """Find accounts by login, email, name or SIRET."""
    form = SearchForm(request.args)
    result, now = None, utcnow()
    if form.q.data:
        result = search.search_accounts(form.q.data, request.args.get("page", 1, type=int))
    rows = [(user, status.short_state(user, now)) for user in (result.users if result else [])]
    return render_template("assistance/search.html", form=form, result=result, rows=rows,
                           min_query=search.MIN_QUERY)


@bp.get("/accounts/<login>")
def account_page(login: str):
    """An account's identity, status, habilitations, sessions and security history."""
    user = target_user(login)
    now = utcnow()
    grants = sorted(user.grants, key=lambda grant: grant.habilitation.code)
    is_self = user.id == g.operator.id
    is_operator_account = permissions.is_operator_account(user)
    return render_template(
        "assistance/account.html", user=user, badges=status.badges(user, now),
        facts=status.facts(user, now),
        grants=[(grant, status.grant_state(grant, now)) for grant in grants],
        sessions=live_sessions(user.id, now), history=status.history(user),
        is_self=is_self, is_operator_account=is_operator_account,
        may_act=not (is_self or is_operator_account),
        operator_code=permissions.OPERATOR_HABILITATION,
    )


from idp.assistance import actions  # noqa: E402,F401 (routes of the blueprint)
from idp.assistance import creation  # noqa: E402,F401 (routes of the blueprint)
