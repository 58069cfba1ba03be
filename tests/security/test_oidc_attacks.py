"""The OpenID provider as an attacker or a careless module drives it: re-authentication
(prompt=login, max_age) and ``id_token_hint``, at /authorize and at /end-session.

The browser is Flask's test client (one cookie jar per person); the relying party
redeems codes at /token and verifies what it gets with the published JWKS. The
clock is frozen with time-machine, so ``auth_time`` is exact.
"""

from __future__ import annotations

import base64
import html
import json
import secrets
from datetime import timedelta
from urllib.parse import parse_qs
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import time_machine
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey
from sqlalchemy import select
from sqlalchemy import update

from idp.clock import utcnow
from idp.database import commit
from idp.extensions import db
from idp.models import Client
from idp.models import User
from idp.oidc import backchannel
from idp.oidc import keys
from idp.oidc.registration import NewClient
from idp.oidc.registration import create_client
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.security.oauth import VERIFIER
from tests.security.oauth import authorize_url

CALLBACK = "http://127.0.0.1:8765/callback"
POST_LOGOUT = "http://127.0.0.1:8765/logged-out"
CONFIRM_LOGOUT = "Se déconnecter de BonusEco ?"


@pytest.fixture
def start():
    """A frozen moment near now (whole seconds: auth_time is compared exactly)."""
    return utcnow().replace(microsecond=0) + timedelta(minutes=1)


def _register(client_id: str, *, skip_consent=True, **extra) -> str:
    _client, secret = create_client(NewClient(
        client_id=client_id, name=f"Module {client_id}", redirect_uris=[CALLBACK],
        habilitation="bonuseco", skip_consent=skip_consent,
        post_logout_redirect_uris=[POST_LOGOUT], **extra,
    ), actor="test")
    commit()
    return secret


@pytest.fixture
def module(app) -> str:
    """The client secret of « module-a », a first-party module."""
    return _register("module-a")


@pytest.fixture
def users(make_user):
    """Two people with the same password: jdupont (A) and mmartin (B)."""
    return make_user("jdupont"), make_user("mmartin")


@pytest.fixture
def browser_b(app):
    """Another browser, another cookie jar."""
    return app.test_client()


def _url(client_id="module-a", **params) -> str:
    return authorize_url(client_id, **{"redirect_uri": CALLBACK, "scope": "openid profile",
                                       "state": "st", "nonce": secrets.token_urlsafe(8),
                                       **params})


def _is_login_page(response) -> bool:
    return response.status_code == 303 and urlsplit(response.headers["Location"]).path == "/login"


def _next_of(response) -> str:
    return parse_qs(urlsplit(response.headers["Location"]).query)["next"][0]


def _log_in_via(browser, response, login="jdupont"):
    """Fill the login page the IdP sent the browser to; the IdP's next answer."""
    assert _is_login_page(response), response.headers.get("Location")
    page = browser.get(response.headers["Location"])
    done = browser.post("/login", data={
        "csrf_token": csrf_token(page.text), "identifier": login,
        "password": STRONG_PASSWORD, "next": _next_of(response)})
    assert done.status_code == 303
    return browser.get(done.headers["Location"])


def _callback(response) -> dict:
    assert response.status_code == 302, response.text[:300]
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?"), location
    return dict(parse_qsl(urlsplit(location).query))


def _redeem(browser, response, secret: str, client_id="module-a") -> dict:
    """The module's side: code for tokens (RFC 6749 4.1.3)."""
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    answer = browser.post("/token", headers={"Authorization": f"Basic {basic}"}, data={
        "grant_type": "authorization_code", "code": _callback(response)["code"],
        "redirect_uri": CALLBACK, "code_verifier": VERIFIER})
    assert answer.status_code == 200, answer.text
    return answer.get_json()


def _verified(browser, token: str) -> dict:
    """Claims of a JWT verified with the published JWKS."""
    keyset = KeySet.import_key_set(browser.get("/jwks").get_json())
    return dict(jwt.decode(token, keyset, algorithms=["RS256", "ES256"]).claims)


def _sign_in(browser, secret, login="jdupont", **params) -> dict:
    """A whole code flow with the login form when it shows; the tokens."""
    response = browser.get(_url(**params))
    if _is_login_page(response):
        response = _log_in_via(browser, response, login)
    return _redeem(browser, response, secret)


def _silent_code(browser) -> str | None:
    return _callback(browser.get(_url(prompt="none", nonce="silent"))).get("code")


# --- AUTHZ-10, AUTHZ-11: prompt=login and max_age -------------------------------------


def test_authz_10_prompt_login_asks_the_password_and_auth_time_is_later(
        client, module, users, start):
    with time_machine.travel(start, tick=False):
        first = _verified(client, _sign_in(client, module)["id_token"])
    with time_machine.travel(start + timedelta(minutes=3), tick=False):
        asked = client.get(_url(prompt="login"))
        assert _is_login_page(asked)
        second = _verified(client, _redeem(client, _log_in_via(client, asked), module)["id_token"])
    assert first["auth_time"] == int(start.timestamp())
    assert second["auth_time"] == int(start.timestamp()) + 180


def test_authz_11_max_age_forces_a_login_once_exceeded_only(client, module, users, start):
    with time_machine.travel(start, tick=False):
        _sign_in(client, module)
    with time_machine.travel(start + timedelta(seconds=2), tick=False):
        assert "code" in _callback(client.get(_url(max_age="2")))  # not exceeded yet
        asked = client.get(_url(max_age="1"))
        assert _is_login_page(asked)
        fresh = _verified(client, _redeem(client, _log_in_via(client, asked), module)["id_token"])
        assert fresh["auth_time"] == int(start.timestamp()) + 2
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        quiet = client.get(_url(max_age="10000", nonce="again"))
        kept = _verified(client, _redeem(client, quiet, module)["id_token"])
        assert kept["auth_time"] == fresh["auth_time"]  # OIDC Core 2: present with max_age


@pytest.mark.parametrize("max_age", ["-1", "1.5", "0x10", " 0", "\u00b2", "\u0661\u0662",
                                     "9" * 5000])
def test_authz_11_malformed_max_age_is_invalid_request(client, module, users, max_age):
    _sign_in(client, module)
    query = _callback(client.get(_url(max_age=max_age)))
    assert query["error"] == "invalid_request"
    assert "code" not in query


def test_authz_10_prompt_login_and_consent_need_one_login(client, users, start):
    secret = _register("third-party", skip_consent=False)
    with time_machine.travel(start, tick=False):
        _log_in_via(client, client.get(_url("third-party")))  # a session; consent left open
    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        consent = _log_in_via(client, client.get(_url("third-party", prompt="login")))
        assert consent.status_code == 200
        action = html.unescape(consent.text.split('<form method="post" action="')[1]
                               .split('"')[0])
        allowed = client.post(action, data={"csrf_token": csrf_token(consent.text),
                                            "decision": "allow"})
        claims = _verified(client, _redeem(client, allowed, secret, "third-party")["id_token"])
    assert claims["auth_time"] == int(start.timestamp()) + 60


# --- AUTHZ-15: re-authentication cannot be waived by the user agent --------------------


# A second max_age beside max_age=0 is a repeated parameter: invalid_request (AUTHZ-06).
@pytest.mark.parametrize(("demand", "extra"), [
    *[(demand, extra) for demand in ({"prompt": "login"}, {"max_age": "0"})
      for extra in ("idp_reauth=0", "idp_reauth={now}", "foo=bar", "ui_locales=fr")],
    ({"prompt": "login"}, "max_age=86400"),
])
def test_authz_15_no_added_parameter_waives_the_password(
        client, module, users, start, demand, extra):
    with time_machine.travel(start, tick=False):
        _sign_in(client, module)
    later = start + timedelta(minutes=5)
    with time_machine.travel(later, tick=False):
        url = _url(**demand) + "&" + extra.format(now=int(later.timestamp()))
        asked = client.get(url)
        assert _is_login_page(asked)
        # The login page comes back to the module's own request, nothing added or removed.
        assert parse_qsl(urlsplit(_next_of(asked)).query) == parse_qsl(urlsplit(url).query)
        tokens = _redeem(client, _log_in_via(client, asked), module)
    assert _verified(client, tokens["id_token"])["auth_time"] == int(later.timestamp())


@pytest.mark.parametrize("extra", ["", "&idp_reauth=0", "&idp_reauth=99999999999"])
def test_authz_15_prompt_none_with_max_age_0_is_login_required(
        client, module, users, start, extra):
    with time_machine.travel(start, tick=False):
        _sign_in(client, module)
        query = _callback(client.get(_url(prompt="none", max_age="0") + extra))
    assert query["error"] == "login_required"
    assert "code" not in query


def test_authz_15_a_login_serves_its_request_once(client, module, users, start):
    with time_machine.travel(start, tick=False):
        _sign_in(client, module)
        url = _url(prompt="login", nonce=None)  # a nonce would make the replay invalid
        _redeem(client, _log_in_via(client, client.get(url)), module)
        assert _is_login_page(client.get(url))  # the same request again: the password again


def test_authz_15_a_login_serves_its_request_for_ten_minutes_only(
        client, module, users, start):
    url = _url(prompt="login")
    with time_machine.travel(start, tick=False):
        asked = client.get(url)
        page = client.get(asked.headers["Location"])
        client.post("/login", data={"csrf_token": csrf_token(page.text),
                                    "identifier": "jdupont", "password": STRONG_PASSWORD,
                                    "next": _next_of(asked)})
    with time_machine.travel(start + timedelta(minutes=10, seconds=1), tick=False):
        assert _is_login_page(client.get(url))  # e.g. left on the consent page that long


@pytest.mark.parametrize("other", [_url(nonce="other"), "/", ""])
def test_authz_15_a_login_made_for_another_request_does_not_count(
        client, module, users, start, other):
    with time_machine.travel(start, tick=False):
        # The person logs in through a login page naming another page, or none.
        page = client.get("/login?" + urlencode({"next": other}))
        client.post("/login", data={"csrf_token": csrf_token(page.text),
                                    "identifier": "jdupont", "password": STRONG_PASSWORD,
                                    "next": other})
        assert _is_login_page(client.get(_url(prompt="login")))
        assert _is_login_page(client.get(_url(max_age="0")))


# --- what passes for an ID token of ours: AUTHZ-16, LOGOUT-03, LOGOUT-06 ---------------

HINT_KINDS = ["access_token", "refresh_token", "foreign_key", "other_issuer", "alg_none",
              "typed_as_access_token", "logout_token", "signed_userinfo"]


def _encoded(part: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def _signed_userinfo(browser, tokens: dict) -> str:
    """What a module registered for signed userinfo receives (OIDC Core 5.3.2)."""
    db.session.execute(update(Client).where(Client.client_id == "module-a")
                       .values(userinfo_signed=True))
    commit()
    response = browser.get("/userinfo",
                           headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.headers["Content-Type"] == "application/jwt"
    return response.text


def _not_an_id_token(kind: str, browser, tokens: dict) -> str:
    """Something an attacker or a module could present as ``id_token_hint``."""
    if kind in ("access_token", "refresh_token"):
        return tokens[kind]
    if kind == "signed_userinfo":
        return _signed_userinfo(browser, tokens)
    claims = _verified(browser, tokens["id_token"])
    kid = keys.kid_of(tokens["id_token"])
    ours = keys.signing_keyset("RS256", utcnow())
    if kind == "foreign_key":  # our kid, another key: only the signature tells
        return jwt.encode({"alg": "RS256", "kid": kid}, claims,
                          RSAKey.generate_key(2048, parameters={"kid": kid}))
    if kind == "other_issuer":
        return jwt.encode({"alg": "RS256"}, {**claims, "iss": "https://idp.example"}, ours)
    if kind == "typed_as_access_token":  # RFC 8725 3.11: the type decides, not the claims
        return jwt.encode({"alg": "RS256", "typ": "at+jwt"}, claims, ours)
    if kind == "alg_none":
        return f"{_encoded({'alg': 'none', 'kid': kid})}.{_encoded(claims)}."
    module = db.session.execute(select(Client).where(Client.client_id == "module-a")).scalar()
    return backchannel.logout_token(module, claims["sub"], claims["sid"], claims["iat"])


def _subject(login: str) -> str:
    return db.session.execute(select(User.subject).where(User.login == login)).scalar()


def test_authz_16_hint_of_another_user_with_prompt_none_is_login_required(
        client, browser_b, module, users):
    hint_for_a = _sign_in(browser_b, module, "jdupont")["id_token"]
    _sign_in(client, module, "mmartin")
    query = _callback(client.get(_url(prompt="none", id_token_hint=hint_for_a)))
    assert query["error"] == "login_required"
    assert "code" not in query


def test_authz_16_hint_of_another_user_asks_for_a_fresh_login(
        client, browser_b, module, users, start):
    with time_machine.travel(start, tick=False):
        hint_for_a = _sign_in(browser_b, module, "jdupont")["id_token"]
        _sign_in(client, module, "mmartin")
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        asked = client.get(_url(id_token_hint=hint_for_a))
        assert _is_login_page(asked)
        claims = _verified(client, _redeem(client, _log_in_via(client, asked), module)["id_token"])
    assert claims["sub"] == _subject("jdupont")
    assert claims["auth_time"] == int(start.timestamp()) + 120


def test_authz_16_a_fresh_login_as_someone_else_is_still_login_required(
        client, browser_b, module, users):
    hint_for_a = _sign_in(browser_b, module, "jdupont")["id_token"]
    _sign_in(client, module, "mmartin")
    asked = client.get(_url(id_token_hint=hint_for_a))
    query = _callback(_log_in_via(client, asked, "mmartin"))  # OIDC Core 3.1.2.2
    assert query["error"] == "login_required"
    assert "code" not in query


def test_authz_16_expired_hint_of_the_session_user_keeps_silent_login(
        client, module, users, start):
    with time_machine.travel(start, tick=False):
        hint = _sign_in(client, module)["id_token"]
    with time_machine.travel(start + timedelta(minutes=20), tick=False):  # past its exp
        code = _callback(client.get(_url(prompt="none", id_token_hint=hint))).get("code")
    assert code


@pytest.mark.parametrize("kind", HINT_KINDS)
def test_authz_16_only_our_id_tokens_are_hints(client, module, users, kind):
    hint = _not_an_id_token(kind, client, _sign_in(client, module))
    query = _callback(client.get(_url(prompt="none", id_token_hint=hint)))
    assert query["error"] == "invalid_request"
    assert query["state"] == "st"
    assert "code" not in query


@pytest.mark.parametrize(("age", "is_accepted"), [(timedelta(hours=12), True),
                                                  (timedelta(hours=12, seconds=1), False)])
def test_authz_16_hint_older_than_the_longest_session_is_refused(
        client, module, users, start, age, is_accepted):
    with time_machine.travel(start, tick=False):
        hint = _sign_in(client, module)["id_token"]
    with time_machine.travel(start + age, tick=False):
        _sign_in(client, module)  # a new session: the first one is over
        query = _callback(client.get(_url(prompt="none", id_token_hint=hint)))
    assert ("code" in query) is is_accepted


def _end_session(browser, hint: str):
    return browser.get("/end-session?" + urlencode({
        "id_token_hint": hint, "post_logout_redirect_uri": POST_LOGOUT, "state": "s"}))


@pytest.mark.parametrize("kind", HINT_KINDS)
def test_logout_06_only_id_tokens_are_logout_hints(client, module, users, kind):
    hint = _not_an_id_token(kind, client, _sign_in(client, module))
    response = _end_session(client, hint)
    assert response.status_code == 200
    assert CONFIRM_LOGOUT in response.text
    assert _silent_code(client)  # the session is kept


@pytest.mark.parametrize(("age", "is_accepted"), [(timedelta(hours=12), True),
                                                  (timedelta(hours=12, seconds=1), False)])
def test_logout_03_hint_older_than_the_longest_session_is_refused(
        client, module, users, start, age, is_accepted):
    with time_machine.travel(start, tick=False):
        hint = _sign_in(client, module)["id_token"]
    with time_machine.travel(start + age, tick=False):
        _sign_in(client, module)
        response = _end_session(client, hint)
        if is_accepted:
            assert response.headers["Location"] == POST_LOGOUT + "?state=s"
            assert _callback(client.get(_url(prompt="none")))["error"] == "login_required"
        else:
            assert response.status_code == 200
            assert CONFIRM_LOGOUT in response.text
            assert _silent_code(client)
