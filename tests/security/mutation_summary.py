"""Summarise a mutmut run (``make mutation``): killed and surviving mutants per file.

mutmut 3 keeps its verdicts in ``mutants/<file>.meta`` (JSON, one exit code per
mutant): 1 means the suite failed (killed), 0 that it passed (survived), None
that the mutant was not run yet; the other codes are timeouts, crashes and
mutants no test reaches (mutmut's ``status_by_exit_code``). A mutant no test
reaches counts as a survivor: nothing would notice it.

Survivors that no test can kill are explained in ``mutation-equivalents.txt``,
one line each: ``mutant name | its diff | why nothing observable changes``. The
diff is what identifies the mutant: mutmut numbers the mutants of a function in
order, so a change to the function renumbers them. ``--remap`` renames each
entry after the mutant of the same function with the same diff, and drops (and
prints) the entries whose mutant no longer exists.

    .venv/bin/python -m tests.security.mutation_summary [--survivors] [--remap]
"""

from __future__ import annotations

import ast
import difflib
import json
import sys
from collections import Counter
from pathlib import Path

EXPLAINED = Path(__file__).with_name("mutation-equivalents.txt")
MUTANTS = Path("mutants")
LINE_JOIN = " ¦ "

VERDICTS = {1: "killed", 3: "killed", 0: "survived", None: "not run",
            33: "no tests", 34: "skipped", 35: "suspicious", 36: "timeout",
            -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
            -11: "segfault", -9: "killed by OS", 37: "type error"}
SURVIVED = ("survived", "no tests")


def verdicts(root: Path = MUTANTS) -> dict[str, dict[str, str]]:
    """File -> mutant name -> verdict."""
    result = {}
    for meta in sorted(root.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        name = str(meta.relative_to(root)).removesuffix(".meta")
        result[name] = {key: VERDICTS.get(code, f"exit {code}") for key, code in codes.items()}
    return result


def _function_sources(path: Path) -> dict[str, str]:
    source = path.read_text()
    return {node.name: ast.get_source_segment(source, node) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def mutant_diffs(root: Path = MUTANTS) -> dict[str, str]:
    """Mutant name -> the lines it changes (``-old ¦ +new``), from mutmut's mutated sources."""
    result = {}
    for file, by_mutant in verdicts(root).items():
        functions = _function_sources(root / file)
        for mutant in by_mutant:
            function = mutant.rsplit(".", 1)[1]
            base = function.split("__mutmut_")[0]
            original, mutated = functions.get(f"{base}__mutmut_orig"), functions.get(function)
            if original is None or mutated is None:
                continue
            lines = difflib.unified_diff(original.replace(f"{base}__mutmut_orig", "f").splitlines(),
                                         mutated.replace(function, "f").splitlines(),
                                         lineterm="", n=0)
            result[mutant] = LINE_JOIN.join(
                line[0] + line[1:].strip() for line in lines
                if line[:1] in "+-" and not line.startswith(("+++", "---")))
    return result


def explanations(path: Path = EXPLAINED) -> dict[str, tuple[str, str]]:
    """Mutant name -> (its diff, why it survives)."""
    result = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        if line.strip() and not line.startswith("#"):
            name, diff, reason = (part.strip() for part in line.split(" | ", 2))
            result[name] = (diff, reason)
    return result


def _function_of(mutant: str) -> str:
    return mutant.split("__mutmut_")[0]


def remap(path: Path = EXPLAINED, root: Path = MUTANTS) -> list[str]:
    """Rename the entries after the current numbering; return the entries dropped."""
    diffs = mutant_diffs(root)
    by_function_and_diff = {(_function_of(name), diff): name for name, diff in diffs.items()}
    kept, dropped = {}, []
    for name, (diff, reason) in explanations(path).items():
        current = by_function_and_diff.get((_function_of(name), diff))
        if current is None:
            dropped.append(f"{name} | {diff} | {reason}")
        else:
            kept[current] = (diff, reason)
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    path.write_text("\n".join(header + [f"{name} | {diff} | {reason}"
                                        for name, (diff, reason) in sorted(kept.items())]) + "\n")
    return dropped


def report(root: Path = MUTANTS, path: Path = EXPLAINED, verbose: bool = False) -> dict[str, int]:
    by_file = verdicts(root)
    total = Counter()
    print(f"{'file':<40} {'killed':>7} {'survived':>9} {'other':>6} {'score':>7}")
    for name, by_mutant in by_file.items():
        counts = Counter(by_mutant.values())
        total.update(counts)
        killed = counts["killed"] + counts["timeout"]
        survived = counts["survived"] + counts["no tests"]
        other = sum(counts.values()) - killed - survived
        score = f"{100 * killed / (killed + survived):.1f} %" if killed + survived else "-"
        print(f"{name:<40} {killed:>7} {survived:>9} {other:>6} {score:>7}")
    killed = total["killed"] + total["timeout"]
    survived = total["survived"] + total["no tests"]
    score = 100 * killed / (killed + survived) if killed + survived else 0.0
    print(f"{'all':<40} {killed:>7} {survived:>9} "
          f"{sum(total.values()) - killed - survived:>6} {score:>6.1f} %")

    survivors = {mutant for by_mutant in by_file.values()
                 for mutant, verdict in by_mutant.items() if verdict in SURVIVED}
    diffs = mutant_diffs(root)
    explained = {name for name, (diff, _) in explanations(path).items() if diffs.get(name) == diff}
    unexplained = sorted(survivors - explained)
    print(f"survivors explained in {path.name}: {len(survivors & explained)}, "
          f"unexplained: {len(unexplained)}")
    if verbose:
        for mutant in unexplained:
            print(f"    unexplained: {mutant} | {diffs.get(mutant, '?')}")
    return {"killed": killed, "survived": survived, "explained": len(survivors & explained)}


def main(argv: list[str]) -> int:
    if not MUTANTS.is_dir():
        print("No mutants/ folder: run `make mutation` first.")
        return 1
    if "--remap" in argv:
        for entry in remap():
            print(f"dropped (its mutant no longer exists): {entry}")
    report(verbose="--survivors" in argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
