"""Self-service from the home page: change password, change secret question (issue 4)."""

import html
import re

from idp.security import secrets
from tests.conftest import OTHER_STRONG_PASSWORD
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
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
    # The login's messages, and that this failure counts toward the lockout.
    assert ("Il vous reste 2 essais avant le verrouillage de votre compte : une erreur sur le "
            "mot de passe actuel compte comme un échec de connexion.") in wrong.text
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


def test_a_wrong_current_password_is_summarised_and_tied_to_its_field(client, make_user):
    make_user("jdupont")
    login(client, "jdupont", STRONG_PASSWORD)
    wrong = post_form(client, "/account/password", {
        "current_password": "not-the-password", "new_password": OTHER_STRONG_PASSWORD,
        "confirmation": OTHER_STRONG_PASSWORD})
    text = html.unescape(wrong.text)
    assert re.search(r"<title>Erreur : Changer mon mot de passe — ", text)
    # The summary lists the current password first, as the page shows it.
    assert re.findall(r'<li><a href="#(\w+)">', text) == ["current_password"]
    field = re.search(r'<input[^>]*id="current_password"[^>]*>', text).group(0)
    assert 'aria-describedby="current_password-error"' in field
    error = re.search(r'<p class="fr-message fr-message--error" id="current_password-error">'
                      r"(.*?)</p>", text, re.S).group(1)
    assert error.split("<br>") == [
        "Le couple identifiant/ mot de passe est incorrecte",
        "Il vous reste 2 essais avant le verrouillage de votre compte : une erreur sur le mot "
        "de passe actuel compte comme un échec de connexion."]
    post_form(client, "/account/password", {
        "current_password": "not-the-password", "new_password": OTHER_STRONG_PASSWORD,
        "confirmation": OTHER_STRONG_PASSWORD})
    third = post_form(client, "/account/password", {
        "current_password": "not-the-password", "new_password": OTHER_STRONG_PASSWORD,
        "confirmation": OTHER_STRONG_PASSWORD})
    assert "Votre compte est maintenant verrouillé pendant 20 minutes." in html.unescape(
        third.text)


def test_the_account_page_has_the_password_fields_and_the_meter(client, make_user):
    make_user("jdupont")
    login(client, "jdupont", STRONG_PASSWORD)
    page = client.get("/account/password")
    assert 'data-strength-url="/account/password/strength"' in page.text
    assert page.text.count('class="fr-password fr-input-group') == 3
    assert 'aria-label="Afficher le mot de passe actuel"' in page.text
    token = csrf_token(page.text)
    weak = client.post("/account/password/strength",
                       data={"csrf_token": token, "password": "jdupont-2024!!"})
    assert weak.json["rules"] == {"length": True, "strength": False}
    strong = client.post("/account/password/strength",
                         data={"csrf_token": token, "password": OTHER_STRONG_PASSWORD})
    assert strong.json["ok"] is True
    assert client.post("/account/password/strength", data={"password": "x"}).status_code == 400


def test_the_strength_of_the_account_page_needs_a_session(client):
    page = client.get("/login")
    response = client.post("/account/password/strength",
                           data={"csrf_token": csrf_token(page.text), "password": "x"})
    assert response.status_code == 303


def test_each_secret_refusal_sits_under_its_own_field(client, make_user):
    make_user("jdupont")
    login(client, "jdupont", STRONG_PASSWORD)
    refused = post_form(client, "/account/secret-question", {
        "current_password": STRONG_PASSWORD, "question": secrets.OTHER_QUESTION,
        "own_question": "court", "answer": "ab"})
    text = html.unescape(refused.text)
    assert re.findall(r'<li><a href="#(\w+)">', text) == ["own_question", "answer"]
    assert re.search(r'id="own_question-error">Votre question doit contenir entre 10 et 200 '
                     r"caractères\.</p>", text)
    assert re.search(r'id="answer-error">La réponse secrète doit contenir au moins 4 '
                     r"caractères\.</p>", text)
