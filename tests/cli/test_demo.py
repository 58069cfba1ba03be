"""`idp demo seed` (SPEC 3.3): demo accounts in each state, bench accounts, idempotent."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path

import time_machine
from sqlalchemy import func
from sqlalchemy import select

from examples.apache import ApacheModule
from idp.demo import BENCH_PASSWORD
from idp.demo import DEMO_PASSWORD
from idp.extensions import db
from idp.models import Client
from idp.models import User
from tests.cli.conftest import assert_one_line_refusal
from tests.conftest import login


def count(model, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def logins(pattern: str) -> list[str]:
    return list(db.session.execute(
        select(User.login).where(User.login.like(pattern)).order_by(User.login)).scalars())


def lands_on(response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def test_seed_is_idempotent(runner, mailbox):
    first = runner.invoke(args=["demo", "seed"])
    users, clients = count(User), count(Client)
    second = runner.invoke(args=["demo", "seed"])

    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert (count(User), count(Client)) == (users, clients)
    assert users == 5
    assert clients == 3
    assert logins("demo.%") == ["demo.actif", "demo.assistance", "demo.expire", "demo.nouveau",
                                "demo.verrouille"]
    for line in ("demo.actif", "demo.verrouille", "demo.expire", "demo.assistance"):
        assert any(row.split()[0] == line and DEMO_PASSWORD in row
                   for row in second.stdout.splitlines())


def test_seed_registers_the_apache_module_where_mod_auth_openidc_answers(runner, mailbox):
    runner.invoke(args=["demo", "seed"])

    stmt = select(Client).where(Client.client_id == "demo-apache")
    client = db.session.execute(stmt).scalar_one()
    apache = ApacheModule(port=5003, issuer="", client_id="demo-apache", client_secret="",
                          crypto_passphrase="", run_dir=Path("instance/apache"))
    assert client.redirect_uris == [apache.redirect_uri]
    assert client.backchannel_logout_uri == apache.backchannel_logout_uri
    assert client.post_logout_redirect_uris == [apache.post_logout_redirect_uri]


def test_seeded_accounts_are_in_their_states(runner, mailbox, app):
    runner.invoke(args=["demo", "seed"])

    assert lands_on(login(app.test_client(), "demo.actif", DEMO_PASSWORD)) == "/"
    assert "verrouillé" in login(app.test_client(), "demo.verrouille", DEMO_PASSWORD).get_data(
        as_text=True)
    assert lands_on(login(app.test_client(), "demo.expire", DEMO_PASSWORD)) == "/password-change"
    provisional = mailbox.provisional_password("demo.nouveau@demo.bonuseco.test")
    assert lands_on(login(app.test_client(), "demo.nouveau", provisional)) == "/password-change"
    shown = runner.invoke(args=["users", "show", "demo.assistance"]).stdout
    assert "Habilitation : assistance:demo (valide" in shown


def test_bench_accounts(runner, app):
    result = runner.invoke(args=["demo", "seed", "--users", "50"])

    assert result.exit_code == 0, result.output
    bench = logins("bench-%")
    assert len(bench) == 50
    assert (bench[0], bench[-1]) == ("bench-00001", "bench-00050")
    assert BENCH_PASSWORD in result.stdout
    assert lands_on(login(app.test_client(), "bench-00050", BENCH_PASSWORD)) == "/"
    again = runner.invoke(args=["demo", "seed", "--users", "50"])
    assert again.exit_code == 0, again.output
    assert "(0 ajoutés)" in again.stdout
    assert len(logins("bench-%")) == 50
    assert count(User) == 55


def test_bench_accounts_grow_to_the_number_asked(runner):
    runner.invoke(args=["demo", "seed", "--users", "3"])
    result = runner.invoke(args=["demo", "seed", "--users", "5"])

    assert "(2 ajoutés)" in result.stdout
    assert logins("bench-%") == [f"bench-{n:05d}" for n in range(1, 6)]


def test_refused_in_production(runner, app, snapshot, monkeypatch):
    # A real production app needs PostgreSQL, Redis and SMTP; the command only
    # looks at the environment name, which is what production sets.
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    before = snapshot()

    result = runner.invoke(args=["demo", "seed", "--users", "10"])

    assert_one_line_refusal(result, "refusé en production")
    assert snapshot() == before


def test_bad_user_count_is_one_line(runner, snapshot):
    before = snapshot()
    for value in ("-1", "beaucoup", "2000000"):
        assert_one_line_refusal(runner.invoke(args=["demo", "seed", "--users", value]),
                                "--users")
    assert snapshot() == before


def test_seed_after_time_passed_puts_accounts_back(runner, mailbox, app):
    with time_machine.travel(datetime(2026, 1, 5, tzinfo=UTC), tick=False) as clock:
        runner.invoke(args=["demo", "seed"])
        clock.move_to(datetime(2026, 6, 5, tzinfo=UTC))
        runner.invoke(args=["demo", "seed"])
        assert lands_on(login(app.test_client(), "demo.actif", DEMO_PASSWORD)) == "/"
        assert "verrouillé" in login(app.test_client(), "demo.verrouille",
                                      DEMO_PASSWORD).get_data(as_text=True)
