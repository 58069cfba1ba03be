"""Seed a bench database fast: N accounts and M audit rows, on SQLite or PostgreSQL.

    .venv/bin/python bench/seed.py --url postgresql+psycopg://127.0.0.1/idp_bench \\
        --accounts 1000000 --audit 10000000

The schema comes from the migrations (``idp db upgrade``) and the demo data from
``idp demo seed`` (the clients demo-module and demo-module-2, demo.assistance...).
The bench accounts are those of ``idp.demo.seed_bench_users`` (bench-00001...,
BENCH_PASSWORD under one shared argon2id hash, the secret question set, the
``bonuseco`` habilitation), but written by one ``INSERT ... SELECT`` over
``generate_series`` (PostgreSQL) or a recursive CTE (SQLite), with the tables'
secondary indexes dropped during the load and rebuilt after it.

The audit rows are synthetic: plausible events spread over a year, but their
``hash`` and ``prev_hash`` are counters, not SHA-256 of their content (chaining
10,000,000 SHA-256 in order would cost more than the rest of the bench).
They are sealed (``seal_seq`` 1..M), so the sealer does not chain them again.
``idp audit verify`` is therefore NOT expected to pass on a bench database; the
rows the IdP writes during the bench chain onto the last synthetic one normally.

A seeded database is kept and reused when it matches (accounts, audit rows,
migration head): ``prepare()`` only clears what the previous run left (sessions,
codes, tokens, login flows, audit rows past the seed), so that every run starts
from the same state. demo-module signs its ID tokens with RS256, demo-module-2
with ES256.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
from sqlalchemy import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# One fixed key: client secrets and identifiers are stored keyed by it (IDP_SECRET_KEY),
# so the seeding process and the benchmarked server must share it. Bench only.
BENCH_SECRET_KEY = "bench-secret-key-not-for-production-7f3a9c2e51d84b06"  # noqa: S105
AUDIT_SPAN = timedelta(days=365)
VOLATILE_TABLES = ("tokens", "authorization_codes", "used_client_assertions", "login_flows",
                   "user_sessions", "challenges", "login_throttles", "password_history")


def app_environ(url: str, issuer: str = "http://127.0.0.1:5000") -> dict[str, str]:
    """The IDP_* environment of the bench, for the seeding process and the server alike."""
    return {
        "IDP_ENV": "testing", "IDP_DATABASE_URL": url, "IDP_ISSUER": issuer,
        "IDP_SECRET_KEY": BENCH_SECRET_KEY, "IDP_PASSWORD_HASH_PROFILE": "owasp-minimum",
        # Every request of the bench comes from 127.0.0.1: the limits stay on (their
        # cost is part of the figures) but far above what the bench sends.
        "IDP_RATELIMIT_LOGIN": "1000000/minute", "IDP_RATELIMIT_LOGIN_IDENTIFIER": "1000000/minute",
        "IDP_RATELIMIT_TOKEN": "1000000/minute", "IDP_RATELIMIT_FORGOT_PASSWORD": "1000/minute",
        "IDP_MAIL_SERVER": "",
    }


def _number(dialect: str, column: str) -> str:
    """SQL for Python's f"{n:05d}" (at least five digits)."""
    if dialect == "sqlite":
        return f"printf('%05d', {column})"
    return f"CASE WHEN {column} < 100000 THEN lpad({column}::text, 5, '0') ELSE {column}::text END"


def _series(dialect: str, count: int) -> str:
    """A row source ``s(n)`` for n = 1..count."""
    if dialect == "sqlite":
        return (f"(WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c "  # noqa: S608 (integers and constant SQL; values are bound)
                f"WHERE n < {int(count)}) SELECT n FROM c) AS s")
    return f"generate_series(1::bigint, {int(count)}) AS s(n)"


class Loader:
    """A raw DB-API connection with the dialect's SQL spelled out (no ORM: speed)."""

    def __init__(self, url: str):
        parsed = make_url(url)
        self.dialect = "sqlite" if parsed.drivername.startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite":
            self.conn = sqlite3.connect(parsed.database, isolation_level=None)
            for pragma in ("journal_mode=DELETE", "synchronous=OFF", "cache_size=-400000",
                           "temp_store=MEMORY"):
                self.conn.execute(f"PRAGMA {pragma}")
            self.conn.execute("BEGIN")
        else:
            self.conn = psycopg.connect(_libpq(url))
            self.conn.execute("SET synchronous_commit = off")
            self.conn.execute("SET maintenance_work_mem = '512MB'")

    def execute(self, sql: str, params: tuple = ()):
        if self.dialect == "postgresql":
            # psycopg's placeholders are %s, and a literal % (LIKE, modulo) is %%.
            sql = sql.replace("%", "%%").replace("?", "%s")
        return self.conn.execute(sql, params)

    def scalar(self, sql: str, params: tuple = ()):
        row = self.execute(sql, params).fetchone()
        return row[0] if row else None

    def secondary_indexes(self, table: str) -> list[tuple[str, str]]:
        """(name, CREATE statement) of the table's plain indexes (not PK/unique constraints)."""
        if self.dialect == "sqlite":
            rows = self.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                                "AND tbl_name = ? AND sql IS NOT NULL", (table,)).fetchall()
        else:
            rows = self.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ? "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
                (table,)).fetchall()
        return [(name, sql) for name, sql in rows if "UNIQUE" not in sql.upper()]

    def commit(self) -> None:
        if self.dialect == "sqlite":
            self.conn.execute("COMMIT")
            self.conn.execute("BEGIN")
        else:
            self.conn.commit()

    def close(self) -> None:
        self.commit()
        if self.dialect == "sqlite":
            self.conn.execute("COMMIT")
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.close()


def _libpq(url: str) -> str:
    """postgresql+psycopg://... as a plain libpq URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _without_indexes(loader: Loader, table: str, load) -> None:
    """Run ``load()`` with the table's secondary indexes dropped, then rebuild them."""
    indexes = loader.secondary_indexes(table)
    for name, _sql in indexes:
        loader.execute(f'DROP INDEX "{name}"')
    load()
    for _name, sql in indexes:
        loader.execute(sql)


def insert_accounts(loader: Loader, count: int, password_hash: str, answer_hash: str,
                    question: str, habilitation_id: int, now) -> None:
    number = _number(loader.dialect, "n")
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    false = "0" if loader.dialect == "sqlite" else "false"
    true = "1" if loader.dialect == "sqlite" else "true"
    cast = "" if loader.dialect == "sqlite" else "::timestamp"

    def load() -> None:
        loader.execute(f"""
            INSERT INTO users (subject, login, email, given_name, family_name, password_hash,
                password_changed_at, is_provisional, failed_attempts, secret_question,
                secret_answer_hash, is_active, reset_failures, created_at, name_key, email_key,
                first_connection_completed_at)
            SELECT 'bench-sub-' || {number}, 'bench-' || {number},
                'bench-' || {number} || '@bench.bonuseco.test', 'Banc', 'Essai ' || {number},
                ?, ?{cast}, {false}, 0, ?, ?, {true}, 0, ?{cast},
                'essai ' || {number} || ' banc', 'bench-' || {number} || '@bench.bonuseco.test',
                ?{cast}
            FROM {_series(loader.dialect, count)}""",  # noqa: S608 (ints, constant SQL)
                       (password_hash, stamp, question, answer_hash, stamp, stamp))
    _without_indexes(loader, "users", load)
    loader.execute(f"""
        INSERT INTO habilitation_grants (user_id, habilitation_id, profile, granted_by, granted_at)
        SELECT id, ?, 'bench', 'demo', ?{cast} FROM users WHERE login LIKE 'bench-%'""",  # noqa: S608 (ints, constant SQL)
                   (habilitation_id, stamp))


def insert_audit(loader: Loader, count: int, accounts: int, first_user_id: int, now) -> None:
    """Synthetic audit rows (see the module docstring): counters for hashes."""
    start = now - AUDIT_SPAN
    step = max(1, int(AUDIT_SPAN.total_seconds() // max(count, 1)))
    stamp = start.strftime("%Y-%m-%d %H:%M:%S")
    user = f"(1 + (n * 7919) % {max(accounts, 1)})"
    number = _number(loader.dialect, user)
    if loader.dialect == "sqlite":
        created = f"datetime(?, '+' || (n * {step}) || ' seconds')"
        hex_of = "printf('%064x', {})".format
        ip = "'10.' || (n % 250) || '.' || (n / 250 % 250) || '.' || (n % 7)"
    else:
        created = f"?::timestamp + make_interval(secs => n * {step})"
        hex_of = "lpad(to_hex({}), 64, '0')".format
        ip = "'10.' || (n % 250) || '.' || (n / 250 % 250) || '.' || (n % 7)"
    events = ("CASE n % 5 WHEN 0 THEN 'login.failure' WHEN 1 THEN 'token.issued' "
              "ELSE 'login.success' END")
    outcome = "CASE n % 5 WHEN 0 THEN 'failure' ELSE 'success' END"

    def load() -> None:
        loader.execute(f"""
            INSERT INTO audit_events (created_at, event, outcome, login, user_id, ip, client_id,
                actor, details, seal_seq, prev_hash, hash)
            SELECT {created}, {events}, {outcome}, 'bench-' || {number},
                {first_user_id - 1} + {user}, {ip}, 'demo-module', 'bench-' || {number}, '{{}}',
                n, {hex_of('n - 1')}, {hex_of('n')}
            FROM {_series(loader.dialect, count)}""", (stamp,))  # noqa: S608 (ints, constant SQL)
    _without_indexes(loader, "audit_events", load)


def _create_postgresql_database(url: str) -> None:
    parsed = make_url(url)
    admin = _libpq(str(parsed.set(database="postgres")))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}"')
        conn.execute(f'CREATE DATABASE "{parsed.database}"')


def _postgresql_exists(url: str) -> bool:
    parsed = make_url(url)
    admin = _libpq(str(parsed.set(database="postgres")))
    with psycopg.connect(admin, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (parsed.database,)).fetchone() is not None


def _marker(loader: Loader) -> tuple | None:
    try:
        return loader.execute("SELECT accounts, audit_rows, revision, audit_max_id "
                              "FROM bench_seed").fetchone()
    except (sqlite3.Error, psycopg.Error):
        if loader.dialect == "postgresql":
            loader.conn.rollback()
        return None


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


def _seed_schema_and_demo(url: str) -> None:
    """Migrations, demo data, both signing keys, ES256 for demo-module-2 (through the app)."""
    from flask_migrate import upgrade

    from idp import create_app
    from idp.clock import utcnow
    from idp.database import commit
    from idp.demo import seed
    from idp.extensions import db
    from idp.models import Client
    from idp.oidc import keys

    app = create_app(environ=app_environ(url))
    with app.app_context():
        upgrade()
        now = utcnow()
        seed(now, bench_users=0)
        for alg in keys.ALGORITHMS:
            keys.ensure_active(alg, now)
        db.session.execute(db.update(Client).where(Client.client_id == "demo-module-2")
                           .values(id_token_signed_response_alg="ES256"))
        commit()
        db.engine.dispose()


def _hashes(url: str) -> tuple[str, str, str]:
    from idp import create_app
    from idp.demo import BENCH_PASSWORD
    from idp.demo import DEMO_ANSWER
    from idp.demo import DEMO_QUESTION
    from idp.security import passwords

    with create_app(environ=app_environ(url)).app_context():
        return (passwords.hash_password(BENCH_PASSWORD), passwords.hash_password(DEMO_ANSWER),
                DEMO_QUESTION)


def build(url: str, accounts: int, audit_rows: int) -> None:
    """Create the database from nothing and seed it."""
    from idp.clock import utcnow

    loader_url = make_url(url)
    if loader_url.drivername.startswith("sqlite"):
        Path(loader_url.database).unlink(missing_ok=True)
        Path(loader_url.database).parent.mkdir(parents=True, exist_ok=True)
    else:
        _create_postgresql_database(url)
    started = time.perf_counter()
    _seed_schema_and_demo(url)
    password_hash, answer_hash, question = _hashes(url)
    loader = Loader(url)
    now = utcnow()
    habilitation_id = loader.scalar("SELECT id FROM habilitations WHERE code = 'bonuseco'")
    insert_accounts(loader, accounts, password_hash, answer_hash, question, habilitation_id, now)
    loader.commit()
    first = loader.scalar("SELECT id FROM users WHERE login = 'bench-00001'")
    print(f"  {accounts:,} accounts in {time.perf_counter() - started:.0f} s", flush=True)
    if audit_rows:
        insert_audit(loader, audit_rows, accounts, first, now)
        loader.commit()
        print(f"  {audit_rows:,} audit rows in {time.perf_counter() - started:.0f} s", flush=True)
    loader.execute("CREATE TABLE bench_seed (accounts INTEGER, audit_rows BIGINT, "
                   "revision VARCHAR(64), audit_max_id BIGINT)")
    loader.execute("INSERT INTO bench_seed VALUES (?, ?, ?, ?)",
                   (accounts, audit_rows, _head_revision(),
                    loader.scalar("SELECT max(id) FROM audit_events")))
    if loader.dialect == "postgresql":
        loader.commit()
        loader.conn.autocommit = True
        loader.execute("VACUUM ANALYZE")
        loader.conn.autocommit = False
    else:
        loader.commit()
        loader.execute("ANALYZE")
    loader.close()


def reset(url: str) -> None:
    """Back to the seeded state: what the previous run wrote is removed."""
    loader = Loader(url)
    audit_max_id = loader.scalar("SELECT audit_max_id FROM bench_seed")
    for table in VOLATILE_TABLES:
        loader.execute(f"DELETE FROM {table}")  # noqa: S608 (constant table names)
    loader.execute("DELETE FROM audit_events WHERE id > ?", (audit_max_id,))
    loader.execute("UPDATE users SET failed_attempts = 0, locked_until = NULL, "
                   "last_login_at = NULL WHERE last_login_at IS NOT NULL OR failed_attempts > 0")
    loader.close()


def prepare(url: str, accounts: int, audit_rows: int) -> None:
    """A seeded database at ``url``, reused when it already matches, then reset."""
    parsed = make_url(url)
    exists = (Path(parsed.database).exists() if parsed.drivername.startswith("sqlite")
              else _postgresql_exists(url))
    marker = None
    if exists:
        loader = Loader(url)
        marker = _marker(loader)
        loader.close()
    if marker is None or tuple(marker[:3]) != (accounts, audit_rows, _head_revision()):
        print(f"seeding {url} ({accounts:,} accounts, {audit_rows:,} audit rows)", flush=True)
        build(url, accounts, audit_rows)
    reset(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the bench database")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--audit", type=int, default=0, help="synthetic audit rows")
    args = parser.parse_args()
    started = time.perf_counter()
    prepare(args.url, args.accounts, args.audit)
    print(f"ready in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
