"""The Assistance console (docs/flows.md): search and account pages; the guard.

Operators log in through this IdP's own login page (``login_required``) and
need a currently valid ``assistance`` habilitation; anyone else gets the
French 403 page. The actions live in ``actions.py``, account creation and the
CSV import in ``creation.py``; all of them call ``services`` like the CLI.
Pages are never cached: ``idp.headers`` sets ``Cache-Control: no-store``.
"""

from __future__ import annotations

import logging

from flask import Blueprint
from flask import g
from flask import render_template
from flask import request

from idp.assistance import console
from idp.assistance import permissions
from idp.assistance import search
from idp.assistance import status
from idp.assistance.forms import SearchForm
from idp.clock import utcnow
from idp.security.sessions import live_sessions

log = logging.getLogger(__name__)

bp = Blueprint("assistance", __name__, url_prefix="/assistance")
bp.add_app_template_filter(status.fr_datetime, "fr_datetime")
bp.add_app_template_global(status.plural, "plural")

bp.before_request(console.require_operator)


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
    user = console.target_user(login)
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

