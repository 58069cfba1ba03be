"""A module registered on the IdP and the code flow driven with the Flask test client."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

from idp.database import commit
from idp.oidc.registration import NewClient
from idp.oidc.registration import create_client

CALLBACK = "https://module.example/callback"
# RFC 7636 Appendix B's verifier and its S256 challenge: for requests that need no fresh pair.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@dataclass
class Module:
    client_id: str
    secret: str

    @property
    def basic(self) -> dict:
        pair = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}


def register_module(client_id: str = "module-t", **extra) -> Module:
    options = {"habilitation": "bonuseco", "skip_consent": True, "is_public": False,
               "auth_method": None, **extra}
    _row, secret = create_client(NewClient(
        client_id=client_id, name=f"Module {client_id}", redirect_uris=[CALLBACK], **options,
    ), actor="test")
    commit()
    return Module(client_id, secret)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(client_id: str, challenge: str | None, **extra) -> dict:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK,
              "scope": "openid", "state": "s1", "nonce": "n1"}
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def authorize_url(client_id: str, challenge: str | None = CHALLENGE, **extra) -> str:
    """The path and query of an authorization request (OIDC Core 3.1.2.1): the code flow
    with PKCE S256 (no challenge: without), scope openid, a state and a nonce; ``extra``
    adds or replaces parameters, a None leaves one out."""
    return "/authorize?" + urlencode(authorize_params(client_id, challenge, **extra))


def query_of(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize(client, client_id: str, **extra) -> tuple[dict, str]:
    """An authorization request with PKCE; the callback's query and the verifier."""
    verifier, challenge = pkce_pair()
    response = client.get(authorize_url(client_id, challenge, **extra))
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    location = response.headers["Location"]
    assert location.startswith(CALLBACK), location
    return query_of(location), verifier


def redeem(client, module: Module, code: str, verifier: str | None, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "code_verifier": verifier, **extra}
    return client.post("/token", data={k: v for k, v in data.items() if v is not None},
                       headers=module.basic)


def tokens_for(client, module: Module, **extra) -> dict:
    """The code flow of a logged-in browser: the code, redeemed by the module; its tokens.

    Each flow has a fresh nonce unless ``extra`` gives one: a module's nonce is used once.
    """
    extra.setdefault("nonce", secrets.token_urlsafe(8))
    query, verifier = authorize(client, module.client_id, **extra)
    response = redeem(client, module, query["code"], verifier)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def refresh(client, module: Module, refresh_token: str, **extra):
    return client.post("/token", data={"grant_type": "refresh_token",
                                       "refresh_token": refresh_token, **extra},
                       headers=module.basic)
