"""Forms of the interactive pages: shape only; the rules live in idp.security."""

from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import SelectField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import EqualTo
from wtforms.validators import Length
from wtforms.validators import Optional

from idp.forms import Form
from idp.security.secrets import MAX_QUESTION_LENGTH
from idp.security.secrets import MIN_QUESTION_LENGTH

REQUIRED = "Ce champ est obligatoire."
# Generous caps: long passphrases and pasted passwords pass, megabyte posts do not.
PASSWORD_CAP = 1024


class LoginForm(Form):
    identifier = StringField(
        "Identifiant", validators=[DataRequired(REQUIRED), Length(max=128)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        "Mot de passe", validators=[DataRequired(REQUIRED), Length(max=PASSWORD_CAP)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


class PasswordChangeForm(Form):
    new_password = PasswordField(
        "Nouveau mot de passe",
        validators=[DataRequired(REQUIRED), Length(max=PASSWORD_CAP)],
        render_kw={"autocomplete": "new-password", "data-strength-meter": "password-strength"},
    )
    confirmation = PasswordField(
        "Confirmation du nouveau mot de passe",
        validators=[
            DataRequired(REQUIRED),
            EqualTo("new_password", "Les deux mots de passe saisis ne sont pas identiques."),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class LogoutForm(Form):
    """A button only: the CSRF token makes logout a deliberate POST."""


class SecretQuestionForm(Form):
    question = SelectField("Question secrète", validators=[DataRequired(REQUIRED)])
    own_question = StringField(
        "Votre question (si vous avez choisi « Autre question »)",
        validators=[Optional(), Length(max=200)], render_kw={"autocomplete": "off"},
        description=f"Entre {MIN_QUESTION_LENGTH} et {MAX_QUESTION_LENGTH} caractères.",
    )
    answer = StringField(
        "Réponse secrète", validators=[DataRequired(REQUIRED), Length(max=200)],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )


class CaptchaForm(Form):
    text = StringField(
        "Saisissez les caractères de l'image",
        validators=[DataRequired(REQUIRED), Length(max=32)],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )


class NewCaptchaForm(Form):
    """« Afficher une autre image »: a POST, since it replaces the challenge."""


class AccountPasswordForm(PasswordChangeForm):
    """Change of password from the home page: the current one is asked first."""

    shown_first = ("current_password",)

    current_password = PasswordField(
        "Mot de passe actuel", validators=[DataRequired(REQUIRED), Length(max=PASSWORD_CAP)],
        render_kw={"autocomplete": "current-password"},
    )


class AccountSecretForm(SecretQuestionForm):
    """Change of the secret question from the home page (asks the current password)."""

    shown_first = ("current_password",)

    current_password = PasswordField(
        "Mot de passe actuel", validators=[DataRequired(REQUIRED), Length(max=PASSWORD_CAP)],
        render_kw={"autocomplete": "current-password"},
    )


class ForgotPasswordForm(Form):
    """Step 1: the identifier and the arithmetic question (docs/flows.md)."""

    identifier = StringField(
        "Identifiant", validators=[DataRequired(REQUIRED), Length(max=128)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    result = StringField(
        "Résultat", validators=[DataRequired(REQUIRED), Length(max=8)],
        render_kw={"autocomplete": "off", "inputmode": "numeric"},
    )


class ForgotAnswerForm(Form):
    """Step 2: the answer to the secret question."""

    answer = StringField(
        "Réponse secrète", validators=[DataRequired(REQUIRED), Length(max=200)],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
