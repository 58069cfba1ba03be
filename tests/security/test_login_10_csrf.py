"""LOGIN-10: every state-changing form refuses a POST without its CSRF token.

Each POST rule of ``app.url_map`` is either reached here, in the state where a
person may really use it (signed in, in the right step of a flow, operator of
the console), or listed in OAUTH_ENDPOINTS with why it carries no CSRF token. A
new POST route fails ``test_every_post_route_is_known`` until it is added to one
or the other.

For each form: the browser holds the victim's cookie, the attacker's page posts
valid fields without the token. Expected: the French 400 page, no database row
added, changed or removed (the audit trail included), no mail. Then the same
fields with the page's token go through and change something: that control
proves the refused post would have acted, so the test fails if the protection
is lifted from the route.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from dataclasses import field

import pytest
from sqlalchemy import select

from idp.assistance import views  # noqa: F401 (the blueprint first, then its actions)
from idp.assistance.actions import ACTIONS
from idp.database import commit
from idp.extensions import db
from idp.models import UserSession
from idp.oidc.registration import NewClient
from idp.oidc.registration import create_client
from idp.security import challenges
from idp.security.secrets import QUESTIONS
from tests.conftest import OTHER_STRONG_PASSWORD
from tests.conftest import SECRET_ANSWER
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import page_text
from tests.conftest import post_form
from tests.security.oauth import authorize_url
from tests.user_guide import MSG_FORM_EXPIRED

# Protocol endpoints: no cookie-borne authority, so no CSRF token (RFC 6749 3.2,
# RFC 7009, RFC 7662, OIDC Core 5.3; the API blueprint is CSRF-exempt).
OAUTH_ENDPOINTS = {
    "/token": "client authentication, no cookie",
    "/revoke": "client authentication, no cookie",
    "/introspect": "client authentication, no cookie",
    "/userinfo": "bearer access token, no cookie",
    # OIDC Core 3.1.2.1: the authorization request may be a form POST from the
    # module; it changes nothing by itself (login and consent are their own forms).
    "/authorize": "authorization request sent by the module",
    # RP-Initiated Logout 1.0 §2: the module may POST; without a valid
    # id_token_hint nothing ends before /end-session/confirm, which is tested here.
    "/end-session": "logout request sent by the module",
}

PROVISIONAL = "Hibou-Sapin-Nuage-61"
CAPTCHA_TEXT = "KMR3TX"
CALLBACK = "https://module.example/callback"
FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


@dataclass
class Post:
    """A form as the victim's browser would send it, minus the token."""

    client: object
    url: str
    token_page: str  # a page of the same browser that carries the CSRF token
    data: dict = field(default_factory=dict)
    multipart: bool = False

    def send(self, token: str | None = None):
        data = dict(self.data)
        if self.multipart:  # a file object is read once: build it for each post
            data["file"] = (io.BytesIO(data["file"]), "comptes.csv")
        if token is not None:
            data["csrf_token"] = token
        kwargs = {"content_type": "multipart/form-data"} if self.multipart else {}
        return self.client.post(self.url, data=data, **kwargs)


# --- the states a person is in when the form is theirs to post ----------------------------


def signed_in(app, make_user, **columns):
    client = app.test_client()
    make_user(**columns)
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    return client


def in_password_change(app, make_user):
    client = app.test_client()
    make_user("newbie", provisional=PROVISIONAL)
    assert login(client, "newbie", PROVISIONAL).headers["Location"] == "/password-change"
    return client


def in_secret_question(app, make_user):
    client = in_password_change(app, make_user)
    response = post_form(client, "/password-change",
                         {"new_password": STRONG_PASSWORD, "confirmation": STRONG_PASSWORD})
    assert response.headers["Location"] == "/first-connection/secret-question"
    return client


def in_captcha(app, make_user):
    client = in_secret_question(app, make_user)
    response = post_form(client, "/first-connection/secret-question",
                         {"question": QUESTIONS[0], "own_question": "", "answer": SECRET_ANSWER})
    assert response.headers["Location"] == "/first-connection/captcha"
    client.get("/first-connection/captcha")
    return client


def in_forgot_question(app, make_user):
    client = app.test_client()
    make_user()
    response = post_form(client, "/forgot-password", {"identifier": "jdupont", "result": "12"})
    assert response.headers["Location"] == "/forgot-password/question"
    return client


def operator(app, make_user, **target):
    make_user("jdupont", **target)
    client = app.test_client()
    make_user("agent.martin", habilitations=("bonuseco", "assistance"),
              email="agent.martin@asp.test")
    assert login(client, "agent.martin", STRONG_PASSWORD).status_code == 303
    return client


def consent_module(app) -> str:
    create_client(NewClient(client_id="third-party", name="Tiers", redirect_uris=[CALLBACK],
                            habilitation="bonuseco", skip_consent=False, is_public=False,
                            auth_method=None), actor="test")
    commit()
    return authorize_url("third-party", redirect_uri=CALLBACK, state="s", nonce="n")


def form_action(client, page_url: str) -> str:
    page = client.get(page_url)
    assert page.status_code == 200, page_text(page)
    return FORM_ACTION.search(page.text).group(1).replace("&amp;", "&")


# --- one builder per POST rule ---------------------------------------------------------------


def _login(app, make_user):
    make_user()
    client = app.test_client()
    return Post(client, "/login", "/login", {"identifier": "jdupont", "password": STRONG_PASSWORD})


def _logout(app, make_user):
    return Post(signed_in(app, make_user), "/logout", "/logout")


def _end_one_session(app, make_user):
    client = signed_in(app, make_user)
    sid = db.session.execute(select(UserSession.sid)).scalar_one()
    return Post(client, f"/sessions/{sid}/end", "/")


def _account_password(app, make_user):
    return Post(signed_in(app, make_user), "/account/password", "/account/password", {
        "current_password": STRONG_PASSWORD, "new_password": OTHER_STRONG_PASSWORD,
        "confirmation": OTHER_STRONG_PASSWORD})


def _account_secret_question(app, make_user):
    return Post(signed_in(app, make_user), "/account/secret-question", "/account/secret-question", {
        "current_password": STRONG_PASSWORD, "question": QUESTIONS[1], "own_question": "",
        "answer": "Marguerite des champs"})


def _password_change(app, make_user):
    return Post(in_password_change(app, make_user), "/password-change", "/password-change",
                {"new_password": STRONG_PASSWORD, "confirmation": STRONG_PASSWORD})


def _password_strength(app, make_user):
    return Post(in_password_change(app, make_user), "/password-change/strength",
                "/password-change", {"password": STRONG_PASSWORD})


def _account_password_strength(app, make_user):
    return Post(signed_in(app, make_user), "/account/password/strength", "/account/password",
                {"password": OTHER_STRONG_PASSWORD})


def _quit_steps(app, make_user):
    return Post(in_password_change(app, make_user), "/login/quit", "/password-change")


def _first_secret_question(app, make_user):
    return Post(in_secret_question(app, make_user), "/first-connection/secret-question",
                "/first-connection/secret-question",
                {"question": QUESTIONS[0], "own_question": "", "answer": SECRET_ANSWER})


def _first_captcha(app, make_user):
    return Post(in_captcha(app, make_user), "/first-connection/captcha",
                "/first-connection/captcha", {"text": CAPTCHA_TEXT})


def _first_captcha_new(app, make_user):
    return Post(in_captcha(app, make_user), "/first-connection/captcha/new",
                "/first-connection/captcha")


def _forgot_password(app, make_user):
    make_user()
    client = app.test_client()
    client.get("/forgot-password")
    return Post(client, "/forgot-password", "/forgot-password",
                {"identifier": "jdupont", "result": "12"})


def _forgot_question(app, make_user):
    return Post(in_forgot_question(app, make_user), "/forgot-password/question",
                "/forgot-password/question", {"answer": SECRET_ANSWER})


def _consent(app, make_user):
    url = consent_module(app)
    client = signed_in(app, make_user)
    return Post(client, form_action(client, url), url, {"decision": "allow"})


def _end_session_confirm(app, make_user):
    client = signed_in(app, make_user)
    return Post(client, form_action(client, "/end-session"), "/end-session")


def _new_account(app, make_user):
    return Post(operator(app, make_user), "/assistance/new-account", "/assistance/new-account", {
        "login": "mmartin", "email": "m.martin@example.test", "given_name": "Marie",
        "family_name": "Martin", "siret": "", "habilitation": "bonuseco", "profile": "",
        "reason": "demande de l'établissement"})


def _import(app, make_user):
    csv = b"login;email;given_name;family_name;siret;habilitations\n" \
          b"aleroux;a.leroux@example.test;Anne;Leroux;;bonuseco\n"
    return Post(operator(app, make_user), "/assistance/import", "/assistance/import",
                {"reason": "ouverture du reseau", "file": csv}, multipart=True)


def _grant(app, make_user):
    url = "/assistance/accounts/jdupont/habilitations/grant"
    return Post(operator(app, make_user, habilitations=()), url, url,
                {"habilitation": "bonuseco", "profile": "", "reason": "appel de l'utilisateur"})


def _revoke(app, make_user):
    url = "/assistance/accounts/jdupont/habilitations/bonuseco/revoke"
    return Post(operator(app, make_user), url, url,
                {"reason": "appel de l'utilisateur", "confirm": "y"})


def _restore(app, make_user):
    client = operator(app, make_user)
    revoke = "/assistance/accounts/jdupont/habilitations/bonuseco/revoke"
    response = post_form(client, revoke, {"reason": "appel de l'utilisateur", "confirm": "y"})
    assert response.status_code == 303, page_text(response)
    url = "/assistance/accounts/jdupont/habilitations/bonuseco/restore"
    return Post(client, url, url, {"reason": "appel de l'utilisateur"})


# The target is put in the state where the action applies.
ACTION_TARGETS = {
    "reset-password": {}, "clear-secrets": {}, "deactivate": {}, "resend-welcome": {},
    "unlock": {"failed_attempts": 3},
    "activate": {"is_active": False},
    "end-sessions": {},
}


def _account_action(action):
    def build(app, make_user):
        client = operator(app, make_user, **ACTION_TARGETS[action])
        if action == "end-sessions":
            assert login(app.test_client(), "jdupont", STRONG_PASSWORD).status_code == 303
        url = f"/assistance/accounts/jdupont/{action}"
        return Post(client, url, url, {"reason": "appel de l'utilisateur", "confirm": "y"})
    return build


FORMS = {
    "/login": [_login],
    "/login/quit": [_quit_steps],
    "/logout": [_logout],
    "/sessions/<sid>/end": [_end_one_session],
    "/account/password": [_account_password],
    "/account/password/strength": [_account_password_strength],
    "/account/secret-question": [_account_secret_question],
    "/password-change": [_password_change],
    "/password-change/strength": [_password_strength],
    "/first-connection/secret-question": [_first_secret_question],
    "/first-connection/captcha": [_first_captcha],
    "/first-connection/captcha/new": [_first_captcha_new],
    "/forgot-password": [_forgot_password],
    "/forgot-password/question": [_forgot_question],
    "/authorize/consent": [_consent],
    "/end-session/confirm": [_end_session_confirm],
    "/assistance/new-account": [_new_account],
    "/assistance/import": [_import],
    "/assistance/accounts/<login>/habilitations/grant": [_grant],
    "/assistance/accounts/<login>/habilitations/<code>/revoke": [_revoke],
    "/assistance/accounts/<login>/habilitations/<code>/restore": [_restore],
    "/assistance/accounts/<login>/<action>": [_account_action(a) for a in sorted(ACTIONS)],
}
CASES = [
    pytest.param(build, id=rule if len(builds) == 1 else f"{rule}:{sorted(ACTIONS)[i]}")
    for rule, builds in FORMS.items() for i, build in enumerate(builds)
]
# Rows that move without anyone acting: the idle timer of a session is touched at
# most once a minute by any request.
UNSTABLE_COLUMNS = {("user_sessions", "last_seen_at")}


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table, as comparable tuples."""
    db.session.expire_all()
    tables = {}
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if (table.name, c.name) not in UNSTABLE_COLUMNS]
        rows = db.session.execute(select(*columns)).all()
        tables[table.name] = sorted(tuple(repr(value) for value in row) for row in rows)
    return tables


@pytest.fixture(autouse=True)
def deterministic_challenges(monkeypatch):
    """Known captcha text and sum, so that the control post can succeed."""
    monkeypatch.setattr(challenges, "_text", lambda: CAPTCHA_TEXT)
    monkeypatch.setattr(challenges, "arithmetic_operation", lambda: (7, "+", 5))


@pytest.fixture
def app_environ(app_environ):
    app_environ.update(IDP_RATELIMIT_LOGIN="1000/minute",
                       IDP_RATELIMIT_LOGIN_IDENTIFIER="1000/minute")
    return app_environ


def test_every_post_route_is_known(app):
    posted = {rule.rule for rule in app.url_map.iter_rules() if "POST" in rule.methods}
    assert posted == set(FORMS) | set(OAUTH_ENDPOINTS), (
        "a POST route is neither tested for CSRF nor listed as an OAuth endpoint")
    assert not set(FORMS) & set(OAUTH_ENDPOINTS)


@pytest.mark.parametrize("build", CASES)
def test_login_10_a_post_without_csrf_token_is_refused_and_changes_nothing(
        app, make_user, mailbox, build):
    form = build(app, make_user)
    mailbox.clear()
    before = snapshot()

    refused = form.send()
    assert refused.status_code == 400, page_text(refused)[:500]
    assert MSG_FORM_EXPIRED in page_text(refused)
    assert "Location" not in refused.headers
    assert snapshot() == before
    assert mailbox.messages == []

    # Control: with the token the same post acts, so the refusal above was the token's.
    token = csrf_token(form.client.get(form.token_page).text)
    before = snapshot()
    accepted = form.send(token)
    assert accepted.status_code in (200, 302, 303), page_text(accepted)[:500]
    if form.url.endswith("/strength"):
        assert accepted.json["ok"] is True  # these answer and store nothing
    else:
        assert snapshot() != before, "the control post changed nothing: the case proves nothing"
