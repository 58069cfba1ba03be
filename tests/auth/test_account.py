"""Self-service from the home page: change password, change secret question (issue 4)."""

import re

from idp.security import secrets
from tests.conftest import OTHER_STRONG_PASSWORD
from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.conftest import post_form
from tests.conftest import reload


def test_change_password_asks_the_current_one(app, client, make_user, mailbox, audit_rows):
    user = make_user("jdupont")
    login(client, "jdupont", STRONG_PASSWORD)
    other_browser = app.test_client()
    login(other_browser, "jdupont", STRONG_PASSWORD)
    wrong = post_form(client, "/account/password", {
        "current_password": "not-the-password", "new_password": OTHER_STRONG_PASSWORD,
        "confirmation": OTHER_STRONG_PASSWORD})
    assert "Le couple identifiant/ mot de passe est incorrecte" in wrong.text
    assert "Il vous reste 2 essais." in wrong.text
    assert reload(user).failed_attempts == 1  # counts toward the lockout
    weak = post_form(client, "/account/password", {
        "current_password": STRONG_PASSWORD, "new_password": "motdepasse2024",
        "confirmation": "motdepasse2024"})
    assert "trop facile à deviner" in weak.text
    same = post_form(client, "/account/password", {
        "current_password": STRONG_PASSWORD, "new_password": STRONG_PASSWORD,
        "confirmation": STRONG_PASSWORD})
    assert "5 derniers mots de passe" in same.text
    mailbox.clear()
    done = post_form(client, "/account/password", {
        "current_password": STRONG_PASSWORD, "new_password": OTHER_STRONG_PASSWORD,
        "confirmation": OTHER_STRONG_PASSWORD})
    assert done.status_code == 303, re.findall(r'error-text[^>]*>([^<]*)', done.text)
    assert done.headers["Location"] == "/"
    assert "Votre mot de passe a été changé" in client.get("/").text
    # The other browser is logged out (SESS-07); a mail confirms (PWD-10).
    assert other_browser.get("/").status_code == 303
    assert any("mot de passe a été changé" in m["Subject"] for m in mailbox.to(user.email))
    assert audit_rows("password.changed")[-1].details["reason"] == "self-service"
    # The browser that changed its password keeps its session until it logs out.
    assert client.get("/").status_code == 200
    assert post_form(client, "/logout", {}).status_code == 200
    assert client.get("/").status_code == 303
    assert login(app.test_client(), "jdupont", OTHER_STRONG_PASSWORD).headers["Location"] == "/"


def test_change_secret_question_asks_the_password(client, make_user, mailbox, audit_rows):
    user = make_user("jdupont")
    login(client, "jdupont", STRONG_PASSWORD)
    page = client.get("/account/secret-question")
    assert "Question actuelle" in page.text
    refused = post_form(client, "/account/secret-question", {
        "current_password": "wrong-password-1", "question": secrets.QUESTIONS[2],
        "answer": "Jules Ferry"})
    assert "incorrecte" in refused.text
    contains = post_form(client, "/account/secret-question", {
        "current_password": STRONG_PASSWORD, "question": secrets.QUESTIONS[2],
        "answer": f"ecole {STRONG_PASSWORD}"})
    assert "ne doit pas contenir votre mot de passe" in contains.text
    mailbox.clear()
    done = post_form(client, "/account/secret-question", {
        "current_password": STRONG_PASSWORD, "question": secrets.QUESTIONS[2],
        "answer": "Jules Ferry"})
    assert done.headers["Location"] == "/"
    user = reload(user)
    assert user.secret_question == secrets.QUESTIONS[2]
    assert secrets.verify_answer(user, "JULES  ferry")
    assert len(mailbox.to(user.email)) == 1
    assert audit_rows("secrets.set")[-1].actor == "jdupont"


def test_account_pages_need_a_session(client):
    for url in ("/account/password", "/account/secret-question"):
        response = client.get(url)
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/login")
