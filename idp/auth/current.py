"""The signed-in user of the current request, from the server-side session.

``current_session()`` only reads; ``touch_session`` (run after every request)
moves the idle timer of the session that was read, in its own short transaction.
"""

from __future__ import annotations

import logging

from flask import g
from flask import session
from sqlalchemy.exc import SQLAlchemyError

from idp.clock import utcnow
from idp.database import commit
from idp.database import rollback
from idp.models import UserSession
from idp.security import sessions

log = logging.getLogger(__name__)


def current_session() -> UserSession | None:
    """The live SSO session of this browser, loaded once per request."""
    if "idp_session" not in g:
        now = utcnow()
        row = sessions.find_session(session.get("sid"), now)
        if row is not None and sessions.needs_touch(row, now):
            g.idp_session_to_touch = row.id
        g.idp_session = row
    return g.idp_session


def touch_session(response):
    """After the request: move the idle timer of the session it used (at most once a
    minute). A failure only brings the idle end a minute closer: logged, not shown."""
    session_id = g.pop("idp_session_to_touch", None)
    if session_id is not None:
        try:
            sessions.touch(session_id, utcnow())
            commit()
        except SQLAlchemyError as exc:
            rollback()
            log.warning("session idle timer not moved: %s", type(exc).__name__)
    return response


def end_browser_session(now, **details) -> None:
    """Log this browser out: its SSO session ends server side (audited, modules told by
    back-channel once committed) and its cookie is forgotten."""
    row = current_session()
    if row is not None:
        sessions.log_out(row, now, **details)
    session.clear()
