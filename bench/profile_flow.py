"""Profile the returning-user flow in-process (cProfile): where a flow's CPU goes.

    .venv/bin/python bench/profile_flow.py [FLOWS] [--sort tottime] [--alg RS256|ES256]

A fresh SQLite database under build/profile/, the demo data (``idp demo seed``), one
SSO session, then FLOWS times authorize -> token -> userinfo through the Flask test
client, profiled. Prints per-request CPU and the top functions. Not a benchmark (no
HTTP server, no concurrency): it says where to look, ``make bench`` says how fast.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("flows", nargs="?", type=int, default=300)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--client", default="demo-module")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--filter", default="", help="a regex on file:function, e.g. idp")
    args = parser.parse_args()
    work = ROOT / "build" / "profile"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.environ.update(app_environ(f"sqlite:///{work / 'idp.sqlite3'}"))
    from idp import create_app
    from idp.demo import BENCH_PASSWORD
    from idp.demo import DEMO_CLIENT_SECRET

    app = create_app()
    runner = app.test_cli_runner()
    for command in (["db", "upgrade"], ["demo", "seed", "--users", "10"]):
        result = runner.invoke(args=command)
        assert result.exit_code == 0, result.output
    client = app.test_client()
    redirect_uri = scenarios.IDP_CLIENTS[args.client]

    def authorize():
        verifier, challenge = scenarios.pkce()
        path = scenarios.authorize_path("/authorize", args.client, redirect_uri,
                                        scenarios.IDP_SCOPE, challenge)
        return client.get(path), verifier

    # Log in once: the SSO session every profiled flow reuses.
    response, verifier = authorize()
    login_path = response.headers["Location"]
    page = client.get(login_path)
    token = scenarios.CSRF.search(page.text).group(1)
    next_url = parse_qs(urlsplit(login_path).query).get("next", [""])[0]
    done = client.post("/login", data={"csrf_token": token, "identifier": "bench-00001",
                                       "password": BENCH_PASSWORD, "next": next_url})
    assert done.status_code == 303, done.text[:500]
    client.get(done.headers["Location"])
    headers = scenarios.basic(args.client, DEMO_CLIENT_SECRET)

    def flow():
        response, verifier = authorize()
        code = scenarios.code_from(response.headers["Location"])
        tokens = client.post("/token", headers=headers, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier})
        assert tokens.status_code == 200, tokens.text
        info = client.get("/userinfo", headers={
            "Authorization": f"Bearer {tokens.json['access_token']}"})
        assert info.status_code == 200

    for _ in range(20):
        flow()  # warm-up: imports, key import, compiled SQL
    profiler = cProfile.Profile()
    started = time.process_time()
    profiler.enable()
    for _ in range(args.flows):
        flow()
    profiler.disable()
    cpu = (time.process_time() - started) / args.flows
    print(f"{args.flows} flows, {cpu * 1000:.2f} ms of CPU per flow (profiled, client included)")
    stats = pstats.Stats(profiler).sort_stats(args.sort)
    stats.print_stats(args.filter, args.top) if args.filter else stats.print_stats(args.top)


if __name__ == "__main__":
    main()
