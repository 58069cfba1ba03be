"""What the login pages show and allow to an attacker.

LOGIN-02 (an unknown identifier costs the same Argon2 work as a wrong
password), LOGIN-09 (the client address cannot be spoofed past a rate limit),
LOGIN-13 (password fields: password managers welcome, no secret in URLs),
CAP-03 (the captcha image is not cached and is rate-limited), HDR-05 (no CORS
reflection, unexpected methods refused), REL-07 (a refused secret answer,
which may hold the password, is not sent back).
"""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher

from idp.security import challenges
from tests.conftest import STRONG_PASSWORD
from tests.conftest import csrf_token
from tests.conftest import login
from tests.conftest import post_form

PROVISIONAL = "Hibou-Sapin-Nuage-61"
WRONG = "Pas-Le-Bon-Mot-De-Passe-1"
PASSWORD_INPUT = re.compile(r"<input[^>]*type=\"password\"[^>]*>")


# --- LOGIN-02 --------------------------------------------------------------------------------


@pytest.fixture
def argon2_checks(monkeypatch) -> list:
    calls: list = []
    real = PasswordHasher.verify

    def counted(self, hash_, password):
        calls.append(hash_)
        return real(self, hash_, password)

    monkeypatch.setattr(PasswordHasher, "verify", counted)
    return calls


def test_login_02_an_unknown_identifier_costs_the_argon2_work_of_a_wrong_password(
        app, make_user, argon2_checks):
    make_user()
    counts = {}
    for identifier in ("jdupont", "inconnu.total"):
        argon2_checks.clear()
        assert login(app.test_client(), identifier, WRONG).status_code == 200
        counts[identifier] = len(argon2_checks)
    assert counts["jdupont"] >= 1
    assert counts["inconnu.total"] == counts["jdupont"]


# --- LOGIN-09 --------------------------------------------------------------------------------


@pytest.fixture
def app_environ(app_environ, request):
    app_environ.update(IDP_RATELIMIT_LOGIN="3/minute",
                       IDP_RATELIMIT_LOGIN_IDENTIFIER="1000/minute",
                       IDP_PROXY_HOPS=str(getattr(request, "param", 0)),
                       IDP_TRUSTED_PROXIES="10.0.0.2")  # the proxy of the one-proxy case
    return app_environ


def spoofed(index: int, hops: int) -> dict:
    """What the attacker sends; with a proxy, the proxy appends the real address."""
    forged = f"203.0.113.{index}"
    if hops:
        return {"X-Forwarded-For": f"{forged}, 198.51.100.7",
                "Forwarded": f"for={forged}"}
    return {"X-Forwarded-For": forged, "X-Real-Ip": forged, "Forwarded": f"for={forged}"}


@pytest.mark.parametrize("app_environ", [0, 1], indirect=True, ids=["no-proxy", "one-proxy"])
def test_login_09_forged_forwarding_headers_do_not_reset_the_ip_limit(app, client, app_environ):
    hops = int(app_environ["IDP_PROXY_HOPS"])
    environ = {"REMOTE_ADDR": "10.0.0.2" if hops else "198.51.100.7"}
    token = csrf_token(client.get("/login", environ_base=environ).text)
    statuses = [
        client.post("/login", data={"csrf_token": token, "identifier": f"user{i}",
                                    "password": WRONG},
                    headers=spoofed(i, hops), environ_base=environ).status_code
        for i in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]


# --- LOGIN-13 --------------------------------------------------------------------------------


def password_inputs(html: str) -> list[str]:
    found = PASSWORD_INPUT.findall(html)
    assert found, "no password field on the page"
    return found


def check_password_fields(html: str) -> None:
    for field in password_inputs(html):
        assert re.search(r'autocomplete="(current-password|new-password)"', field), field
        size = re.search(r'maxlength="(\d+)"', field)
        assert size is None or int(size.group(1)) >= 64, field
        assert "onpaste" not in field
        assert "value=" not in field or 'value=""' in field, field


def test_login_13_password_fields_suit_password_managers(app, client, make_user):
    check_password_fields(client.get("/login").text)
    make_user("newbie", provisional=PROVISIONAL)
    flow = app.test_client()
    assert login(flow, "newbie", PROVISIONAL).headers["Location"] == "/password-change"
    check_password_fields(flow.get("/password-change").text)
    make_user()
    assert login(client, "jdupont", STRONG_PASSWORD).status_code == 303
    for page in ("/account/password", "/account/secret-question"):
        check_password_fields(client.get(page).text)


def test_login_13_a_refused_password_is_not_sent_back(client, make_user):
    make_user()
    response = login(client, "jdupont", WRONG)
    assert WRONG not in response.text
    assert WRONG not in response.headers.get("Location", "")
    for field in password_inputs(response.text):
        assert WRONG not in field


# --- CAP-03 ----------------------------------------------------------------------------------


def test_cap_03_the_captcha_image_is_not_cached_and_is_rate_limited(
        app, client, make_user, monkeypatch):
    monkeypatch.setattr(challenges, "_text", lambda: "KMR3TX")
    make_user("newbie", provisional=PROVISIONAL)
    login(client, "newbie", PROVISIONAL)
    post_form(client, "/password-change",
              {"new_password": STRONG_PASSWORD, "confirmation": STRONG_PASSWORD})
    post_form(client, "/first-connection/secret-question",
              {"question": "Quel est le nom de votre premier animal de compagnie ?",
               "own_question": "", "answer": "Rantanplan"})
    page = client.get("/first-connection/captcha").text
    src = re.search(r'<img id="captcha-image" src="([^"]+)"', page).group(1)
    assert "KMR3TX" not in src
    statuses = []
    for _ in range(61):
        response = client.get(src.replace("&amp;", "&"))
        statuses.append(response.status_code)
        if response.status_code == 200:
            assert response.mimetype == "image/png"
            assert "no-store" in response.headers["Cache-Control"]
    assert statuses[:60] == [200] * 60
    assert statuses[60] == 429


# --- HDR-05 ----------------------------------------------------------------------------------

CORS_PATHS = ["/authorize", "/login", "/token", "/userinfo", "/jwks",
              "/.well-known/openid-configuration", "/"]


@pytest.mark.parametrize("origin", ["https://evil.example", "null"])
@pytest.mark.parametrize("path", CORS_PATHS)
def test_hdr_05_no_origin_is_reflected(client, path, origin):
    for method in ("GET", "OPTIONS"):
        response = client.open(path, method=method, headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"})
        allowed = response.headers.get("Access-Control-Allow-Origin")
        assert allowed in (None, "*"), (method, allowed)
        if allowed == "*":  # a public document only, never with credentials
            assert path in ("/jwks", "/.well-known/openid-configuration")
            assert response.headers.get("Access-Control-Allow-Credentials") != "true"


def test_hdr_05_unexpected_methods_get_405(app, client):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<[^>]+>", "x", rule.rule)
        for method in ("TRACE", "PUT", "DELETE", "PATCH"):
            response = client.open(path, method=method)
            assert response.status_code == 405, (method, path, response.status_code)
            assert "Traceback" not in response.get_data(as_text=True)


# --- REL-07: a refused secret answer is not sent back -----------------------------------------


@pytest.mark.parametrize("page", ["/account/secret-question", "/first-connection/secret-question"])
def test_rel_07_a_refused_secret_answer_is_not_sent_back(app, make_user, page):
    client = app.test_client()
    answer = f"ecole {STRONG_PASSWORD}"  # refused: it contains the password
    data = {"question": "Quel est le nom de votre premier animal de compagnie ?",
            "own_question": "", "answer": answer}
    if page.startswith("/account"):
        make_user()
        login(client, "jdupont", STRONG_PASSWORD)
        data["current_password"] = STRONG_PASSWORD
    else:
        make_user("newbie", provisional=PROVISIONAL)
        login(client, "newbie", PROVISIONAL)
        post_form(client, "/password-change",
                  {"new_password": STRONG_PASSWORD, "confirmation": STRONG_PASSWORD})
    refused = post_form(client, page, data)
    assert refused.status_code == 200
    assert "mot de passe" in refused.text
    assert STRONG_PASSWORD not in refused.text
