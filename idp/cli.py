"""The ``idp`` command group (SPEC 3.3): thin wrappers around the services.

Bad input prints one line on stderr and exits with status 2, changing nothing.
"""

from __future__ import annotations

import functools
import json
import sys

import click
from flask import Flask
from flask.cli import AppGroup
from flask.cli import FlaskGroup
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from idp import audit
from idp import mail
from idp.assistance import clients as client_services
from idp.assistance import importer
from idp.assistance import services
from idp.assistance.validation import InvalidInput
from idp.assistance.validation import parse_date
from idp.assistance.validation import parse_habilitation
from idp.clock import utcnow
from idp.database import commit
from idp.extensions import db
from idp.models import Habilitation
from idp.oidc import keys as signing_keys
from idp.security.expiry import send_expiry_reminders
from idp.security.password_change import expiry_of

ACTOR = "cli"
DEFAULT_REASON = "ligne de commande"


class CliError(click.ClickException):
    """One line on stderr, exit status 2 (SPEC 3.3)."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"Erreur : {' '.join(self.message.splitlines())}", err=True)


def _one_line(error: click.UsageError) -> CliError:
    """Click's own usage errors (usage, hint, blank line, error) as one French line."""
    hint = error.param.get_error_hint(error.ctx) if getattr(error, "param", None) else ""
    if isinstance(error, click.MissingParameter):
        message = f"paramètre manquant {hint}"
    elif isinstance(error, click.BadParameter):
        message = f"valeur invalide pour {hint} : {error.message}"
    elif isinstance(error, click.NoSuchOption):
        message = f"option inconnue {error.option_name!r}"
    elif isinstance(error, click.NoSuchCommand):
        message = f"commande inconnue {error.command_name!r}"
    else:
        message = error.format_message()
    return CliError(f"{message} (voir --help)")


class OneLineCommand(click.Command):
    """A command whose usage errors follow the one-line rule (SPEC 3.3)."""

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            raise _one_line(error) from None


class OneLineGroup(AppGroup):
    """An ``AppGroup`` of ``OneLineCommand``; an unknown subcommand is one line too."""

    command_class = OneLineCommand

    def resolve_command(self, ctx, args):
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as error:
            raise _one_line(error) from None


def _roll_back() -> None:
    """Undo the unit of work, and forget the mails it queued (they were never true)."""
    db.session.rollback()
    mail.discard()


def guarded(command):
    """Turn bad input and database failures into one line; roll back on error."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except InvalidInput as error:
            _roll_back()
            raise CliError(str(error)) from None
        except SQLAlchemyError as error:
            _roll_back()
            problem = type(error).__name__
            raise CliError(f"base de données indisponible ou invalide ({problem})") from None

    return wrapper


def _commit() -> None:
    """Commit, then send the queued mails; undelivered ones are a warning, not a failure."""
    failed = commit()
    if failed:
        click.echo(f"Attention : {failed} mail(s) n'ont pas pu être envoyés.", err=True)


def _done(message: str) -> None:
    _commit()
    click.echo(message)


users = OneLineGroup("users", help="Comptes utilisateurs.")
habilitations = OneLineGroup("habilitations", help="Habilitations (droits d'accès aux modules).")
clients = OneLineGroup("clients", help="Modules clients OpenID Connect.")
audit_group = OneLineGroup("audit", help="Journal d'audit.")
demo = OneLineGroup("demo", help="Données de démonstration (développement et tests).")
keys = OneLineGroup("keys", help="Clés de signature des jetons OpenID Connect.")

reason_option = click.option("--reason", default=DEFAULT_REASON, show_default=True,
                             help="Motif enregistré dans le journal d'audit.")


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
    _done(f"Compte {user.login} créé ; les deux mails de bienvenue sont envoyés à {user.email}.")


def _user_action(name: str, action, message: str, help_text: str):
    @users.command(name, help=help_text)
    @click.argument("login")
    @reason_option
    @guarded
    def command(login, reason):
        user = services.get_user(login)
        action(user, actor=ACTOR, reason=reason, now=utcnow())
        _done(message.format(login=user.login))

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
    _done(f"Habilitation {code} accordée à {user.login}.")


@users.command("revoke")
@click.argument("login")
@click.argument("code")
@reason_option
@guarded
def users_revoke(login, code, reason):
    """Revoke a habilitation."""
    user = services.get_user(login)
    services.revoke_habilitation(user, code.lower(), actor=ACTOR, reason=reason, now=utcnow())
    _done(f"Habilitation {code} retirée à {user.login}.")


@users.command("restore")
@click.argument("login")
@click.argument("code")
@reason_option
@guarded
def users_restore(login, code, reason):
    """Restore a revoked habilitation."""
    user = services.get_user(login)
    services.restore_habilitation(user, code.lower(), actor=ACTOR, reason=reason, now=utcnow())
    _done(f"Habilitation {code} rendue à {user.login}.")


def _fmt(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


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
        f"Verrouillé jusqu'à : {_fmt(user.locked_until) if user.is_locked(now) else '-'}",
        "Mot de passe provisoire : "
        + (f"oui, expire {_fmt(user.provisional_expires_at)}" if user.is_provisional else "non"),
        f"Secrets renseignés : {'oui' if user.has_secrets else 'non'}",
        f"Mot de passe changé le : {_fmt(user.password_changed_at)}",
        f"Mot de passe expire le : {_fmt(expiry_of(user))}",
        f"Dernière connexion : {_fmt(user.last_login_at)}",
    ]
    for grant in user.grants:
        state = "valide" if grant.is_valid(now) else (
            "retirée" if grant.revoked_at else "hors dates"
        )
        lines.append(
            f"Habilitation : {grant.habilitation.code}:{grant.profile} ({state}, "
            f"du {_fmt(grant.starts_at)} au {_fmt(grant.ends_at)})"
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
    results = importer.import_users(text, actor=ACTOR, reason=reason, now=utcnow())
    _commit()
    for result in results:
        if result.created:
            click.echo(f"ligne {result.line} : {result.login} créé")
        else:
            click.echo(f"ligne {result.line} : refusée : {result.error}", err=True)
    created = sum(r.created for r in results)
    click.echo(f"{created} compte(s) créé(s), {len(results) - created} ligne(s) refusée(s).")
    if created < len(results):
        sys.exit(2)


@habilitations.command("create")
@click.argument("code")
@click.option("--label", required=True)
@guarded
def habilitations_create(code, label):
    """Create a habilitation."""
    code, _ = parse_habilitation(code)
    if db.session.execute(select(Habilitation).where(Habilitation.code == code)).first():
        raise InvalidInput(f"l'habilitation « {code} » existe déjà")
    if not label.strip() or len(label) > 200:
        raise InvalidInput("libellé invalide")
    db.session.add(Habilitation(code=code, label=label.strip()))
    audit.record("habilitation.created", actor=ACTOR, habilitation=code)
    _done(f"Habilitation {code} créée.")


@habilitations.command("list")
@guarded
def habilitations_list():
    """List the habilitations."""
    for row in db.session.execute(select(Habilitation).order_by(Habilitation.code)).scalars():
        click.echo(f"{row.code}\t{row.label}")


@clients.command("create")
@click.argument("client_id")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--habilitation", required=True)
@click.option("--public", is_flag=True)
@click.option("--post-logout-redirect-uri", "post_logout", multiple=True)
@click.option("--backchannel-logout-uri", default=None)
@click.option("--skip-consent", is_flag=True)
@click.option("--auth-method", default=None,
              type=click.Choice(client_services.AUTH_METHODS))
@click.option("--jwks-uri", default=None)
@click.option("--jwks", "jwks_file", default=None)
@click.option("--id-token-alg", default="RS256", type=click.Choice(["RS256", "ES256"]))
@click.option("--signed-userinfo", is_flag=True)
@click.option("--client-uri", default=None, help="Home page of the module.")
@guarded
def clients_create(client_id, name, redirect_uris, habilitation, public, post_logout,
                   backchannel_logout_uri, skip_consent, auth_method, jwks_uri, jwks_file,
                   id_token_alg, signed_userinfo, client_uri):
    """Register a module; prints its secret once."""
    if jwks_uri and jwks_file:
        raise InvalidInput("--jwks-uri et --jwks s'excluent")
    client, secret = client_services.create_client(client_services.NewClient(
        client_id=client_id, name=name, redirect_uris=list(redirect_uris),
        habilitation=habilitation.lower(), is_public=public,
        post_logout_redirect_uris=list(post_logout),
        backchannel_logout_uri=backchannel_logout_uri, skip_consent=skip_consent,
        auth_method=auth_method, jwks_uri=jwks_uri, jwks_file=jwks_file,
        id_token_alg=id_token_alg, signed_userinfo=signed_userinfo, client_uri=client_uri,
    ), actor=ACTOR)
    _done(f"Client {client.client_id} enregistré ({client.token_endpoint_auth_method}).")
    if secret:
        click.echo(f"Secret du client (affiché une seule fois) : {secret}")


@audit_group.command("export")
@click.option("--since", default=None, help="AAAA-MM-JJ")
@click.option("--login", default=None)
@guarded
def audit_export(since, login):
    """Print the audit trail as JSON lines."""
    for entry in audit.export(parse_date(since, "--since"), login):
        click.echo(json.dumps(entry, ensure_ascii=False))


@audit_group.command("verify")
@guarded
def audit_verify():
    """Check the hash chain; names the first edited or missing row."""
    broken = audit.verify_chain()
    if broken is None:
        click.echo("Journal d'audit intègre.")
        return
    what = "modifiée" if broken.problem == "edited" else "manquante"
    click.echo(f"Journal d'audit altéré : ligne {broken.row_id} {what}.", err=True)
    sys.exit(1)


@demo.command("seed")
@click.option("--users", "bench_users", default=0, type=click.IntRange(0, 1_000_000))
@guarded
def demo_seed(bench_users):
    """Create the demo module, one account per state, and N bench accounts."""
    from flask import current_app

    from idp import demo as demo_data

    if current_app.config["ENV_NAME"] == "production":
        raise InvalidInput("idp demo seed est refusé en production")
    accounts, added = demo_data.seed(utcnow(), bench_users)
    _commit()
    click.echo("Comptes de démonstration :")
    for account in accounts:
        click.echo(f"  {account.login:<18} {account.state:<28} mot de passe : {account.password}")
    if bench_users:
        click.echo(f"Comptes bench-00001 à bench-{bench_users:05d} ({added} ajoutés), "
                   f"mot de passe commun : {demo_data.BENCH_PASSWORD}")


@keys.command("rotate")
@click.option("--alg", default=signing_keys.DEFAULT_ALG, show_default=True,
              type=click.Choice(signing_keys.ALGORITHMS))
@guarded
def keys_rotate(alg):
    """Create a new signing key; the previous one stays published until its tokens end."""
    now = utcnow()
    new, retired = signing_keys.rotate(alg, now)
    for row in retired:
        audit.record("key.retired", actor=ACTOR, kid=row.kid, alg=row.alg)
    audit.record("key.created", actor=ACTOR, kid=new.kid, alg=new.alg)
    _done(f"Nouvelle clé {alg} : {new.kid} ({len(retired)} clé(s) retirée(s)).")


@keys.command("list")
@guarded
def keys_list():
    """List the signing keys and their state."""
    now = utcnow()
    for row in signing_keys.all_rows():
        if row.retired_at is None:
            state = "active"
        elif row.not_after and row.not_after > now:
            state = f"retirée, publiée jusqu'au {_fmt(row.not_after)}"
        else:
            state = "retirée, plus publiée"
        click.echo(f"{row.kid}\t{row.alg}\tcréée le {_fmt(row.created_at)}\t{state}")


@click.command("notify-expiring", cls=OneLineCommand)
@guarded
def notify_expiring():
    """Mail the reminders 15, 7 and 1 days before passwords expire (daily cron)."""
    sent = send_expiry_reminders(utcnow())
    _done(f"{sent} rappel(s) envoyé(s).")


def init_app(app: Flask) -> None:
    for group in (users, habilitations, clients, audit_group, demo, keys, notify_expiring):
        app.cli.add_command(group)


def _create_app():
    from config import ConfigError
    from idp import create_app

    try:
        return create_app()
    except ConfigError as error:
        # SPEC 3.2: production refuses to start, in one line. SystemExit passes
        # through Flask's group, which would print a traceback for an Exception
        # (``idp --help``) or turn it into "no such command".
        click.echo(f"Erreur de configuration : {error}", err=True)
        sys.exit(2)


def main() -> None:
    """Console script ``idp``."""
    cli = FlaskGroup(create_app=_create_app, help="BonusEco IdP : administration.")
    cli.main(prog_name="idp")
