"""Password rules beside tests/security/test_passwords.py: the argon2 hasher of each
profile, the cost of an unknown identifier, the longest password checked, the words
penalised for each user and the exact thresholds of the policy (SPEC 4, PWD-*)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from argon2 import Type

from idp.security import passwords
from tests.conftest import OTHER_STRONG_PASSWORD

MSG_WEAK = (
    "Ce mot de passe est trop facile à deviner : allongez-le ou assemblez plusieurs mots "
    "sans rapport entre eux, sans reprendre votre nom ni votre identifiant."
)
# A profile cheaper than any real one, to see which profile a hash was made with.
CHEAP_PROFILE = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


@pytest.fixture
def argon2_work(monkeypatch) -> dict:
    """Every argon2 hash and verification made, with the hash verified against."""
    work: dict = {"hash": 0, "verify": []}
    real_hash, real_verify = PasswordHasher.hash, PasswordHasher.verify

    def hashed(self, password, *args, **kwargs):
        work["hash"] += 1
        return real_hash(self, password, *args, **kwargs)

    def verified(self, hash_, password):
        work["verify"].append(hash_)
        return real_verify(self, hash_, password)

    monkeypatch.setattr(PasswordHasher, "hash", hashed)
    monkeypatch.setattr(PasswordHasher, "verify", verified)
    return work


@pytest.fixture
def fresh_caches(monkeypatch):
    """No hasher and no dummy hash made yet, as in a new worker process."""
    monkeypatch.setattr(passwords, "_hashers", {})
    monkeypatch.setattr(passwords, "_dummy", {})


def refusal(password: str, user, previous: list[str] | None = None) -> str | None:
    try:
        passwords.check_policy(password, user, previous or [])
    except passwords.PasswordRejected as rejection:
        return str(rejection)
    return None


# --- hashing -----------------------------------------------------------------------


def test_each_profile_gets_one_argon2id_hasher_with_its_parameters(app, monkeypatch,
                                                                   fresh_caches):
    minimum = passwords.hasher()
    assert passwords.hasher() is minimum
    assert (minimum.type, minimum.time_cost, minimum.memory_cost, minimum.parallelism) == (
        Type.ID, 2, 19456, 1)
    assert passwords.hash_password(OTHER_STRONG_PASSWORD).startswith(
        "$argon2id$v=19$m=19456,t=2,p=1$")

    monkeypatch.setitem(app.config, "PASSWORD_HASH_PROFILE", "owasp-strong")
    strong = passwords.hasher()
    assert strong is passwords.hasher()
    assert (strong.type, strong.time_cost, strong.memory_cost, strong.parallelism) == (
        Type.ID, 3, 65536, 4)


def test_an_unknown_identifier_costs_one_verification_of_the_current_profile(
        app, monkeypatch, fresh_caches, argon2_work):
    passwords.dummy_verify()
    passwords.dummy_verify()
    # One hash made once, then only verifications against it (LOGIN-02).
    assert argon2_work["hash"] == 1
    first, second = argon2_work["verify"]
    assert first == second
    assert first.startswith("$argon2id$v=19$m=19456,t=2,p=1$")

    monkeypatch.setitem(passwords.PROFILES, "cheap", CHEAP_PROFILE)
    monkeypatch.setitem(app.config, "PASSWORD_HASH_PROFILE", "cheap")
    argon2_work["verify"].clear()
    passwords.dummy_verify()
    # After a profile change, the dummy costs what a real check now costs.
    assert argon2_work["hash"] == 2
    [after_change] = argon2_work["verify"]
    assert after_change.startswith("$argon2id$v=19$m=8,t=1,p=1$")


def test_a_password_of_up_to_512_characters_is_checked_a_longer_one_never(app, argon2_work):
    longest = ("Trombone-Lagune-Kiwi-" * 25)[:512]
    assert passwords.verify_password(passwords.hash_password(longest), longest)
    too_long = longest + "x"
    stored = passwords.hash_password(too_long)
    argon2_work["verify"].clear()
    assert not passwords.verify_password(stored, too_long)
    # Refused without hashing it: one verification of the dummy hash, never of ``stored``.
    assert stored not in argon2_work["verify"]
    assert len(argon2_work["verify"]) == 1


def test_provisional_passwords_have_exactly_14_characters(app):
    for _ in range(20):
        assert len(passwords.generate_provisional_password()) == passwords.PROVISIONAL_LENGTH
    assert passwords.PROVISIONAL_LENGTH == 14


# --- the words penalised -----------------------------------------------------------


def test_the_words_an_attacker_tries_first_are_the_users_own_lower_cased(make_user):
    user = make_user("mrose", email="Mimi.Rose@Example.test", siret="73282932000074",
                     given_name="Mimi", family_name="Rose")
    assert passwords.user_inputs_of(user) == [
        "mrose", "mimi.rose@example.test", "mimi", "rose", "mimi.rose",
        "bonuseco", "bonus", "asp", "agence", "73282932000074",
        *passwords.COMMON_FRENCH_WORDS,
    ]


def test_an_account_without_siret_has_no_siret_word(make_user):
    user = make_user("mrose", email="mimi.rose@example.test", siret=None)
    assert passwords.user_inputs_of(user)[4:10] == [
        "mimi.rose", "bonuseco", "bonus", "asp", "agence", passwords.COMMON_FRENCH_WORDS[0]]


def test_the_siret_or_the_name_of_the_mailbox_makes_a_password_guessable(make_user):
    company = make_user("mrose", siret="73282932000074")
    other = make_user("pmartin")
    assert refusal("Kiwi-73282932000074", company) == MSG_WEAK
    assert refusal("Kiwi-73282932000074", other) is None

    mailbox = make_user("lmartin", email="mimirose@example.test")
    assert refusal("Mimirose1979!", mailbox) == MSG_WEAK
    assert refusal("Mimirose1979!", other) is None


def test_an_empty_password_has_strength_zero():
    assert passwords.strength("", []) == 0


# --- the thresholds ----------------------------------------------------------------


def test_a_family_name_of_four_letters_is_refused_inside_a_password(make_user):
    roux = make_user("pmartin", family_name="Roux")
    assert refusal("Roux-Girafe-Parapluie-93", roux) == MSG_WEAK
    # Three letters are too common to refuse outright (zxcvbn still weighs them).
    roy = make_user("qmartin", family_name="Roy")
    assert refusal("Roy-Girafe-Parapluie-93", roy) is None


def test_a_score_of_exactly_three_is_enough(make_user):
    user = make_user()
    assert passwords.strength("Jardin-Soleil", passwords.user_inputs_of(user)) == 3
    assert refusal("Jardin-Soleil", user) is None


def test_the_policy_verifies_only_the_hashes_it_is_given(make_user, argon2_work):
    user = make_user()
    assert user.provisional_hash is None
    assert refusal(OTHER_STRONG_PASSWORD, user) is None
    assert argon2_work["verify"] == []
    assert refusal(OTHER_STRONG_PASSWORD, user, [user.password_hash]) is None
    assert argon2_work["verify"] == [user.password_hash]
