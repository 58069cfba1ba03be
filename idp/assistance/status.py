"""What the account page shows: status badges, habilitations, security history.

Read only. Nothing here may reveal a secret: no hash, no provisional password,
no secret question (the question is the user's own data, and the forgotten
password procedure relies on it staying between the user and the IdP).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from idp import clock
from idp.extensions import db
from idp.models import AuditEvent
from idp.models import User
from idp.security.password_change import expiry_of

HISTORY_SIZE = 50
# Audit details worth showing to an operator, with their French names.
SHOWN_DETAILS = {"reason": "motif", "habilitation": "habilitation", "profile": "profil",
                 "stage": "étape", "count": "sessions", "sessions_ended": "sessions fermées"}
EVENT_LABELS = {
    "login.success": "Connexion réussie",
    "login.failure": "Échec de connexion",
    "login.steps_pending": "Connexion : étapes à faire",
    "logout": "Déconnexion",
    "account.locked": "Compte verrouillé",
    "account.unlocked": "Compte déverrouillé",
    "account.created": "Compte créé",
    "account.welcome_resent": "Mails de bienvenue renvoyés",
    "account.deactivated": "Compte désactivé",
    "account.activated": "Compte réactivé",
    "password.changed": "Mot de passe changé",
    "password.reset_sent": "Mot de passe provisoire envoyé",
    "password.provisional_used": "Mot de passe provisoire utilisé",
    "password.expiry_reminder": "Rappel d'expiration envoyé",
    "secrets.set": "Question secrète enregistrée",
    "secrets.cleared": "Question secrète effacée",
    "reset.asked": "Mot de passe oublié : demande",
    "reset.answer_wrong": "Mot de passe oublié : mauvaise réponse",
    "reset.answer_ignored": "Mot de passe oublié : réponse ignorée",
    "reset.blocked": "Mot de passe oublié : bloqué",
    "reset.refused_by_counter": "Mot de passe oublié : refusé",
    "habilitation.granted": "Habilitation accordée",
    "habilitation.revoked": "Habilitation retirée",
    "habilitation.restored": "Habilitation restaurée",
    "habilitation.refused": "Accès refusé (habilitation)",
    "sessions.ended": "Sessions fermées",
    "first_connection.completed": "Première connexion terminée",
    "captcha.failure": "Captcha : échec",
    "captcha.passed": "Captcha réussi",
    "token.issued": "Jeton délivré",
    "token.revoked": "Jeton révoqué",
    "token.reuse_detected": "Réutilisation de jeton détectée",
    "authorize.code_issued": "Autorisation accordée",
    "authorize.consent_refused": "Consentement refusé",
    "authorize.code_replayed": "Code rejoué",
}
OUTCOMES = {"success": ("Réussite", "success"), "failure": ("Échec", "error"),
            "info": ("Information", "info")}


def fr_datetime(value: datetime | None) -> str:
    """« 14/03/2026 à 09:05 », in Paris time (the agency's), or « — »."""
    return "—" if value is None else clock.fr_datetime(value)


def plural(count: int, singular: str, several: str) -> str:
    """« 1 jour », « 3 jours »: French puts 0 and 1 in the singular."""
    return f"{count} {singular if count < 2 else several}"


def days_ago(moment: datetime, now: datetime) -> str:
    """« aujourd'hui », « il y a 1 jour », « il y a 12 jours »: calendar days in Paris."""
    days = (now.astimezone(clock.PARIS).date() - moment.astimezone(clock.PARIS).date()).days
    return "aujourd'hui" if days <= 0 else f"il y a {plural(days, 'jour', 'jours')}"


def lock_state(user: User, now: datetime) -> str:
    """« jusqu'au 14/03/2026 à 09:25 », or « aucun » with the failures counting towards one."""
    if user.is_locked(now):
        return f"jusqu'au {fr_datetime(user.locked_until)}"
    # A lock that is over restarts the count at the next attempt (idp.security.lockout).
    failures = 0 if user.locked_until is not None else user.failed_attempts or 0
    if not failures:
        return "aucun"
    return f"aucun ({plural(failures, 'échec', 'échecs')} de connexion à la suite)"


@dataclass
class Badge:
    label: str
    # DSFR badge kind: success, error, warning, info, new.
    kind: str


@dataclass
class HistoryRow:
    at: datetime
    event: str
    outcome: str
    outcome_kind: str
    actor: str
    ip: str
    details: str


def short_state(user: User, now: datetime) -> str:
    """One word for a search result."""
    if not user.is_active:
        return "Désactivé"
    return "Verrouillé" if user.is_locked(now) else "Actif"


def badges(user: User, now: datetime) -> list[Badge]:
    """The state of the account at a glance (docs/flows.md, « The Assistance console »)."""
    found = [Badge("Actif", "success") if user.is_active else Badge("Désactivé", "error")]
    if user.is_locked(now):
        found.append(Badge(f"Verrouillé jusqu'au {fr_datetime(user.locked_until)}", "error"))
    if user.is_provisional and user.provisional_expires_at:
        if user.provisional_expires_at > now:
            found.append(Badge("Mot de passe provisoire en cours", "warning"))
        else:
            found.append(Badge("Mot de passe provisoire expiré", "error"))
    expires = expiry_of(user)
    if expires is not None and expires <= now:
        found.append(Badge("Mot de passe expiré", "error"))
    if user.has_secrets:
        found.append(Badge("Question secrète renseignée", "success"))
    else:
        found.append(Badge("Question secrète non renseignée", "warning"))
    return found


def facts(user: User, now: datetime) -> list[tuple[str, str]]:
    """The dated details behind the badges, as (label, value) lines."""
    expires = expiry_of(user)
    changed = user.password_changed_at
    age = f" ({days_ago(changed, now)})" if changed else ""
    provisional = "aucun"
    if user.is_provisional and user.provisional_expires_at:
        provisional = f"valable jusqu'au {fr_datetime(user.provisional_expires_at)}"
    return [
        ("Verrouillage", lock_state(user, now)),
        ("Mot de passe provisoire", provisional),
        ("Mot de passe choisi le", fr_datetime(changed) + age if changed
         else "jamais (première connexion à faire)"),
        ("Mot de passe expire le", fr_datetime(expires)),
        ("Dernière connexion", fr_datetime(user.last_login_at) if user.last_login_at
         else "jamais"),
        ("Compte créé le", fr_datetime(user.created_at)),
    ]


def grant_state(grant, now: datetime) -> Badge:
    if grant.revoked_at is not None:
        return Badge(f"Retirée le {fr_datetime(grant.revoked_at)}", "error")
    if grant.starts_at is not None and grant.starts_at > now:
        return Badge("À venir", "info")
    if grant.ends_at is not None and grant.ends_at <= now:
        return Badge("Échue", "warning")
    return Badge("Valide", "success")


def _details(details: dict) -> str:
    shown = [f"{name} : {details[key]}" for key, name in SHOWN_DETAILS.items()
             if details.get(key) not in (None, "", [])]
    return " ; ".join(str(item)[:300] for item in shown)


def history(user: User, limit: int = HISTORY_SIZE) -> list[HistoryRow]:
    """The account's latest security events, newest first (index ix_audit_user_created)."""
    rows = db.session.execute(
        select(AuditEvent).where(AuditEvent.user_id == user.id)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)
    ).scalars()
    return [
        HistoryRow(
            at=row.created_at, event=EVENT_LABELS.get(row.event, row.event),
            outcome=OUTCOMES.get(row.outcome, (row.outcome, "info"))[0],
            outcome_kind=OUTCOMES.get(row.outcome, (row.outcome, "info"))[1],
            actor=row.actor or "—", ip=row.ip or "—", details=_details(row.details or {}),
        )
        for row in rows
    ]
