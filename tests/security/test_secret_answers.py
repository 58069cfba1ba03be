"""The secret question and its answer (idp.security.secrets, SPEC 1.1 step 3, SPEC 4):
normalisation, the limits to the character, the French refusals, the password probe of the
first connection, and what storing them leaves behind (audit row, notice mail over SMTP)."""

from __future__ import annotations

import secrets as random
from datetime import UTC
from datetime import datetime

import pytest

from idp.database import commit
from idp.security import passwords
from idp.security import secrets
from tests.conftest import SECRET_ANSWER
from tests.conftest import reload

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWN_QUESTION = "Quel était le surnom de mon grand-père ?"
MSG_CHOOSE = "Choisissez une question dans la liste."
MSG_QUESTION_LENGTH = "Votre question doit contenir entre 10 et 200 caractères."
MSG_SHORT = "La réponse secrète doit contenir au moins 4 caractères."
MSG_LONG = "La réponse secrète ne doit pas dépasser 100 caractères."
MSG_LOGIN = "La réponse secrète ne doit pas contenir votre identifiant."
MSG_PASSWORD = "La réponse secrète ne doit pas contenir votre mot de passe."


class Account:
    login = "jdupont"


def refusal(call, *args, **kwargs) -> str:
    with pytest.raises(secrets.SecretRejected) as refused:
        call(*args, **kwargs)
    return str(refused.value)


# --- normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "stored"), [
    ("  Élodie  ", "elodie"),
    ("Cre\u0301pe  au   SUCRE", "crepe au sucre"),  # a decomposed accent
    ("ﬁdèle\tami", "fidele ami"),  # a compatibility ligature, a tab
    ("Straße", "strasse"),
    ("", ""),
    (None, ""),
])
def test_answers_are_compared_without_case_accents_or_extra_spaces(typed, stored):
    assert secrets.normalise_answer(typed) == stored


# --- the question ------------------------------------------------------------------------


def test_a_question_of_the_list_is_kept_as_it_is():
    for question in secrets.QUESTIONS:
        assert secrets.choose_question(question, "ignorée") == question


def test_anything_else_than_the_list_or_other_is_refused():
    assert refusal(secrets.choose_question, "Quelle est votre couleur ?", OWN_QUESTION) == \
        MSG_CHOOSE
    assert refusal(secrets.choose_question, "", OWN_QUESTION) == MSG_CHOOSE


def test_an_own_question_is_kept_with_its_spaces_collapsed():
    spaced = f"  {OWN_QUESTION.replace(' ', '  ')}\t"
    assert secrets.choose_question(secrets.OTHER_QUESTION, spaced) == OWN_QUESTION


@pytest.mark.parametrize(("wording", "accepted"), [
    ("x" * 9, False), ("x" * 10, True), ("x" * 200, True), ("x" * 201, False),
    ("", False), (None, False), ("   ", False),
])
def test_an_own_question_has_10_to_200_characters(wording, accepted):
    if accepted:
        assert secrets.choose_question(secrets.OTHER_QUESTION, wording) == wording
    else:
        assert refusal(secrets.choose_question, secrets.OTHER_QUESTION, wording) == \
            MSG_QUESTION_LENGTH


# --- the answer --------------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "outcome"), [
    ("abc", MSG_SHORT), ("  a b ", MSG_SHORT), ("", MSG_SHORT), ("abcd", "abcd"),
    ("É" * 100, "e" * 100), ("e" * 101, MSG_LONG),
])
def test_an_answer_has_4_to_100_characters_once_normalised(answer, outcome):
    if outcome.startswith("La réponse"):
        assert refusal(secrets.check_answer, answer, Account()) == outcome
    else:
        assert secrets.check_answer(answer, Account()) == outcome


def test_an_answer_containing_the_login_is_refused():
    assert refusal(secrets.check_answer, "Chez JDupont", Account()) == MSG_LOGIN
    assert secrets.check_answer("Chez Dupont", Account()) == "chez dupont"


def test_an_answer_containing_the_current_password_is_refused():
    """Changing them from the account page: the password typed is known in clear."""
    assert refusal(secrets.check_answer, "mon Girafe-Parapluie ici", Account(),
                   password="GIRAFE-parapluie") == MSG_PASSWORD
    assert secrets.check_answer("mon Girafe ici", Account(), password="Girafe-Parapluie") == \
        "mon girafe ici"


def test_at_first_connection_the_answer_is_given_to_the_password_check_as_typed():
    seen = []

    def contains(answer):
        seen.append(answer)
        return answer.endswith("!")

    assert refusal(secrets.check_answer, "Rantanplan!", Account(),
                   contains_password_check=contains) == MSG_PASSWORD
    assert secrets.check_answer(" Rantanplan ", Account(), contains_password_check=contains) \
        == "rantanplan"
    assert seen == ["Rantanplan!", " Rantanplan "]
    # Without any password to compare, the answer passes.
    assert secrets.check_answer("Rantanplan!", Account()) == "rantanplan!"


# --- the password probe (first connection: the password is no longer known in clear) ----


PASSWORD = "Girafe-Parapluie-93"


@pytest.fixture
def probe() -> tuple[bytes, str, int]:
    key = random.token_bytes(32)
    return key, secrets.password_probe(key, PASSWORD), len(passwords.normalise(PASSWORD))


@pytest.mark.parametrize(("answer", "contains"), [
    (PASSWORD, True),  # the whole answer
    (PASSWORD.upper() + " et la suite", True),  # at the start, another case
    ("devant " + PASSWORD.lower(), True),  # at the very end
    ("devant " + PASSWORD + " derrière", True),
    (PASSWORD[:-1], False),
    (PASSWORD[1:] + " " + PASSWORD[:-1], False),
    ("Rantanplan", False),
    ("", False),
])
def test_the_probe_finds_the_password_anywhere_in_the_answer(probe, answer, contains):
    key, digest, length = probe
    assert secrets.contains_password(key, digest, length, answer) is contains


def test_the_probe_is_a_keyed_hash_of_the_folded_password(probe):
    key, digest, _ = probe
    assert secrets.password_probe(key, PASSWORD.upper()) == digest
    assert secrets.password_probe(random.token_bytes(32), PASSWORD) != digest
    assert len(digest) == 64
    assert PASSWORD.lower() not in digest


# --- storing them ------------------------------------------------------------------------


@pytest.fixture
def user(make_user):
    return make_user("jdupont", given_name="Jean", family_name="Dupont")


def test_storing_them_keeps_the_question_a_hash_of_the_answer_and_mails_a_notice(
        app, user, mailbox, audit_rows):
    secrets.set_secrets(user, OWN_QUESTION, "le capitaine", NOW, actor="jdupont", notify=True)
    commit()

    user = reload(user)
    assert user.secret_question == OWN_QUESTION
    assert secrets.verify_answer(user, "  Le CAPITAINE ")
    assert not secrets.verify_answer(user, SECRET_ANSWER)
    assert "capitaine" not in user.secret_answer_hash
    [row] = audit_rows("secrets.set")
    assert (row.outcome, row.user_id, row.login, row.actor, row.details) == (
        "success", user.id, "jdupont", "jdupont", {"custom_question": True})
    [message] = mailbox.messages
    assert message["To"] == "jdupont@example.test"
    assert message["From"] == app.config["IDP_MAIL_SENDER"]
    assert message["Subject"] == "BonusEco — modification de votre compte"
    body = mailbox.body(message)
    assert body.startswith("Bonjour Jean Dupont,\n\n"
                           "Votre question secrète et sa réponse ont été modifiées.\n\n"
                           "Compte concerné : jdupont\n")


def test_a_question_of_the_list_is_audited_as_such_and_the_notice_can_be_left_out(
        user, mailbox, audit_rows):
    secrets.set_secrets(user, secrets.QUESTIONS[3], "jules ferry", NOW, actor="cli",
                        notify=False)
    commit()

    [row] = audit_rows("secrets.set")
    assert (row.actor, row.details) == ("cli", {"custom_question": False})
    assert reload(user).secret_question == secrets.QUESTIONS[3]
    assert mailbox.messages == []


def test_the_answer_is_checked_against_the_stored_hash(user):
    assert secrets.verify_answer(user, f"\t{SECRET_ANSWER.upper()}  ")
    assert not secrets.verify_answer(user, "Idefix")
    user.secret_answer_hash = None
    assert not secrets.verify_answer(user, SECRET_ANSWER)
