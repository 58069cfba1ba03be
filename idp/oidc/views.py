"""The authorization endpoint and its pages (OIDC Core 3.1.2): login, habilitation, consent.

Authlib validates the request; this module decides what the person sees.
Errors about the client or the redirect URI are shown here, never redirected
(RFC 6749 4.1.2.1); the others go back to the client with ``iss`` (RFC 9207).
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.core.errors import ConsentRequiredError
from authlib.oidc.core.errors import LoginRequiredError
from flask import Blueprint
from flask import current_app
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from idp import audit
from idp.auth.current import current_session
from idp.clock import utcnow
from idp.database import commit
from idp.extensions import csrf
from idp.forms import Form
from idp.oidc import claims
from idp.oidc import habilitations
from idp.oidc.server import add_issuer
from idp.oidc.server import current_server

bp = Blueprint("oidc", __name__)

# Added to the authorize URL the login page comes back to: the password must
# have been checked at or after this time (prompt=login, max_age; OIDC Core 3.1.2.1).
REAUTH_PARAM = "idp_reauth"
ERROR_MESSAGES = {
    "invalid_client": "L'application qui vous a envoyé ici n'est pas reconnue.",
    "invalid_request": "La demande de connexion de l'application est incomplète ou invalide.",
}
DEFAULT_ERROR = "La demande de connexion de l'application n'a pas pu être traitée."


class ConsentForm(Form):
    """Two buttons named ``decision``; the CSRF token makes the choice deliberate."""


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt
def authorize():
    """Authorization endpoint: validate, authenticate, check the habilitation, issue a code."""
    if request.method == "POST":
        # OIDC Core 3.1.2.1: POST is accepted; go on as GET so the login can come back.
        query = urlencode(list(request.form.items(multi=True)))
        return redirect(f"{url_for('oidc.authorize')}?{query}", 303)
    return _authorize(consented=None)


@bp.post("/authorize/consent")
def consent():
    """The consent page's answer: « Autoriser » or « Refuser »."""
    ConsentForm().validate_on_submit()  # CSRFProtect already refused a bad token
    return _authorize(consented=request.form.get("decision") == "allow")


def _authorize(consented: bool | None):
    server = current_server()
    row = current_session()
    user = row.user if row is not None else None
    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        return _error(error)
    prompts = (grant.request.payload.data.get("prompt") or "").split()
    if user is None or _must_reauthenticate(grant, row):
        if "none" in prompts:
            return _back_with(grant, LoginRequiredError)
        return _to_login(grant)
    client = grant.client.row
    if not habilitations.is_allowed(user, client, utcnow()):
        return _forbidden(grant, user, prompts)
    claims_request = claims.parse_claims_request(grant.request.payload.data.get("claims"))
    if claims.essential_acr_unmet(claims_request):
        return _back_with(grant, AccessDeniedError)
    if not client.skip_consent and consented is None:
        if "none" in prompts:
            return _back_with(grant, ConsentRequiredError)
        return _consent_page(grant, claims_request)
    if consented is False:
        audit.record("authorize.consent_refused", outcome="failure", user=user,
                     client_id=client.client_id)
    response = server.create_authorization_response(
        grant_user=user if consented is not False else None, grant=grant)
    commit()
    return response


def _must_reauthenticate(grant, row) -> bool:
    """prompt=login and max_age ask for a password checked recently (OIDC Core 3.1.2.1)."""
    data = grant.request.payload.data
    auth_time = row.auth_time.timestamp()
    marker = data.get(REAUTH_PARAM, "")
    if marker.isdigit():
        return auth_time < int(marker)
    if "login" in (data.get("prompt") or "").split():
        return True
    max_age = data.get("max_age", "")
    # ASCII digits only: str.isdigit() also accepts « ² », which int() refuses.
    return (max_age.isascii() and max_age.isdigit()
            and utcnow().timestamp() - auth_time > int(max_age))


def _to_login(grant):
    """To the login page, coming back to this request with the re-authentication marker."""
    data = grant.request.payload.data
    params = [(k, v) for k, v in request.args.items(multi=True)
              if k not in (REAUTH_PARAM, "prompt")]
    prompts = [p for p in (data.get("prompt") or "").split() if p != "login"]
    if prompts:
        params.append(("prompt", " ".join(prompts)))
    params.append((REAUTH_PARAM, str(int(time.time()))))
    target = {"next": f"{url_for('oidc.authorize')}?{urlencode(params)}"}
    if data.get("login_hint"):
        target["login_hint"] = data["login_hint"][:128]
    return redirect(url_for("auth.login", **target), 303)


def _back_with(grant, error_cls):
    """An error the client gets at its (validated) redirect URI, with state and iss."""
    error = error_cls(redirect_uri=grant.redirect_uri, state=grant.request.payload.state)
    return add_issuer(current_server().handle_error_response(grant.request, error))


def malformed_authorization():
    """invalid_request for a request holding a forbidden character (``idp.input_filter``).

    Sent back to the client only when its id and redirect URI are clean and
    registered; otherwise our page (RFC 6749 4.1.2.1). A tainted ``state`` is
    not echoed.
    """
    values = request.values
    client_id, redirect_uri = values.get("client_id", ""), values.get("redirect_uri", "")
    client = None
    if client_id and redirect_uri and "\x00" not in client_id + redirect_uri:
        client = current_server().query_client(client_id)
    if client is None or not client.check_redirect_uri(redirect_uri):
        return _error(InvalidRequestError())
    state = values.get("state")
    return _error(InvalidRequestError(
        redirect_uri=redirect_uri, state=state if state and "\x00" not in state else None))


def _error(error: OAuth2Error):
    if error.redirect_uri:
        return add_issuer(current_server().handle_error_response(None, error))
    message = ERROR_MESSAGES.get(error.error, DEFAULT_ERROR)
    return render_template("oidc/error.html", message=message), 400


def _forbidden(grant, user, prompts: list[str]):
    """SPEC 1.4: the verbatim message, no code, a way back with access_denied."""
    habilitations.record_refusal(user, grant.client.row, "authorize")
    commit()
    if "none" in prompts:
        return _back_with(grant, AccessDeniedError)
    error = AccessDeniedError(redirect_uri=grant.redirect_uri, state=grant.request.payload.state)
    location = dict(error()[2])["Location"]
    back_url = add_params_to_uri(location, [("iss", current_app.config["IDP_ISSUER"])])
    return render_template("oidc/forbidden.html", message=habilitations.MSG_FORBIDDEN,
                           client=grant.client.row, back_url=back_url), 403


def _consent_page(grant, claims_request):
    action = f"{url_for('oidc.consent')}?{request.query_string.decode()}"
    return render_template(
        "oidc/consent.html", form=ConsentForm(), client=grant.client.row, action=action,
        items=claims.describe(grant.request.scope or "", claims_request),
    )
