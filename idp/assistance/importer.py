"""Bulk account creation from CSV (``idp users import``, the console's import).

Columns: login, email, given_name, family_name, siret (optional),
habilitations (optional, ``CODE[:PROFILE]`` separated by ``|``). Each line is
checked and created in its own savepoint: a bad line is reported and leaves
nothing behind; good lines are created with their two welcome mails.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from flask import g

from idp.assistance import services
from idp.assistance.validation import InvalidInput
from idp.assistance.validation import parse_habilitation
from idp.extensions import db

REQUIRED_COLUMNS = ("login", "email", "given_name", "family_name")
MAX_LINES = 10000


@dataclass
class LineResult:
    line: int
    login: str
    created: bool
    error: str | None = None


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


def import_users(text: str, *, actor: str, reason: str, now: datetime) -> list[LineResult]:
    results = []
    for line, row in read_rows(text):
        login = row.get("login", "")
        queued = len(mail_queue())
        savepoint = db.session.begin_nested()
        try:
            services.create_user(_account(row), actor=actor, reason=reason, now=now)
            savepoint.commit()
        except InvalidInput as error:
            savepoint.rollback()
            del mail_queue()[queued:]
            results.append(LineResult(line, login, False, str(error)))
        else:
            results.append(LineResult(line, login, True))
    return results


def mail_queue() -> list:
    """The mails queued by this unit of work (a refused line drops its own)."""
    return g.setdefault("_outbox", [])
