"""Profile a flow in-process (cProfile): where its CPU goes, request by request.

    .venv/bin/python bench/profile_flow.py [FLOWS] [--password] [--only STEP]
        [--sort tottime] [--filter REGEX] [--top N] [--callers REGEX]

A fresh SQLite database under build/profile/, the demo data (``idp demo seed``),
then FLOWS flows through the Flask test client: the returning user's (one SSO
session: authorize -> token -> userinfo) or, with ``--password``, a new browser's
(authorize -> login page -> password -> authorize -> token -> userinfo). Prints
the CPU of each step without the profiler, then the profile (of one step with
``--only``). Not a benchmark (no HTTP server, no concurrency): it says where to
look, ``make bench`` says how fast.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scenarios  # noqa: E402
from bench.seed import app_environ  # noqa: E402

STEPS = ("authorize", "login page", "password", "authorize after login", "token", "userinfo")


def seeded_app(url: str, users: int = 10):
    """The app on ``url``, migrated, with the demo data and ``users`` bench accounts."""
    os.environ.update(app_environ(url))
    from idp import create_app

    app = create_app()
    runner = app.test_cli_runner()
    for command in (["db", "upgrade"], ["demo", "seed", "--users", str(users)]):
        result = runner.invoke(args=command)
        assert result.exit_code == 0, result.output
    return app


class Flow:
    """A module's steps through the test client; ``timed(step, call)`` makes each request."""

    def __init__(self, client_id: str, timed):
        from idp.demo import BENCH_PASSWORD
        from idp.demo import DEMO_CLIENT_SECRET

        self.client_id, self.timed, self.password = client_id, timed, BENCH_PASSWORD
        self.redirect_uri = scenarios.IDP_CLIENTS[client_id]
        self.headers = scenarios.basic(client_id, DEMO_CLIENT_SECRET)

    def log_in(self, client, location: str) -> str:
        page = self.timed("login page", lambda: client.get(location))
        token = scenarios.CSRF.search(page.text).group(1)
        next_url = parse_qs(urlsplit(location).query).get("next", [""])[0]
        done = self.timed("password", lambda: client.post("/login", data={
            "csrf_token": token, "identifier": "bench-00001", "password": self.password,
            "next": next_url}))
        assert done.status_code == 303, done.text[:500]
        return done.headers["Location"]

    def code(self, client, step: str = "authorize") -> tuple[str, str]:
        """(code, verifier): by SSO, or through the login page when the browser has none."""
        verifier, challenge = scenarios.pkce()
        path = scenarios.authorize_path("/authorize", self.client_id, self.redirect_uri,
                                        scenarios.IDP_SCOPE, challenge)
        response = self.timed(step, lambda: client.get(path))
        if not response.headers["Location"].startswith(scenarios.CALLBACK_PREFIX):
            back = self.log_in(client, response.headers["Location"])
            response = self.timed("authorize after login", lambda: client.get(back))
        return scenarios.code_from(response.headers["Location"]), verifier

    def token(self, client, form: dict[str, str], step: str = "token") -> dict:
        tokens = self.timed(step, lambda: client.post("/token", headers=self.headers, data=form))
        assert tokens.status_code == 200, tokens.text
        return tokens.json

    def redeem(self, client, code: str, verifier: str, step: str = "token") -> dict:
        return self.token(client, {"grant_type": "authorization_code", "code": code,
                                   "redirect_uri": self.redirect_uri, "code_verifier": verifier},
                          step)

    def userinfo(self, client, access_token: str) -> None:
        info = self.timed("userinfo", lambda: client.get("/userinfo", headers={
            "Authorization": f"Bearer {access_token}"}))
        assert info.status_code == 200

    def run(self, client) -> None:
        """authorize (-> login page -> password -> authorize after login) -> token -> userinfo"""
        tokens = self.redeem(client, *self.code(client))
        self.userinfo(client, tokens["access_token"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("flows", nargs="?", type=int, default=300)
    parser.add_argument("--password", action="store_true", help="a new browser each flow")
    parser.add_argument("--only", default="", choices=("", *STEPS), help="profile one step")
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--client", default="demo-module")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--filter", default="", help="a regex on file:function, e.g. idp")
    parser.add_argument("--callers", default="", help="print the callers of these functions")
    args = parser.parse_args()
    work = ROOT / "build" / "profile"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    app = seeded_app(f"sqlite:///{work / 'idp.sqlite3'}")
    spent = dict.fromkeys(STEPS, 0.0)
    profiling = {"on": False}
    profiler = cProfile.Profile()

    def timed(step, call):
        inside = profiling["on"] and args.only in ("", step)
        started = time.process_time()
        if inside:
            profiler.enable()
        result = call()
        if inside:
            profiler.disable()
        spent[step] += time.process_time() - started
        return result

    flow = Flow(args.client, timed).run

    returning = app.test_client()
    flow(returning)  # its SSO session

    def one() -> None:
        flow(app.test_client() if args.password else returning)

    for _ in range(20):
        one()  # warm-up: imports, key import, compiled SQL
    for phase in ("plain", "profiled"):
        for step in spent:
            spent[step] = 0.0
        profiling["on"] = phase == "profiled"
        for _ in range(args.flows):
            one()
        total = sum(spent.values()) / args.flows * 1000
        print(f"{phase}: CPU per flow {total:.2f} ms (" + ", ".join(
            f"{step} {value / args.flows * 1000:.2f}" for step, value in spent.items() if value)
            + "; test client included)")
    stats = pstats.Stats(profiler).sort_stats(args.sort)
    stats.print_stats(args.filter, args.top) if args.filter else stats.print_stats(args.top)
    if args.callers:
        stats.print_callers(args.callers)


if __name__ == "__main__":
    main()
