"""Notebook hygiene checks run by ``make test``: no committed outputs, the anatomy of
../shared/notebook-conventions.md, a ``parameters`` cell, an assert cell, valid CI parameters,
and the Chinese layer in step with the English (docs/notebook-anatomy.md, "The Chinese layer").

``python -m visrec_book.hygiene notebooks`` prints every problem and exits 1 if any.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from visrec_book import answers
from visrec_book.flashcards import ANSWER_HEADINGS, section
from visrec_book.mock_interview import FOLLOWUP_HEADINGS, parse_followups
from visrec_book.workbook import ci_parameters, list_notebooks, parameter_names

SECTIONS = ["Answer in 60 seconds", "Parameters", "Walkthrough", "Results", "Check", "Pitfalls",
            "Follow-up", "Exercises", "References"]

CJK = re.compile(r"[\u3400-\u9fff]")
# (English heading pattern, Chinese heading, what the items are, the English section's name)
_LAYER = [(ANSWER_HEADINGS["en"], ANSWER_HEADINGS["zh"], "bullets", "Answer in 60 seconds"),
          (FOLLOWUP_HEADINGS["en"], FOLLOWUP_HEADINGS["zh"], "follow-ups", "Follow-up questions")]


def top_level_bullets(body: str) -> list[str]:
    """The ``- `` bullets of a section body, each with its indented continuation lines."""
    return [b.strip() for b in re.split(r"^[-*]\s+", body, flags=re.M)[1:]]


def numbered_items(body: str) -> list[str]:
    """The ``N. `` items of a section body, each with its continuation lines."""
    return [b.strip() for b in re.split(r"^\d+\.\s+", body, flags=re.M)[1:]]


def _heading_cells(md: list[tuple[int, str]], heading: str) -> list[int]:
    return [i for i, text in md if re.search(rf"^##\s+{heading}\s*$", text, re.M)]


def has_chinese(path: Path) -> bool:
    """True when the notebook has both Chinese sections (``## 60 秒回答`` and ``## 追问``)."""
    text = "\n".join("".join(c.get("source", "")) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
                     if c.get("cell_type") == "markdown")
    return all(re.search(rf"^##\s+{zh}\s*$", text, re.M) for _, zh, _, _ in _LAYER)


def missing_chinese(folder: Path | str) -> list[str]:
    """Stems of the question and task notebooks in ``folder`` that lack a Chinese section."""
    return [p.stem for p in list_notebooks(Path(folder)) if re.match(r"[qt]\d\d_", p.name) and not has_chinese(p)]


def check_chinese(name: str, cells: list[dict], required: bool) -> list[str]:
    """Problems with a notebook's Chinese layer: each of ``## 60 秒回答`` and ``## 追问`` is the
    markdown cell right after its English section, with as many bullets (follow-ups) as the English,
    each on one line and with Chinese text. With ``required=False`` a notebook with no Chinese section at all passes."""
    md = [(i, "".join(c.get("source", ""))) for i, c in enumerate(cells) if c.get("cell_type") == "markdown"]
    if not required and not any(_heading_cells(md, zh) for _, zh, _, _ in _LAYER):
        return []
    problems = []
    for en, zh, kind, en_name in _LAYER:
        en_at, zh_at = _heading_cells(md, en), _heading_cells(md, zh)
        label = f"'## {zh}'"
        if not zh_at:
            problems.append(f"{name}: no {label} cell (the Chinese of '## {en_name}'; "
                            "see docs/notebook-anatomy.md, 'The Chinese layer')")
            continue
        if len(zh_at) > 1:
            problems.append(f"{name}: {len(zh_at)} {label} cells (cells {zh_at}); keep one")
            continue
        text = dict(md)[zh_at[0]]
        if not text.lstrip().startswith("## "):
            problems.append(f"{name}: {label} must open its own markdown cell (cell {zh_at[0]})")
        if en_at and zh_at[0] != en_at[0] + 1:
            problems.append(f"{name}: {label} is cell {zh_at[0]}; it must be the cell right after the English "
                            f"one (cell {en_at[0]})")
        en_body = section([t for _, t in md], en) if en_at else None
        zh_body = section([text], re.escape(zh)) or ""
        item_start = r"^[-*]\s" if kind == "bullets" else r"^\d+\.\s"
        stray = [ln for ln in zh_body.splitlines() if ln.strip() and not re.match(item_start, ln)]
        if stray:
            problems.append(f"{name}: {label} has a line that does not start one of its {kind}: {stray[0][:60]!r} "
                            "(one line each: a line break inside Chinese text shows as a space)")
        if kind == "bullets":
            items = top_level_bullets(zh_body)
            n_en = len(top_level_bullets(en_body)) if en_body is not None else None
            texts = items
        else:
            items = numbered_items(zh_body)
            parsed = parse_followups(zh_body)
            if len(parsed) != len(items):
                problems.append(f"{name}: {label} has {len(items)} numbered items but only {len(parsed)} read as "
                                "'N. **问题** 答案'")
            n_en = len(parse_followups(en_body)) if en_body is not None else None
            texts = [t for f in parsed for t in (f.question, f.answer)]
        if n_en is not None and len(items) != n_en:
            problems.append(f"{name}: {label} has {len(items)} {kind}, the English '## {en_name}' has {n_en}")
        english = [t for t in texts if not CJK.search(t)]
        if english:
            problems.append(f"{name}: {label} has {kind} with no Chinese text: {english[0][:60]!r}")
    return problems


def check_notebook(path: Path, require_chinese: bool = False) -> list[str]:
    """Problems found in one notebook file (empty list when clean). The Chinese layer is checked
    when the notebook has a Chinese section, or always with ``require_chinese`` (``make hygiene``
    requires it of every question and task notebook)."""
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
    problems += check_chinese(path.name, cells, require_chinese)
    problems += answers.problems(path, cells, require_chinese)  # interview-text rules, glossary (issue 27)
    return problems


def main(argv=None) -> int:
    folder = Path((argv or sys.argv[1:] or ["notebooks"])[0])
    notebooks = list_notebooks(folder)
    if not notebooks:
        print(f"hygiene: no notebooks found in {folder}")
        return 1
    problems = [p for nb in notebooks for p in check_notebook(nb, require_chinese=True)]
    from visrec_book.figures import hygiene_problems  # marked prose figures, one parameter set (issue 21)
    problems += hygiene_problems(folder)
    for p in problems:
        print("hygiene:", p)
    print(f"hygiene: {len(notebooks)} notebooks checked, {len(problems)} problems")
    print("hygiene:", answers.summary(folder))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
