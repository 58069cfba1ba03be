"""Authlib's grants with our storage hooks: Authlib runs the protocol, we only store.

Where Authlib's defaults are too lenient for our rules (docs/security.md, « OpenID
Connect provider ») the override says so: redirect_uri required, PKCE S256 only, atomic and
replay-revoking code redemption, refresh rotation with reuse detection.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import timedelta

from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from authlib.oidc.core.errors import RequestNotSupportedError
from authlib.oidc.core.errors import RequestURINotSupportedError
from sqlalchemy import select
from sqlalchemy import update

from idp import audit
from idp.auth.current import current_session
from idp.clock import utcnow
from idp.extensions import db
from idp.models import AuthorizationCode
from idp.oidc import claims
from idp.oidc import habilitations
from idp.oidc import keys
from idp.oidc import tokens
from idp.oidc.clients import AUTH_METHODS
from idp.security.keyed_hash import token_hash

CODE_LIFETIME = timedelta(seconds=60)
ID_TOKEN_LIFETIME = 600
NONCE_MAX_LENGTH = 500  # AuthorizationCode.nonce
# The authorization request's parameters we read (RFC 6749 4.1.1, RFC 7636 4.3,
# OIDC Core 3.1.2.1, 5.5, 6.1): each at most once (RFC 6749 3.1). Authlib checks
# response_type, client_id, redirect_uri, scope and state itself.
# max_age: a number of seconds (OIDC Core 3.1.2.1), ASCII digits, up to 300 years.
MAX_AGE = re.compile(r"[0-9]{1,10}")
# How the authorization response travels (OAuth 2.0 Multiple Response Type Encoding
# Practices 2.1, Form Post Response Mode 2); absent: query, the code flow's default.
RESPONSE_MODES = ("query", "form_post")
SINGLE_PARAMETERS = ("nonce", "code_challenge", "code_challenge_method", "prompt", "max_age",
                     "id_token_hint", "login_hint", "acr_values", "claims", "response_mode",
                     "display", "ui_locales", "claims_locales", "request", "request_uri")


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    @staticmethod
    def validate_authorization_redirect_uri(request, client):
        # OIDC Core 3.1.2.1: REQUIRED, exact match; no fallback to a registered URI.
        # Raised without redirect_uri, so the user sees our page (RFC 6749 4.1.2.1).
        redirect_uri = request.payload.redirect_uri
        if not redirect_uri:
            raise InvalidRequestError("Missing 'redirect_uri' in request.")
        if not client.check_redirect_uri(redirect_uri):
            raise InvalidRequestError("The 'redirect_uri' is not registered for this client.")
        return redirect_uri

    def __init__(self, request, server):
        super().__init__(request, server)
        # Once the client and its redirect URI are known, before Authlib's own checks
        # of the scope, PKCE and nonce read the other parameters (and the database).
        self.register_hook("before_validate_authorization_request_payload",
                           AuthorizationCodeGrant.check_parameters)

    def check_parameters(self, redirect_uri) -> None:
        """Refuse what cannot be a parameter (errors go back to the valid redirect URI).

        A NUL in any parameter never gets here: idp.input_filter refuses it first."""
        data = self.request.payload.data
        datalist = self.request.payload.datalist
        for name in SINGLE_PARAMETERS:
            if len(datalist.get(name, [])) > 1:
                raise InvalidRequestError(f"Multiple '{name}' in request.")
        if len(data.get("nonce") or "") > NONCE_MAX_LENGTH:
            raise InvalidRequestError("The 'nonce' is too long.")
        if data.get("response_mode") and data["response_mode"] not in RESPONSE_MODES:
            raise InvalidRequestError("Unsupported 'response_mode'.")
        max_age = data.get("max_age")
        if max_age and not MAX_AGE.fullmatch(max_age):
            # OIDC Core 3.1.2.1: a number of seconds (empty: omitted, RFC 6749 3.1).
            raise InvalidRequestError("Invalid 'max_age' parameter.")
        try:
            claims.parse_claims_request(data.get("claims"))
        except claims.InvalidClaimsRequest:
            raise InvalidRequestError("Invalid 'claims' parameter.") from None

    def validate_authorization_request(self):
        redirect_uri = super().validate_authorization_request()
        data = self.request.payload.data
        # OIDC Core 6: request objects are not supported, said explicitly, never ignored.
        if "request" in data:
            raise RequestNotSupportedError(redirect_uri=redirect_uri)
        if "request_uri" in data:
            raise RequestURINotSupportedError(redirect_uri=redirect_uri)
        return redirect_uri

    def save_authorization_code(self, code: str, request) -> AuthorizationCode:
        now = utcnow()
        session = current_session()
        data = request.payload.data
        row = AuthorizationCode(
            code_hash=token_hash(code), client_id=request.client.row.id,
            user_id=request.user.id, sid=session.sid, redirect_uri=request.payload.redirect_uri,
            scope=request.scope, nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            auth_time=session.auth_time, amr=list(session.amr or claims.AMR_PASSWORD),
            acr=claims.ACR_PASSWORD, claims=claims.parse_claims_request(data.get("claims")),
            created_at=now, expires_at=now + CODE_LIFETIME,
        )
        db.session.add(row)
        audit.record("authorize.code_issued", outcome="success", user=request.user,
                     client_id=request.client.client_id, sid=session.sid)
        return row

    def query_authorization_code(self, code, client) -> AuthorizationCode | None:
        """Consume the code with a conditional UPDATE: of concurrent redemptions one wins."""
        if not isinstance(code, str) or len(code) > 200:
            return None
        now = utcnow()
        code_hash = token_hash(code)
        won = db.session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.code_hash == code_hash,
                   AuthorizationCode.client_id == client.row.id,
                   AuthorizationCode.consumed_at.is_(None),
                   AuthorizationCode.expires_at > now)
            .values(consumed_at=now, family_id=secrets.token_urlsafe(24))
            .execution_options(synchronize_session=False)
        ).rowcount == 1
        row = db.session.execute(
            select(AuthorizationCode).where(AuthorizationCode.code_hash == code_hash)
            .execution_options(populate_existing=True)  # as the UPDATE left it
        ).scalar_one_or_none()
        if won:
            return row
        if row is not None and row.client_id == client.row.id and row.consumed_at is not None:
            _revoke_replayed(row, now)
        return None

    def delete_authorization_code(self, authorization_code) -> None:
        """Kept, consumed, so that a replay is recognised and revokes (RFC 6749 4.1.2)."""

    def authenticate_user(self, authorization_code: AuthorizationCode):
        now = utcnow()
        user, client = authorization_code.user, authorization_code.client
        if tokens.session_alive(authorization_code.sid, now) is None:
            raise InvalidGrantError("The session of this code has ended.")
        if not habilitations.is_allowed(user, client, now):
            # A habilitation removed since the authorization stops the tokens.
            habilitations.record_refusal(user, client, "token")
            raise InvalidGrantError("The user may not use this client.")
        return user


def _revoke_replayed(row: AuthorizationCode, now) -> None:
    """RFC 6749 4.1.2: a used code presented again revokes what it produced."""
    revoked = tokens.revoke_family(row.family_id, now) if row.family_id else 0
    audit.record("authorize.code_replayed", outcome="failure", user=row.user,
                 client_id=row.client.client_id, revoked=revoked)


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only (RFC 9700 2.1.1): plain, or a challenge without method, refused."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        super().validate_code_challenge(grant, redirect_uri)
        data = grant.request.payload.data
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            # Authlib would take a missing method as "plain" (RFC 7636 4.3).
            raise InvalidRequestError("Missing 'code_challenge_method': S256 is required.")
        if not data.get("code_challenge") and not _may_skip_pkce(grant.request.client):
            # RFC 9700 2.1.1: PKCE is REQUIRED for public clients and RECOMMENDED for
            # confidential ones; required here for all but registered legacy modules.
            raise InvalidRequestError("Missing 'code_challenge': PKCE is required.")

    def validate_code_verifier(self, grant, result):
        challenge = grant.request.authorization_code.code_challenge
        if challenge and not grant.request.form.get("code_verifier"):
            # RFC 7636 4.6: the verification failed (Authlib says invalid_request).
            raise InvalidGrantError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


def _may_skip_pkce(client) -> bool:
    """Registered legacy modules only, never public clients (RFC 9700 2.1.1: MUST)."""
    return client.row.pkce_optional and not client.is_public


class IdTokenSigning:
    """What every ID token of ours shares: signed by the client's algorithm (RS256 by
    default) with the active key, iss, aud, iat, exp; scope claims left to userinfo."""

    def __init__(self, issuer: str):
        self.issuer = issuer

    def resolve_client_private_key(self, client):
        # A key set of the one active key: joserfc writes its kid in the header.
        return keys.signing_keyset(client.id_token_signed_response_alg, utcnow())

    def get_client_claims(self, client) -> dict:
        now = int(time.time())
        return {"iss": self.issuer, "aud": client.client_id, "iat": now,
                "exp": now + ID_TOKEN_LIFETIME}

    def generate_user_info(self, user, scope) -> dict:
        # OIDC Core 5.4: with an access token, scope claims come from userinfo.
        return {"sub": user.subject}


class OpenIDCode(IdTokenSigning, oidc_grants.OpenIDCode):
    """The ID token of a code redemption (OIDC Core 3.1.3.6)."""

    def __init__(self, issuer: str):
        IdTokenSigning.__init__(self, issuer)
        oidc_grants.OpenIDCode.__init__(self, require_nonce=False)

    def exists_nonce(self, nonce, request) -> bool:
        stmt = select(AuthorizationCode.id).where(
            AuthorizationCode.client_id == request.client.row.id,
            AuthorizationCode.nonce == nonce,
        ).limit(1)
        return db.session.execute(stmt).first() is not None

    def get_authorization_code_claims(self, authorization_code: AuthorizationCode) -> dict:
        result = super().get_authorization_code_claims(authorization_code)
        # sid: Back-Channel Logout 1.0 2.1 and the session of front-channel logouts.
        result["sid"] = authorization_code.sid
        result.update(claims.user_claims(
            authorization_code.user, authorization_code.client, authorization_code.scope,
            authorization_code.claims, "id_token", utcnow()))
        return result


class OpenIDRefresh(IdTokenSigning, oidc_grants.OpenIDToken):
    """A new ID token with each refresh (OIDC Core 12.2): same iss, sub and aud, a new
    iat, the original authentication's auth_time, acr and amr, the session's sid, the
    claims asked for the ID token at authorization; no nonce (it belongs to the
    authentication request, which a refresh is not)."""

    def get_compatible_claims(self, request) -> dict:
        result = super().get_compatible_claims(request)
        row = request.refresh_token.row
        now = utcnow()
        session = tokens.session_alive(row.sid, now)  # alive: the refresh checked it
        result.update({
            "auth_time": int(row.auth_time.timestamp()), "acr": claims.ACR_PASSWORD,
            "amr": list(session.amr or claims.AMR_PASSWORD), "sid": row.sid,
        })
        result.update(claims.user_claims(row.user, row.client, row.scope, row.claims,
                                         "id_token", now))
        return result


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Rotation on every use; reuse of a rotated token revokes the family (RFC 9700 4.14.2)."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str):
        """The presented token, if still usable; a rotated one revokes its family."""
        now = utcnow()
        row = tokens.find_refresh(refresh_token)
        if row is None or row.client_id != self.request.client.row.id:
            return None
        if row.rotated_at is not None:
            _refused_reuse(row, now)
            return None
        if not _may_refresh(row, now):
            return None
        return tokens.PresentedToken(row, "refresh_token")

    def validate_token_request(self):
        """Rotate only once the whole request is valid (RFC 6749 6: scope checked first),
        so that a refused request leaves the refresh token usable."""
        super().validate_token_request()
        row = self.request.refresh_token.row
        now = utcnow()
        if not tokens.claim_rotation(row, now):
            # Another request rotated it since it was read (RFC 9700 4.14.2).
            _refused_reuse(row, now)
            raise InvalidGrantError()

    def authenticate_user(self, refresh_token):
        return refresh_token.row.user

    def revoke_old_credential(self, refresh_token) -> None:
        """Nothing left: authenticate_refresh_token marked it rotated, atomically."""


def _may_refresh(row, now) -> bool:
    """Refresh only within the SSO session, with the habilitation still valid."""
    if row.revoked_at is not None or row.refresh_expires_at is None:
        return False
    if row.refresh_expires_at <= now or tokens.session_alive(row.sid, now) is None:
        return False
    if not habilitations.is_allowed(row.user, row.client, now):
        habilitations.record_refusal(row.user, row.client, "refresh")
        return False
    return True


def _refused_reuse(row, now) -> None:
    """A rotated token presented again: revoke its family, unless already revoked."""
    if row.revoked_at is None:
        _reuse_detected(row, now)


def _reuse_detected(row, now) -> None:
    revoked = tokens.revoke_family(row.family_id, now)
    audit.record("token.reuse_detected", outcome="failure", user=row.user,
                 client_id=row.client.client_id, revoked=revoked)
