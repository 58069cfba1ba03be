"""The login page: identifier, password, lockout, then the steps (docs/flows.md)."""

from urllib.parse import parse_qs
from urllib.parse import urlsplit

from flask import Blueprint
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from idp.auth import device
from idp.auth import flow
from idp.auth.current import current_session
from idp.auth.forms import LoginForm
from idp.clock import utcnow
from idp.extensions import limiter
from idp.oidc.clients import query_client
from idp.security import devices
from idp.security.authentication import LoginRefused
from idp.security.authentication import authenticate
from idp.security.identifiers import normalise_login
from idp.security.keyed_hash import keyed_identifier
from idp.settings import settings

bp = Blueprint("login", __name__)

MSG_QUIT = (
    "Vous avez quitté la connexion avant la fin : aucune session n'est ouverte. À votre "
    "prochaine connexion, seules les étapes qui restent vous seront demandées."
)
MSG_QUIT_PROVISIONAL = (
    "Tant que vous n'avez pas choisi votre mot de passe personnel, connectez-vous avec le mot "
    "de passe provisoire reçu par mail."
)


def _identifier_key() -> str:
    """Rate-limit key of the identifier typed (normalised like the account key).

    A browser whose device cookie vouches for the identifier counts apart, so
    that failures made elsewhere do not hold it back (OWASP device cookies).
    Keyed hashes: the limiter logs and stores its keys, and what was typed may
    be a password in the wrong field.
    """
    identifier = request.form.get("identifier", "")
    nonce = device.trusted_nonce(identifier)
    if nonce is not None:
        return "login-device:" + devices.counter_key(nonce)
    return "login-id:" + keyed_identifier(normalise_login(identifier))


def _was_refused(_response) -> bool:
    """Only refused attempts count toward the per-identifier limit, never successes."""
    return bool(g.get("login_refused"))


def _ip_limit() -> str:
    return settings().ratelimit_login


def _identifier_limit() -> str:
    return settings().ratelimit_login_identifier


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_ip_limit, methods=["POST"])
@limiter.limit(_identifier_limit, key_func=_identifier_key, methods=["POST"],
               deduct_when=_was_refused)
def login():
    """Show the login form and check the password."""
    form = LoginForm()
    if request.method == "GET":
        if current_session() is not None and flow.safe_next(request.args.get("next")) is None:
            return redirect(url_for("home.home"), 303)
        form.next.data = flow.safe_next(request.args.get("next")) or ""
        form.identifier.data = request.args.get("login_hint", "")[:128]
        return _page(form)
    if request.form.get("action") == "forgot-password":
        return _to_forgot_password(form.identifier.data)
    if not form.validate_on_submit():
        return _page(form)
    now = utcnow()
    try:
        result = authenticate(form.identifier.data, form.password.data, now,
                              device_nonce=device.trusted_nonce(form.identifier.data))
    except LoginRefused as refusal:
        g.login_refused = True
        form.password.data = ""
        return _page(form, error=refusal.message, error_detail=refusal.detail)
    return flow.begin(result, form.next.data, now)


def _page(form: LoginForm, **refusal):
    return render_template("auth/login/login.html", form=form,
                           module_name=requesting_module(form.next.data), **refusal)


def _to_forgot_password(identifier: str | None):
    """« J'ai oublié mon mot de passe »: a button of the login form, so that the
    identifier typed goes along without JavaScript (the password is dropped here)."""
    typed = (identifier or "").strip()[:128] or None
    return redirect(url_for("forgot_password.identifier", identifier=typed), 303)


def requesting_module(next_url: str | None) -> str | None:
    """The name of the module whose authorization request the login comes back to."""
    target = flow.safe_next(next_url)
    if target is None:
        return None
    parts = urlsplit(target)
    if parts.path != url_for("oidc.authorize"):
        return None
    client_ids = parse_qs(parts.query).get("client_id", [])
    client = query_client(client_ids[0]) if len(client_ids) == 1 else None
    return client.row.name if client is not None else None


@bp.post("/login/quit")
def quit_steps():
    """« Quitter »: leave the steps after the password; the next login resumes them."""
    left = flow.abandon(utcnow())
    flash(quit_message(left), "info")
    return redirect(url_for("login.login"), 303)


def quit_message(left) -> str:
    """What « Quitter » says: the steps resume; with which password, when it matters."""
    if left is not None and "password_change" in left.pending_steps \
            and left.password_change_reason == "provisional":  # noqa: S105 (a reason name)
        return f"{MSG_QUIT} {MSG_QUIT_PROVISIONAL}"
    return MSG_QUIT
