"""Helpers of the command-line tests: the one-line refusal and a database snapshot."""

from __future__ import annotations

import pytest

from idp.extensions import db


@pytest.fixture
def snapshot(app):
    """Every row of every table, to prove that a refused command changed nothing."""

    def take() -> dict[str, list]:
        db.session.expire_all()
        return {
            table.name: sorted(repr(tuple(row)) for row in db.session.execute(table.select()))
            for table in db.metadata.sorted_tables
        }

    return take


def assert_one_line_refusal(result, *fragments: str) -> str:
    """Exit status 2, exactly one line on stderr, no traceback (SPEC 3.3); returns it."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Erreur : ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]
