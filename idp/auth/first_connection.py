"""First connection, after the new password (docs/flows.md, « First connection », 3 and 4).

The secret question and the image captcha are steps of the login state
machine: each page runs only when its step is next (``flow.step_required``),
and the SSO session is opened only once the captcha is passed.
"""

from secrets import token_urlsafe

from flask import Blueprint
from flask import Response
from flask import abort
from flask import redirect
from flask import render_template
from flask import url_for

from idp import audit
from idp.auth import flow
from idp.auth.forms import CaptchaForm
from idp.auth.forms import NewCaptchaForm
from idp.auth.forms import SecretQuestionForm
from idp.clock import utcnow
from idp.database import commit
from idp.extensions import limiter
from idp.security import challenges
from idp.security import first_connection
from idp.security import secrets

bp = Blueprint("first_connection", __name__)

MSG_CAPTCHA_WRONG = (
    "Les caractères saisis ne correspondent pas à l'image. Une nouvelle image vous est "
    "proposée si nécessaire : recommencez."
)


MSG_DONE = (
    "Votre première connexion est terminée : votre compte BonusEco est activé. Vous vous "
    "connecterez désormais avec votre identifiant et votre mot de passe personnel."
)
MSG_SECRETS_DONE = "Votre question secrète est enregistrée."


def question_choices() -> list[tuple[str, str]]:
    return [("", "Choisissez une question")] + [(q, q) for q in secrets.QUESTIONS] + [
        (secrets.OTHER_QUESTION, secrets.OTHER_QUESTION)
    ]


def secret_rules() -> list[tuple[str, str]]:
    """(key, wording) of the answer's rules, listed under « Réponse secrète »."""
    return [
        ("length", f"contenir entre {secrets.MIN_ANSWER_LENGTH} et "
                   f"{secrets.MAX_ANSWER_LENGTH} caractères"),
        ("identity", "ne contenir ni votre identifiant ni votre mot de passe"),
    ]


ANSWER_RULES_INTRO = (
    "La réponse ne tient compte ni des majuscules, ni des accents, ni des espaces en trop. "
    "Elle doit :"
)


def chosen_secrets(form, user, **answer_checks) -> tuple[str, str] | None:
    """The question and normalised answer of ``form``, or None, each refusal under its field.

    The refusal of one's own wording sits under the field where it was typed.
    ``answer_checks``: how ``secrets.check_answer`` tells the password in the answer.
    """
    question = answer = None
    try:
        question = secrets.choose_question(form.question.data, form.own_question.data)
    except secrets.SecretRejected as rejection:
        is_own = form.question.data == secrets.OTHER_QUESTION
        (form.own_question if is_own else form.question).errors = [str(rejection)]
    try:
        answer = secrets.check_answer(form.answer.data, user, **answer_checks)
    except secrets.SecretRejected as rejection:
        form.answer.errors = [str(rejection)]
    if question is None or answer is None:
        return None
    return question, answer


@bp.route("/first-connection/secret-question", methods=["GET", "POST"])
@flow.step_required("secret_question")
def secret_question(login_flow):
    """Choose the secret question and its answer."""
    form = SecretQuestionForm()
    form.question.choices = question_choices()
    user = login_flow.user
    chosen = form.validate_on_submit() and chosen_secrets(
        form, user,
        contains_password_check=lambda a: flow.answer_contains_password(login_flow, a))
    if chosen:
        now = utcnow()
        secrets.set_secrets(user, *chosen, now, actor=user.login, notify=False)
        return flow.complete_step(login_flow, "secret_question", now,
                                  confirmation=MSG_SECRETS_DONE)
    form.answer.data = ""  # a secret answer is never sent back, like a password
    return render_template(
        "auth/first_connection/secret_question.html", form=form, answer_rules=secret_rules(),
        answer_rules_intro=ANSWER_RULES_INTRO,
        step=flow.first_connection_step(login_flow, "secret_question"),
    )


@bp.route("/first-connection/captcha", methods=["GET", "POST"])
@limiter.limit("20/minute", methods=["POST"])
@flow.step_required("captcha")
def captcha(login_flow):
    """Type the characters of the image (an audio version is offered)."""
    form = CaptchaForm()
    now = utcnow()
    if form.validate_on_submit():
        try:
            challenges.check(login_flow.id_hash, "captcha", form.text.data, now)
        except challenges.ChallengeFailed:
            audit.record("captcha.failure", outcome="failure", user=login_flow.user)
            commit()
            form.text.errors = [MSG_CAPTCHA_WRONG]
        else:
            audit.record("captcha.passed", outcome="success", user=login_flow.user)
            first_connection.record_completion(login_flow.user, now)
            return flow.complete_step(login_flow, "captcha", now, confirmation=MSG_DONE)
    challenges.current_or_new_captcha(login_flow.id_hash, now)
    commit()
    form.text.data = ""
    return render_template(
        "auth/first_connection/captcha.html", form=form,
        image_url=url_for("first_connection.captcha_image", v=secrets_token()),
        audio_url=url_for("first_connection.captcha_audio", v=secrets_token()),
        step=flow.first_connection_step(login_flow, "captcha"),
    )


def secrets_token() -> str:
    """A cache-busting query value; it identifies nothing (the flow holds the challenge)."""
    return token_urlsafe(8)


@bp.route("/first-connection/captcha/new", methods=["POST"])
@limiter.limit("20/minute")
@flow.step_required("captcha")
def captcha_new(login_flow):
    """« Afficher une autre image »: replace the challenge.

    A button of the captcha's form (``formaction``): what was typed is left behind.
    """
    if NewCaptchaForm().validate_on_submit():
        challenges.new_captcha(login_flow.id_hash, utcnow())
        commit()
    return redirect(url_for("first_connection.captcha"), 303)


@bp.route("/first-connection/captcha/image")
@limiter.limit("60/minute")
@flow.step_required("captcha")
def captcha_image(login_flow):
    """The current challenge as a PNG image."""
    image = _drawn_once(login_flow, "image", challenges.render_image)
    return Response(image, mimetype="image/png", headers={"Cache-Control": "no-store"})


@bp.route("/first-connection/captcha/audio")
@limiter.limit("20/minute")
@flow.step_required("captcha")
def captcha_audio(login_flow):
    """The same challenge, spoken in French (WAV)."""
    audio = _drawn_once(login_flow, "audio", challenges.render_audio)
    if audio is None:
        abort(503)
    return Response(audio, mimetype="audio/wav", headers={"Cache-Control": "no-store"})


def _drawn_once(login_flow, kind: str, render) -> bytes | None:
    """The current challenge's drawing: the kept one, else drawn now and kept.

    Drawing takes from 20 ms (image) to a second (audio): it happens between two
    short transactions, never while one holds the database's write lock.
    """
    row = challenges.current_or_new_captcha(login_flow.id_hash, utcnow())
    challenge_id, text = row.id, row.prompt
    drawn = challenges.stored_media(challenge_id, kind)
    commit()
    if drawn is None:
        drawn = render(text)
        if drawn is not None:
            drawn = challenges.keep_media(challenge_id, kind, drawn)
            commit()
    return drawn
