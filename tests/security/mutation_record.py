"""Keep mutmut's verdicts in the repository, so that ``make mutation`` resumes across clones.

A full mutation run takes hours on two cores; mutmut 3 resumes where it stopped,
but only from its ``mutants/`` folder, which is generated and not committed.
This module saves the verdicts of ``mutants/<file>.meta`` (one exit code per
mutant, and the hash of each function's source) into
``tests/security/mutation-record.json``, and writes them back before a run.
mutmut then keeps the verdict of every function whose source is unchanged and
runs the mutants of changed functions again (it compares the hashes itself).

A verdict is the one reached with the tests of its time: a killed mutant stays
killed while its test exists; a survivor is run again only when named, which
``survivors`` helps with after new tests were written:

    .venv/bin/python -m tests.security.mutation_record save|restore|survivors

``make mutation`` restores, runs, then saves; ``make mutation-survivors`` runs the
survivors again against the current tests; deleting the record starts afresh.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RECORD = Path(__file__).with_name("mutation-record.json")
MUTANTS = Path("mutants")
SURVIVED = (0, 33)  # the suite passed; no test reaches the function


def save(record: Path = RECORD, root: Path = MUTANTS) -> int:
    files = {}
    for meta in sorted(root.rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        files[str(meta.relative_to(root).with_suffix(""))] = {
            "hash_by_function_name": data["hash_by_function_name"],
            "exit_code_by_key": data["exit_code_by_key"],
        }
    record.write_text(json.dumps(files, indent=1, sort_keys=True) + "\n")
    print(f"{sum(len(f['exit_code_by_key']) for f in files.values())} verdicts saved to {record}")
    return 0


def restore(record: Path = RECORD, root: Path = MUTANTS) -> int:
    """Write the recorded verdicts where mutmut reads them, without overwriting a run's own."""
    if not record.exists():
        print(f"No {record}: the run starts afresh.")
        return 0
    restored = 0
    for name, data in json.loads(record.read_text()).items():
        meta = root / f"{name}.meta"
        if meta.exists():
            continue
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps({**data, "type_check_error_by_key": {},
                                    "durations_by_key": {}, "estimated_durations_by_key": {}}))
        restored += 1
    print(f"{restored} files of verdicts restored from {record}")
    return 0


def survivors(root: Path = MUTANTS) -> int:
    for meta in sorted(root.rglob("*.py.meta")):
        for key, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if code in SURVIVED:
                print(key)
    return 0


def main(argv: list[str]) -> int:
    commands = {"save": save, "restore": restore, "survivors": survivors}
    if len(argv) != 1 or argv[0] not in commands:
        print(__doc__)
        return 2
    return commands[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
