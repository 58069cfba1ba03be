"""tests/user_guide.py says what docs/flows.md says: every constant is quoted there."""

import re
from pathlib import Path

import pytest

from tests import user_guide

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "flows.md"
CONSTANTS = sorted(name for name in vars(user_guide) if name.isupper())


def guide_text() -> str:
    """The guide with its line breaks as spaces: a quote may run over two lines."""
    return re.sub(r"\s*\n\s*", " ", GUIDE.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", CONSTANTS)
def test_each_constant_is_written_in_the_guide(name):
    assert getattr(user_guide, name) in guide_text()


def test_the_module_holds_words_only():
    assert CONSTANTS
    assert all(isinstance(getattr(user_guide, name), str) for name in CONSTANTS)
