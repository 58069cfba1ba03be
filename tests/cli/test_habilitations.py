"""`idp habilitations create` and `list` (SPEC 3.3)."""

from __future__ import annotations

import pytest

from tests.cli.conftest import assert_one_line_refusal


def test_list_shows_the_builtin_habilitations(runner):
    result = runner.invoke(args=["habilitations", "list"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["assistance\tAssistance", "bonuseco\tBonus Eco"]


def test_create_then_list_and_grant(runner, make_user, audit_rows):
    make_user()

    result = runner.invoke(args=["habilitations", "create", "Location",
                                 "--label", " Location courte durée "])

    assert result.exit_code == 0, result.output
    listed = runner.invoke(args=["habilitations", "list"]).stdout.splitlines()
    assert "location\tLocation courte durée" in listed
    (row,) = audit_rows("habilitation.created")
    assert row.details == {"habilitation": "location"}
    assert row.actor == "cli"
    assert runner.invoke(args=["users", "grant", "jdupont", "location:loueur"]).exit_code == 0


@pytest.mark.parametrize(("args", "named"), [
    (["bonuseco", "--label", "Doublon"], "existe déjà"),
    (["BonusEco", "--label", "Doublon"], "existe déjà"),
    (["bonus eco", "--label", "Espace"], "habilitation invalide"),
    (["location:profil", "--label", "   "], "libellé invalide"),
    (["location", "--label", "L" * 201], "libellé invalide"),
    (["location"], "--label"),
], ids=["duplicate", "duplicate-case", "space", "blank-label", "long-label", "no-label"])
def test_bad_input_is_one_line_and_changes_nothing(args, named, runner, snapshot):
    before = snapshot()

    result = runner.invoke(args=["habilitations", "create", *args])

    assert_one_line_refusal(result, named)
    assert snapshot() == before


def test_list_refuses_bad_input_in_one_line(runner):
    assert_one_line_refusal(runner.invoke(args=["habilitations", "list", "--tout"]),
                            "option inconnue")
