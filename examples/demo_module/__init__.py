"""A demonstration BonusEco module: a Flask relying party on Authlib's Flask client.

It logs in with the authorization code flow (PKCE, nonce) against the IdP found
by discovery, shows the verified ID token claims and userinfo, logs out with
RP-initiated logout (``id_token_hint``, ``post_logout_redirect_uri``, ``state``)
and receives back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0),
which it verifies with the IdP's JWKS before ending the local session of that
``sid``. Ended sids are kept in memory: enough for a demo, not for production.

Configured by environment (``DEMO_ISSUER``, ``DEMO_CLIENT_ID``,
``DEMO_CLIENT_SECRET``, ``DEMO_PORT``, ``DEMO_NAME``, ``DEMO_BASE_URL``,
``DEMO_SECRET_KEY``) or by the dict given to ``create_app``.
"""

from __future__ import annotations

import json
import os
import secrets
from base64 import urlsafe_b64decode

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint
from flask import Flask
from flask import current_app
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from joserfc.errors import JoseError

from examples.demo_module.backchannel import LogoutTokenError
from examples.demo_module.backchannel import verify_logout_token

SCOPE = "openid profile email habilitations"
bp = Blueprint("demo", __name__)


def settings_from(environ) -> dict:
    port = int(environ.get("DEMO_PORT", "5001"))
    return {
        "ISSUER": environ.get("DEMO_ISSUER", "http://127.0.0.1:5000").rstrip("/"),
        "CLIENT_ID": environ.get("DEMO_CLIENT_ID", "demo-module"),
        "CLIENT_SECRET": environ.get("DEMO_CLIENT_SECRET", ""),
        "PORT": port,
        "NAME": environ.get("DEMO_NAME", "Module de démonstration"),
        "BASE_URL": environ.get("DEMO_BASE_URL", f"http://127.0.0.1:{port}").rstrip("/"),
        "SECRET_KEY": environ.get("DEMO_SECRET_KEY") or secrets.token_urlsafe(32),
    }


def create_app(overrides: dict | None = None) -> Flask:
    settings = settings_from(os.environ)
    settings.update(overrides or {})
    app = Flask(__name__)
    app.config.update(
        DEMO=settings, SECRET_KEY=settings["SECRET_KEY"],
        # Cookies ignore ports: each module on 127.0.0.1 needs its own cookie name.
        SESSION_COOKIE_NAME=f"demo_module_{settings['PORT']}", SESSION_COOKIE_SAMESITE="Lax",
    )
    oauth = OAuth(app)
    oauth.register(
        "bonuseco", client_id=settings["CLIENT_ID"], client_secret=settings["CLIENT_SECRET"],
        server_metadata_url=settings["ISSUER"] + "/.well-known/openid-configuration",
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"},
    )
    # Back-channel logout: the sids (and subs) the IdP said are over, and seen jtis.
    app.extensions["demo_logouts"] = {"sids": set(), "subs": set(), "jtis": set()}
    app.register_blueprint(bp)
    return app


def _idp():
    """Authlib's client for the IdP, configured by discovery."""
    return current_app.extensions["authlib.integrations.flask_client"].bonuseco


def _demo() -> dict:
    return current_app.config["DEMO"]


def _id_token_claims(id_token: str) -> dict:
    """The claims of the ID token verified at the callback (read back for display)."""
    payload = id_token.split(".")[1]
    return json.loads(urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _logouts() -> dict:
    return current_app.extensions["demo_logouts"]


@bp.before_app_request
def forget_ended_session():
    """A session the IdP ended by back-channel logout is over here too."""
    logouts = _logouts()
    g.was_ended = "id_token" in session and (
        session.get("sid") in logouts["sids"] or session.get("sub") in logouts["subs"])
    if g.was_ended:
        session.clear()


@bp.after_app_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def _logout_message() -> str | None:
    """Back from RP-initiated logout: Authlib checks the state we sent."""
    if not request.args.get("state"):
        return None
    try:
        _idp().validate_logout_response()
    except OAuthError:
        return "Retour de déconnexion inattendu (state invalide)."
    return "Vous êtes déconnecté de BonusEco."


@bp.get("/")
def index():
    """The module's page: a login button, or the user's claims and a logout button."""
    message = _logout_message()
    if "id_token" not in session:
        ended = "Votre session a été fermée depuis BonusEco." if g.was_ended else None
        return render_template("index.html", demo=_demo(), message=message or ended)
    return render_template("claims.html", demo=_demo(), userinfo=session["userinfo"],
                           claims=_id_token_claims(session["id_token"]))


@bp.get("/login")
def login():
    """« Se connecter avec BonusEco »: to the IdP's authorization endpoint (PKCE, nonce)."""
    return _idp().authorize_redirect(_demo()["BASE_URL"] + "/callback")


@bp.get("/callback")
def callback():
    """Back from the IdP: Authlib checks state, PKCE, the ID token and its nonce."""
    try:
        token = _idp().authorize_access_token()
        userinfo = _idp().userinfo(token=token)
    except (OAuthError, JoseError) as error:
        reason = getattr(error, "error", None) or type(error).__name__
        return render_template("index.html", demo=_demo(),
                               message=f"Connexion refusée : {reason}"), 403
    session.clear()
    claims = token["userinfo"]
    session.update(id_token=token["id_token"], sid=claims.get("sid"), sub=claims["sub"],
                   userinfo=dict(userinfo))
    return redirect(url_for("demo.index"), 303)


@bp.post("/logout")
def logout():
    """« Se déconnecter »: RP-initiated logout at the IdP, coming back with state.

    The session cookie is SameSite=Lax, so another site cannot post this form for you.
    """
    id_token = session.get("id_token")
    session.clear()
    return _idp().logout_redirect(post_logout_redirect_uri=_demo()["BASE_URL"] + "/",
                                  id_token_hint=id_token)


@bp.post("/backchannel-logout")
def backchannel_logout():
    """Back-Channel Logout 1.0 2.5: a form-encoded POST with ``logout_token``."""
    try:
        claims = verify_logout_token(_idp(), request.form.get("logout_token", ""), _demo())
    except LogoutTokenError as error:
        # 2.8: 400 with an OAuth-style error.
        return {"error": "invalid_request", "error_description": str(error)}, 400
    logouts = _logouts()
    if claims["jti"] in logouts["jtis"]:
        return {"error": "invalid_request", "error_description": "replayed jti"}, 400
    logouts["jtis"].add(claims["jti"])
    if claims.get("sid"):
        logouts["sids"].add(claims["sid"])
    else:
        logouts["subs"].add(claims["sub"])
    return "", 200
