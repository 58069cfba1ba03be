"""docs/modules.md quotes only tested configurations: each snippet, announced by a
``<!-- snippet: path -->`` comment, is made of lines of that file, in its order (lines
left out between them are comments or the parts the guide does not discuss)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "modules.md"
SNIPPET = re.compile(r"<!-- snippet: (\S+) -->\n```[a-z]*\n(.*?)\n```", re.DOTALL)


def _snippets() -> list[tuple[str, str]]:
    return SNIPPET.findall(GUIDE.read_text(encoding="utf-8"))


def test_the_guide_has_snippets_and_every_code_block_is_announced():
    text = GUIDE.read_text(encoding="utf-8")
    blocks = re.findall(r"\n```[a-z]+\n", text)
    # The registration example (sh) is the only block that is not a copy.
    assert len(_snippets()) == len(blocks) - 1 >= 10


@pytest.mark.parametrize(("path", "snippet"), _snippets(),
                         ids=[f"{p}:{i}" for i, (p, _s) in enumerate(_snippets())])
def test_each_snippet_is_in_its_file_in_order(path, snippet):
    source = (ROOT / path).read_text(encoding="utf-8").splitlines()
    position = 0
    for line in snippet.splitlines():
        try:
            position = source.index(line, position) + 1
        except ValueError:
            pytest.fail(f"{path}: not found (in this order): {line!r}")
