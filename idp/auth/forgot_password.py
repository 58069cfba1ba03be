"""« J'ai oublié mon mot de passe » (docs/flows.md): arithmetic, secret question, mail.

Whatever the answer (right, wrong, unknown identifier), the procedure ends on
the same page; only a right answer sends a new provisional password. The state
between the steps lives in the ``challenges`` table; the cookie holds only a
random id, since Flask's cookie is signed, not encrypted.
"""

from __future__ import annotations

import secrets as random

from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for

from idp import audit
from idp.auth.forms import ForgotAnswerForm
from idp.auth.forms import ForgotPasswordForm
from idp.clock import utcnow
from idp.database import commit
from idp.extensions import limiter
from idp.security import challenges
from idp.security import reset
from idp.security.authentication import find_user
from idp.security.identifiers import normalise_login
from idp.security.keyed_hash import recorded_login
from idp.security.keyed_hash import token_hash
from idp.settings import settings

bp = Blueprint("forgot_password", __name__)

MSG_DONE = "Procédure terminée, merci de vérifier votre boîte aux lettres"
MSG_NO_SECRETS = (
    "L'ensemble des secrets (question/réponse secrètes) n'étant pas renseigné pour votre "
    "compte utilisateur, merci de bien vouloir contacter le service assistance de {phone}"
)
MSG_WRONG_RESULT = "Le résultat est incorrect : une nouvelle opération vous est proposée."
MSG_EXPIRED = "La procédure a expiré ou a déjà été utilisée : recommencez."


def _owner() -> str:
    """The random id of this browser's procedure (the cookie holds nothing else)."""
    if not isinstance(session.get("reset"), str):
        session["reset"] = random.token_urlsafe(32)
    return token_hash(session["reset"])


def _limit() -> str:
    return settings().ratelimit_forgot_password


def _identifier_key() -> str:
    """Step 1 is limited per identifier typed, step 2 per identifier of the procedure."""
    if request.endpoint == "forgot_password.identifier":
        typed = request.form.get("identifier", "")
    else:
        # Never a form field: the client would choose its own bucket.
        state = challenges.current(_owner(), "reset", utcnow())
        typed = state.prompt if state else ""
    return "forgot-id:" + normalise_login(typed)


def _phone_message() -> str:
    return MSG_NO_SECRETS.format(phone=settings().assistance_phone.replace(" ", "."))


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
@limiter.limit(_limit, key_func=_identifier_key, methods=["POST"])
def identifier():
    """Step 1: the identifier and « Combien font a + b ? »."""
    form = ForgotPasswordForm()
    now = utcnow()
    error = None
    if request.method == "GET":
        form.identifier.data = request.args.get("identifier", "")[:128]
    elif form.validate_on_submit():
        try:
            challenges.check(_owner(), "arithmetic", form.result.data, now)
        except challenges.ChallengeFailed:
            error = MSG_WRONG_RESULT
            form.result.errors = [MSG_WRONG_RESULT]
        else:
            return _after_arithmetic(form.identifier.data, now)
    question = challenges.new_arithmetic(_owner(), now)
    commit()
    form.result.data = ""
    return render_template("auth/forgot_password/start.html", form=form, error=error,
                           question=f"Combien font {question.prompt} ?")


def _after_arithmetic(identifier: str, now):
    login = normalise_login(identifier)
    user = find_user(login)
    audit.record("reset.asked", user=user, login=recorded_login(user, login))
    if reset.shows_no_secrets_page(user, login):
        commit()
        return render_template("auth/forgot_password/no_secrets.html", message=_phone_message())
    challenges.new_reset_state(_owner(), login, now)
    commit()
    return redirect(url_for("forgot_password.question"), 303)


@bp.route("/forgot-password/question", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
@limiter.limit(_limit, key_func=_identifier_key, methods=["POST"])
def question():
    """Step 2: the secret question; then always the same final page."""
    now = utcnow()
    state = challenges.current(_owner(), "reset", now)
    if state is None:
        return render_template("auth/forgot_password/expired.html", message=MSG_EXPIRED), 200
    user = find_user(state.prompt)
    form = ForgotAnswerForm()
    if form.validate_on_submit():
        if not challenges.consume(state, now):
            return render_template("auth/forgot_password/expired.html", message=MSG_EXPIRED)
        reset.answer(user, state.prompt, form.answer.data, now)
        commit()
        session.pop("reset", None)
        return render_template("auth/forgot_password/done.html", message=MSG_DONE,
                               provisional_hours=settings().provisional_password_hours)
    return render_template("auth/forgot_password/question.html", form=form,
                           question=reset.question_for(user, state.prompt))
