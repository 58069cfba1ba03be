"""``idp users ...``: the Assistance's account actions on the command line (README).

Each command calls the same service as the console (idp.assistance.services).
"""

from __future__ import annotations

import sys

import click

from idp.assistance import importer
from idp.assistance import services
from idp.assistance.status import plural
from idp.cli.common import ACTOR
from idp.cli.common import OneLineGroup
from idp.cli.common import done
from idp.cli.common import fmt
from idp.cli.common import guarded
from idp.cli.common import reason_option
from idp.clock import utcnow
from idp.exceptions import InvalidInput
from idp.security.password_change import expiry_of
from idp.validation import parse_date
from idp.validation import parse_habilitation

users = OneLineGroup("users", help="Comptes utilisateurs.")


@users.command("create")
@click.argument("login")
@click.option("--email", required=True)
@click.option("--given-name", required=True)
@click.option("--family-name", required=True)
@click.option("--siret", default=None)
@click.option("--habilitation", "habilitation_specs", multiple=True, metavar="CODE[:PROFILE]")
@reason_option
@guarded
def users_create(login, email, given_name, family_name, siret, habilitation_specs, reason):
    """Create an account and send the two welcome mails."""
    data = services.NewAccount(
        login=login, email=email, given_name=given_name, family_name=family_name, siret=siret,
        habilitations=tuple(parse_habilitation(spec) for spec in habilitation_specs),
    )
    user = services.create_user(data, actor=ACTOR, reason=reason, now=utcnow())
    done(f"Compte {user.login} créé ; les deux mails de bienvenue sont envoyés à {user.email}.")


def _user_action(name: str, action, message: str, help_text: str):
    @users.command(name, help=help_text)
    @click.argument("login")
    @reason_option
    @guarded
    def command(login, reason):
        user = services.get_user(login)
        action(user, actor=ACTOR, reason=reason, now=utcnow())
        done(message.format(login=user.login))

    return command


_user_action("reset-password", services.reset_password,
             "Nouveau mot de passe provisoire envoyé par mail à {login}.",
             "Mail a new provisional password.")
_user_action("unlock", services.unlock_account, "Compte {login} déverrouillé.", "Unlock.")
_user_action("deactivate", services.deactivate_user, "Compte {login} désactivé.", "Deactivate.")
_user_action("activate", services.activate_user, "Compte {login} réactivé.", "Reactivate.")
_user_action("resend-welcome", services.resend_welcome,
             "Mails de bienvenue renvoyés à {login}.", "Resend the welcome mails.")
_user_action("end-sessions", services.end_sessions,
             "Sessions de {login} fermées.", "End every session of the account.")
_user_action("clear-secrets", services.clear_secrets,
             "Question secrète de {login} effacée ; elle sera demandée à la prochaine connexion.",
             "Clear the secret question (asked again at next login).")


@users.command("grant")
@click.argument("login")
@click.argument("spec", metavar="CODE[:PROFILE]")
@click.option("--start", default=None, help="AAAA-MM-JJ")
@click.option("--end", default=None, help="AAAA-MM-JJ")
@reason_option
@guarded
def users_grant(login, spec, start, end, reason):
    """Grant a habilitation (with an optional profile and dates)."""
    code, profile = parse_habilitation(spec)
    user = services.get_user(login)
    services.grant_habilitation(
        user, code, profile, actor=ACTOR, reason=reason, now=utcnow(),
        starts_at=parse_date(start, "date de début"), ends_at=parse_date(end, "date de fin"),
    )
    done(f"Habilitation {code} accordée à {user.login}.")


def _habilitation_action(name: str, action, message: str, help_text: str):
    @users.command(name, help=help_text)
    @click.argument("login")
    @click.argument("code")
    @reason_option
    @guarded
    def command(login, code, reason):
        user = services.get_user(login)
        action(user, code.lower(), actor=ACTOR, reason=reason, now=utcnow())
        done(message.format(code=code, login=user.login))

    return command


_habilitation_action("revoke", services.revoke_habilitation,
                     "Habilitation {code} retirée à {login}.", "Revoke a habilitation.")
_habilitation_action("restore", services.restore_habilitation,
                     "Habilitation {code} rendue à {login}.", "Restore a revoked habilitation.")


@users.command("show")
@click.argument("login")
@guarded
def users_show(login):
    """Print an account's status and habilitations."""
    user = services.get_user(login)
    now = utcnow()
    lines = [
        f"Identifiant : {user.login}",
        f"Nom : {user.display_name}",
        f"Mail : {user.email}",
        f"SIRET : {user.siret or '-'}",
        f"Actif : {'oui' if user.is_active else 'non'}",
        f"Verrouillé jusqu'à : {fmt(user.locked_until) if user.is_locked(now) else '-'}",
        "Mot de passe provisoire : "
        + (f"oui, expire {fmt(user.provisional_expires_at)}" if user.is_provisional else "non"),
        f"Secrets renseignés : {'oui' if user.has_secrets else 'non'}",
        f"Mot de passe changé le : {fmt(user.password_changed_at)}",
        f"Mot de passe expire le : {fmt(expiry_of(user))}",
        f"Dernière connexion : {fmt(user.last_login_at)}",
    ]
    for grant in user.grants:
        state = "valide" if grant.is_valid(now) else (
            "retirée" if grant.revoked_at else "hors dates"
        )
        lines.append(
            f"Habilitation : {grant.habilitation.code}:{grant.profile} ({state}, "
            f"du {fmt(grant.starts_at)} au {fmt(grant.ends_at)})"
        )
    click.echo("\n".join(lines))


@users.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@reason_option
@guarded
def users_import(path, reason):
    """Create many accounts from a CSV file; bad lines are reported and skipped."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"fichier illisible « {path} » ({type(error).__name__})") from None
    results = importer.import_users(text, actor=ACTOR, reason=reason, now=utcnow(),
                                    progress=_print_progress)
    created = sum(r.created for r in results)
    click.echo(f"{plural(created, 'compte créé', 'comptes créés')}, "
               f"{plural(len(results) - created, 'ligne refusée', 'lignes refusées')}.")
    if created < len(results):
        sys.exit(2)


def _print_progress(result: importer.LineResult, done_so_far: int, total: int) -> None:
    """One line per CSV line as soon as it is done: created on stdout, refused on stderr."""
    prefix = f"[{done_so_far}/{total}] ligne {result.line} : "
    if result.created:
        click.echo(f"{prefix}{result.login} créé")
    else:
        click.echo(f"{prefix}refusée : {result.error}", err=True)
    if result.failed_mails:
        click.echo(f"Attention : ligne {result.line} ({result.login}) : {result.failed_mails} "
                   "mail(s) n'ont pas pu être envoyés.", err=True)
