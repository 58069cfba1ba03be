"""Rate limits counted in Redis across 4 gunicorn workers (LOGIN-08, LOGIN-09), and the
metrics of all the workers added up."""

from __future__ import annotations

import requests

from tests.production.flows import LoginAttempt
from tests.security.concurrency import run_concurrently

LIMIT = 6
REQUESTS = 16


def test_a_limit_of_n_per_minute_lets_n_through_in_all_workers_together(start_gunicorn):
    server = start_gunicorn(IDP_RATELIMIT_LOGIN=f"{LIMIT}/minute",
                            IDP_RATELIMIT_LOGIN_IDENTIFIER="1000/minute")
    # Each browser has its own connection, so the posts spread over the workers.
    attempts = [LoginAttempt.prepare(server.url) for _ in range(REQUESTS)]
    responses = run_concurrently(
        REQUESTS, lambda i: attempts[i].post(f"nobody-{i}", "Mauvais-Mot-De-Passe-00"))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * LIMIT + [429] * (REQUESTS - LIMIT)
    assert all("Retry-After" in r.headers for r in responses if r.status_code == 429)

    # LOGIN-09: without a trusted proxy (IDP_PROXY_HOPS=0) X-Forwarded-For is ignored.
    spoofed = LoginAttempt.prepare(server.url)
    for address in ("198.51.100.7", "203.0.113.9, 198.51.100.8"):
        spoofed.session.headers["X-Forwarded-For"] = address
        assert spoofed.post("nobody", "Mauvais-Mot-De-Passe-00").status_code == 429

    # The metrics add up every worker's counts (prometheus_client multi-process mode).
    metrics = requests.get(f"{server.url}/metrics", timeout=10)
    assert metrics.status_code == 200
    assert f'idp_logins_total{{outcome="credentials"}} {float(LIMIT)}' in metrics.text
    # HDR-06: gunicorn names itself without its version.
    assert metrics.headers["Server"] == "gunicorn"
