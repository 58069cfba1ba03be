"""Creating accounts from the console: one by one, or from a CSV file (docs/flows.md).

Both call what ``idp users create`` and ``idp users import`` call, so an
account made here is made exactly as on the command line: provisional
password, the two welcome mails, one audit row carrying the operator.
"""

from __future__ import annotations

from flask import Blueprint
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import url_for

from idp import mail
from idp.assistance import console
from idp.assistance import importer
from idp.assistance import permissions
from idp.assistance import services
from idp.assistance.actions import MSG_MAIL_FAILED
from idp.assistance.actions import grantable
from idp.assistance.forms import CreateAccountForm
from idp.assistance.forms import ImportForm
from idp.assistance.forms import french
from idp.clock import utcnow
from idp.database import commit
from idp.database import rollback
from idp.exceptions import InvalidInput

bp = Blueprint("assistance_creation", __name__, url_prefix="/assistance")
bp.before_request(console.require_operator)


def _new_account(form: CreateAccountForm) -> services.NewAccount:
    code = (form.habilitation.data or "").strip().lower()
    return services.NewAccount(
        login=form.login.data, email=form.email.data, given_name=form.given_name.data,
        family_name=form.family_name.data, siret=form.siret.data or None,
        habilitations=((code, (form.profile.data or "").strip()),) if code else (),
    )


@bp.route("/new-account", methods=["GET", "POST"])
def create_account():
    """Create an account; the user receives the two welcome mails."""
    form = CreateAccountForm()
    form.habilitation.choices = [("", "Aucune"), *grantable()]
    error = None
    if form.validate_on_submit():
        try:
            user = services.create_user(_new_account(form), actor=g.operator.login,
                                        reason=form.reason.data.strip(), now=utcnow())
        except permissions.OperatorNotAllowed as refused:
            rollback()
            return console.refused_page("create", refused, login=form.login.data)
        except InvalidInput as invalid:
            rollback()
            error = french(str(invalid))
        else:
            login = user.login
            commit()
            if mail.undelivered():
                flash(MSG_MAIL_FAILED, "warning")
            flash(f"Compte {login} créé ; les deux mails de bienvenue sont envoyés.", "success")
            return redirect(url_for("assistance.account_page", login=login), 303)
    page = render_template("assistance/create.html", form=form, error=error)
    return page, 400 if form.is_submitted() else 200


def _read_upload(form: ImportForm) -> str:
    """The uploaded file as text; InvalidInput when it is not UTF-8."""
    raw = form.file.data.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("le fichier n'est pas encodé en UTF-8") from None


@bp.route("/import", methods=["GET", "POST"])
def import_accounts():
    """Create accounts from a CSV file, line by line; report each line (created, or refused
    and why)."""
    form = ImportForm()
    error, results = None, None
    if form.validate_on_submit():
        try:
            text = _read_upload(form)
            results = importer.import_users(text, actor=g.operator.login,
                                            reason=form.reason.data.strip(), now=utcnow())
        except InvalidInput as invalid:
            rollback()
            error = french(str(invalid))
        else:
            # Each line was committed with its mails as it went (see importer).
            if any(result.failed_mails for result in results):
                flash(MSG_MAIL_FAILED, "warning")
    report = [(r.line, r.login, r.created, french(r.error or "")) for r in results or []]
    created = sum(result.created for result in results or [])
    page = render_template("assistance/import.html", form=form, error=error, results=results,
                           report=report, created=created, columns=importer.REQUIRED_COLUMNS)
    return page, 400 if form.is_submitted() and results is None else 200
