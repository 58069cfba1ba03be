"""The signed-in user of the current request, from the server-side session."""

from __future__ import annotations

from flask import g
from flask import session

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


def end_browser_session(now, **details) -> None:
    """Log this browser out: its SSO session ends server side (audited, modules told by
    back-channel once committed) and its cookie is forgotten."""
    row = current_session()
    if row is not None:
        sessions.log_out(row, now, **details)
    session.clear()
