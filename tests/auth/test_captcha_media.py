"""The first connection's captcha image and audio: drawn once per challenge.

Fresh noise at every fetch of the same challenge would let a robot average
many fetches into a clean picture (or recording) of the text; a new challenge
gets a new image.
"""

from __future__ import annotations

import math
import wave

import pytest
from captcha.audio import change_sound
from captcha.audio import change_speed

from idp.security import captcha_audio
from idp.security import challenges
from idp.security import secrets
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import post_form

PROVISIONAL = "Pr0visoireABCDE"
IMAGE = "/first-connection/captcha/image"
AUDIO = "/first-connection/captcha/audio"


@pytest.fixture
def at_the_captcha(client, make_user, monkeypatch):
    """A newcomer's browser at the captcha step, with the same text at every challenge
    (so that only the drawing could tell two challenges apart)."""
    monkeypatch.setattr(challenges, "_text", lambda: "KMR3TX")
    make_user("newbie", provisional=PROVISIONAL)
    assert login(client, "newbie", PROVISIONAL).headers["Location"] == "/password-change"
    post_form(client, "/password-change",
              {"new_password": STRONG_PASSWORD, "confirmation": STRONG_PASSWORD})
    response = post_form(client, "/first-connection/secret-question", {
        "question": secrets.QUESTIONS[0], "own_question": "",
        "answer": "Rantanplan"})
    assert response.headers["Location"] == "/first-connection/captcha"
    client.get("/first-connection/captcha")
    return client


def _fetch(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return response.data


def test_cap_03_the_image_is_the_same_at_every_fetch(at_the_captcha):
    images = {_fetch(at_the_captcha, IMAGE) for _ in range(4)}
    assert len(images) == 1
    assert next(iter(images))[:8] == b"\x89PNG\r\n\x1a\n"


def test_cap_02_a_new_challenge_gets_a_new_image(at_the_captcha):
    first = _fetch(at_the_captcha, IMAGE)
    page = at_the_captcha.get("/first-connection/captcha")
    at_the_captcha.post("/first-connection/captcha/new",
                        data={"csrf_token": csrf_token(page.text)})
    second = _fetch(at_the_captcha, IMAGE)
    assert second != first
    assert _fetch(at_the_captcha, IMAGE) == second


def test_cap_02_wrong_answers_bring_a_new_image(at_the_captcha):
    first = _fetch(at_the_captcha, IMAGE)
    for _ in range(challenges.MAX_FAILURES):
        page = at_the_captcha.get("/first-connection/captcha")
        at_the_captcha.post("/first-connection/captcha",
                            data={"csrf_token": csrf_token(page.text), "text": "ZZZZZZ"})
    assert _fetch(at_the_captcha, IMAGE) != first


def test_cap_03_the_audio_is_the_same_at_every_fetch(at_the_captcha):
    recordings = {_fetch(at_the_captcha, AUDIO) for _ in range(3)}
    assert len(recordings) == 1
    assert next(iter(recordings))[:4] == b"RIFF"


# --- what a person hears ----------------------------------------------------------

WAV_HEADER = 44  # the captcha package's RIFF header, before the samples


def _loudness(samples: bytes, share: float) -> float:
    """The loudness (RMS, 8-bit unsigned samples) of 50 ms windows at the given rank."""
    window = 400
    levels = sorted(
        math.sqrt(sum((s - 128) ** 2 for s in samples[i:i + window]) / window)
        for i in range(0, len(samples) - window, window)
    )
    return levels[int(len(levels) * share)]


def test_cap_04_the_recording_starts_with_the_spoken_instruction(at_the_captcha):
    instruction = challenges.voices_dir() / captcha_audio.INSTRUCTION_FOLDER / "0.wav"
    with wave.open(str(instruction)) as reader:
        spoken = reader.readframes(reader.getnframes())
    recording = _fetch(at_the_captcha, AUDIO)
    assert recording[WAV_HEADER:WAV_HEADER + len(spoken)] == spoken


def test_cap_04_the_background_stays_far_below_the_voice(app):
    """The loudest moments of the background stay well under the characters (some 18 to
    20 dB; WCAG 1.4.7 asks about 20): with the package's own levels, about 3 dB."""
    speaker = captcha_audio.SpokenCaptcha(voicedir=str(challenges.voices_dir()))
    speaker.load()
    background = speaker.create_background_noise(8000 * 10, "")
    letters = b"".join(bytes(speaker._twist_pick(char)) for char in "KMR3TX")
    assert _loudness(letters, 0.9) > 4 * _loudness(background, 0.99)


@pytest.mark.parametrize(("draw", "speed", "level"), [
    (lambda n: 0, 0.8, 0.05),       # the slowest and quietest background voice
    (lambda n: n - 1, 1.6, 0.10),   # the fastest and loudest
])
def test_cap_04_background_voices_are_drawn_within_their_speed_and_level(
        app, monkeypatch, draw, speed, level):
    """Each background voice is a reversed voice at 0.8 to 1.6 times its speed and 5 to
    10 % of its level: the bounds of the draw, nothing past them."""
    speaker = captcha_audio.SpokenCaptcha(voicedir=str(challenges.voices_dir()))
    speaker.load()
    monkeypatch.setattr(captcha_audio.secrets, "choice", lambda items: items[0])
    monkeypatch.setattr(captcha_audio.secrets, "randbelow", draw)
    voice = bytearray(reversed(speaker._cache[speaker.choices[0]][0]))
    assert speaker._noise_pick() == change_sound(change_speed(voice, speed), level)
