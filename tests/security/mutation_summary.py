"""Summarise a mutmut run (``make mutation``): killed and surviving mutants per file.

mutmut 3 keeps its verdicts in ``mutants/<file>.meta`` (JSON, one exit code per
mutant): 1 means the suite failed (killed), 0 that it passed (survived), None
that the mutant was not run yet; the other codes are timeouts, crashes and
mutants no test reaches (mutmut's ``status_by_exit_code``). A mutant no test
reaches counts as a survivor: nothing would notice it.

    .venv/bin/python -m tests.security.mutation_summary [--survivors]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

VERDICTS = {1: "killed", 3: "killed", 0: "survived", None: "not run",
            33: "no tests", 34: "skipped", 35: "suspicious", 36: "timeout",
            -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
            -11: "segfault", -9: "killed by OS", 37: "type error"}


def verdicts(root: Path) -> dict[str, dict[str, str]]:
    """File -> mutant name -> verdict."""
    result = {}
    for meta in sorted(root.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        name = str(meta.relative_to(root)).removesuffix(".meta")
        result[name] = {key: VERDICTS.get(code, f"exit {code}") for key, code in codes.items()}
    return result


def main(argv: list[str]) -> int:
    root = Path("mutants")
    if not root.is_dir():
        print("No mutants/ folder: run `make mutation` first.")
        return 1
    total = Counter()
    print(f"{'file':<40} {'killed':>7} {'survived':>9} {'other':>6} {'score':>7}")
    for name, by_mutant in verdicts(root).items():
        counts = Counter(by_mutant.values())
        total.update(counts)
        killed = counts["killed"] + counts["timeout"]
        survived = counts["survived"] + counts["no tests"]
        other = sum(counts.values()) - killed - survived
        score = f"{100 * killed / (killed + survived):.1f} %" if killed + survived else "-"
        print(f"{name:<40} {killed:>7} {survived:>9} {other:>6} {score:>7}")
        if "--survivors" in argv:
            for mutant, verdict in by_mutant.items():
                if verdict in ("survived", "no tests"):
                    print(f"    survived: {mutant}")
    killed = total["killed"] + total["timeout"]
    survived = total["survived"] + total["no tests"]
    score = 100 * killed / (killed + survived) if killed + survived else 0.0
    print(f"{'all':<40} {killed:>7} {survived:>9} "
          f"{sum(total.values()) - killed - survived:>6} {score:>6.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
