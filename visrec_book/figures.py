"""Figures single-sourced: every number the prose quotes is bound to a figure a run recorded.

**Run records.** After a notebook runs under the harness (``make notebooks``, ``make book``,
``make seeds``), its last cell writes ``<records dir>/<stem>.json``::

    {"notebook": "q06_realtime_recommendation", "parameters": {...every parameter as run...},
     "seconds": 41.2, "threads": "1", "date": "2026-12-07 23:50 UTC", "figures": {name: value}}

``notebooks/records/<stem>.json`` is the committed record of the notebook's last learner run (the
parameters cell as committed). ``python -m visrec_book.figures accept --from build/records --only
STEM`` copies a run's record there (refusing one whose parameters are not the notebook's defaults).
Records whose ``parameters`` is null were carried over from the README table of an older run (3
significant digits); a notebook replaces its own with a real one when it next runs.

**Markers.** A figure quoted in markdown prose carries a marker right after it, invisible in
JupyterLab and on the site::

    exact search costs **2.17 ms**<!--fig q06.p50_ms.exact--> at the median
    IVF is 12 times<!--fig q06.p50_ms.exact / q06.p50_ms.faiss-ivf--> faster
    about 99%<!--fig q01.same_share .0%--> of positions

The quoted text is the last number before the marker on its line (units, ``**`` and spaces may sit
between). ``<!--fig NAME [/ NAME] [FORMAT]-->``: NAME is a recorded figure's full name (any
notebook's); ``A / B`` quotes a ratio of two figures; FORMAT is a Python format spec (``.2f``,
``.0%``, ``,.0f``, ``.3g``); without one, the precision is the quoted text's own (``2.17`` -> ``.2f``,
``80%`` -> ``.0%``, ``8,245`` -> ``,.0f``).

**Checks.**
(a) ``check_notebook`` (part of ``make hygiene``): a marked figure must equal the committed record
    formatted at the quoted precision; a marker naming no committed figure fails too.
(b) ``compare`` (the last step of ``make notebooks``): a run's figures against the committed record
    of a run with the same parameters, with a tolerance per kind of figure (``TOLERANCE``):
    timings (``TIMING``) only to their order of magnitude (within a factor of 10: machines and their
    load differ; widened by how much more one run was stretched than the other, wall over CPU
    seconds, so a run on a loaded shared machine is not read as a drift), other floats within 2% or
    0.001, integers, booleans and strings exactly. A run
    whose parameters differ from the committed record's (a notebook still on ``workbook.PENDING``,
    run with its CI parameters) is not compared, and says so.

**README.** ``python -m visrec_book.figures readme --write`` regenerates README's results section
and the per-notebook table of "How long things take" from the committed records (a headline per
notebook, ``HEADLINES``); ``readme --check`` exits 1 when README differs from the generated text.

Command line::

    python -m visrec_book.figures check [notebooks]
    python -m visrec_book.figures compare --run build/records [--only STEM ...]
    python -m visrec_book.figures accept --from build/records --only STEM ...
    python -m visrec_book.figures readme [--write | --check]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

from visrec_book.workbook import NOTEBOOK_MAP, ROOT, list_notebooks, parameter_defaults

RECORDS_DIR = ROOT / "notebooks" / "records"
README = ROOT / "README.md"

# Figures measured in time, or derived from a time measured in the run (q15 sizes its node counts
# from the search cost it measures): they move with the machine and its load.
TIMING = re.compile(r"(^|[._])(ms|seconds?|s|minutes?|cpu|per_s|latency|throughput|time|speedup|p50|p95|p99|qps|wall"
                    r"|nodes|fit_seconds_ratio)([._@]|$)")
TOLERANCE = {"timing": 10.0, "float_rel": 0.02, "float_abs": 1e-3}

MARKER = re.compile(r"<!--\s*fig\s+(?P<body>[^>]*?)\s*-->")
NUMBER = re.compile(r"[-+\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?%?")
FORMAT_SPEC = re.compile(r"^,?\.?\d*[fg%de]?$|^,$")


# ----------------------------------------------------------------------------------------- records
def load_record(path: Path | str) -> dict:
    """A record file as ``{"figures": ..., "parameters": ..., "seconds": ...}`` (an older flat file of
    figures only is read as ``{"figures": it}``)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if "figures" not in data:
        data = {"figures": data, "parameters": None, "seconds": None}
    return data


def committed_records(folder: Path | str = RECORDS_DIR) -> dict[str, dict]:
    """Every committed record, by notebook stem."""
    return {p.stem: load_record(p) for p in sorted(Path(folder).glob("*.json"))}


def all_figures(records: dict[str, dict]) -> dict:
    """One ``{name: value}`` of every notebook's figures (names are unique across notebooks)."""
    out: dict = {}
    for rec in records.values():
        out.update(rec["figures"])
    return out


# ----------------------------------------------------------------------------------------- markers
def infer_format(quoted: str) -> str:
    """The format spec that writes a number at the precision of ``quoted`` (``2.17`` -> ``.2f``)."""
    q = quoted.lstrip("+-\u2212")
    if re.search(r"[eE]", q):
        mantissa = q.split("e")[0].split("E")[0]
        return f".{len(mantissa.split('.')[1]) if '.' in mantissa else 0}e"
    pct = q.endswith("%")
    q = q.rstrip("%")
    decimals = len(q.split(".")[1]) if "." in q else 0
    return ("," if "," in q else "") + f".{decimals}" + ("%" if pct else "f")


def format_value(value, spec: str) -> str:
    return format(value, spec).replace("\u2212", "-")


def parse_marker(body: str) -> tuple[list[str], str | None]:
    """``'q06.a / q06.b .1f'`` -> (['q06.a', 'q06.b'], '.1f')."""
    spec = None
    head, _, last = body.rpartition(" ")
    if head and FORMAT_SPEC.match(last) and any(ch in last for ch in ".,%"):
        body, spec = head, last
    names = [n.strip() for n in body.split(" / ")]
    return names, spec


def markers(text: str) -> list[dict]:
    """Every marker in a markdown text: its names, format, quoted number and line."""
    found = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for m in MARKER.finditer(line):
            before = MARKER.sub("", line[:m.start()])
            numbers = list(NUMBER.finditer(before))
            names, spec = parse_marker(m.group("body"))
            found.append({"names": names, "spec": spec, "quoted": numbers[-1].group(0) if numbers else None,
                          "line": lineno, "text": line.strip()})
    return found


def marker_value(names: list[str], figures: dict):
    values = []
    for n in names:
        if n not in figures:
            raise KeyError(n)
        values.append(figures[n])
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return values[0] / values[1]
    raise ValueError("a marker quotes one figure or a ratio 'A / B'")


def check_text(label: str, text: str, figures: dict) -> list[str]:
    """Problems with the markers of one markdown text against ``figures`` (empty when all agree)."""
    problems = []
    for mk in markers(text):
        where = f"{label} line {mk['line']}"
        if mk["quoted"] is None:
            problems.append(f"{where}: marker {'/'.join(mk['names'])} follows no number: {mk['text'][:80]!r}")
            continue
        try:
            value = marker_value(mk["names"], figures)
        except KeyError as exc:
            problems.append(f"{where}: no committed figure named {exc.args[0]!r} (notebooks/records/; record it, run "
                            "the notebook, then `python -m visrec_book.figures accept`)")
            continue
        except (ValueError, ZeroDivisionError, TypeError) as exc:
            problems.append(f"{where}: {exc}")
            continue
        quoted = mk["quoted"].replace("\u2212", "-").lstrip("+")
        spec = mk["spec"] or infer_format(quoted)
        try:
            expected = format_value(value, spec)
        except (ValueError, TypeError) as exc:
            problems.append(f"{where}: cannot format {value!r} with {spec!r} ({exc})")
            continue
        if expected != quoted:
            problems.append(f"{where}: the prose says {quoted} but the committed record "
                            f"{' / '.join(mk['names'])} is {value!r}, i.e. {expected} at the quoted precision: "
                            f"{mk['text'][:100]!r}")
    return problems


def check_notebook(path: Path | str, figures: dict) -> list[str]:
    """(a) Every marked figure in a notebook's markdown equals the committed record."""
    path = Path(path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") == "markdown":
            problems += check_text(f"{path.name} cell {i}", "".join(cell.get("source", "")), figures)
    return problems


def count_markers(path: Path | str) -> int:
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    return sum(len(markers("".join(c.get("source", "")))) for c in nb.get("cells", [])
               if c.get("cell_type") == "markdown")


def check(folder: Path | str = ROOT / "notebooks", records: Path | str | None = None) -> list[str]:
    """Hygiene (a) over every notebook of ``folder`` against the committed records."""
    folder = Path(folder)
    figures = all_figures(committed_records(records if records is not None else folder / "records"))
    return [p for nb in list_notebooks(folder) for p in check_notebook(nb, figures)]


def parameter_problems(folder: Path | str = ROOT / "notebooks") -> list[str]:
    """One parameter set: CI parameters only on notebooks still on ``workbook.PENDING``, and no
    stale entry on that list."""
    from visrec_book.workbook import PENDING, ci_parameters

    notebooks = {p.stem: p for p in list_notebooks(Path(folder))}
    problems = [f"{stem}.ipynb: has CI parameters {sorted(ci_parameters(p))} but is not on workbook.PENDING: the "
                "parameters cell as committed is what runs; remove metadata.visrec.ci_parameters"
                for stem, p in notebooks.items() if ci_parameters(p) and stem not in PENDING]
    problems += [f"workbook.PENDING names {stem}, which has no CI parameters (or no notebook): remove it from the list"
                 for stem in sorted(PENDING) if stem not in notebooks or not ci_parameters(notebooks[stem])]
    return problems


def hygiene_problems(folder: Path | str = ROOT / "notebooks") -> list[str]:
    """What ``make hygiene`` adds for issue 21: marked figures (a) and one parameter set."""
    from visrec_book.workbook import PENDING

    problems = [f"figures: {p}" for p in check(folder) + parameter_problems(folder)]
    if PENDING:
        print(f"hygiene: {len(PENDING)} notebooks still run CI parameters (workbook.PENDING): "
              + ", ".join(sorted(PENDING)))
    return problems


# ----------------------------------------------------------------------------------------- compare
def kind(name: str, value) -> str:
    if TIMING.search(name):
        return "timing"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "exact"
    return "float" if isinstance(value, float) else "exact"


def contention(record: dict) -> float:
    """How much the machine stretched a run: its wall seconds over its kernel's CPU seconds (>= 1;
    1 when not recorded). A loaded shared machine stretches every timing inside the run alike."""
    sec, cpu = record.get("seconds"), record.get("cpu_seconds")
    return max(1.0, sec / cpu) if sec and cpu else 1.0


def same_figure(name: str, committed, run, timing_factor: float = TOLERANCE["timing"]) -> bool:
    """Whether a run's figure agrees with the committed one, within its kind's tolerance
    (``timing_factor``: how far apart two timings may be, either way)."""
    if isinstance(committed, list) and isinstance(run, list):
        return len(committed) == len(run) and all(same_figure(name, a, b, timing_factor)
                                                  for a, b in zip(committed, run))
    if isinstance(committed, dict) and isinstance(run, dict):
        return committed.keys() == run.keys() and all(same_figure(f"{name}.{k}", committed[k], run[k], timing_factor)
                                                      for k in committed)
    numeric = (isinstance(committed, (int, float)) and isinstance(run, (int, float))
               and not isinstance(committed, bool) and not isinstance(run, bool))
    k = kind(name, committed)
    if k == "timing" and numeric:
        if committed == 0 or run == 0:
            return abs(committed - run) < 1e-9 or (committed <= 0) == (run <= 0)
        ratio = run / committed
        return ratio > 0 and 1 / timing_factor <= ratio <= timing_factor
    if numeric and (isinstance(committed, float) or isinstance(run, float)):
        return math.isclose(committed, run, rel_tol=TOLERANCE["float_rel"], abs_tol=TOLERANCE["float_abs"])
    return committed == run


def compare_record(run: dict, committed: dict) -> tuple[str, list[str]]:
    """(status, problems): status is "compared", or "skipped: why"."""
    if committed.get("parameters") is None:
        return "skipped: the committed record has no parameters (carried over from an older README table)", []
    if run.get("parameters") != committed.get("parameters"):
        diff = sorted(k for k in set(run.get("parameters") or {}) | set(committed["parameters"])
                      if (run.get("parameters") or {}).get(k) != committed["parameters"].get(k))
        return f"skipped: run with other parameters than the committed record ({', '.join(diff)})", []
    problems = []
    rf, cf = run["figures"], committed["figures"]
    stretch = contention(run) / contention(committed)
    factor = TOLERANCE["timing"] * max(stretch, 1 / stretch)
    for name in sorted(set(cf) - set(rf)):
        problems.append(f"{name}: committed {cf[name]!r}, not recorded by this run")
    for name in sorted(set(rf) - set(cf)):
        problems.append(f"{name}: recorded {rf[name]!r}, not in the committed record")
    for name in sorted(set(rf) & set(cf)):
        if not same_figure(name, cf[name], rf[name], factor):
            tol = f", timings within {factor:.0f}x" if kind(name, cf[name]) == "timing" else ""
            problems.append(f"{name}: committed {cf[name]!r}, this run {rf[name]!r} ({kind(name, cf[name])}{tol})")
    return "compared", problems


def compare(run_dir: Path | str, only=None, records: Path | str = RECORDS_DIR) -> tuple[list[str], list[str]]:
    """(b) Each run record in ``run_dir`` against the committed one: (report lines, problems)."""
    run_dir, records = Path(run_dir), Path(records)
    lines, problems = [], []
    for path in sorted(run_dir.glob("*.json")):
        if only and path.stem not in only:
            continue
        committed = records / path.name
        if not committed.exists():
            lines.append(f"{path.stem}: skipped: no committed record")
            continue
        status, found = compare_record(load_record(path), load_record(committed))
        lines.append(f"{path.stem}: {status}" + (f", {len(found)} figures differ" if found else ""))
        problems += [f"{path.stem}: {p}" for p in found]
    return lines, problems


def accept(run_dir: Path | str, only, records: Path | str = RECORDS_DIR, notebooks: Path | str | None = None) -> list[str]:
    """Copy run records into the committed records; a run with other parameters than the notebook's
    parameters cell is refused (the committed record is the learner's run)."""
    run_dir, records = Path(run_dir), Path(records)
    notebooks = Path(notebooks) if notebooks is not None else records.parent
    records.mkdir(parents=True, exist_ok=True)
    done = []
    for stem in only:
        rec = load_record(run_dir / f"{stem}.json")
        defaults = parameter_defaults(notebooks / f"{stem}.ipynb")
        if rec.get("parameters") != defaults:
            diff = sorted(k for k in defaults if (rec.get("parameters") or {}).get(k) != defaults[k])
            raise ValueError(f"{stem}: this run's parameters differ from its parameters cell ({', '.join(diff)}); "
                             "the committed record is the learner's run (prepare --params learner)")
        (records / f"{stem}.json").write_text(json.dumps(rec, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                                              encoding="utf-8")
        done.append(stem)
    return done


# ----------------------------------------------------------------------------------------- README
# One headline per notebook: text with {figure name|format} placeholders (the stem's prefix may be
# left out of the name). A notebook without one shows its first three figures.
HEADLINES = {
    "00_start_here": "{catalog.digits.items|,d} digits, {catalog.emoji.items|,d} emoji, {catalog.photos.items|,d} photo tiles",
    "q01_content_based_recommendation": "NDCG@10 on new items: content {ndcg@10.new.content|.3f} vs item-kNN {ndcg@10.new.itemknn|.3f}; with history item-kNN {ndcg@10.warm.itemknn|.3f} vs content {ndcg@10.warm.content|.3f} (oracle {ndcg@10.warm.oracle|.3f})",
    "q02_noise_and_blur": "clean digit model on noisy digits {acc.clean.noisy|.3f}, after median + black level {acc.clean.noisy_median_black_level|.3f}, trained with noise {acc.augmented.noisy|.3f}; NL-means +{psnr_gain_db.gaussian_noise.nl_means|.1f} dB",
    "q03_feature_extractor": "mAP@10 on emoji: ImageNet fused {map@10.emoji.ImageNet fused (stages 4, 5, head)|.3f}, own supervised CNN {map@10.emoji.own CNN, supervised|.3f}, raw pixels {map@10.emoji.raw pixels|.3f}",
    "q04_collaborative_filtering": "NDCG@10: item-kNN {ndcg@10.itemknn_tuned|.3f}, ALS {ndcg@10.als_tuned|.3f}, BPR {ndcg@10.bpr|.3f}, popularity {ndcg@10.popularity|.3f} (oracle {ndcg@10.oracle|.3f})",
    "q05_cold_start": "new items NDCG@10: metadata {ndcg@10.new.metadata|.3f}, mapped ALS {ndcg@10.new.mapped_als|.3f}, content {ndcg@10.new.content|.3f}, item-kNN {ndcg@10.new.itemknn|.3f}",
    "q06_realtime_recommendation": "100k items, p50 per query: exact {p50_ms.exact|.2f} ms, IVF {p50_ms.faiss-ivf|.2f} ms, HNSW {p50_ms.hnsw|.2f} ms; IVF top-10 agreement {top10_agreement.faiss-ivf|.2f}",
    "q07_evaluation": "NDCG@10 item-kNN {ndcg@10.itemknn|.3f} vs ALS {ndcg@10.als|.3f}; AUC {auc.itemknn|.3f} vs {auc.als|.3f}; random hold-out inflates item-kNN {random_holdout_inflation.itemknn|.2f}x",
    "q08_missing_labels": "accuracy with 1% of labels: label spreading {acc.label_spreading_at_min_share|.3f}, probe {acc.probe_at_min_share|.3f}, weak labels {acc.weak_probe_at_min_share|.3f}; all labels {acc.ceiling|.3f}",
    "q09_cross_domain": "OpenMoji target accuracy: source only {source_only.target_acc|.3f}, AdaBN {adabn.target_acc|.3f}, 5 labels {finetune_5.target_acc|.3f}; backbone recall@10 {backbone_centred.recall@10|.3f}",
    "q10_deep_learning_recognition_recommendation": "next-item HitRate@10: GRU {expected_hitrate@10.gru|.3f}, mean profile {expected_hitrate@10.mean_profile|.3f}, Markov oracle {expected_hitrate@10.markov_oracle|.3f}",
    "q11_cnn_features": "mAP@10: best layer {map@10.best_layer|.3f}, embedding {map@10.embedding|.3f}, raw pixels {map@10.raw_pixels|.3f}",
    "q12_gan_generation_recommendation": "Frechet {frechet.first|.0f} -> {frechet.final|.1f} (floor {frechet.floor|.2f}); diversity {diversity_ratio|.2f} of real",
    "q13_transfer_learning": "test accuracy: probe {test_acc.probe|.3f}, layer-wise fine-tuning {test_acc.finetune_layerwise|.3f}, scratch {test_acc.scratch|.3f}",
    "q14_high_dimensionality": "recall@10 at 8 bytes: PQ {recall@10.pq.8B|.3f}, PCA int8 {recall@10.pca_int8.8B|.3f}, PCA float32 {recall@10.pca_float32.8B|.3f}",
    "q15_scalable_architecture": "10^8 images: {index_gb.float32|.0f} GB float32, {index_gb.pq|.0f} GB PQ; Spark ALS NDCG@10 {ndcg@10.als_spark|.3f} vs in-process {ndcg@10.als_inprocess|.3f}",
    "t01_cnn_image_classification": "test accuracy: CNN {test_accuracy.cnn|.3f}, SVC {test_accuracy.svc|.3f}, kNN {test_accuracy.knn|.3f}; {epochs|d} epochs",
    "t02_keyword_image_retrieval": "P@10 English: index {p@10.English.index|.3f}, + visual {p@10.English.index+visual|.3f}, joint {p@10.English.joint|.3f}",
    "t03_collaborative_filtering_program": "NDCG@10: item-kNN {ndcg@10.itemknn|.3f}, ALS {ndcg@10.als|.3f} (implicit {ndcg@10.implicit|.3f}), BPR {ndcg@10.bpr|.3f}, VBPR {ndcg@10.vbpr|.3f}",
    "t04_tag_based_recommendation": "NDCG@10: tags TF-IDF {ndcg@10.tags_tfidf|.3f}, item-kNN {ndcg@10.itemknn|.3f}; untagged items filled {untagged_ndcg@10.filled|.3f} vs hidden {untagged_ndcg@10.hidden|.3f}",
    "t05_gan_program": "class accuracy {class_accuracy|.3f}, diversity {diversity_ratio|.2f} of real, Frechet {frechet.final|.1f}",
    "t06_object_recognition": "AP at IoU 0.5: learned {learned.AP|.3f} vs classical {classical.AP|.3f}; recall {learned.recall|.3f} vs {classical.recall|.3f}",
    "t07_transfer_learning_new_dataset": "10 labels per class: fine-tuning {acc.fine-tuning.10|.3f}, probe {acc.linear_probe.10|.3f}, scratch {acc.scratch.10|.3f}",
    "t08_realtime_browsing_recommendation": "{events|,d} events; next-item hit@10 item-kNN {next_hit@10.itemknn|.3f}, blend {next_hit@10.blend|.3f}; p50 {p50_ms.blend|.2f} ms",
    "t09_image_segmentation": "IoU: U-Net {iou.unet.seen|.3f}, GrabCut box {iou.grabcut_box.seen|.3f}, best unaided classical {iou.best_unaided_classical.seen|.3f}",
    "t10_style_transfer": "brick texture statistic (LBP distance): pretrained {brick.pretrained.lbp|.3f}, random {brick.random.lbp|.3f}; {seconds_per_transfer.pretrained|.0f} s per transfer",
}
PLACEHOLDER = re.compile(r"\{([^{}|]+)\|([^{}]*)\}")
README_BLOCKS = {
    "results": ("<!-- figures:results begin (generated by `python -m visrec_book.figures readme --write` from "
                "notebooks/records/) -->", "<!-- figures:results end -->"),
    "timings": ("<!-- figures:timings begin (generated by `python -m visrec_book.figures readme --write` from "
                "notebooks/records/) -->", "<!-- figures:timings end -->"),
}


def _prefix(stem: str) -> str:
    return stem.split("_")[0] + "."


def headline(stem: str, figures: dict) -> str:
    """The notebook's headline filled from its figures ("(not recorded)" for a missing one)."""
    template = HEADLINES.get(stem)
    if template is None:
        shown = list(figures.items())[:3]
        return "; ".join(f"{n.removeprefix(_prefix(stem))} = {v}" for n, v in shown)

    def fill(m):
        name, spec = m.group(1), m.group(2)
        for candidate in (name, _prefix(stem) + name):
            if candidate in figures:
                value = figures[candidate]
                try:
                    return format_value(value, spec)
                except (ValueError, TypeError):
                    return str(value)
        return "(not recorded)"

    return PLACEHOLDER.sub(fill, template)


def _source(rec: dict) -> str:
    if rec.get("parameters") is None:
        return rec.get("source", "older README table")
    return f"{rec.get('date', '?')}, learner defaults"


def results_block(records: dict[str, dict]) -> str:
    lines = ["| notebook | headline (learner defaults) | run |", "|---|---|---|"]
    for _num, stem, _topic, _m in [(None, "00_start_here", None, None)] + NOTEBOOK_MAP:
        rec = records.get(stem)
        if rec is None:
            lines.append(f"| {stem} | (no committed record) | |")
            continue
        lines.append(f"| {stem} | {headline(stem, rec['figures'])} | {_source(rec)} |")
    return "\n".join(lines)


def timings_block(records: dict[str, dict]) -> str:
    from visrec_book.workbook import PENDING

    lines = ["| notebook | seconds (learner defaults) | CPU seconds | threads | load | cache | when | `make test` runs |",
             "|---|---|---|---|---|---|---|---|"]
    for _num, stem, _topic, _m in [(None, "00_start_here", None, None)] + NOTEBOOK_MAP:
        rec = records.get(stem, {})
        sec, cpu = rec.get("seconds"), rec.get("cpu_seconds")
        runs = "CI parameters (pending)" if stem in PENDING else "the parameters cell"
        lines.append(f"| {stem} | {f'{sec:.0f}' if sec is not None else 'not recorded'} | "
                     f"{f'{cpu:.0f}' if cpu is not None else ''} | {rec.get('threads') or ''} | "
                     f"{rec.get('load') or ''} | {rec.get('cache') or ''} | "
                     f"{rec.get('date', '') if sec is not None else ''} | {runs} |")
    return "\n".join(lines)


def readme_text(readme: str, records: dict[str, dict]) -> str:
    """README with its generated blocks replaced by text generated from ``records``."""
    for key, body in (("results", results_block(records)), ("timings", timings_block(records))):
        begin, end = README_BLOCKS[key]
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if not pattern.search(readme):
            raise ValueError(f"README has no generated {key} block ({begin} ... {end})")
        block = f"{begin}\n{body}\n{end}"
        readme = pattern.sub(lambda _m, block=block: block, readme)
    return readme


# ----------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m visrec_book.figures")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="(a) marked prose figures against the committed records")
    c.add_argument("folder", nargs="?", default="notebooks")
    m = sub.add_parser("compare", help="(b) a run's records against the committed ones")
    m.add_argument("--run", default="build/records")
    m.add_argument("--only", nargs="*")
    a = sub.add_parser("accept", help="copy learner-run records into notebooks/records/")
    a.add_argument("--from", dest="run", default="build/records")
    a.add_argument("--only", nargs="+", required=True)
    r = sub.add_parser("readme", help="README's results and timings from the committed records")
    r.add_argument("--write", action="store_true")
    r.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "check":
        problems = check(Path(args.folder))
        for p in problems:
            print("figures:", p)
        n = sum(count_markers(nb) for nb in list_notebooks(Path(args.folder)))
        print(f"figures: {n} marked prose figures checked, {len(problems)} problems")
        return 1 if problems else 0
    if args.cmd == "compare":
        lines, problems = compare(Path(args.run), args.only)
        print("\n".join(f"figures: {ln}" for ln in lines))
        for p in problems:
            print("figures: DIFFERS", p)
        print(f"figures: {len(lines)} run records, {len(problems)} figures differ beyond tolerance {TOLERANCE}")
        return 1 if problems else 0
    if args.cmd == "accept":
        for stem in accept(Path(args.run), args.only):
            print(f"figures: notebooks/records/{stem}.json updated")
        return 0
    text = README.read_text(encoding="utf-8")
    new = readme_text(text, committed_records())
    if args.write:
        README.write_text(new, encoding="utf-8")
        print(f"README.md {'rewritten' if new != text else 'already up to date'}")
        return 0
    if args.check:
        stale = new != text
        print("README.md: generated sections are stale; run `python -m visrec_book.figures readme --write`"
              if stale else "README.md: generated sections up to date")
        return 1 if stale else 0
    print(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
