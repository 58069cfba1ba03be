"""The login page: identifier, password, lockout, then the steps (docs/flows.md)."""

from flask import Blueprint
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
from idp.security import devices
from idp.security.authentication import LoginRefused
from idp.security.authentication import authenticate
from idp.security.identifiers import normalise_login
from idp.security.keyed_hash import keyed_identifier
from idp.settings import settings

bp = Blueprint("login", __name__)


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
        return render_template("auth/login/login.html", form=form)
    if not form.validate_on_submit():
        return render_template("auth/login/login.html", form=form), 200
    now = utcnow()
    try:
        result = authenticate(form.identifier.data, form.password.data, now,
                              device_nonce=device.trusted_nonce(form.identifier.data))
    except LoginRefused as refusal:
        g.login_refused = True
        form.password.data = ""
        return render_template("auth/login/login.html", form=form, error=refusal.message,
                               error_detail=refusal.detail)
    return flow.begin(result, form.next.data, now)
