"""Account actions of the Assistance (docs/flows.md), one implementation for CLI and console.

Each action checks its input (``InvalidInput``), changes the database, writes
one audit row carrying the actor and the reason, and queues a notice mail to
the user; the caller commits with ``idp.database.commit()`` (mails go after).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from idp import audit
from idp import mail
from idp.assistance import permissions
from idp.exceptions import InvalidInput
from idp.extensions import db
from idp.models import Habilitation
from idp.models import HabilitationGrant
from idp.models import Token
from idp.models import User
from idp.oidc.habilitations import get_habilitation
from idp.oidc.tokens import revoke_tokens
from idp.security import lockout
from idp.security import provisional
from idp.security import sessions
from idp.security.identifiers import normalise_login
from idp.validation import check_email
from idp.validation import check_login
from idp.validation import check_name
from idp.validation import check_siret


@dataclass
class NewAccount:
    login: str
    email: str
    given_name: str
    family_name: str
    siret: str | None = None
    # (code, profile) pairs.
    habilitations: tuple[tuple[str, str], ...] = ()


def get_user(login: str) -> User:
    user = db.session.execute(
        select(User).where(User.login == normalise_login(login))
    ).scalar_one_or_none()
    if user is None:
        raise InvalidInput(f"compte inconnu « {login[:64]} »")
    return user


def validate_account(data: NewAccount) -> NewAccount:
    """Check every field and that the login is free; raises InvalidInput."""
    checked = NewAccount(
        login=check_login(data.login),
        email=check_email(data.email),
        given_name=check_name(data.given_name, "prénom"),
        family_name=check_name(data.family_name, "nom"),
        siret=check_siret(data.siret),
        habilitations=tuple(data.habilitations),
    )
    if db.session.execute(select(User.id).where(User.login == checked.login)).first():
        raise InvalidInput(f"l'identifiant « {checked.login} » existe déjà")
    for code, _profile in checked.habilitations:
        get_habilitation(code)
    return checked


def _welcome_mails(user: User, password: str) -> None:
    labels = [grant.habilitation.label for grant in user.grants if grant.revoked_at is None]
    mail.send_later(mail.compose(user.email, "welcome_identifier", user=user, labels=labels))
    mail.send_later(mail.compose(
        user.email, "welcome_password", user=user, provisional=password,
        expires_at=user.provisional_expires_at,
    ))


def create_user(data: NewAccount, *, actor: str, reason: str, now: datetime,
                ready: provisional.Provisional | None = None) -> User:
    """Create an account with a provisional password; queues the two welcome mails.

    A bulk caller passes a provisional password hashed beforehand (``ready``), so
    that the slow hash never runs while its transaction holds the write lock.
    """
    permissions.check_actor(actor, None, *(code for code, _profile in data.habilitations))
    checked = validate_account(data)
    user = User(
        login=checked.login, email=checked.email, given_name=checked.given_name,
        family_name=checked.family_name, siret=checked.siret, created_at=now,
    )
    db.session.add(user)
    for code, profile in checked.habilitations:
        user.grants.append(HabilitationGrant(
            habilitation=get_habilitation(code), profile=profile, granted_by=actor, granted_at=now,
        ))
    password = provisional.issue(user, now, ready)
    db.session.flush()
    audit.record("account.created", user=user, actor=actor, reason=reason,
                 habilitations=[code for code, _ in checked.habilitations])
    _welcome_mails(user, password)
    return user


def resend_welcome(user: User, *, actor: str, reason: str, now: datetime) -> None:
    """Send the two welcome mails again, with a fresh provisional password."""
    permissions.check_actor(actor, user)
    password = provisional.issue(user, now)
    audit.record("account.welcome_resent", user=user, actor=actor, reason=reason)
    _welcome_mails(user, password)


def reset_password(user: User, *, actor: str, reason: str, now: datetime) -> None:
    """Mail a new provisional password; the old password works until it is used."""
    permissions.check_actor(actor, user)
    provisional.send_new(user, actor=actor, reason=reason, now=now)


def unlock_account(user: User, *, actor: str, reason: str, now: datetime) -> None:
    permissions.check_actor(actor, user)
    lockout.clear_attempts(user, "")
    db.session.refresh(user)
    audit.record("account.unlocked", user=user, actor=actor, reason=reason)
    _notice(user, "Votre compte a été déverrouillé par l'Assistance.")


def grant_habilitation(user: User, code: str, profile: str, *, actor: str, reason: str,
                       now: datetime, starts_at: datetime | None = None,
                       ends_at: datetime | None = None) -> HabilitationGrant:
    """Grant (or update and restore) a habilitation with its profile and dates."""
    permissions.check_actor(actor, user, code)
    if starts_at and ends_at and ends_at <= starts_at:
        raise InvalidInput("la date de fin doit suivre la date de début")
    habilitation = get_habilitation(code)
    grant = _find_grant(user, habilitation)
    if grant is None:
        grant = HabilitationGrant(user_id=user.id, habilitation=habilitation)
        db.session.add(grant)
    grant.profile, grant.starts_at, grant.ends_at = profile, starts_at, ends_at
    grant.granted_by, grant.granted_at, grant.revoked_at = actor, now, None
    db.session.flush()
    audit.record("habilitation.granted", user=user, actor=actor, reason=reason,
                 habilitation=code, profile=profile,
                 starts_at=starts_at.isoformat() if starts_at else None,
                 ends_at=ends_at.isoformat() if ends_at else None)
    _notice(user, f"L'habilitation « {habilitation.label} » vous a été attribuée.")
    return grant


def revoke_habilitation(user: User, code: str, *, actor: str, reason: str, now: datetime) -> None:
    permissions.check_actor(actor, user, code)
    habilitation = get_habilitation(code)
    grant = _find_grant(user, habilitation)
    if grant is None or grant.revoked_at is not None:
        raise InvalidInput(f"« {user.login} » ne détient pas l'habilitation « {code} »")
    grant.revoked_at = now
    audit.record("habilitation.revoked", user=user, actor=actor, reason=reason, habilitation=code)
    _notice(user, f"L'habilitation « {habilitation.label} » vous a été retirée.")


def restore_habilitation(user: User, code: str, *, actor: str, reason: str, now: datetime) -> None:
    permissions.check_actor(actor, user, code)
    habilitation = get_habilitation(code)
    grant = _find_grant(user, habilitation)
    if grant is None or grant.revoked_at is None:
        raise InvalidInput(f"aucune habilitation « {code} » retirée à restaurer")
    grant.revoked_at = None
    audit.record("habilitation.restored", user=user, actor=actor, reason=reason, habilitation=code)
    _notice(user, f"L'habilitation « {habilitation.label} » vous a été rendue.")


def deactivate_user(user: User, *, actor: str, reason: str, now: datetime) -> None:
    """Deactivate: no login at all, every session ended, every token revoked."""
    permissions.check_actor(actor, user)
    if not user.is_active:
        raise InvalidInput(f"le compte « {user.login} » est déjà désactivé")
    user.is_active = False
    ended = sessions.end_all_sessions(user.id, now)
    revoked = revoke_tokens(now, Token.user_id == user.id)
    audit.record("account.deactivated", user=user, actor=actor, reason=reason,
                 sessions_ended=len(ended), module_access_revoked=revoked)
    _notice(user, "Votre compte BonusEco a été désactivé.")


def activate_user(user: User, *, actor: str, reason: str, now: datetime) -> None:
    permissions.check_actor(actor, user)
    if user.is_active:
        raise InvalidInput(f"le compte « {user.login} » est déjà actif")
    user.is_active = True
    audit.record("account.activated", user=user, actor=actor, reason=reason)
    _notice(user, "Votre compte BonusEco a été réactivé.")


def end_sessions(user: User, *, actor: str, reason: str, now: datetime) -> int:
    permissions.check_actor(actor, user)
    ended = sessions.end_all_sessions(user.id, now)
    revoked = revoke_tokens(now, Token.user_id == user.id)
    audit.record("sessions.ended", user=user, actor=actor, reason=reason, count=len(ended),
                 module_access_revoked=revoked)
    _notice(user, "Toutes vos sessions BonusEco ont été fermées par l'Assistance.")
    return len(ended)


def _find_grant(user: User, habilitation: Habilitation) -> HabilitationGrant | None:
    return db.session.execute(
        select(HabilitationGrant).where(
            HabilitationGrant.user_id == user.id,
            HabilitationGrant.habilitation_id == habilitation.id,
        )
    ).scalar_one_or_none()


def _notice(user: User, what: str) -> None:
    mail.send_later(mail.compose(user.email, "notice", user=user, what=what))


def clear_secrets(user: User, *, actor: str, reason: str, now: datetime) -> None:
    """Forget the secret question and answer: the next login asks for new ones.

    ``idp.auth.flow.pending_steps`` adds the secret-question step whenever
    ``user.has_secrets`` is False; until then the forgotten-password procedure
    points the user to the Assistance (docs/flows.md, « Forgotten password »).
    """
    permissions.check_actor(actor, user)
    if not user.has_secrets:
        raise InvalidInput(f"la question secrète de « {user.login} » n'est pas renseignée")
    user.secret_question = None
    user.secret_answer_hash = None
    # Wrong answers to the old question say nothing about the next one.
    user.reset_failures = 0
    user.reset_failures_since = None
    user.reset_blocked_until = None
    audit.record("secrets.cleared", user=user, actor=actor, reason=reason)
    _notice(user, "Votre question secrète a été effacée par l'Assistance : une nouvelle "
                  "question et sa réponse vous seront demandées à votre prochaine connexion.")

