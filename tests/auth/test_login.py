"""The login page (SPEC 1.4, 3.5): every outcome, its message and its audit row."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from idp.extensions import db
from idp.models import UserSession
from idp.security.keyed_hash import keyed_identifier
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import page_text
from tests.conftest import reload

MSG_INVALID = "Le couple identifiant/ mot de passe est incorrecte"
MSG_LOCKED = (
    "Le compte a été verrouillé suite à un trop grand nombre d'échecs de connexion "
    "avec cet identifiant utilisateur"
)
MSG_EXPIRED = "Votre mot de passe a expiré : vous devez le changer avant de poursuivre."
MSG_PROVISIONAL = (
    "Vous vous êtes connecté avec un mot de passe provisoire : choisissez maintenant "
    "votre mot de passe personnel."
)
MSG_PROVISIONAL_EXPIRED = (
    "Votre mot de passe provisoire a expiré. Utilisez le lien « J'ai oublié mon mot de passe » "
    "ou appelez l'Assistance au 0 800 74 74 00."
)
MSG_CSRF = (
    "Le formulaire a expiré ou n'a pas été envoyé depuis cette page. Rechargez la page "
    "et recommencez."
)
WRONG = "Pas-Le-Bon-Mot-De-Passe-1"
PROVISIONAL = "Hibou-Sapin-Nuage-61"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def refused_with(response, message: str) -> bool:
    """The login page shown again with ``message`` in its alert, and no session."""
    return response.status_code == 200 and message in page_text(response)


def last(audit_rows, event: str):
    rows = audit_rows(event)
    assert rows, f"no {event} audit row"
    return rows[-1]


def has_session(client) -> bool:
    return client.get("/").status_code == 200


# --- the page ----------------------------------------------------------------------


def test_login_page_has_its_labels_and_the_assistance(client):
    response = client.get("/login")
    text = page_text(response)
    assert response.status_code == 200
    assert '<label class="fr-label" for="identifier">Identifiant' in text
    assert '<label class="fr-label fr-password__label" for="password">Mot de passe' in text
    assert "Se connecter</button>" in text
    assert "J'ai oublié mon mot de passe</button>" in text
    assert "0 800 74 74 00" in text
    assert 'autocomplete="current-password"' in text


def test_login_hint_prefills_the_identifier_escaped(client):
    assert 'value="jdupont"' in client.get("/login?login_hint=jdupont").text
    text = client.get('/login?login_hint="><script>alert(1)</script>').text
    assert "<script>alert(1)" not in text
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in text


# --- outcomes ----------------------------------------------------------------------


def test_right_password_opens_the_session(client, make_user, audit_rows):
    user = make_user()
    response = login(client, "jdupont", STRONG_PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Mes applications" in page_text(home)
    row = last(audit_rows, "login.success")
    assert (row.login, row.user_id, row.outcome, row.ip) == ("jdupont", user.id, "success",
                                                             "127.0.0.1")
    assert reload(user).last_login_at is not None


def test_wrong_password_is_refused(client, make_user, audit_rows):
    user = make_user()
    response = login(client, "jdupont", WRONG)
    assert refused_with(response, MSG_INVALID)
    assert 'value="jdupont"' in response.text
    assert WRONG not in response.text
    row = last(audit_rows, "login.failure")
    assert (row.login, row.user_id, row.outcome) == ("jdupont", user.id, "failure")
    assert row.details == {"reason": "credentials"}
    assert reload(user).failed_attempts == 1
    assert not has_session(client)


def test_unknown_identifier_gets_the_same_message(client, make_user, audit_rows):
    make_user()
    response = login(client, "inconnu", WRONG)
    assert refused_with(response, MSG_INVALID)
    row = last(audit_rows, "login.failure")
    assert (row.user_id, row.details) == (None, {"reason": "credentials"})
    # Recorded as a keyed hash: the same typing gives the same value, the text never shows.
    assert row.login == keyed_identifier("inconnu")
    assert row.login != keyed_identifier("inconnu2")
    assert WRONG not in str(row.details)


def test_a_password_typed_as_identifier_is_never_recorded(client, caplog, make_user,
                                                          audit_rows):
    """An identifier in clear in the audit only when it names an account (OWASP Logging CS)."""
    make_user()
    caplog.set_level(logging.DEBUG)
    for _ in range(4):
        login(client, STRONG_PASSWORD, WRONG)
    login(client, "jdupont", WRONG)
    rows = audit_rows()
    dump = json.dumps([[row.login, row.details] for row in rows], ensure_ascii=False)
    assert STRONG_PASSWORD not in dump
    assert STRONG_PASSWORD.lower() not in dump
    assert STRONG_PASSWORD.lower() not in caplog.text
    assert {row.login for row in rows if row.event == "account.locked"} == {
        keyed_identifier(STRONG_PASSWORD.lower())}
    assert rows[-1].login == "jdupont"  # a real account is named in clear


def test_third_failure_locks_and_mails_the_owner(client, make_user, audit_rows, mailbox):
    make_user()
    for _ in range(2):
        assert refused_with(login(client, "jdupont", WRONG), MSG_INVALID)
    assert audit_rows("account.locked") == []
    assert refused_with(login(client, "jdupont", WRONG), MSG_INVALID)
    row = last(audit_rows, "account.locked")
    assert row.login == "jdupont"
    [notice] = mailbox.to("jdupont@example.test")
    assert "verrouillé" in notice["Subject"]
    body = mailbox.body(notice)
    assert "verrouillé pour 20 minutes" in body
    assert "J'ai oublié mon mot de passe" in body
    assert WRONG not in body


MSG_NOW_LOCKED = (
    "Votre compte est maintenant verrouillé pendant 20 minutes. Vous pourrez réessayer "
    "ensuite, utiliser le lien « J'ai oublié mon mot de passe » ou appeler l'Assistance au "
    "0 800 74 74 00."
)
MSG_LOCK_NEXT_STEPS = (
    "Le verrouillage dure 20 minutes. Vous pourrez ensuite réessayer. Sans attendre, utilisez "
    "le lien « J'ai oublié mon mot de passe » (le mot de passe provisoire reçu par mail ouvre "
    "le compte même verrouillé) ou appelez l'Assistance au 0 800 74 74 00."
)


def alert_lines(response) -> list[str]:
    """The lines of the login page's error alert, as a person reads them."""
    found = re.search(r'<div[^>]*id="login-error"[^>]*>(.*?)</div>', page_text(response), re.S)
    assert found, "no error alert"
    return [" ".join(re.sub(r"<[^>]+>", " ", line).split())
            for line in re.findall(r"<p[^>]*>(.*?)</p>", found.group(1), re.S)]


@pytest.mark.parametrize("identifier", ["jdupont", "inconnu"])
def test_failures_say_how_many_tries_are_left_then_that_the_account_is_locked(
    client, make_user, identifier
):
    make_user()
    lines = [alert_lines(login(client, identifier, WRONG)) for _ in range(4)]
    assert lines == [
        [MSG_INVALID, "Il vous reste 2 essais."],
        [MSG_INVALID, "Il vous reste 1 essai."],
        [MSG_INVALID, MSG_NOW_LOCKED],
        [MSG_LOCKED, MSG_LOCK_NEXT_STEPS],
    ]
    assert alert_lines(login(client, identifier, STRONG_PASSWORD)) == [MSG_LOCKED,
                                                                       MSG_LOCK_NEXT_STEPS]


def test_the_lock_duration_told_is_the_configured_one(app, client, make_user):
    app.config["IDP_LOCKOUT_MINUTES"] = 45
    make_user()
    for _ in range(2):
        login(client, "jdupont", WRONG)
    assert "verrouillé pendant 45 minutes" in alert_lines(login(client, "jdupont", WRONG))[1]


def test_right_password_while_locked_gets_the_lock_message(client, make_user, audit_rows):
    make_user()
    for _ in range(3):
        login(client, "jdupont", WRONG)
    response = login(client, "jdupont", STRONG_PASSWORD)
    assert refused_with(response, MSG_LOCKED)
    assert last(audit_rows, "login.failure").details == {"reason": "locked"}
    assert audit_rows("login.success") == []
    assert not has_session(client)


def test_the_lock_lifts_after_twenty_minutes(client, make_user, audit_rows):
    make_user()
    with time_machine.travel(START, tick=False):
        for _ in range(3):
            login(client, "jdupont", WRONG)
    with time_machine.travel(START + timedelta(minutes=19), tick=False):
        assert refused_with(login(client, "jdupont", STRONG_PASSWORD), MSG_LOCKED)
    with time_machine.travel(START + timedelta(minutes=21), tick=False):
        assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    assert last(audit_rows, "login.success").created_at == START + timedelta(minutes=21)


def test_expired_password_leads_to_the_change(client, make_user, audit_rows):
    user = make_user(changed_days_ago=91)
    response = login(client, "jdupont", STRONG_PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/password-change"
    page = client.get("/password-change")
    assert page.status_code == 200
    assert MSG_EXPIRED in page_text(page)
    row = last(audit_rows, "login.steps_pending")
    assert (row.user_id, row.details) == (user.id, {"steps": ["password_change"]})
    assert audit_rows("login.success") == []


def test_password_expires_at_ninety_days_exactly(app, make_user):
    make_user(password_changed_at=START)
    with time_machine.travel(START + timedelta(days=90, seconds=-1), tick=False):
        assert login(app.test_client(), "jdupont", STRONG_PASSWORD).headers["Location"] == "/"
    with time_machine.travel(START + timedelta(days=90), tick=False):
        response = login(app.test_client(), "jdupont", STRONG_PASSWORD)
    assert response.headers["Location"] == "/password-change"


def test_provisional_password_leads_to_the_change(client, make_user, audit_rows):
    user = make_user("mleroy", provisional=PROVISIONAL)
    response = login(client, "mleroy", PROVISIONAL)
    assert response.status_code == 303
    assert response.headers["Location"] == "/password-change"
    assert MSG_PROVISIONAL in page_text(client.get("/password-change"))
    row = last(audit_rows, "login.steps_pending")
    assert row.user_id == user.id
    assert row.details["steps"][0] == "password_change"


def test_expired_provisional_password_says_what_to_do(client, make_user, audit_rows):
    with time_machine.travel(START, tick=False):
        user = make_user("mleroy", provisional=PROVISIONAL)
        make_user("pmartin", provisional=PROVISIONAL)
    with time_machine.travel(START + timedelta(hours=72, seconds=-1), tick=False):
        assert login(client, "pmartin", PROVISIONAL).status_code == 303
    with time_machine.travel(START + timedelta(hours=72), tick=False):
        response = login(client, "mleroy", PROVISIONAL)
    assert refused_with(response, MSG_PROVISIONAL_EXPIRED)
    row = last(audit_rows, "login.failure")
    assert (row.user_id, row.details) == (user.id, {"reason": "provisional_expired"})


def test_deactivated_account_gets_the_generic_message(client, make_user, audit_rows):
    user = make_user(is_active=False)
    response = login(client, "jdupont", STRONG_PASSWORD)
    assert refused_with(response, MSG_INVALID)
    row = last(audit_rows, "login.failure")
    assert (row.user_id, row.details) == (user.id, {"reason": "credentials"})
    assert not has_session(client)


@pytest.mark.parametrize("page", ["/", "/?from=module"])
def test_later_pages_send_back_to_the_password_change(client, make_user, page):
    make_user("mleroy", provisional=PROVISIONAL)
    login(client, "mleroy", PROVISIONAL)
    response = client.get(page)
    assert response.status_code == 303
    assert response.headers["Location"] == "/password-change"
    with client.session_transaction() as cookie:
        assert "sid" not in cookie
    assert db.session.execute(select(UserSession)).scalars().all() == []


# --- CSRF, session, redirects ------------------------------------------------------


@pytest.mark.parametrize("token", [None, "forged", "other-session"])
def test_login_without_a_valid_csrf_token_changes_nothing(app, client, make_user, audit_rows,
                                                          token):
    user = make_user()
    client.get("/login")
    data = {"identifier": "jdupont", "password": WRONG}
    if token == "forged":
        data["csrf_token"] = "IjEyMzQ1Ig.forged.token"
    elif token == "other-session":
        data["csrf_token"] = csrf_token(app.test_client().get("/login").text)
    response = client.post("/login", data=data)
    assert response.status_code == 400
    assert MSG_CSRF in page_text(response)
    assert "Requête invalide" in page_text(response)
    assert reload(user).failed_attempts == 0
    assert [row.event for row in audit_rows() if row.event.startswith("login")] == []


def test_session_is_renewed_at_login(client, make_user):
    make_user()
    client.get("/login")
    with client.session_transaction() as cookie:
        cookie["planted"] = "by-an-attacker"
    before = client.get_cookie("idp_session").value
    response = login(client, "jdupont", STRONG_PASSWORD)
    after = client.get_cookie("idp_session").value
    assert after != before
    set_cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie
    assert "SameSite=Lax" in set_cookie
    with client.session_transaction() as cookie:
        assert "planted" not in cookie
        assert "sid" in cookie


def test_session_is_renewed_when_steps_are_pending(client, make_user):
    make_user("mleroy", provisional=PROVISIONAL)
    client.get("/login")
    with client.session_transaction() as cookie:
        cookie["planted"] = "by-an-attacker"
    before = client.get_cookie("idp_session").value
    login(client, "mleroy", PROVISIONAL)
    assert client.get_cookie("idp_session").value != before
    with client.session_transaction() as cookie:
        assert "planted" not in cookie
        assert "flow" in cookie


@pytest.mark.parametrize(
    "target",
    ["//evil.example", "https://evil.example/", "/\\evil.example", "javascript:alert(1)",
     "http:evil.example", "/\t/evil.example", "evil.example"],
)
def test_off_site_next_is_refused(client, make_user, target):
    make_user()
    page = client.get("/login", query_string={"next": target})
    assert 'id="next" name="next" type="hidden" value=""' in page.text
    response = client.post("/login", data={
        "csrf_token": csrf_token(page.text), "identifier": "jdupont",
        "password": STRONG_PASSWORD, "next": target,
    })
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_local_next_is_followed(client, make_user):
    make_user()
    page = client.get("/login", query_string={"next": "/?module=demo"})
    assert 'value="/?module=demo"' in page.text
    response = client.post("/login", data={
        "csrf_token": csrf_token(page.text), "identifier": "jdupont",
        "password": STRONG_PASSWORD, "next": "/?module=demo",
    })
    assert response.status_code == 303
    assert response.headers["Location"] == "/?module=demo"


# --- rate limit --------------------------------------------------------------------


@pytest.fixture
def two_tries_a_minute(app_environ):
    """A low per-identifier limit, set before the application is built."""
    app_environ["IDP_RATELIMIT_LOGIN_IDENTIFIER"] = "2/minute"


def test_too_many_tries_for_one_identifier_get_the_429_page(two_tries_a_minute, client,
                                                            make_user):
    user = make_user()
    with time_machine.travel(START, tick=False):
        assert refused_with(login(client, "jdupont", WRONG), MSG_INVALID)
        assert refused_with(login(client, "JDupont ", WRONG), MSG_INVALID)
        response = login(client, "jdupont", STRONG_PASSWORD)
        assert response.status_code == 429
        text = page_text(response)
        assert "Trop de tentatives" in text
        assert "Patientez quelques minutes avant de réessayer." in text
        assert int(response.headers["Retry-After"]) > 0
        assert response.headers["Cache-Control"] == "no-store"
        # Another identifier is not held back, and the limited try checked nothing.
        assert refused_with(login(client, "autre", WRONG), MSG_INVALID)
        assert reload(user).failed_attempts == 2
    with time_machine.travel(START + timedelta(minutes=1, seconds=1), tick=False):
        assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
