"""The forced password change: provisional or expired password (docs/flows.md)."""

from flask import Blueprint
from flask import g
from flask import jsonify
from flask import render_template
from flask import request

from idp.auth import flow
from idp.auth.forms import PasswordChangeForm
from idp.auth.password_rules import RULES_INTRO
from idp.auth.password_rules import password_rules
from idp.auth.password_rules import strength_verdict
from idp.clock import utcnow
from idp.extensions import limiter
from idp.security import passwords
from idp.security.password_change import set_password

bp = Blueprint("password_change", __name__)

MSG_EXPIRED = (
    "Votre mot de passe a expiré : vous devez le changer avant de poursuivre."
)
MSG_PROVISIONAL = (
    "Vous vous êtes connecté avec un mot de passe provisoire : choisissez maintenant "
    "votre mot de passe personnel."
)
MSG_DONE = "Votre nouveau mot de passe est enregistré. Un mail de confirmation vous a été envoyé."
# Every post, per address; refused passwords, per account: each check of the policy
# costs several argon2 verifications (history, provisional password) and zxcvbn.
LIMIT_PER_ADDRESS = "20/minute;200/hour"
LIMIT_REFUSALS_PER_ACCOUNT = "5/minute;30/hour"


def _account_key() -> str:
    """Rate-limit key of the account whose login flow is at this step."""
    login_flow = flow.current_flow(utcnow())
    return f"password-change:{login_flow.user_id if login_flow else 'none'}"


def _was_refused(_response) -> bool:
    return bool(g.get("password_refused"))


@bp.route("/password-change", methods=["GET", "POST"])
@limiter.limit(LIMIT_PER_ADDRESS, methods=["POST"])
@limiter.limit(LIMIT_REFUSALS_PER_ACCOUNT, key_func=_account_key, methods=["POST"],
               deduct_when=_was_refused)
@flow.step_required("password_change")
def password_change(login_flow):
    """Ask for the new password until the policy accepts it."""
    form = PasswordChangeForm()
    is_expired = login_flow.password_change_reason == "expired"  # noqa: S105 (a reason name)
    notice = MSG_EXPIRED if is_expired else MSG_PROVISIONAL
    if form.validate_on_submit():
        now = utcnow()
        try:
            set_password(login_flow.user, form.new_password.data, now,
                         reason=login_flow.password_change_reason or "flow")
        except passwords.PasswordRejected as rejection:
            g.password_refused = True
            form.new_password.errors = [str(rejection)]
        else:
            if "secret_question" in login_flow.pending_steps:
                flow.remember_password_probe(login_flow, form.new_password.data)
            return flow.complete_step(login_flow, "password_change", now, confirmation=MSG_DONE)
    return render_template(
        "auth/password_change/password_change.html", form=form, notice=notice,
        is_expired=is_expired, rules=password_rules(is_provisional=not is_expired),
        rules_intro=RULES_INTRO, step=flow.first_connection_step(login_flow, "password_change"),
    )


@bp.route("/password-change/strength", methods=["POST"])
@limiter.limit("120/minute")
@flow.step_required("password_change")
def strength(login_flow):
    """The strength meter's estimate as the user types (JSON, never stored)."""
    return jsonify(strength_verdict(request.form.get("password", ""), login_flow.user))
