"""The authorization endpoint and its pages (OIDC Core 3.1.2): login, habilitation, consent.

Authlib validates the request; this module decides what the person sees.
Errors about the client or the redirect URI are shown here, never redirected
(RFC 6749 4.1.2.1); the others go back to the client with ``iss`` (RFC 9207).
"""

from __future__ import annotations

from urllib.parse import parse_qsl
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.core.errors import ConsentRequiredError
from authlib.oidc.core.errors import LoginRequiredError
from flask import Blueprint
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
from idp.oidc import id_token_hints
from idp.oidc.provider import add_issuer
from idp.oidc.provider import current_server
from idp.security import sessions
from idp.settings import settings

bp = Blueprint("oidc", __name__)

# How the browser's session stands against the request (_login_decision).
LOGIN, FRESH, SSO = "login", "fresh", "sso"
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
    try:
        grant = server.get_consent_grant(end_user=row.user if row is not None else None)
    except OAuth2Error as error:
        return _error(error)
    prompts = (grant.request.payload.data.get("prompt") or "").split()
    client = grant.client.row
    # A first-party module skips consent unless it asks for it (OIDC Core 3.1.2.1).
    shows_consent = (not client.skip_consent or "consent" in prompts) and consented is None
    refusal = _authenticate(grant, row, prompts, shows_consent)
    if refusal is not None:
        return refusal
    user = row.user
    if not habilitations.is_allowed(user, client, utcnow()):
        return _forbidden(grant, user, prompts)
    claims_request = claims.parse_claims_request(grant.request.payload.data.get("claims"))
    if claims.essential_acr_unmet(claims_request):
        commit()
        return _back_with(grant, AccessDeniedError)
    if shows_consent:
        if "none" in prompts:
            return _back_with(grant, ConsentRequiredError)
        return _consent_page(grant, claims_request)
    if consented is False:
        audit.record("authorize.consent_refused", outcome="failure", user=user,
                     client_id=client.client_id)
    response = server.create_authorization_response(
        grant_user=user if consented is not False else None, grant=grant)
    commit()
    return _to_client(response, grant.redirect_uri)


def _authenticate(grant, row, prompts: list[str], shows_consent: bool):
    """None when the session's user goes on; else the login page or an error for the client.

    OIDC Core 3.1.2.1 (prompt, max_age, id_token_hint) and 3.1.2.2.
    """
    data = grant.request.payload.data
    max_age = data.get("max_age") or None  # well-formed: AuthorizationCodeGrant checked it
    hint = data.get("id_token_hint")
    hinted = _hinted_subject(hint) if hint else None
    if hint and hinted is None:
        return _back_with(grant, InvalidRequestError, "Invalid 'id_token_hint'.")
    asks = row is not None and _asks_reauthentication(row, prompts, max_age, hinted)
    login = _login_decision(row, prompts, asks)
    if login == LOGIN:
        return _back_with(grant, LoginRequiredError) if "none" in prompts else _to_login(grant)
    if hinted is not None and hinted != row.user.subject:
        # 3.1.2.2: logged in by this very request, yet not as the hint's user.
        return _back_with(grant, LoginRequiredError)
    if login == FRESH and not shows_consent \
            and not sessions.use_login_target(row, _request_target()):
        return _to_login(grant)  # another tab spent that login first
    return None


def _hinted_subject(hint: str) -> str | None:
    """Whose ID token the hint is (OIDC Core 3.1.2.1); None when not a recent one of ours."""
    claims = id_token_hints.read_id_token_hint(hint, settings().issuer, utcnow())
    return claims["sub"] if claims is not None else None


def _login_decision(row, prompts: list[str], asks_reauthentication: bool) -> str:
    """LOGIN (the form), FRESH (a login made for this very request) or SSO."""
    if row is None:
        return LOGIN
    if not asks_reauthentication:
        return SSO
    # prompt=none never shows the form: no login can have been made for it.
    if "none" not in prompts and sessions.was_opened_for(row, _request_target(), utcnow()):
        return FRESH
    return LOGIN


def _asks_reauthentication(row, prompts: list[str], max_age: str | None,
                           hinted: str | None) -> bool:
    """prompt=login, max_age elapsed (OIDC Core 3.1.2.1: max_age=0 is prompt=login),
    or a hint naming someone else than the session's user (3.1.2.2)."""
    if "login" in prompts or (hinted is not None and hinted != row.user.subject):
        return True
    if max_age is None:
        return False
    elapsed = utcnow().timestamp() - row.auth_time.timestamp()
    return int(max_age) == 0 or elapsed > int(max_age)


def _request_target() -> str:
    """This authorization request as a local URL: the one its login comes back to."""
    return f"{url_for('oidc.authorize')}?{urlencode(list(request.args.items(multi=True)))}"


def _to_login(grant):
    """To the login page, which comes back to this very request, as the module sent it."""
    target = {"next": _request_target()}
    login_hint = grant.request.payload.data.get("login_hint")
    if login_hint:
        target["login_hint"] = login_hint[:128]
    return redirect(url_for("login.login", **target), 303)


def _back_with(grant, error_cls, description: str | None = None):
    """An error the client gets at its (validated) redirect URI, with state and iss."""
    error = error_cls(description, redirect_uri=grant.redirect_uri,
                      state=grant.request.payload.state)
    response = add_issuer(current_server().handle_error_response(grant.request, error))
    return _to_client(response, grant.redirect_uri)


def _form_post() -> bool:
    """Whether the module asked for form_post (AuthorizationCodeGrant refused other
    modes; a repeated one is refused, and that error goes back in the query)."""
    return request.args.getlist("response_mode") == ["form_post"]


def _response_params(location: str, redirect_uri: str) -> list[tuple[str, str]]:
    """The parameters the IdP added to the (registered, exact) redirect URI."""
    added = location[len(redirect_uri):].lstrip("?&")
    return parse_qsl(added, keep_blank_values=True)


def _to_client(response, redirect_uri: str):
    """The authorization response as the module asked: a redirect with the parameters in
    the query, or with form_post a page that posts them to the redirect URI (OAuth 2.0
    Form Post Response Mode 2), submitted by a script of ours (the CSP allows no inline
    script) or by the person's click."""
    location = response.headers.get("Location", "")
    if not _form_post() or response.status_code != 302 \
            or not location.startswith(redirect_uri):
        return response
    page = render_template("oidc/form_post.html", action=redirect_uri,
                           params=_response_params(location, redirect_uri))
    return page, 200


def malformed_authorization():
    """invalid_request for a request holding a forbidden character (``idp.input_filter``).

    Sent back to the client only when its id and redirect URI are clean and
    registered; otherwise our page (RFC 6749 4.1.2.1). A tainted ``state`` is
    not echoed.
    """
    values = request.values
    redirect_uri = values.get("redirect_uri")
    # query_client finds no client for an id holding a NUL (or none at all), and no
    # registered redirect URI holds one: a tainted or missing value gets our page.
    client = current_server().query_client(values.get("client_id"))
    if client is None or not client.check_redirect_uri(redirect_uri):
        return _error(InvalidRequestError())
    state = values.get("state")
    return _error(InvalidRequestError(
        redirect_uri=redirect_uri, state=state if state and "\x00" not in state else None))


def _error(error: OAuth2Error):
    if error.redirect_uri:
        response = add_issuer(current_server().handle_error_response(None, error))
        return _to_client(response, error.redirect_uri)
    message = ERROR_MESSAGES.get(error.error, DEFAULT_ERROR)
    return render_template("oidc/error.html", message=message), 400


def _forbidden(grant, user, prompts: list[str]):
    """The agency's message (docs/flows.md), no code, a way back with access_denied."""
    habilitations.record_refusal(user, grant.client.row, "authorize")
    commit()
    if "none" in prompts:
        return _back_with(grant, AccessDeniedError)
    error = AccessDeniedError(redirect_uri=grant.redirect_uri, state=grant.request.payload.state)
    location = dict(error()[2])["Location"]
    back_url = add_params_to_uri(location, [("iss", settings().issuer)])
    # With form_post the way back posts the answer too.
    back_params = _response_params(back_url, grant.redirect_uri) if _form_post() else None
    return render_template("oidc/forbidden.html", message=habilitations.MSG_FORBIDDEN,
                           client=grant.client.row, back_url=back_url,
                           back_action=grant.redirect_uri, back_params=back_params), 403


def _consent_page(grant, claims_request):
    action = f"{url_for('oidc.consent')}?{request.query_string.decode()}"
    return render_template(
        "oidc/consent.html", form=ConsentForm(), client=grant.client.row, action=action,
        items=claims.describe(grant.request.scope or "", claims_request),
    )
