"""The secret question and its answer (docs/flows.md; the rules: docs/security.md).

Answers are normalised (case, accents, spaces) then hashed with argon2id.
The secret question is only ever an extra step before a reset mail, never a
login factor (docs/security.md, « Secret question »).
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import datetime

from idp import audit
from idp import mail
from idp.exceptions import IdpError
from idp.security import passwords

OTHER_QUESTION = "Autre question"
QUESTIONS = (
    "Quel est le nom de votre premier animal de compagnie ?",
    "Dans quelle ville avez-vous passé votre enfance ?",
    "Quel était le nom de votre école primaire ?",
    "Quel est le prénom de votre ami(e) d'enfance ?",
    "Quelle était la marque de votre première voiture ?",
    "Quel est le titre de votre livre préféré ?",
)
MIN_ANSWER_LENGTH = 4
MAX_ANSWER_LENGTH = 100
MIN_QUESTION_LENGTH = 10
MAX_QUESTION_LENGTH = 200


class SecretRejected(IdpError):
    """A question or answer refused; ``str()`` is the French reason."""


def normalise_answer(answer: str) -> str:
    """Lower case, accents removed, inner spaces collapsed: « Élodie  » == « elodie »."""
    decomposed = unicodedata.normalize("NFKD", answer or "")
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


def choose_question(choice: str, own_wording: str) -> str:
    """The question to store: one of the list, or the user's own wording."""
    if choice in QUESTIONS:
        return choice
    if choice != OTHER_QUESTION:
        raise SecretRejected("Choisissez une question dans la liste.")
    wording = " ".join((own_wording or "").split())
    if not MIN_QUESTION_LENGTH <= len(wording) <= MAX_QUESTION_LENGTH:
        raise SecretRejected(
            f"Votre question doit contenir entre {MIN_QUESTION_LENGTH} et "
            f"{MAX_QUESTION_LENGTH} caractères."
        )
    return wording


def password_probe(key: bytes, password: str) -> str:
    folded = passwords.normalise(password).casefold()
    return hmac.new(key, folded.encode(), hashlib.sha256).hexdigest()


def contains_password(key: bytes, probe: str, length: int, answer: str) -> bool:
    """Whether ``answer`` contains the password behind ``probe`` (same folding)."""
    text = passwords.normalise(answer).casefold()
    for start in range(0, len(text) - length + 1):
        window = hmac.new(key, text[start:start + length].encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(window, probe):
            return True
    return False


def check_answer(answer: str, user, *, password: str | None = None,
                 contains_password_check=None) -> str:
    """The normalised answer, or SecretRejected with the French reason."""
    normalised = normalise_answer(answer)
    if len(normalised) < MIN_ANSWER_LENGTH:
        raise SecretRejected(
            f"La réponse secrète doit contenir au moins {MIN_ANSWER_LENGTH} caractères."
        )
    if len(normalised) > MAX_ANSWER_LENGTH:
        raise SecretRejected(
            f"La réponse secrète ne doit pas dépasser {MAX_ANSWER_LENGTH} caractères."
        )
    if normalise_answer(user.login) in normalised:
        raise SecretRejected("La réponse secrète ne doit pas contenir votre identifiant.")
    in_password = (
        normalise_answer(password) in normalised if password
        else bool(contains_password_check and contains_password_check(answer))
    )
    if in_password:
        raise SecretRejected("La réponse secrète ne doit pas contenir votre mot de passe.")
    return normalised


def set_secrets(user, question: str, normalised_answer: str, now: datetime, *,
                actor: str, notify: bool) -> None:
    """Store the question and the hashed answer; audited, never the answer itself."""
    user.secret_question = question
    user.secret_answer_hash = passwords.hash_password(normalised_answer)
    audit.record("secrets.set", outcome="success", user=user, actor=actor,
                 custom_question=question not in QUESTIONS)
    if notify:
        mail.send_later(mail.compose(
            user.email, "notice", user=user,
            what="Votre question secrète et sa réponse ont été modifiées.",
        ))


def verify_answer(user, answer: str) -> bool:
    """Check an answer (a dummy verification when no secrets are set)."""
    return passwords.verify_password(user.secret_answer_hash, normalise_answer(answer))
