"""« J'ai oublié mon mot de passe » (SPEC 1.2, 4; SECURITY-CHECKLIST FPW, SQA-04) over HTTP.

The sum is made deterministic by patching ``challenges.arithmetic_operation``
(the generator); the tests read it from the page, like a person, and never
read the expected result back from the database.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from idp.extensions import db
from idp.models import UserSession
from idp.security import challenges
from idp.security import passwords
from idp.security import reset
from idp.security import secrets
from tests.conftest import OTHER_STRONG_PASSWORD
from tests.conftest import SECRET_ANSWER
from tests.conftest import SECRET_QUESTION
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import page_text
from tests.conftest import post_form
from tests.conftest import reload

MSG_DONE = "Procédure terminée, merci de vérifier votre boîte aux lettres"
MSG_NO_SECRETS = (
    "L'ensemble des secrets (question/réponse secrètes) n'étant pas renseigné pour votre "
    "compte utilisateur, merci de bien vouloir contacter le service assistance de "
    "0.800.74.74.00"
)
MSG_WRONG_RESULT = "Le résultat est incorrect : une nouvelle opération vous est proposée."
MSG_EXPIRED = "La procédure a expiré ou a déjà été utilisée : recommencez."
MSG_INVALID = "Le couple identifiant/ mot de passe est incorrecte"
MSG_LOCKED = (
    "Le compte a été verrouillé suite à un trop grand nombre d'échecs de connexion "
    "avec cet identifiant utilisateur"
)
WRONG_ANSWER = "Idefix-Pas-Le-Bon"
WRONG_PASSWORD = "Pas-Le-Bon-Mot-De-Passe-1"
NEW_PASSWORD = "Hirondelle-Boussole-Granit-71"
EMAIL = "jdupont@example.test"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SUM_PATTERN = re.compile(r"Combien font (\d+) ([+-]) (\d+) \?")
QUESTION_PATTERN = re.compile(r'<p class="fr-text--lead" id="secret-question">([^<]*)</p>')
# The real generator, kept before the autouse fixture replaces it.
REAL_OPERATION = challenges.arithmetic_operation


class Operations:
    """Stands in for ``challenges.arithmetic_operation``: queued sums, then 7 + 5."""

    def __init__(self):
        self.queue: list[tuple[int, str, int]] = []

    def __call__(self) -> tuple[int, str, int]:
        return self.queue.pop(0) if self.queue else (7, "+", 5)


@pytest.fixture(autouse=True)
def operations(monkeypatch) -> Operations:
    generator = Operations()
    monkeypatch.setattr(challenges, "arithmetic_operation", generator)
    return generator


@pytest.fixture
def user(make_user):
    return make_user("jdupont", email=EMAIL)


# --- helpers: the procedure as a browser walks it ------------------------------------


def shown_sum(response) -> str:
    found = SUM_PATTERN.search(page_text(response))
    assert found, "no « Combien font ... ? » on the page"
    return found.group(0)


def solve(response) -> str:
    """The result of the sum shown on the page, computed like a person would."""
    left, operator, right = SUM_PATTERN.search(page_text(response)).groups()
    return str(int(left) + int(right) if operator == "+" else int(left) - int(right))


def pass_arithmetic(client, identifier: str, result: str | None = None, **kwargs):
    page = client.get("/forgot-password", **kwargs)
    return client.post("/forgot-password", data={
        "csrf_token": csrf_token(page.text), "identifier": identifier,
        "result": solve(page) if result is None else result,
    }, **kwargs)


def question_page(client, **kwargs):
    page = client.get("/forgot-password/question", **kwargs)
    assert page.status_code == 200
    return page


def shown_question(response) -> str:
    found = QUESTION_PATTERN.search(response.text)
    assert found, "no secret question on the page"
    return html.unescape(found.group(1))


def answer_question(client, answer: str, page=None, **kwargs):
    page = page or question_page(client, **kwargs)
    return client.post("/forgot-password/question",
                       data={"csrf_token": csrf_token(page.text), "answer": answer}, **kwargs)


def forgot(client, identifier: str, answer: str, **kwargs):
    """The whole procedure; returns the response to the answer."""
    step = pass_arithmetic(client, identifier, **kwargs)
    assert step.status_code == 303
    assert step.headers["Location"] == "/forgot-password/question"
    return answer_question(client, answer, **kwargs)


def is_done_page(response) -> bool:
    return response.status_code == 200 and MSG_DONE in page_text(response)


def session_cookie(client):
    return client.get_cookie(client.application.config["SESSION_COOKIE_NAME"])


def decoded_session(app, client) -> dict:
    cookie = session_cookie(client)
    if cookie is None:
        return {}
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


def replay_cookie(client, value: str) -> None:
    client.set_cookie(client.application.config["SESSION_COOKIE_NAME"], value)


def provisional_mails(mailbox, address=EMAIL) -> list:
    return [m for m in mailbox.to(address) if "Mot de passe provisoire :" in mailbox.body(m)]


def has_session(client) -> bool:
    return client.get("/").status_code == 200


# --- the pages -----------------------------------------------------------------------


def test_the_login_link_carries_the_identifier_to_a_prefilled_first_step(client):
    # A button of the login form, so that the identifier typed goes along without
    # JavaScript; the password typed is dropped, never put in the address.
    login_page = client.get("/login")
    assert 'name="action" value="forgot-password"' in login_page.text
    to_forgot = client.post("/login", data={
        "csrf_token": csrf_token(login_page.text), "identifier": " jdupont ",
        "password": "Secret-Tape-Par-Erreur-1", "action": "forgot-password"})
    assert to_forgot.status_code == 303
    assert to_forgot.headers["Location"] == "/forgot-password?identifier=jdupont"
    page = client.get("/forgot-password", query_string={"identifier": "jdupont"})
    text = page_text(page)
    assert page.status_code == 200
    assert 'id="identifier"' in text
    assert 'value="jdupont"' in text
    assert '<label class="fr-label" for="identifier">Identifiant' in text
    assert '<label class="fr-label" for="result">Résultat' in text
    assert shown_sum(page) == "Combien font 7 + 5 ?"
    # Escaped, never reflected as markup.
    hostile = client.get("/forgot-password", query_string={"identifier": '"><script>x()</script>'})
    assert "<script>x()" not in hostile.text


def test_the_generator_gives_operands_up_to_20_and_never_a_negative_result():
    for _ in range(300):
        left, operator, right = REAL_OPERATION()
        assert 0 <= left <= 20
        assert 0 <= right <= 20
        assert operator in "+-"
        assert (left + right if operator == "+" else left - right) >= 0


# --- every branch --------------------------------------------------------------------


def test_right_answer_mails_a_provisional_password_over_smtp(client, user, mailbox, audit_rows):
    # The answer is compared after normalisation (case, spaces: SQA-01).
    response = forgot(client, "JDupont ", f"  {SECRET_ANSWER.upper()} ")
    assert is_done_page(response)
    mails = provisional_mails(mailbox)
    assert len(mails) == 1
    assert re.search(r"^Mot de passe provisoire : \S{12,}$", mailbox.body(mails[0]), re.M)
    assert mailbox.messages == mails  # nothing else, to nobody else
    body = mailbox.body(mails[0])
    assert "jusqu'à ce que vous ayez choisi votre mot de passe personnel" in body
    assert "Votre mot de passe actuel reste valable" in body
    user = reload(user)
    assert user.provisional_hash is not None
    assert user.password_hash is not None  # the old password is not touched
    assert [row.event for row in audit_rows() if row.event.startswith(("reset.", "password."))] \
        == ["reset.asked", "password.reset_sent"]
    assert "reset" not in decoded_session(client.application, client)


def test_the_right_answer_does_not_wait_for_the_mail_server(client, user, held_smtp):
    """FPW-02: the provisional password leaves in the background, so the right answer's
    response is not held by SMTP (and is not slower than a wrong one's)."""
    response = forgot(client, "jdupont", SECRET_ANSWER)
    assert is_done_page(response)
    assert held_smtp.mailbox.received == []  # the server still holds the mail
    held_smtp.gate.set()
    assert len(provisional_mails(held_smtp.mailbox)) == 1


def test_the_secret_question_shown_is_the_users_own(client, user):
    pass_arithmetic(client, "jdupont")
    page = question_page(client)
    assert shown_question(page) == SECRET_QUESTION
    assert '<label class="fr-label" for="answer">Réponse secrète' in page.text


def test_wrong_answer_ends_on_the_same_page_without_mail(client, user, mailbox, audit_rows):
    response = forgot(client, "jdupont", WRONG_ANSWER)
    assert is_done_page(response)
    assert mailbox.messages == []
    user = reload(user)
    assert user.provisional_hash is None
    assert user.reset_failures == 1
    assert len(audit_rows("reset.answer_wrong")) == 1
    assert audit_rows("password.reset_sent") == []
    # The account itself is not altered (FPW-05): the password still opens it.
    assert login(client, "jdupont", STRONG_PASSWORD).headers["Location"] == "/"


def test_the_last_page_says_what_to_do_next(client, user, app):
    """The guide's advice, the same whatever the answer: the spams, start again, the phone."""
    right = page_text(forgot(client, "jdupont", SECRET_ANSWER))
    other = app.test_client()
    wrong = page_text(forgot(other, "inconnu", WRONG_ANSWER))
    advice = re.search(r'<ul id="forgot-password-next-steps">(.*?)</ul>', right, re.S).group(1)
    assert advice == re.search(r'<ul id="forgot-password-next-steps">(.*?)</ul>', wrong,
                               re.S).group(1)
    words = " ".join(re.sub(r"<[^>]+>", " ", advice).split())
    for expected in ("courriers indésirables (spams)", "valable 72 heures",
                     "recommencez la procédure", "appelez l'Assistance au 0 800 74 74 00"):
        assert expected in words
    assert 'href="/forgot-password">Recommencer la procédure</a>' in right


def test_unknown_login_gets_the_same_pages_a_stable_question_and_no_mail(app, client, mailbox,
                                                                        audit_rows):
    questions = []
    # Asked three times, spelled three ways (one identifier after normalisation).
    for typed in ("inconnu", "Inconnu ", "INCONNU"):
        other = app.test_client()
        step = pass_arithmetic(other, typed)
        assert step.status_code == 303
        assert step.headers["Location"] == "/forgot-password/question"
        page = question_page(other)
        questions.append(shown_question(page))
        assert is_done_page(answer_question(other, SECRET_ANSWER, page=page))
    assert questions[0] in secrets.QUESTIONS
    assert questions == [questions[0]] * 3
    # A keyed hash over the identifier: the questions differ between identifiers.
    seen = set()
    for index in range(12):
        other = app.test_client()
        # From several addresses, to stay below the per-address rate limit.
        pass_arithmetic(other, f"personne-{index}", **_from(f"10.9.0.{index}"))
        seen.add(shown_question(question_page(other)))
    assert len(seen) > 1
    assert seen <= set(secrets.QUESTIONS)
    assert mailbox.messages == []
    assert len(audit_rows("reset.asked")) == 15
    # What was typed may be a password in the wrong field: an identifier that names no
    # account is recorded as a keyed hash only, one per identifier (as at login).
    asked, ignored = audit_rows("reset.asked"), audit_rows("reset.answer_ignored")
    assert len(ignored) == 3
    assert all(row.login.startswith("hmac:") for row in asked + ignored)
    assert len({row.login for row in asked[:3] + ignored}) == 1
    assert not any("inconnu" in (row.login or "") + str(row.details) for row in asked + ignored)


def test_the_question_does_not_change_until_answered(client, user):
    # SQA-04: asking again does not offer another question to guess.
    pass_arithmetic(client, "jdupont")
    first = shown_question(question_page(client))
    pass_arithmetic(client, "jdupont")
    assert shown_question(question_page(client)) == first == SECRET_QUESTION


@pytest.mark.parametrize("columns", [
    pytest.param({"provisional": "Pr0visoireXyzAb"}, id="first-connection-pending"),
    pytest.param({"secret_question": None, "secret_answer_hash": None},
                 id="cleared-by-the-assistance"),
])
def test_secrets_not_set_get_the_assistance_message(client, make_user, mailbox, audit_rows,
                                                    columns):
    make_user("newbie", **columns)
    response = pass_arithmetic(client, "newbie")
    assert response.status_code == 200
    assert MSG_NO_SECRETS in page_text(response)
    # No question step was opened, and nothing was mailed.
    assert MSG_EXPIRED in page_text(client.get("/forgot-password/question"))
    assert mailbox.messages == []
    assert len(audit_rows("reset.asked")) == 1


@pytest.fixture
def other_phone(app_environ):
    app_environ["IDP_ASSISTANCE_PHONE"] = "0 969 32 22 22"


def test_the_assistance_phone_comes_from_configuration(other_phone, client, make_user):
    make_user("newbie", provisional="Pr0visoireXyzAb")
    text = page_text(pass_arithmetic(client, "newbie"))
    assert MSG_NO_SECRETS.replace("0.800.74.74.00", "0.969.32.22.22") in text


def test_a_deactivated_account_ends_on_the_same_page_without_mail(client, make_user, mailbox):
    make_user("jdupont", email=EMAIL, is_active=False)
    assert is_done_page(forgot(client, "jdupont", SECRET_ANSWER))
    assert mailbox.messages == []


def test_wrong_arithmetic_gets_an_error_a_new_operation_and_nothing_else(client, user,
                                                                         operations, audit_rows):
    operations.queue = [(7, "+", 5), (15, "-", 8), (3, "+", 4)]
    page = client.get("/forgot-password")
    response = client.post("/forgot-password", data={
        "csrf_token": csrf_token(page.text), "identifier": "jdupont", "result": "13"})
    text = page_text(response)
    assert response.status_code == 200
    assert MSG_WRONG_RESULT in text
    # The error is tied to its field.
    assert (f'<p class="fr-message fr-message--error" id="result-error">{MSG_WRONG_RESULT}</p>'
            in text)
    assert 'aria-describedby="result-hint result-error"' in text
    assert shown_sum(response) == "Combien font 15 - 8 ?"
    assert 'value="jdupont"' in text  # the identifier is kept
    assert MSG_EXPIRED in page_text(client.get("/forgot-password/question"))
    assert audit_rows("reset.asked") == []
    # The first operation is retired: its right result no longer opens the next step.
    token = csrf_token(response.text)
    again = client.post("/forgot-password", data={
        "csrf_token": token, "identifier": "jdupont", "result": "12"})
    assert MSG_WRONG_RESULT in page_text(again)
    assert shown_sum(again) == "Combien font 3 + 4 ?"
    # Not a number at all: the same error, never a 500.
    for result in ("douze", "-1", "7" * 8):
        bad = pass_arithmetic(client, "jdupont", result=result)
        assert bad.status_code == 200
        assert MSG_WRONG_RESULT in page_text(bad)
    assert pass_arithmetic(client, "jdupont").status_code == 303


def test_the_arithmetic_expires_after_10_minutes(app, user):
    early, late = app.test_client(), app.test_client()
    with time_machine.travel(START, tick=False) as clock:
        early_page = early.get("/forgot-password")
        late_page = late.get("/forgot-password")
        clock.move_to(START + timedelta(minutes=9, seconds=59))
        assert early.post("/forgot-password", data={
            "csrf_token": csrf_token(early_page.text), "identifier": "jdupont",
            "result": solve(early_page)}).status_code == 303
        clock.move_to(START + timedelta(minutes=10, seconds=1))
        response = late.post("/forgot-password", data={
            "csrf_token": csrf_token(late_page.text), "identifier": "jdupont",
            "result": solve(late_page)})
        assert response.status_code == 200
        assert MSG_WRONG_RESULT in page_text(response)
        assert MSG_EXPIRED in page_text(late.get("/forgot-password/question"))


def test_the_question_step_expires_after_10_minutes(client, user, mailbox, audit_rows):
    with time_machine.travel(START, tick=False) as clock:
        pass_arithmetic(client, "jdupont")
        page = question_page(client)
        clock.move_to(START + timedelta(minutes=10, seconds=1))
        response = answer_question(client, SECRET_ANSWER, page=page)
        assert response.status_code == 200
        assert MSG_EXPIRED in page_text(response)
        assert MSG_DONE not in page_text(response)
    assert mailbox.messages == []
    assert audit_rows("password.reset_sent") == []
    assert reload(user).provisional_hash is None


@pytest.mark.parametrize("answer", [SECRET_ANSWER, WRONG_ANSWER])
def test_the_question_form_posted_twice_counts_once(client, user, mailbox, answer):
    pass_arithmetic(client, "jdupont")
    page = question_page(client)
    before = session_cookie(client).value
    assert is_done_page(answer_question(client, answer, page=page))
    # The back button (the browser's current cookie), then a replay of the old cookie.
    for cookie in (None, before):
        if cookie:
            replay_cookie(client, cookie)
        again = answer_question(client, answer, page=page)
        assert again.status_code == 200
        assert MSG_EXPIRED in page_text(again)
    user = reload(user)
    if answer == SECRET_ANSWER:
        assert len(provisional_mails(mailbox)) == 1
    else:
        assert mailbox.messages == []
        assert user.reset_failures == 1


def test_a_consumed_arithmetic_challenge_cannot_be_reused(client, user, audit_rows):
    page = client.get("/forgot-password")
    before = session_cookie(client).value
    data = {"csrf_token": csrf_token(page.text), "identifier": "jdupont", "result": solve(page)}
    assert client.post("/forgot-password", data=data).status_code == 303
    replay_cookie(client, before)
    replayed = client.post("/forgot-password", data=data)
    assert replayed.status_code == 200
    assert MSG_WRONG_RESULT in page_text(replayed)
    assert len(audit_rows("reset.asked")) == 1


# --- the 24-hour counter (injected clock) --------------------------------------------


def test_three_wrong_answers_stop_the_mails_for_24_hours(app, user, mailbox, audit_rows):
    def attempt(answer):
        return forgot(app.test_client(), "jdupont", answer)

    with time_machine.travel(START, tick=False) as clock:
        for count in (1, 2):
            assert is_done_page(attempt(WRONG_ANSWER))
            assert mailbox.messages == []
            assert reload(user).reset_failures == count
        assert is_done_page(attempt(WRONG_ANSWER))
        warnings = mailbox.to(EMAIL)
        assert len(warnings) == 1
        assert "tentatives de réinitialisation" in warnings[0]["Subject"]
        body = mailbox.body(warnings[0])
        assert "aucun nouveau mot de passe ne sera envoyé pendant 24 heures" in body
        assert WRONG_ANSWER not in body
        assert "Mot de passe provisoire" not in body
        assert reload(user).reset_blocked_until == START + timedelta(hours=24)

        # The right answer now sends nothing, on the very same page.
        assert is_done_page(attempt(SECRET_ANSWER))
        assert len(audit_rows("reset.refused_by_counter")) == 1
        # A fourth wrong answer does not warn again.
        assert is_done_page(attempt(WRONG_ANSWER))
        assert len(mailbox.messages) == 1
        clock.move_to(START + timedelta(hours=23, minutes=59, seconds=59))
        assert is_done_page(attempt(SECRET_ANSWER))
        assert len(audit_rows("reset.refused_by_counter")) == 2
        assert provisional_mails(mailbox) == []
        assert reload(user).provisional_hash is None

        clock.move_to(START + timedelta(hours=24))
        assert is_done_page(attempt(SECRET_ANSWER))
        assert len(provisional_mails(mailbox)) == 1
    assert len(audit_rows("reset.blocked")) == 1
    assert len(audit_rows("password.reset_sent")) == 1


def test_wrong_answers_older_than_24_hours_are_forgotten(app, user, mailbox):
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(2):
            forgot(app.test_client(), "jdupont", WRONG_ANSWER)
        clock.move_to(START + timedelta(hours=24, seconds=1))
        forgot(app.test_client(), "jdupont", WRONG_ANSWER)
        assert reload(user).reset_failures == 1
        assert mailbox.messages == []
        assert is_done_page(forgot(app.test_client(), "jdupont", SECRET_ANSWER))
    assert len(provisional_mails(mailbox)) == 1


# --- nothing tells a wrong answer from an unknown login ------------------------------


def _cookie_shapes(response) -> list[tuple[str, tuple[str, ...]]]:
    """Each Set-Cookie as its name and attributes, without the (random) value."""
    shapes = []
    for header in response.headers.getlist("Set-Cookie"):
        name_value, *attributes = [part.strip() for part in header.split(";")]
        shapes.append((name_value.split("=", 1)[0], tuple(sorted(attributes))))
    return shapes


def _header_names(response) -> set[str]:
    return {name.lower() for name, _ in response.headers}


def _page_without_secrets(response, question: str | None) -> str:
    text = re.sub(r'name="csrf_token" type="hidden" value="[^"]+"',
                  'name="csrf_token" type="hidden" value="CSRF"', response.text)
    if question:
        text = text.replace(question.replace("'", "&#39;"), "QUESTION")
    return text


def _walk(client, identifier: str, answer: str) -> list:
    step1 = pass_arithmetic(client, identifier)
    page = question_page(client)
    question = QUESTION_PATTERN.search(page.text).group(1)
    done = answer_question(client, answer, page=page)
    return [(step1, None), (page, question), (done, None)]


def test_a_wrong_answer_and_an_unknown_login_get_identical_responses(app, user, mailbox):
    known = _walk(app.test_client(), "jdupont", WRONG_ANSWER)
    unknown = _walk(app.test_client(), "jdurand", WRONG_ANSWER)  # same length as jdupont
    right = _walk(app.test_client(), "jdupont", SECRET_ANSWER)
    for other in (unknown, right):
        for (mine, my_question), (theirs, their_question) in zip(known, other, strict=True):
            assert mine.status_code == theirs.status_code
            assert mine.headers.get("Location") == theirs.headers.get("Location")
            assert _header_names(mine) == _header_names(theirs)
            assert _cookie_shapes(mine) == _cookie_shapes(theirs)
            assert _page_without_secrets(mine, my_question) == \
                _page_without_secrets(theirs, their_question)
    assert is_done_page(known[-1][0])
    # Only the right answer mailed anything.
    assert len(mailbox.messages) == len(provisional_mails(mailbox)) == 1


# --- no secret in a cookie (FPW-03) ---------------------------------------------------


def test_no_cookie_carries_the_result_or_the_reset_state(app, client, user, mailbox,
                                                         operations):
    operations.queue = [(19, "-", 4)]
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    opaque = re.compile(r"^[A-Za-z0-9_-]{32,}$")
    seen_resets = []

    def check(response):
        for name, _ in _cookie_shapes(response):
            assert name == cookie_name  # the signed session cookie is the only one
        content = decoded_session(app, client)
        assert set(content) <= {"csrf_token", "reset"}
        for value in content.values():
            assert isinstance(value, str)
            assert opaque.match(value)
        flat = json.dumps(content)
        for secret in ("jdupont", "19 - 4", SECRET_QUESTION, SECRET_ANSWER, "question"):
            assert secret not in flat
        assert "15" not in content.values()
        if "reset" in content:
            seen_resets.append(content["reset"])

    page = client.get("/forgot-password")
    check(page)
    assert shown_sum(page) == "Combien font 19 - 4 ?"
    step = client.post("/forgot-password", data={
        "csrf_token": csrf_token(page.text), "identifier": "jdupont", "result": solve(page)})
    check(step)
    page = question_page(client)
    check(page)
    done = answer_question(client, SECRET_ANSWER, page=page)
    check(done)
    assert is_done_page(done)
    assert len(set(seen_resets)) == 1  # one opaque id for the whole procedure...
    assert "reset" not in decoded_session(app, client)  # ...forgotten at the end
    # The mailed password is in no cookie either.
    provisional = mailbox.provisional_password(EMAIL)
    for cookie_header in (step.headers.getlist("Set-Cookie") + done.headers.getlist("Set-Cookie")):
        assert provisional not in cookie_header


def test_a_second_reset_replaces_the_first_provisional_password(app, user, mailbox):
    forgot(app.test_client(), "jdupont", SECRET_ANSWER)
    first = mailbox.provisional_password(EMAIL)
    forgot(app.test_client(), "jdupont", SECRET_ANSWER)
    second = mailbox.provisional_password(EMAIL)
    assert first != second
    assert login(app.test_client(), "jdupont", first).status_code == 200
    assert login(app.test_client(), "jdupont", second).headers["Location"] == "/password-change"


def test_the_mail_does_not_follow_the_host_header(client, user, mailbox):
    # FPW-07: nothing in the mail comes from the request's Host header.
    response = forgot(client, "jdupont", SECRET_ANSWER, base_url="http://evil.example",
                      headers={"X-Forwarded-Host": "evil.example"})
    assert is_done_page(response)
    body = mailbox.body(provisional_mails(mailbox)[0])
    assert "evil.example" not in body


# --- after the reset: the provisional password ---------------------------------------


@pytest.fixture
def provisional(client, user, mailbox) -> str:
    """A right answer; the provisional password read from the mail."""
    assert is_done_page(forgot(client, "jdupont", SECRET_ANSWER))
    return mailbox.provisional_password(EMAIL)


def test_the_old_password_works_until_the_provisional_one_is_used(app, provisional):
    before = app.test_client()
    assert login(before, "jdupont", STRONG_PASSWORD).headers["Location"] == "/"
    assert login(app.test_client(), "jdupont", provisional).headers["Location"] \
        == "/password-change"
    after = login(app.test_client(), "jdupont", STRONG_PASSWORD)
    assert after.status_code == 200
    assert MSG_INVALID in page_text(after)
    # An interrupted procedure starts again with it, until a personal password is chosen.
    again = app.test_client()
    assert login(again, "jdupont", provisional).headers["Location"] == "/password-change"
    assert not has_session(again)
    post_form(again, "/password-change", {"new_password": NEW_PASSWORD,
                                          "confirmation": NEW_PASSWORD})
    assert has_session(again)
    last = app.test_client()
    assert login(last, "jdupont", provisional).status_code == 200
    assert not has_session(last)


def test_the_provisional_password_forces_the_password_change(client, user, provisional):
    response = login(client, "jdupont", provisional)
    assert response.status_code == 303
    assert response.headers["Location"] == "/password-change"
    # No session until the change is done.
    home = client.get("/")
    assert home.status_code == 303
    assert home.headers["Location"] == "/password-change"
    page = page_text(client.get("/password-change"))
    assert ('<label class="fr-label fr-password__label" for="new_password">Nouveau mot de passe'
            in page)
    assert "Confirmation du nouveau mot de passe" in page
    changed = post_form(client, "/password-change",
                        {"new_password": NEW_PASSWORD, "confirmation": NEW_PASSWORD})
    # The secrets are set: no question again, no captcha (SPEC 1.2 step 4).
    assert changed.status_code == 303
    assert changed.headers["Location"] == "/"
    assert "Mes applications" in client.get("/").text
    user = reload(user)
    assert user.password_hash is not None
    assert not user.is_provisional


def test_a_locked_account_is_unlocked_by_the_provisional_password(app, client, user, mailbox):
    for _ in range(3):
        login(app.test_client(), "jdupont", WRONG_PASSWORD)
    assert MSG_LOCKED in page_text(login(app.test_client(), "jdupont", STRONG_PASSWORD))
    # The procedure works while locked...
    assert is_done_page(forgot(client, "jdupont", SECRET_ANSWER))
    provisional = mailbox.provisional_password(EMAIL)
    # ...and so does the provisional password, which lifts the lock.
    response = login(client, "jdupont", provisional)
    assert response.status_code == 303
    assert response.headers["Location"] == "/password-change"
    unlocked = reload(user)
    assert unlocked.failed_attempts == 0
    assert unlocked.locked_until is None or unlocked.locked_until <= datetime.now(UTC)
    post_form(client, "/password-change",
              {"new_password": OTHER_STRONG_PASSWORD, "confirmation": OTHER_STRONG_PASSWORD})
    assert has_session(client)
    assert login(app.test_client(), "jdupont", OTHER_STRONG_PASSWORD).headers["Location"] == "/"


def test_an_sso_session_from_before_is_dead_after_the_provisional_login(app, client, user,
                                                                        provisional):
    elsewhere = app.test_client()
    assert login(elsewhere, "jdupont", STRONG_PASSWORD).headers["Location"] == "/"
    assert has_session(elsewhere)
    login(client, "jdupont", provisional)
    assert not has_session(elsewhere)
    db.session.expire_all()
    rows = db.session.execute(select(UserSession).where(UserSession.user_id == user.id)).scalars()
    assert all(row.ended_at is not None for row in rows)


# --- audit (never the answer) ---------------------------------------------------------


def test_audit_rows_never_contain_the_answer(app, user, mailbox, audit_rows):
    with time_machine.travel(START, tick=False) as clock:
        forgot(app.test_client(), "jdupont", SECRET_ANSWER)
        for _ in range(3):
            forgot(app.test_client(), "jdupont", WRONG_ANSWER)
        forgot(app.test_client(), "jdupont", SECRET_ANSWER)  # refused by the counter
        forgot(app.test_client(), "personne", WRONG_ANSWER)
        clock.move_to(START + timedelta(minutes=1))
    events = [row.event for row in audit_rows()]
    for event in ("reset.asked", "reset.answer_wrong", "password.reset_sent",
                  "reset.refused_by_counter"):
        assert event in events
    provisional = mailbox.provisional_password(EMAIL)
    secrets_sent = {SECRET_ANSWER.lower(), WRONG_ANSWER.lower(), provisional.lower(), "7 + 5"}
    for row in audit_rows():
        flat = json.dumps({"login": row.login, "actor": row.actor, "details": row.details,
                           "client": row.client_id}, ensure_ascii=False).lower()
        for secret in secrets_sent:
            assert secret not in flat, (row.event, secret)
    asked = audit_rows("reset.asked")[0]
    assert asked.login == "jdupont"
    assert asked.ip == "127.0.0.1"


# --- rate limits (FPW-04) ----------------------------------------------------------


@pytest.fixture
def three_a_minute(app_environ):
    """A low limit on both steps, by IP and by identifier, set before the app is built."""
    app_environ["IDP_RATELIMIT_FORGOT_PASSWORD"] = "3/minute"


def _from(ip: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": ip}}


def _is_429_page(response) -> bool:
    text = page_text(response)
    return (response.status_code == 429 and "Trop de tentatives" in text
            and int(response.headers["Retry-After"]) > 0)


def test_step_one_is_limited_by_identifier_and_by_ip(three_a_minute, app, user):
    with time_machine.travel(START, tick=False):
        # By identifier: three addresses ask for jdupont, the fourth is held back.
        for index in range(3):
            assert pass_arithmetic(app.test_client(), "jdupont",
                                   **_from(f"10.0.0.{index}")).status_code == 303
        known = pass_arithmetic(app.test_client(), "jdupont", **_from("10.0.0.9"))
        assert _is_429_page(known)
        # The same for an unknown identifier: the page says nothing of the account.
        for index in range(3):
            pass_arithmetic(app.test_client(), "personne", **_from(f"10.0.1.{index}"))
        unknown = pass_arithmetic(app.test_client(), "personne", **_from("10.0.1.9"))
        assert _is_429_page(unknown)
        assert page_text(known) == page_text(unknown)
        # By address: one address, four identifiers.
        for index in range(3):
            pass_arithmetic(app.test_client(), f"compte-{index}", **_from("10.0.2.1"))
        assert _is_429_page(pass_arithmetic(app.test_client(), "compte-9", **_from("10.0.2.1")))
    with time_machine.travel(START + timedelta(minutes=1, seconds=1), tick=False):
        assert pass_arithmetic(app.test_client(), "jdupont",
                               **_from("10.0.0.9")).status_code == 303


def test_step_two_is_limited_too(three_a_minute, client, user, mailbox):
    with time_machine.travel(START, tick=False):
        pass_arithmetic(client, "jdupont")
        page = question_page(client)
        statuses = [answer_question(client, WRONG_ANSWER, page=page).status_code
                    for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
    assert reload(user).reset_failures == 1


def test_step_two_is_limited_by_the_identifier_of_the_procedure(three_a_minute, app, user):
    """Six procedures opened for jdupont over two minutes, answered from six addresses:
    the fourth answer is held back, whatever ``identifier`` field the form carries."""
    clients = []
    with time_machine.travel(START, tick=False) as clock:
        for index in range(6):
            if index == 3:
                clock.move_to(START + timedelta(minutes=1, seconds=1))
            client = app.test_client()
            assert pass_arithmetic(client, "jdupont",
                                   **_from(f"10.0.3.{index}")).status_code == 303
            clients.append((client, question_page(client)))
        clock.move_to(START + timedelta(minutes=1, seconds=2))
        statuses = []
        for index, (client, page) in enumerate(clients[:4]):
            statuses.append(client.post("/forgot-password/question", data={
                "csrf_token": csrf_token(page.text), "answer": WRONG_ANSWER,
                "identifier": f"leurre-{index}",  # not the procedure's identifier
            }, **_from(f"10.0.4.{index}")).status_code)
        assert statuses == [200, 200, 200, 429]
    assert reload(user).reset_failures == 3


# --- cost (FPW-02) --------------------------------------------------------------------
# Counted, not timed: bench/forgot_password_timing.py measures the time on a quiet machine.


@pytest.mark.parametrize(("identifier", "answer"), [
    ("inconnu", WRONG_ANSWER), ("jdupont", WRONG_ANSWER), ("jdupont", SECRET_ANSWER),
], ids=["unknown", "wrong", "right"])
def test_unknown_wrong_and_right_answers_cost_the_same(client, user, argon2_calls, identifier,
                                                       answer):
    """FPW-02: one argon2 verification then one argon2 hash, whatever the answer: the right
    one hashes the new provisional password, the others a throwaway one (and the mail
    leaves after the answer: test_the_right_answer_does_not_wait_for_the_mail_server)."""
    passwords.dummy_verify()  # the dummy hash is made once per process, not per answer
    assert pass_arithmetic(client, identifier).status_code == 303
    page = question_page(client)
    argon2_calls.clear()
    assert is_done_page(answer_question(client, answer, page))
    assert argon2_calls == ["verify", "hash"]


# --- the « secrets non renseignés » page tells nothing about the identifier --------------


@pytest.fixture
def quarter_without_secrets(make_user):
    """One account of four (the deactivated one included) has never set its secrets."""
    make_user("newbie", provisional="Pr0visoireXyzAb")
    for login_ in ("alice", "bruno"):
        make_user(login_)
    make_user("parti", is_active=False)


def _no_secrets_page(client, identifier: str, address: str) -> bool:
    response = pass_arithmetic(client, identifier, **_from(address))
    return MSG_NO_SECRETS in page_text(response)


def _unknown_pair(app) -> tuple[str, str]:
    """One unknown identifier that gets the page and one that does not."""
    shown = {reset.shows_no_secrets_page(None, f"inconnu-{index}"): f"inconnu-{index}"
             for index in range(200)}
    return shown[True], shown[False]


def test_fpw_01_an_unknown_identifier_always_gets_the_same_page(app, quarter_without_secrets,
                                                                 mailbox):
    with_page, without_page = _unknown_pair(app)
    for attempt in range(2):
        assert _no_secrets_page(app.test_client(), with_page, f"10.8.0.{attempt}")
        assert not _no_secrets_page(app.test_client(), without_page, f"10.8.1.{attempt}")
    # The spelling does not matter: the identifier is normalised first.
    assert _no_secrets_page(app.test_client(), with_page.upper() + " ", "10.8.2.1")
    assert mailbox.messages == []


def test_fpw_01_a_known_account_without_secrets_still_gets_the_page(
        app, quarter_without_secrets, mailbox):
    assert _no_secrets_page(app.test_client(), "newbie", "10.8.3.1")
    assert not _no_secrets_page(app.test_client(), "alice", "10.8.3.2")


def test_fpw_01_unknown_identifiers_get_the_page_as_often_as_real_accounts(
        app, quarter_without_secrets):
    shown = [reset.shows_no_secrets_page(None, f"quidam.{index}") for index in range(4000)]
    # A quarter of the accounts (1 in 4) get the page: so do about a quarter of the
    # unknown identifiers (binomial standard deviation 0.7 %: this is 5 of them).
    assert abs(sum(shown) / len(shown) - 0.25) < 0.035


def test_fpw_01_the_share_follows_the_accounts_within_minutes(app, make_user):
    with time_machine.travel(START, tick=False) as clock:
        make_user("alice")
        assert reset.no_secrets_share() == 0
        make_user("newbie", provisional="Pr0visoireXyzAb")
        # Counted again at most every few minutes, not at each request.
        assert reset.no_secrets_share() == 0
        clock.shift(reset.SHARE_REFRESH + timedelta(seconds=1))
        assert reset.no_secrets_share() == 0.5
