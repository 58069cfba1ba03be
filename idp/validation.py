"""Shape checks of account data, with French messages (CLI, CSV import, console)."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime

from idp.exceptions import InvalidInput
from idp.security.identifiers import normalise_login

LOGIN_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
EMAIL_RE = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
NAME_RE = re.compile(r"^[^\x00-\x1f<>]{1,100}$")
# Actors of the command line and of the demo seeding: an account by these names
# would be taken for them in the audit trail (its « actor » column).
RESERVED_LOGINS = ("cli", "demo")


def check_login(raw: str) -> str:
    login = normalise_login(raw)
    if not LOGIN_RE.match(login):
        raise InvalidInput(
            f"identifiant invalide « {raw[:64]} » : 2 à 64 caractères parmi a-z, 0-9, . _ -"
        )
    if login in RESERVED_LOGINS:
        raise InvalidInput(f"l'identifiant « {login} » est réservé")
    return login


def check_email(raw: str) -> str:
    email = (raw or "").strip()
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise InvalidInput(f"adresse électronique invalide « {email[:80]} »")
    return email


def check_name(raw: str, what: str) -> str:
    name = (raw or "").strip()
    if not NAME_RE.match(name):
        raise InvalidInput(f"{what} invalide : 1 à 100 caractères")
    return name


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def check_siret(raw: str | None) -> str | None:
    """14 digits with a valid Luhn key (a SIRET); empty means none."""
    siret = (raw or "").replace(" ", "")
    if not siret:
        return None
    # ASCII digits only: str.isdigit() also accepts « ² » (int() refuses it) or « ١ ».
    if not (len(siret) == 14 and siret.isascii() and siret.isdigit() and luhn_ok(siret)):
        raise InvalidInput(f"SIRET invalide « {siret[:20]} » : 14 chiffres avec une clé valide")
    return siret


def parse_habilitation(raw: str) -> tuple[str, str]:
    """``CODE[:PROFILE]`` -> (code, profile)."""
    code, _, profile = (raw or "").strip().partition(":")
    code, profile = code.strip().lower(), profile.strip()
    if not re.match(r"^[a-z0-9_-]{1,64}$", code) or len(profile) > 64:
        raise InvalidInput(f"habilitation invalide « {raw[:70]} » : CODE ou CODE:PROFIL")
    return code, profile


def parse_date(raw: str | None, what: str) -> datetime | None:
    """A day ``AAAA-MM-JJ`` (midnight UTC), or None when empty."""
    if not raw:
        return None
    try:
        day = datetime.strptime(raw.strip(), "%Y-%m-%d")
    except ValueError:
        raise InvalidInput(f"{what} invalide « {raw[:20]} » : format AAAA-MM-JJ") from None
    return day.replace(tzinfo=UTC)
