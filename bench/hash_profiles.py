"""What an argon2id profile costs the IdP, and what the rate limits let an attacker burn.

    .venv/bin/python -m bench.hash_profiles [--runs N]

For the IdP's profiles (idp.security.passwords.PROFILES) and, for comparison, the
other parameter sets OWASP's password storage cheat sheet lists as equivalent and
Keycloak's default: the CPU of one verification (``time.process_time``, argon2's
threads included; the median of N), then what it means here, where a password
login verifies two hashes (the chosen and the provisional password, real or dummy:
docs/security.md):

- logins per core per second (argon2 only; the rest of a login is a few ms);
- the CPU one attacking address can make the IdP burn within the default login
  limit per address (``IDP_RATELIMIT_LOGIN``, 30 a minute and 300 an hour),
  at the per-minute burst and at the hourly rate: how many addresses it takes
  to keep one core busy. Unknown identifiers cost the same (a dummy hash).

Docs: docs/deployment.md, « Password hashing profile ».
"""

from __future__ import annotations

import argparse
import statistics
import time

from argon2 import PasswordHasher
from argon2 import Type

from idp.security.passwords import PROFILES

# OWASP's equivalent sets (Password Storage Cheat Sheet, argon2id) and Keycloak's default.
OTHERS = {
    "OWASP m=46 MiB t=1 p=1": {"time_cost": 1, "memory_cost": 47104, "parallelism": 1},
    "OWASP m=12 MiB t=3 p=1": {"time_cost": 3, "memory_cost": 12288, "parallelism": 1},
    "Keycloak m=7 MiB t=5 p=1": {"time_cost": 5, "memory_cost": 7168, "parallelism": 1},
}
VERIFICATIONS_PER_LOGIN = 2
BURST_PER_SECOND = 30 / 60  # IDP_RATELIMIT_LOGIN's default, per address
HOURLY_PER_SECOND = 300 / 3600


def cpu_per_verification(parameters: dict, runs: int) -> float:
    """Median CPU seconds of one successful verification."""
    hasher = PasswordHasher(type=Type.ID, **parameters)
    password = "Un mot de passe de test, assez long"
    digest = hasher.hash(password)
    hasher.verify(digest, password)  # warm-up
    samples = []
    for _ in range(runs):
        started = time.process_time()
        hasher.verify(digest, password)
        samples.append(time.process_time() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    rows = [(f"IdP {name}", p) for name, p in PROFILES.items()] + list(OTHERS.items())
    print(f"argon2id, median CPU of {runs} verifications; a login verifies "
          f"{VERIFICATIONS_PER_LOGIN}; limits per address 30/minute, 300/hour")
    print(f"{'profile':34} {'m KiB':>6} {'t':>2} {'p':>2} {'ms/verif.':>10} "
          f"{'logins/core/s':>14} {'addr./core (burst)':>19} {'addr./core (hourly)':>20}")
    for name, parameters in rows:
        cpu = cpu_per_verification(parameters, runs)
        per_login = cpu * VERIFICATIONS_PER_LOGIN
        print(f"{name:34} {parameters['memory_cost']:>6} {parameters['time_cost']:>2} "
              f"{parameters['parallelism']:>2} {cpu * 1000:>10.1f} {1 / per_login:>14.1f} "
              f"{1 / (per_login * BURST_PER_SECOND):>19.0f} "
              f"{1 / (per_login * HOURLY_PER_SECOND):>20.0f}")


if __name__ == "__main__":
    main()
