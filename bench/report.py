"""The one table of ``make bench``: figures per scenario, then the targets it checks.

Ratios are taken within the run (same machine, same moment): discovery and JWKS
against the bare Flask endpoint, the returning-user flow against the reference's
with the same signature algorithm, 1M accounts against 1k on the same backend.
"""

from __future__ import annotations

from dataclasses import dataclass

TARGET_BARE = 0.90  # discovery and JWKS: share of bare Flask's figure per CPU-second
TARGET_REFERENCE = 0.5  # returning-user flow: times the reference's, per CPU-second
TARGET_NON_ARGON2 = 0.10  # password flow: CPU outside argon2, share of the flow's
TARGET_GROWTH = 0.10  # 1k -> 1M accounts: each figure within 10 %
TARGET_SEARCH_P95_MS = 50.0
TARGET_TAIL = 4.0  # password flow p99 under 4 x p50


@dataclass
class Check:
    target: str
    where: str
    measured: str
    met: bool


def _find(rows, scenario: str, data: str):
    return next((row for row in rows if row.scenario == scenario and row.data == data), None)


def _small_of(data: str) -> str:
    return data.split()[0] + " 1k"


def _checks_for(row, rows, argon2: float) -> list[Check]:
    """The targets that apply to one row (the notes column and the summary)."""
    checks = []
    result, where = row.result, f"{row.scenario} ({row.data})"
    is_idp = row.data not in ("reference", "baseline")
    if is_idp and row.scenario in ("discovery", "JWKS"):
        bare = _find(rows, "bare Flask endpoint", "baseline")
        if bare and bare.result.per_cpu:
            ratio = result.per_cpu / bare.result.per_cpu
            checks.append(Check("discovery/JWKS >= 90 % of bare Flask per CPU-s", where,
                                f"{ratio:.0%} of bare", ratio >= TARGET_BARE))
    if is_idp and row.scenario.startswith("returning-user flow"):
        ref = _find(rows, row.scenario, "reference")
        if ref and ref.result.per_cpu:
            ratio = result.per_cpu / ref.result.per_cpu
            checks.append(Check("returning-user flow >= 0.5x reference per CPU-s", where,
                                f"{ratio:.2f}x ref", ratio >= TARGET_REFERENCE))
    if is_idp and row.scenario == "password flow" and result.units:
        share = 1 - argon2 / result.cpu_per_unit
        checks.append(Check("password flow: non-argon2 CPU <= 10 %", where,
                            f"non-argon2 {share:.0%}", share <= TARGET_NON_ARGON2))
    if is_idp and row.scenario.startswith("password flow, ") and result.units:
        tail = result.percentile(99) / result.percentile(50) if result.percentile(50) else 0
        checks.append(Check("password flow p99 < 4x p50, no error (4 workers on 2 cores)",
                            where, f"p99/p50 {tail:.1f}, {result.errors} err",
                            tail < TARGET_TAIL and result.errors == 0))
    if is_idp and row.scenario == "Assistance search, 1 operator":
        p95 = result.percentile(95)
        checks.append(Check("Assistance search p95 < 50 ms", where, f"p95 {p95:.1f} ms",
                            p95 < TARGET_SEARCH_P95_MS))
    if is_idp and not row.data.endswith(" 1k"):
        small = _find(rows, row.scenario, _small_of(row.data))
        if small and small.result.per_cpu:
            change = result.per_cpu / small.result.per_cpu - 1
            checks.append(Check("1k -> 1M accounts: each figure within 10 %", where,
                                f"{change:+.0%} vs 1k", abs(change) <= TARGET_GROWTH))
    if result.errors and not any(c.target.startswith("password flow p99") for c in checks):
        checks.append(Check("no error", where, f"{result.errors} errors", False))
    return checks


def _note(row, checks: list[Check], argon2: float) -> str:
    parts = [f"{c.measured} {'ok' if c.met else 'MISS'}" for c in checks]
    if row.scenario == "password flow" and row.result.units and row.data != "reference":
        parts.insert(0, f"argon2 {argon2 * 1000:.1f} ms")
    if row.db_cpu and row.result.units:
        parts.append(f"+db {row.db_cpu / row.result.units * 1000:.2f} ms/u")
    return "; ".join(parts)


def print_table(rows, argon2: float, seconds: float, concurrency: int, workers: int,
                tail_workers: int) -> None:
    header = (f"{'scenario':<31}{'data':<10}{'per s':>8}{'per CPU-s':>10}{'CPU ms':>8}"
              f"{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'err':>5}  vs target")
    print(f"{seconds:g} s per scenario, {concurrency} closed-loop clients, {workers} gunicorn "
          f"workers ({tail_workers} for 'password flow, {tail_workers} workers'); "
          f"'per CPU-s' = units per second of server CPU (gunicorn or node); "
          f"argon2id (m=19456 KiB, t=2, p=1) = {argon2 * 1000:.1f} ms CPU per verification")
    print(header)
    print("-" * len(header))
    everything: list[Check] = []
    for row in rows:
        result = row.result
        checks = _checks_for(row, rows, argon2)
        everything += checks
        print(f"{row.scenario:<31}{row.data:<10}{result.per_wall:>8.1f}{result.per_cpu:>10.1f}"
              f"{result.cpu_per_unit * 1000:>8.2f}{result.percentile(50):>8.1f}"
              f"{result.percentile(95):>8.1f}{result.percentile(99):>8.1f}{result.errors:>5}"
              f"  {_note(row, checks, argon2)}")
    print("-" * len(header))
    targets: dict[str, list[Check]] = {}
    for check in everything:
        targets.setdefault(check.target, []).append(check)
    for target, checks in targets.items():
        missed = [c for c in checks if not c.met]
        verdict = "MET" if not missed else f"MISSED ({len(missed)}/{len(checks)})"
        worst = "; ".join(f"{c.where}: {c.measured}" for c in (missed or checks)[:4])
        print(f"{verdict:<15} {target}  [{worst}]")
