"""The secrets hunt finds what it is meant to find (REL-07, CAP-01, SESS-02).

The hunt (tests/security/secrets_hunt.py) watches every test of the suite; these
tests plant a leak in each place it searches and check that it is reported,
then withdraw the planted secret so that the teardown check stays green. They
also check that the legitimate echoes (a code in the redirect, tokens in the
/token response) are not reported, and that a whole code flow is recorded.
"""

from __future__ import annotations

import email.message
import logging

import pytest
from flask import session

from idp import audit
from idp.database import commit
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.security import secrets_hunt as hunting
from tests.security.oauth import authorize
from tests.security.oauth import redeem
from tests.security.oauth import register_module

PLANTED = "Planted-Secret-Value-42"


def findings_about(hunt, value: str) -> list[str]:
    return [line for line in hunt.findings() if f"{value[:4]!r}" in line]


@pytest.fixture
def planted(secrets_hunt):
    """A secret the test pretends to have used; withdrawn at the end."""
    secrets_hunt.secret(PLANTED, "planted by the test", "password")
    yield secrets_hunt
    secrets_hunt.forget(PLANTED)


def test_a_secret_in_a_log_record_is_found(app, planted):
    logging.getLogger("idp.auth").warning("user typed %s", PLANTED)
    assert findings_about(planted, PLANTED) == [
        f"password {PLANTED[:4]!r}... (planted by the test) in a log record of idp.auth (WARNING)"]


def test_a_secret_in_a_page_or_a_header_is_found(app, client, planted):
    app.add_url_rule("/plant", "plant", lambda: (f"<p>{PLANTED}</p>", 200, {"X-Debug": PLANTED}))
    client.get("/plant")
    found = findings_about(planted, PLANTED)
    assert any("the body of the response to GET /plant (200 OK text/html" in line for line in found)
    assert any("the X-Debug header of GET /plant" in line for line in found)


def test_a_secret_in_the_session_cookie_is_found(app, client, planted):
    def plant():
        session["probe"] = PLANTED
        return "ok"

    app.add_url_rule("/plant", "plant", plant)
    client.get("/plant")
    assert any("the decoded session cookie set by GET /plant" in line
               for line in findings_about(planted, PLANTED))


def test_a_short_secret_is_found_only_as_a_value_of_the_session_cookie(app, client, secrets_hunt):
    def plant():
        session["result"] = 12
        return "<p>12 résultats</p>"

    app.add_url_rule("/plant", "plant", plant)
    secrets_hunt.secret("12", "arithmetic planted by the test", "arithmetic")
    client.get("/plant")
    assert secrets_hunt.findings() == [
        "arithmetic '12'... (arithmetic planted by the test) in the decoded session cookie "
        "set by GET /plant"]
    secrets_hunt.forget("12")


def test_a_secret_in_a_mail_is_found_except_on_the_provisional_password_line(mailbox, planted):
    message = email.message.EmailMessage()
    message["To"], message["Subject"] = "jdupont@example.test", "Bienvenue"
    message.set_content(f"Mot de passe provisoire : {PLANTED}\n")
    mailbox.receive(message.as_bytes())
    assert findings_about(planted, PLANTED) == []
    message.set_content(f"Mot de passe provisoire : {PLANTED}\nRappel : {PLANTED}\n")
    mailbox.receive(message.as_bytes())
    assert findings_about(planted, PLANTED) == [
        f"password {PLANTED[:4]!r}... (planted by the test) in the mail « Bienvenue » to "
        "jdupont@example.test"]


def test_a_secret_in_an_audit_row_is_found(app, planted):
    audit.record("test.planted", note=f"typed {PLANTED}")
    commit()
    hunting.saw_audit_rows(app)
    found = findings_about(planted, PLANTED)
    assert len(found) == 1
    assert "the audit row #1 test.planted" in found[0]


def test_a_code_flow_is_recorded_and_its_legitimate_echoes_are_not_leaks(
        app, client, make_user, secrets_hunt):
    make_user()
    module = register_module("module-h")
    login(client, "jdupont", STRONG_PASSWORD)
    query, verifier = authorize(client, module.client_id, state="s", nonce="n")
    code = query["code"]
    tokens = redeem(client, module, code, verifier).json

    recorded = {(s.kind, s.value) for s in secrets_hunt.secrets}
    assert ("password", STRONG_PASSWORD) in recorded
    assert ("code", code) in recorded
    assert ("token", tokens["access_token"]) in recorded
    assert ("token", tokens["refresh_token"]) in recorded
    assert secrets_hunt.findings() == []
