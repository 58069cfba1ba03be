"""The pages of RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).

Authlib's ``EndSessionEndpoint`` (``idp.oidc.endpoints``) checks the client and the exact
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
from flask import Blueprint
from flask import render_template
from flask import request
from flask import session
from flask import url_for

from idp.auth.current import current_session
from idp.auth.current import end_browser_session
from idp.clock import utcnow
from idp.database import commit
from idp.extensions import csrf
from idp.forms import Form
from idp.oidc.provider import current_server

bp = Blueprint("oidc_logout", __name__)


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
        end_browser_session(utcnow(), via="end_session")
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
        # Nothing to end here; never a redirect without a valid hint.
        session.pop("sid", None)
        return render_template("auth/logout/done.html")
    # A refused hint (an access token, say) is not carried on, nor shown back in the page.
    query = urlencode([(key, value) for key, value in request.values.items(multi=True)
                       if error is None or key != "id_token_hint"])
    return render_template(
        "oidc/logout/confirm.html", form=EndSessionForm(), is_refused=error is not None,
        client=validated.client.row if validated and validated.client else None,
        action=f"{url_for('oidc_logout.end_session_confirm')}?{query}",
    )


@bp.post("/end-session/confirm")
def end_session_confirm():
    """The confirmation page's answer (CSRF checked by CSRFProtect)."""
    EndSessionForm().validate_on_submit()
    validated, _error = _validated()
    return _finish(validated)
