"""The audio version of the image captcha (docs/flows.md, « First connection », 4).

The ``captcha`` package speaks the characters over a background of reversed
voices drawn at 20 to 60 % of the voice's level: with espeak-ng's voices that
background is about as loud as the letters, and the recording starts with
beeps that say nothing. Here the recording starts with the spoken instruction
« Recopiez les caractères suivants », and the background stays far below the
voice (drawn at 5 to 10 %: its loudest moments some 18 to 20 dB under the
characters, against 3 dB with the package's levels): enough to trouble a speech
recogniser fed raw samples, not a person (WCAG 1.4.7 asks about 20 dB for
speech over background sound).

The voice files come from ``idp.captcha_voices`` (espeak-ng, one folder per
character, and the ``consigne`` folder for the instruction).
"""

from __future__ import annotations

import copy
import secrets
import wave
from pathlib import Path

from captcha.audio import SILENCE
from captcha.audio import AudioCaptcha
from captcha.audio import change_sound
from captcha.audio import change_speed

# The folder of the spoken instruction: a name of several letters, which the package's
# character list (one-letter folders) leaves out.
INSTRUCTION_FOLDER = "consigne"
INSTRUCTION_TEXT = "Recopiez les caractères suivants."
# Level of the background voices against the spoken characters, in hundredths.
NOISE_LEVEL_PERCENT = (5, 10)


def _read_samples(path: Path) -> bytearray:
    with wave.open(str(path)) as reader:
        return bytearray(reader.readframes(reader.getnframes()))


class SpokenCaptcha(AudioCaptcha):
    """The package's audio captcha, with the instruction first and a quieter background."""

    def __init__(self, voicedir: str):
        super().__init__(voicedir=voicedir)
        self._instruction = self._load_instruction(Path(voicedir) / INSTRUCTION_FOLDER)

    @staticmethod
    def _load_instruction(folder: Path) -> bytearray | None:
        files = sorted(folder.glob("*.wav")) if folder.is_dir() else []
        return _read_samples(files[0]) if files else None

    def _noise_pick(self) -> bytearray:
        """A reversed voice, as the package draws it, at a fraction of its level."""
        key = secrets.choice(self.choices)
        voice = copy.copy(secrets.choice(self._cache[key]))
        voice.reverse()
        voice = change_speed(voice, (secrets.randbelow(9) + 8) / 10.0)
        low, high = NOISE_LEVEL_PERCENT
        return change_sound(voice, (low + secrets.randbelow(high - low + 1)) / 100.0)

    def create_wave_body(self, chars: str) -> bytearray:
        body = super().create_wave_body(chars)
        if self._instruction is None:
            return body
        return self._instruction + SILENCE + SILENCE + body


def speak(text: str, voices: Path) -> bytes | None:
    """``text`` spoken after the instruction (WAV), or None without voice files."""
    if not all((voices / ch).is_dir() for ch in set(text)):
        return None
    return bytes(SpokenCaptcha(voicedir=str(voices)).generate(list(text)))
