"""Passwords: argon2id hashing, rehash, NFKC, provisional passwords and the policy (SPEC 4)."""

from __future__ import annotations

import unicodedata
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from idp.security import passwords
from idp.security.password_change import previous_hashes
from idp.security.password_change import set_password
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.conftest import reload

# 129 characters: sliced for the 64 and 128 character passphrases.
WORDS = (
    "Trombone-Lagune-Kiwi-Falaise-Moustique-Horloge-Cactus-Pinceau-Volcan-Tambour-Sardine-"
    "Grenier-Bretelle-Citrouille-Escargot-Parasol"
)
COMPOSED = "Caf\u00e9-Lumi\u00e8re-Orage-27"
DECOMPOSED = "Cafe\u0301-Lumie\u0300re-Orage-27"

MSG_TOO_SHORT = "Le mot de passe doit contenir au moins 12 caractères."
MSG_TOO_LONG = "Le mot de passe ne doit pas dépasser 128 caractères."
MSG_WEAK = (
    "Ce mot de passe est trop facile à deviner : allongez-le ou assemblez plusieurs mots "
    "sans rapport entre eux, sans reprendre votre nom ni votre identifiant."
)
MSG_HISTORY = (
    "Ce mot de passe fait partie de vos 5 derniers mots de passe : choisissez-en un nouveau."
)
MSG_PROVISIONAL = "Le nouveau mot de passe doit être différent du mot de passe provisoire."


def refusal(password: str, user) -> str | None:
    """The French reason the policy gives, or None when it accepts ``password``."""
    try:
        passwords.check_policy(password, user, previous_hashes(user))
    except passwords.PasswordRejected as rejection:
        return str(rejection)
    return None


# --- hashing -----------------------------------------------------------------------


def test_hash_is_salted_argon2id_and_verifies(app):
    first = passwords.hash_password(STRONG_PASSWORD)
    second = passwords.hash_password(STRONG_PASSWORD)
    assert first.startswith("$argon2id$v=19$")
    assert first != second
    assert passwords.verify_password(first, STRONG_PASSWORD)
    assert not passwords.verify_password(first, STRONG_PASSWORD + "x")
    assert not passwords.verify_password(first, STRONG_PASSWORD[:-1])


def test_absent_or_malformed_hash_never_matches(app):
    assert not passwords.verify_password(None, STRONG_PASSWORD)
    assert not passwords.verify_password("$argon2id$garbage", STRONG_PASSWORD)
    assert not passwords.verify_password("", STRONG_PASSWORD)


def test_hash_needs_rehash_when_the_profile_changes(app, monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_HASH_PROFILE", "owasp-minimum")
    stored = passwords.hash_password(STRONG_PASSWORD)
    assert "m=19456,t=2,p=1" in stored
    assert not passwords.needs_rehash(stored)
    monkeypatch.setitem(app.config, "PASSWORD_HASH_PROFILE", "owasp-strong")
    assert passwords.needs_rehash(stored)
    # The old hash still verifies under the new profile: the login can rehash it.
    assert passwords.verify_password(stored, STRONG_PASSWORD)


def test_successful_login_rehashes_the_stored_hash(app, client, make_user, monkeypatch):
    user = make_user()
    assert "m=19456,t=2,p=1" in user.password_hash
    monkeypatch.setitem(app.config, "PASSWORD_HASH_PROFILE", "owasp-strong")
    response = login(client, "jdupont", STRONG_PASSWORD)
    assert response.status_code == 303
    stored = reload(user).password_hash
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert not passwords.needs_rehash(stored)
    assert passwords.verify_password(stored, STRONG_PASSWORD)


def test_hashes_of_the_former_default_follow_the_new_one_at_the_next_login(
        app, client, make_user, monkeypatch):
    """owasp-strong was the default profile; a deployment that upgrades moves to
    owasp-minimum account by account, each at its next successful login."""
    monkeypatch.setitem(app.config, "PASSWORD_HASH_PROFILE", "owasp-strong")
    user = make_user()
    assert user.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    monkeypatch.setitem(app.config, "PASSWORD_HASH_PROFILE", "owasp-minimum")
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    stored = reload(user).password_hash
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify_password(stored, STRONG_PASSWORD)


def test_failed_login_does_not_rehash(app, client, make_user, monkeypatch):
    user = make_user()
    before = user.password_hash
    monkeypatch.setitem(app.config, "PASSWORD_HASH_PROFILE", "owasp-strong")
    login(client, "jdupont", "Pas-Le-Bon-Mot-De-Passe-1")
    assert reload(user).password_hash == before


# --- Unicode normalisation ---------------------------------------------------------


def test_composed_and_decomposed_accents_are_the_same_password(app):
    assert COMPOSED != DECOMPOSED
    assert unicodedata.normalize("NFC", DECOMPOSED) == COMPOSED
    assert passwords.verify_password(passwords.hash_password(COMPOSED), DECOMPOSED)
    assert passwords.verify_password(passwords.hash_password(DECOMPOSED), COMPOSED)


def test_login_with_the_other_encoding_of_an_accent(client, make_user):
    make_user(password=COMPOSED)
    assert login(client, "jdupont", DECOMPOSED).status_code == 303


# --- provisional passwords ---------------------------------------------------------


def test_provisional_passwords_are_long_random_and_unambiguous(app):
    alphabet = set(passwords.PROVISIONAL_ALPHABET)
    assert not alphabet & set("0O1lI")
    generated = [passwords.generate_provisional_password() for _ in range(50)]
    assert len(set(generated)) == 50
    for provisional in generated:
        assert len(provisional) >= 12
        assert set(provisional) <= alphabet


# --- the policy --------------------------------------------------------------------


def test_eleven_code_points_are_too_short_even_in_many_bytes(make_user):
    user = make_user()
    short = "Éléphant-☀1"
    assert len(short) == 11
    assert len(short.encode()) > 12
    assert refusal(short, user) == MSG_TOO_SHORT


def test_more_than_128_characters_is_too_long(make_user):
    user = make_user()
    assert len(WORDS) == 129
    assert refusal(WORDS, user) == MSG_TOO_LONG


@pytest.mark.parametrize(
    "weak",
    [
        "azertyuiop123",
        "motdepasse2024",
        "Motdepasse2024!",
        "Jdupont2024!!",
        "Mon-jdupont-Secret-91",
        "123456789012",
        "aaaaaaaaaaaaaaaa",
    ],
)
def test_weak_passwords_are_refused(make_user, weak):
    user = make_user()
    assert refusal(weak, user) == MSG_WEAK


def test_a_password_equal_to_the_provisional_one_is_refused(make_user):
    user = make_user("mleroy", provisional="Hibou-Sapin-Nuage-61")
    assert refusal("Hibou-Sapin-Nuage-61", user) == MSG_PROVISIONAL
    assert refusal(STRONG_PASSWORD, user) is None


def test_the_last_five_passwords_are_refused_the_sixth_is_not(make_user):
    user = make_user()
    chosen = [f"Trombone-Lagune-{word}-{n}" for n, word in
              enumerate(["Kiwi", "Falaise", "Horloge", "Cactus", "Volcan", "Sardine"], start=31)]
    start = datetime.now(UTC)
    for n, password in enumerate(chosen):
        set_password(user, password, start + timedelta(minutes=n), reason="test")
    for password in chosen[1:]:
        assert refusal(password, user) == MSG_HISTORY
    assert refusal(chosen[0], user) is None


@pytest.mark.parametrize(
    "strong",
    [
        "Kx7#mQ2$vL9p",  # 12 characters
        "Çà-Ñœß-Øπ-Ω7",  # 12 code points, 20 bytes
        WORDS[:64],
        WORDS[:128],
        "Girafe parapluie océan 93 🌊",
    ],
)
def test_strong_passwords_from_12_to_128_characters_are_accepted(make_user, strong):
    user = make_user()
    assert 12 <= len(strong) <= 128
    assert refusal(strong, user) is None


def test_a_128_character_password_is_not_truncated(client, make_user):
    user = make_user()
    set_password(user, WORDS[:128], datetime.now(UTC), reason="test")
    assert login(client, "jdupont", WORDS[:128] + "x").status_code == 200
    assert login(client, "jdupont", WORDS[:127]).status_code == 200
    assert login(client, "jdupont", WORDS[:128]).status_code == 303
