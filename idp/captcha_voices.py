"""Build the French voice files of the audio captcha (run by ``make install``).

The ``captcha`` package speaks a challenge from a folder per character, each
holding WAV files (8 kHz, 8-bit unsigned, mono). We generate them with
Debian's espeak-ng French voice: ``python -m idp.captcha_voices OUTDIR``.
"""

from __future__ import annotations

import array
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

from idp.security.challenges import CAPTCHA_ALPHABET

TARGET_RATE = 8000
# (voice, words per minute): two voices per character, so the audio varies.
VOICES = (("fr", 130), ("fr+f3", 120))


def _convert(source: Path, target: Path) -> None:
    """16-bit signed PCM at any rate -> 8 kHz 8-bit unsigned (what captcha.audio reads)."""
    with wave.open(str(source)) as reader:
        rate, width = reader.getframerate(), reader.getsampwidth()
        frames = reader.readframes(reader.getnframes())
    if width != 2:
        raise SystemExit(f"unexpected sample width {width} in {source}")
    samples = array.array("h", frames)
    step = rate / TARGET_RATE
    count = int(len(samples) / step)
    out = bytes(((samples[int(i * step)] >> 8) + 128) & 0xFF for i in range(count))
    with wave.open(str(target), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(TARGET_RATE)
        writer.writeframes(out)


def build(outdir: Path) -> None:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("espeak-ng is missing: apt-get install -y espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        for char in CAPTCHA_ALPHABET:
            folder = outdir / char
            folder.mkdir(parents=True, exist_ok=True)
            for index, (voice, speed) in enumerate(VOICES):
                raw = Path(tmp) / f"{char}-{index}.wav"
                subprocess.run(  # noqa: S603 (fixed arguments, no shell)
                    [espeak, "-v", voice, "-s", str(speed), "-w", str(raw), char.lower()],
                    check=True, capture_output=True,
                )
                _convert(raw, folder / f"{index}.wav")


if __name__ == "__main__":
    build(Path(sys.argv[1]))
