"""``make book``: execute every notebook once with papermill, then render the executed copies as a
static site with Sphinx + MyST-NB (no re-execution): a sidebar by part (Start, Questions, Tasks),
full-text search, figures, a results summary page built from every notebook's recorded figures, and the glossary
(术语表, from docs/glossary.tsv).

``python -m visrec_book.site --out build/book [--params learner|ci] [--only STEM ...]``

Writes under ``--out``: ``executed/`` (the executed notebooks), ``site/`` (the HTML site; open
``site/index.html``, or ``index.html``, which redirects there), ``results.md``, ``results.json`` and
``sphinx.log`` (Sphinx's warnings).
Needs the ``book`` extra (``pip install -e ".[book]"``, which ``make book`` installs).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from visrec_book.glossary import glossary_markdown
from visrec_book.workbook import list_notebooks, prepare
from visrec_helpers.core.records import read_records


def results_table(records: dict[str, dict]) -> list[tuple[str, str, str]]:
    """Rows (notebook, figure, value) for every recorded figure, numbers to 4 significant digits."""
    rows = []
    for stem, recs in sorted(records.items()):
        for name, value in sorted(recs.items()):
            text = f"{value:.4g}" if isinstance(value, float) else json.dumps(value)[:80]
            rows.append((stem, name, text))
    return rows


def results_markdown(records: dict[str, dict]) -> str:
    lines = ["| notebook | figure | value |", "|---|---|---|"]
    lines += [f"| {s} | {n} | {v} |" for s, n, v in results_table(records)]
    return "\n".join(lines)


def _short(value) -> str:
    """A figure in a few characters: 3 significant digits, dicts and lists shortened."""
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in list(value.items())[:6]) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value[:6]) + (", ..." if len(value) > 6 else "") + "]"
    return str(value)


def results_compact(records: dict[str, dict], max_chars: int = 600) -> str:
    """One Markdown row per notebook with its figures as ``name = value`` (the notebook's own
    prefix dropped), for the README."""
    lines = ["| notebook | recorded figures |", "|---|---|"]
    for stem, recs in sorted(records.items()):
        prefix = stem.split("_")[0] + "."
        parts = []
        for name, value in sorted(recs.items()):
            parts.append(f"{name.removeprefix(prefix)} = {_short(value)}")
        cell = "; ".join(parts)
        lines.append(f"| {stem} | {cell[:max_chars] + (' ...' if len(cell) > max_chars else '')} |")
    return "\n".join(lines)


PARTS = [("Start", "00_"), ("Questions", "q"), ("Tasks", "t")]  # sidebar captions, by file-name prefix
HIDDEN_TAGS = {"netguard"}  # harness cells in the executed copies that the site does not show

CONF_PY = """# Written by visrec_book.site: the book's Sphinx configuration.
project = "Visual Recommendation Workbook"
author = "the workbook's contributors"
html_title = project
extensions = ["myst_nb"]
nb_execution_mode = "off"  # make book executed every notebook once with papermill already
nb_merge_streams = True
nb_ipywidgets_js = {}  # no scripts from a CDN: the site reads offline (widgets run in JupyterLab only)
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
html_theme = "sphinx_book_theme"
html_theme_options = {"home_page_in_toc": True, "show_navbar_depth": 1, "use_download_button": True}
html_search_language = "en"
html_show_sourcelink = False
exclude_patterns = ["**.ipynb_checkpoints"]
suppress_warnings = ["myst.header", "myst.xref_missing", "mystnb.unknown_mime_type", "misc.highlighting_failure"]
"""


def part_of(stem: str) -> str | None:
    """The sidebar part of a notebook (``Start``, ``Questions``, ``Tasks``), None for others."""
    return next((part for part, prefix in PARTS if stem.startswith(prefix)), None)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def results_page(entries: list[dict], records: dict[str, dict]) -> str:
    """The site's results summary (MyST Markdown): how each notebook ran, then every recorded figure."""
    lines = ["# Results summary", "",
             f"Executed {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `make book`; every figure below "
             "is one a notebook recorded with `visrec_helpers.record`.", "",
             "## Notebooks", "", "| notebook | status | time |", "|---|---|---|"]
    for e in entries:
        link = f"[{e['stem']}]({e['stem']}.ipynb)" if e.get("page") else e["stem"]
        lines.append(f"| {link} | {_md_cell(e['status'])} | {e['seconds']:.0f} s |")
    lines += ["", "## Recorded figures", "", "| notebook | figure | value |", "|---|---|---|"]
    lines += [f"| {s} | {_md_cell(n)} | {_md_cell(v)} |" for s, n, v in results_table(records)]
    return "\n".join(lines) + "\n"


def root_page(stems: list[str]) -> str:
    """The site's landing page: one table of contents per part, which the theme shows as the sidebar."""
    lines = ["# Visual Recommendation Workbook", "",
             "15 interview questions and 10 coding tasks on visual recommendation, each answered by a "
             "notebook that runs, measures and checks its own claims. These pages are the notebooks as "
             "`make book` executed them.", ""]
    for part, _ in PARTS:
        docs = [s for s in stems if part_of(s) == part] + (["results", "glossary"] if part == "Start" else [])
        if docs:
            lines += ["```{toctree}", f":caption: {part}", ":maxdepth: 1", "", *docs, "```", ""]
    return "\n".join(lines)


def _site_copy(executed: Path, dest: Path) -> None:
    """Copy an executed notebook into the site's sources, harness cells tagged ``remove-cell``."""
    nb = json.loads(Path(executed).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if HIDDEN_TAGS & set(tags) and "remove-cell" not in tags:
            tags.append("remove-cell")
    dest.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")


def render_site(out: Path, executed: list[Path], entries: list[dict], records: dict[str, dict]) -> Path:
    """Render executed notebooks as a Sphinx site in ``out/site`` (nothing is re-executed); returns
    the path of its index.html. ``out/index.html`` redirects there."""
    import shutil
    import subprocess
    import sys

    out = Path(out)
    src = out / "src"
    if src.exists():
        shutil.rmtree(src)  # a page from an earlier run must not linger in this run's site
    src.mkdir(parents=True)
    stems = []
    for path in sorted(executed, key=lambda p: Path(p).name):
        path = Path(path)
        if part_of(path.stem) is not None:
            _site_copy(path, src / path.name)
            stems.append(path.stem)
    shown = set(stems)
    entries = [dict(e, page=e["stem"] in shown) for e in entries]
    (src / "conf.py").write_text(CONF_PY, encoding="utf-8")
    (src / "index.md").write_text(root_page(stems), encoding="utf-8")
    (src / "results.md").write_text(results_page(entries, records), encoding="utf-8")
    (src / "glossary.md").write_text(glossary_markdown(), encoding="utf-8")  # 术语表, from docs/glossary.tsv
    site = out / "site"
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", "1", "-d", str(out / ".doctrees"),
           str(src), str(site)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    (out / "sphinx.log").write_text(proc.stderr, encoding="utf-8")  # Sphinx's warnings, for whoever edits a page
    if proc.returncode != 0:
        raise RuntimeError(f"sphinx-build failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    (out / "index.html").write_text(
        '<!doctype html><meta charset="utf-8"><title>Visual Recommendation Workbook</title>'
        '<meta http-equiv="refresh" content="0; url=site/index.html"><a href="site/index.html">the book</a>\n',
        encoding="utf-8")
    return site / "index.html"


def build(out: Path, params: str = "learner", only=None, kernel_timeout: int = 1800) -> dict:
    import papermill as pm
    from tqdm.auto import tqdm

    from visrec_book.workbook import ci_parameters

    out = Path(out)
    executed = out / "executed"
    executed.mkdir(parents=True, exist_ok=True)
    notebooks = [p for p in list_notebooks() if not only or p.stem in only]
    if only and len(notebooks) != len(set(only)):
        unknown = sorted(set(only) - {p.stem for p in notebooks})
        raise ValueError(f"only: no notebook named {unknown} in notebooks/")
    entries, records, done = [], {}, []
    for path in tqdm(notebooks, desc="notebooks", unit="nb"):
        tqdm.write(f"executing {path.name} ...")
        prepared = prepare(path, out / "prepared", parameters=ci_parameters(path) if params == "ci" else {},
                           records_dir=out / "records")  # learner runs' records: `figures accept --from`
        (executed / path.name).unlink(missing_ok=True)  # a failed run must not leave an older copy behind
        t0 = time.perf_counter()
        status = "ok"
        try:
            pm.execute_notebook(str(prepared), str(executed / path.name), kernel_name="python3",
                                progress_bar=False, execution_timeout=kernel_timeout)
        except Exception as exc:  # keep going: the results page shows which notebook failed and why
            status = f"FAILED: {type(exc).__name__}"
        seconds = time.perf_counter() - t0
        if (executed / path.name).exists():
            done.append(executed / path.name)
            records[path.stem] = read_records(executed / path.name)
        entries.append({"stem": path.stem, "status": status, "seconds": seconds})
        tqdm.write(f"  {path.name}: {status} in {seconds:.0f} s, {len(records.get(path.stem, {}))} figures")
    (out / "results.md").write_text(results_markdown(records), encoding="utf-8")
    (out / "results.json").write_text(json.dumps(records, indent=1, sort_keys=True), encoding="utf-8")
    tqdm.write("rendering the site with Sphinx ...")
    index = render_site(out, done, entries, records)
    return {"entries": entries, "records": records, "index": index}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m visrec_book.site")
    ap.add_argument("--out", default="build/book")
    ap.add_argument("--params", choices=["learner", "ci"], default="learner",
                    help="learner defaults (the parameters cell) or the CI parameters of each notebook")
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args(argv)
    result = build(Path(args.out), args.params, args.only)
    failed = [e["stem"] for e in result["entries"] if e["status"] != "ok"]
    warnings = (Path(args.out) / "sphinx.log").read_text(encoding="utf-8").count("WARNING")
    print(f"\nSphinx: {warnings} warnings (in {args.out}/sphinx.log)")
    print(f"wrote {result['index']}, {args.out}/results.md ({sum(map(len, result['records'].values()))} figures)")
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
