"""The home page « Mes applications » of a signed-in user (docs/flows.md)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import session
from flask import url_for

from idp import audit
from idp.assistance.permissions import may_operate
from idp.auth import user_agents
from idp.auth.current import current_session
from idp.auth.flow import login_required
from idp.auth.forms import LogoutForm
from idp.clock import fr_date
from idp.clock import fr_datetime
from idp.clock import utcnow
from idp.database import commit
from idp.models import UserSession
from idp.oidc.clients import modules_open_to
from idp.security import sessions
from idp.security.password_change import expiry_of

bp = Blueprint("home", __name__)

RECENT_CONNECTIONS = 10
MSG_SESSION_ENDED = "La session a été fermée."


@dataclass
class SessionLine:
    """An open session as the table shows it."""

    sid: str
    opened: str
    last_seen: str
    ip: str
    device: str
    is_current: bool


def recent_connections(user) -> list[tuple[str, str]]:
    """(date, IP) of the user's last logins, from the audit trail."""
    return [(fr_datetime(row.created_at), row.ip or "inconnue")
            for row in audit.recent_events(user, "login.success", RECENT_CONNECTIONS)]


def open_sessions(current: UserSession, now) -> list[SessionLine]:
    return [
        SessionLine(row.sid, fr_datetime(row.created_at), fr_datetime(row.last_seen_at),
                    row.ip or "inconnue", user_agents.describe(row.user_agent),
                    row.id == current.id)
        for row in sessions.live_sessions(current.user_id, now)
    ]


@bp.route("/")
@login_required
def home():
    """List the modules the user may open, recent connections and open sessions."""
    now = utcnow()
    current = current_session()
    user = current.user
    return render_template(
        "auth/home/home.html",
        user=user,
        modules=modules_open_to(user, now),
        password_expires_on=fr_date(expiry) if (expiry := expiry_of(user)) else None,
        connections=recent_connections(user),
        open_sessions=open_sessions(current, now),
        is_operator=may_operate(user, now),
        logout_form=LogoutForm(),
    )


@bp.post("/sessions/<sid>/end")
@login_required
def end_session(sid: str):
    """End one of the user's own sessions (CSRF checked); back-channel logout follows."""
    LogoutForm().validate_on_submit()  # CSRFProtect already refused a bad token
    now = utcnow()
    current = current_session()
    row = next((r for r in sessions.live_sessions(current.user_id, now) if r.sid == sid), None)
    if row is not None and sessions.log_out(row, now, via="home"):
        commit()
    if row is not None and row.id == current.id:
        session.clear()
        return render_template("auth/logout/done.html")
    flash(MSG_SESSION_ENDED, "success")
    return redirect(url_for("home.home"), 303)
