"""Registration of the modules (OIDC clients): ``idp clients create``."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select

from idp import audit
from idp.exceptions import InvalidInput
from idp.extensions import db
from idp.models import Client
from idp.models import Token
from idp.oidc.clients import AUTH_METHODS
from idp.oidc.clients import hash_client_secret
from idp.oidc.clients import is_client_id
from idp.oidc.habilitations import get_habilitation
from idp.oidc.tokens import revoke_tokens

SECRET_PREFIX = "idpcs_"  # noqa: S105 (a recognisable prefix, not a secret)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


@dataclass
class NewClient:
    client_id: str
    name: str
    redirect_uris: list[str]
    habilitation: str
    is_public: bool = False
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    backchannel_logout_uri: str | None = None
    skip_consent: bool = False
    auth_method: str | None = None
    jwks_uri: str | None = None
    jwks_file: str | None = None
    id_token_alg: str = "RS256"  # noqa: S105 (an algorithm name)
    signed_userinfo: bool = False
    client_uri: str | None = None
    pkce_optional: bool = False


def check_uri(uri: str, what: str) -> str:
    """https, or http on loopback only; no fragment (RFC 6749 3.1.2)."""
    parts = urlsplit(uri)
    if parts.fragment or not parts.netloc or len(uri) > 2000:
        raise InvalidInput(f"{what} invalide « {uri[:100]} »")
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
        return uri
    raise InvalidInput(
        f"{what} doit être en https (http seulement sur 127.0.0.1) : « {uri[:100]} »"
    )


def _auth_method(data: NewClient) -> str:
    method = data.auth_method or ("none" if data.is_public else "client_secret_basic")
    if method not in AUTH_METHODS:
        raise InvalidInput(f"méthode d'authentification inconnue « {method} »")
    if data.is_public != (method == "none"):
        raise InvalidInput("un client public utilise --auth-method none, et lui seul")
    if data.is_public and data.pkce_optional:
        raise InvalidInput("un client public utilise toujours PKCE : --pkce-optional refusé")
    if method == "private_key_jwt" and not (data.jwks_uri or data.jwks_file):
        raise InvalidInput("private_key_jwt demande --jwks-uri ou --jwks")
    return method


def _load_jwks(path: str) -> dict:
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        raise InvalidInput(f"fichier JWKS illisible « {path} »") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise InvalidInput("le fichier JWKS doit contenir un objet avec « keys »")
    for key in document["keys"]:
        if not isinstance(key, dict) or any(k in key for k in ("d", "p", "q", "k")):
            raise InvalidInput("le fichier JWKS ne doit contenir que des clés publiques")
    return document


def create_client(data: NewClient, *, actor: str) -> tuple[Client, str | None]:
    """Register a client; returns it and its secret (shown once), if it has one."""
    if not is_client_id(data.client_id):
        raise InvalidInput("identifiant de client invalide")
    if db.session.execute(select(Client.id).where(Client.client_id == data.client_id)).first():
        raise InvalidInput(f"le client « {data.client_id} » existe déjà")
    if not data.redirect_uris:
        raise InvalidInput("au moins une --redirect-uri est requise")
    if data.id_token_alg not in ("RS256", "ES256"):
        raise InvalidInput("--id-token-alg vaut RS256 ou ES256")
    method = _auth_method(data)
    client = Client(
        client_id=data.client_id,
        name=data.name.strip()[:200] or data.client_id,
        redirect_uris=[check_uri(u, "redirect_uri") for u in data.redirect_uris],
        post_logout_redirect_uris=[
            check_uri(u, "post_logout_redirect_uri") for u in data.post_logout_redirect_uris
        ],
        backchannel_logout_uri=(
            check_uri(data.backchannel_logout_uri, "backchannel_logout_uri")
            if data.backchannel_logout_uri else None
        ),
        client_uri=check_uri(data.client_uri, "client_uri") if data.client_uri else None,
        habilitation=get_habilitation(data.habilitation),
        token_endpoint_auth_method=method,
        is_public=data.is_public,
        skip_consent=data.skip_consent,
        jwks_uri=check_uri(data.jwks_uri, "jwks_uri") if data.jwks_uri else None,
        jwks=_load_jwks(data.jwks_file) if data.jwks_file else None,
        id_token_signed_response_alg=data.id_token_alg,
        userinfo_signed=data.signed_userinfo,
        pkce_optional=data.pkce_optional,
    )
    secret = None
    if method in ("client_secret_basic", "client_secret_post"):
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        client.secret_hash = hash_client_secret(secret)
    db.session.add(client)
    db.session.flush()
    audit.record("client.created", client_id=client.client_id, actor=actor,
                 auth_method=method, habilitation=data.habilitation,
                 pkce_optional=data.pkce_optional)
    return client, secret


def get_client(client_id: str) -> Client:
    """A registered client by its client_id, active or not."""
    row = None
    if is_client_id(client_id):
        row = db.session.execute(
            select(Client).where(Client.client_id == client_id)).scalar_one_or_none()
    if row is None:
        raise InvalidInput(f"client inconnu « {client_id[:64]} »")
    return row


def disable_client(client: Client, *, actor: str, reason: str, now: datetime) -> int:
    """Disable a module: refused at /authorize and /token, its live tokens revoked; how many."""
    if not client.is_active:
        raise InvalidInput(f"le client « {client.client_id} » est déjà désactivé")
    client.is_active = False
    revoked = revoke_tokens(now, Token.client_id == client.id)
    audit.record("client.disabled", client_id=client.client_id, actor=actor, reason=reason,
                 revoked=revoked)
    return revoked


def enable_client(client: Client, *, actor: str, reason: str) -> None:
    """Enable a module again; the tokens revoked when it was disabled stay revoked."""
    if client.is_active:
        raise InvalidInput(f"le client « {client.client_id} » est déjà actif")
    client.is_active = True
    audit.record("client.enabled", client_id=client.client_id, actor=actor, reason=reason)
