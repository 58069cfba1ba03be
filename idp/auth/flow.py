"""The login state machine, after Canaille's (a Flask + Authlib identity provider).

After a correct password the steps still to do are computed and stored server
side in a ``LoginFlow`` row; the cookie carries only its opaque id. A page
decorated with ``step_required(step)`` refuses to run unless its step is the
next one and sends the user there instead. ``complete_step`` moves on, with a
conditional UPDATE so that a form posted twice cannot advance twice; when no
step is left ``finish`` opens the SSO session: never before (docs/flows.md,
« First connection »).
"""

from __future__ import annotations

import base64
import functools
import secrets
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from flask import flash
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from idp import audit
from idp.auth import device
from idp.auth.current import current_session
from idp.clock import utcnow
from idp.database import commit
from idp.database import rollback
from idp.extensions import db
from idp.models import LoginFlow
from idp.security import sessions
from idp.security.keyed_hash import token_hash
from idp.security.passwords import normalise
from idp.security.secrets import contains_password
from idp.security.secrets import password_probe

FLOW_LIFETIME = timedelta(minutes=30)
# Step name -> endpoint of its page, in the user guide's order (docs/flows.md).
STEP_ENDPOINTS = {
    "password_change": "password_change.password_change",
    "secret_question": "first_connection.secret_question",
    "captcha": "first_connection.captcha",
}
STEP_ORDER = tuple(STEP_ENDPOINTS)
# The first connection's four steps as the user guide numbers them (docs/flows.md): the
# login with the provisional password, then one page per step of the login flow.
FIRST_CONNECTION_TITLES = ("Identification", "Nouveau mot de passe", "Question secrète",
                           "Vérification par image")


@dataclass(frozen=True)
class StepperState:
    """Where a first connection stands, for the DSFR stepper: « Étape 3 sur 4 »."""

    number: int
    total: int
    title: str
    next_title: str | None


def first_connection_step(flow: LoginFlow, step: str) -> StepperState | None:
    """The stepper of ``step`` in a first connection; None in any other login's steps."""
    if "captcha" not in flow.pending_steps:
        return None
    number = STEP_ORDER.index(step) + 2
    titles = FIRST_CONNECTION_TITLES
    return StepperState(number, len(titles), titles[number - 1],
                        titles[number] if number < len(titles) else None)


def pending_steps(user, password_change_reason: str | None,
                  is_first_connection: bool) -> list[str]:
    """The steps a user must go through before holding a session, in the guide's order.

    A first connection not complete yet goes through every step not done yet,
    the captcha included; a reset through the password change only, plus the
    secret question when the Assistance cleared it (the agency's procedure sheet).
    """
    steps = set()
    if password_change_reason is not None:
        steps.add("password_change")
    if not user.has_secrets:
        steps.add("secret_question")
    if is_first_connection:
        steps.add("captcha")
    return [step for step in STEP_ORDER if step in steps]


def remember_password_probe(flow: LoginFlow, password: str) -> None:
    """Keep what the secret-answer step needs to refuse an answer containing the password.

    The key stays in the cookie, the HMAC in the database: neither alone reveals
    anything, and both die with the flow (``idp.security.secrets.contains_password``).
    """
    key = secrets.token_bytes(32)
    session["flow_key"] = base64.urlsafe_b64encode(key).decode()
    flow.password_probe = password_probe(key, password)
    flow.password_length = len(normalise(password))


def answer_contains_password(flow: LoginFlow, answer: str) -> bool:
    encoded = session.get("flow_key")
    if not flow.password_probe or not isinstance(encoded, str):
        return False
    key = base64.urlsafe_b64decode(encoded.encode())
    return contains_password(key, flow.password_probe, flow.password_length or 0, answer)


def safe_next(target: str | None) -> str | None:
    """Keep only a local absolute path: no open redirect."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ch in target for ch in "\r\n\t\\") or len(target) > 4000:
        return None
    return target


# What a flow forgets when it ends: the password probe is useless afterwards.
ENDED = {"password_probe": None, "password_length": None}


def _end_replaced_flows(user_id: int, now: datetime) -> None:
    """A new login replaces the user's flows still open (abandoned in this browser or
    another) and the one this browser held: they end, and forget their probe."""
    previous = session.get("flow")
    replaced = LoginFlow.user_id == user_id
    if isinstance(previous, str):
        replaced = or_(replaced, LoginFlow.id_hash == token_hash(previous))
    db.session.execute(
        update(LoginFlow).where(replaced, LoginFlow.consumed_at.is_(None))
        .values(consumed_at=now, **ENDED).execution_options(synchronize_session=False)
    )


def begin(result, next_url: str | None, now: datetime):
    """Start the steps after a correct password (an ``Authenticated``); the response."""
    user = result.user
    _end_replaced_flows(user.id, now)
    token = secrets.token_urlsafe(32)
    flow = LoginFlow(
        id_hash=token_hash(token),
        user_id=user.id,
        pending_steps=pending_steps(
            user, result.password_change_reason, result.is_first_connection
        ),
        password_change_reason=result.password_change_reason,
        amr=["pwd"],
        authenticated_at=now,
        next_url=safe_next(next_url),
        created_at=now,
        expires_at=now + FLOW_LIFETIME,
    )
    db.session.add(flow)
    db.session.flush()
    # Session renewal at login (ASVS 3.2.1): nothing from before survives, but the
    # session it replaces is remembered so that finish() ends it (prompt=login, max_age).
    previous = session.get("sid")
    session.clear()
    if isinstance(previous, str):
        session["previous_sid"] = previous
    if not flow.pending_steps:
        return finish(flow, now)
    session["flow"] = token
    audit.record("login.steps_pending", user=user, steps=list(flow.pending_steps))
    commit()
    return redirect(url_for(STEP_ENDPOINTS[flow.pending_steps[0]]), 303)


def current_flow(now: datetime) -> LoginFlow | None:
    token = session.get("flow")
    if not isinstance(token, str):
        return None
    flow = db.session.execute(
        select(LoginFlow).where(LoginFlow.id_hash == token_hash(token))
    ).scalar_one_or_none()
    if flow is None or flow.consumed_at is not None or flow.expires_at <= now:
        return None
    return flow


def abandon(now: datetime) -> LoginFlow | None:
    """« Quitter »: end this browser's login still in its steps; the flow left, if any.

    Nothing done is lost: the next login computes the steps still to do again
    (docs/flows.md, « An interrupted first connection »).
    """
    flow = current_flow(now)
    session.pop("flow", None)
    session.pop("flow_key", None)
    if flow is None:
        return None
    db.session.execute(
        update(LoginFlow).where(LoginFlow.id_hash == flow.id_hash, LoginFlow.consumed_at.is_(None))
        .values(consumed_at=now, **ENDED).execution_options(synchronize_session=False)
    )
    commit()
    return flow


def pending_redirect(now: datetime):
    """Back to the next step of a login still in progress, or None: no step is skipped."""
    flow = current_flow(now)
    if flow is None or not flow.pending_steps:
        return None
    return redirect(url_for(STEP_ENDPOINTS[flow.pending_steps[0]]), 303)


def step_required(step: str):
    """Run the view only when ``step`` is the next one; else go where the user belongs."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            flow = current_flow(utcnow())
            if flow is None or not flow.pending_steps:
                # The session is left as it is: a late request (the strength meter's,
                # after the step was done) must not send back the cookie it came with.
                return redirect(url_for("login.login"), 303)
            if flow.pending_steps[0] != step:
                return redirect(url_for(STEP_ENDPOINTS[flow.pending_steps[0]]), 303)
            return view(flow, *args, **kwargs)

        return wrapped

    return decorator


def complete_step(flow: LoginFlow, step: str, now: datetime, confirmation: str | None = None):
    """Mark ``step`` done and send the user to the next step, or open the session.

    ``confirmation``: what the next page of ours says when this step was the last.
    """
    remaining = [s for s in flow.pending_steps if s != step]
    # The probe serves the secret question step only.
    forget = ENDED if "secret_question" not in remaining else {}
    result = db.session.execute(
        update(LoginFlow)
        .where(
            LoginFlow.id_hash == flow.id_hash,
            LoginFlow.version == flow.version,
            LoginFlow.consumed_at.is_(None),
        )
        .values(pending_steps=remaining, version=LoginFlow.version + 1, **forget)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        # The same step was posted twice: the first post won; nothing more to do.
        rollback()
        return redirect(url_for("login.login"), 303)
    db.session.refresh(flow)
    if remaining:
        commit()
        return redirect(url_for(STEP_ENDPOINTS[remaining[0]]), 303)
    return finish(flow, now, confirmation)


def finish(flow: LoginFlow, now: datetime, confirmation: str | None = None):
    """Consume the flow and open the SSO session (the only place that does)."""
    result = db.session.execute(
        update(LoginFlow)
        .where(LoginFlow.id_hash == flow.id_hash, LoginFlow.consumed_at.is_(None))
        .values(consumed_at=now, **ENDED)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        rollback()
        return redirect(url_for("login.login"), 303)
    user = flow.user
    token, row = sessions.open_session(
        user, flow.authenticated_at, list(flow.amr), now,
        request.remote_addr, request.headers.get("User-Agent"), login_target=flow.next_url,
    )
    user.last_login_at = now
    audit.record("login.success", outcome="success", user=user, sid=row.sid)
    _end_replaced(session.get("previous_sid"), now)
    session.clear()
    session["sid"] = token
    commit()
    if confirmation and not goes_to_module(flow.next_url):
        # A module's own page is not ours to speak on: the alert would wait for a later page.
        flash(confirmation, "success")
    return device.remember(redirect(flow.next_url or url_for("home.home"), 303), user.login)


def goes_to_module(next_url: str | None) -> bool:
    """Whether the login resumes a module's authorization request (else a page of ours)."""
    return bool(next_url) and next_url.split("?")[0] == url_for("oidc.authorize")


def _end_replaced(previous: str | None, now: datetime) -> None:
    """The session this browser held before logging in again is over: a login renews it."""
    row = sessions.find_session(previous, now) if isinstance(previous, str) else None
    if row is not None:
        sessions.log_out(row, now, via="relogin")


def login_required(view):
    """Send anonymous visitors to the login page, coming back here afterwards."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_session() is None:
            # A login still in its steps resumes there: no page skips them.
            return pending_redirect(utcnow()) or redirect(
                url_for("login.login", next=request.full_path.rstrip("?")), 303
            )
        return view(*args, **kwargs)

    return wrapped
