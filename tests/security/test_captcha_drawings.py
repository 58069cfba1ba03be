"""The captcha's image and audio (SPEC 1.1 step 4, CAP-03): what is drawn, and the
drawing kept for each challenge so that every fetch of it gets the same bytes."""

from __future__ import annotations

import shutil
import struct
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from idp.extensions import db
from idp.models import Challenge
from idp.security import challenges

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def add(owner: str) -> Challenge:
    row = Challenge(kind="captcha", owner_hash=owner, prompt="KM7RT4", answer="KM7RT4",
                    created_at=NOW, expires_at=NOW + timedelta(minutes=5))
    db.session.add(row)
    db.session.flush()
    return row


# --- kept drawings -------------------------------------------------------------------


def test_the_first_drawing_kept_is_the_one_served_ever_after(app):
    mine, theirs = add("a" * 64), add("b" * 64)
    assert challenges.stored_media(mine.id, "image") is None

    assert challenges.keep_media(mine.id, "image", b"first image") == b"first image"
    # A later fetch that drew its own gets the kept one.
    assert challenges.keep_media(mine.id, "image", b"second image") == b"first image"
    assert challenges.stored_media(mine.id, "image") == b"first image"

    # The audio is kept apart from the image, the same way.
    assert challenges.stored_media(mine.id, "audio") is None
    assert challenges.keep_media(mine.id, "audio", b"first audio") == b"first audio"
    assert challenges.keep_media(mine.id, "audio", b"second audio") == b"first audio"
    assert challenges.stored_media(mine.id, "audio") == b"first audio"
    assert challenges.stored_media(mine.id, "image") == b"first image"

    # Another challenge has no drawing of its own yet.
    assert challenges.stored_media(theirs.id, "image") is None
    assert challenges.stored_media(theirs.id, "audio") is None


def test_a_drawing_for_a_challenge_gone_meanwhile_is_served_as_drawn(app):
    gone = add("a" * 64).id + 1000
    assert challenges.keep_media(gone, "image", b"drawn") == b"drawn"
    assert challenges.stored_media(gone, "image") is None


# --- the image -----------------------------------------------------------------------


def test_the_image_is_a_280_by_90_png(app):
    image = challenges.render_image("KM7RT4")
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    assert image[12:16] == b"IHDR"
    assert struct.unpack(">II", image[16:24]) == (280, 90)


# --- the audio -----------------------------------------------------------------------


def test_the_voices_come_from_the_configured_folder(app):
    assert challenges.voices_dir() == Path(app.config["CAPTCHA_VOICES_DIR"])


def one_voice_folder(app, monkeypatch, tmp_path: Path, name: str) -> None:
    """A voice folder with one character only, recorded from a real voice file."""
    recorded = sorted((challenges.voices_dir() / "K").glob("*.wav"))[0]
    (tmp_path / name).mkdir()
    shutil.copy(recorded, tmp_path / name / "0.wav")
    monkeypatch.setitem(app.config, "CAPTCHA_VOICES_DIR", str(tmp_path))


def test_the_audio_is_spoken_with_the_configured_voices(app, monkeypatch, tmp_path):
    # « k » has no voice in the library's own (English) folder: only ours can speak it.
    one_voice_folder(app, monkeypatch, tmp_path, "k")
    audio = challenges.render_audio("kk")
    assert isinstance(audio, bytes)
    assert audio[:4] == b"RIFF"
    assert audio[8:12] == b"WAVE"


def test_no_audio_without_a_voice_for_every_character(app, monkeypatch, tmp_path):
    one_voice_folder(app, monkeypatch, tmp_path, "k")
    assert challenges.render_audio("kx") is None
