"""Bulk account creation from CSV (``idp users import``, the console's import).

Columns: login, email, given_name, family_name, siret (optional),
habilitations (optional, ``CODE[:PROFILE]`` separated by ``|``).

Each line is its own short transaction, committed before the next line
starts: writing an audit row serialises writers (``idp.audit``), so one
transaction for the whole file would hold every login for as long as the file
takes. The provisional password of a line is hashed before its transaction
opens, so the lock is held for a few inserts only. A refused line is reported
and leaves nothing behind; the lines before it stay created, their two
welcome mails sent.

The next lines are created while the welcome mails of the previous ones leave
(idp.mail's delivery threads): each line is reported, in order, once its mails
are delivered or have failed, so a failed mail is reported on its line.
"""

from __future__ import annotations

import collections
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from idp import mail
from idp.assistance import permissions
from idp.assistance import services
from idp.database import commit
from idp.database import rollback
from idp.exceptions import InvalidInput
from idp.security import provisional
from idp.validation import parse_habilitation

REQUIRED_COLUMNS = ("login", "email", "given_name", "family_name")
MAX_LINES = 10000
# Created lines whose mails may still be leaving while the next ones are created.
MAILING_WINDOW = 16


@dataclass
class LineResult:
    line: int
    login: str
    created: bool
    error: str | None = None
    # Welcome mails of this line the mail server refused.
    failed_mails: int = 0


def read_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    """Parse the CSV (comma or semicolon); raises InvalidInput on a bad header."""
    sample = text[:2048]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise InvalidInput(f"colonnes manquantes dans l'en-tête : {', '.join(missing)}")
    reader.fieldnames = header
    rows = []
    for row in reader:
        if len(rows) >= MAX_LINES:
            raise InvalidInput(f"fichier trop long : {MAX_LINES} lignes au plus")
        rows.append((reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}))
    return rows


def _account(row: dict[str, str]) -> services.NewAccount:
    habilitations = tuple(
        parse_habilitation(item) for item in row.get("habilitations", "").split("|") if item.strip()
    )
    return services.NewAccount(
        login=row["login"], email=row["email"], given_name=row["given_name"],
        family_name=row["family_name"], siret=row.get("siret") or None,
        habilitations=habilitations,
    )


def import_users(text: str, *, actor: str, reason: str, now: datetime,
                 progress: Callable[[LineResult, int, int], None] | None = None,
                 ) -> list[LineResult]:
    """Create the accounts line by line; ``progress(result, done, total)`` after each.

    Raises InvalidInput on a bad file (nothing created) and lets a database
    error through (the lines before it stay created).
    """
    rows = read_rows(text)
    # End the caller's transaction too (the console's guard read the operator):
    # on SQLite any transaction holds the write lock (idp.database).
    commit()
    results: list[LineResult] = []
    mailing: collections.deque[tuple[LineResult, list[mail.Delivery]]] = collections.deque()

    def report_ready(everything: bool = False) -> None:
        """Report the oldest lines whose mails are settled (all of them at the end)."""
        while mailing and (everything or len(mailing) > MAILING_WINDOW
                           or all(d.done.is_set() for d in mailing[0][1])):
            result, deliveries = mailing.popleft()
            result.failed_mails = mail.failed(deliveries)
            results.append(result)
            if progress is not None:
                progress(result, len(results), len(rows))

    try:
        for line, row in rows:
            mailing.append(_import_line(line, row, actor=actor, reason=reason, now=now))
            report_ready()
    finally:
        report_ready(everything=True)  # a database error too: what was created is said
    return results


def _import_line(line: int, row: dict[str, str], *, actor: str, reason: str,
                 now: datetime) -> tuple[LineResult, list[mail.Delivery]]:
    """One line in one transaction, committed (its mails handed over) before returning."""
    login = row.get("login", "")
    # Hashed outside any transaction: the slow part never holds the write lock.
    ready = provisional.Provisional.new()
    try:
        services.create_user(_account(row), actor=actor, reason=reason, now=now,
                             ready=ready)
    except permissions.OperatorNotAllowed as refused:
        rollback()
        permissions.record_refusal(actor, "import", refused, login=login)
        commit()
        return LineResult(line, login, False, str(refused)), []
    except InvalidInput as error:
        rollback()
        return LineResult(line, login, False, str(error)), []
    except SQLAlchemyError:
        rollback()
        raise
    commit()
    return LineResult(line, login, True), mail.handed_over()
