"""Each console action over HTTP: its audit row, its mail over real SMTP, its effect (SPEC 1.3)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from idp.clock import utcnow
from idp.database import commit
from idp.extensions import db
from idp.models import User
from idp.oidc.registration import NewClient
from idp.oidc.registration import create_client
from tests.assistance.conftest import OPERATOR
from tests.assistance.conftest import act
from tests.assistance.conftest import confirm
from tests.conftest import OTHER_STRONG_PASSWORD
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.conftest import page_text
from tests.conftest import post_form
from tests.conftest import reload
from tests.security.oauth import authorize_url

EMAIL = "jdupont@example.test"
REASON = "appel du 12 mars, ticket 4521"
HABILITATION_REFUSED = (
    "Vous n'avez pas les autorisations requises pour vous connecter sur cette application")


@pytest.fixture
def target(make_user):
    return make_user("jdupont")


@pytest.fixture
def user_client(app):
    """The browser of the account's owner, beside the operator's."""
    return app.test_client()


def account_url(action: str = "") -> str:
    return "/assistance/accounts/jdupont" + (f"/{action}" if action else "")


def assert_done(response, audit_rows, event: str, *, mails: int = 1, mailbox=None) -> None:
    """Back to the account page; one audit row by the operator with the reason; the mail(s)."""
    assert response.status_code == 303, page_text(response)
    assert response.headers["Location"] == account_url()
    row = audit_rows(event)[-1]
    assert row.actor == OPERATOR
    assert row.login == "jdupont"
    assert row.details["reason"] == REASON
    if mailbox is not None:
        assert len(mailbox.to(EMAIL)) == mails


def test_reset_password_mails_a_provisional_one_and_forces_the_change(
        console, target, user_client, mailbox, audit_rows):
    page = page_text(console.get(account_url("reset-password")))
    assert "Je confirme cette action" in page
    response = confirm(console, account_url("reset-password"), REASON)
    assert_done(response, audit_rows, "password.reset_sent", mailbox=mailbox)
    provisional = mailbox.provisional_password(EMAIL)
    # Operators never see it, not even on the account page.
    shown = page_text(console.get(account_url()))
    assert "Un mot de passe provisoire a été envoyé par mail à jdupont." in shown
    assert provisional not in shown
    assert provisional not in repr(audit_rows()[-1].details)
    response = login(user_client, "jdupont", provisional)
    assert response.headers["Location"] == "/password-change"


def test_reset_password_works_without_secrets(console, make_user, mailbox, audit_rows):
    make_user("jdupont", secret_question=None, secret_answer_hash=None)
    response = confirm(console, account_url("reset-password"), REASON)
    assert_done(response, audit_rows, "password.reset_sent", mailbox=mailbox)
    assert mailbox.provisional_password(EMAIL)


def test_destructive_actions_need_the_confirmation_box(console, target, mailbox, audit_rows):
    for action in ("reset-password", "clear-secrets", "deactivate", "end-sessions"):
        before = len(audit_rows())
        response = act(console, account_url(action), {"reason": REASON})
        assert response.status_code == 400
        assert "Cochez la case pour confirmer l'action." in page_text(response)
        assert len(audit_rows()) == before
    assert mailbox.messages == []
    assert reload(target).is_active


def test_unlock_lets_the_user_log_in_again(console, make_user, user_client, mailbox, audit_rows):
    make_user("jdupont", failed_attempts=3, locked_until=utcnow() + timedelta(minutes=20))
    assert "Verrouillé jusqu'au" in page_text(console.get(account_url()))
    assert login(user_client, "jdupont", STRONG_PASSWORD).status_code == 200  # locked
    response = act(console, account_url("unlock"), {"reason": REASON})
    assert_done(response, audit_rows, "account.unlocked", mailbox=mailbox)
    assert "déverrouillé" in mailbox.body(mailbox.to(EMAIL)[0])
    assert reload_login("jdupont").locked_until is None
    response = login(user_client, "jdupont", STRONG_PASSWORD)
    assert response.status_code == 303
    assert user_client.get("/").status_code == 200


def reload_login(login_: str) -> User:
    db.session.expire_all()
    return db.session.execute(select(User).where(User.login == login_)).scalar_one()


def test_clear_secrets_asks_them_again_at_next_login(console, target, user_client, mailbox,
                                                     audit_rows):
    response = confirm(console, account_url("clear-secrets"), REASON)
    assert_done(response, audit_rows, "secrets.cleared", mailbox=mailbox)
    assert "prochaine connexion" in mailbox.body(mailbox.to(EMAIL)[0])
    assert not reload(target).has_secrets
    response = login(user_client, "jdupont", STRONG_PASSWORD)
    assert response.headers["Location"] == "/first-connection/secret-question"
    # Done twice: a French refusal, nothing recorded.
    before = len(audit_rows())
    response = confirm(console, account_url("clear-secrets"), REASON)
    assert response.status_code == 400
    assert "n'est pas renseignée" in page_text(response)
    assert len(audit_rows()) == before


def _module(app) -> None:
    create_client(NewClient(
        client_id="module-a", name="Module Bonus Eco", habilitation="bonuseco",
        redirect_uris=["http://127.0.0.1:8765/callback"], skip_consent=True,
        client_uri="http://127.0.0.1:8765/"), actor="test")
    commit()


def test_revoke_closes_the_module_and_restore_opens_it(app, console, target, user_client,
                                                       mailbox, audit_rows):
    _module(app)
    login(user_client, "jdupont", STRONG_PASSWORD)
    assert "Module Bonus Eco" in page_text(user_client.get("/"))
    url = account_url("habilitations/bonuseco/revoke")
    response = confirm(console, url, REASON)
    assert_done(response, audit_rows, "habilitation.revoked", mailbox=mailbox)
    assert audit_rows("habilitation.revoked")[-1].details["habilitation"] == "bonuseco"
    assert "retirée" in mailbox.body(mailbox.to(EMAIL)[0])
    assert "Module Bonus Eco" not in page_text(user_client.get("/"))
    refused = user_client.get(authorize_url(
        "module-a", redirect_uri="http://127.0.0.1:8765/callback"))
    assert refused.status_code == 403
    assert HABILITATION_REFUSED in page_text(refused)

    response = act(console, account_url("habilitations/bonuseco/restore"), {"reason": REASON})
    assert_done(response, audit_rows, "habilitation.restored", mails=2, mailbox=mailbox)
    assert "Module Bonus Eco" in page_text(user_client.get("/"))


def test_grant_with_profile_and_dates(console, make_user, mailbox, audit_rows):
    make_user("jdupont", habilitations=())
    response = act(console, account_url("habilitations/grant"), {
        "habilitation": "bonuseco", "profile": "concessionnaire", "starts_at": "2026-01-01",
        "ends_at": "2036-12-31", "reason": REASON})
    assert_done(response, audit_rows, "habilitation.granted", mailbox=mailbox)
    row = audit_rows("habilitation.granted")[-1]
    assert row.details["profile"] == "concessionnaire"
    assert row.details["ends_at"].startswith("2036-12-31")
    grant = reload_login("jdupont").grants[0]
    assert (grant.profile, grant.granted_by) == ("concessionnaire", OPERATOR)
    assert grant.starts_at.year == 2026
    assert grant.ends_at.year == 2036
    text = page_text(console.get(account_url()))
    assert "concessionnaire" in text
    assert "31/12/2036" in text
    assert "attribuée" in mailbox.body(mailbox.to(EMAIL)[0])


def test_deactivate_kills_the_session_and_activate_lets_the_user_back(
        console, target, user_client, mailbox, audit_rows):
    login(user_client, "jdupont", STRONG_PASSWORD)
    assert user_client.get("/").status_code == 200
    assert "Aucune session ouverte" not in page_text(console.get(account_url()))
    response = confirm(console, account_url("deactivate"), REASON)
    assert_done(response, audit_rows, "account.deactivated", mailbox=mailbox)
    assert audit_rows("account.deactivated")[-1].details["sessions_ended"] == 1
    assert user_client.get("/").status_code == 303  # session dead: back to login
    assert login(user_client, "jdupont", STRONG_PASSWORD).status_code == 200  # refused
    assert "Désactivé" in page_text(console.get(account_url()))

    response = act(console, account_url("activate"), {"reason": REASON})
    assert_done(response, audit_rows, "account.activated", mails=2, mailbox=mailbox)
    assert login(user_client, "jdupont", STRONG_PASSWORD).status_code == 303


def test_end_sessions(console, target, user_client, mailbox, audit_rows):
    login(user_client, "jdupont", STRONG_PASSWORD)
    response = confirm(console, account_url("end-sessions"), REASON)
    assert_done(response, audit_rows, "sessions.ended", mailbox=mailbox)
    assert audit_rows("sessions.ended")[-1].details["count"] == 1
    assert user_client.get("/").status_code == 303
    assert "Aucune session ouverte" in page_text(console.get(account_url()))


def test_resend_welcome_sends_the_two_mails(console, make_user, user_client, mailbox,
                                            audit_rows):
    make_user("jdupont", provisional="Ancien-Provisoire-1")
    response = act(console, account_url("resend-welcome"), {"reason": REASON})
    assert_done(response, audit_rows, "account.welcome_resent", mails=2, mailbox=mailbox)
    identifier, password = (mailbox.body(m) for m in mailbox.to(EMAIL))
    assert "Identifiant : jdupont" in identifier
    assert "Habilitation : Bonus Eco" in identifier
    provisional = mailbox.provisional_password(EMAIL)
    assert login(user_client, "jdupont", provisional).headers["Location"] == "/password-change"


@pytest.mark.parametrize("reason", ["", "  ", "ab", "x" * 501])
def test_a_missing_or_bad_reason_changes_nothing(console, make_user, reason, mailbox,
                                                 audit_rows):
    make_user("jdupont", failed_attempts=3, locked_until=utcnow() + timedelta(minutes=20))
    before = len(audit_rows())
    response = act(console, account_url("unlock"), {"reason": reason})
    assert response.status_code == 400
    text = page_text(response)
    assert ("Indiquez le motif" in text) or ("Le motif compte de 3 à 500 caractères" in text)
    assert 'id="reason-error"' in response.text
    assert len(audit_rows()) == before
    assert mailbox.messages == []
    assert reload_login("jdupont").locked_until is not None


@pytest.mark.parametrize(("data", "message"), [
    ({"habilitation": "inconnue"}, "Habilitation inconnue « inconnue »"),
    ({"habilitation": ""}, "Ce champ est obligatoire."),
    ({"starts_at": "2026-13-01"}, "Date de début invalide « 2026-13-01 » : format AAAA-MM-JJ"),
    ({"ends_at": "demain"}, "Date de fin invalide « demain »"),
    ({"starts_at": "2026-06-01", "ends_at": "2026-01-01"},
     "La date de fin doit suivre la date de début"),
    ({"profile": "p" * 65}, "Le profil compte au plus 64 caractères."),
])
def test_bad_grant_input_is_refused_in_french(console, make_user, data, message, mailbox,
                                             audit_rows):
    make_user("jdupont", habilitations=())
    before = len(audit_rows())
    response = act(console, account_url("habilitations/grant"),
                   {"habilitation": "bonuseco", "reason": REASON, **data})
    assert response.status_code == 400
    assert message in page_text(response)
    assert len(audit_rows()) == before
    assert mailbox.messages == []
    assert reload_login("jdupont").grants == []


def test_revoke_of_a_habilitation_not_held_is_refused(console, make_user, audit_rows):
    make_user("jdupont", habilitations=())
    response = confirm(console, account_url("habilitations/bonuseco/revoke"), REASON)
    assert response.status_code == 400
    assert "ne détient pas l'habilitation" in page_text(response)
    assert audit_rows("habilitation.revoked") == []


def test_the_cli_clears_secrets_through_the_same_service(runner, target, mailbox, audit_rows):
    result = runner.invoke(args=["users", "clear-secrets", "jdupont", "--reason", "appel"])
    assert result.exit_code == 0, result.output
    assert "Question secrète de jdupont effacée" in result.output
    row = audit_rows("secrets.cleared")[-1]
    assert (row.actor, row.details["reason"]) == ("cli", "appel")
    assert not reload(target).has_secrets
    assert len(mailbox.to(EMAIL)) == 1
    result = runner.invoke(args=["users", "clear-secrets", "jdupont"])
    assert result.exit_code == 2
    assert "n'est pas renseignée" in result.stderr


def test_change_password_after_reset_completes_with_the_mailed_password(
        console, target, user_client, mailbox):
    confirm(console, account_url("reset-password"), REASON)
    provisional = mailbox.provisional_password(EMAIL)
    login(user_client, "jdupont", provisional)
    response = post_form(user_client, "/password-change", {
        "new_password": OTHER_STRONG_PASSWORD, "confirmation": OTHER_STRONG_PASSWORD})
    assert response.status_code == 303
    assert user_client.get("/").status_code == 200
