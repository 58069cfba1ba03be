"""Creating accounts (one, or a CSV file) and reading an account page (SPEC 1.3)."""

from __future__ import annotations

import io
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlalchemy import select

from idp.clock import utcnow
from idp.extensions import db
from idp.models import User
from idp.security import passwords
from tests.assistance.conftest import OPERATOR
from tests.assistance.conftest import act
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import page_text

NEW = {"login": "mmartin", "email": "marie.martin@example.test", "given_name": "Marie",
       "family_name": "Martin", "siret": "73282932000074", "habilitation": "bonuseco",
       "profile": "concessionnaire", "reason": "demande de l'établissement"}


def count_users() -> int:
    return db.session.execute(select(func.count()).select_from(User)).scalar_one()


def test_create_an_account_sends_the_two_welcome_mails(console, mailbox, audit_rows):
    response = act(console, "/assistance/new-account", NEW)
    assert response.status_code == 303
    assert response.headers["Location"] == "/assistance/accounts/mmartin"
    row = audit_rows("account.created")[-1]
    assert (row.login, row.actor, row.details["reason"]) == (
        "mmartin", OPERATOR, "demande de l'établissement")
    identifier, password = (mailbox.body(m) for m in mailbox.to(NEW["email"]))
    assert "Identifiant : mmartin" in identifier
    assert "Habilitation : Bonus Eco" in identifier
    provisional = mailbox.provisional_password(NEW["email"])
    assert provisional not in page_text(console.get("/assistance/accounts/mmartin"))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("login", "", "Ce champ est obligatoire."),
    ("login", "Jean Dupont!", "Identifiant invalide"),
    ("email", "pas-une-adresse", "Adresse électronique invalide"),
    ("given_name", "<script>", "Prénom invalide"),
    ("family_name", "", "Ce champ est obligatoire."),
    ("siret", "12345678901234", "SIRET invalide"),
    ("habilitation", "inconnue", "Habilitation inconnue « inconnue »"),
    ("reason", "", "Indiquez le motif"),
])
def test_bad_account_input_is_refused_in_french(console, field, value, message, mailbox):
    before = count_users()
    response = act(console, "/assistance/new-account", {**NEW, field: value})
    assert response.status_code == 400
    assert message in page_text(response)
    assert count_users() == before
    assert mailbox.messages == []


def test_an_existing_login_is_refused(console, make_user, mailbox):
    make_user("mmartin")
    response = act(console, "/assistance/new-account", NEW)
    assert response.status_code == 400
    assert "L'identifiant « mmartin » existe déjà" in page_text(response)
    assert mailbox.to(NEW["email"]) == []


def upload(client, text: str | bytes, reason: str = "ouverture du réseau", name="comptes.csv"):
    page = client.get("/assistance/import")
    data = text.encode() if isinstance(text, str) else text
    return client.post("/assistance/import", data={
        "csrf_token": csrf_token(page.text), "reason": reason,
        "file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


CSV = (
    "login;email;given_name;family_name;siret;habilitations\n"
    "aleroux;a.leroux@example.test;Anne;Leroux;;bonuseco:loueur\n"
    "Mauvais Login;x@example.test;X;Y;;\n"
    "bmoreau;pas-une-adresse;Bruno;Moreau;;\n"
    "cpetit;c.petit@example.test;Chloé;Petit;;inconnue\n"
    "dagent;d.agent@example.test;D;Agent;;assistance\n"
    "aleroux;autre@example.test;Anne;Leroux;;\n"
    "erobert;e.robert@example.test;Eve;Robert;73282932000074;\n"
)


def test_import_reports_each_line_and_creates_only_the_good_ones(console, mailbox, audit_rows):
    response = upload(console, CSV)
    assert response.status_code == 200
    text = page_text(response)
    assert "2 comptes créés, 5 lignes refusées" in text
    for fragment in ("Identifiant invalide « Mauvais Login »", "Adresse électronique invalide",
                     "Habilitation inconnue « inconnue »", "ligne de commande",
                     "L'identifiant « aleroux » existe déjà"):
        assert fragment in text
    db.session.expire_all()
    created = set(db.session.execute(select(User.login)).scalars()) - {OPERATOR}
    assert created == {"aleroux", "erobert"}
    assert [row.login for row in audit_rows("account.created")][-2:] == ["aleroux", "erobert"]
    assert all(row.actor == OPERATOR for row in audit_rows("account.created")[-2:])
    # Two welcome mails per account created, none for a refused line.
    assert len(mailbox.to("a.leroux@example.test")) == 2
    assert len(mailbox.to("e.robert@example.test")) == 2
    assert len(mailbox.messages) == 4
    # The line asking for ``assistance`` is a refused operator attempt, on record.
    assert [(row.login, row.actor, row.details["action"])
            for row in audit_rows("assistance.refused")] == [("dagent", OPERATOR, "import")]


@pytest.mark.parametrize(("content", "message"), [
    ("nom;prenom\nx;y\n", "Colonnes manquantes dans l'en-tête : login, email"),
    (b"login,email,given_name,family_name\n" + "é".encode("latin-1"),
     "Le fichier n'est pas encodé en UTF-8"),
])
def test_a_bad_file_is_refused_whole(console, content, message, mailbox):
    before = count_users()
    response = upload(console, content)
    assert response.status_code == 400
    assert message in page_text(response)
    assert count_users() == before
    assert mailbox.messages == []


def test_import_needs_a_file_and_a_reason(console):
    page = console.get("/assistance/import")
    response = console.post("/assistance/import", data={"csrf_token": csrf_token(page.text)},
                            content_type="multipart/form-data")
    assert response.status_code == 400
    text = page_text(response)
    assert "Choisissez un fichier CSV." in text
    assert "Indiquez le motif" in text


def test_the_account_page_shows_status_habilitations_sessions_history(
        console, make_user, app):
    user = make_user("jdupont", siret="73282932000074", last_login_at=utcnow())
    other = app.test_client()
    login(other, "jdupont", STRONG_PASSWORD)
    login(app.test_client(), "jdupont", "mauvais-mot-de-passe")
    make_user("locked", failed_attempts=3, locked_until=utcnow() + timedelta(minutes=20),
              secret_question=None, secret_answer_hash=None)
    text = page_text(console.get("/assistance/accounts/jdupont"))
    for fragment in ("Actif", "Question secrète renseignée", "73282932000074",
                     "jdupont@example.test", "Mot de passe choisi le", "il y a 1 jour",
                     "Mot de passe expire le", "Dernière connexion", "Bonus Eco (bonuseco)",
                     "Valide", "Sessions ouvertes", "Connexion réussie", "Échec de connexion",
                     "Compte créé", "motif : fixture"):
        assert fragment in text, fragment
    assert "Aucune session ouverte" not in text
    assert user.password_hash not in text
    assert "Quel est le nom" not in text  # the secret question stays private
    locked = page_text(console.get("/assistance/accounts/locked"))
    assert "Verrouillé jusqu'au" in locked
    assert "Question secrète non renseignée" in locked


def account_status(console, login: str) -> dict[str, str]:
    """The « État du compte » lines of an account page, label -> value, as they read."""
    text = page_text(console.get(f"/assistance/accounts/{login}"))
    status = text[text.index('id="account-status"'):]
    status = status[:status.index("</dl>")]
    return dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", status))


def test_the_account_status_reads_as_plain_french(console, make_user):
    make_user("today", changed_days_ago=0)
    make_user("yesterday", changed_days_ago=1, failed_attempts=1)
    make_user("twelve", changed_days_ago=12, failed_attempts=2)
    make_user("locked", failed_attempts=3, locked_until=utcnow() + timedelta(minutes=20))
    # A lock that is over: the next attempt starts the count again (docs/flows.md).
    make_user("unlocked", failed_attempts=3, locked_until=utcnow() - timedelta(minutes=1))

    today = account_status(console, "today")
    assert today["Mot de passe choisi le"].endswith("(aujourd'hui)")
    assert today["Verrouillage"] == "aucun"
    yesterday = account_status(console, "yesterday")
    assert yesterday["Mot de passe choisi le"].endswith("(il y a 1 jour)")
    assert yesterday["Verrouillage"] == "aucun (1 échec de connexion à la suite)"
    twelve = account_status(console, "twelve")
    assert twelve["Mot de passe choisi le"].endswith("(il y a 12 jours)")
    assert twelve["Verrouillage"] == "aucun (2 échecs de connexion à la suite)"
    assert re.fullmatch(r"jusqu'au \d\d/\d\d/\d{4} à \d\d:\d\d",
                        account_status(console, "locked")["Verrouillage"])
    assert account_status(console, "unlocked")["Verrouillage"] == "aucun"
    for account in ("today", "yesterday", "twelve", "locked", "unlocked"):
        text = page_text(console.get(f"/assistance/accounts/{account}"))
        for clumsy in ("jour(s)", "échec(s)", "non verrouillé", "Verrouillé jusqu'au :"):
            assert clumsy not in text, (account, clumsy)


def test_search_and_import_counts_agree_with_their_number(console, make_user):
    make_user("jdupont")
    assert "1 compte trouvé" in page_text(console.get("/assistance/?q=jdupont"))
    make_user("jdupond")
    assert "2 comptes trouvés" in page_text(console.get("/assistance/?q=jdupon"))


def test_the_account_tables_scroll_inside_a_focusable_dsfr_frame(console, make_user, app):
    make_user("jdupont")
    login(app.test_client(), "jdupont", STRONG_PASSWORD)  # an open session and its history
    text = page_text(console.get("/assistance/accounts/jdupont"))
    for table in ("account-habilitations", "account-sessions", "account-history"):
        frame = text[text.index(f'id="{table}"'):]
        frame = frame[:frame.index("<table>")]
        assert 'class="fr-table__wrapper"' in frame, table
        assert (f'class="fr-table__container" tabindex="0" role="region" '
                f'aria-labelledby="{table}-caption"') in frame, table
    assert '<h1 class="idp-value">Compte jdupont</h1>' in text


def test_a_pending_provisional_password_is_shown_with_its_expiry(console, make_user):
    make_user("nouveau", provisional="Provisoire-123456")
    text = page_text(console.get("/assistance/accounts/nouveau"))
    assert "Mot de passe provisoire en cours" in text
    assert "valable jusqu'au" in text
    assert "jamais (première connexion à faire)" in text


PAUSE_DEADLINE = 60  # seconds


class PauseOnce:
    """Stands in for the provisional password generator: the import pauses as it
    starts its first line, until the test says go (events, no sleeping)."""

    def __init__(self, real):
        self.real = real
        self.paused = threading.Event()
        self.go = threading.Event()
        self.went_on_signal: bool | None = None

    def __call__(self) -> str:
        if not self.paused.is_set():
            self.paused.set()
            # A deadline for the test's login, on a busy machine; it only keeps a broken
            # test from hanging the suite.
            self.went_on_signal = self.go.wait(timeout=PAUSE_DEADLINE)
        return self.real()


def test_ops_02_a_login_completes_while_the_console_imports(app, console, make_user,
                                                             monkeypatch, mailbox):
    make_user("jdupont")
    pause = PauseOnce(passwords.generate_provisional_password)
    monkeypatch.setattr(passwords, "generate_provisional_password", pause)
    page = console.get("/assistance/import")
    responses = []

    def run_import():
        with app.app_context():
            responses.append(console.post("/assistance/import", data={
                "csrf_token": csrf_token(page.text), "reason": "ouverture du réseau",
                "file": (io.BytesIO(CSV.encode()), "comptes.csv")},
                content_type="multipart/form-data"))

    importing = threading.Thread(target=run_import)
    importing.start()
    try:
        assert pause.paused.wait(timeout=PAUSE_DEADLINE), "the import never started"
        response = login(app.test_client(), "jdupont", STRONG_PASSWORD)
    finally:
        pause.go.set()
        importing.join(timeout=60)
    assert response.status_code == 303, page_text(response)
    # The login finished while the console's import waited, not after it.
    assert pause.went_on_signal is True
    assert "2 comptes créés, 5 lignes refusées" in page_text(responses[0])
