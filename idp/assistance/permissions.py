"""Who may do what in the Assistance console (docs/flows.md, « The Assistance console »).

Operators hold the ``assistance`` habilitation; they act only on accounts that
never held it, never on their own, and never hand out or take back
``assistance`` (only ``idp users grant`` on the command line does).
``check_actor`` applies these rules inside every action of
``idp.assistance.services``, whatever view or helper reached it; the console
records every refused attempt (``record_refusal``).
"""

from __future__ import annotations

from datetime import datetime

from flask import g
from flask import has_app_context

from idp import audit
from idp.exceptions import IdpError
from idp.models import User

# Only the command line hands out the console itself.
OPERATOR_HABILITATION = "assistance"


class OperatorNotAllowed(IdpError):
    """An operator tried what only the command line may do; the console answers 403."""

    status = 403


def may_operate(user: User, now: datetime) -> bool:
    """Whether ``user`` may use the console: active, with a valid ``assistance`` grant."""
    return user.is_active and any(
        grant.habilitation.code == OPERATOR_HABILITATION and grant.is_valid(now)
        for grant in user.grants
    )


def is_operator_account(user: User) -> bool:
    """Whether the account holds or ever held ``assistance``, whatever the grant's state.

    A revoked or expired grant still counts (revoking keeps the grant row): an
    operator could otherwise restore a colleague's console by reactivating the
    account, or act on a colleague whose grant merely waits for its start date.
    Such accounts are managed on the command line only, which is the safest
    reading of least privilege (OWASP ASVS 4.1.3).
    """
    return any(grant.habilitation.code == OPERATOR_HABILITATION for grant in user.grants)


def check_operator_may_act(actor_user: User, target_user: User | None,
                           code: str | None = None) -> None:
    """Refuse an operator acting on their own account, on an operator's account, or on
    the ``assistance`` habilitation.

    An operator who could grant themselves rights, reset their own password,
    reactivate a colleague or hand out the console would escape the four-eyes
    rule the agency relies on.
    """
    if target_user is not None and target_user.id == actor_user.id:
        raise OperatorNotAllowed("vous ne pouvez pas agir sur votre propre compte")
    if target_user is not None and is_operator_account(target_user):
        raise OperatorNotAllowed(
            f"« {target_user.login} » est ou a été un compte d'agent de l'Assistance : il se "
            "gère en ligne de commande (idp users ...)"
        )
    if code is not None and code.strip().lower() == OPERATOR_HABILITATION:
        raise OperatorNotAllowed(
            "l'habilitation « Assistance » ne s'attribue et ne se retire qu'en ligne de "
            "commande (idp users grant / revoke)"
        )


def record_refusal(actor: str, action: str, refused: OperatorNotAllowed, *,
                   user: User | None = None, login: str | None = None) -> None:
    """One audit row for a refused console attempt; the caller commits it alone."""
    audit.record("assistance.refused", outcome="failure", user=user,
                 login=login[:64] if login else None, actor=actor,
                 action=action, why=str(refused))


def set_console_operator(operator: User) -> None:
    """Mark this request as the console's, done by ``operator`` (the console's guard calls it)."""
    g.assistance_operator = operator


def check_actor(actor: str, target_user: User | None, *codes: str) -> None:
    """The operator rules inside every action, whatever view or helper reached it.

    They apply to every action of a console request; the command line (``cli``),
    the user's own forgotten-password procedure (actor = the user) and system
    jobs run outside the console and are not operator actions.
    """
    operator = g.get("assistance_operator") if has_app_context() else None
    if operator is None:
        return
    check_operator_may_act(operator, target_user)
    for code in codes:
        check_operator_may_act(operator, None, code)
