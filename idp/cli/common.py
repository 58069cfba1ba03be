"""What every ``idp`` command shares: one-line errors, rollback, commit then mail.

Bad input prints one line on stderr and exits with status 2, changing nothing
(README, « Command line »).
"""

from __future__ import annotations

import contextlib
import functools

import click
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from idp import mail
from idp.database import commit
from idp.database import rollback
from idp.exceptions import IdpError

ACTOR = "cli"
DEFAULT_REASON = "ligne de commande"


class CliError(click.ClickException):
    """One line on stderr, exit status 2."""

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


@contextlib.contextmanager
def _usage_errors_in_one_line():
    try:
        yield
    except click.UsageError as error:
        raise _one_line(error) from None


class OneLineCommand(click.Command):
    """A command whose usage errors follow the one-line rule."""

    def parse_args(self, ctx, args):
        with _usage_errors_in_one_line():
            return super().parse_args(ctx, args)


class OneLineGroup(AppGroup):
    """An ``AppGroup`` of ``OneLineCommand``; an unknown subcommand is one line too."""

    command_class = OneLineCommand

    def resolve_command(self, ctx, args):
        with _usage_errors_in_one_line():
            return super().resolve_command(ctx, args)


def guarded(command):
    """Turn refusals (``IdpError``) and database failures into one line; roll back."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except IdpError as error:
            rollback()
            raise CliError(str(error)) from None
        except SQLAlchemyError as error:
            rollback()
            problem = type(error).__name__
            raise CliError(f"base de données indisponible ou invalide ({problem})") from None

    return wrapper


def commit_and_warn() -> None:
    """Commit, then send the queued mails; undelivered ones are a warning, not a failure."""
    commit()
    failed = mail.undelivered()
    if failed:
        click.echo(f"Attention : {failed} mail(s) n'ont pas pu être envoyés.", err=True)


def done(message: str) -> None:
    commit_and_warn()
    click.echo(message)


reason_option = click.option("--reason", default=DEFAULT_REASON, show_default=True,
                             help="Motif enregistré dans le journal d'audit.")


def fmt(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"
