"""RP-initiated logout (RP-Initiated Logout 1.0) and back-channel logout (Back-Channel
Logout 1.0): checklist LOGOUT-01 to LOGOUT-05, RT-05 and PWD-10."""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from idp.assistance import services
from idp.clock import utcnow
from idp.database import commit
from idp.extensions import db
from idp.models import UserSession
from idp.oidc import backchannel
from idp.oidc import keys
from idp.security import sessions
from idp.security.password_change import set_password
from tests.conftest import OTHER_STRONG_PASSWORD
from tests.conftest import Browser
from tests.conftest import reload
from tests.conftest import short_transaction
from tests.oidc.conftest import CALLBACK
from tests.oidc.conftest import callback_params
from tests.oidc.conftest import jwks
from tests.oidc.conftest import log_in_and_get_tokens
from tests.security.oauth import authorize_url

POST_LOGOUT = "http://127.0.0.1:8765/logged-out"
EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
def receiver(httpserver: HTTPServer, monkeypatch):
    """A module's back-channel logout endpoint that answers 200, at once: the seconds the
    IdP gives it become a deadline of 30, for a busy machine (the logout waits no longer
    than the answer)."""
    monkeypatch.setattr(backchannel, "DELIVERY_TIMEOUT", 30.0)
    httpserver.expect_request("/backchannel-logout", method="POST").respond_with_data("")
    return httpserver


def _module(make_module, uri: str | None, client_id="module-a"):
    return make_module(client_id, post_logout_redirect_uris=[POST_LOGOUT],
                       backchannel_logout_uri=uri)


def _end_session(browser, **params) -> requests.Response:
    return browser.open(f"{browser.idp_url}/end-session?{urlencode(params)}")


def _claims(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def _refresh_error(live_server, module, tokens) -> str | None:
    response = requests.post(live_server.url + "/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
    }, auth=(module.client_id, module.secret), timeout=10)
    return response.json().get("error")


def _access_active(live_server, module, tokens) -> bool:
    """What introspection says of the access token: revoked, not merely orphaned."""
    response = requests.post(live_server.url + "/introspect", data={
        "token": tokens["access_token"], "token_type_hint": "access_token",
    }, auth=(module.client_id, module.secret), timeout=10)
    response.raise_for_status()
    return response.json()["active"]


def _ended_and_revoked(live_server, module, tokens) -> bool:
    """The session's refresh token is refused and its access token no longer active."""
    return (_refresh_error(live_server, module, tokens) == "invalid_grant"
            and _access_active(live_server, module, tokens) is False)


def _silent_login_error(browser, live_server, module) -> str | None:
    url = authorize_url(module.client_id, redirect_uri=CALLBACK, prompt="none", nonce="n-silent")
    return callback_params(browser.open(url)).get("error")


def _live_sessions() -> int:
    with short_transaction():
        return len(db.session.execute(
            select(UserSession).where(UserSession.ended_at.is_(None))).scalars().all())


# --- RP-initiated logout -------------------------------------------------------------


def test_valid_hint_redirects_with_state_and_ends_the_session(
        live_server, browser, make_module, make_user, audit_rows):
    make_user()
    module = _module(make_module, None)
    tokens = log_in_and_get_tokens(browser, module)

    response = _end_session(browser, id_token_hint=tokens["id_token"],
                            post_logout_redirect_uri=POST_LOGOUT, state="xyz-42")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == POST_LOGOUT
    assert parse_qs(location.query) == {"state": ["xyz-42"]}
    assert _live_sessions() == 0
    assert _silent_login_error(browser, live_server, module) == "login_required"
    assert _ended_and_revoked(live_server, module, tokens)
    assert audit_rows("logout")[-1].details["via"] == "end_session"


@pytest.mark.parametrize("uri", ["http://127.0.0.1:8765/elsewhere", POST_LOGOUT + "?foo=bar"])
def test_unregistered_post_logout_uri_is_never_redirected_to(
        live_server, browser, make_module, make_user, uri):
    make_user()
    module = _module(make_module, None)
    tokens = log_in_and_get_tokens(browser, module)
    response = _end_session(browser, id_token_hint=tokens["id_token"],
                            post_logout_redirect_uri=uri, state="s")
    assert response.status_code == 200
    assert "Se déconnecter de BonusEco ?" in response.text
    assert _live_sessions() == 1  # nothing ended without the person's confirmation


def _forged_hint(tokens: dict, header: dict, key) -> str:
    claims = _claims(tokens["id_token"])
    if key is None:  # alg "none": no signature at all
        encode = lambda part: base64.urlsafe_b64encode(  # noqa: E731
            json.dumps(part).encode()).rstrip(b"=").decode()
        return f"{encode(header)}.{encode(claims)}."
    return jwt.encode(header, claims, key)


@pytest.mark.parametrize("forgery", ["foreign_key", "alg_none"])
def test_logout_03_forged_hint_gets_no_redirect(
        live_server, browser, make_module, make_user, forgery):
    make_user()
    module = _module(make_module, None)
    tokens = log_in_and_get_tokens(browser, module)
    kid = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[0] + "=="))["kid"]
    if forgery == "foreign_key":
        # The same kid as ours, signed by another key: only the signature tells.
        hint = _forged_hint(tokens, {"alg": "RS256", "kid": kid},
                            RSAKey.generate_key(2048, parameters={"kid": kid}))
    else:
        hint = _forged_hint(tokens, {"alg": "none", "kid": kid}, None)
    response = _end_session(browser, id_token_hint=hint, post_logout_redirect_uri=POST_LOGOUT,
                            state="s")
    assert response.status_code == 200
    assert "n'a pas pu être vérifiée" in response.text
    assert _live_sessions() == 1


def test_logout_03_expired_hint_of_a_recent_session_is_accepted(
        live_server, browser, make_module, make_user):
    make_user()
    module = _module(make_module, None)
    tokens = log_in_and_get_tokens(browser, module)
    claims = _claims(tokens["id_token"])
    now = int(time.time())
    claims.update(iat=now - 3600, exp=now - 3000)  # an hour old, expired ten minutes later
    hint = jwt.encode({"alg": "RS256"}, claims, keys.signing_keyset("RS256", utcnow()))
    response = _end_session(browser, id_token_hint=hint, post_logout_redirect_uri=POST_LOGOUT)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(POST_LOGOUT)


def test_without_hint_the_person_confirms_and_stays_here(
        live_server, browser, make_module, make_user):
    make_user()
    module = _module(make_module, None)
    log_in_and_get_tokens(browser, module)
    page = _end_session(browser, client_id=module.client_id,
                        post_logout_redirect_uri=POST_LOGOUT, state="s")
    assert page.status_code == 200
    assert "Se déconnecter de BonusEco ?" in page.text
    assert "Module module-a" in page.text
    assert _live_sessions() == 1

    action = page.text.split('<form method="post" action="')[1].split('"')[0]
    token = page.text.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    without_csrf = browser.post(action.replace("&amp;", "&"))
    assert without_csrf.status_code == 400
    done = browser.post(action.replace("&amp;", "&"), data={"csrf_token": token})
    assert done.status_code == 200  # no redirect off-site without a valid hint (LOGOUT-04)
    assert "Vous êtes déconnecté" in done.text
    assert _live_sessions() == 0


def test_no_params_and_no_session_shows_the_logged_out_page(live_server, browser):
    response = _end_session(browser)
    assert response.status_code == 200
    assert "Vous êtes déconnecté" in response.text


def test_discovery_advertises_logout(live_server):
    metadata = requests.get(live_server.url + "/.well-known/openid-configuration",
                            timeout=10).json()
    assert metadata["end_session_endpoint"] == live_server.url + "/end-session"
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True


# --- back-channel logout -------------------------------------------------------------


def _logout_token(receiver: HTTPServer) -> str:
    request, response = receiver.log[-1]
    assert request.method == "POST"
    assert request.mimetype == "application/x-www-form-urlencoded"
    assert response.status_code == 200
    return request.form["logout_token"]


def test_logout_token_is_delivered_and_well_formed(
        live_server, browser, make_module, make_user, receiver):
    make_user()
    module = _module(make_module, receiver.url_for("/backchannel-logout"))
    tokens = log_in_and_get_tokens(browser, module)
    id_claims = _claims(tokens["id_token"])

    _end_session(browser, id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT)
    decoded = jwt.decode(_logout_token(receiver), jwks(live_server.url),
                         algorithms=["RS256", "ES256"])
    assert decoded.header["typ"] == "logout+jwt"
    assert decoded.header["kid"]
    claims = decoded.claims
    assert claims["iss"] == live_server.url
    assert claims["aud"] == module.client_id
    assert claims["sid"] == id_claims["sid"]
    assert claims["sub"] == id_claims["sub"]
    assert claims["events"] == {EVENT: {}}
    assert claims["jti"]
    assert claims["iat"] <= time.time() < claims["exp"] <= claims["iat"] + 300
    assert "nonce" not in claims


@pytest.fixture
def hanging_uri():
    """A receiver that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/backchannel-logout"


@pytest.mark.parametrize("failure", ["hangs", "answers_500"])
def test_a_failing_module_does_not_block_logout(
        live_server, browser, make_module, make_user, httpserver, hanging_uri, monkeypatch,
        caplog, failure):
    monkeypatch.setattr(backchannel, "DELIVERY_TIMEOUT", 0.5)
    make_user()
    if failure == "hangs":
        uri = hanging_uri
    else:
        httpserver.expect_request("/backchannel-logout").respond_with_data("", status=500)
        uri = httpserver.url_for("/backchannel-logout")
    module = _module(make_module, uri)
    tokens = log_in_and_get_tokens(browser, module)
    timeouts = []
    post = backchannel._post

    def post_noting_its_timeout(client_id, uri, token, timeout):
        timeouts.append(timeout)
        post(client_id, uri, token, timeout)

    monkeypatch.setattr(backchannel, "_post", post_noting_its_timeout)
    with caplog.at_level(logging.WARNING, logger="idp.oidc.backchannel"):
        response = _end_session(browser, id_token_hint=tokens["id_token"],
                                post_logout_redirect_uri=POST_LOGOUT)
    # No clock: the hanging module never answers, so any answer shows the logout did not
    # wait for it; its one delivery was given DELIVERY_TIMEOUT to give up.
    assert timeouts == [0.5]
    assert response.status_code == 302
    assert _live_sessions() == 0
    assert "back-channel logout to module-a" in caplog.text
    assert tokens["refresh_token"] not in caplog.text


# --- sessions ended elsewhere: tokens revoked, modules told (RT-05, PWD-10) -------------


def test_idp_logout_page_revokes_and_notifies(
        live_server, browser, make_module, make_user, receiver):
    make_user()
    module = _module(make_module, receiver.url_for("/backchannel-logout"))
    tokens = log_in_and_get_tokens(browser, module)
    page = browser.open(live_server.url + "/logout")
    token = page.text.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    browser.post("/logout", data={"csrf_token": token})
    assert _claims(_logout_token(receiver))["sid"] == _claims(tokens["id_token"])["sid"]
    assert _ended_and_revoked(live_server, module, tokens)


def test_password_change_revokes_and_notifies(
        live_server, browser, make_module, make_user, receiver):
    user = make_user()
    module = _module(make_module, receiver.url_for("/backchannel-logout"))
    tokens = log_in_and_get_tokens(browser, module)
    set_password(reload(user), OTHER_STRONG_PASSWORD, utcnow(), reason="test")
    commit()
    assert _claims(_logout_token(receiver))["sid"] == _claims(tokens["id_token"])["sid"]
    assert _ended_and_revoked(live_server, module, tokens)


def test_assistance_end_sessions_revokes_and_notifies(
        live_server, browser, make_module, make_user, receiver):
    user = make_user()
    module = _module(make_module, receiver.url_for("/backchannel-logout"))
    tokens = log_in_and_get_tokens(browser, module)
    services.end_sessions(reload(user), actor="operateur", reason="test", now=utcnow())
    commit()
    assert _claims(_logout_token(receiver))["sid"] == _claims(tokens["id_token"])["sid"]
    assert _ended_and_revoked(live_server, module, tokens)


def test_provisional_password_use_revokes_and_notifies(
        live_server, browser, make_module, make_user, receiver, mailbox):
    user = make_user()
    module = _module(make_module, receiver.url_for("/backchannel-logout"))
    tokens = log_in_and_get_tokens(browser, module)
    services.reset_password(reload(user), actor="cli", reason="test", now=utcnow())
    commit()
    provisional = mailbox.provisional_password("jdupont@example.test")
    elsewhere = Browser(live_server.url)
    elsewhere.login(elsewhere.open(live_server.url + "/login"), "jdupont", provisional)
    assert _claims(_logout_token(receiver))["sid"] == _claims(tokens["id_token"])["sid"]
    assert _ended_and_revoked(live_server, module, tokens)


def test_rolled_back_session_end_sends_nothing(
        live_server, browser, make_module, make_user, receiver):
    user = make_user()
    module = _module(make_module, receiver.url_for("/backchannel-logout"))
    tokens = log_in_and_get_tokens(browser, module)
    sessions.end_all_sessions(user.id, utcnow())
    db.session.rollback()
    commit()
    assert receiver.log == []
    assert _refresh_error(live_server, module, tokens) is None
    assert _access_active(live_server, module, tokens) is True


def test_only_modules_of_the_ended_session_are_told(
        live_server, browser, make_module, make_user, receiver):
    make_user()
    uri = receiver.url_for("/backchannel-logout")
    first, second = _module(make_module, uri), _module(make_module, uri, "module-b")
    log_in_and_get_tokens(browser, first)
    tokens = log_in_and_get_tokens(browser, second)  # SSO: same session, no form
    _end_session(browser, id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT)
    audiences = sorted(_claims(req.form["logout_token"])["aud"] for req, _ in receiver.log)
    assert audiences == ["module-a", "module-b"]


def test_relogin_with_prompt_login_ends_the_previous_session(
        live_server, browser, make_module, make_user, receiver):
    make_user()
    module = _module(make_module, receiver.url_for("/backchannel-logout"))
    first = log_in_and_get_tokens(browser, module)
    second = log_in_and_get_tokens(browser, module, prompt="login", nonce="n-again")
    assert _claims(second["id_token"])["sid"] != _claims(first["id_token"])["sid"]
    assert _live_sessions() == 1
    assert _claims(_logout_token(receiver))["sid"] == _claims(first["id_token"])["sid"]
    assert _ended_and_revoked(live_server, module, first)


def test_home_page_ending_a_session_notifies_its_modules(
        live_server, browser, make_module, make_user, receiver):
    make_user()
    module = _module(make_module, receiver.url_for("/backchannel-logout"))
    tokens = log_in_and_get_tokens(browser, module)
    sid = _claims(tokens["id_token"])["sid"]
    home = browser.open(live_server.url + "/")
    assert f"/sessions/{sid}/end" in home.text
    token = home.text.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    browser.post(f"/sessions/{sid}/end", data={"csrf_token": token})
    assert _claims(_logout_token(receiver))["sid"] == sid
    assert _live_sessions() == 0
    assert _ended_and_revoked(live_server, module, tokens)

