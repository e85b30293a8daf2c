"""``make seeds``: run notebooks at other seeds and tabulate which Check-cell asserts fail.

Each notebook runs with the parameters ``make notebooks`` gives it (``workbook.run_parameters``:
the parameters cell, or the CI parameters of a notebook still on ``PENDING``) plus ``SEED=<s>``,
injected by papermill, under the same harness (network blocked, records written). The kernel goes on
after a failing cell (``allow_errors``), so every failing assert of a run is reported, not only the
first; a cell that fails because an earlier one did shows as such ("NameError" after a failure).

``python -m visrec_book.seeds --out build/seeds --seeds 1 2 [--only STEM ...]`` writes
``build/seeds/<stem>.seed<s>.ipynb`` (executed), ``build/seeds/records/<stem>.seed<s>/<stem>.json``,
and ``build/seeds/report.md``, the table it prints; exit 1 when any run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

from visrec_book.workbook import list_notebooks, prepare, run_parameters

CHECK = re.compile(r"^##\s+Check\b", re.M)
HEADING2 = re.compile(r"^##\s+", re.M)


def check_cells(nb: dict) -> set[int]:
    """Indices of the code cells under the ``## Check`` heading (up to the next ``## `` heading)."""
    inside, out = False, set()
    for i, cell in enumerate(nb["cells"]):
        text = "".join(cell.get("source", ""))
        if cell["cell_type"] == "markdown" and HEADING2.search(text):
            inside = bool(CHECK.search(text))
        elif cell["cell_type"] == "code" and inside:
            out.add(i)
    return out


def _assert_line(cell_source: str, traceback: list[str]) -> str:
    """The source line of the failing assert, from the traceback's ``---->`` marker."""
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    for line in traceback:
        for ln in ansi.sub("", line).splitlines():
            m = re.match(r"-+>\s*(\d+)\s+(.*)", ln.strip())
            if m:
                return m.group(2).strip()
    return ""


def failures(executed: dict, original: dict | None = None) -> list[dict]:
    """Every cell of an executed notebook that raised: its index in ``original`` (by cell id; the
    executed copy has harness cells around it; None for a harness cell), whether it is a Check cell,
    the error and, for an assert, its line and message."""
    original = original if original is not None else executed
    checks = check_cells(original)
    index = {c.get("id"): i for i, c in enumerate(original["cells"])}
    found = []
    for cell in executed["cells"]:
        i = index.get(cell.get("id"))
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                found.append({"cell": i, "check": i in checks, "error": out.get("ename", "?"),
                              "message": str(out.get("evalue", ""))[:200],
                              "line": _assert_line("".join(cell.get("source", "")), out.get("traceback", []))})
    return found


def run_one(path: Path, seed: int, out: Path, timeout: int = 1800) -> dict:
    """Run one notebook at one seed; a row of the report."""
    import papermill as pm

    from visrec_book.figures import load_record

    params = {**run_parameters(path), "SEED": seed}
    rec_dir = out / "records" / f"{path.stem}.seed{seed}"
    prepared = prepare(path, out / "prepared" / f"seed{seed}", parameters=params, records_dir=rec_dir)
    executed = out / f"{path.stem}.seed{seed}.ipynb"
    t0 = time.perf_counter()
    error = None
    try:
        pm.execute_notebook(str(prepared), str(executed), kernel_name="python3", progress_bar=False,
                            execution_timeout=timeout, request_save_on_cell_execute=False,
                            allow_errors=True)
    except pm.PapermillExecutionError:  # a cell raised: every failing cell is read from the executed copy
        pass
    except Exception as exc:  # a kernel death or timeout: report it, go on with the next run
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
    seconds = time.perf_counter() - t0
    original = json.loads(Path(path).read_text(encoding="utf-8"))
    fails = failures(json.loads(executed.read_text(encoding="utf-8")), original) if executed.exists() else []
    record = rec_dir / f"{path.stem}.json"
    return {"notebook": path.stem, "seed": seed, "seconds": round(seconds, 1), "failures": fails,
            "error": error, "figures": load_record(record)["figures"] if record.exists() else None,
            "parameters": params}


def _where(failure: dict) -> str:
    return "harness cell" if failure["cell"] is None else f"cell {failure['cell']}"


def report(rows: list[dict]) -> str:
    lines = ["| notebook | seed | result | seconds | failing asserts (Check cells) | other failing cells |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        checks = [f"cell {f['cell']}: `{f['line'] or f['error']}` {f['message']}".strip() for f in r["failures"]
                  if f["check"]]
        other = [f"{_where(f)}: {f['error']} {f['message']}".strip() for f in r["failures"] if not f["check"]]
        if r["error"]:
            other.append(r["error"])
        ok = not checks and not other
        cell = lambda xs: "<br>".join(x.replace("|", "\\|").replace("\n", " ") for x in xs) or "-"  # noqa: E731
        lines.append(f"| {r['notebook']} | {r['seed']} | {'pass' if ok else 'FAIL'} | {r['seconds']:.0f} | "
                     f"{cell(checks)} | {cell(other)} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m visrec_book.seeds")
    ap.add_argument("--out", default="build/seeds")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = ap.parse_args(argv)
    notebooks = [p for p in list_notebooks() if re.match(r"[qt]\d\d_", p.name) and (not args.only or p.stem in args.only)]
    if args.only and len(notebooks) != len(set(args.only)):
        print(f"seeds: no notebook named {sorted(set(args.only) - {p.stem for p in notebooks})}")
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows = []
    for path in notebooks:
        for seed in args.seeds:
            print(f"seeds: {path.stem} at SEED={seed} ...", flush=True)
            rows.append(run_one(path, seed, out, args.timeout))
            r = rows[-1]
            print(f"seeds:   {len(r['failures'])} failing cells{', ' + r['error'] if r['error'] else ''} "
                  f"in {r['seconds']:.0f} s", flush=True)
    table = report(rows)
    (out / "report.md").write_text(table, encoding="utf-8")
    (out / "report.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    print(table)
    return 1 if any(r["failures"] or r["error"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
