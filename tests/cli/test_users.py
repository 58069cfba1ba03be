"""`idp users ...` (SPEC 1.3, 3.3, 3.4): each command, its mails, and its refusals."""

from __future__ import annotations

import re
import threading
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from idp import audit
from idp.extensions import db
from idp.models import HabilitationGrant
from idp.models import User
from idp.models import UserSession
from idp.security import passwords
from idp.security.passwords import PROVISIONAL_ALPHABET
from tests.cli.conftest import assert_one_line_refusal
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.conftest import page_text
from tests.conftest import short_transaction
from tests.user_guide import MSG_ACCOUNT_LOCKED
from tests.user_guide import MSG_INVALID_CREDENTIALS

EMAIL = "marie.martin@example.test"
CREATE = ["users", "create", "mmartin", "--email", EMAIL, "--given-name", "Marie",
          "--family-name", "Martin"]


def account(login_: str) -> SimpleNamespace:
    """The account's columns and grants, read in a short transaction (an import may run)."""
    with short_transaction():
        user = db.session.execute(select(User).where(User.login == login_)).scalar_one()
        values = {column.key: getattr(user, column.key) for column in User.__table__.columns}
        values["grants"] = {
            grant.habilitation.code: SimpleNamespace(
                profile=grant.profile, starts_at=grant.starts_at, ends_at=grant.ends_at,
                revoked_at=grant.revoked_at)
            for grant in user.grants
        }
    return SimpleNamespace(**values)


def bodies(mailbox, address: str) -> list[str]:
    return [mailbox.body(message) for message in mailbox.to(address)]


def lands_on(response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


# --- users create ----------------------------------------------------------------------


def test_create_sends_the_two_welcome_mails(runner, mailbox, audit_rows):
    result = runner.invoke(args=[*CREATE, "--habilitation", "bonuseco:concessionnaire",
                                 "--habilitation", "assistance"])

    assert result.exit_code == 0, result.output
    assert "mmartin" in result.stdout
    identifier_mail, password_mail = bodies(mailbox, EMAIL)
    assert re.search(r"^Identifiant : mmartin$", identifier_mail, re.M)
    assert re.search(r"^Habilitation : Bonus Eco$", identifier_mail, re.M)
    assert re.search(r"^Habilitation : Assistance$", identifier_mail, re.M)
    assert "Mot de passe provisoire" not in identifier_mail
    provisional = mailbox.provisional_password(EMAIL)
    assert len(provisional) >= 12
    assert set(provisional) <= set(PROVISIONAL_ALPHABET)
    assert provisional not in identifier_mail
    assert not re.search(r"^Identifiant :", password_mail, re.M)
    created = account("mmartin")
    assert created.is_provisional
    assert created.password_hash is None
    assert created.grants["bonuseco"].profile == "concessionnaire"
    assert created.grants["assistance"].profile == ""
    (row,) = audit_rows("account.created")
    assert row.actor == "cli"
    assert row.details["reason"] == "ligne de commande"


def test_the_provisional_password_leads_to_the_password_change(runner, mailbox, client):
    runner.invoke(args=[*CREATE, "--habilitation", "bonuseco"])
    provisional = mailbox.provisional_password(EMAIL)

    assert lands_on(login(client, "mmartin", provisional)) == "/password-change"
    assert "Nouveau mot de passe" in client.get("/password-change").get_data(as_text=True)


def test_create_normalises_the_login(runner, mailbox):
    args = ["users", "create", "  MMartin ", *CREATE[3:]]
    assert runner.invoke(args=args).exit_code == 0
    assert account("mmartin").email == EMAIL


# --- reset-password, resend-welcome ------------------------------------------------------


def test_reset_password_mails_a_provisional_and_the_old_one_still_works(
        runner, mailbox, make_user, app, audit_rows):
    make_user()

    result = runner.invoke(args=["users", "reset-password", "jdupont", "--reason", "appel du 12"])

    assert result.exit_code == 0, result.output
    (body,) = bodies(mailbox, "jdupont@example.test")
    provisional = mailbox.provisional_password("jdupont@example.test")
    assert provisional in body
    # The mail names whom it is for: the person and the account.
    assert body.startswith("Bonjour Jean Dupont,\n\n")
    assert "pour votre compte BonusEco (jdupont) :" in body
    assert lands_on(login(app.test_client(), "jdupont", STRONG_PASSWORD)) == "/"
    assert lands_on(login(app.test_client(), "jdupont", provisional)) == "/password-change"
    (row,) = audit_rows("password.reset_sent")
    assert row.details["reason"] == "appel du 12"
    assert provisional not in repr(row.details)


def test_resend_welcome_sends_both_mails_with_a_new_provisional(runner, mailbox, app):
    runner.invoke(args=[*CREATE, "--habilitation", "bonuseco"])
    first = mailbox.provisional_password(EMAIL)
    mailbox.clear()

    result = runner.invoke(args=["users", "resend-welcome", "mmartin"])

    assert result.exit_code == 0, result.output
    identifier_mail, _password_mail = bodies(mailbox, EMAIL)
    assert re.search(r"^Identifiant : mmartin$", identifier_mail, re.M)
    second = mailbox.provisional_password(EMAIL)
    assert second != first
    assert MSG_INVALID_CREDENTIALS in page_text(login(app.test_client(), "mmartin", first))
    assert lands_on(login(app.test_client(), "mmartin", second)) == "/password-change"


# --- unlock, deactivate, activate, end-sessions ------------------------------------------


def test_unlock_lifts_the_lock_at_once(runner, mailbox, make_user, client):
    make_user(failed_attempts=3, locked_until=datetime.now(UTC) + timedelta(minutes=20))
    assert MSG_ACCOUNT_LOCKED in page_text(login(client, "jdupont", STRONG_PASSWORD))

    result = runner.invoke(args=["users", "unlock", "jdupont"])

    assert result.exit_code == 0, result.output
    assert account("jdupont").locked_until is None
    (notice,) = bodies(mailbox, "jdupont@example.test")
    assert "déverrouillé" in notice
    assert lands_on(login(client, "jdupont", STRONG_PASSWORD)) == "/"


def test_deactivate_refuses_login_and_activate_restores_it(runner, mailbox, make_user, app):
    make_user()

    assert runner.invoke(args=["users", "deactivate", "jdupont"]).exit_code == 0
    refused = page_text(login(app.test_client(), "jdupont", STRONG_PASSWORD))
    assert MSG_INVALID_CREDENTIALS in refused
    assert runner.invoke(args=["users", "activate", "jdupont"]).exit_code == 0
    assert lands_on(login(app.test_client(), "jdupont", STRONG_PASSWORD)) == "/"
    notices = bodies(mailbox, "jdupont@example.test")
    assert "désactivé" in notices[0]
    assert "réactivé" in notices[1]


def test_deactivate_ends_the_open_sessions(runner, make_user, client):
    make_user()
    login(client, "jdupont", STRONG_PASSWORD)
    assert client.get("/").status_code == 200

    runner.invoke(args=["users", "deactivate", "jdupont"])

    assert "/login" in lands_on(client.get("/"))


def test_end_sessions_signs_the_user_out_everywhere(runner, mailbox, make_user, app):
    make_user()
    browsers = [app.test_client(), app.test_client()]
    for browser in browsers:
        login(browser, "jdupont", STRONG_PASSWORD)
        assert browser.get("/").status_code == 200

    result = runner.invoke(args=["users", "end-sessions", "jdupont"])

    assert result.exit_code == 0, result.output
    for browser in browsers:
        assert "/login" in lands_on(browser.get("/"))
    ended = db.session.execute(select(UserSession.ended_at)).scalars().all()
    assert len(ended) == 2
    assert all(ended)
    assert "sessions" in bodies(mailbox, "jdupont@example.test")[0]


# --- grant, revoke, restore, show --------------------------------------------------------


def test_grant_with_profile_and_dates(runner, mailbox, make_user):
    make_user()
    today = datetime.now(UTC).date()
    start, end = today - timedelta(days=1), today + timedelta(days=30)

    result = runner.invoke(args=["users", "grant", "jdupont", "assistance:operateur",
                                 "--start", start.isoformat(), "--end", end.isoformat()])

    assert result.exit_code == 0, result.output
    grant = account("jdupont").grants["assistance"]
    assert grant.profile == "operateur"
    assert grant.starts_at == datetime(start.year, start.month, start.day, tzinfo=UTC)
    assert grant.ends_at == datetime(end.year, end.month, end.day, tzinfo=UTC)
    assert "« Assistance » vous a été attribuée" in bodies(mailbox, "jdupont@example.test")[0]
    shown = runner.invoke(args=["users", "show", "jdupont"]).stdout
    assert f"Habilitation : assistance:operateur (valide, du {start:%Y-%m-%d}" in shown


def test_a_grant_that_starts_later_is_not_valid_yet(runner, make_user):
    make_user()
    start = datetime.now(UTC).date() + timedelta(days=10)

    runner.invoke(args=["users", "grant", "jdupont", "assistance", "--start", start.isoformat()])

    assert "assistance: (hors dates" in runner.invoke(args=["users", "show", "jdupont"]).stdout


def test_revoke_then_restore(runner, mailbox, make_user):
    make_user()

    assert runner.invoke(args=["users", "revoke", "jdupont", "bonuseco"]).exit_code == 0
    assert account("jdupont").grants["bonuseco"].revoked_at is not None
    assert "bonuseco: (retirée" in runner.invoke(args=["users", "show", "jdupont"]).stdout
    assert runner.invoke(args=["users", "restore", "jdupont", "BonusEco"]).exit_code == 0
    assert account("jdupont").grants["bonuseco"].revoked_at is None
    revoked, restored = bodies(mailbox, "jdupont@example.test")
    assert "« Bonus Eco » vous a été retirée" in revoked
    assert "« Bonus Eco » vous a été rendue" in restored


def test_show_prints_the_status(runner, make_user):
    make_user(siret="73282932000074")

    result = runner.invoke(args=["users", "show", "JDUPONT"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for expected in ("Identifiant : jdupont", "Nom : Jean Dupont", "Mail : jdupont@example.test",
                     "SIRET : 73282932000074", "Actif : oui", "Verrouillé jusqu'à : -",
                     "Mot de passe provisoire : non", "Secrets renseignés : oui",
                     "Dernière connexion : -"):
        assert expected in lines
    assert any(line.startswith("Mot de passe expire le : 20") for line in lines)
    assert any(line.startswith("Habilitation : bonuseco: (valide") for line in lines)


# --- import ------------------------------------------------------------------------------


CSV = """login,email,given_name,family_name,siret,habilitations
alice,alice@example.test,Alice,Arnaud,,bonuseco:concessionnaire
bernard,pas-une-adresse,Bernard,Blanc,,bonuseco
chloe,chloe@example.test,Chloé,Caron,73282932000074,bonuseco|assistance
alice,alice.bis@example.test,Alice,Autre,,bonuseco
denis,denis@example.test,Denis,Dubois,,inconnue
emma,emma@example.test,Emma,Etienne,,
"""


def test_import_creates_good_lines_and_reports_each_bad_one(runner, mailbox, tmp_path, snapshot,
                                                            audit_rows):
    path = tmp_path / "comptes.csv"
    path.write_text(CSV, encoding="utf-8")

    result = runner.invoke(args=["users", "import", str(path)])

    assert result.exit_code == 2
    assert "Traceback" not in result.output
    # One progress line per CSV line, as it is done: [done/total].
    assert result.stdout.splitlines()[:3] == ["[1/6] ligne 2 : alice créé",
                                               "[3/6] ligne 4 : chloe créé",
                                               "[6/6] ligne 7 : emma créé"]
    refused = result.stderr.splitlines()
    assert len(refused) == 3
    assert refused[0].startswith("[2/6] ligne 3 : refusée : adresse électronique invalide")
    assert refused[1].startswith("[4/6] ligne 5 : refusée : l'identifiant « alice » existe déjà")
    assert refused[2].startswith("[5/6] ligne 6 : refusée : habilitation inconnue « inconnue »")
    assert "3 comptes créés, 3 lignes refusées." in result.stdout
    rows = snapshot()
    assert len(rows["users"]) == 3
    assert account("alice").family_name == "Arnaud"
    assert set(account("chloe").grants) == {"bonuseco", "assistance"}
    assert account("emma").grants == {}
    for address in ("alice@example.test", "chloe@example.test", "emma@example.test"):
        assert len(mailbox.to(address)) == 2
    for address in ("pas-une-adresse", "alice.bis@example.test", "denis@example.test"):
        assert mailbox.to(address) == []
    assert len(audit_rows("account.created")) == 3


def test_import_accepts_semicolons_and_a_bom(runner, mailbox, tmp_path):
    path = tmp_path / "comptes.csv"
    path.write_text("login;email;given_name;family_name\nfabien;fabien@example.test;Fabien;Faure\n",
                    encoding="utf-8-sig")

    result = runner.invoke(args=["users", "import", str(path)])

    assert result.exit_code == 0, result.output
    assert account("fabien").email == "fabien@example.test"


# --- bad input: one line, exit 2, nothing changed, nothing mailed ------------------------


BAD_INPUT = [
    ([*CREATE[:3], "--given-name", "Marie", "--family-name", "Martin"], "--email"),
    (["users", "create", "m martin", *CREATE[3:]], "identifiant invalide"),
    (["users", "create", "x", *CREATE[3:]], "identifiant invalide"),
    (["users", "create", "mmartin", "--email", "marie@", *CREATE[5:]], "adresse électronique"),
    ([*CREATE, "--given-name", "<script>"], "prénom invalide"),
    (["users", "create", "jdupont", *CREATE[3:]], "existe déjà"),
    ([*CREATE, "--habilitation", "inconnue"], "habilitation inconnue"),
    ([*CREATE, "--habilitation", "bonus eco!"], "habilitation invalide"),
    ([*CREATE, "--siret", "73282932000075"], "SIRET invalide"),
    ([*CREATE, "--siret", "7328293200007"], "SIRET invalide"),
    (["users", "reset-password", "inconnu"], "compte inconnu « inconnu »"),
    (["users", "unlock", "inconnu"], "compte inconnu"),
    (["users", "unlock"], "LOGIN"),
    (["users", "grant", "inconnu", "bonuseco"], "compte inconnu"),
    (["users", "grant", "jdupont", "inconnue"], "habilitation inconnue"),
    (["users", "grant", "jdupont", "a:b:" + "p" * 70], "habilitation invalide"),
    (["users", "grant", "jdupont", "assistance", "--start", "01/02/2026"], "date de début"),
    (["users", "grant", "jdupont", "assistance", "--end", "2026-02-30"], "date de fin"),
    (["users", "grant", "jdupont", "assistance", "--start", "2026-03-01", "--end", "2026-02-01"],
     "la date de fin doit suivre"),
    (["users", "revoke", "jdupont", "assistance"], "ne détient pas"),
    (["users", "revoke", "jdupont", "inconnue"], "habilitation inconnue"),
    (["users", "restore", "jdupont", "bonuseco"], "aucune habilitation"),
    (["users", "deactivate", "inconnu"], "compte inconnu"),
    (["users", "activate", "jdupont"], "déjà actif"),
    (["users", "show", "inconnu"], "compte inconnu"),
    (["users", "show", "jdupont", "en-trop"], "en-trop"),
    (["users", "resend-welcome", "inconnu"], "compte inconnu"),
    (["users", "end-sessions", "inconnu"], "compte inconnu"),
    (["users", "import", "/nulle/part.csv"], "fichier illisible"),
    (["users", "supprimer", "jdupont"], "commande inconnue"),
    (["users", "show", "--verbose", "jdupont"], "option inconnue"),
]


@pytest.mark.parametrize(("args", "named"), BAD_INPUT, ids=[" ".join(a[1:3]) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_changes_nothing(args, named, runner, make_user, mailbox,
                                                   snapshot):
    make_user()
    before = snapshot()

    result = runner.invoke(args=args)

    assert_one_line_refusal(result, named)
    assert snapshot() == before
    assert mailbox.messages == []


@pytest.mark.parametrize("content", [
    "identifiant,adresse\nalice,alice@example.test\n",
    "",
    b"login,email,given_name,family_name\n\xff\xfe,x@example.test,A,B\n",
])
def test_a_bad_import_file_is_one_line_and_changes_nothing(content, runner, tmp_path, mailbox,
                                                           snapshot):
    path = tmp_path / "comptes.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    before = snapshot()

    result = runner.invoke(args=["users", "import", str(path)])

    assert_one_line_refusal(result)
    assert snapshot() == before
    assert mailbox.messages == []


def test_existing_grants_survive_a_refused_grant(runner, make_user, snapshot):
    make_user()
    before = snapshot()

    runner.invoke(args=["users", "grant", "jdupont", "bonuseco:nouveau", "--start", "hier"])

    assert snapshot() == before
    grant = db.session.execute(select(HabilitationGrant)).scalar_one()
    assert grant.profile == ""


# --- a long import does not hold up the logins -------------------------------------------


PAUSE_DEADLINE = 60  # seconds
GOOD_CSV = """login,email,given_name,family_name
ginette,ginette@example.test,Ginette,Garnier
hugo,hugo@example.test,Hugo,Henry
ines,ines@example.test,Inès,Isnard
"""


class PauseAtLine:
    """Stands in for the provisional password generator: pauses the import once, as
    it starts the second line, until the test says go (no sleeping, no timing)."""

    def __init__(self, real):
        self.real = real
        self.calls = 0
        self.paused = threading.Event()
        self.go = threading.Event()
        self.went_on_signal: bool | None = None

    def __call__(self) -> str:
        self.calls += 1
        if self.calls == 2:
            self.paused.set()
            # A deadline for the test's login, on a busy machine; it only keeps a broken
            # test from hanging the suite.
            self.went_on_signal = self.go.wait(timeout=PAUSE_DEADLINE)
        return self.real()


def test_ops_02_a_login_completes_while_an_import_runs(runner, make_user, client, tmp_path,
                                                        mailbox, monkeypatch):
    make_user("jdupont")
    path = tmp_path / "comptes.csv"
    path.write_text(GOOD_CSV, encoding="utf-8")
    pause = PauseAtLine(passwords.generate_provisional_password)
    monkeypatch.setattr(passwords, "generate_provisional_password", pause)
    results = []
    importing = threading.Thread(
        target=lambda: results.append(runner.invoke(args=["users", "import", str(path)])))
    importing.start()
    try:
        assert pause.paused.wait(timeout=PAUSE_DEADLINE), "the import never reached its second line"
        # The first account is already there, in the database, for everyone to see.
        assert account("ginette").email == "ginette@example.test"
        response = login(client, "jdupont", STRONG_PASSWORD)
    finally:
        pause.go.set()
        importing.join(timeout=60)
    assert response.status_code == 303, page_text(response)
    # The login finished while the import waited between two lines, not after it.
    assert pause.went_on_signal is True
    result = results[0]
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "[1/3] ligne 2 : ginette créé", "[2/3] ligne 3 : hugo créé",
        "[3/3] ligne 4 : ines créé", "3 comptes créés, 0 ligne refusée.",
    ]
    assert len(mailbox.to("ines@example.test")) == 2


def test_ops_02_a_failing_line_keeps_the_lines_before_it(runner, tmp_path, mailbox,
                                                         monkeypatch):
    path = tmp_path / "comptes.csv"
    path.write_text(GOOD_CSV, encoding="utf-8")
    real = audit.record

    def record(event, **kwargs):
        if event == "account.created" and kwargs["user"].login == "hugo":
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return real(event, **kwargs)

    monkeypatch.setattr(audit, "record", record)
    result = runner.invoke(args=["users", "import", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stdout.splitlines()[0] == "[1/3] ligne 2 : ginette créé"
    assert "base de données indisponible" in result.stderr
    assert account("ginette").email == "ginette@example.test"
    assert len(mailbox.to("ginette@example.test")) == 2
    assert mailbox.to("hugo@example.test") == []
