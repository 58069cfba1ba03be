"""The pages every page's footer links to (docs/accessibility.md): the accessibility
statement, the legal notice, personal data and cookies.

They are open to everyone, logged in or not, and read nothing from the database,
so that they answer even when the database does not. What they state about the
cookies and the retention of data is read from the code that sets them, so that
the pages cannot drift from what the IdP does.
"""

from __future__ import annotations

from flask import Blueprint
from flask import current_app
from flask import render_template

from idp.auth import device
from idp.security import devices
from idp.security import purge
from idp.settings import settings

bp = Blueprint("legal", __name__, url_prefix="/legal")

# The statement's conformance state, as the footer and the statement say it. The RGAA
# (and the DSFR's footer documentation) allows « partiellement conforme » only with
# the result of an audit of the RGAA criteria; none has been made yet.
ACCESSIBILITY_STATUS = "non conforme"
STATEMENT_DATE = "1er décembre 2026"
RGAA_VERSION = "4.1.2"
# The agency, publisher of the service (legal notice, personal data, accessibility).
PUBLISHER = "Agence de Services et de Paiement (ASP)"
PUBLISHER_ADDRESS = "2 rue du Maupas, 87040 Limoges Cedex 1"


@bp.app_context_processor
def _footer_globals() -> dict:
    return {"accessibility_status": ACCESSIBILITY_STATUS}


def _page(template: str, **context):
    return render_template(f"legal/{template}.html", publisher=PUBLISHER,
                           publisher_address=PUBLISHER_ADDRESS, issuer=settings().issuer,
                           **context)


@bp.get("/accessibility")
def accessibility():
    """The RGAA accessibility statement."""
    return _page("accessibility", status=ACCESSIBILITY_STATUS, statement_date=STATEMENT_DATE,
                 rgaa_version=RGAA_VERSION)


@bp.get("/notice")
def legal_notice():
    """Publisher, publication director, hosting."""
    return _page("notice")


@bp.get("/personal-data")
def personal_data():
    """What the IdP keeps about a person, why, and for how long."""
    return _page("personal_data", session_retention_days=purge.SESSION_RETENTION.days,
                 **_session_lifetimes())


@bp.get("/cookies")
def cookies():
    """The cookies of the IdP: strictly necessary ones only."""
    return _page("cookies", session_cookie=current_app.config["SESSION_COOKIE_NAME"],
                 device_cookie=device.cookie_name(), device_days=devices.LIFETIME.days,
                 csrf_minutes=current_app.config["WTF_CSRF_TIME_LIMIT"] // 60,
                 **_session_lifetimes())


def _session_lifetimes() -> dict:
    return {"idle_minutes": settings().session_idle_minutes,
            "max_hours": settings().session_max_hours}
