"""The workbook itself: the notebook map, the parameters a run uses, and preparing notebooks to run.

One parameter set: the parameters cell as committed is what the learner runs and what
``make notebooks`` runs. Notebooks on ``PENDING`` (defaults still too slow, or claims that fail at
their CI parameters) keep smaller CI parameters in their own metadata
(``metadata.visrec.ci_parameters``) until their group rewrites them; ``make hygiene`` refuses CI
parameters anywhere else. A run records its parameters, seconds and figures
(``<records>/<stem>.json``, see ``visrec_book.figures``).

Command line::

    python -m visrec_book.workbook prepare --out build/ci      # the run's parameters (CI for PENDING)
    python -m visrec_book.workbook prepare --params learner    # the parameters cell for every notebook
    python -m visrec_book.workbook map                         # print the notebook map
    python -m visrec_book.workbook map --write                 # regenerate the start page's map
    python -m visrec_book.workbook map --check                 # exit 1 when that map is stale
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"

# number, file stem, topic, what it measures
NOTEBOOK_MAP = [
    ("q01", "q01_content_based_recommendation", "Content-based image recommendation",
     "Recall/NDCG@10 of CNN vs colour/texture profiles (mean, recency, multi-interest) vs random and popularity; ms per query naive vs cached"),
    ("q02", "q02_noise_and_blur", "Noise and blur",
     "PSNR/SSIM of denoisers and deconvolvers per degradation; a clean digit model's collapse under noise explained and fixed (median + black level, augmentation), 3 seeds"),
    ("q03", "q03_feature_extractor", "Building an effective feature extractor",
     "Retrieval mAP@10 of raw pixels, handcrafted, supervised CNN, self-supervised CNN and fused layers on both catalogs"),
    ("q04", "q04_collaborative_filtering", "Collaborative filtering for images",
     "User-/item-based CF vs popularity on held-out interactions; effect of sparsity"),
    ("q05", "q05_cold_start", "Cold start",
     "Cumulative reward of onboarding and bandits for new users; cold-item Recall@10 of CF vs content-mapped models"),
    ("q06", "q06_realtime_recommendation", "Real-time recommendation",
     "p50/p99 latency per event on 100k items; how fast session vs long-term profiles follow a taste shift"),
    ("q07", "q07_evaluation", "Evaluating image recommenders",
     "Every ranking metric on one run; split choice and sampled metrics change model rankings; A/B z-test and power"),
    ("q08", "q08_missing_labels", "Missing labels",
     "Accuracy on hidden labels of a linear probe, kNN, label spreading, self-training (pseudo-label accuracy per round) and weak labels from names vs the all-labels ceiling; ImageNet zero-shot tags"),
    ("q09", "q09_cross_domain", "Cross-domain recommendation",
     "Twemoji -> OpenMoji: subgroup accuracy and cross-style recall@1/@10 of the same emoji; ImageNet backbone baseline, AdaBN, DANN, few target labels, over 3 seeds"),
    ("q10", "q10_deep_learning_recognition_recommendation", "Deep learning for recognition and recommendation",
     "Retrieval mAP of a metric-learned embedding vs classifier features; GRU next-item HitRate@10 vs mean profile"),
    ("q11", "q11_cnn_features", "CNN features",
     "Filters, feature maps, receptive field; robustness of embeddings to shifts vs raw pixels"),
    ("q12", "q12_gan_generation_recommendation", "GANs for generation and recommendation",
     "Sample confidence, class coverage and Frechet distance during training; latent search for one user"),
    ("q13", "q13_transfer_learning", "Transfer learning",
     "Wall-clock to a target accuracy with and without transfer; distillation into a smaller student"),
    ("q14", "q14_high_dimensionality", "High dimensionality",
     "PQ by hand vs faiss; recall@10 at equal bytes: PQ, PCA in float32/float16/int8, random projection; 1M measured, 10^8 extrapolated"),
    ("q15", "q15_scalable_architecture", "Scalable architecture",
     "Capacity arithmetic for 10^8 images; PySpark embeddings and ALS vs in-process ALS"),
    ("t01", "t01_cnn_image_classification", "CNN image classification",
     "Test accuracy of the CNN vs kNN and SVC on MNIST 5k; checkpoint round trip"),
    ("t02", "t02_keyword_image_retrieval", "Keyword image retrieval",
     "Precision@10 per English and Chinese query on the emoji catalog: TF-IDF index, visual expansion, text-image joint embedding; untagged products and held-out word pairs"),
    ("t03", "t03_collaborative_filtering_program", "Collaborative filtering program",
     "NDCG/Recall@10 and coverage of Popularity, kNN, ALS, BPR, VBPR; ALS vs the implicit library"),
    ("t04", "t04_tag_based_recommendation", "Tag-based recommendation",
     "Tag profiles with TF-IDF and co-occurrence, visual tags for untagged items, vs ItemKNN"),
    ("t05", "t05_gan_program", "GAN program",
     "Loss curves, sample grids, resume from checkpoint; class accuracy of a conditional GAN"),
    ("t06", "t06_object_recognition", "Object recognition",
     "Emoji products on held-out photos: learned centre-heatmap detector vs segmentation proposals, precision/recall/AP/mAP at IoU 0.5 with bootstrap intervals"),
    ("t07", "t07_transfer_learning_new_dataset", "Transfer learning to a new dataset",
     "ImageNet backbone -> 22 OpenMoji subgroups: learning curves of scratch, linear probe and staged fine-tuning at 1-10 labels per class, 3 seeds"),
    ("t08", "t08_realtime_browsing_recommendation", "Real-time recommendation from browsing history",
     "Widget app; latency and hit rate over a 10,000-event replay"),
    ("t09", "t09_image_segmentation", "Image segmentation",
     "Emoji pasted on real photos (exact alpha masks): U-Net vs Otsu, watershed, k-means, GrabCut on unseen subgroups and photos, IoU with bootstrap intervals; coins watershed"),
    ("t10", "t10_style_transfer", "Style transfer",
     "Gatys with ImageNet EfficientNet-Lite0 vs random-weight features, each judged by the other network and a texture statistic over 3 seeds; colour transfers"),
]


START_PAGE = NOTEBOOK_DIR / "00_start_here.ipynb"
MAP_TAG = "notebook-map"  # tag of the start page's generated markdown map cell
MAP_NOTE = "<!-- generated by `python -m visrec_book.workbook map --write` from the notebooks' titles -->"


def notebook_title(path: Path | str) -> str:
    """The text of a notebook's first ``# `` heading (e.g. ``q01 · How do you build ...?``)."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise ValueError(f"{Path(path).name}: no '# ' title heading in any markdown cell")


def map_markdown(folder: Path | str = NOTEBOOK_DIR) -> str:
    """The start page's map: one Markdown table per part (questions, tasks), each row a link to a
    notebook titled by its own ``# `` heading, with what it measures (``NOTEBOOK_MAP``)."""
    folder = Path(folder)
    lines = [MAP_NOTE]
    for part, prefix in (("Interview questions", "q"), ("Coding tasks", "t")):
        lines += ["", f"**{part}**", "", "| notebook | what it measures |", "|---|---|"]
        for _num, stem, _topic, measures in NOTEBOOK_MAP:
            path = folder / f"{stem}.ipynb"
            if stem.startswith(prefix) and path.exists():
                lines.append(f"| [{notebook_title(path)}]({stem}.ipynb) | {measures} |")
    return "\n".join(lines) + "\n"


def _map_cell(nb: dict, start_page: Path) -> dict:
    cells = [c for c in nb["cells"] if MAP_TAG in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1 or cells[0]["cell_type"] != "markdown":
        raise ValueError(f"{start_page.name}: expected one markdown cell tagged {MAP_TAG!r}, found {len(cells)}")
    return cells[0]


def check_map(start_page: Path | str = START_PAGE) -> list[str]:
    """Problems with the start page's map (empty when it is what ``map --write`` would write)."""
    start_page = Path(start_page)
    from visrec_book import topics  # the 2026 map (issue 27), generated the same way

    cell = _map_cell(json.loads(start_page.read_text(encoding="utf-8")), start_page)
    if "".join(cell["source"]) != map_markdown(start_page.parent):
        return [f"{start_page.name}: the notebook map is stale; run "
                "`python -m visrec_book.workbook map --write`"] + topics.check(start_page)
    return topics.check(start_page)


def write_map(start_page: Path | str = START_PAGE) -> bool:
    """Regenerate the start page's map cells (the notebook map and the 2026 map) in place; True when the file
    changed."""
    from visrec_book import topics  # the 2026 map (issue 27), generated the same way

    start_page = Path(start_page)
    changed = topics.write(start_page)
    nb = json.loads(start_page.read_text(encoding="utf-8"))
    cell = _map_cell(nb, start_page)
    text = map_markdown(start_page.parent)
    if "".join(cell["source"]) == text:
        return changed
    cell["source"] = text.splitlines(keepends=True)
    start_page.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return True


def list_notebooks(folder: Path | str = NOTEBOOK_DIR) -> list[Path]:
    """Every notebook of the workbook in ``folder`` (checkpoints excluded), sorted."""
    folder = Path(folder)
    return sorted(p for p in folder.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


# Notebooks that still run smaller CI parameters in `make notebooks` (issue 21): their defaults take
# more than 3 minutes cold on 2 cores, or their claims fail at those parameters. Each group removes
# its notebooks from here (and their `ci_parameters`) as it rewrites them; this list must end empty.
PENDING = {
    "q02_noise_and_blur",  # defaults 182 s (issue 21's fresh run): at the limit
    "q08_missing_labels",  # defaults 214 s
    "q09_cross_domain",  # defaults fail "AdaBN raises target accuracy and recall"
    "q12_gan_generation_recommendation",  # defaults fail "ascent adds nothing shown"
    "t07_transfer_learning_new_dataset",  # defaults fail "10 per class: the probe beats scratch"
}


def ci_parameters(path: Path | str) -> dict:
    """The CI parameters stored in a notebook's metadata (``metadata.visrec.ci_parameters``)."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    return dict(nb.get("metadata", {}).get("visrec", {}).get("ci_parameters", {}))


def run_parameters(path: Path | str) -> dict:
    """What ``make notebooks`` injects: nothing (the parameters cell as committed), or the CI
    parameters of a notebook still on ``PENDING``."""
    return ci_parameters(path) if Path(path).stem in PENDING else {}


def parameter_defaults(path: Path | str) -> dict:
    """``{name: value}`` of the parameters cell (plain literals; anything else as its source text)."""
    import ast

    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "".join(cell["source"])
            out = {}
            for node in ast.parse(src).body:
                if isinstance(node, ast.Assign):
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            try:
                                out[t.id] = ast.literal_eval(node.value)
                            except ValueError:
                                out[t.id] = ast.get_source_segment(src, node.value)
            return json.loads(json.dumps(out))  # tuples as lists, as in a record file
    return {}


def is_training_notebook(path: Path | str) -> bool:
    """A notebook that trains a model: its parameters cell has an epochs knob (``EPOCHS``,
    ``ENCODER_EPOCHS``, ...) and a ``DEVICE``."""
    names = parameter_names(path)
    return "DEVICE" in names and any("EPOCH" in n for n in names)


def execute(path: Path | str, out: Path | str, parameters: dict | None = None, timeout: int = 1800,
            env: dict | None = None) -> dict:
    """Prepare (``run_parameters`` by default, network blocked) and execute a notebook with papermill;
    return its recorded figures. ``env`` temporarily updates ``os.environ`` for the kernel."""
    import os

    import papermill as pm

    from visrec_helpers.core.records import read_records

    out = Path(out)
    prepared = prepare(Path(path), out.parent / "prepared", parameters=parameters)
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        pm.execute_notebook(str(prepared), str(out), kernel_name="python3", progress_bar=False,
                            execution_timeout=timeout)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return read_records(out)


def parameter_names(path: Path | str) -> set[str]:
    """Names assigned in the cell tagged ``parameters``."""
    import ast

    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse("".join(cell["source"]))
            return {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                    if isinstance(t, ast.Name)}
    return set()


GUARD_CELL = """# Added by the test harness: no network in this run (loopback only); the run's clock starts.
import time as _time
import visrec_book.netguard as _netguard
from visrec_helpers.core.cache import models_dir as _models_dir
_netguard.install()
_visrec_t0, _visrec_cpu0 = _time.perf_counter(), _time.process_time()
_visrec_models0 = len(list(_models_dir().glob("*.pt")))
"""

HARNESS_CELL = """# Added by the test harness: every notebook must record its headline figures; the run's record
# (parameters, seconds, figures) is written for visrec_book.figures.
import json as _json, os as _os, pathlib as _pathlib
import visrec_helpers as _vh
import visrec_book.netguard as _netguard
assert _netguard.is_installed(), "the network guard was removed during the run"
_records = _vh.recorded()
assert _records, "this notebook recorded no headline figures with visrec_helpers.record()"
_trained = len(list(_models_dir().glob("*.pt"))) - _visrec_models0
_out = _pathlib.Path({out!r})
_out.parent.mkdir(parents=True, exist_ok=True)
_out.write_text(_json.dumps({{
    "notebook": {stem!r}, "parameters": _json.loads({parameters!r}),
    "seconds": round(_time.perf_counter() - _visrec_t0, 1), "cpu_seconds": round(_time.process_time() - _visrec_cpu0, 1),
    "threads": _os.environ.get("OMP_NUM_THREADS", "all"), "load": round(_os.getloadavg()[0], 1),
    "cache": f"cold: {{_trained}} models added" if _trained > 0 else "warm",
    "date": _time.strftime("%Y-%m-%d %H:%M UTC", _time.gmtime()), "figures": _records}},
    indent=1, sort_keys=True, ensure_ascii=False) + "\\n")
"""


def prepare(path: Path, out_dir: Path, parameters: dict | None = None, records_dir: Path | None = None,
            block_network: bool = True) -> Path:
    """Write a copy of notebook ``path`` into ``out_dir`` with ``parameters`` injected by papermill.

    ``parameters=None`` uses ``run_parameters`` (the parameters cell; CI parameters for ``PENDING``). With ``block_network`` (default), a
    first cell installs ``netguard`` so any attempt to reach another host fails the run. With
    ``records_dir``, a final
    cell is appended that fails when the notebook recorded nothing and saves the records
    as ``records_dir/<name>.json``.
    """
    import nbformat
    import papermill as pm

    path, out_dir = Path(path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = run_parameters(path) if parameters is None else parameters
    unknown = set(params) - parameter_names(path)
    if unknown:
        raise ValueError(f"{path.name}: CI parameters {sorted(unknown)} are not in its 'parameters' cell")
    out = out_dir / path.name
    # papermill's own parameter inference trips over comments in the parameters cell and warns
    # about "unknown" parameters; names were checked above with Python's parser instead.
    logging.getLogger("papermill").setLevel(logging.ERROR)
    pm.execute_notebook(str(path), str(out), parameters=params, prepare_only=True, kernel_name="python3",
                        progress_bar=False, log_output=False)
    nb = nbformat.read(out, as_version=4)
    if block_network:
        guard = nbformat.v4.new_code_cell(GUARD_CELL)
        guard.metadata["tags"] = ["netguard"]
        nb.cells.insert(0, guard)
    if records_dir is not None:
        if not block_network:
            raise ValueError("records_dir needs the harness's first cell (block_network=True)")
        target = (Path(records_dir).resolve() / f"{path.stem}.json").as_posix()
        effective = json.dumps({**parameter_defaults(path), **json.loads(json.dumps(params))}, sort_keys=True)
        nb.cells.append(nbformat.v4.new_code_cell(HARNESS_CELL.format(out=target, stem=path.stem,
                                                                      parameters=effective)))
    nbformat.write(nb, out)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m visrec_book.workbook")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="copies of every notebook with the run's parameters injected")
    p.add_argument("--out", default="build/ci")
    p.add_argument("--records", default="build/records")
    p.add_argument("--only", nargs="*", help="notebook stems to prepare (default: all)")
    p.add_argument("--params", choices=["run", "learner"], default="run",
                   help="run: the parameters cell, CI parameters for PENDING notebooks; learner: the parameters cell")
    p.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                   help="extra parameters (JSON values), e.g. SEED=1")
    m = sub.add_parser("map", help="print the notebook map as a Markdown table")
    m.add_argument("--write", action="store_true", help="regenerate the start page's map cell")
    m.add_argument("--check", action="store_true", help="exit 1 when the start page's map is stale")
    args = ap.parse_args(argv)
    if args.cmd == "map" and args.write:
        print(f"{START_PAGE.name}: map {'rewritten' if write_map() else 'already up to date'}")
        return 0
    if args.cmd == "map" and args.check:
        problems = check_map()
        print("\n".join(problems) or f"{START_PAGE.name}: map up to date")
        return 1 if problems else 0
    if args.cmd == "map":
        print("| # | notebook | topic | what it measures |\n|---|---|---|---|")
        for num, stem, topic, measures in NOTEBOOK_MAP:
            print(f"| {num} | [{stem}](notebooks/{stem}.ipynb) | {topic} | {measures} |")
        return 0
    out = Path(args.out)
    if not args.only:  # a full run starts clean; a partial one leaves other notebooks alone
        for old in list(out.glob("*.ipynb")) + list(Path(args.records).glob("*.json")):
            old.unlink()
    for nb in list_notebooks():
        if args.only and nb.stem not in args.only:
            continue
        params = {**(run_parameters(nb) if args.params == "run" else {}),
                  **{k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}}
        prepare(nb, out, parameters=params, records_dir=Path(args.records))
        print(f"prepared {nb.name}" + (f" with {params}" if params else " (parameters cell as committed)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
