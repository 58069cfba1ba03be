"""Who may use the console (SPEC 1.3): operators only, never on themselves or on `assistance`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import g
from sqlalchemy import select
from sqlalchemy import update

from idp.assistance import permissions
from idp.assistance import services
from idp.clock import utcnow
from idp.extensions import db
from idp.models import Habilitation
from idp.models import HabilitationGrant
from idp.security import challenges
from tests.assistance.conftest import OPERATOR
from tests.assistance.conftest import act
from tests.conftest import SECRET_ANSWER
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import page_text
from tests.conftest import reload

ACTIONS = ("reset-password", "unlock", "clear-secrets", "deactivate", "activate",
           "resend-welcome", "end-sessions")
CONSOLE_URLS = [
    "/assistance/", "/assistance/?q=dupont", "/assistance/new-account", "/assistance/import",
    "/assistance/accounts/jdupont", "/assistance/accounts/jdupont/habilitations/grant",
    "/assistance/accounts/jdupont/habilitations/bonuseco/revoke",
    "/assistance/accounts/jdupont/habilitations/bonuseco/restore",
    *(f"/assistance/accounts/jdupont/{action}" for action in ACTIONS),
]
POST_URLS = [url for url in CONSOLE_URLS
             if "?" not in url and url not in ("/assistance/", "/assistance/accounts/jdupont")]


@pytest.fixture
def target(make_user):
    return make_user("jdupont")


def _grant_of(user, code: str) -> HabilitationGrant | None:
    db.session.expire_all()
    found = db.session.execute(
        select(HabilitationGrant).join(Habilitation)
        .where(HabilitationGrant.user_id == user.id, Habilitation.code == code)
    ).scalar()
    return found


def test_anonymous_visitors_are_sent_to_the_login_page_and_back(client, target):
    for url in CONSOLE_URLS:
        response = client.get(url)
        assert response.status_code == 303, url
        assert response.headers["Location"].startswith("/login?next=")
        assert "/assistance/" in response.headers["Location"]


def test_the_login_page_brings_the_operator_back_to_the_console(client, operator, target):
    first = client.get("/assistance/accounts/jdupont")
    page = client.get(first.headers["Location"])
    response = client.post("/login", data={
        "csrf_token": csrf_token(page.text), "identifier": OPERATOR,
        "password": STRONG_PASSWORD, "next": "/assistance/accounts/jdupont"})
    assert response.headers["Location"] == "/assistance/accounts/jdupont"
    assert client.get("/assistance/accounts/jdupont").status_code == 200


def test_a_user_without_assistance_gets_the_french_403_page(client, target, make_user):
    make_user("lambda")
    login(client, "lambda", STRONG_PASSWORD)
    for url in CONSOLE_URLS:
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Accès refusé" in page_text(response)
        assert "réservée aux agents de l'Assistance" in page_text(response)


def test_a_user_without_assistance_cannot_post_either(client, target, make_user, audit_rows,
                                                      mailbox):
    make_user("lambda")
    login(client, "lambda", STRONG_PASSWORD)
    token = csrf_token(client.get("/").text)
    before = len(audit_rows())
    for url in POST_URLS:
        response = client.post(url, data={"csrf_token": token, "reason": "essai",
                                          "confirm": "y", "habilitation": "bonuseco"})
        assert response.status_code == 403, url
    assert len(audit_rows()) == before
    assert mailbox.messages == []


@pytest.mark.parametrize("change", [
    {"ends_at": timedelta(days=-1)}, {"starts_at": timedelta(days=1)}, {"revoked_at": None},
])
def test_an_assistance_grant_out_of_its_dates_or_revoked_is_refused(client, operator, change):
    key, delta = next(iter(change.items()))
    value = utcnow() + delta if delta is not None else utcnow()
    assistance = db.session.execute(select(Habilitation).filter_by(code="assistance")).scalar()
    db.session.execute(update(HabilitationGrant).where(
        HabilitationGrant.user_id == operator.id,
        HabilitationGrant.habilitation_id == assistance.id).values({key: value}))
    db.session.commit()
    login(client, OPERATOR, STRONG_PASSWORD)
    assert client.get("/assistance/").status_code == 403


def test_console_pages_are_never_cached(console, target):
    for url in ("/assistance/", "/assistance/?q=jdu", "/assistance/accounts/jdupont",
                "/assistance/accounts/jdupont/reset-password"):
        response = console.get(url)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"


def test_an_unknown_account_or_action_is_a_french_404(console, target):
    for url in ("/assistance/accounts/personne", "/assistance/accounts/jdupont/explode",
                "/assistance/accounts/jdupont/habilitations/inconnue/revoke"):
        response = console.get(url)
        assert response.status_code == 404
        assert "Page introuvable" in page_text(response)


def test_a_post_without_csrf_token_is_refused(console, target, audit_rows):
    before = len(audit_rows())
    response = console.post("/assistance/accounts/jdupont/unlock", data={"reason": "appel"})
    assert response.status_code == 400
    assert "Le formulaire a expiré" in page_text(response)
    assert len(audit_rows()) == before


# --- the operator rules ------------------------------------------------------------------


OWN_URLS = [
    *(f"/assistance/accounts/{OPERATOR}/{action}" for action in ACTIONS),
    f"/assistance/accounts/{OPERATOR}/habilitations/grant",
    f"/assistance/accounts/{OPERATOR}/habilitations/bonuseco/revoke",
    f"/assistance/accounts/{OPERATOR}/habilitations/bonuseco/restore",
]


def test_an_operator_cannot_act_on_their_own_account(console, audit_rows, mailbox):
    token = csrf_token(console.get("/assistance/new-account").text)
    before = len(audit_rows())
    for url in OWN_URLS:
        assert console.get(url).status_code == 403, url
        response = console.post(url, data={"csrf_token": token, "reason": "moi-même",
                                           "confirm": "y", "habilitation": "bonuseco"})
        assert response.status_code == 403, url
        assert "votre propre compte" in page_text(response)
    # Nothing done; each refused attempt (not the pages) is on record.
    refused = [(row.event, row.login) for row in audit_rows()[before:]]
    assert refused == [("assistance.refused", OPERATOR)] * len(OWN_URLS)
    assert mailbox.messages == []


def test_their_own_account_page_shows_no_action(console):
    text = page_text(console.get(f"/assistance/accounts/{OPERATOR}"))
    assert "Il s'agit de votre propre compte" in text
    assert "reset-password" not in text


def test_an_operator_cannot_grant_assistance(console, target, audit_rows):
    url = "/assistance/accounts/jdupont/habilitations/grant"
    page = page_text(console.get(url))
    assert 'value="assistance"' not in page  # not even offered
    response = act(console, url, {"habilitation": "assistance", "reason": "promotion"})
    assert response.status_code == 403
    assert "ligne de commande" in page_text(response)
    assert _grant_of(target, "assistance") is None
    assert audit_rows("habilitation.granted") == []


def test_an_operator_cannot_revoke_or_restore_assistance(console, make_user, audit_rows):
    colleague = make_user("collegue", habilitations=("assistance",))
    for verb in ("revoke", "restore"):
        url = f"/assistance/accounts/collegue/habilitations/assistance/{verb}"
        assert console.get(url).status_code == 403
    token = csrf_token(console.get("/assistance/new-account").text)
    response = console.post("/assistance/accounts/collegue/habilitations/assistance/revoke",
                            data={"csrf_token": token, "reason": "départ", "confirm": "y"})
    assert response.status_code == 403
    assert _grant_of(colleague, "assistance").revoked_at is None
    assert audit_rows("habilitation.revoked") == []


def test_an_operator_cannot_create_an_operator(console, audit_rows):
    response = act(console, "/assistance/new-account", {
        "login": "nouvel.agent", "email": "nouvel.agent@asp.test", "given_name": "Nouvel",
        "family_name": "Agent", "habilitation": "assistance", "reason": "embauche"})
    assert response.status_code == 403
    assert "nouvel.agent" not in [row.login for row in audit_rows("account.created")]


def test_the_rules_hold_in_the_services_whatever_the_caller(app, operator, target):
    """Inside a console request any service refuses, even one the views never call so."""
    now = utcnow()
    permissions.set_console_operator(reload(operator))
    try:
        with pytest.raises(permissions.OperatorNotAllowed):
            services.unlock_account(reload(operator), actor=OPERATOR, reason="x", now=now)
        with pytest.raises(permissions.OperatorNotAllowed):
            services.clear_secrets(reload(operator), actor=OPERATOR, reason="x", now=now)
        with pytest.raises(permissions.OperatorNotAllowed):
            services.grant_habilitation(reload(target), "assistance", "", actor=OPERATOR,
                                        reason="x", now=now)
        with pytest.raises(permissions.OperatorNotAllowed):
            services.create_user(services.NewAccount(
                login="x.agent", email="x@asp.test", given_name="X", family_name="Agent",
                habilitations=(("assistance", ""),)), actor=OPERATOR, reason="x", now=now)
    finally:
        g.pop("assistance_operator")
        db.session.rollback()


def test_an_operator_may_still_use_the_forgotten_password_procedure(console, operator,
                                                                   mailbox, audit_rows,
                                                                   monkeypatch):
    """Outside the console the actor is the user themself: not an operator action.

    The operator is logged in to the console in the same browser, and their own
    account holds ``assistance``: the procedure must still mail them a
    provisional password that opens their account.
    """
    monkeypatch.setattr(challenges, "arithmetic_operation", lambda: (7, "+", 5))
    page = console.get("/forgot-password")
    assert "Combien font 7 + 5 ?" in page_text(page)
    response = console.post("/forgot-password", data={
        "csrf_token": csrf_token(page.text), "identifier": OPERATOR, "result": "12"})
    assert response.status_code == 303, page_text(response)
    question = console.get("/forgot-password/question")
    response = console.post("/forgot-password/question", data={
        "csrf_token": csrf_token(question.text), "answer": SECRET_ANSWER})
    assert "Procédure terminée" in page_text(response)
    provisional = mailbox.provisional_password(operator.email)
    assert [(row.actor, row.outcome) for row in audit_rows("password.reset_sent")] == [
        (OPERATOR, "info")]
    assert audit_rows("assistance.refused") == []
    console.post("/logout", data={"csrf_token": csrf_token(console.get("/").text)})
    response = login(console, OPERATOR, provisional)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/password-change")


def test_the_command_line_may_grant_and_revoke_assistance(runner, target):
    result = runner.invoke(args=["users", "grant", "jdupont", "assistance", "--reason", "DSI"])
    assert result.exit_code == 0, result.output
    assert _grant_of(target, "assistance").revoked_at is None
    result = runner.invoke(args=["users", "revoke", "jdupont", "assistance"])
    assert result.exit_code == 0, result.output
    assert _grant_of(target, "assistance").revoked_at is not None


def test_the_actor_names_of_the_command_line_are_reserved_logins(console, audit_rows):
    response = act(console, "/assistance/new-account", {
        "login": "cli", "email": "cli@example.test", "given_name": "C", "family_name": "Li",
        "reason": "essai"})
    assert response.status_code == 400
    assert "L'identifiant « cli » est réservé" in page_text(response)
