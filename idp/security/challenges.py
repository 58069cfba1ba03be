"""Server-side challenges: the image captcha of the first connection, the arithmetic
question and the secret-question state of the forgotten password (docs/flows.md).

The expected answer lives only in the ``challenges`` table: never in the
cookie, the page, the image URL or its alt text.
A challenge belongs to one owner (a login flow), is single use, expires after
a few minutes, and is replaced after too many wrong answers.
"""

from __future__ import annotations

import io
import secrets
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from captcha.image import ImageCaptcha
from sqlalchemy import select
from sqlalchemy import update

from idp.exceptions import IdpError
from idp.extensions import db
from idp.models import Challenge
from idp.settings import settings

# No 0/O, 1/I/L, 8/B, 5/S, 2/Z: letters and digits a person reads without doubt.
CAPTCHA_ALPHABET = "ACDEFGHJKMNPRTUVWXY34679"
CAPTCHA_LENGTH = 6
CAPTCHA_LIFETIME = timedelta(minutes=5)
MAX_FAILURES = 3
ARITHMETIC_LIFETIME = timedelta(minutes=10)


class ChallengeFailed(IdpError):
    """A wrong, expired or already used answer."""


def _text() -> str:
    fixed = settings().captcha_fixed_text
    # config.py refuses the fixed text in production; this is the second lock.
    if fixed and settings().env in ("development", "testing"):
        return fixed.upper()
    return "".join(secrets.choice(CAPTCHA_ALPHABET) for _ in range(CAPTCHA_LENGTH))


def normalise(answer: str) -> str:
    return "".join((answer or "").split()).upper()[:32]


def current(owner_hash: str, kind: str, now: datetime) -> Challenge | None:
    row = db.session.execute(
        select(Challenge)
        .where(Challenge.owner_hash == owner_hash, Challenge.kind == kind,
               Challenge.consumed_at.is_(None))
        .order_by(Challenge.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if row is None or row.expires_at <= now or row.failures >= MAX_FAILURES:
        return None
    return row


def new_captcha(owner_hash: str, now: datetime) -> Challenge:
    """Replace the owner's captcha by a fresh one."""
    _retire(owner_hash, "captcha", now)
    text = _text()
    row = Challenge(kind="captcha", owner_hash=owner_hash, prompt=text, answer=normalise(text),
                    created_at=now, expires_at=now + CAPTCHA_LIFETIME)
    db.session.add(row)
    db.session.flush()
    return row


def arithmetic_operation() -> tuple[int, str, int]:
    """Operands 0-20 and + or -, the larger first for a subtraction (never negative)."""
    left, right = secrets.randbelow(21), secrets.randbelow(21)
    if secrets.randbelow(2):
        return max(left, right), "-", min(left, right)
    return left, "+", right


def new_arithmetic(owner_hash: str, now: datetime) -> Challenge:
    """« Combien font 7 + 5 ? » (docs/flows.md, « Forgotten password »)."""
    _retire(owner_hash, "arithmetic", now)
    left, operator, right = arithmetic_operation()
    result = left + right if operator == "+" else left - right
    prompt = f"{left} {operator} {right}"
    row = Challenge(kind="arithmetic", owner_hash=owner_hash, prompt=prompt, answer=str(result),
                    created_at=now, expires_at=now + ARITHMETIC_LIFETIME)
    db.session.add(row)
    db.session.flush()
    return row


def new_reset_state(owner_hash: str, login: str, now: datetime) -> Challenge:
    """The forgotten-password state between the arithmetic and the secret question."""
    _retire(owner_hash, "reset", now)
    row = Challenge(kind="reset", owner_hash=owner_hash, prompt=login[:64], answer="",
                    created_at=now, expires_at=now + ARITHMETIC_LIFETIME)
    db.session.add(row)
    db.session.flush()
    return row


def consume(row: Challenge, now: datetime) -> bool:
    """Use a challenge once: False when another request already did."""
    result = db.session.execute(
        update(Challenge)
        .where(Challenge.id == row.id, Challenge.consumed_at.is_(None))
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def current_or_new_captcha(owner_hash: str, now: datetime) -> Challenge:
    return current(owner_hash, "captcha", now) or new_captcha(owner_hash, now)


def _retire(owner_hash: str, kind: str, now: datetime) -> None:
    db.session.execute(
        update(Challenge)
        .where(Challenge.owner_hash == owner_hash, Challenge.kind == kind,
               Challenge.consumed_at.is_(None))
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    )


def check(owner_hash: str, kind: str, answer: str, now: datetime) -> None:
    """Consume the challenge on a right answer (atomically); else count the failure."""
    row = current(owner_hash, kind, now)
    if row is None:
        raise ChallengeFailed()
    # Bytes: compare_digest refuses str with non-ASCII characters (« ١٢ », « ÉÉÉ »),
    # which are simply wrong answers here.
    if secrets.compare_digest(normalise(answer).encode(), row.answer.encode()):
        if consume(row, now):
            return
        raise ChallengeFailed()
    db.session.execute(
        update(Challenge).where(Challenge.id == row.id)
        .values(failures=Challenge.failures + 1)
        .execution_options(synchronize_session=False)
    )
    raise ChallengeFailed()


# Where each drawing of a captcha is kept: drawn at the first fetch, the same bytes at
# every later one. Redrawing the noise at each fetch would give a robot many copies
# of one text to average (OWASP Authentication Cheat Sheet, CAPTCHA); a new challenge
# gets a new drawing.
MEDIA_COLUMNS = {"image": Challenge.image, "audio": Challenge.audio}


def stored_media(challenge_id: int, kind: str) -> bytes | None:
    """The drawing kept for this challenge ("image" or "audio"), if any yet."""
    column = MEDIA_COLUMNS[kind]
    return db.session.execute(select(column).where(Challenge.id == challenge_id)).scalar()


def keep_media(challenge_id: int, kind: str, drawn: bytes) -> bytes:
    """Keep ``drawn`` unless another fetch kept its own first; the drawing to serve."""
    column = MEDIA_COLUMNS[kind]
    kept = db.session.execute(
        update(Challenge).where(Challenge.id == challenge_id, column.is_(None))
        .values({column.key: drawn}).execution_options(synchronize_session=False)
    )
    return drawn if kept.rowcount == 1 else stored_media(challenge_id, kind) or drawn


def render_image(text: str) -> bytes:
    image = ImageCaptcha(width=280, height=90)
    buffer = io.BytesIO()
    image.write(text, buffer, format="png")
    return buffer.getvalue()


def voices_dir() -> Path:
    return Path(settings().captcha_voices_dir)


def render_audio(text: str) -> bytes | None:
    """The same challenge spoken in French after an instruction (WAV), or None without
    voice files (``idp.security.captcha_audio``)."""
    # Imported here: the package reads its sound files when first imported.
    from idp.security.captcha_audio import speak

    return speak(text, voices_dir())
