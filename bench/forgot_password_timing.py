"""Time the answer to the secret question of the forgotten-password procedure.

The answer must take as long for an unknown login, a wrong answer and a right one
(which alone issues and mails a provisional password). The tests prove it by
counting (tests/auth/test_forgot_password.py: one argon2 verification then one
argon2 hash in every case, and the mail leaves after the answer); this measures it.

Builds a throw-away SQLite database (migrated like ``idp db upgrade``, the bench
accounts of ``idp demo seed --users N``), then times whole POSTs of the answer
through the Flask test client, the three cases interleaved, each first in turn.
Prints the medians and their ratios to the unknown login's; on a quiet machine the
ratios stay within a few percent of 1 (1.76 for the right answer before the other
cases hashed a throwaway password).

    .venv/bin/python bench/forgot_password_timing.py [--samples 100]
"""

from __future__ import annotations

import argparse
import html
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402

from idp import create_app  # noqa: E402
from idp.clock import utcnow  # noqa: E402
from idp.database import commit  # noqa: E402
from idp.demo import DEMO_ANSWER  # noqa: E402
from idp.demo import seed_bench_users  # noqa: E402
from idp.extensions import db  # noqa: E402
from idp.security import challenges  # noqa: E402

MSG_DONE = "Procédure terminée, merci de vérifier votre boîte aux lettres"
WRONG_ANSWER = "Idefix-Pas-Le-Bon"
ACCOUNTS = 8  # bench-00001 to -00004 answer wrong, bench-00005 to -00008 right


def build(folder: Path):
    environ = {"IDP_ENV": "testing", "IDP_DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
               "IDP_ISSUER": "http://127.0.0.1:5000", "IDP_MAIL_SERVER": ""}
    app = create_app({"PASSWORD_HASH_PROFILE": "owasp-minimum", "WTF_CSRF_ENABLED": False,
                      "OUTBOX_DIR": str(folder / "outbox"), "RATELIMIT_ENABLED": False},
                     environ=environ)
    with app.app_context():
        upgrade()
        seed_bench_users(ACCOUNTS, utcnow())
        commit()
    return app


def answer_seconds(app, identifier: str, answer: str) -> float:
    """Step one (identifier, « Combien font 7 + 5 ? »), then the timed answer."""
    client = app.test_client()
    client.get("/forgot-password")
    step = client.post("/forgot-password", data={"identifier": identifier, "result": "12"})
    assert step.status_code == 303, step.status_code
    started = time.perf_counter()
    response = client.post("/forgot-password/question", data={"answer": answer})
    seconds = time.perf_counter() - started
    assert MSG_DONE in html.unescape(response.get_data(as_text=True))
    return seconds


def measure(app, samples: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"inconnu": [], "mauvaise réponse": [],
                                       "bonne réponse": []}

    def cases(index: int) -> list[tuple[str, str, str]]:
        return [("inconnu", f"inconnu-{index:03d}", WRONG_ANSWER),
                ("mauvaise réponse", f"bench-{index % 4 + 1:05d}", WRONG_ANSWER),
                ("bonne réponse", f"bench-{index % 4 + 5:05d}", DEMO_ANSWER)]

    for _kind, identifier, answer in cases(999):  # warm up every path
        answer_seconds(app, identifier, answer)
    for index in range(samples):
        shift = index % 3  # interleaved, each case first in turn
        ordered = cases(index)[shift:] + cases(index)[:shift]
        for kind, identifier, answer in ordered:
            timings[kind].append(answer_seconds(app, identifier, answer))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()
    challenges.arithmetic_operation = lambda: (7, "+", 5)
    with tempfile.TemporaryDirectory() as tmp:
        app = build(Path(tmp))
        timings = measure(app, args.samples)
        with app.app_context():
            db.engine.dispose()
    medians = {kind: statistics.median(values) for kind, values in timings.items()}
    for kind, median in medians.items():
        print(f"{kind:<18} médiane {median * 1000:7.2f} ms   rapport à inconnu "
              f"{median / medians['inconnu']:.2f}")


if __name__ == "__main__":
    main()
