"""How the Django module trusts the IdP: mozilla-django-oidc's backend, completed.

mozilla-django-oidc checks the ID token's signature (JWKS), its expiry and the nonce, and
keys users on their email. The backend below adds what a BonusEco module needs:

* the ID token's ``iss`` and ``aud`` (OIDC Core 3.1.3.7 2 and 3: the library skips both);
* the userinfo ``sub`` equal to the ID token's (OIDC Core 5.3.2);
* the habilitation the module requires in ``habilitation_codes`` (README.md, « Claims »);
* users keyed on ``sub``, stable at the IdP, not on the email, which a person may change.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.shortcuts import resolve_url
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

# Session key of the person's habilitation codes, shown by the module's page.
HABILITATION_CODES = "bonuseco_habilitation_codes"


class BonusEcoBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend for the BonusEco IdP."""

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience or []
        if payload.get("iss") != settings.BONUSECO_ISSUER:
            raise SuspiciousOperation("ID token from another issuer")
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token for another client")
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        claims = super().get_userinfo(access_token, id_token, payload)
        if claims.get("sub") != payload["sub"]:
            raise SuspiciousOperation("userinfo about another subject than the ID token")
        return claims

    def verify_claims(self, claims):
        """A person without the module's habilitation is refused (no user, no session)."""
        codes = claims.get("habilitation_codes") or []
        return settings.BONUSECO_REQUIRED_HABILITATION in codes

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(username=claims["sub"])

    def create_user(self, claims):
        user = self.UserModel.objects.create_user(claims["sub"])
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        """The IdP's names and email replace the copy kept here, at each login."""
        user.email = claims.get("email", "")
        user.first_name = claims.get("given_name", "")
        user.last_name = claims.get("family_name", "")
        user.save(update_fields=["email", "first_name", "last_name"])
        self.request.session[HABILITATION_CODES] = claims.get("habilitation_codes", [])
        return user


def end_session_url(request) -> str:
    """OIDC_OP_LOGOUT_URL_METHOD: the IdP's end-session endpoint (RP-Initiated Logout 1.0
    2), which ends the IdP session and comes back to LOGOUT_REDIRECT_URL when the
    ``id_token_hint`` names this person; without it the IdP asks them to confirm."""
    query = {
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "post_logout_redirect_uri": request.build_absolute_uri(
            resolve_url(settings.LOGOUT_REDIRECT_URL)),
    }
    id_token = request.session.get("oidc_id_token")
    if id_token:
        query["id_token_hint"] = id_token
    return f"{settings.OIDC_OP_END_SESSION_ENDPOINT}?{urlencode(query)}"
