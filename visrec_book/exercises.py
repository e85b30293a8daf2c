"""Exercises: find them in the notebooks, check each has a self-check and a solution, and write
learner copies with the solution cells (tagged ``solution``) removed.

``python -m visrec_book.exercises --out build/exercises``
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from visrec_book.workbook import list_notebooks

EXERCISE_RE = re.compile(r"\*\*Exercise (\d+)(?: \([^)]*\))?\.?\*\*")


@dataclass
class Exercise:
    notebook: str
    number: int
    has_check: bool
    has_solution: bool


def _section_cells(nb) -> list:
    """Cells from the '## Exercises' heading to the next '## ' heading."""
    start = end = None
    for i, c in enumerate(nb.cells):
        if c.cell_type == "markdown":
            src = c.source
            if start is None and re.search(r"^##\s+Exercises", src, re.M):
                start = i
            elif start is not None and re.search(r"^##\s+(?!#)", src, re.M):
                end = i
                break
    return [] if start is None else nb.cells[start:end]


def find_exercises(path: Path) -> list[Exercise]:
    """The exercises of one notebook. An exercise starts at a markdown cell with
    ``**Exercise N.**``; it has a check when a later code cell of it defines or calls a
    ``check_`` function, and a solution when a cell of it is tagged ``solution``."""
    nb = nbformat.read(path, as_version=4)
    found, current = [], None
    for c in _section_cells(nb):
        m = EXERCISE_RE.search(c.source) if c.cell_type == "markdown" else None
        if m:
            current = Exercise(Path(path).stem, int(m.group(1)), False, False)
            found.append(current)
            continue
        if current is None or c.cell_type != "code":
            continue
        if "solution" in c.metadata.get("tags", []):
            current.has_solution = True
        elif re.search(r"\bcheck_\w+\s*\(", c.source):
            current.has_check = True
    return found


def strip_solutions(path: Path, out_dir: Path) -> Path:
    """Write a copy of the notebook without its ``solution`` cells into ``out_dir``."""
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if "solution" not in c.metadata.get("tags", [])]
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / Path(path).name
    nbformat.write(nb, out)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m visrec_book.exercises")
    ap.add_argument("--out", default="build/exercises")
    args = ap.parse_args(argv)
    out = Path(args.out)
    total = 0
    for nb in list_notebooks():
        exs = find_exercises(nb)
        strip_solutions(nb, out)
        total += len(exs)
        print(f"{nb.name}: {len(exs)} exercises")
    print(f"wrote {len(list_notebooks())} learner copies without solutions to {out} ({total} exercises)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
