"""From scopes and the ``claims`` request parameter to claims (OIDC Core 5.4, 5.5; ProConnect)."""

from __future__ import annotations

import json
from datetime import datetime

from authlib.oauth2.rfc6749.util import scope_to_list

from idp.exceptions import IdpError
from idp.models import Client
from idp.models import User
from idp.oidc import habilitations

# acr of a password login in the French federation profile (ProConnect).
ACR_PASSWORD = "eidas1"  # noqa: S105 (an acr value, not a password)
ACR_SUPPORTED = (ACR_PASSWORD,)
AMR_PASSWORD = ["pwd"]

# Scope -> the claims it releases. ProConnect names scopes after claims.
SCOPE_CLAIMS = {
    "openid": ("sub",),
    "profile": ("given_name", "family_name", "usual_name", "name"),
    "email": ("email",),
    "habilitations": ("habilitations", "habilitation_codes"),
    "uid": ("uid",),
    "given_name": ("given_name",),
    "usual_name": ("usual_name",),
    "siret": ("siret",),
}
SUPPORTED_CLAIMS = ("sub", "given_name", "family_name", "usual_name", "name", "email",
                    "habilitations", "habilitation_codes", "uid", "siret", "auth_time", "acr",
                    "amr", "sid")


class InvalidClaimsRequest(IdpError):
    """The ``claims`` parameter is not the JSON object of OIDC Core 5.5."""


def parse_claims_request(raw: str | None) -> dict | None:
    """Parse and check the ``claims`` parameter; None when absent."""
    if raw is None or raw == "":
        return None
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: arrays nested a thousand deep
        raise InvalidClaimsRequest("claims is not JSON") from None
    if not isinstance(document, dict):
        raise InvalidClaimsRequest("claims is not an object")
    parsed = {}
    for target in ("userinfo", "id_token"):
        members = document.get(target, {})
        if not isinstance(members, dict):
            raise InvalidClaimsRequest(f"claims.{target} is not an object")
        for request in members.values():
            _check_member(request)
        parsed[target] = members
    return parsed


def _check_member(request) -> None:
    """OIDC Core 5.5.1: null, or an object whose essential is a boolean and values an array."""
    if request is None:
        return
    if not isinstance(request, dict):
        raise InvalidClaimsRequest("claims members must be null or objects")
    if not isinstance(request.get("essential", False), bool):
        raise InvalidClaimsRequest("essential must be a boolean")
    if not isinstance(request.get("values", []), list):
        raise InvalidClaimsRequest("values must be an array")


def essential_acr_unmet(claims_request: dict | None) -> bool:
    """OIDC Core 5.5.1.1: an essential acr we cannot give makes the authorization fail."""
    acr = ((claims_request or {}).get("id_token") or {}).get("acr") or {}
    if not acr.get("essential"):
        return False
    wanted = acr.get("values") or ([acr["value"]] if "value" in acr else [])
    return bool(wanted) and ACR_PASSWORD not in wanted


def _value(name: str, user: User, client: Client, now: datetime):
    values = {
        "sub": user.subject,
        "given_name": user.given_name,
        "family_name": user.family_name,
        # Nom d'usage: the agency keeps one family name per account.
        "usual_name": user.family_name,
        "name": user.display_name,
        "email": user.email,
        # Stable identifier of the user at this identity provider (ProConnect's uid).
        "uid": user.subject,
        "siret": user.siret,
    }
    if name == "habilitations":
        return habilitations.claim(user, client, now)
    if name == "habilitation_codes":
        return habilitations.codes_claim(user, client, now)
    return values.get(name)


def requested_names(scope: str, claims_request: dict | None, target: str) -> list[str]:
    """Claim names released by the scope (userinfo only) and asked by name in ``claims``."""
    names: list[str] = ["sub"]
    if target == "userinfo":
        for item in scope_to_list(scope) or []:
            names.extend(SCOPE_CLAIMS.get(item, ()))
    names.extend((claims_request or {}).get(target, {}).keys())
    return [n for n in dict.fromkeys(names) if n in SUPPORTED_CLAIMS]


def user_claims(user: User, client: Client, scope: str, claims_request: dict | None,
                target: str, now: datetime) -> dict:
    """The user claims for ``target`` ("userinfo" or "id_token"), absent ones left out."""
    result = {}
    for name in requested_names(scope, claims_request, target):
        value = _value(name, user, client, now)
        if value is not None and value != "":
            result[name] = value
    return result


def describe(scope: str, claims_request: dict | None) -> list[str]:
    """What the consent page lists, in French."""
    labels = {
        "sub": "Votre identifiant technique, stable et anonyme",
        "uid": "Votre identifiant technique, stable et anonyme",
        "given_name": "Votre prénom",
        "family_name": "Votre nom",
        "usual_name": "Votre nom",
        "name": "Votre nom complet",
        "email": "Votre adresse électronique",
        "habilitations": "Vos habilitations pour cette application et leur profil",
        "habilitation_codes": "Vos habilitations pour cette application et leur profil",
        "siret": "Le SIRET de votre établissement",
    }
    names = requested_names(scope, claims_request, "userinfo")
    names += requested_names(scope, claims_request, "id_token")
    return list(dict.fromkeys(labels[n] for n in names if n in labels))
