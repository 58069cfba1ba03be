"""Self-service from the home page: change the password, change the secret question.

Both ask the current password first (ASVS 2.1.5, OWASP Security Questions CS);
a wrong one counts toward the lockout like any password check. Both are
audited and confirmed by a mail to the user.
"""

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for

from idp.auth.current import current_session
from idp.auth.first_connection import question_choices
from idp.auth.flow import login_required
from idp.auth.forms import AccountPasswordForm
from idp.auth.forms import AccountSecretForm
from idp.clock import utcnow
from idp.database import commit
from idp.extensions import limiter
from idp.security import passwords
from idp.security import secrets
from idp.security.authentication import LoginRefused
from idp.security.authentication import authenticate
from idp.security.password_change import set_password

bp = Blueprint("account", __name__)

DONE_CREDENTIAL = "Votre mot de passe a été changé. Un mail de confirmation vous a été envoyé."
DONE_QUESTION = (
    "Votre question secrète a été changée. Un mail de confirmation vous a été envoyé."
)


def _check_current(form, user, now) -> bool:
    """Verify the current password through the login rules (lockout included)."""
    try:
        authenticate(user.login, form.current_password.data, now)
    except LoginRefused as refusal:
        form.current_password.errors = [refusal.message, *filter(None, [refusal.detail])]
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
    return render_template("auth/account/password.html", form=form)


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
        if _check_current(form, user, now):
            try:
                question = secrets.choose_question(form.question.data, form.own_question.data)
                answer = secrets.check_answer(form.answer.data, user,
                                              password=form.current_password.data)
            except secrets.SecretRejected as rejection:
                form.answer.errors = [str(rejection)]
            else:
                secrets.set_secrets(user, question, answer, now, actor=user.login, notify=True)
                commit()
                flash(DONE_QUESTION, "success")
                return redirect(url_for("home.home"), 303)
    form.answer.data = ""  # a secret answer is never sent back, like a password
    return render_template("auth/account/secret_question.html", form=form,
                           current_question=user.secret_question)
