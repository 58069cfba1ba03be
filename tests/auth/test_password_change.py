"""The password change step of the login (SPEC 1.1 step 2, 1.4 expired password, 4 policy)."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func
from sqlalchemy import select

from idp.assistance import services
from idp.database import commit
from idp.extensions import db
from idp.models import AuditEvent
from idp.models import PasswordHistory
from idp.security import passwords
from tests.conftest import OTHER_STRONG_PASSWORD
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import page_text
from tests.conftest import reload

MSG_INVALID = "Le couple identifiant/ mot de passe est incorrecte"
MSG_EXPIRED = "Votre mot de passe a expiré : vous devez le changer avant de poursuivre."
MSG_PROVISIONAL = (
    "Vous vous êtes connecté avec un mot de passe provisoire : choisissez maintenant "
    "votre mot de passe personnel."
)
MSG_MISMATCH = "Les deux mots de passe saisis ne sont pas identiques."
MSG_TOO_SHORT = "Le mot de passe doit contenir au moins 12 caractères."
MSG_TOO_LONG = "Le mot de passe ne doit pas dépasser 128 caractères."
MSG_WEAK = (
    "Ce mot de passe est trop facile à deviner : allongez-le ou assemblez plusieurs mots "
    "sans rapport entre eux, sans reprendre votre nom ni votre identifiant."
)
MSG_HISTORY = (
    "Ce mot de passe fait partie de vos 5 derniers mots de passe : choisissez-en un nouveau."
)
MSG_SAME_AS_PROVISIONAL = (
    "Le nouveau mot de passe doit être différent du mot de passe provisoire."
)
NEW_PASSWORD = OTHER_STRONG_PASSWORD
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def start_change(client, make_user, **kwargs):
    """An account whose password expired 91 days after its change, logged in up to the step."""
    user = make_user(**{"changed_days_ago": 91, **kwargs})
    response = login(client, "jdupont", STRONG_PASSWORD)
    assert response.headers["Location"] == "/password-change"
    return user


def change(client, new_password: str, confirmation: str | None = None, **kwargs):
    page = client.get("/password-change", **kwargs)
    return client.post("/password-change", data={
        "csrf_token": csrf_token(page.text), "new_password": new_password,
        "confirmation": new_password if confirmation is None else confirmation,
    }, **kwargs)


def history_count(user) -> int:
    return db.session.execute(
        select(func.count()).select_from(PasswordHistory).where(PasswordHistory.user_id == user.id)
    ).scalar_one()


def audit_count() -> int:
    return db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()


def reset_by_assistance(user, mailbox) -> str:
    """The Assistance mails a provisional password; the one the user reads in the mail."""
    services.reset_password(user, actor="test", reason="oubli", now=datetime.now(UTC))
    commit()
    return mailbox.provisional_password(user.email)


# --- the page ----------------------------------------------------------------------


def test_the_step_shows_its_fields_and_why(client, make_user):
    start_change(client, make_user)
    text = page_text(client.get("/password-change"))
    assert ('<label class="fr-label fr-password__label" for="new_password">Nouveau mot de passe'
            in text)
    assert ('<label class="fr-label fr-password__label" for="confirmation">'
            'Confirmation du nouveau mot de passe') in text
    assert MSG_EXPIRED in text
    assert text.count('autocomplete="new-password"') == 2


# --- refusals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new_password", "message"),
    [
        ("Éléphant-☀1", MSG_TOO_SHORT),
        (("Trombone-Lagune-Kiwi-Falaise-Moustique-" * 4)[:129], MSG_TOO_LONG),
        ("azertyuiop123", MSG_WEAK),
        ("motdepasse2024", MSG_WEAK),
        ("Girafe-JDupont-Ocean-93", MSG_WEAK),
        (STRONG_PASSWORD, MSG_HISTORY),
    ],
)
def test_each_refusal_is_shown_on_the_new_password_field(client, make_user, audit_rows,
                                                        new_password, message):
    user = start_change(client, make_user)
    before = user.password_hash
    response = change(client, new_password)
    assert response.status_code == 200
    text = page_text(response)
    assert f'<p class="fr-message fr-message--error" id="new_password-error">{message}</p>' in text
    # The error and the rules, in the messages group the field points to.
    assert 'aria-describedby="new_password-messages"' in text
    assert 'aria-invalid="true"' in text
    assert new_password not in text  # never sent back
    assert reload(user).password_hash == before
    assert history_count(user) == 0
    assert audit_rows("password.changed") == []
    assert client.get("/password-change").status_code == 200  # still at the step


def test_a_confirmation_that_differs_is_shown_on_its_field(client, make_user):
    user = start_change(client, make_user)
    before = user.password_hash
    response = change(client, NEW_PASSWORD, NEW_PASSWORD + "!")
    text = page_text(response)
    assert (f'<p class="fr-message fr-message--error" id="confirmation-error">{MSG_MISMATCH}</p>'
            in text)
    assert 'aria-describedby="confirmation-error"' in text
    assert "new_password-error" not in text
    assert reload(user).password_hash == before


def test_the_provisional_password_cannot_become_the_new_one(client, make_user, mailbox):
    user = make_user()
    provisional = reset_by_assistance(user, mailbox)
    assert login(client, "jdupont", provisional).headers["Location"] == "/password-change"
    assert MSG_PROVISIONAL in page_text(client.get("/password-change"))
    text = page_text(change(client, provisional))
    assert (f'<p class="fr-message fr-message--error" id="new_password-error">'
            f'{MSG_SAME_AS_PROVISIONAL}</p>') in text


# --- success -----------------------------------------------------------------------


def test_a_new_password_completes_the_login(app, client, make_user, audit_rows, mailbox):
    user = start_change(client, make_user)
    response = change(client, NEW_PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    assert [row.event for row in audit_rows()][-2:] == ["password.changed", "login.success"]
    assert audit_rows("password.changed")[0].details["reason"] == "expired"
    [row] = db.session.execute(
        select(PasswordHistory).where(PasswordHistory.user_id == user.id)
    ).scalars()
    assert passwords.verify_password(row.password_hash, NEW_PASSWORD)
    user = reload(user)
    assert user.password_hash == row.password_hash
    assert user.password_changed_at > datetime.now(UTC) - timedelta(minutes=1)
    [notice] = mailbox.to("jdupont@example.test")
    assert "mot de passe a été changé" in notice["Subject"]
    assert NEW_PASSWORD not in mailbox.body(notice)
    # The old password has ended; the new one opens a session directly.
    assert MSG_INVALID in page_text(login(app.test_client(), "jdupont", STRONG_PASSWORD))
    assert login(app.test_client(), "jdupont", NEW_PASSWORD).headers["Location"] == "/"


def test_the_login_goes_on_to_its_next_page(client, make_user):
    make_user(changed_days_ago=91)
    page = client.get("/login", query_string={"next": "/?module=demo"})
    client.post("/login", data={"csrf_token": csrf_token(page.text), "identifier": "jdupont",
                                "password": STRONG_PASSWORD, "next": "/?module=demo"})
    response = change(client, NEW_PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/?module=demo"


def test_after_a_reset_only_the_new_password_works(app, client, make_user, mailbox):
    user = make_user()
    provisional = reset_by_assistance(user, mailbox)
    login(client, "jdupont", provisional)
    assert change(client, NEW_PASSWORD).headers["Location"] == "/"
    assert client.get("/").status_code == 200
    for old in (provisional, STRONG_PASSWORD):
        assert MSG_INVALID in page_text(login(app.test_client(), "jdupont", old))
    assert login(app.test_client(), "jdupont", NEW_PASSWORD).headers["Location"] == "/"
    user = reload(user)
    assert (user.provisional_hash, user.is_provisional) == (None, False)


# --- the strength meter ------------------------------------------------------------


def test_the_strength_endpoint_answers_without_storing_anything(client, make_user):
    user = start_change(client, make_user)
    before, audited = user.password_hash, audit_count()
    token = csrf_token(client.get("/password-change").text)
    weak = client.post("/password-change/strength",
                       data={"csrf_token": token, "password": "azertyuiop123"})
    assert weak.status_code == 200
    assert weak.json["score"] < 3
    assert weak.json["ok"] is False
    assert weak.json["label"] in ("Très faible", "Faible", "Moyen")
    strong = client.post("/password-change/strength", data={"password": NEW_PASSWORD},
                         headers={"X-CSRFToken": token})
    assert strong.json == {"score": 4, "label": "Très fort", "ok": True,
                           "rules": {"length": True, "strength": True}}
    assert strong.headers["Cache-Control"] == "no-store"
    assert reload(user).password_hash == before
    assert (audit_count(), history_count(user)) == (audited, 0)
    assert client.get("/password-change").status_code == 200  # still at the step


def test_the_strength_endpoint_needs_the_step_and_a_csrf_token(app, client, make_user):
    start_change(client, make_user)
    assert client.post("/password-change/strength", data={"password": "x"}).status_code == 400
    stranger = app.test_client()
    token = csrf_token(stranger.get("/login").text)
    response = stranger.post("/password-change/strength",
                             data={"csrf_token": token, "password": NEW_PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"


def test_a_late_strength_request_leaves_the_new_session_alone(app, client, make_user):
    # The meter's last request may leave before the form and arrive after it, with
    # the cookie of before the change: its answer must not send that cookie back
    # (the browser would drop the new session: logged out).
    start_change(client, make_user)
    token = csrf_token(client.get("/password-change").text)
    old_cookie = client.get_cookie("idp_session").value
    form = {"csrf_token": token, "new_password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    assert client.post("/password-change", data=form).headers["Location"] == "/"
    late = app.test_client()  # the same browser, its request sent before the change
    late.set_cookie("idp_session", old_cookie)
    response = late.post("/password-change/strength", data={"password": NEW_PASSWORD},
                         headers={"X-CSRFToken": token})
    assert response.status_code == 303
    assert "Set-Cookie" not in response.headers
    assert client.get("/").status_code == 200  # still signed in


# --- replay and expiry of the step -------------------------------------------------


def test_replaying_the_step_after_completion_changes_nothing(client, make_user, audit_rows):
    user = start_change(client, make_user)
    token = csrf_token(client.get("/password-change").text)
    old_cookie = client.get_cookie("idp_session").value
    form = {"csrf_token": token, "new_password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    assert client.post("/password-change", data=form).headers["Location"] == "/"
    changed = reload(user).password_hash
    client.set_cookie("idp_session", old_cookie)
    third = "Hirondelle-Boussole-Granit-71"
    replay = client.post("/password-change",
                         data={**form, "new_password": third, "confirmation": third})
    assert replay.status_code == 303
    assert replay.headers["Location"] == "/login"
    assert reload(user).password_hash == changed
    assert history_count(user) == 1
    assert len(audit_rows("password.changed")) == 1
    assert len(audit_rows("login.success")) == 1


def test_a_step_older_than_thirty_minutes_is_refused(client, make_user, audit_rows):
    user = make_user(password_changed_at=START - timedelta(days=91))
    with time_machine.travel(START, tick=False):
        assert login(client, "jdupont", STRONG_PASSWORD).headers["Location"] == "/password-change"
    with time_machine.travel(START + timedelta(minutes=29), tick=False):
        page = client.get("/password-change")
        assert page.status_code == 200
    with time_machine.travel(START + timedelta(minutes=30), tick=False):
        response = client.post("/password-change", data={
            "csrf_token": csrf_token(page.text), "new_password": NEW_PASSWORD,
            "confirmation": NEW_PASSWORD,
        })
        assert response.status_code == 303
        assert response.headers["Location"] == "/login"
        assert client.get("/password-change").headers["Location"] == "/login"
    assert passwords.verify_password(reload(user).password_hash, STRONG_PASSWORD)
    assert audit_rows("password.changed") == []
    with client.session_transaction() as cookie:
        assert "flow" not in cookie


# --- rate limits ------------------------------------------------------------------------


def assert_429_page(response) -> None:
    assert response.status_code == 429
    text = page_text(response)
    assert "Trop de tentatives" in text
    assert "Patientez quelques minutes avant de réessayer." in text
    assert int(response.headers["Retry-After"]) > 0


def test_refused_passwords_are_limited_per_account(app, client, make_user):
    make_user(password_changed_at=START - timedelta(days=91))
    with time_machine.travel(START, tick=False):
        login(client, "jdupont", STRONG_PASSWORD)
        for _ in range(5):
            assert MSG_WEAK in page_text(change(client, "motdepasse2024"))
        # The account's limit holds in another browser and from another address too.
        other = app.test_client()
        address = {"REMOTE_ADDR": "198.51.100.7"}
        assert login(other, "jdupont", STRONG_PASSWORD, environ_base=address).headers[
            "Location"] == "/password-change"
        assert_429_page(change(other, NEW_PASSWORD, environ_base=address))
    with time_machine.travel(START + timedelta(minutes=1, seconds=1), tick=False):
        assert change(other, NEW_PASSWORD, environ_base=address).headers["Location"] == "/"


def test_password_change_posts_are_limited_per_address(app, make_user):
    for n in range(3):
        make_user(f"user{n}", password_changed_at=START - timedelta(days=91))
    with time_machine.travel(START, tick=False):
        outcomes = []
        for n in range(3):
            browser = app.test_client()
            assert login(browser, f"user{n}", STRONG_PASSWORD).headers["Location"] == (
                "/password-change")
            # Mismatched confirmations cost nothing and count per address only.
            outcomes += [change(browser, NEW_PASSWORD, "autre").status_code for _ in range(8)]
        assert outcomes[:20] == [200] * 20
        assert set(outcomes[20:]) == {429}
        assert_429_page(change(browser, NEW_PASSWORD))


# --- the rules under the field, and the confirmation ---------------------------------

MSG_DONE = "Votre nouveau mot de passe est enregistré. Un mail de confirmation vous a été envoyé."


def rules_of(text: str) -> list[str]:
    group = re.search(r'<div class="fr-messages-group" id="new_password-messages".*?</div>',
                      text, re.S).group(0)
    return re.findall(r'<p class="fr-message fr-message--info" data-rule="(\w+)"', group)


def test_an_expired_password_is_never_called_provisional(client, make_user):
    start_change(client, make_user)
    text = page_text(client.get("/password-change"))
    assert MSG_EXPIRED in text
    assert "provisoire" not in text.split('<main', 1)[1]
    assert rules_of(text) == ["length", "strength", "history"]


def test_a_provisional_password_adds_its_own_rule(client, make_user, mailbox):
    user = make_user()
    provisional = reset_by_assistance(user, mailbox)
    login(client, "jdupont", provisional)
    text = page_text(client.get("/password-change"))
    assert rules_of(text) == ["length", "strength", "history", "provisional"]
    assert "être différent du mot de passe provisoire" in text


def test_the_rules_are_tied_to_the_field_and_named_for_the_meter(client, make_user):
    start_change(client, make_user)
    text = page_text(client.get("/password-change"))
    field = re.search(r'<input[^>]*id="new_password"[^>]*>', text).group(0)
    assert 'aria-describedby="new_password-messages"' in field
    assert "data-strength-meter" in field
    assert '<p class="fr-message" id="new_password-rules">Votre mot de passe doit :</p>' in text
    assert 'aria-label="Afficher le nouveau mot de passe"' in text
    assert 'aria-label="Afficher la confirmation"' in text


def test_the_meter_tells_each_rule_it_can_check(client, make_user):
    start_change(client, make_user)
    token = csrf_token(client.get("/password-change").text)
    for candidate, rules in (("court", {"length": False, "strength": False}),
                             ("Girafe-JDupont-Ocean-93", {"length": True, "strength": False}),
                             (NEW_PASSWORD, {"length": True, "strength": True})):
        answer = client.post("/password-change/strength",
                             data={"csrf_token": token, "password": candidate})
        assert answer.json["rules"] == rules


def test_a_forced_change_is_confirmed_on_the_next_page(client, make_user):
    start_change(client, make_user)
    response = change(client, NEW_PASSWORD)
    assert response.headers["Location"] == "/"
    home = page_text(client.get("/"))
    assert re.search(r'<div class="fr-alert fr-alert--success[^"]*"[^>]*>\s*<p>'
                     + re.escape(MSG_DONE), home)
