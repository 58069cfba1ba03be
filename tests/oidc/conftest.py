"""OIDC fixtures: a live IdP whose issuer is its own URL, registered modules, a relying party.

The relying party is Authlib's ``OAuth2Session``; the browser is ``tests.conftest.Browser``,
which follows the IdP's redirects and stops at the module's callback.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.database import commit
from idp.oidc.registration import NewClient
from idp.oidc.registration import create_client
from tests.conftest import Browser
from tests.conftest import LiveServer
from tests.conftest import environ_for
from tests.conftest import free_port
from tests.conftest import short_transaction
from tests.security.oauth import authorize_url
from tests.security.oauth import pkce_pair

CALLBACK = "http://127.0.0.1:8765/callback"
OTHER_CALLBACK = "http://127.0.0.1:8765/other"


@pytest.fixture
def idp_port() -> int:
    return free_port()


@pytest.fixture
def app_environ(database_url, smtp_server, idp_port) -> dict:
    # The issuer is the live server's own URL, so that discovery and tokens agree.
    return environ_for(database_url, smtp_server.port,
                        IDP_ISSUER=f"http://127.0.0.1:{idp_port}")


@pytest.fixture
def live_server(app, idp_port):
    server = LiveServer(app, idp_port).start()
    yield server
    server.stop()


@dataclass
class Module:
    client_id: str
    secret: str | None
    row_id: int


@pytest.fixture
def make_module(app):
    def make(client_id="module-a", *, habilitation="bonuseco", skip_consent=True,
             public=False, auth_method=None, redirect_uris=(CALLBACK, OTHER_CALLBACK),
             **extra) -> Module:
        client, secret = create_client(NewClient(
            client_id=client_id, name=f"Module {client_id}", redirect_uris=list(redirect_uris),
            habilitation=habilitation, skip_consent=skip_consent, is_public=public,
            auth_method=auth_method, **extra,
        ), actor="test")
        made = Module(client_id, secret, client.id)
        commit()
        return made

    return make


@pytest.fixture
def module(make_module) -> Module:
    return make_module()


def fresh(user, name: str):
    """A column of a committed row, read in a short transaction (the live server writes)."""
    with short_transaction():
        return getattr(user, name)


def rp_session(idp_url: str, module: Module, **kwargs) -> OAuth2Session:
    method = kwargs.pop("token_endpoint_auth_method", "client_secret_basic")
    scope = kwargs.pop("scope", "openid profile email habilitations")
    return OAuth2Session(module.client_id, module.secret, scope=scope,
                         redirect_uri=CALLBACK, code_challenge_method="S256",
                         token_endpoint_auth_method=method, **kwargs)


def callback_params(response: requests.Response) -> dict:
    assert response.status_code in (302, 303), response.text[:500]
    location = response.headers["Location"]
    assert location.startswith(("http://127.0.0.1:8765/",)), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@pytest.fixture
def browser(live_server) -> Browser:
    return Browser(live_server.url)


# The nonce of a module's requests unless the test gives one.
NONCE = "n-0S6_WzA2Mj"


def log_in_and_get_code(browser: Browser, rp: OAuth2Session, login: str,
                        **params) -> tuple[dict, str]:
    """The authorization request of ``rp``'s module (its redirect URI and scope, a fresh
    PKCE pair, ``NONCE``), the login form when the IdP shows it; (callback query, verifier)."""
    verifier, challenge = pkce_pair()
    page = browser.open(authorize_url(rp.client_id, challenge, redirect_uri=rp.redirect_uri,
                                      scope=rp.scope, **{"nonce": NONCE, **params}))
    if page.status_code == 200 and 'name="password"' in page.text:
        page = browser.login(page, login)
    return callback_params(page), verifier


def log_in_and_get_tokens(browser: Browser, module: Module | OAuth2Session,
                          login: str = "jdupont", **params) -> dict:
    """The code flow as a module runs it: the authorization request (with the login form
    when the IdP shows it), then the code redeemed at /token; the token response.

    ``module`` is a registered module (its relying party is ``rp_session``'s) or a relying
    party made by the test (another scope, another client authentication).
    """
    rp = module if isinstance(module, OAuth2Session) else rp_session(browser.idp_url, module)
    query, verifier = log_in_and_get_code(browser, rp, login, **params)
    return rp.fetch_token(browser.idp_url + "/token", code=query["code"],
                          code_verifier=verifier)


def jwks(idp_url: str) -> KeySet:
    return KeySet.import_key_set(requests.get(idp_url + "/jwks", timeout=10).json())


def verify_id_token(idp_url: str, id_token: str, client_id: str, nonce: str | None,
                    access_token: str | None = None) -> dict:
    """Signature with the JWKS, then iss, aud, exp, nonce and at_hash (OIDC Core 3.1.3.7)."""
    decoded = jwt.decode(id_token, jwks(idp_url), algorithms=["RS256", "ES256"])
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": idp_url},
                          aud={"essential": True, "value": client_id},
                          exp={"essential": True}, iat={"essential": True},
                          sub={"essential": True}).validate(decoded.claims)
    assert decoded.header["kid"]
    if nonce is not None:
        assert decoded.claims["nonce"] == nonce
    if access_token is not None:
        expected = create_half_hash(access_token, decoded.header["alg"]).decode()
        assert decoded.claims["at_hash"] == expected
    return {"header": decoded.header, **decoded.claims}

