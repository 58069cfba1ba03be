"""What the end of an SSO session does to the modules: tokens revoked, back-channel logout.

Whoever ends sessions (logout, RP-initiated logout, the home page, a password
change or reset, a deactivation, the Assistance) goes through
``idp.security.sessions``, which calls ``on_sessions_ended`` in the same
transaction. It revokes the tokens issued in those sessions (RFC 9700 4.14.2;
docs/security.md, « Rules ») and queues one logout token per module that got
tokens there and registered a ``backchannel_logout_uri``
(OpenID Connect Back-Channel Logout 1.0, 2.4). The tokens are posted only once
the transaction is committed, concurrently, each with a short timeout: a module
that is down or slow is logged and never blocks the logout (2.7).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time

import requests
from joserfc import jwt
from sqlalchemy import select

from idp import audit
from idp.clock import utcnow
from idp.database import after_commit
from idp.extensions import db
from idp.models import Client
from idp.models import Token
from idp.oidc import keys
from idp.oidc import tokens
from idp.oidc.clients import OAuthClient
from idp.security import sessions
from idp.settings import settings

log = logging.getLogger(__name__)

EVENT = "http://schemas.openid.net/event/backchannel-logout"
# Back-Channel Logout 1.0 2.4: the logout token is short lived (RECOMMENDED: minutes).
LOGOUT_TOKEN_LIFETIME = 120
# Seconds a module has to answer; all are posted at once, so it bounds the whole wait.
DELIVERY_TIMEOUT = 3.0


def logout_token(client: Client, subject: str, sid: str, now: int) -> str:
    """A logout token (Back-Channel Logout 1.0 2.4), signed like the client's ID tokens."""
    alg = OAuthClient(client).id_token_signed_response_alg
    claims = {
        "iss": settings().issuer, "aud": client.client_id,
        "iat": now, "exp": now + LOGOUT_TOKEN_LIFETIME, "jti": secrets.token_urlsafe(24),
        "sub": subject, "sid": sid, "events": {EVENT: {}},
    }
    # 2.4: explicit typing (RFC 8725 3.11), so it cannot pass for an ID token; no nonce.
    header = {"alg": alg, "typ": "logout+jwt"}
    return jwt.encode(header, claims, keys.signing_keyset(alg, utcnow()))


def _notified_clients(sids: list[str]) -> list[tuple[str, Client]]:
    """(sid, client) for each module that got tokens in these sessions and wants to know."""
    # DISTINCT on the ids only: PostgreSQL has no equality for the JSON columns of Client.
    pairs = (
        select(Token.sid, Token.client_id).where(Token.sid.in_(sids)).distinct().subquery()
    )
    stmt = (
        select(pairs.c.sid, Client)
        .join(Client, pairs.c.client_id == Client.id)
        .where(Client.backchannel_logout_uri.is_not(None), Client.is_active.is_(True))
    )
    return [(sid, client) for sid, client in db.session.execute(stmt)]


def _revoke_tokens(rows, now) -> None:
    """What was issued in an ended session dies with it (refresh and access tokens)."""
    revoked = tokens.revoke_tokens(now, Token.sid.in_([row.sid for row in rows]))
    if revoked:
        audit.record("token.revoked", outcome="success", user=rows[0].user,
                     reason="session_ended", count=revoked)


def on_sessions_ended(rows, now) -> None:
    """The hook of ``idp.security.sessions``: revoke, then queue the logout tokens."""
    _revoke_tokens(rows, now)
    subjects = {row.sid: row.user.subject for row in rows}
    issued_at = int(now.timestamp())
    batch = after_commit(LogoutTokens)
    for sid, client in _notified_clients(list(subjects)):
        token = logout_token(client, subjects[sid], sid, issued_at)
        batch.append((client.client_id, client.backchannel_logout_uri, token))


def _post(client_id: str, uri: str, token: str, timeout: float) -> None:
    """One delivery (2.5: form-encoded POST); the outcome is logged, never the token."""
    try:
        response = requests.post(uri, data={"logout_token": token}, timeout=timeout,
                                 allow_redirects=False)
    except requests.RequestException as exc:
        log.warning("back-channel logout to %s failed: %s", client_id, type(exc).__name__)
        return
    if response.status_code not in (200, 204):
        # 2.8: the RP answers 200 (or 204); anything else is its failure, not ours.
        log.warning("back-channel logout to %s refused: HTTP %s", client_id,
                    response.status_code)
    else:
        log.info("back-channel logout delivered to %s", client_id)


def deliver(pending: list[tuple[str, str, str]], timeout: float | None = None) -> None:
    """Post every logout token at once and wait at most ``timeout`` for them all."""
    timeout = DELIVERY_TIMEOUT if timeout is None else timeout
    threads = [threading.Thread(target=_post, args=(*item, timeout), daemon=True)
               for item in pending]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout + 0.5
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


class LogoutTokens(list):
    """(client_id, uri, token) of a transaction, posted once it is committed."""

    def __call__(self) -> None:
        if self:
            deliver(self)


def init_app(app) -> None:
    """Register the hook of ``idp.security.sessions`` (once per process)."""
    if on_sessions_ended not in sessions.SESSION_ENDED_HOOKS:
        sessions.SESSION_ENDED_HOOKS.append(on_sessions_ended)
