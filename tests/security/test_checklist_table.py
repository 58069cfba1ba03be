"""The checklist table of tests/security/README.md stays complete and true.

Every checklist id appears once; every row names a test or gives a reason; every
test it names exists (the referenced files are collected by pytest itself, in a
subprocess, so parametrised ids and classes are checked exactly). A row may
point to a test that does not exist yet only when its reason says PENDING and
its id is in PENDING_ALLOWED.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "tests" / "security" / "README.md"

# The checklist's families and their sizes: 127 items.
FAMILIES = {
    "DISC": 6, "AUTHZ": 16, "PKCE": 5, "TOK": 13, "RT": 7, "HAB": 6, "LOGIN": 15, "PWD": 10,
    "FIRST": 5, "SQA": 4, "FPW": 7, "CAP": 4, "SESS": 7, "LOGOUT": 6, "HDR": 7, "REL": 7,
    "OPS": 2,
}
EXPECTED_IDS = {f"{family}-{n:02d}" for family, size in FAMILIES.items()
                for n in range(1, size + 1)}

# Items whose fix (and test) is being made on other branches. Empty this set once
# they are merged: every row must then point to tests that exist.
PENDING_ALLOWED: set[str] = set()

ROW = re.compile(r"^\| *([A-Z]+-\d+) *\|(.*)$")
NODE = re.compile(r"`(tests/[^`\s]+\.py::[^`\s]+)`")


def parse_table(text: str) -> list[dict]:
    """The rows of the table: id, requirement, node ids, reason."""
    rows = []
    for line in text.splitlines():
        found = ROW.match(line)
        if not found:
            continue
        cells = [cell.strip() for cell in found.group(2).rstrip().rstrip("|").split("|")]
        assert len(cells) == 3, f"{found.group(1)}: expected 4 columns, got {len(cells) + 1}"
        requirement, tests, reason = cells
        rows.append({"id": found.group(1), "requirement": requirement,
                     "nodes": NODE.findall(tests), "reason": reason,
                     "stray": NODE.sub("", tests).replace("<br>", "").strip()})
    return rows


def collected(files: set[str]) -> set[str]:
    """The node ids pytest collects in those files, and their function-level ids."""
    existing = sorted(f for f in files if (ROOT / f).is_file())
    if not existing:
        return set()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-p", "no:randomly", *existing],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False,
    )
    assert result.returncode in (0, 5), result.stdout[-2000:] + result.stderr[-2000:]
    nodes = {line.strip() for line in result.stdout.splitlines() if "::" in line}
    return nodes | {re.sub(r"\[.*\]$", "", node) for node in nodes}


def problems(rows: list[dict], known: set[str], pending_allowed: set[str]) -> list[str]:
    found = []
    ids = [row["id"] for row in rows]
    found += [f"{i}: listed twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    found += [f"{i}: missing from the table" for i in sorted(EXPECTED_IDS - set(ids))]
    found += [f"{i}: not a checklist id" for i in sorted(set(ids) - EXPECTED_IDS)]
    for row in rows:
        name, pending = row["id"], "PENDING" in row["reason"]
        if not row["requirement"]:
            found.append(f"{name}: no requirement")
        if row["stray"]:
            found.append(f"{name}: not a node id in the tests column: {row['stray']!r}")
        if not row["nodes"] and not row["reason"]:
            found.append(f"{name}: neither a test nor a reason")
        if pending and name not in pending_allowed:
            found.append(f"{name}: PENDING but not in PENDING_ALLOWED")
        if pending and name in pending_allowed:
            continue
        found += [f"{name}: no such test {node}" for node in row["nodes"] if node not in known]
    return found


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return parse_table(README.read_text(encoding="utf-8"))


def test_every_checklist_id_has_a_true_row(rows):
    files = {node.split("::")[0] for row in rows for node in row["nodes"]}
    assert problems(rows, collected(files), PENDING_ALLOWED) == []


def test_the_check_catches_each_kind_of_defect(rows):
    """The checker itself: a table with each defect planted is refused."""
    known = {node for row in rows for node in row["nodes"]}
    good = [dict(row) for row in rows if "PENDING" not in row["reason"]]
    good += [dict(row, reason="", nodes=[row["nodes"][0]]) for row in rows
             if "PENDING" in row["reason"]]
    assert problems(good, known, set()) == []

    first = good[0]
    cases = {
        "missing from the table": good[1:],
        "listed twice": [*good, first],
        "neither a test nor a reason": [dict(first, nodes=[], reason=""), *good[1:]],
        "no such test": [dict(first, nodes=["tests/security/test_nothing.py::test_nothing"]),
                         *good[1:]],
        "PENDING but not in PENDING_ALLOWED": [dict(first, reason="PENDING: later"), *good[1:]],
        "not a checklist id": [*good, dict(first, id="XSS-01")],
    }
    for defect, table in cases.items():
        assert any(defect in line for line in problems(table, known, set())), defect


def test_parametrised_and_class_node_ids_are_checked_exactly():
    known = collected({"tests/security/test_timing_boundaries.py"})
    base = "tests/security/test_timing_boundaries.py::test_pwd_07_password_expires_at_ninety_days"
    assert base in known
    assert base + "[90d]" in known
    assert base + "[92d]" not in known
