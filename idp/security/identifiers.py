"""Identifier normalisation: one account per login, whatever case or Unicode form."""

import unicodedata

MAX_LOGIN_LENGTH = 64


def normalise_login(raw: str) -> str:
    """NFKC, trimmed, lower case: variants map to one account and one lockout counter."""
    return unicodedata.normalize("NFKC", raw or "").strip().lower()[: MAX_LOGIN_LENGTH * 2]
