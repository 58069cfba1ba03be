"""The password rules as the pages list them under « Nouveau mot de passe », and the
strength meter's verdict on each as the person types (docs/flows.md, « Password change »).

The policy itself lives in ``idp.security.passwords``; this module only words it for
the page and reports, rule by rule, what the meter can tell before the form is sent.
"""

from __future__ import annotations

from idp.security import passwords

STRENGTH_LABELS = ("Très faible", "Faible", "Moyen", "Fort", "Très fort")
RULES_INTRO = "Votre mot de passe doit :"


def password_rules(is_provisional: bool) -> list[tuple[str, str]]:
    """(key, wording) of each rule; the key names it for the strength script."""
    rules = [
        ("length", f"contenir entre {passwords.MIN_LENGTH} et {passwords.MAX_LENGTH} "
                   "caractères"),
        ("strength", "être difficile à deviner (robustesse « "
                     f"{STRENGTH_LABELS[passwords.MIN_SCORE]} » au moins) : assemblez "
                     "plusieurs mots sans rapport entre eux, sans votre nom ni votre "
                     "identifiant"),
        ("history", f"être différent de vos {passwords.HISTORY_SIZE} derniers mots de passe"),
    ]
    if is_provisional:
        rules.append(("provisional", "être différent du mot de passe provisoire"))
    return rules


def strength_verdict(candidate: str, user) -> dict:
    """The meter's answer: zxcvbn's score and label, and the rules it can check now.

    The history and the provisional password are checked only when the form is
    sent (each costs an argon2 verification).
    """
    candidate = passwords.normalise(candidate[: passwords.MAX_LENGTH * 4])
    score = passwords.strength(candidate, passwords.user_inputs_of(user))
    is_long_enough = passwords.MIN_LENGTH <= len(candidate) <= passwords.MAX_LENGTH
    is_strong = score >= passwords.MIN_SCORE and not passwords.reuses_identity(candidate, user)
    return {
        "score": score,
        "label": STRENGTH_LABELS[score],
        "ok": is_long_enough and is_strong,
        "rules": {"length": is_long_enough, "strength": is_strong},
    }
