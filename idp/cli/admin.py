"""``idp habilitations|clients|keys|audit|demo ...`` (README) and the daily cron jobs
``idp notify-expiring`` and ``idp purge``.
"""

from __future__ import annotations

import functools
import json
import sys

import click
from sqlalchemy import select

from idp import audit
from idp.cli.common import ACTOR
from idp.cli.common import OneLineCommand
from idp.cli.common import OneLineGroup
from idp.cli.common import commit_and_warn
from idp.cli.common import done
from idp.cli.common import fmt
from idp.cli.common import guarded
from idp.cli.common import reason_option
from idp.clock import utcnow
from idp.exceptions import InvalidInput
from idp.extensions import db
from idp.models import Client
from idp.models import Habilitation
from idp.oidc import keys as signing_keys
from idp.oidc import registration as client_services
from idp.security.expiry import send_expiry_reminders
from idp.security.purge import purge as purge_expired
from idp.settings import settings
from idp.validation import parse_date
from idp.validation import parse_habilitation

habilitations = OneLineGroup("habilitations", help="Habilitations (droits d'accès aux modules).")
clients = OneLineGroup("clients", help="Modules clients OpenID Connect.")
audit_group = OneLineGroup("audit", help="Journal d'audit.")
demo = OneLineGroup("demo", help="Données de démonstration (développement et tests).")
keys = OneLineGroup("keys", help="Clés de signature des jetons OpenID Connect.")


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
    done(f"Habilitation {code} créée.")


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
@click.option("--pkce-optional", is_flag=True,
              help="Legacy modules only: authorization requests may come without PKCE.")
@guarded
def clients_create(client_id, name, redirect_uris, habilitation, public, post_logout,
                   backchannel_logout_uri, skip_consent, auth_method, jwks_uri, jwks_file,
                   id_token_alg, signed_userinfo, client_uri, pkce_optional):
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
        pkce_optional=pkce_optional,
    ), actor=ACTOR)
    summary = (f"Client {client.client_id} enregistré ({client.token_endpoint_auth_method}, "
               f"{_pkce_label(client)}).")
    if not secret:
        done(summary)
        return
    commit_and_warn()
    # The secret alone on stdout, for a script (SECRET=$(idp clients create ...)) or a
    # secret store; what a person reads goes to stderr, with the logs (docs/deployment.md).
    click.echo(summary, err=True)
    click.echo("Secret du client ci-dessous, affiché une seule fois "
               "(sur la sortie standard) :", err=True)
    click.echo(secret)


@clients.command("list")
@guarded
def clients_list():
    """List the modules: authentication method, state, PKCE."""
    for row in db.session.execute(select(Client).order_by(Client.client_id)).scalars():
        state = "actif" if row.is_active else "désactivé"
        click.echo(f"{row.client_id}\t{row.name}\t{row.token_endpoint_auth_method}\t"
                   f"{state}\t{_pkce_label(row)}")


def _pkce_label(client) -> str:
    return "PKCE facultatif" if client.pkce_optional else "PKCE obligatoire"


def _on_client(name: str):
    """A ``clients`` subcommand acting on the module CLIENT_ID, with a --reason."""

    def decorate(action):
        @clients.command(name)
        @click.argument("client_id")
        @reason_option
        @guarded
        @functools.wraps(action)
        def command(client_id, reason):
            action(client_services.get_client(client_id), reason)

        return command

    return decorate


@_on_client("disable")
def clients_disable(client, reason):
    """Disable a module: no more logins or tokens for it; its tokens are revoked."""
    revoked = client_services.disable_client(client, actor=ACTOR, reason=reason, now=utcnow())
    done(f"Client {client.client_id} désactivé ({revoked} jeton(s) révoqué(s)).")


@_on_client("enable")
def clients_enable(client, reason):
    """Enable a disabled module again."""
    client_services.enable_client(client, actor=ACTOR, reason=reason)
    done(f"Client {client.client_id} réactivé.")


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
    """Check the sealed chain; names the first edited or missing row, reports the unsealed tail."""
    broken = audit.verify_chain()
    tail = audit.unsealed()
    if broken is not None:
        if broken.problem == "edited":
            click.echo(f"Journal d'audit altéré : ligne {broken.row_id} modifiée.", err=True)
        else:
            click.echo(f"Journal d'audit altéré : maillon n° {broken.seal_seq} manquant "
                       f"(ligne supprimée avant la ligne {broken.row_id}).", err=True)
        sys.exit(1)
    click.echo("Journal d'audit intègre.")
    if tail.count:
        age = max(0, int((utcnow() - tail.oldest_at).total_seconds()))
        click.echo(f"{tail.count} ligne(s) pas encore scellée(s), la plus ancienne "
                   f"depuis {age} s (vérifiées une fois scellées).")


@audit_group.command("seal")
@guarded
def audit_seal():
    """Chain the audit rows written since the last sealing (cron, when no web process seals)."""
    db.session.commit()  # end the command's own transaction: seal() runs its own
    sealed = audit.seal()
    if sealed is None:
        done("Scellement déjà en cours ailleurs : rien à faire ici.")
        return
    done(f"{sealed} ligne(s) scellée(s).")


@demo.command("seed")
@click.option("--users", "bench_users", default=0, type=click.IntRange(0, 1_000_000))
@guarded
def demo_seed(bench_users):
    """Create the demo module, one account per state, and N bench accounts."""

    from idp import demo as demo_data

    if settings().env == "production":
        raise InvalidInput("idp demo seed est refusé en production")
    accounts, added = demo_data.seed(utcnow(), bench_users)
    commit_and_warn()
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
    done(f"Nouvelle clé {alg} : {new.kid} ({len(retired)} clé(s) retirée(s)).")


@keys.command("list")
@guarded
def keys_list():
    """List the signing keys and their state."""
    now = utcnow()
    for row in signing_keys.all_rows():
        if row.retired_at is None:
            state = "active"
        elif row.not_after and row.not_after > now:
            state = f"retirée, publiée jusqu'au {fmt(row.not_after)}"
        else:
            state = "retirée, plus publiée"
        click.echo(f"{row.kid}\t{row.alg}\tcréée le {fmt(row.created_at)}\t{state}")


@click.command("notify-expiring", cls=OneLineCommand)
@guarded
def notify_expiring():
    """Mail the reminders 15, 7 and 1 days before passwords expire (daily cron)."""
    sent = send_expiry_reminders(utcnow())
    done(f"{sent} rappel(s) envoyé(s).")


@click.command("purge", cls=OneLineCommand)
@guarded
def purge():
    """Delete the expired codes, tokens, sessions... that serve no more purpose (daily cron)."""
    counts = purge_expired(utcnow())
    done(f"Purge terminée : {counts['codes']} codes, {counts['grants']} jetons, "
         f"{counts['assertions']} assertions, {counts['login_flows']} étapes de connexion, "
         f"{counts['challenges']} défis, {counts['sessions']} sessions, "
         f"{counts['throttles']} compteurs.")
