"""Build the French voice files of the audio captcha (run by ``make install``).

The ``captcha`` package speaks a challenge from a folder per character, each
holding WAV files (8 kHz, 8-bit unsigned, mono). We generate them with
Debian's espeak-ng French voice: ``python -m idp.captcha_voices OUTDIR``; the
folder ``consigne`` holds the spoken instruction that starts every recording
(``idp.security.captcha_audio``). Each file is brought to the same loudness, so
that no character is quieter than the background.
"""

from __future__ import annotations

import array
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

from idp.security.captcha_audio import INSTRUCTION_FOLDER
from idp.security.captcha_audio import INSTRUCTION_TEXT
from idp.security.challenges import CAPTCHA_ALPHABET

TARGET_RATE = 8000
# (voice, words per minute): two voices per character, so the audio varies.
VOICES = (("fr", 130), ("fr+f3", 120))
# The instruction, in the first voice, a little slower.
INSTRUCTION_VOICE = ("fr", 120)
# Peak of every file, as a share of the 16-bit range: the captcha package then varies the
# level by ±20 %, which stays under clipping.
PEAK = 0.75


def _convert(source: Path, target: Path) -> None:
    """16-bit signed PCM at any rate -> 8 kHz 8-bit unsigned (what captcha.audio reads)."""
    with wave.open(str(source)) as reader:
        rate, width = reader.getframerate(), reader.getsampwidth()
        frames = reader.readframes(reader.getnframes())
    if width != 2:
        raise SystemExit(f"unexpected sample width {width} in {source}")
    samples = array.array("h", frames)
    loudest = max((abs(sample) for sample in samples), default=0) or 1
    gain = PEAK * 32767 / loudest
    step = rate / TARGET_RATE
    count = int(len(samples) / step)
    out = bytes(_to_unsigned_byte(samples[int(i * step)] * gain) for i in range(count))
    with wave.open(str(target), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(TARGET_RATE)
        writer.writeframes(out)


def _to_unsigned_byte(sample: float) -> int:
    """A 16-bit signed sample (scaled) as an 8-bit unsigned one, clipped."""
    return min(255, max(0, int(sample) // 256 + 128))


def _speak(espeak: str, voice: tuple[str, int], text: str, raw: Path, target: Path) -> None:
    name, speed = voice
    subprocess.run(  # noqa: S603 (fixed arguments, no shell)
        [espeak, "-v", name, "-s", str(speed), "-w", str(raw), text],
        check=True, capture_output=True,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    _convert(raw, target)


def build(outdir: Path) -> None:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("espeak-ng is missing: apt-get install -y espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        for char in CAPTCHA_ALPHABET:
            for index, voice in enumerate(VOICES):
                _speak(espeak, voice, char.lower(), Path(tmp) / f"{char}-{index}.wav",
                       outdir / char / f"{index}.wav")
        _speak(espeak, INSTRUCTION_VOICE, INSTRUCTION_TEXT, Path(tmp) / "consigne.wav",
               outdir / INSTRUCTION_FOLDER / "0.wav")


if __name__ == "__main__":
    build(Path(sys.argv[1]))
