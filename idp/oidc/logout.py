"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) on Authlib's endpoint.

Authlib's ``EndSessionEndpoint`` checks the client and the exact
``post_logout_redirect_uri`` (3), and adds ``state``. We add what it leaves to
us: what passes for a recent ID token of ours (``idp.oidc.id_token_hints``,
shared with /authorize), which session to end, and the pages. Without a valid
hint, or for a hint about another user than the browser's, the person confirms
with a CSRF-protected form and is never sent off-site (6). Ending the session
goes through ``idp.security.sessions``: tokens revoked, modules told by
back-channel.
"""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from flask import render_template
from flask import request
from flask import session
from flask import url_for

from idp import audit
from idp.auth.current import current_session
from idp.clock import utcnow
from idp.database import commit
from idp.extensions import csrf
from idp.forms import Form
from idp.oidc import id_token_hints
from idp.oidc.server import current_server
from idp.oidc.views import bp
from idp.security import sessions


class EndSessionEndpoint(_EndSessionEndpoint):
    def _validate_id_token_hint(self, id_token_hint):
        # 2: "the OP MUST validate that it was the issuer of the ID Token": only a
        # recent ID token of ours, never another JWT we signed (an access token).
        claims = id_token_hints.read_id_token_hint(id_token_hint, self.server.issuer, utcnow())
        if claims is None:
            raise InvalidRequestError("Invalid 'id_token_hint'.")
        return claims

    def validate_request(self, request):
        try:
            validated = super().validate_request(request)
        except (ValueError, TypeError, KeyError):
            raise InvalidRequestError("Invalid 'id_token_hint'.") from None
        if validated.id_token_claims is not None \
                and request.payload.data.get("post_logout_redirect_uri") \
                and validated.redirect_uri is None:
            # 3: not exactly registered for the hint's client: an error, shown (4).
            raise InvalidRequestError("The 'post_logout_redirect_uri' is not registered.")
        return validated

    def end_session(self, end_session_request) -> None:
        end_browser_session(end_session_request.client)


def end_browser_session(client=None) -> None:
    """End this browser's SSO session server side (SESS-05) and forget its cookie."""
    row = current_session()
    if row is not None and sessions.end_session(row, utcnow()):
        audit.record("logout", outcome="success", user=row.user, sid=row.sid,
                     client_id=client.client_id if client is not None else None,
                     via="end_session")
    session.clear()


class EndSessionForm(Form):
    """A button only: the CSRF token makes a logout without a valid hint deliberate."""


def _validated():
    """Authlib's validation of the request; (request, None) or (None, error)."""
    try:
        return current_server().validate_endpoint_request("end_session"), None
    except OAuth2Error as error:
        return None, error


def _needs_confirmation(validated) -> bool:
    """RP-Initiated Logout 6: confirm unless a valid hint names this browser's user."""
    if validated is None or validated.needs_confirmation:
        return True
    row = current_session()
    return row is not None and row.user.subject != validated.id_token_claims.get("sub")


def _finish(validated):
    """Log out, then back to the module when everything checked out, else our page."""
    if validated is None:
        end_browser_session()
        response = None
    else:
        response = current_server().create_endpoint_response("end_session", validated)
    commit()  # back-channel logout tokens leave after this commit
    return response or render_template("auth/logout/done.html")


@bp.route("/end-session", methods=["GET", "POST"])
@csrf.exempt
def end_session():
    """End session endpoint (RP-Initiated Logout 1.0 2): GET or form POST from a module."""
    validated, error = _validated()
    if not _needs_confirmation(validated):
        return _finish(validated)
    if current_session() is None:
        # Nothing to end here; never a redirect without a valid hint (LOGOUT-04).
        session.pop("sid", None)
        return render_template("auth/logout/done.html")
    # A refused hint (an access token, say) is not carried on, nor shown back in the page.
    query = urlencode([(key, value) for key, value in request.values.items(multi=True)
                       if error is None or key != "id_token_hint"])
    return render_template(
        "oidc/logout/confirm.html", form=EndSessionForm(), is_refused=error is not None,
        client=validated.client.row if validated and validated.client else None,
        action=f"{url_for('oidc.end_session_confirm')}?{query}",
    )


@bp.post("/end-session/confirm")
def end_session_confirm():
    """The confirmation page's answer (CSRF checked by CSRFProtect)."""
    EndSessionForm().validate_on_submit()
    validated, _error = _validated()
    return _finish(validated)
