"""The operator actions on one account (docs/flows.md): a page asking the reason, then a POST.

The destructive ones (they take something away from the user) also ask for a
confirmation checkbox. Each calls the one service the CLI calls, which audits
with the operator and the reason and queues the notice mail; the commit comes
here, then the mails (``idp.database.commit``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint
from flask import abort
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import url_for
from sqlalchemy import select

from idp import mail
from idp.assistance import console
from idp.assistance import permissions
from idp.assistance import services
from idp.assistance.forms import ConfirmForm
from idp.assistance.forms import GrantForm
from idp.assistance.forms import ReasonForm
from idp.assistance.forms import french
from idp.clock import utcnow
from idp.database import commit
from idp.database import rollback
from idp.exceptions import InvalidInput
from idp.extensions import db
from idp.models import Habilitation
from idp.models import User
from idp.oidc.habilitations import get_habilitation
from idp.validation import parse_date

bp = Blueprint("assistance_actions", __name__, url_prefix="/assistance")
bp.before_request(console.require_operator)

MSG_MAIL_FAILED = ("L'action est enregistrée, mais le mail à l'utilisateur n'a pas pu être "
                   "envoyé : prévenez-le par téléphone.")


@dataclass(frozen=True)
class Action:
    service: Callable
    title: str
    explanation: str
    button: str
    done: str
    is_destructive: bool = False


ACTIONS = {
    "reset-password": Action(
        services.reset_password, "Réinitialiser le mot de passe",
        "Un nouveau mot de passe provisoire est envoyé par mail à l'utilisateur, qui devra le "
        "changer à sa prochaine connexion. Son mot de passe actuel reste valable tant que le "
        "provisoire n'a pas servi. Vous ne voyez jamais ce mot de passe.",
        "Envoyer un mot de passe provisoire",
        "Un mot de passe provisoire a été envoyé par mail à {login}.", True),
    "unlock": Action(
        services.unlock_account, "Déverrouiller le compte",
        "Le compte pourra de nouveau se connecter ; le compteur d'échecs repart de zéro.",
        "Déverrouiller le compte", "Le compte {login} est déverrouillé."),
    "clear-secrets": Action(
        services.clear_secrets, "Effacer la question secrète",
        "La question secrète et sa réponse sont effacées : elles seront demandées à "
        "l'utilisateur à sa prochaine connexion.",
        "Effacer la question secrète", "La question secrète de {login} est effacée.", True),
    "deactivate": Action(
        services.deactivate_user, "Désactiver le compte",
        "Plus aucune connexion ne sera possible ; toutes les sessions sont fermées et les "
        "jetons des modules révoqués.",
        "Désactiver le compte", "Le compte {login} est désactivé.", True),
    "activate": Action(
        services.activate_user, "Réactiver le compte",
        "L'utilisateur pourra de nouveau se connecter.",
        "Réactiver le compte", "Le compte {login} est réactivé."),
    "resend-welcome": Action(
        services.resend_welcome, "Renvoyer les mails de bienvenue",
        "Les deux mails de bienvenue (identifiant, puis mot de passe provisoire) sont envoyés "
        "de nouveau, avec un nouveau mot de passe provisoire.",
        "Renvoyer les mails", "Les mails de bienvenue ont été renvoyés à {login}."),
    "end-sessions": Action(
        services.end_sessions, "Fermer toutes les sessions",
        "L'utilisateur est déconnecté de partout et devra se reconnecter.",
        "Fermer les sessions", "Les sessions de {login} sont fermées.", True),
}


def run(form, user: User, name: str, call: Callable, done: str, template: str, **page):
    """Do ``call`` if the form is valid: commit, mail, back to the account; else the form."""
    error = None
    if form.validate_on_submit():
        try:
            call(actor=g.operator.login, reason=form.reason.data.strip(), now=utcnow())
        except permissions.OperatorNotAllowed as refused:
            rollback()
            return console.refused_page(name, refused, user=user)
        except InvalidInput as invalid:
            rollback()
            error = french(str(invalid))
        else:
            commit()
            if mail.undelivered():
                flash(MSG_MAIL_FAILED, "warning")
            flash(done.replace("{login}", user.login), "success")
            return redirect(url_for("assistance.account_page", login=user.login), 303)
    failed = form.is_submitted()
    response = render_template(template, form=form, user=user, error=error, **page)
    return response, 400 if failed else 200


@bp.route("/accounts/<login>/<action>", methods=["GET", "POST"])
def account_action(login: str, action: str):
    """Ask the reason (and the confirmation) of one action, then do it."""
    spec = ACTIONS.get(action)
    if spec is None:
        abort(404)
    user = console.target_user(login)
    refused = console.refusal(user, action)
    if refused:
        return refused
    form = ConfirmForm() if spec.is_destructive else ReasonForm()

    def call(**kwargs):
        spec.service(user, **kwargs)

    return run(form, user, action, call, spec.done, "assistance/action.html", action=spec)


def _habilitation(code: str) -> Habilitation:
    try:
        return get_habilitation(code)
    except InvalidInput:
        abort(404)


def _on_habilitation(login: str, code: str, name: str, form, action: Callable[[str], Action]):
    """A confirmed action on one habilitation of an account; ``action(label)`` describes it."""
    user, habilitation = console.target_user(login), _habilitation(code)
    refused = console.refusal(user, name, code)
    if refused:
        return refused
    spec = action(habilitation.label)
    return run(form, user, name, lambda **kw: spec.service(user, code, **kw),
               spec.done, "assistance/action.html", action=spec)


@bp.route("/accounts/<login>/habilitations/<code>/revoke", methods=["GET", "POST"])
def revoke(login: str, code: str):
    """Revoke a habilitation (with confirmation)."""
    return _on_habilitation(login, code, "revoke", ConfirmForm(), lambda label: Action(
        services.revoke_habilitation, f"Retirer l'habilitation « {label} »",
        "Les modules qui demandent cette habilitation refuseront la connexion.",
        "Retirer l'habilitation", f"Habilitation « {label} » retirée à {{login}}.", True))


@bp.route("/accounts/<login>/habilitations/<code>/restore", methods=["GET", "POST"])
def restore(login: str, code: str):
    """Restore a revoked habilitation, with its former profile and dates."""
    return _on_habilitation(login, code, "restore", ReasonForm(), lambda label: Action(
        services.restore_habilitation, f"Restaurer l'habilitation « {label} »",
        "L'habilitation retirée est rendue avec son profil et ses dates.",
        "Restaurer l'habilitation", f"Habilitation « {label} » rendue à {{login}}."))


def grantable() -> list[tuple[str, str]]:
    """The habilitations an operator may hand out: all but ``assistance`` (CLI only)."""
    rows = db.session.execute(select(Habilitation).order_by(Habilitation.label)).scalars()
    return [(row.code, row.label) for row in rows
            if row.code != permissions.OPERATOR_HABILITATION]


@bp.route("/accounts/<login>/habilitations/grant", methods=["GET", "POST"])
def grant(login: str):
    """Grant (or change and restore) a habilitation with a profile and dates."""
    user = console.target_user(login)
    refused = console.refusal(user, "grant")
    if refused:
        return refused
    form = GrantForm()
    form.habilitation.choices = [("", "Choisir une habilitation"), *grantable()]

    def call(**kwargs):
        services.grant_habilitation(
            user, (form.habilitation.data or "").strip().lower(),
            (form.profile.data or "").strip(),
            starts_at=parse_date(form.starts_at.data, "date de début"),
            ends_at=parse_date(form.ends_at.data, "date de fin"), **kwargs)

    return run(form, user, "grant", call, "Habilitation accordée à {login}.",
               "assistance/grant.html")
