"""pyoidc (``oic``, the OpenID Foundation-certified relying-party library) as a module.

Its own ``Client`` does the work: discovery (``provider_config``, which also loads the
JWKS), the registration given by hand, the authorization request with PKCE S256 and the
parsing of the callback, the code exchange (the ID token's signature, ``iss`` and ``aud``
checked by the library against the JWKS it loaded, the nonce against the one it sent),
userinfo, refresh. Revocation and introspection have no helper on pyoidc's OpenID client
(only on its OAuth 2 extension client): they go through the same client's generic
machinery, ``request_info`` (message, endpoint from discovery, client authentication)
and ``do_any``. The person's login is ``tests.conftest.Browser``, fed the library's
authorization URL; the callback's query goes back to the library.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from html.parser import HTMLParser
from urllib.parse import parse_qs
from urllib.parse import urlencode

import pytest
from jwkest import BadSignature
from oic import rndstr
from oic.exception import IssuerMismatch
from oic.exception import NotForMe
from oic.exception import ParameterError
from oic.extension.message import TokenIntrospectionRequest
from oic.extension.message import TokenIntrospectionResponse
from oic.extension.message import TokenRevocationRequest
from oic.oauth2.message import ErrorResponse
from oic.oic import Client
from oic.oic.message import AccessTokenResponse
from oic.oic.message import AuthorizationRequest
from oic.oic.message import AuthorizationResponse
from oic.oic.message import IdToken
from oic.oic.message import OpenIDSchema
from oic.oic.message import RegistrationResponse
from oic.utils.authn.client import CLIENT_AUTHN_METHOD
from oic.utils.settings import OicClientSettings

from tests.conftest import HTTP_TIMEOUT
from tests.conftest import Browser
from tests.oidc.conftest import CALLBACK
from tests.oidc.conftest import Module

SCOPE = ["openid", "profile", "email", "habilitations"]
AUTH = "client_secret_basic"


@dataclass
class Sent:
    """What pyoidc put on the wire, recorded by its own ``req_callback`` hook."""

    requests: list[tuple[str, str, dict]] = field(default_factory=list)

    def __call__(self, method: str, url: str, **kwargs) -> dict:
        self.requests.append((method, url, kwargs))
        return kwargs

    def last(self, url: str) -> tuple[str, dict]:
        method, _url, kwargs = [sent for sent in self.requests if sent[1] == url][-1]
        return method, kwargs


def relying_party(issuer: str, module: Module) -> Client:
    """pyoidc's client for ``module``: the provider by discovery, the registration by hand."""
    rp = Client(client_authn_method=CLIENT_AUTHN_METHOD,
                settings=OicClientSettings(timeout=HTTP_TIMEOUT))
    rp.provider_config(issuer)
    rp.store_registration_info(RegistrationResponse(
        client_id=module.client_id, client_secret=module.secret, redirect_uris=[CALLBACK],
        token_endpoint_auth_method=AUTH))
    rp.redirect_uris = [CALLBACK]
    rp.req_callback = Sent()
    return rp


@dataclass
class Login:
    state: str
    nonce: str
    callback: str  # the URL the IdP sent the browser back to
    tokens: AccessTokenResponse


def authorization_url(rp: Client, state: str, nonce: str, **extra) -> tuple[str, str]:
    """The library's authorization request with its PKCE pair; (URL, verifier)."""
    pkce, verifier = rp.add_code_challenge()  # S256 unless configured otherwise
    assert pkce["code_challenge_method"] == "S256"
    url, _body, _headers, _request = rp.request_info(
        AuthorizationRequest, method="GET",
        request_args={"response_type": "code", "scope": SCOPE, "state": state,
                      "nonce": nonce, "redirect_uri": CALLBACK, **pkce, **extra})
    return url, verifier


class AutoPostForm(HTMLParser):
    """The form of a form_post answer: its action, method and the fields a browser posts,
    those inside the form (the page's frame has inputs of its own: the display settings)."""

    def __init__(self, page: str):
        super().__init__()
        self.action = self.method = None
        self.fields: dict[str, str] = {}
        self.in_form = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.action, self.method = attributes.get("action"), attributes.get("method")
            self.in_form = True
        elif tag == "input" and self.in_form and attributes.get("name"):
            self.fields[attributes["name"]] = attributes.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_form = False


def log_in(browser: Browser, rp: Client, login: str = "jdupont") -> Login:
    """The code flow as pyoidc runs it, the person's login in ``browser``."""
    state, nonce = rndstr(), rndstr()
    url, verifier = authorization_url(rp, state, nonce)
    page = browser.open(url)
    if page.status_code == 200 and 'name="password"' in page.text:
        page = browser.login(page, login)
    assert page.status_code in (302, 303), page.text[:500]
    callback = page.headers["Location"]
    assert callback.startswith(CALLBACK + "?"), callback
    # Checks the iss of the response against the discovered issuer (RFC 9207).
    answer = rp.parse_response(AuthorizationResponse, info=callback, sformat="urlencoded")
    assert isinstance(answer, AuthorizationResponse), answer
    assert answer["state"] == state
    assert answer["iss"] == rp.provider_info["issuer"]
    tokens = rp.do_access_token_request(
        state=state, authn_method=AUTH,
        request_args={"code": answer["code"], "code_verifier": verifier,
                      "redirect_uri": CALLBACK})
    return Login(state, nonce, callback, tokens)


@pytest.fixture
def module(make_module) -> Module:
    return make_module("pyoidc-module", redirect_uris=[CALLBACK])


@pytest.fixture
def rp(live_server, module) -> Client:
    return relying_party(live_server.url, module)


def test_discovery_gives_pyoidc_the_endpoints_and_the_keys(rp, live_server):
    assert rp.issuer == live_server.url
    assert rp.authorization_endpoint == live_server.url + "/authorize"
    assert rp.token_endpoint == live_server.url + "/token"
    assert rp.userinfo_endpoint == live_server.url + "/userinfo"
    assert rp.end_session_endpoint == live_server.url + "/end-session"
    signing = rp.keyjar.get_verify_key(owner=live_server.url)
    assert signing
    assert all(key.kid for key in signing)


def test_code_flow_with_pkce_and_the_id_token_verified_by_pyoidc(
        rp, browser, live_server, module, make_user):
    make_user()
    login = log_in(browser, rp)

    tokens = login.tokens
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 600
    assert tokens["refresh_token"]
    # The library replaced the JWT by the IdToken it verified: signature with the
    # discovered JWKS, iss, aud, exp and iat; the nonce against the one it sent.
    id_token = tokens["id_token"]
    assert isinstance(id_token, IdToken)
    assert id_token.jws_header["alg"] == "RS256"
    assert id_token.jws_header["kid"]
    assert id_token["iss"] == live_server.url
    assert id_token["aud"] == [module.client_id]
    assert id_token["nonce"] == login.nonce
    assert id_token["acr"] == "eidas1"
    assert id_token["amr"] == ["pwd"]
    assert id_token["sid"]
    assert id_token["sub"] != "jdupont"  # opaque, not the login
    # The code went with its verifier, the client authenticated by HTTP Basic.
    method, sent = rp.req_callback.last(rp.token_endpoint)
    assert method == "POST"
    assert sent["headers"]["Authorization"].startswith("Basic ")
    body = parse_qs(sent["data"])
    assert body["grant_type"] == ["authorization_code"]
    assert body["code_verifier"]
    assert "client_secret" not in body


def test_the_idp_refuses_the_code_without_its_verifier(rp, browser, make_user):
    """PKCE is required: pyoidc gets the error response, no tokens (RFC 7636 4.6)."""
    make_user()
    state = rndstr()
    url, _verifier = authorization_url(rp, state, rndstr())
    page = browser.login(browser.open(url), "jdupont")
    answer = rp.parse_response(AuthorizationResponse, info=page.headers["Location"],
                               sformat="urlencoded")
    refused = rp.do_access_token_request(
        state=state, authn_method=AUTH,
        request_args={"code": answer["code"], "redirect_uri": CALLBACK})
    assert isinstance(refused, ErrorResponse)
    assert refused["error"] == "invalid_grant"


def test_pyoidc_refuses_an_id_token_of_another_issuer_audience_key_or_nonce(
        rp, browser, live_server, module, make_module, make_user):
    """The checks are the library's: the same token response fails each one in turn."""
    make_user()
    login = log_in(browser, rp)
    raw = login.tokens["id_token_jwt"]
    response = {"access_token": login.tokens["access_token"], "token_type": "Bearer",
                "id_token": raw}

    other_module = relying_party(live_server.url, make_module("module-b"))
    with pytest.raises(NotForMe):
        other_module.parse_response(AccessTokenResponse, info=response, sformat="dict")

    other_issuer = relying_party(live_server.url, module)
    other_issuer.provider_info["issuer"] = "http://127.0.0.1:1"
    with pytest.raises(IssuerMismatch):
        other_issuer.parse_response(AccessTokenResponse, info=response, sformat="dict")

    header, payload, signature = raw.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(BadSignature):
        rp.parse_response(AccessTokenResponse, info={**response, "id_token": forged},
                          sformat="dict")

    # A second code flow whose nonce is not the one the library keeps for its state.
    state, nonce = rndstr(), rndstr()
    url, verifier = authorization_url(rp, state, nonce)
    rp.state2nonce[state] = "not-the-nonce-sent"
    answer = rp.parse_response(AuthorizationResponse, info=browser.open(url).headers["Location"],
                               sformat="urlencoded")
    with pytest.raises(ParameterError, match="nonce"):
        rp.do_access_token_request(
            state=state, authn_method=AUTH,
            request_args={"code": answer["code"], "code_verifier": verifier,
                          "redirect_uri": CALLBACK})


def test_form_post_answer_parsed_by_pyoidc(rp, browser, live_server, make_user):
    """OAuth 2.0 Form Post Response Mode: the code comes in a form the browser posts to the
    redirect URI; pyoidc parses what the module receives like a query."""
    make_user()
    state, nonce = rndstr(), rndstr()
    url, verifier = authorization_url(rp, state, nonce, response_mode="form_post")
    page = browser.login(browser.open(url), "jdupont")

    assert page.status_code == 200, f"not a form_post answer: {page.status_code}"
    form = AutoPostForm(page.text)
    assert form.action == CALLBACK
    assert form.method.lower() == "post"
    assert set(form.fields) == {"code", "state", "iss"}
    answer = rp.parse_response(AuthorizationResponse, info=urlencode(form.fields),
                               sformat="urlencoded")
    assert answer["state"] == state
    assert answer["iss"] == live_server.url
    tokens = rp.do_access_token_request(
        state=state, authn_method=AUTH,
        request_args={"code": answer["code"], "code_verifier": verifier,
                      "redirect_uri": CALLBACK})
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    assert tokens["id_token"]["nonce"] == nonce


def test_userinfo_by_the_authorization_header_and_by_the_form_body(rp, browser, make_user):
    make_user()
    login = log_in(browser, rp)
    access_token = login.tokens["access_token"]
    sub = login.tokens["id_token"]["sub"]

    # pyoidc's default: POST, the token in the form body (RFC 6750 2.2).
    in_body = rp.do_user_info_request(state=login.state)
    method, sent = rp.req_callback.last(rp.userinfo_endpoint)
    assert method == "POST"
    assert parse_qs(sent["data"]) == {"access_token": [access_token]}
    assert "Authorization" not in sent.get("headers", {})

    # GET with a Bearer token: the Authorization header (RFC 6750 2.1).
    in_header = rp.do_user_info_request(method="GET", state=login.state)
    method, sent = rp.req_callback.last(rp.userinfo_endpoint)
    assert method == "GET"
    assert sent["headers"]["Authorization"] == f"Bearer {access_token}"
    assert not sent.get("data")

    for claims in (in_body, in_header):
        # Given the state, the library checked the sub against the ID token's.
        assert isinstance(claims, OpenIDSchema), claims.to_dict()
        assert claims["sub"] == sub
        assert claims["email"] == "jdupont@example.test"
        assert claims["given_name"] == "Jean"
        assert claims["usual_name"] == "Dupont"
        assert "bonuseco" in claims["habilitation_codes"]
    assert in_body.to_dict() == in_header.to_dict()


def test_refresh_rotates_the_tokens_and_brings_a_new_id_token(rp, browser, live_server,
                                                              module, make_user):
    make_user()
    login = log_in(browser, rp)
    first = login.tokens

    refreshed = rp.do_access_token_refresh(state=login.state, authn_method=AUTH)

    assert isinstance(refreshed, AccessTokenResponse), refreshed.to_dict()
    assert refreshed["access_token"] != first["access_token"]
    assert refreshed["refresh_token"] != first["refresh_token"]
    _method, sent = rp.req_callback.last(rp.token_endpoint)
    body = parse_qs(sent["data"])
    assert body["grant_type"] == ["refresh_token"]
    assert body["refresh_token"] == [first["refresh_token"]]
    # OIDC Core 12.2: a new ID token, verified by the library like the first, for the
    # same person, client and authentication.
    assert "id_token" in refreshed, "the refresh response carries no ID token"
    again = refreshed["id_token"]
    assert isinstance(again, IdToken)
    assert again["iss"] == live_server.url
    assert again["aud"] == [module.client_id]
    assert again["sub"] == first["id_token"]["sub"]
    assert again["auth_time"] == first["id_token"]["auth_time"]
    assert again["iat"] >= first["id_token"]["iat"]
    claims = rp.do_user_info_request(method="GET", token=refreshed["access_token"])
    assert claims["sub"] == first["id_token"]["sub"]


def test_introspection_and_revocation_through_pyoidc(rp, browser, module, make_user):
    make_user()
    login = log_in(browser, rp)
    tokens = login.tokens

    def introspect(token: str) -> TokenIntrospectionResponse:
        return rp.do_any(TokenIntrospectionRequest, request_args={"token": token},
                         response=TokenIntrospectionResponse, authn_method=AUTH)

    active = introspect(tokens["access_token"])
    assert active["active"] is True
    assert active["client_id"] == module.client_id
    assert active["sub"] == tokens["id_token"]["sub"]
    assert active["token_type"] == "Bearer"
    assert active["exp"] - active["iat"] == tokens["expires_in"]
    assert introspect(tokens["refresh_token"])["active"] is True

    # RFC 7009 2.2: no content to parse, the status says it.
    url, body, http_args, _request = rp.request_info(
        TokenRevocationRequest, method="POST", authn_method=AUTH,
        request_args={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"})
    assert url == rp.provider_info["revocation_endpoint"]
    assert rp.http_request(url, "POST", data=body, **http_args).status_code == 200

    for token in (tokens["refresh_token"], tokens["access_token"]):
        assert introspect(token).to_dict() == {"active": False}
    refused = rp.do_access_token_refresh(state=login.state, authn_method=AUTH)
    assert refused["error"] == "invalid_grant"
