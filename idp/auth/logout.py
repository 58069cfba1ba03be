"""Logout from the IdP's own pages: ends the server-side session."""

from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import session
from flask import url_for

from idp.auth.current import current_session
from idp.auth.forms import LogoutForm
from idp.clock import utcnow
from idp.database import commit
from idp.security import sessions

bp = Blueprint("logout", __name__)


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """Ask to confirm (GET) or end the session (POST with CSRF)."""
    form = LogoutForm()
    if not form.validate_on_submit():
        if current_session() is None:
            return redirect(url_for("login.login"), 303)
        return render_template("auth/logout/confirm.html", form=form)
    row = current_session()
    if row is not None and sessions.log_out(row, utcnow()):
        commit()
    session.clear()
    return render_template("auth/logout/done.html")
