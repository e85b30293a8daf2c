"""The interview text of every notebook, checked by ``make hygiene`` (issue 27, rule 1; docs/notebook-anatomy.md,
"The interview text").

Rules, for each question and task notebook that is not on ``PENDING``:

- ``length``: the English ``## Answer in 60 seconds`` has at most ``EN_ANSWER_MAX_WORDS`` words, the Chinese
  ``## 60 秒回答`` at most ``ZH_ANSWER_MAX_UNITS`` units (``chinese_units``).
- ``figures``: neither states a figure of this run (``run_figures``: a decimal number, a percentage, percentage
  points or a multiplier such as ``12x``/``12 倍``), except at most ``MAX_BOUND_FIGURES`` per language bound to its
  record by h21's marker right after it (``0.358<!--fig t02.p@10.English.index-->``, visrec_book/figures.py, which
  checks the value). Conventions (``95% interval``, ``p < 0.05``, ``IoU 0.5``, ``@10``) are not figures; a setting
  or a worked example that no run measured is marked ``<!--not-measured-->`` right after it (``skip 0.1<!--not-
  measured-->``). Both markers are HTML comments: the reader sees only the number.
- ``followups``: ``## Follow-up questions`` and ``## 追问`` each hold ``FOLLOWUPS`` items ``N. **question**
  answer``, each with an answer of at most ``FOLLOWUP_EN_MAX_WORDS`` words (``FOLLOWUP_ZH_MAX_UNITS`` units).
- ``takeaways``: every pitfall (a ``### `` heading under ``## Pitfalls``) has one line ``> 要点：...`` in Chinese,
  at most ``TAKEAWAY_MAX_UNITS`` units.

How text is counted: markdown is reduced to what a reader hears (``spoken``: HTML comments, code ticks, emphasis
and link targets dropped). An English word is a run of letters or digits, joined by ``' . - @ / +`` inside it
(``NDCG@10``, ``item-kNN``, ``0.358`` and ``p<0.05``'s ``0.05`` are one word each). A Chinese unit is one CJK
character, or one such English word or number inside the Chinese text (``用 ALS 训练`` is 5 units); punctuation
counts nothing.

The glossary check (``glossary_problems``, docs/glossary.tsv, see ``visrec_book.glossary``) runs on every notebook,
pending or not.

``python -m visrec_book.answers [notebooks]`` prints which notebook fails which rule (pending ones included).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from visrec_book.flashcards import ANSWER_HEADINGS, section
from visrec_book.glossary import Term, load_glossary
from visrec_book.mock_interview import FOLLOWUP_HEADINGS, parse_followups
from visrec_book.workbook import list_notebooks

EN_ANSWER_MAX_WORDS = 160
ZH_ANSWER_MAX_UNITS = 300
MAX_BOUND_FIGURES = 1       # per language, in the 60-second answer
FOLLOWUPS = (3, 5)          # how many follow-up questions (docs/notebook-anatomy.md)
FOLLOWUP_EN_MAX_WORDS = 50  # a short answer: about 20 seconds said aloud
FOLLOWUP_ZH_MAX_UNITS = 90
TAKEAWAY_MAX_UNITS = 60

RULES = ("length", "figures", "followups", "takeaways")

# Notebooks whose interview text has not been rewritten yet (issues 23-26): the rules are not enforced for them.
# A notebook group removes its stems as it lands; hygiene fails a stem that passes every rule and is still listed.
PENDING = {
    "q01_content_based_recommendation", "q02_noise_and_blur", "q03_feature_extractor",
    "q04_collaborative_filtering", "q05_cold_start", "q06_realtime_recommendation", "q07_evaluation",
    "q08_missing_labels", "q09_cross_domain", "q10_deep_learning_recognition_recommendation", "q11_cnn_features",
    "q12_gan_generation_recommendation", "q13_transfer_learning", "q14_high_dimensionality",
    "q15_scalable_architecture", "t01_cnn_image_classification", "t02_keyword_image_retrieval",
    "t03_collaborative_filtering_program", "t04_tag_based_recommendation", "t05_gan_program",
    "t06_object_recognition", "t07_transfer_learning_new_dataset", "t08_realtime_browsing_recommendation",
    "t09_image_segmentation", "t10_style_transfer",
}

CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
WORD = re.compile(r"[A-Za-z0-9]+(?:['’.@/+\-][A-Za-z0-9]+)*")
# Engineer h21's figure marker (visrec_book/figures.py, issue 21): ``2.17 ms<!--fig q06.p50_ms.exact-->`` binds the
# last number before it on its line to a recorded figure, and hygiene checks the two agree.
FIG_MARKER = re.compile(r"<!--\s*fig\s+[^>]*?-->")
NOT_MEASURED = re.compile(r"<!--\s*not-measured\s*-->")
NUMBER = re.compile(r"[-+\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?%?")
# A figure as a run reports it: a decimal, a percentage (or percentage points), a multiplier.
FIGURE = re.compile(
    r"(?<![\w.^])(?:\d+(?:,\d{3})*(?:\.\d+)?\s?(?:%|percent\b|per cent\b|个百分点|个点|倍)"
    r"|\d+(?:,\d{3})*(?:\.\d+)?\s?[x×](?![\w\d])(?!\s?\d)"
    r"|\d+\.\d+)")
# Figures that are conventions, not results: the 95% interval, p-values and alpha, a cut-off after @, the standard IoU
# thresholds (0.5, 0.75, 0.5:0.95), a version. (Sizes such as 8x8 and powers such as 10^8 x 256 are not matched by FIGURE at all.)
CONVENTION = re.compile(
    r"95\s?%\s?(?:confidence\s|bootstrap\s)?(?:interval|CI|置信|区间)"
    r"|\b(?:p|alpha|α)\s?(?:<|>|=|≤|≥|<=|>=)\s?0\.\d+"
    r"|@\d+(?:\.\d+)?|IoU[^\d]{0,60}?0\.(?:5|75)(?:\s?[:–-]\s?0\.95)?(?![\d.])"
    r"|\bv\d+(?:\.\d+)+", re.I)


def spoken(markdown: str) -> str:
    """Markdown reduced to what a reader says: comments, code ticks, emphasis, link targets and bullet
    marks dropped."""
    text = re.sub(r"<!--.*?-->", " ", markdown, flags=re.S)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"^\s*(?:[-*]|\d+\.)\s+", "", text, flags=re.M)
    return re.sub(r"[`*_#>]", " ", text)


def english_words(markdown: str) -> int:
    """Words of English text as said aloud (see the module docstring)."""
    return len(WORD.findall(spoken(markdown)))


def chinese_units(markdown: str) -> int:
    """Length of Chinese text: one per CJK character plus one per English word or number in it."""
    text = spoken(markdown)
    return len(CJK_CHAR.findall(text)) + len(WORD.findall(CJK_CHAR.sub(" ", text)))


@dataclass(frozen=True)
class Figure:
    text: str          # as written, e.g. "0.358", "80%", "12x"
    bound: bool        # a figure marker (``<!--fig NAME-->``) binds it to a recorded figure


def run_figures(markdown: str) -> list[Figure]:
    """The figures of this run that a text states: decimals, percentages and multipliers, except conventions
    ("95% interval", "p < 0.05", "IoU 0.5", "NDCG@10") and figures marked ``<!--not-measured-->`` right after
    them (a setting such as a weight policy or Adam's beta1, or a worked example: not a measurement). ``bound``
    when h21's marker ``<!--fig NAME-->`` follows it on its line with no other number in between."""
    skip = [m.span() for m in CONVENTION.finditer(markdown)]
    bound_at = []
    for m in FIG_MARKER.finditer(markdown):
        line_start = markdown.rfind("\n", 0, m.start()) + 1
        before = list(NUMBER.finditer(FIG_MARKER.sub(lambda x: " " * len(x.group(0)), markdown[:m.start()]),
                                      line_start))
        if before:
            bound_at.append(before[-1].span())
    found = []
    for m in FIGURE.finditer(markdown):
        if any(a <= m.start() < b for a, b in skip):
            continue
        if NOT_MEASURED.match(markdown, m.end()) or NOT_MEASURED.match(markdown, m.end() + 1):
            continue
        found.append(Figure(m.group(0), any(a < m.end() and m.start() < b for a, b in bound_at)))
    return found


def _markdown(cells: list[dict]) -> list[str]:
    return ["".join(c.get("source", "")) for c in cells if c.get("cell_type") == "markdown"]


def pitfalls(cells: list[dict]) -> list[tuple[str, str]] | None:
    """(heading, markdown) of each pitfall: the ``### `` subsections of ``## Pitfalls`` (markdown cells up to the
    next ``## `` heading; code cells in between skipped). None when the notebook has no Pitfalls section."""
    text, inside = [], False
    for md in _markdown(cells):
        for line in md.splitlines():
            if re.match(r"^##\s", line):
                if inside:
                    break
                inside = bool(re.match(r"^##\s+Pitfalls\s*$", line))
                continue
            if inside:
                text.append(line)
        else:
            continue
        break
    if not inside and not text:
        return None
    parts = re.split(r"^###\s+(.+)$", "\n".join(text), flags=re.M)
    return [(parts[i].strip(), parts[i + 1]) for i in range(1, len(parts), 2)]


TAKEAWAY = re.compile(r"^>\s*\**要点\**\s*[：:]\s*\**(.*)$")


def rule_problems(name: str, cells: list[dict]) -> dict[str, list[str]]:
    """Every rule's problems with a notebook's interview text (rule -> problems; empty lists when it passes)."""
    md = _markdown(cells)
    out: dict[str, list[str]] = {r: [] for r in RULES}
    for lang, limit, count, unit in (("en", EN_ANSWER_MAX_WORDS, english_words, "words"),
                                     ("zh", ZH_ANSWER_MAX_UNITS, chinese_units, "units")):
        heading = ANSWER_HEADINGS[lang]
        body = section(md, re.escape(heading))
        if body is None:
            out["length"].append(f"{name}: no '## {heading}' section")
            continue
        n = count(body)
        if n > limit:
            out["length"].append(f"{name}: '## {heading}' is {n} {unit}, at most {limit}")
        figures = run_figures(body)
        unbound = [f.text for f in figures if not f.bound]
        if unbound:
            out["figures"].append(f"{name}: '## {heading}' states this run's figures {unbound[:6]}"
                                  f"{' ...' if len(unbound) > 6 else ''}: say the principle, or bind at most "
                                  f"{MAX_BOUND_FIGURES} to its record (<!--fig NAME--> right after it)")
        bound = [f.text for f in figures if f.bound]
        if len(bound) > MAX_BOUND_FIGURES:
            out["figures"].append(f"{name}: '## {heading}' quotes {len(bound)} recorded figures {bound}, "
                                  f"at most {MAX_BOUND_FIGURES}")
    for lang, limit, count, unit in (("en", FOLLOWUP_EN_MAX_WORDS, english_words, "words"),
                                     ("zh", FOLLOWUP_ZH_MAX_UNITS, chinese_units, "units")):
        heading = FOLLOWUP_HEADINGS[lang]
        label = {"en": "Follow-up questions", "zh": "追问"}[lang]
        body = section(md, heading)
        if body is None:
            out["followups"].append(f"{name}: no '## {label}' section")
            continue
        items = [i.strip() for i in re.split(r"^\d+\.\s+", body, flags=re.M)[1:]]
        parsed = parse_followups(body)
        if not FOLLOWUPS[0] <= len(items) <= FOLLOWUPS[1]:
            out["followups"].append(f"{name}: '## {label}' has {len(items)} questions, "
                                    f"{FOLLOWUPS[0]}-{FOLLOWUPS[1]} expected")
        if len(parsed) < len(items):
            out["followups"].append(f"{name}: '## {label}' has {len(items) - len(parsed)} item(s) not written "
                                    "'N. **question** answer'")
        for k, f in enumerate(parsed, 1):
            n = count(f.answer)
            if n == 0:
                out["followups"].append(f"{name}: '## {label}' question {k} has no answer")
            elif n > limit:
                out["followups"].append(f"{name}: '## {label}' answer {k} is {n} {unit}, at most {limit}")
    found = pitfalls(cells)
    if found is None:
        out["takeaways"].append(f"{name}: no '## Pitfalls' section")
    elif not found:
        out["takeaways"].append(f"{name}: '## Pitfalls' has no '### ' pitfall headings")
    for k, (heading, text) in enumerate(found or [], 1):
        lines = text.splitlines()
        hits = [i for i, ln in enumerate(lines) if TAKEAWAY.match(ln.strip())]
        where = f"{name}: pitfall {k} ({heading[:50]!r})"
        if not hits:
            out["takeaways"].append(f"{where} has no Chinese takeaway line '> 要点：...'")
            continue
        if len(hits) > 1:
            out["takeaways"].append(f"{where} has {len(hits)} takeaway lines; keep one")
        i = hits[0]
        said = TAKEAWAY.match(lines[i].strip()).group(1)
        if i + 1 < len(lines) and re.match(r"^>\s*\S", lines[i + 1].strip()) and i + 1 not in hits:
            out["takeaways"].append(f"{where}: the takeaway runs over more than one line")
        if not CJK_CHAR.search(said):
            out["takeaways"].append(f"{where}: the takeaway has no Chinese text")
        elif chinese_units(said) > TAKEAWAY_MAX_UNITS:
            out["takeaways"].append(f"{where}: the takeaway is {chinese_units(said)} units, "
                                    f"at most {TAKEAWAY_MAX_UNITS}")
    return out


# ---- the glossary -------------------------------------------------------------------------------------------

def _mentions(english: str, term: str) -> bool:
    return re.search(rf"(?<![A-Za-z]){re.escape(term)}", english, re.I) is not None


def _pairs(cells: list[dict]) -> list[tuple[str, str, str]]:
    """(where, Chinese, English) units: each 60-second bullet and follow-up with its English counterpart, each
    pitfall's takeaway with its pitfall, and every other Chinese line with the English of its cell."""
    from visrec_book.hygiene import top_level_bullets  # here: hygiene imports this module

    md = _markdown(cells)
    pairs = []
    for heading, kind in ((ANSWER_HEADINGS, "bullet"), (FOLLOWUP_HEADINGS, "follow-up")):
        en_body = section(md, re.escape(heading["en"]) if kind == "bullet" else heading["en"]) or ""
        zh_body = section(md, re.escape(heading["zh"]) if kind == "bullet" else heading["zh"]) or ""
        if kind == "bullet":
            en, zh = top_level_bullets(en_body), top_level_bullets(zh_body)
        else:
            en = [f"{f.question} {f.answer}" for f in parse_followups(en_body)]
            zh = [f"{f.question} {f.answer}" for f in parse_followups(zh_body)]
        for k, text in enumerate(zh):
            pairs.append((f"'## {heading['zh']}' {kind} {k + 1}", text, en[k] if k < len(en) else ""))
    for k, (heading, text) in enumerate(pitfalls(cells) or [], 1):
        for line in text.splitlines():
            if TAKEAWAY.match(line.strip()):
                pairs.append((f"pitfall {k}'s takeaway", line, heading + "\n" + text))
    done = {zh for _, zh, _ in pairs}
    for i, cell in ((i, "".join(c.get("source", ""))) for i, c in enumerate(cells) if c.get("cell_type") == "markdown"):
        if re.search(r"^##\s+(?:60 秒回答|追问)\s*$", cell, re.M):
            continue
        english = "\n".join(ln for ln in cell.splitlines() if not CJK_CHAR.search(ln))
        for line in cell.splitlines():
            if CJK_CHAR.search(line) and not any(line.strip() and line.strip() in d for d in done):
                pairs.append((f"cell {i}", line, english))
    return pairs


def glossary_problems(name: str, cells: list[dict], terms: list[Term] | None = None) -> list[str]:
    """Chinese text that renders a glossary term by one of its known wrong variants. A row with context
    ``always`` flags the variant anywhere; ``paired`` flags it where the English beside it (the same bullet,
    follow-up or pitfall) says the row's term and says no term that the variant rightly translates."""
    terms = load_glossary() if terms is None else terms
    right = {}  # Chinese -> English terms it rightly translates
    for t in terms:
        for zh in re.split(r"[/；;]", t.chinese):
            right.setdefault(zh.strip(), []).append(t.english)
    problems = []
    for where, zh, en in _pairs(cells):
        for t in terms:
            for w in t.wrong:
                if w not in zh:
                    continue
                if t.paired and (not _mentions(en, t.english)
                                 or any(_mentions(en, e) for e in right.get(w, []))):
                    continue
                problems.append(f"{name}: {where} says {w!r} for '{t.english}': the glossary's term is "
                                f"{t.chinese!r}{' (' + t.note + ')' if t.note else ''}")
    return problems


# ---- hygiene's hook and the report --------------------------------------------------------------------------

def problems(path: Path, cells: list[dict], required: bool = True) -> list[str]:
    """What ``make hygiene`` reports for one question or task notebook: the glossary check always; the
    interview-text rules unless the notebook is on ``PENDING`` (then only a reminder when it passes them all).
    With ``required=False`` (hygiene's lenient mode, as for the Chinese layer) a notebook with no Chinese
    interview section at all is held to the glossary only."""
    found = glossary_problems(path.name, cells)
    md = _markdown(cells)
    if not required and section(md, re.escape(ANSWER_HEADINGS["zh"])) is None and section(md, "追问") is None:
        return found
    failing = [p for ps in rule_problems(path.name, cells).values() for p in ps]
    if path.stem not in PENDING:
        return found + failing
    if not failing:
        found.append(f"{path.name}: passes every interview-text rule but is still on answers.PENDING; "
                     "remove it there so the rules hold it")
    return found


def table(folder: Path | str) -> list[tuple[str, bool, dict[str, int]]]:
    """(stem, pending, rule -> number of problems) for each question and task notebook in ``folder``."""
    rows = []
    for path in list_notebooks(folder):
        if re.match(r"[qt]\d\d_", path.name):
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            found = rule_problems(path.name, cells)
            found["glossary"] = glossary_problems(path.name, cells)
            rows.append((path.stem, path.stem in PENDING, {r: len(p) for r, p in found.items()}))
    return rows


def summary(folder: Path | str) -> str:
    """One line for ``make hygiene``: how many notebooks are pending and which rules they fail."""
    rows = [r for r in table(folder) if r[1]]
    if not rows:
        return "answers: no notebook pending; every interview-text rule is enforced"
    failing = {rule: sum(1 for _, _, c in rows if c[rule]) for rule in RULES}
    return (f"answers: {len(rows)} notebooks pending (rules not enforced yet; `python -m visrec_book.answers` "
            "for the table), failing " + ", ".join(f"{rule} {n}" for rule, n in failing.items()))


def main(argv=None) -> int:
    folder = Path((argv or sys.argv[1:] or ["notebooks"])[0])
    rows = table(folder)
    cols = (*RULES, "glossary")
    print("| notebook | pending | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for stem, pending, counts in rows:
        print(f"| {stem} | {'yes' if pending else 'no'} | "
              + " | ".join(str(counts[c]) if counts[c] else "ok" for c in cols) + " |")
    for path in list_notebooks(folder):
        if re.match(r"[qt]\d\d_", path.name):
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            for rule, ps in rule_problems(path.name, cells).items():
                for p in ps:
                    print(f"{rule}: {p}")
            for p in glossary_problems(path.name, cells):
                print(f"glossary: {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
