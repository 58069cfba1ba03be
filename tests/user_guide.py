"""The French words a person reads, as the user guide (docs/flows.md) writes them.

Written from the user guide, never imported from ``idp``: a test that takes its
expected message from the code it tests cannot fail when the code's message is
wrong. The first part is the agency's own wording (the procedure sheet its users
receive), quoted in docs/flows.md character for character and marked (agency
wording) there: it must never change. The last part is the project's own
wording, copied from docs/flows.md too.

Where a message holds the Assistance phone number, the constant holds the
default, ``ASSISTANCE_PHONE`` (``IDP_ASSISTANCE_PHONE``).
"""

# --- the agency's wording ---------------------------------------------------------

# On every page and in the mails.
ASSISTANCE_PHONE = "0 800 74 74 00"

# The login page.
IDENTIFIER_LABEL = "Identifiant"
PASSWORD_LABEL = "Mot de passe"
LOGIN_BUTTON = "Se connecter"
FORGOT_PASSWORD_LINK = "J'ai oublié mon mot de passe"

# The login's refusals.
MSG_INVALID_CREDENTIALS = "Le couple identifiant/ mot de passe est incorrecte"
MSG_ACCOUNT_LOCKED = (
    "Le compte a été verrouillé suite à un trop grand nombre d'échecs de connexion "
    "avec cet identifiant utilisateur"
)
MSG_HABILITATION_MISSING = (
    "Vous n'avez pas les autorisations requises pour vous connecter sur cette application"
)

# The password change and the first connection's steps.
NEW_PASSWORD_LABEL = "Nouveau mot de passe"
NEW_PASSWORD_CONFIRMATION_LABEL = "Confirmation du nouveau mot de passe"
SECRET_QUESTION_LABEL = "Question secrète"
SECRET_ANSWER_LABEL = "Réponse secrète"
CAPTCHA_LABEL = "Saisissez les caractères de l'image"

# The forgotten password.
ARITHMETIC_EXAMPLE = "Combien font 7 + 5 ?"
ARITHMETIC_RESULT_LABEL = "Résultat"
MSG_FORGOT_PASSWORD_DONE = "Procédure terminée, merci de vérifier votre boîte aux lettres"
MSG_SECRETS_NOT_SET = (
    "L'ensemble des secrets (question/réponse secrètes) n'étant pas renseigné pour votre "
    "compte utilisateur, merci de bien vouloir contacter le service assistance de "
    "0.800.74.74.00"
)

# The home page of a signed-in person.
HOME_TITLE = "Mes applications"

# The habilitations that exist once the database is set up.
BONUSECO_LABEL = "Bonus Eco"
ASSISTANCE_LABEL = "Assistance"

# Lines of the mails (each followed by its value).
MAIL_PROVISIONAL_PASSWORD_LINE = "Mot de passe provisoire : "
MAIL_IDENTIFIER_LINE = "Identifiant : "
MAIL_HABILITATION_LINE = "Habilitation : "

# --- the project's wording, from docs/flows.md ------------------------------------

# A form posted without its anti-forgery token.
MSG_FORM_EXPIRED = (
    "Le formulaire a expiré ou n'a pas été envoyé depuis cette page. Rechargez la page "
    "et recommencez."
)
