"""The home page « Mes applications » of a signed-in user (SPEC 2)."""

from flask import render_template
from sqlalchemy import select

from idp.auth import bp
from idp.auth.current import current_session
from idp.auth.current import login_required
from idp.auth.forms import LogoutForm
from idp.clock import utcnow
from idp.extensions import db
from idp.models import Client
from idp.security.password_change import expiry_of


def modules_for(user, now) -> list[Client]:
    """The active modules whose habilitation the user currently holds."""
    valid = {grant.habilitation_id for grant in user.grants if grant.is_valid(now)}
    if not valid:
        return []
    stmt = (
        select(Client)
        .where(Client.is_active.is_(True), Client.habilitation_id.in_(valid))
        .order_by(Client.name)
    )
    return list(db.session.execute(stmt).scalars())


@bp.route("/")
@login_required
def home():
    """List the modules the user may open."""
    now = utcnow()
    user = current_session().user
    return render_template(
        "auth/home/home.html",
        user=user,
        modules=modules_for(user, now),
        password_expires_at=expiry_of(user),
        logout_form=LogoutForm(),
    )
