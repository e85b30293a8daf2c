"""Authoring aid: turn a percent-format script into a clean workbook notebook.

    python scripts/py2nb.py source.py notebooks/q01_name.ipynb

Format: cells start with ``# %%`` (code) or ``# %% [markdown]`` (markdown lines keep a
leading ``# ``). Tags: ``# %% tags=["parameters"]``. The first line may be
``# visrec: {"ci_parameters": {...}}`` for the notebook's CI parameters.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat


def convert(text: str) -> nbformat.NotebookNode:
    lines = text.splitlines()
    meta = {}
    if lines and lines[0].startswith("# visrec:"):
        meta = json.loads(lines.pop(0)[len("# visrec:"):])
    cells, kind, tags, buf = [], None, [], []

    def flush():
        if kind is None:
            return
        body = "\n".join(buf).strip("\n")
        if kind == "markdown":
            body = "\n".join(re.sub(r"^# ?", "", ln) for ln in body.splitlines())
            cell = nbformat.v4.new_markdown_cell(body)
        else:
            cell = nbformat.v4.new_code_cell(body)
        if tags:
            cell.metadata["tags"] = tags
        cells.append(cell)

    for ln in lines:
        m = re.match(r"^# %%(.*)$", ln)
        if m:
            flush()
            rest = m.group(1)
            kind = "markdown" if "[markdown]" in rest else "code"
            t = re.search(r"tags=(\[.*?\])", rest)
            tags = json.loads(t.group(1)) if t else []
            buf = []
        else:
            buf.append(ln)
    flush()
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    if meta:
        nb.metadata["visrec"] = meta
    for i, cell in enumerate(nb.cells):  # stable ids keep diffs small when a notebook is regenerated
        cell["id"] = f"cell-{i:03d}"
    return nb


def main() -> int:
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    nb = convert(src.read_text(encoding="utf-8"))
    nbformat.write(nb, dst)
    print(f"wrote {dst} ({len(nb.cells)} cells)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
