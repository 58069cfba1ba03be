"""Self-service from the home page: change the password, change the secret question.

Both ask the current password first (ASVS 2.1.5, OWASP Security Questions CS);
a wrong one counts toward the lockout like any password check. Both are
audited and confirmed by a mail to the user.
"""

from flask import Blueprint
from flask import flash
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from idp.auth.current import current_session
from idp.auth.first_connection import ANSWER_RULES_INTRO
from idp.auth.first_connection import chosen_secrets
from idp.auth.first_connection import question_choices
from idp.auth.first_connection import secret_rules
from idp.auth.flow import login_required
from idp.auth.forms import AccountPasswordForm
from idp.auth.forms import AccountSecretForm
from idp.auth.password_rules import RULES_INTRO
from idp.auth.password_rules import password_rules
from idp.auth.password_rules import strength_verdict
from idp.clock import utcnow
from idp.database import commit
from idp.extensions import limiter
from idp.security import passwords
from idp.security import secrets
from idp.security.authentication import InvalidCredentials
from idp.security.authentication import LoginRefused
from idp.security.authentication import authenticate
from idp.security.password_change import set_password

bp = Blueprint("account", __name__)

DONE_CREDENTIAL = "Votre mot de passe a été changé. Un mail de confirmation vous a été envoyé."
DONE_QUESTION = (
    "Votre question secrète a été changée. Un mail de confirmation vous a été envoyé."
)
# A wrong current password is a failed login (docs/flows.md, « Password change »).
MSG_COUNTS = (
    "Il vous reste {count} essai{plural} avant le verrouillage de votre compte : une erreur "
    "sur le mot de passe actuel compte comme un échec de connexion."
)


def current_password_errors(refusal: LoginRefused) -> list[str]:
    """The login's messages, saying that this failure counts toward the lockout."""
    remaining = refusal.remaining if isinstance(refusal, InvalidCredentials) else None
    if remaining:
        return [refusal.message,
                MSG_COUNTS.format(count=remaining, plural="s" if remaining > 1 else "")]
    return [refusal.message, *filter(None, [refusal.detail])]


def _check_current(form, user, now) -> bool:
    """Verify the current password through the login rules (lockout included)."""
    try:
        authenticate(user.login, form.current_password.data, now)
    except LoginRefused as refusal:
        form.current_password.errors = current_password_errors(refusal)
        return False
    commit()  # the right password clears the failure counter, whatever follows
    return True


@bp.route("/account/password", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
@login_required
def password():
    """Change one's password (current password, then the new one twice)."""
    form = AccountPasswordForm()
    row = current_session()
    if form.validate_on_submit():
        now = utcnow()
        if _check_current(form, row.user, now):
            try:
                set_password(row.user, form.new_password.data, now, reason="self-service",
                             keep_session_id=row.id)
            except passwords.PasswordRejected as rejection:
                form.new_password.errors = [str(rejection)]
            else:
                commit()
                flash(DONE_CREDENTIAL, "success")
                return redirect(url_for("home.home"), 303)
    return render_template("auth/account/password.html", form=form,
                           rules=password_rules(is_provisional=False), rules_intro=RULES_INTRO)


@bp.post("/account/password/strength")
@limiter.limit("120/minute")
@login_required
def strength():
    """The strength meter's estimate as the user types (JSON, never stored)."""
    return jsonify(strength_verdict(request.form.get("password", ""), current_session().user))


@bp.route("/account/secret-question", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
@login_required
def secret_question():
    """Change one's secret question and answer (asks the current password)."""
    form = AccountSecretForm()
    form.question.choices = question_choices()
    user = current_session().user
    if form.validate_on_submit():
        now = utcnow()
        chosen = _check_current(form, user, now) and chosen_secrets(
            form, user, password=form.current_password.data)
        if chosen:
            secrets.set_secrets(user, *chosen, now, actor=user.login, notify=True)
            commit()
            flash(DONE_QUESTION, "success")
            return redirect(url_for("home.home"), 303)
    form.answer.data = ""  # a secret answer is never sent back, like a password
    return render_template("auth/account/secret_question.html", form=form,
                           current_question=user.secret_question, answer_rules=secret_rules(),
                           answer_rules_intro=ANSWER_RULES_INTRO)
