"""Forms of the Assistance console: shape only, French messages.

The business rules (formats, existence, the operator rules) live in
``validation.py`` and ``services.py``; the field validators below only reuse
``validation`` so that an error is shown beside its field.
"""

from __future__ import annotations

from flask_wtf.file import FileField
from flask_wtf.file import FileRequired
from wtforms import BooleanField
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import ValidationError

from idp import validation
from idp.exceptions import InvalidInput
from idp.forms import Form

REQUIRED = "Ce champ est obligatoire."
REASON_REQUIRED = "Indiquez le motif de l'action (il est enregistré dans le journal d'audit)."
CONFIRM_REQUIRED = "Cochez la case pour confirmer l'action."
REASON_MIN, REASON_MAX = 3, 500


def french(message: str) -> str:
    """Service messages are sentence fragments (« identifiant invalide … »): capitalise."""
    return message[:1].upper() + message[1:]


def checked_by(check, *args):
    """A field validator from a ``validation`` function (its InvalidInput in French)."""

    def validator(_form, field) -> None:
        try:
            check(field.data, *args)
        except InvalidInput as error:
            raise ValidationError(french(str(error))) from None

    return validator


def _date(what: str):
    return StringField(
        what, validators=[checked_by(validation.parse_date, what.split(" (")[0].lower())],
        render_kw={"type": "date", "autocomplete": "off"},
    )


class SearchForm(Form):
    """A GET form: nothing changes, so no CSRF token in the bookmarkable URL."""

    class Meta:
        csrf = False

    q = StringField("Rechercher un compte", validators=[Length(max=100)],
                    render_kw={"autocomplete": "off", "spellcheck": "false", "type": "search"})


class ReasonForm(Form):
    """Every operator action carries a reason, kept in the audit trail."""

    reason = TextAreaField(
        "Motif", validators=[
            DataRequired(REASON_REQUIRED),
            Length(REASON_MIN, REASON_MAX,
                   f"Le motif compte de {REASON_MIN} à {REASON_MAX} caractères."),
        ],
        render_kw={"rows": 2, "autocomplete": "off"},
    )


class ConfirmForm(ReasonForm):
    """The confirmation step of the destructive actions."""

    confirm = BooleanField("Je confirme cette action", validators=[DataRequired(CONFIRM_REQUIRED)])


class GrantForm(ReasonForm):
    # Choices are filled by the view; an unknown code is refused by the service
    # in French (WTForms' own « Not a valid choice » is English).
    habilitation = SelectField("Habilitation", validate_choice=False,
                               validators=[DataRequired(REQUIRED)])
    profile = StringField("Profil (facultatif)", validators=[
        Length(max=64, message="Le profil compte au plus 64 caractères.")],
        render_kw={"autocomplete": "off"})
    starts_at = _date("Date de début (facultative)")
    ends_at = _date("Date de fin (facultative)")


class CreateAccountForm(ReasonForm):
    login = StringField("Identifiant", validators=[DataRequired(REQUIRED),
                                                   checked_by(validation.check_login)],
                        render_kw={"autocomplete": "off", "autocapitalize": "none",
                                   "spellcheck": "false"})
    email = StringField("Adresse électronique", validators=[
        DataRequired(REQUIRED), checked_by(validation.check_email)],
        render_kw={"autocomplete": "off", "type": "email", "spellcheck": "false"})
    given_name = StringField("Prénom", validators=[
        DataRequired(REQUIRED), checked_by(validation.check_name, "prénom")],
        render_kw={"autocomplete": "off"})
    family_name = StringField("Nom", validators=[
        DataRequired(REQUIRED), checked_by(validation.check_name, "nom")],
        render_kw={"autocomplete": "off"})
    siret = StringField("SIRET (facultatif)", validators=[checked_by(validation.check_siret)],
                        render_kw={"autocomplete": "off", "inputmode": "numeric"})
    habilitation = SelectField("Habilitation", validate_choice=False)
    profile = StringField("Profil (facultatif)", validators=[
        Length(max=64, message="Le profil compte au plus 64 caractères.")],
        render_kw={"autocomplete": "off"})


class ImportForm(ReasonForm):
    file = FileField("Fichier CSV", validators=[FileRequired("Choisissez un fichier CSV.")],
                     render_kw={"accept": ".csv,text/csv"})
