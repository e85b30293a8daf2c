"""Notebook hygiene checks run by ``make test``: no committed outputs, the anatomy of
../shared/notebook-conventions.md, a ``parameters`` cell, an assert cell, valid CI parameters.

``python -m visrec_helpers.book.hygiene notebooks`` prints every problem and exits 1 if any.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from visrec_helpers.book.workbook import ci_parameters, list_notebooks, parameter_names

SECTIONS = ["Answer in 60 seconds", "Parameters", "Walkthrough", "Results", "Check", "Pitfalls",
            "Follow-up", "Exercises", "References"]


def check_notebook(path: Path) -> list[str]:
    """Problems found in one notebook file (empty list when clean)."""
    problems = []
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return [f"{path}: not valid notebook JSON ({exc})"]
    cells = nb.get("cells", [])
    for i, c in enumerate(cells):
        if c.get("cell_type") == "code" and (c.get("outputs") or c.get("execution_count") is not None):
            problems.append(f"{path.name}: cell {i} has committed outputs or an execution count (run `make strip`)")
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    if kernel != "python3":
        problems.append(f"{path.name}: kernel is {kernel!r}, expected 'python3'")
    if not re.match(r"[qt]\d\d_", path.name):
        return problems
    text = "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "markdown").lower()
    missing = [s for s in SECTIONS if s.lower() not in text]
    if missing:
        problems.append(f"{path.name}: missing sections {missing}")
    if not parameter_names(path):
        problems.append(f"{path.name}: no cell tagged 'parameters' (or it assigns nothing)")
    if not any(c.get("cell_type") == "code" and "assert " in "".join(c.get("source", "")) for c in cells):
        problems.append(f"{path.name}: no assert cell checking its claims")
    unknown = set(ci_parameters(path)) - parameter_names(path)
    if unknown:
        problems.append(f"{path.name}: CI parameters {sorted(unknown)} are not defined in the parameters cell")
    dumped = json.dumps(cells)
    if "visrec_helpers.record" not in dumped and "record(" not in dumped and "record_all(" not in dumped:
        problems.append(f"{path.name}: never calls record() for its headline figures")
    return problems


def main(argv=None) -> int:
    folder = Path((argv or sys.argv[1:] or ["notebooks"])[0])
    notebooks = list_notebooks(folder)
    if not notebooks:
        print(f"hygiene: no notebooks found in {folder}")
        return 1
    problems = [p for nb in notebooks for p in check_notebook(nb)]
    for p in problems:
        print("hygiene:", p)
    print(f"hygiene: {len(notebooks)} notebooks checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
