"""Passwords: argon2id hashing, provisional passwords, the policy and expiry (docs/security.md)."""

from __future__ import annotations

import secrets
import unicodedata
from datetime import datetime
from datetime import timedelta

from argon2 import PasswordHasher
from argon2 import Type
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError
from zxcvbn import zxcvbn

from idp.exceptions import IdpError
from idp.settings import settings

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_SCORE = 3
HISTORY_SIZE = 5
# Unambiguous alphabet: no 0/O, 1/l/I.
PROVISIONAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
PROVISIONAL_LENGTH = 14
# Roots of the commonest French passwords, absent from zxcvbn's English
# dictionaries (« motdepasse2024 » would score 3): penalised like the user's data.
COMMON_FRENCH_WORDS = (
    "motdepasse", "azerty", "azertyuiop", "soleil", "bonjour", "jetaime", "doudou", "loulou",
    "chouchou", "coucou", "bienvenue", "chocolat", "princesse", "vacances", "amour",
    "liberte", "france", "marseille", "toulouse", "secret",
)
# The login or family name inside a password is refused outright when at least this long.
MIN_IDENTITY_LENGTH = 4

# argon2id profiles. "owasp-minimum" (the default) is the set OWASP's password storage
# cheat sheet recommends (m=19 MiB, t=2, p=1); "owasp-strong" is argon2-cffi's default,
# RFC 9106's second recommendation (m=64 MiB, t=3, p=4), 7-9 times the CPU per login.
# The choice: docs/deployment.md, « Password hashing profile ».
PROFILES = {
    "owasp-strong": {"time_cost": 3, "memory_cost": 65536, "parallelism": 4},
    "owasp-minimum": {"time_cost": 2, "memory_cost": 19456, "parallelism": 1},
}

_hashers: dict[str, PasswordHasher] = {}


class PasswordRejected(IdpError):
    """A new password that breaks the policy; ``str()`` is the French reason."""


def hasher() -> PasswordHasher:
    name = settings().password_hash_profile
    if name not in _hashers:
        _hashers[name] = PasswordHasher(type=Type.ID, **PROFILES[name])
    return _hashers[name]


def normalise(password: str) -> str:
    """NFKC form, so that composed and decomposed « é » are the same password."""
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    return hasher().hash(normalise(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Check a password; an absent or malformed hash still costs one verification."""
    if stored_hash is None or len(password) > MAX_LENGTH * 4:
        dummy_verify()
        return False
    try:
        return hasher().verify(stored_hash, normalise(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return hasher().check_needs_rehash(stored_hash)


_dummy: dict[str, str] = {}


def dummy_verify() -> None:
    """Spend the time of one real verification (unknown identifiers: no timing difference)."""
    h = hasher()
    key = f"{h.time_cost}:{h.memory_cost}:{h.parallelism}"
    if key not in _dummy:
        _dummy[key] = h.hash(secrets.token_urlsafe(16))
    try:
        h.verify(_dummy[key], "not-the-password")
    except VerificationError:
        pass


def dummy_hash() -> None:
    """Spend the time of hashing a new password (a reset that sends nothing)."""
    hasher().hash(secrets.token_urlsafe(16))


def generate_provisional_password() -> str:
    """A random provisional password from an unambiguous alphabet."""
    return "".join(secrets.choice(PROVISIONAL_ALPHABET) for _ in range(PROVISIONAL_LENGTH))


def password_expires_at(changed_at: datetime | None, max_age_days: int) -> datetime | None:
    if changed_at is None:
        return None
    return changed_at + timedelta(days=max_age_days)


def is_password_expired(changed_at: datetime | None, max_age_days: int, now: datetime) -> bool:
    expires = password_expires_at(changed_at, max_age_days)
    return expires is not None and expires <= now


def strength(password: str, user_inputs: list[str]) -> int:
    """zxcvbn score 0-4 with the user's own data as penalised words."""
    if not password:
        return 0
    return zxcvbn(password[:MAX_LENGTH], user_inputs=user_inputs, max_length=MAX_LENGTH)["score"]


def user_inputs_of(user) -> list[str]:
    """Words an attacker would try first for this user (zxcvbn user_inputs)."""
    words = [user.login, user.email, user.given_name, user.family_name,
             user.email.split("@")[0], "bonuseco", "bonus", "asp", "agence"]
    if user.siret:
        words.append(user.siret)
    words.extend(COMMON_FRENCH_WORDS)
    return [w.lower() for w in words if w]


def reuses_identity(password: str, user) -> bool:
    """Whether the password contains the login or the family name (zxcvbn only lowers
    the score: « Jdupont2024!! » would still pass)."""
    lowered = password.casefold()
    return any(
        len(word) >= MIN_IDENTITY_LENGTH and word.casefold() in lowered
        for word in (user.login, user.family_name) if word
    )


def check_policy(password: str, user, previous_hashes: list[str]) -> None:
    """Raise PasswordRejected with the French reason when ``password`` breaks the policy.

    ``previous_hashes`` holds the current password, the last ones and the
    outstanding provisional password: none of them may be reused.
    """
    password = normalise(password)
    length = len(password)  # code points, not bytes
    if length < MIN_LENGTH:
        raise PasswordRejected(f"Le mot de passe doit contenir au moins {MIN_LENGTH} caractères.")
    if length > MAX_LENGTH:
        raise PasswordRejected(f"Le mot de passe ne doit pas dépasser {MAX_LENGTH} caractères.")
    if reuses_identity(password, user) or strength(password, user_inputs_of(user)) < MIN_SCORE:
        raise PasswordRejected(
            "Ce mot de passe est trop facile à deviner : allongez-le ou assemblez plusieurs "
            "mots sans rapport entre eux, sans reprendre votre nom ni votre identifiant."
        )
    if user.provisional_hash and verify_password(user.provisional_hash, password):
        raise PasswordRejected(
            "Le nouveau mot de passe doit être différent du mot de passe provisoire."
        )
    for stored in previous_hashes:
        if verify_password(stored, password):
            raise PasswordRejected(
                f"Ce mot de passe fait partie de vos {HISTORY_SIZE} derniers mots de passe : "
                "choisissez-en un nouveau."
            )
