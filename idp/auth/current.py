"""The signed-in user of the current request, from the server-side session."""

from __future__ import annotations

import functools

from flask import g
from flask import redirect
from flask import request
from flask import session
from flask import url_for

from idp.auth import flow
from idp.clock import utcnow
from idp.extensions import db
from idp.models import UserSession
from idp.security import sessions


def current_session() -> UserSession | None:
    """The live SSO session of this browser, loaded once per request."""
    if "idp_session" not in g:
        row = sessions.find_session(session.get("sid"), utcnow())
        if row is not None and row in db.session.dirty:
            db.session.commit()  # the idle timer moved (at most once a minute)
        g.idp_session = row
    return g.idp_session


def login_required(view):
    """Send anonymous visitors to the login page, coming back here afterwards."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_session() is None:
            # A login still in its steps resumes there: no page skips them (SPEC 1.1).
            return flow.pending_redirect(utcnow()) or redirect(
                url_for("auth.login", next=request.full_path.rstrip("?")), 303
            )
        return view(*args, **kwargs)

    return wrapped
