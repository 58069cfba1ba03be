"""Time the Assistance console's search on 100,000 accounts.

Builds a throw-away SQLite database (migrated like ``idp db upgrade``), seeds
the bench accounts exactly as ``idp demo seed --users N`` does
(``idp.demo.seed_bench_users``), gives them SIRETs, logs an operator in through
the login page, then times whole requests to ``/assistance/?q=...`` through the
Flask test client (routing, guard, queries, template). Prints median and p95.

    .venv/bin/python bench/search_accounts.py [--users 100000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import update  # noqa: E402

from idp import create_app  # noqa: E402
from idp.assistance import services  # noqa: E402
from idp.clock import utcnow  # noqa: E402
from idp.database import commit  # noqa: E402
from idp.demo import BENCH_PASSWORD  # noqa: E402
from idp.demo import seed_bench_users  # noqa: E402
from idp.extensions import db  # noqa: E402
from idp.models import User  # noqa: E402
from idp.security import passwords  # noqa: E402
from idp.validation import luhn_ok  # noqa: E402

OPERATOR = "bench.operateur"
# (label, query, page): prefix searches of every kind, broad and precise.
QUERIES = [
    ("login exact", "bench-04217", 1),
    ("login prefix (1,000+ hits)", "bench-0", 1),
    ("login prefix, page 40", "bench-0", 40),
    ("family name prefix", "essai 0421", 1),
    ("given + family name", "banc essai 09999", 1),
    ("email prefix, upper case", "BENCH-07777@", 1),
    ("SIRET exact", None, 1),
    ("SIREN (9 digits)", None, 1),
    ("no match", "zzzz", 1),
]


def siret_for(number: int) -> str:
    """A Luhn-valid SIRET derived from the account number."""
    base = f"{number:013d}"
    return next(base + str(d) for d in range(10) if luhn_ok(base + str(d)))


def build(path: Path, users: int):
    environ = {"IDP_ENV": "testing", "IDP_DATABASE_URL": f"sqlite:///{path}",
               "IDP_ISSUER": "http://127.0.0.1:5000", "IDP_MAIL_SERVER": ""}
    app = create_app({"PASSWORD_HASH_PROFILE": "owasp-minimum", "WTF_CSRF_ENABLED": False,
                      "OUTBOX_DIR": str(path.parent / "outbox"), "RATELIMIT_ENABLED": False},
                     environ=environ)
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        seed_bench_users(users, utcnow())
        db.session.execute(update(User), [
            {"id": user_id, "siret": siret_for(user_id)}
            for user_id in db.session.execute(db.select(User.id)).scalars()
        ])
        operator = services.create_user(services.NewAccount(
            login=OPERATOR, email="operateur@bench.test", given_name="Opé", family_name="Rateur",
            habilitations=(("assistance", ""),)), actor="cli", reason="bench", now=utcnow())
        operator.password_hash = passwords.hash_password(BENCH_PASSWORD)
        operator.password_changed_at = utcnow()
        operator.is_provisional = False
        operator.secret_question, operator.secret_answer_hash = "Q ?", "x"
        commit()
        print(f"{users} comptes créés en {time.perf_counter() - started:.1f} s")
    return app


def time_queries(app, rounds: int) -> list[float]:
    client = app.test_client()
    response = client.post("/login", data={"identifier": OPERATOR, "password": BENCH_PASSWORD})
    assert response.status_code == 303, response.status_code
    with app.app_context():
        sample = db.session.get(User, 4217).siret
    everything = []
    for label, query, page in QUERIES:
        if query is None:
            query = sample if label.startswith("SIRET") else sample[:9]
        client.get("/assistance/", query_string={"q": query, "page": page})  # warm up
        timings = []
        for _ in range(rounds):
            started = time.perf_counter()
            response = client.get("/assistance/", query_string={"q": query, "page": page})
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        found = "Aucun compte trouvé" not in response.get_data(as_text=True)
        assert found == (label != "no match"), (label, query)
        everything += timings
        print(f"{label:<30} q={query!r:<22} médiane {statistics.median(timings):6.1f} ms"
              f"   p95 {percentile(timings, 95):6.1f} ms")
    return everything


def explain(app) -> None:
    """The SQLite plan of a search: every criterion must be an index range."""
    from sqlalchemy import select

    from idp.assistance.search import criteria

    with app.app_context():
        stmt = select(User.id).where(criteria("dupont jean")).order_by(User.login).limit(20)
        sql = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
        for row in db.session.execute(db.text(f"EXPLAIN QUERY PLAN {sql}")):
            print("  plan:", row[-1])
        db.session.rollback()


def percentile(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = build(Path(tmp) / "bench.sqlite3", args.users)
        everything = time_queries(app, args.rounds)
        explain(app)
        with app.app_context():
            db.engine.dispose()
    print(f"{'toutes recherches':<30} {len(everything)} requêtes   médiane "
          f"{statistics.median(everything):6.1f} ms   p95 {percentile(everything, 95):6.1f} ms")


if __name__ == "__main__":
    main()
