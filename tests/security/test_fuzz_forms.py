"""Fuzzing every form for people (hypothesis): never a 5xx, and a refused post changes
nothing (OWASP ASVS 5.1.3, 5.1.4, 13.2.2). The property and what « nothing » means:
``tests/security/fuzzing.py``.

Each test reaches its form's state once (an account, a login flow at the right
step, an operator's console), then posts generated cases: every field missing,
once or twice, good or hostile (any unicode, NUL, surrogates as percent-encoding,
invalid UTF-8, huge values), extra parameters, fields sent as files. The rate
limits are off: they would answer 429 before the form is read.
"""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

from idp.extensions import limiter
from idp.security import challenges
from idp.security import secrets
from tests.conftest import SECRET_QUESTION
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import post_form
from tests.security.fuzzing import Raw
from tests.security.fuzzing import check_property
from tests.security.fuzzing import hostile
from tests.security.fuzzing import hostile_request
from tests.security.fuzzing import multipart_with_file
from tests.security.fuzzing import path_segment
from tests.security.fuzzing import replaced
from tests.security.fuzzing import send

WRONG_PASSWORD = "Pas-Le-Bon-Mot-De-Passe-1"
PROVISIONAL = "Provisoire-Tres-Long-2026"
OPERATOR = "agent.martin"


def redirected(response) -> bool:
    """A form accepted: Post/Redirect/Get."""
    return response.status_code in (302, 303)


def logged_out(response) -> bool:
    """A logout accepted: its page, or back home after ending another session."""
    return redirected(response) or "Vous êtes déconnecté" in response.text


@pytest.fixture(autouse=True)
def _no_rate_limits(monkeypatch):
    monkeypatch.setattr(limiter, "enabled", False)


@pytest.fixture(autouse=True)
def _known_challenges(monkeypatch):
    """« 7 + 5 » and the captcha « KMR3TX » (generators patched, never read back)."""
    monkeypatch.setattr(challenges, "arithmetic_operation", lambda: (7, "+", 5))
    monkeypatch.setattr(challenges, "_text", lambda: "KMR3TX")


@pytest.fixture
def user(make_user):
    return make_user("jdupont")


def token(client, url: str) -> str:
    return csrf_token(client.get(url).text)


# --- anonymous pages ----------------------------------------------------------------------


def test_login_form(pytestconfig, client, user):
    fields = {"csrf_token": token(client, "/login"), "identifier": "jdupont",
              "password": WRONG_PASSWORD, "next": "/"}
    check_property(pytestconfig, "POST /login", hostile_request(fields),
                   lambda case: send(client, "POST", "/login", case), accepted=redirected)


def test_login_page_query(pytestconfig, client, user):
    fields = {"next": "/authorize?client_id=x", "login_hint": "jdupont"}
    check_property(pytestconfig, "GET /login", hostile_request(fields),
                   lambda case: send(client, "GET", "/login", case))


def test_forgot_password_form(pytestconfig, client, user):
    fields = {"csrf_token": token(client, "/forgot-password"), "identifier": "jdupont",
              "result": "12"}
    # A right sum only opens step 2 (a challenge row, excluded): nothing else may change.
    check_property(pytestconfig, "POST /forgot-password", hostile_request(fields),
                   lambda case: send(client, "POST", "/forgot-password", case))
    check_property(pytestconfig, "GET /forgot-password", hostile_request({"identifier": "x"}),
                   lambda case: send(client, "GET", "/forgot-password", case))


def test_forgot_password_question_form(pytestconfig, client, user):
    def prepare():
        response = post_form(client, "/forgot-password", {"identifier": "jdupont", "result": "12"})
        assert response.status_code == 303

    fields = {"csrf_token": token(client, "/forgot-password"), "answer": "Pas-La-Bonne-Reponse"}
    check_property(pytestconfig, "POST /forgot-password/question", hostile_request(fields),
                   lambda case: send(client, "POST", "/forgot-password/question", case),
                   prepare=prepare)


# --- the first connection -----------------------------------------------------------------


class Newcomer:
    """A provisional account logged in, its flow brought to a given step."""

    def __init__(self, client, make_user, step: str):
        self.client, self.make_user, self.step, self.count = client, make_user, step, 0

    def start(self):
        self.count += 1
        login_name = f"newbie{self.count}"
        self.make_user(login_name, provisional=PROVISIONAL)
        assert login(self.client, login_name, PROVISIONAL).status_code == 303
        if self.step == "password":
            return
        post_form(self.client, "/password-change",
                  {"new_password": STRONG_PASSWORD, "confirmation": STRONG_PASSWORD})
        if self.step == "secret_question":
            return
        response = post_form(self.client, "/first-connection/secret-question", {
            "question": SECRET_QUESTION, "own_question": "", "answer": "Rantanplan"})
        assert response.headers["Location"] == "/first-connection/captcha"

    def restart_if_moved_on(self, response) -> bool:
        """An accepted step (a lucky case) moves the flow on: start another account."""
        if redirected(response):
            self.start()
            return True
        return False


def _step_form(pytestconfig, client, make_user, step, url, fields, endpoint):
    newcomer = Newcomer(client, make_user, step)
    newcomer.start()
    # A new account logs in with a new session, hence a new CSRF token: read it each time.
    check_property(pytestconfig, endpoint, hostile_request({"csrf_token": "", **fields}),
                   lambda case: send(client, "POST", url,
                                     replaced(case, "csrf_token", "", token(client, url))),
                   accepted=newcomer.restart_if_moved_on)


def test_password_change_form(pytestconfig, client, make_user):
    _step_form(pytestconfig, client, make_user, "password", "/password-change",
               {"new_password": "motdepasse", "confirmation": "motdepasse"},
               "POST /password-change")


def test_first_connection_secret_question_form(pytestconfig, client, make_user):
    _step_form(pytestconfig, client, make_user, "secret_question",
               "/first-connection/secret-question",
               {"question": secrets.OTHER_QUESTION, "own_question": "", "answer": "a"},
               "POST /first-connection/secret-question")


def test_first_connection_captcha_form(pytestconfig, client, make_user):
    _step_form(pytestconfig, client, make_user, "captcha", "/first-connection/captcha",
               {"text": "WRONG1"}, "POST /first-connection/captcha")


# --- the account pages of a logged-in user ------------------------------------------------


@pytest.fixture
def logged_in(client, user):
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    return client


def test_account_password_form(pytestconfig, logged_in):
    fields = {"csrf_token": token(logged_in, "/account/password"),
              "current_password": STRONG_PASSWORD, "new_password": "motdepasse",
              "confirmation": "motdepasse"}
    check_property(pytestconfig, "POST /account/password", hostile_request(fields),
                   lambda case: send(logged_in, "POST", "/account/password", case),
                   accepted=redirected)


def test_account_secret_question_form(pytestconfig, logged_in):
    fields = {"csrf_token": token(logged_in, "/account/secret-question"),
              "current_password": WRONG_PASSWORD, "question": SECRET_QUESTION,
              "own_question": "", "answer": "Idefix"}
    check_property(pytestconfig, "POST /account/secret-question", hostile_request(fields),
                   lambda case: send(logged_in, "POST", "/account/secret-question", case),
                   accepted=redirected)


def test_logout_and_session_forms(pytestconfig, logged_in):
    def log_in_again():
        if logged_in.get("/").status_code != 200:
            assert login(logged_in, "jdupont", STRONG_PASSWORD).status_code == 303

    def with_live_token(request):
        # A logout clears the session, its CSRF token with it: read the current one.
        return replaced(request, "csrf_token", "", token(logged_in, "/"))

    check_property(pytestconfig, "POST /logout", hostile_request({"csrf_token": ""}),
                   lambda case: send(logged_in, "POST", "/logout", with_live_token(case)),
                   accepted=logged_out, prepare=log_in_again)
    check_property(
        pytestconfig, "POST /sessions/<sid>/end",
        st.tuples(hostile("sid"), hostile_request({"csrf_token": ""})),
        lambda case: send(logged_in, "POST", f"/sessions/{path_segment(case[0])}/end",
                          with_live_token(case[1])),
        accepted=logged_out, prepare=log_in_again)


# --- the Assistance console ---------------------------------------------------------------


@pytest.fixture
def console(client, make_user, user):
    make_user(OPERATOR, habilitations=("bonuseco", "assistance"), email="agent@asp.test")
    assert login(client, OPERATOR, STRONG_PASSWORD).status_code == 303
    return client


def test_console_search(pytestconfig, console):
    check_property(pytestconfig, "GET /assistance/", hostile_request({"q": "jdup", "page": "2"}),
                   lambda case: send(console, "GET", "/assistance/", case))


def test_console_account_urls(pytestconfig, console):
    check_property(pytestconfig, "GET /assistance/accounts/<login>", hostile("jdupont"),
                   lambda name: console.get(f"/assistance/accounts/{path_segment(name)}"))


def test_console_create_account(pytestconfig, console):
    fields = {"csrf_token": token(console, "/assistance/new-account"), "login": "mdurand",
              "email": "mdurand@example.test", "given_name": "Marie", "family_name": "Durand",
              "siret": "73282932000074", "habilitation": "bonuseco", "profile": "",
              "reason": "Demande du service"}
    check_property(pytestconfig, "POST /assistance/new-account", hostile_request(fields),
                   lambda case: send(console, "POST", "/assistance/new-account", case),
                   accepted=redirected)


CSV_HEADER = "login;email;given_name;family_name;siret;habilitations\n"


def test_console_import(pytestconfig, console):
    url = "/assistance/import"
    good_line = "mdurand;mdurand@example.test;Marie;Durand;;bonuseco"
    files = st.one_of(
        hostile(good_line).map(lambda line: CSV_HEADER.encode() + as_bytes(line)),
        st.binary(max_size=200),
    )
    fields = {"csrf_token": token(console, url), "reason": "Import du service"}

    def act(case):
        content, request = case
        return console.post(url, data=multipart_with_file(request, "file", content, "a.csv"),
                            content_type="multipart/form-data")

    # An import reports each line (200); only a refused form (400) must change nothing.
    check_property(pytestconfig, "POST /assistance/import", st.tuples(files, hostile_request(
        fields)), act, accepted=lambda response: response.status_code == 200)


def as_bytes(value) -> bytes:
    return value.data if isinstance(value, Raw) else value.encode("utf-8", "surrogatepass")


ACTIONS = ("reset-password", "unlock", "clear-secrets", "deactivate", "activate",
           "resend-welcome", "end-sessions")


@pytest.mark.parametrize("action", ACTIONS)
def test_console_actions(pytestconfig, console, action):
    url = f"/assistance/accounts/jdupont/{action}"
    fields = {"csrf_token": token(console, url), "reason": "Appel de l'usager", "confirm": "y"}
    check_property(pytestconfig, f"POST /assistance/accounts/<login>/{action}",
                   hostile_request(fields), lambda case: send(console, "POST", url, case),
                   accepted=redirected, max_examples=10)


def test_console_action_urls(pytestconfig, console):
    fields = {"csrf_token": token(console, "/assistance/accounts/jdupont/unlock"),
              "reason": "Appel de l'usager", "confirm": "y"}
    strategy = st.tuples(hostile("jdupont"), hostile("unlock"), hostile_request(fields))
    check_property(
        pytestconfig, "POST /assistance/accounts/<login>/<action>", strategy,
        lambda case: send(console, "POST", "/assistance/accounts/"
                          f"{path_segment(case[0])}/{path_segment(case[1])}", case[2]),
        accepted=redirected)


def test_console_habilitation_forms(pytestconfig, console):
    grant = "/assistance/accounts/jdupont/habilitations/grant"
    fields = {"csrf_token": token(console, grant), "habilitation": "assistance",
              "profile": "", "starts_at": "2026-01-01", "ends_at": "2026-12-31",
              "reason": "Appel de l'usager"}
    check_property(pytestconfig, "POST .../habilitations/grant", hostile_request(fields),
                   lambda case: send(console, "POST", grant, case), accepted=redirected)
    reason = {"csrf_token": fields["csrf_token"], "reason": "Appel de l'usager", "confirm": "y"}
    for verb in ("revoke", "restore"):
        strategy = st.tuples(hostile("bonuseco"), hostile_request(reason))
        check_property(
            pytestconfig, f"POST .../habilitations/<code>/{verb}", strategy,
            lambda case, verb=verb: send(console, "POST", "/assistance/accounts/jdupont/"
                                         f"habilitations/{path_segment(case[0])}/{verb}", case[1]),
            accepted=redirected, max_examples=15)
