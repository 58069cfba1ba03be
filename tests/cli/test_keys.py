"""`idp keys rotate` and `idp keys list` (SPEC 2, 3.3): rotation keeps the old key published."""

from __future__ import annotations

import re

import pytest

from tests.cli.conftest import assert_one_line_refusal


def rotate(runner, *options: str) -> str:
    result = runner.invoke(args=["keys", "rotate", *options])
    assert result.exit_code == 0, result.output
    found = re.match(r"Nouvelle clé (RS256|ES256) : (\S+) \(", result.stdout)
    assert found, result.stdout
    return found.group(2)


def listed(runner) -> dict[str, list[str]]:
    result = runner.invoke(args=["keys", "list"])
    assert result.exit_code == 0, result.output
    return {line.split("\t")[0]: line.split("\t")[1:] for line in result.stdout.splitlines()}


def test_rotate_then_list(runner, audit_rows):
    kid = rotate(runner, "--alg", "ES256")

    alg, _created, state = listed(runner)[kid]
    assert (alg, state) == ("ES256", "active")
    assert kid in [row.details["kid"] for row in audit_rows("key.created")]


def test_a_rotated_key_stays_published(runner):
    old = rotate(runner)
    new = rotate(runner)

    keys = listed(runner)
    assert keys[new][0] == "RS256"
    assert keys[new][2] == "active"
    assert keys[old][2].startswith("retirée, publiée jusqu'au ")


@pytest.mark.parametrize(("args", "named"), [
    (["rotate", "--alg", "HS256"], "--alg"),
    (["rotate", "RS256"], "RS256"),
    (["list", "--all"], "option inconnue"),
])
def test_bad_input_is_one_line_and_changes_nothing(args, named, runner, snapshot):
    before = snapshot()

    assert_one_line_refusal(runner.invoke(args=["keys", *args]), named)
    assert snapshot() == before
