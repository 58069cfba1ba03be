"""Fuzzing every OAuth parameter (hypothesis): /authorize, consent, /token, /userinfo,
/revoke, /introspect, /end-session. Never a 5xx; a refused request changes nothing
(the fingerprint of ``tests/security/fuzzing.py``). Errors keep their OAuth shape:
JSON for the machine endpoints (RFC 6749 5.2), a redirect or our page for the
authorization endpoint (RFC 6749 4.1.2.1).

The good values are real: a session, a registered module, a fresh code per case,
the latest refresh token, a live access token and ID token; each case spoils some
of them (any unicode, NUL, surrogates as percent-encoding, invalid UTF-8, huge
values, duplicated or extra parameters, files for fields, a hostile Basic header).
"""

from __future__ import annotations

import base64
import secrets as random
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from hypothesis import strategies as st

from idp.extensions import limiter
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.security.fuzzing import Raw
from tests.security.fuzzing import check_property
from tests.security.fuzzing import hostile
from tests.security.fuzzing import hostile_request
from tests.security.fuzzing import replaced
from tests.security.fuzzing import send
from tests.security.oauth import CALLBACK
from tests.security.oauth import CHALLENGE
from tests.security.oauth import VERIFIER
from tests.security.oauth import authorize_params
from tests.security.oauth import register_module
from tests.security.oauth import tokens_for

SCOPE = "openid profile email"


@pytest.fixture(autouse=True)
def _no_rate_limits(monkeypatch):
    monkeypatch.setattr(limiter, "enabled", False)


def register(client_id: str, **options):
    """A module whose logout may come back to CALLBACK too."""
    return register_module(client_id, post_logout_redirect_uris=[CALLBACK], **options)


def authorize_fields(module) -> dict:
    return authorize_params(module.client_id, CHALLENGE, scope=SCOPE,
                            state=random.token_urlsafe(8), nonce=random.token_urlsafe(8))


OPTIONAL_AUTHORIZE = {"prompt": "login", "max_age": "3600", "login_hint": "jdupont",
                      "claims": '{"id_token": {"acr": {"essential": true}}}',
                      "acr_values": "eidas1", "id_token_hint": "eyJ.e30.x", "ui_locales": "fr",
                      "display": "page", "response_mode": "query", "request": "eyJ.e30.",
                      "request_uri": "https://evil.test/r"}


def issued_code(response) -> bool:
    return "code=" in response.headers.get("Location", "")


def code_from(response) -> str:
    return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


@pytest.fixture
def module(app):
    return register("module-a")


@pytest.fixture
def session_client(client, make_user, module):
    make_user("jdupont")
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    return client


def fresh_code(client, module) -> str:
    response = client.get("/authorize", query_string=authorize_fields(module))
    assert issued_code(response), response.headers.get("Location")
    return code_from(response)


def authorization_header(good: str, *, spoil_basic: bool = False) -> st.SearchStrategy:
    """Mostly the right one; else none, a spoiled value, or (``spoil_basic``) Basic
    credentials that are not base64 of UTF-8 « id:secret »."""
    spoiled = [st.sampled_from(["Bearer x", "Digest x", "Basic\tx", good + "x"])]
    if spoil_basic:
        spoiled = [
            st.binary(max_size=60).map(lambda raw: "Basic " + base64.b64encode(raw).decode()),
            hostile(good).map(lambda value: value.data.decode("latin-1") if isinstance(value, Raw)
                              else value.encode("latin-1", "replace").decode("latin-1")),
            st.sampled_from(["Basic", "Basic ", "Basic !!!", "Basic " + base64.b64encode(
                b":").decode(), "Basic " + base64.b64encode(b"\xff:\xfe").decode()]),
        ]
    return st.one_of(st.just(good), st.just(good), st.just(None), *spoiled)


def with_header(good: str, fields: dict, *, spoil_basic: bool = False) -> st.SearchStrategy:
    return st.tuples(authorization_header(good, spoil_basic=spoil_basic),
                     hostile_request(fields))


def headers(value) -> dict:
    return {} if value is None else {"Authorization": value.replace("\r", "").replace("\n", "")}


def assert_json_error(response) -> None:
    if response.status_code >= 400 and response.status_code not in (413, 429):
        assert response.is_json, (response.status_code, response.text[:200])
        assert "error" in response.json


# --- the authorization endpoint -----------------------------------------------------------


def with_fresh_nonce(request):
    """A nonce serves once (replay detection): each case gets its own good one."""
    return replaced(request, "nonce", "", random.token_urlsafe(8))


def test_authorize_with_a_session(pytestconfig, session_client, module):
    fields = {**authorize_fields(module), **OPTIONAL_AUTHORIZE, "nonce": ""}
    fields.pop("prompt")  # a re-authentication would end every case on the login page
    check_property(pytestconfig, "GET /authorize", hostile_request(fields),
                   lambda case: send(session_client, "GET", "/authorize", with_fresh_nonce(case)),
                   accepted=issued_code, max_examples=40)
    fields = {**authorize_fields(module), "nonce": ""}
    check_property(pytestconfig, "POST /authorize", hostile_request(fields),
                   lambda case: send(session_client, "POST", "/authorize", with_fresh_nonce(case)),
                   accepted=issued_code)


def test_authorize_without_a_session(pytestconfig, client, module):
    fields = {**authorize_fields(module), **OPTIONAL_AUTHORIZE}
    check_property(pytestconfig, "GET /authorize (no session)", hostile_request(fields),
                   lambda case: send(client, "GET", "/authorize", case))


def test_consent(pytestconfig, client, make_user):
    module = register("module-c", skip_consent=False)
    make_user("jdupont")
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    query = authorize_fields(module)
    page = client.get("/authorize", query_string=query)
    assert page.status_code == 200
    fields = {"csrf_token": csrf_token(page.text), "decision": "deny"}

    def act(case):
        request, form = case
        return send(client, "POST", "/authorize/consent", request, in_query=True, form=form)

    # The form (decision, token) and the authorization request in its query, both spoiled.
    check_property(pytestconfig, "POST /authorize/consent",
                   st.tuples(hostile_request(query), hostile_request(fields)), act,
                   accepted=issued_code)


# --- the machine endpoints ----------------------------------------------------------------


def test_token_authorization_code(pytestconfig, session_client, module):
    codes = []
    fields = {"grant_type": "authorization_code", "code": "", "redirect_uri": CALLBACK,
              "code_verifier": VERIFIER}

    def prepare():
        codes.append(fresh_code(session_client, module))

    def act(case):
        header, request = case
        request = replaced(request, "code", "", codes[-1])
        response = send(session_client, "POST", "/token", request, headers=headers(header))
        assert_json_error(response)
        return response

    check_property(pytestconfig, "POST /token (authorization_code)",
                   with_header(module.basic["Authorization"], fields), act,
                   accepted=lambda response: response.status_code == 200, prepare=prepare)


def test_token_refresh(pytestconfig, session_client, module):
    latest = []
    fields = {"grant_type": "refresh_token", "refresh_token": "", "scope": "openid"}

    def prepare():
        latest.append(tokens_for(session_client, module, scope=SCOPE)["refresh_token"])

    def act(case):
        header, request = case
        request = replaced(request, "refresh_token", "", latest[-1])
        response = send(session_client, "POST", "/token", request, headers=headers(header))
        assert_json_error(response)
        return response

    check_property(pytestconfig, "POST /token (refresh_token)",
                   with_header(module.basic["Authorization"], fields), act,
                   accepted=lambda response: response.status_code == 200, prepare=prepare,
                   max_examples=50)


def test_userinfo(pytestconfig, session_client, module):
    access = tokens_for(session_client, module, scope=SCOPE)["access_token"]
    for method in ("GET", "POST"):
        check_property(
            pytestconfig, f"{method} /userinfo",
            with_header(f"Bearer {access}", {"access_token": "", "x": "y"}),
            lambda case, method=method: send(session_client, method, "/userinfo", case[1],
                                             headers=headers(case[0])))


def test_revoke_and_introspect(pytestconfig, session_client, module):
    # The good token belongs to another module: revoking it must change nothing.
    other = register("module-b")
    foreign = tokens_for(session_client, other, scope=SCOPE)
    for url in ("/revoke", "/introspect"):
        fields = {"token": foreign["refresh_token"], "token_type_hint": "refresh_token"}

        def act(case, url=url):
            response = send(session_client, "POST", url, case[1], headers=headers(case[0]))
            assert_json_error(response)
            return response

        check_property(pytestconfig, f"POST {url}",
                       with_header(module.basic["Authorization"], fields), act)


# --- logout -------------------------------------------------------------------------------


def test_end_session(pytestconfig, session_client, module):
    id_token = tokens_for(session_client, module, scope=SCOPE)["id_token"]

    def log_in_again():
        if session_client.get("/").status_code != 200:
            assert login(session_client, "jdupont", STRONG_PASSWORD).status_code == 303

    def logged_out(response) -> bool:
        return response.status_code in (302, 303) or "Vous êtes déconnecté" in response.text

    fields = {"id_token_hint": id_token, "post_logout_redirect_uri": CALLBACK,
              "client_id": module.client_id, "state": "abc", "logout_hint": "jdupont",
              "ui_locales": "fr"}
    for method in ("GET", "POST"):
        check_property(pytestconfig, f"{method} /end-session", hostile_request(fields),
                       lambda case, method=method: send(session_client, method, "/end-session",
                                                        case),
                       accepted=logged_out, prepare=log_in_again)

    def confirm(case):
        query, form = case
        token = csrf_token(session_client.get("/end-session").text)
        return send(session_client, "POST", "/end-session/confirm", query, in_query=True,
                    form=replaced(form, "csrf_token", "", token))

    check_property(pytestconfig, "POST /end-session/confirm",
                   st.tuples(hostile_request(fields), hostile_request({"csrf_token": ""})),
                   confirm, accepted=logged_out, prepare=log_in_again)


def test_client_authentication_header(pytestconfig, session_client, module):
    fields = {"grant_type": "authorization_code", "code": "inconnu", "redirect_uri": CALLBACK,
              "code_verifier": VERIFIER}
    for url in ("/token", "/revoke", "/introspect"):
        def act(case, url=url):
            response = send(session_client, "POST", url, case[1], headers=headers(case[0]))
            assert_json_error(response)
            return response

        check_property(pytestconfig, f"POST {url} (Basic header)",
                       with_header(module.basic["Authorization"], {**fields, "token": "inconnu"},
                                   spoil_basic=True), act, max_examples=15)
