"""private_key_jwt client authentication (OIDC Core 9, RFC 7523), keys from a JWKS file
or from the module's jwks_uri."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
import requests
import time_machine
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from joserfc import jwt
from joserfc.jwk import RSAKey
from pytest_httpserver import HTTPServer

from tests.oidc.conftest import CALLBACK
from tests.oidc.conftest import log_in_and_get_code
from tests.oidc.conftest import log_in_and_get_tokens


@pytest.fixture
def module_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "module-key-1", "use": "sig"})


def public_jwks(key: RSAKey) -> dict:
    return {"keys": [key.as_dict(private=False)]}


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's client signs assertions valid an hour; the IdP takes 5 minutes at most."""

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(
            RSAKey.import_key(auth.client_secret), client_id=auth.client_id,
            token_endpoint=token_endpoint, claims=self.claims, header=self.headers,
            alg=self.alg, expires_in=60,
        )


def rp(idp_url: str, client_id: str, key: RSAKey) -> OAuth2Session:
    session = OAuth2Session(
        client_id, key.as_pem(private=True), scope="openid profile",
        redirect_uri=CALLBACK, code_challenge_method="S256",
        token_endpoint_auth_method="private_key_jwt",
    )
    session.register_client_auth_method(ShortLivedPrivateKeyJWT(idp_url + "/token"))
    return session


def test_an_assertion_as_authlib_signs_it_by_default_is_refused(
        live_server, browser, keyed_module, make_user, module_key):
    """Authlib's default (an hour) is too long: the module must ask for less."""
    make_user()
    session = rp(live_server.url, keyed_module, module_key)
    params, verifier = log_in_and_get_code(browser, session, "jdupont")
    session.register_client_auth_method(PrivateKeyJWT(live_server.url + "/token"))
    with pytest.raises(OAuthError, match="invalid_client"):
        session.fetch_token(live_server.url + "/token", code=params["code"],
                            code_verifier=verifier)


@pytest.fixture
def keyed_module(make_module, module_key, tmp_path) -> str:
    """A module authenticating with private_key_jwt, its public keys in a JWKS file."""
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(public_jwks(module_key)))
    make_module("keyed", auth_method="private_key_jwt", jwks_file=str(path))
    return "keyed"


def assertion(client_id: str, audience: str, key: RSAKey, jti: str) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "jti": jti,
              "iat": now, "exp": now + 60}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def test_module_with_a_jwks_file_gets_tokens(
        live_server, browser, keyed_module, make_user, module_key):
    make_user()
    session = rp(live_server.url, keyed_module, module_key)
    token = log_in_and_get_tokens(browser, session)
    assert token["id_token"]
    assert token["access_token"]


def test_module_keys_fetched_from_its_jwks_uri(
        live_server, browser, make_module, make_user, module_key, httpserver: HTTPServer):
    make_user()
    httpserver.expect_request("/jwks.json").respond_with_json(public_jwks(module_key))
    make_module("remote", auth_method="private_key_jwt", jwks_uri=httpserver.url_for("/jwks.json"))
    session = rp(live_server.url, "remote", module_key)
    token = log_in_and_get_tokens(browser, session)
    assert token["token_type"].lower() == "bearer"


def test_wrong_key_and_replayed_assertion_are_refused(
        live_server, browser, keyed_module, make_user, module_key):
    make_user()
    session = rp(live_server.url, keyed_module, module_key)
    params, verifier = log_in_and_get_code(browser, session, "jdupont")
    token_url = live_server.url + "/token"
    form = {"grant_type": "authorization_code", "code": params["code"],
            "redirect_uri": CALLBACK, "code_verifier": verifier,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    stranger = RSAKey.generate_key(2048, parameters={"kid": "module-key-1"})
    forged = requests.post(token_url, data={
        **form, "client_assertion": assertion("keyed", token_url, stranger, "j1")}, timeout=10)
    # RFC 6749 5.2: 401 is required only for Basic authentication; 400 otherwise.
    assert forged.status_code in (400, 401)
    assert forged.json()["error"] == "invalid_client"
    jti = str(uuid.uuid4())
    good = assertion("keyed", token_url, module_key, jti)
    first = requests.post(token_url, data={**form, "client_assertion": good}, timeout=10)
    assert first.status_code == 200, first.text
    replay = requests.post(token_url, data={**form, "client_assertion": good}, timeout=10)
    assert replay.status_code in (400, 401)
    assert replay.json()["error"] == "invalid_client"


ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _signed(key: RSAKey, claims: dict) -> str:
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def _token_request(live_server, browser, client_id, key) -> dict:
    """A form redeeming a fresh code, missing only its client_assertion."""
    session = rp(live_server.url, client_id, key)
    params, verifier = log_in_and_get_code(browser, session, "jdupont")
    return {"grant_type": "authorization_code", "code": params["code"],
            "redirect_uri": CALLBACK, "code_verifier": verifier,
            "client_assertion_type": ASSERTION_TYPE}


def _post_at(live_server, form, key, claims_at) -> requests.Response:
    """Post with an assertion whose times ``claims_at(now)`` gives, the clock frozen at now."""
    now = int(time.time())
    claims = {"iss": "keyed", "sub": "keyed", "aud": live_server.url + "/token",
              "jti": str(uuid.uuid4()), "iat": now, "exp": now + 60, **claims_at(now)}
    claims = {k: v for k, v in claims.items() if v is not None}
    with time_machine.travel(now, tick=False):
        return requests.post(live_server.url + "/token", data={
            **form, "client_assertion": _signed(key, claims)}, timeout=10)


TOO_LONG_OR_MALFORMED = {
    "exp-after-5-min": lambda now: {"exp": now + 301},
    "exp-5-min-after-iat": lambda now: {"iat": now - 200, "exp": now + 101},
    "no-exp": lambda now: {"exp": None},
    "exp-1e20": lambda now: {"exp": 1e20},
    "exp-huge-int": lambda now: {"exp": 10**30},
    "exp-infinite": lambda now: {"exp": float("inf")},
    "exp-nan": lambda now: {"exp": float("nan")},
    "exp-string": lambda now: {"exp": "soon"},
    "exp-bool": lambda now: {"exp": True},
    "iat-string": lambda now: {"iat": "now"},
    "iat-1e20": lambda now: {"iat": 1e20},
    "iat-nan": lambda now: {"iat": float("nan")},
}


@pytest.mark.parametrize("case", list(TOO_LONG_OR_MALFORMED))
def test_assertion_valid_more_than_5_minutes_or_malformed_is_invalid_client(
        live_server, browser, keyed_module, make_user, module_key, case):
    """RFC 7523 3: the server may refuse an exp too far in the future; a few minutes here."""
    make_user()
    form = _token_request(live_server, browser, keyed_module, module_key)
    response = _post_at(live_server, form, module_key, TOO_LONG_OR_MALFORMED[case])
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] == "invalid_client"


WITHIN_5_MINUTES = {
    "exp-at-5-min": lambda now: {"exp": now + 300},
    "exp-5-min-after-iat": lambda now: {"iat": now - 200, "exp": now + 100},
    "no-iat": lambda now: {"iat": None, "exp": now + 300},
    # RFC 7519 2: a NumericDate may have a fraction.
    "exp-with-fraction": lambda now: {"exp": now + 60.5},
}


@pytest.mark.parametrize("case", list(WITHIN_5_MINUTES))
def test_assertion_valid_up_to_5_minutes_is_accepted(
        live_server, browser, keyed_module, make_user, module_key, case):
    make_user()
    form = _token_request(live_server, browser, keyed_module, module_key)
    response = _post_at(live_server, form, module_key, WITHIN_5_MINUTES[case])
    assert response.status_code == 200, response.text


def _b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


@pytest.mark.parametrize("assertion_value", [
    _b64(b'{"alg":"RS256"}') + "." + _b64(b"[" * 5000) + ".c2ln",
    _b64(b'{"alg":"RS256"}') + "." + _b64(b'{"a":' * 5000) + ".c2ln",
    _b64(b"[" * 5000) + "." + _b64(b'{"sub":"keyed"}') + ".c2ln",
    _b64(b'{"alg":"RS256"}') + "." + _b64(b'{"sub":"keyed\\u0000"}') + ".c2ln",
    _b64(b'{"alg":"RS256"}') + "." + _b64(b"\xff\xfe") + ".c2ln",
], ids=["nested-payload-array", "nested-payload-object", "nested-header", "nul-sub",
        "payload-not-utf8"])
def test_malformed_client_assertion_is_invalid_client(live_server, keyed_module,
                                                      assertion_value):
    response = requests.post(live_server.url + "/token", data={
        "grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK,
        "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion_value,
    }, timeout=10)
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] == "invalid_client"
