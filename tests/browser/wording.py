"""The project's wording the journeys read on the pages, copied from docs/flows.md.

The agency's own wording is in tests/user_guide.py; like it, these are written from
the user guide, never imported from ``idp``.
"""

from tests.user_guide import ASSISTANCE_PHONE

# On every page; under any required field left empty.
REQUIRED = "Ce champ est obligatoire."
FOOTER = (
    f"Besoin d'aide ? Appelez l'Assistance au {ASSISTANCE_PHONE} ou consultez le manuel "
    "utilisateur."
)

# The end of every error page.
ERROR_HELP = f"Pour toute aide, appelez l'Assistance au {ASSISTANCE_PHONE}."

# The login's refusals, under the agency's message.
TRIES_LEFT_2 = "Il vous reste 2 essais."
TRIES_LEFT_1 = "Il vous reste 1 essai."
NOW_LOCKED = (
    "Votre compte est maintenant verrouillé pendant 20 minutes. Vous pourrez réessayer "
    "ensuite, utiliser le lien « J'ai oublié mon mot de passe » ou appeler l'Assistance au "
    f"{ASSISTANCE_PHONE}."
)
LOCKED_MAIL_SUBJECT = "BonusEco — votre compte est temporairement verrouillé"

# The password change.
PROVISIONAL_NOTICE = (
    "Vous vous êtes connecté avec un mot de passe provisoire : choisissez maintenant votre "
    "mot de passe personnel."
)
EXPIRED_NOTICE = "Votre mot de passe a expiré : vous devez le changer avant de poursuivre."
TOO_EASY = (
    "Ce mot de passe est trop facile à deviner : allongez-le ou assemblez plusieurs mots "
    "sans rapport entre eux, sans reprendre votre nom ni votre identifiant."
)

# The first connection's captcha.
CAPTCHA_ALT = (
    "Image contenant les caractères à recopier (version audio disponible ci-dessous)"
)
CAPTCHA_WRONG = (
    "Les caractères saisis ne correspondent pas à l'image. Une nouvelle image vous est "
    "proposée si nécessaire : recommencez."
)

# The forgotten password.
WRONG_RESULT = "Le résultat est incorrect : une nouvelle opération vous est proposée."
NEW_PROVISIONAL_MAIL_SUBJECT = "BonusEco — votre nouveau mot de passe provisoire"

# The home page of a person no module is open to.
NO_APPLICATION = (
    "Aucune application ne vous est ouverte pour le moment. Contactez l'Assistance au "
    f"{ASSISTANCE_PHONE}."
)

# The missing habilitation, under the agency's message.
FORBIDDEN_HELP = f"Si vous pensez devoir y accéder, appelez l'Assistance au {ASSISTANCE_PHONE}."

# Logout.
LOGOUT_QUESTION = "Se déconnecter de BonusEco ?"
LOGGED_OUT_TITLE = "Vous êtes déconnecté"
LOGGED_OUT = "Votre session BonusEco est terminée."
LOG_IN_AGAIN = "Se connecter à nouveau"
MODULE_ASKS_LOGOUT = "L'application « {name} » demande votre déconnexion de BonusEco."
LOGOUT_EVERYWHERE = (
    "Vous serez déconnecté de toutes les applications BonusEco ouvertes avec cette session."
)

# The Assistance console.
REASON_MISSING = "Indiquez le motif de l'action (il est enregistré dans le journal d'audit)."
CONFIRM_MISSING = "Cochez la case pour confirmer l'action."
