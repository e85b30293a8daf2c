"""``make book``: execute every notebook, write executed copies and an HTML site under build/book,
with an index page and a results summary built from every notebook's recorded figures.

``python -m visrec_helpers.book.site --out build [--params learner|ci] [--only STEM ...]``
"""

from __future__ import annotations

import argparse
import html
import json
import time
from pathlib import Path

from visrec_helpers.book.workbook import NOTEBOOK_MAP, list_notebooks, prepare
from visrec_helpers.core.records import read_records

TOPICS = {stem: (num, topic) for num, stem, topic, _ in NOTEBOOK_MAP}


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


def write_index(out: Path, entries: list[dict], records: dict[str, dict]) -> Path:
    rows = "".join(
        f"<tr><td>{html.escape(TOPICS.get(e['stem'], ('', ''))[0])}</td>"
        f"<td><a href='html/{e['stem']}.html'>{html.escape(TOPICS.get(e['stem'], ('', e['stem']))[1])}</a></td>"
        f"<td>{e['status']}</td><td>{e['seconds']:.0f} s</td></tr>" for e in entries)
    res = "".join(f"<tr><td>{html.escape(s)}</td><td>{html.escape(n)}</td><td>{html.escape(v)}</td></tr>"
                  for s, n, v in results_table(records))
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Visual Recommendation Workbook</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}td,th{{padding:2px 8px;border-bottom:1px solid #ddd}}</style>
</head><body><h1>Visual Recommendation Workbook</h1>
<p>Executed {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.</p>
<h2>Notebooks</h2><table><tr><th>#</th><th>notebook</th><th>status</th><th>time</th></tr>{rows}</table>
<h2>Results summary</h2><table><tr><th>notebook</th><th>figure</th><th>value</th></tr>{res}</table>
</body></html>"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def build(out: Path, params: str = "learner", only=None, kernel_timeout: int = 1800) -> dict:
    import nbformat
    import papermill as pm
    from nbconvert import HTMLExporter
    from tqdm.auto import tqdm

    from visrec_helpers.book.workbook import ci_parameters

    out = Path(out)
    executed, html_dir = out / "executed", out / "html"
    html_dir.mkdir(parents=True, exist_ok=True)
    executed.mkdir(parents=True, exist_ok=True)
    notebooks = [p for p in list_notebooks() if not only or p.stem in only]
    entries, records = [], {}
    exporter = HTMLExporter()
    for path in tqdm(notebooks, desc="notebooks", unit="nb"):
        tqdm.write(f"executing {path.name} ...")
        prepared = prepare(path, out / "prepared", parameters=ci_parameters(path) if params == "ci" else {})
        t0 = time.perf_counter()
        status = "ok"
        try:
            pm.execute_notebook(str(prepared), str(executed / path.name), kernel_name="python3",
                                progress_bar=False, execution_timeout=kernel_timeout)
        except Exception as exc:  # keep going: the index shows which notebook failed and why
            status = f"FAILED: {type(exc).__name__}"
        seconds = time.perf_counter() - t0
        if (executed / path.name).exists():
            body, _ = exporter.from_notebook_node(nbformat.read(executed / path.name, as_version=4))
            (html_dir / f"{path.stem}.html").write_text(body, encoding="utf-8")
            records[path.stem] = read_records(executed / path.name)
        entries.append({"stem": path.stem, "status": status, "seconds": seconds})
        tqdm.write(f"  {path.name}: {status} in {seconds:.0f} s, {len(records.get(path.stem, {}))} figures")
    write_index(out, entries, records)
    (out / "results.md").write_text(results_markdown(records), encoding="utf-8")
    (out / "results.json").write_text(json.dumps(records, indent=1, sort_keys=True), encoding="utf-8")
    return {"entries": entries, "records": records}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m visrec_helpers.book.site")
    ap.add_argument("--out", default="build/book")
    ap.add_argument("--params", choices=["learner", "ci"], default="learner",
                    help="learner defaults (the parameters cell) or the CI parameters of each notebook")
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args(argv)
    result = build(Path(args.out), args.params, args.only)
    failed = [e["stem"] for e in result["entries"] if e["status"] != "ok"]
    print(f"\nwrote {args.out}/index.html, results.md ({sum(map(len, result['records'].values()))} figures)")
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
