"""The first connection's pages as a person goes through them (docs/flows.md, « First
connection »): where they stand (« Étape 3 sur 4 »), a way out that keeps what is
done, each page's own title, the errors under their fields, and a confirmation at
the end. The order and the guards of the steps are in test_first_connection.py."""

from __future__ import annotations

import re

import pytest

from idp.auth.login import MSG_QUIT
from idp.auth.login import MSG_QUIT_PROVISIONAL
from idp.security import challenges
from idp.security import secrets
from tests.auth.test_first_connection import flow_probes
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import page_text
from tests.conftest import post_form
from tests.conftest import reload

PROVISIONAL = "Pr0visoireABCDE"
CAPTCHA_TEXT = "KMR3TX"
MSG_DONE = (
    "Votre première connexion est terminée : votre compte BonusEco est activé. Vous vous "
    "connecterez désormais avec votre identifiant et votre mot de passe personnel."
)


@pytest.fixture
def newcomer(make_user, monkeypatch):
    monkeypatch.setattr(challenges, "_text", lambda: CAPTCHA_TEXT)
    return make_user("newbie", provisional=PROVISIONAL)


def title(response) -> str:
    return re.search(r"<title>(.*?)</title>", page_text(response), re.S).group(1).split(" — B")[0]


def stepper(response) -> tuple[str, str, str] | None:
    """(state, title, next step) of the DSFR stepper, as a person reads them."""
    text = page_text(response)
    found = re.search(r'<h2 class="fr-stepper__title">([^<]*)'
                      r'<span class="fr-stepper__state">([^<]*)</span></h2>', text)
    if found is None:
        return None
    after = re.search(r"Étape suivante :</span> ([^<]*)</p>", text)
    return found.group(2), found.group(1), after.group(1) if after else None


def change_password(client, password=STRONG_PASSWORD):
    return post_form(client, "/password-change",
                     {"new_password": password, "confirmation": password})


def set_secret(client, answer="Rantanplan", question=secrets.QUESTIONS[0], own=""):
    return post_form(client, "/first-connection/secret-question",
                     {"question": question, "own_question": own, "answer": answer})


def reach(client, step: str) -> None:
    """Log the newcomer in and go through the steps before ``step``."""
    login(client, "newbie", PROVISIONAL)
    if step in ("secret_question", "captcha"):
        change_password(client)
    if step == "captcha":
        set_secret(client)


def tag(text: str, element_id: str, name: str = "input") -> str:
    return re.search(rf'<{name}[^>]*id="{element_id}"[^>]*>', text).group(0)


def quit_steps(client, page_url: str):
    return post_form(client, "/login/quit", {}, page_url=page_url)


# --- where the person stands ------------------------------------------------------


def test_each_step_says_where_it_stands_and_has_its_own_title(client, newcomer):
    login(client, "newbie", PROVISIONAL)
    page = client.get("/password-change")
    assert stepper(page) == ("Étape 2 sur 4", "Nouveau mot de passe", "Question secrète")
    assert title(page) == "Choisir votre nouveau mot de passe — Première connexion, étape 2 sur 4"
    change_password(client)
    page = client.get("/first-connection/secret-question")
    assert stepper(page) == ("Étape 3 sur 4", "Question secrète", "Vérification par image")
    assert title(page) == "Choisir votre question secrète — Première connexion, étape 3 sur 4"
    assert 'data-fr-current-step="3" data-fr-steps="4"' in page.text
    set_secret(client)
    page = client.get("/first-connection/captcha")
    assert stepper(page) == ("Étape 4 sur 4", "Vérification par image", None)
    assert title(page) == ("Recopier les caractères de l'image — Première connexion, "
                           "étape 4 sur 4")


def test_a_forced_change_outside_a_first_connection_has_no_stepper(client, make_user):
    make_user(changed_days_ago=400)  # expired
    login(client, "jdupont", STRONG_PASSWORD)
    page = client.get("/password-change")
    assert stepper(page) is None
    assert title(page) == "Choisir votre nouveau mot de passe"


def test_an_interrupted_first_connection_resumes_at_its_step_number(app, client, newcomer):
    login(client, "newbie", PROVISIONAL)
    change_password(client)
    other_browser = app.test_client()
    assert login(other_browser, "newbie", STRONG_PASSWORD).headers["Location"] == \
        "/first-connection/secret-question"
    assert stepper(other_browser.get("/first-connection/secret-question"))[0] == "Étape 3 sur 4"


# --- the way out --------------------------------------------------------------------


def test_quit_ends_the_steps_and_the_next_login_resumes_them(client, newcomer, audit_rows):
    login(client, "newbie", PROVISIONAL)
    page = client.get("/password-change")
    assert '<form method="post" action="/login/quit"' in page.text
    response = quit_steps(client, "/password-change")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    shown = page_text(client.get("/login"))
    assert f"{MSG_QUIT} {MSG_QUIT_PROVISIONAL}" in shown
    # Nothing left open: the steps' pages send back to the login page, no session.
    assert client.get("/password-change").headers["Location"] == "/login"
    assert client.get("/").headers["Location"] == "/login?next=/"
    # The next login asks for the steps still to do, and nothing was lost.
    assert login(client, "newbie", PROVISIONAL).headers["Location"] == "/password-change"
    change_password(client)
    quit_steps(client, "/first-connection/secret-question")
    shown = page_text(client.get("/login"))
    assert MSG_QUIT in shown
    assert MSG_QUIT_PROVISIONAL not in shown  # the personal password is chosen now
    assert login(client, "newbie", STRONG_PASSWORD).headers["Location"] == \
        "/first-connection/secret-question"
    assert reload(newcomer).first_connection_completed_at is None


def test_a_copy_of_the_cookie_from_before_quit_cannot_go_on(app, client, newcomer):
    """« Quitter » ends the login flow on the server: the browser's cookie as it was
    before (copied, or replayed) no longer reaches the steps."""
    login(client, "newbie", PROVISIONAL)
    change_password(client)
    name = app.config["SESSION_COOKIE_NAME"]
    before = client.get_cookie(name).value
    quit_steps(client, "/first-connection/secret-question")
    client.set_cookie(name, before)
    assert client.get("/first-connection/secret-question").headers["Location"] == "/login"


def test_quit_leaves_no_flow_in_the_cookie_and_forgets_the_probe(app, client, newcomer):
    """The left flow ends on the server and forgets the typed password's length and
    probe; the cookie keeps no handle on it."""
    login(client, "newbie", PROVISIONAL)
    change_password(client)
    assert flow_probes()[0][:2] != (None, None)  # held for the secret question step
    with client.session_transaction() as cookie:
        assert {"flow", "flow_key"} <= set(cookie)
    quit_steps(client, "/first-connection/secret-question")
    with client.session_transaction() as cookie:
        assert not {"flow", "flow_key"} & set(cookie)
    [(probe, length, consumed_at)] = flow_probes()
    assert (probe, length) == (None, None)
    assert consumed_at is not None


def test_quit_in_one_browser_leaves_the_other_browsers_steps(app, client, make_user,
                                                             newcomer):
    """« Quitter » ends this browser's login only: another person's steps go on."""
    make_user("other", provisional=PROVISIONAL)
    elsewhere = app.test_client()
    assert login(elsewhere, "other", PROVISIONAL).headers["Location"] == "/password-change"
    login(client, "newbie", PROVISIONAL)
    quit_steps(client, "/password-change")
    assert elsewhere.get("/password-change").status_code == 200
    assert change_password(elsewhere).headers["Location"] == \
        "/first-connection/secret-question"


def test_quit_without_steps_in_progress_goes_to_the_login_page(client):
    response = quit_steps(client, "/login")
    assert response.headers["Location"] == "/login"
    assert MSG_QUIT in page_text(client.get("/login"))


# --- errors under their fields -------------------------------------------------------


def test_the_own_question_refusal_sits_on_the_field_typed_in(client, newcomer):
    reach(client, "secret_question")
    response = set_secret(client, question=secrets.OTHER_QUESTION, own="court", answer="ab")
    text = page_text(response)
    assert title(response).startswith("Erreur : Choisir votre question secrète")
    assert ('<p class="fr-message fr-message--error" id="own_question-error">Votre question '
            'doit contenir entre 10 et 200 caractères.</p>') in text
    assert "question-error" not in text.replace("own_question-error", "")
    # Both refusals at once, each a link of the summary to its field.
    assert re.findall(r'<li><a href="#(\w+)">', text) == ["own_question", "answer"]
    assert 'aria-describedby="own_question-hint own_question-error"' in tag(text, "own_question")


def test_the_answer_rules_are_tied_to_the_answer_field(client, newcomer):
    reach(client, "secret_question")
    text = page_text(client.get("/first-connection/secret-question"))
    assert 'aria-describedby="answer-messages"' in tag(text, "answer")
    group = re.search(r'<div class="fr-messages-group" id="answer-messages".*?</div>', text,
                      re.S).group(0)
    assert "contenir entre 4 et 100 caractères" in group
    assert "ne contenir ni votre identifiant ni votre mot de passe" in group


def test_a_wrong_captcha_is_tied_to_its_field(client, newcomer):
    reach(client, "captcha")
    response = post_form(client, "/first-connection/captcha", {"text": "ZZZZZZ"})
    text = page_text(response)
    assert title(response).startswith("Erreur : Recopier les caractères de l'image")
    summary = re.search(r'<div[^>]*id="captcha-error"[^>]*>.*?</div>', text, re.S).group(0)
    assert '<a href="#text">' in summary
    assert "Les caractères saisis ne correspondent pas à l'image." in summary
    assert 'aria-describedby="text-error"' in tag(text, "text")
    assert 'aria-invalid="true"' in tag(text, "text")


# --- the captcha page -----------------------------------------------------------------


def test_the_audio_player_is_in_the_form_with_its_instruction(client, newcomer):
    reach(client, "captcha")
    text = page_text(client.get("/first-connection/captcha"))
    form = re.search(r'<form method="post" action="/first-connection/captcha".*?</form>', text,
                     re.S).group(0)
    player = re.search(r"<audio[^>]*>", form).group(0)
    assert "controls" in player
    assert 'aria-describedby="captcha-audio-hint"' in player
    assert 'aria-label="Version audio des caractères à recopier"' in player
    assert "« Recopiez les caractères suivants »" in " ".join(form.split())
    assert ">Écouter la version audio</a>" in form
    # « Afficher une autre image » is a button of the same form, after « Valider ».
    assert form.index(">Valider</button>") < form.index('formaction="/first-connection/'
                                                         'captcha/new"')
    assert '<p class="idp-captcha">' in form  # the image fits a narrow screen (forms.css)


def test_another_image_from_the_captcha_form(client, newcomer, monkeypatch):
    reach(client, "captcha")
    page = client.get("/first-connection/captcha")
    monkeypatch.setattr(challenges, "_text", lambda: "ACDEFG")
    response = client.post("/first-connection/captcha/new", data={
        "csrf_token": csrf_token(page.text), "text": "ce qui était tapé"})
    assert response.headers["Location"] == "/first-connection/captcha"
    assert post_form(client, "/first-connection/captcha",
                     {"text": "ACDEFG"}).headers["Location"] == "/"


# --- the confirmation ---------------------------------------------------------------


def test_a_completed_first_connection_is_confirmed_on_the_home_page(client, newcomer):
    reach(client, "captcha")
    assert post_form(client, "/first-connection/captcha",
                     {"text": CAPTCHA_TEXT}).headers["Location"] == "/"
    home = page_text(client.get("/"))
    assert re.search(r'<div class="fr-alert fr-alert--success[^"]*"[^>]*>\s*<p>'
                     + re.escape(MSG_DONE), home)
    assert MSG_DONE not in page_text(client.get("/"))  # said once


def test_no_confirmation_waits_when_the_login_goes_back_to_a_module(client, newcomer, app):
    next_url = "/authorize?client_id=demo&response_type=code"
    page = client.get("/login", query_string={"next": next_url})
    response = client.post("/login", data={
        "csrf_token": csrf_token(page.text), "identifier": "newbie", "password": PROVISIONAL,
        "next": next_url})
    assert response.headers["Location"] == "/password-change"
    change_password(client)
    set_secret(client)
    done = post_form(client, "/first-connection/captcha", {"text": CAPTCHA_TEXT})
    assert done.headers["Location"] == next_url
    assert MSG_DONE not in page_text(client.get("/"))
