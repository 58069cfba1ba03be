"""Hostile input on the pages for people: a French page or field error, never a 500,
and nothing stored (OWASP ASVS 5.1.3, 5.1.4).

The same cases run on SQLite and on PostgreSQL, whose text columns refuse the NUL
character (PostgreSQL documentation, 8.3 « Character Types »). The broad search
for such inputs is ``test_fuzz_forms.py``; these are the cases found by hand,
one test each, so that a regression names itself.
"""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func
from sqlalchemy import select

from idp import audit
from idp.database import commit
from idp.extensions import db
from idp.models import AuditEvent
from idp.models import Challenge
from idp.models import User
from idp.models import UserSession
from idp.oidc.registration import NewClient
from idp.oidc.registration import create_client
from idp.security import challenges
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import page_text
from tests.conftest import post_form
from tests.sealing import seal_audit
from tests.security.oauth import authorize_url

PROVISIONAL = "Provisoire-Tres-Long-2026"
OPERATOR = "agent.martin"
MSG_BAD_REQUEST = "La demande n'a pas pu être traitée"


def count(model) -> int:
    db.session.expire_all()
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def assert_french_refusal(response) -> None:
    """A French page (a 400 page or the form again with its error), never a 5xx."""
    assert response.status_code < 500, response.status_code
    assert response.status_code in (200, 400), response.status_code
    assert "Traceback" not in response.text
    assert 'lang="fr"' in response.text


@pytest.fixture(autouse=True)
def sums(monkeypatch):
    """« Combien font 7 + 5 ? » every time (the generator is patched, never read back)."""
    monkeypatch.setattr(challenges, "arithmetic_operation", lambda: (7, "+", 5))


@pytest.fixture
def console(client, make_user):
    make_user(OPERATOR, habilitations=("bonuseco", "assistance"), email="agent@asp.test")
    assert login(client, OPERATOR, STRONG_PASSWORD).status_code == 303
    return client


def reach_captcha(client, make_user, monkeypatch):
    monkeypatch.setattr(challenges, "_text", lambda: "KMR3TX")
    make_user("newbie", provisional=PROVISIONAL)
    assert login(client, "newbie", PROVISIONAL).headers["Location"] == "/password-change"
    post_form(client, "/password-change",
              {"new_password": STRONG_PASSWORD, "confirmation": STRONG_PASSWORD})
    response = post_form(client, "/first-connection/secret-question", {
        "question": "Quel est le nom de votre premier animal de compagnie ?",
        "own_question": "", "answer": "Rantanplan"})
    assert response.headers["Location"] == "/first-connection/captcha"


# --- answers in other scripts ---------------------------------------------------------


@pytest.mark.parametrize("result", ["١٢", "１２", "¹²", "12\u200b", "ÉÉÉ", "\x00"])
def test_foreign_digits_are_a_wrong_sum(client, make_user, result):
    make_user("jdupont")
    before = count(UserSession), count(User)
    response = post_form(client, "/forgot-password", {"identifier": "jdupont", "result": result})
    assert_french_refusal(response)
    assert (count(UserSession), count(User)) == before
    assert "/forgot-password/question" not in response.headers.get("Location", "")


@pytest.mark.parametrize("text", ["ÉÉÉ", "ＫＭＲ３ＴＸ", "ｋｍｒ3tx", "ß" * 20, "\x00KMR3TX"])
def test_foreign_letters_are_a_wrong_captcha(client, make_user, monkeypatch, text):
    reach_captcha(client, make_user, monkeypatch)
    page = client.get("/first-connection/captcha")
    response = client.post("/first-connection/captcha",
                           data={"csrf_token": csrf_token(page.text), "text": text})
    assert_french_refusal(response)
    if "\x00" not in text:
        assert "ne correspondent pas" in page_text(response)
    assert count(UserSession) == 0  # the SSO session opens only after the captcha


# --- a field sent as a file -----------------------------------------------------------


LOGIN_FIELDS = {"identifier": "jdupont", "password": STRONG_PASSWORD}
FORGOT_FIELDS = {"identifier": "jdupont", "result": "12"}


@pytest.mark.parametrize(("url", "fields", "as_file"), [
    ("/login", LOGIN_FIELDS, "identifier"), ("/login", LOGIN_FIELDS, "password"),
    ("/forgot-password", FORGOT_FIELDS, "identifier"),
    ("/forgot-password", FORGOT_FIELDS, "result"),
])
def test_a_field_sent_as_a_file(client, make_user, url, fields, as_file):
    make_user("jdupont")
    page = client.get(url)
    data = {"csrf_token": csrf_token(page.text), **fields}
    data[as_file] = (io.BytesIO(fields[as_file].encode()), "x.txt")
    before = count(UserSession), count(Challenge)
    response = client.post(url, data=data, content_type="multipart/form-data")
    assert_french_refusal(response)
    assert "Ce champ est obligatoire." in page_text(response)
    assert count(UserSession) == before[0]


def test_the_csrf_token_sent_as_a_file(client, make_user):
    make_user("jdupont")
    page = client.get("/login")
    response = client.post("/login", content_type="multipart/form-data", data={
        "csrf_token": (io.BytesIO(csrf_token(page.text).encode()), "t.txt"),
        "identifier": "jdupont", "password": STRONG_PASSWORD})
    assert_french_refusal(response)
    assert count(UserSession) == 0


def test_a_console_field_sent_as_a_file(console):
    page = console.get("/assistance/new-account")
    response = console.post("/assistance/new-account", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(page.text), "login": (io.BytesIO(b"mdurand"), "l.txt"),
        "email": "m@example.test", "given_name": "Marie", "family_name": "Durand",
        "reason": "Demande du service", "habilitation": "bonuseco"})
    assert_french_refusal(response)
    assert count(User) == 1


# --- the NUL character ---------------------------------------------------------------


@pytest.mark.parametrize("field", ["identifier", "password"])
def test_nul_in_a_login(client, make_user, field):
    make_user("jdupont")
    fields = {"identifier": "jdupont", "password": STRONG_PASSWORD}
    fields[field] = fields[field][:3] + "\x00" + fields[field][3:]
    audit_before = count(AuditEvent)
    response = login(client, **fields)
    assert_french_refusal(response)
    assert count(UserSession) == 0
    assert count(AuditEvent) == audit_before


def test_nul_in_the_forgot_password_identifier(client, make_user):
    make_user("jdupont")
    response = post_form(client, "/forgot-password", {"identifier": "jd\x00upont", "result": "12"})
    assert_french_refusal(response)
    response = client.get("/forgot-password?identifier=jd%00upont")
    assert_french_refusal(response)


def test_nul_in_the_console(console):
    for url in ("/assistance/?q=jd%00upont", "/assistance/?q=%00%00", "/assistance/?page=%00",
                "/assistance/accounts/jd%00upont", "/assistance/accounts/%00",
                "/assistance/accounts/jd%00upont/reset-password"):
        assert_french_refusal(console.get(url))


def test_nul_in_an_account_url_with_a_form(console, make_user):
    make_user("jdupont")
    page = console.get("/assistance/accounts/jdupont/deactivate")
    response = console.post("/assistance/accounts/jd%00upont/deactivate", data={
        "csrf_token": csrf_token(page.text), "reason": "Départ", "confirm": "y"})
    assert_french_refusal(response)
    assert db.session.execute(select(User.is_active).where(User.login == "jdupont")).scalar()


def test_nul_in_a_reason(console, make_user):
    make_user("jdupont")
    audit_before = count(AuditEvent)
    response = post_form(console, "/assistance/accounts/jdupont/deactivate",
                         {"reason": "Dé\x00part", "confirm": "y"})
    assert_french_refusal(response)
    assert db.session.execute(select(User.is_active).where(User.login == "jdupont")).scalar()
    assert count(AuditEvent) == audit_before


# --- lengths ---------------------------------------------------------------------------


@pytest.mark.parametrize("length", [65, 100, 128])
def test_an_unknown_identifier_longer_than_the_audit_column(client, length):
    identifier = ("x" * length)
    audit_before = count(AuditEvent)
    response = login(client, identifier, "Pas-Le-Bon-Mot-De-Passe-1")
    assert response.status_code == 200
    assert "Le couple identifiant/ mot de passe est incorrecte" in page_text(response)
    db.session.expire_all()
    rows = db.session.execute(
        select(AuditEvent).where(AuditEvent.id > audit_before)).scalars().all()
    assert [row.event for row in rows] == ["login.failure"]
    assert rows[0].login is None or len(rows[0].login) <= 64


def test_the_audit_trail_cuts_what_its_columns_cannot_hold(app):
    audit.record("test.long", login="y" * 100, actor="z" * 65, client_id="c" * 64)
    commit()
    row = db.session.execute(select(AuditEvent).where(AuditEvent.event == "test.long")).scalar_one()
    # Marked « … »: never the cut value taken for a real login (at most 64 characters).
    assert (row.login, row.actor, row.client_id) == ("y" * 63 + "…", "z" * 63 + "…", "c" * 64)
    assert seal_audit() == 1
    assert audit.verify_chain() is None


def test_an_identifier_longer_than_the_form_allows(client):
    response = login(client, "x" * 129, "Pas-Le-Bon-Mot-De-Passe-1")
    assert_french_refusal(response)
    assert "Le champ ne peut pas contenir plus de 128 caractères." in page_text(response)


def test_the_audit_chain_still_verifies_after_long_identifiers(client, runner):
    login(client, "é" * 128, "Pas-Le-Bon-Mot-De-Passe-1")
    post_form(client, "/forgot-password", {"identifier": "y" * 128, "result": "12"})
    assert seal_audit() >= 2
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


# --- invalid UTF-8 and percent-encoded garbage ----------------------------------------


@pytest.mark.parametrize("query", [
    b"identifier=%ff%fe", b"identifier=%c3%28", b"identifier=%ed%a0%80", b"next=%e2%82",
    b"login_hint=%f4%90%80%80", b"%zz=%%%", b"identifier=\xff\xfe",
])
def test_garbage_query_strings(client, query):
    for url in ("/login", "/forgot-password", "/"):
        response = client.get(url, environ_overrides={"QUERY_STRING": query.decode("latin-1")})
        assert response.status_code < 500, (url, query)


@pytest.mark.parametrize("body", [
    b"identifier=%ff%fe&password=%c3%28", b"identifier=\xff\xfe&password=\xc3\x28",
    b"identifier=jd%ed%a0%80upont&password=x", b"identifier=%zz&password=%",
])
def test_garbage_form_bodies(client, make_user, body):
    make_user("jdupont")
    page = client.get("/login")
    token = csrf_token(page.text).encode()
    response = client.post("/login", data=b"csrf_token=" + token + b"&" + body,
                           content_type="application/x-www-form-urlencoded")
    assert_french_refusal(response)
    assert count(UserSession) == 0


# --- the OAuth endpoints keep their own error shape ------------------------------------


def test_nul_at_the_token_endpoint_is_an_oauth_error(client):
    response = client.post("/token", data={"grant_type": "authorization_code",
                                           "code": "abc\x00", "client_id": "demo"})
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"


def test_nul_at_the_authorize_endpoint_without_a_known_client(client):
    response = client.get("/authorize", query_string={
        "client_id": "inconnu\x00", "redirect_uri": "https://evil.test/cb",
        "response_type": "code", "scope": "openid"})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "incomplète ou invalide" in page_text(response)


@pytest.mark.parametrize("with_token", [True, False])
def test_a_multipart_part_without_a_readable_name(client, make_user, with_token):
    make_user("jdupont")
    page = client.get("/login")
    response = client.post("/login", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(page.text) if with_token else "", "\n": "",
        "identifier": "jdupont", "password": STRONG_PASSWORD})
    assert_french_refusal(response)
    assert count(UserSession) == 0


@pytest.mark.parametrize("response_type", ["é", "code\x1f", "\U000b6839", 'co"de'])
def test_a_response_type_in_another_script(client, response_type):
    create_client(NewClient(client_id="module-a", name="Module A", habilitation="bonuseco",
                            redirect_uris=["http://127.0.0.1:8765/callback"]), actor="test")
    commit()
    query = {"client_id": "module-a", "redirect_uri": "http://127.0.0.1:8765/callback",
             "scope": "openid", "state": "s1", "response_type": response_type}
    response = client.get("/authorize", query_string=query)
    assert response.status_code == 302
    assert "error=unsupported_response_type" in response.headers["Location"]
    assert "state=s1" in response.headers["Location"]
    unknown = client.get("/authorize", query_string={**query, "client_id": "inconnu"})
    assert unknown.status_code == 400
    assert "Location" not in unknown.headers


@pytest.mark.parametrize("siret", ["²" * 14, "١٢٣٤٥٦٧٨٩٠١٢٣٤", "７３２８２９３２０００００７４"])
def test_a_siret_in_other_digits(console, siret):
    response = post_form(console, "/assistance/new-account", {
        "login": "mdurand", "email": "m@example.test", "given_name": "Marie",
        "family_name": "Durand", "siret": siret, "reason": "Demande du service",
        "habilitation": "bonuseco"})
    assert_french_refusal(response)
    assert "SIRET invalide" in page_text(response)
    assert count(User) == 1


@pytest.mark.parametrize("max_age", ["²", "٣", "３"])
def test_a_max_age_in_other_digits(client, make_user, max_age):
    make_user("jdupont")
    create_client(NewClient(client_id="module-a", name="Module A", habilitation="bonuseco",
                            redirect_uris=["http://127.0.0.1:8765/callback"],
                            skip_consent=True), actor="test")
    commit()
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    response = client.get(authorize_url("module-a", redirect_uri="http://127.0.0.1:8765/callback",
                                        max_age=max_age))
    assert response.status_code in (302, 303, 400)


def test_every_form_reads_fields_the_same_way(app):
    """Every form derives from the base form (French messages, files only for file fields)."""
    from flask_wtf import FlaskForm

    from idp.forms import Form

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    ours = [cls for cls in subclasses(FlaskForm) if cls.__module__.startswith("idp.")]
    assert len(ours) > 10
    assert [cls.__name__ for cls in ours if not issubclass(cls, Form)] == []
