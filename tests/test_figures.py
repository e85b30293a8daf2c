"""Figures single-sourced (visrec_book.figures): prose markers against committed records, a run's
records against the committed ones, README generated from them, one parameter set."""

import json
import shutil

import nbformat
import pytest

from visrec_book import figures, workbook

ROOT = workbook.ROOT


def _write_notebook(path, markdown, params="SEED = 0\nN = 10", ci=None):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if ci is not None:
        nb.metadata["visrec"] = {"ci_parameters": ci}
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(markdown), cell]
    nbformat.write(nb, path)
    return path


def _records(folder, figs, parameters=None, stem="q99_demo"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_text(json.dumps({"notebook": stem, "parameters": parameters, "seconds": 3.0,
                                                     "figures": figs}))
    return folder


@pytest.mark.parametrize("quoted, spec", [("2.17", ".2f"), ("12", ".0f"), ("80%", ".0%"), ("99.5%", ".1%"),
                                          ("8,245", ",.0f"), ("0.0198", ".4f"), ("1.2e+04", ".1e"),
                                          ("-0.5", ".1f")])
def test_the_quoted_precision_is_inferred(quoted, spec):
    assert figures.infer_format(quoted) == spec


def test_markers_find_the_number_before_them():
    text = ("exact search costs **2.17 ms**<!--fig q06.p50_ms.exact--> at the median, IVF is 12 times"
            "<!--fig q06.p50_ms.exact / q06.p50_ms.faiss-ivf .0f--> faster\nin 8,245 events<!--fig t08.events-->")
    found = figures.markers(text)
    assert [(m["names"], m["spec"], m["quoted"], m["line"]) for m in found] == [
        (["q06.p50_ms.exact"], None, "2.17", 1),
        (["q06.p50_ms.exact", "q06.p50_ms.faiss-ivf"], ".0f", "12", 1),
        (["t08.events"], None, "8,245", 2)]


def test_names_with_spaces_and_a_format():
    assert figures.parse_marker("q03.map@10.emoji.own CNN, supervised .3f") == (
        ["q03.map@10.emoji.own CNN, supervised"], ".3f")
    assert figures.parse_marker("q03.map@10.emoji.raw pixels") == (["q03.map@10.emoji.raw pixels"], None)


FIGS = {"q99.p50_ms.exact": 2.1712, "q99.p50_ms.ivf": 0.176, "q99.share": 0.8034, "q99.events": 8245}
GOOD = ("Exact search costs **2.17 ms**<!--fig q99.p50_ms.exact--> per query, IVF is 12x"
        "<!--fig q99.p50_ms.exact / q99.p50_ms.ivf--> faster; about 80%<!--fig q99.share--> agree over "
        "8,245<!--fig q99.events--> events.")


def test_a_planted_prose_drift_fails(tmp_path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _records(nbs / "records", FIGS)
    _write_notebook(nbs / "q99_demo.ipynb", GOOD)
    assert figures.check(nbs) == []
    for old, new in [("2.17 ms", "2.18 ms"), ("12x", "100x"), ("80%", "81%"), ("8,245", "10,000")]:
        _write_notebook(nbs / "q99_demo.ipynb", GOOD.replace(old, new))
        problems = figures.check(nbs)
        assert len(problems) == 1 and f"the prose says {new.split()[0].rstrip('x')}" in problems[0], (old, problems)


def test_a_drifted_record_fails_too(tmp_path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _records(nbs / "records", {**FIGS, "q99.p50_ms.exact": 24.2})
    _write_notebook(nbs / "q99_demo.ipynb", GOOD)
    problems = figures.check(nbs)
    assert any("the prose says 2.17" in p and "24.2" in p for p in problems)


def test_a_marker_naming_no_figure_or_no_number_fails(tmp_path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _records(nbs / "records", FIGS)
    _write_notebook(nbs / "q99_demo.ipynb", "costs **2.17 ms**<!--fig q99.p50_ms.exakt-->\nfast<!--fig q99.share-->")
    problems = figures.check(nbs)
    assert any("no committed figure named 'q99.p50_ms.exakt'" in p for p in problems)
    assert any("follows no number" in p for p in problems)


def test_the_real_notebooks_agree_with_their_records_and_a_drift_in_one_fails(tmp_path):
    assert figures.check(ROOT / "notebooks") == []
    marked = [p for p in workbook.list_notebooks() if figures.count_markers(p)]
    assert marked, "no notebook marks a prose figure yet"
    nbs = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks" / "records", nbs / "records")
    nb = json.loads(marked[0].read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == "markdown" and figures.MARKER.search("".join(c["source"])))
    text = "".join(cell["source"])
    number = list(figures.NUMBER.finditer(text[:figures.MARKER.search(text).start()]))[-1]
    quoted = number.group(0)
    drifted = quoted[:-1] + str((int(quoted[-1]) + 1) % 10) if quoted[-1].isdigit() else \
        quoted[:-2] + str((int(quoted[-2]) + 1) % 10) + quoted[-1]
    cell["source"] = text[:number.start()] + drifted + text[number.end():]
    (nbs / marked[0].name).write_text(json.dumps(nb))
    problems = figures.check(nbs)
    assert problems and f"the prose says {drifted}" in problems[0], problems


# ------------------------------------------------------------------------------------ run vs committed
def test_timings_are_compared_to_their_order_of_magnitude():
    assert figures.same_figure("q06.p50_ms.exact", 2.17, 9.0)
    assert figures.same_figure("q06.p50_ms.exact", 2.17, 0.3)
    assert not figures.same_figure("q06.p50_ms.exact", 2.17, 24.2)
    assert not figures.same_figure("t01.train_seconds.cnn", 53.3, 900.0)
    assert figures.kind("q15.nodes.pq", 10) == "timing"


def test_other_figures_are_compared_closely():
    assert figures.same_figure("t01.test_accuracy.cnn", 0.987, 0.9872)
    assert not figures.same_figure("t01.test_accuracy.cnn", 0.209, 0.203)
    assert figures.same_figure("q01.ndcg@10.new.itemknn", 0.0198, 0.0203)  # within 0.001
    assert not figures.same_figure("t08.events", 8245, 8246)
    assert not figures.same_figure("t05.resume_identical", True, False)
    assert figures.same_figure("q99.list", [0.5, 1], [0.5001, 1]) and not figures.same_figure("q99.list", [1], [1, 2])


def test_a_loaded_run_widens_the_timing_tolerance(tmp_path):
    committed = tmp_path / "committed"
    committed.mkdir()
    (committed / "q99_demo.json").write_text(json.dumps({"parameters": {"SEED": 0}, "seconds": 60.0, "cpu_seconds": 60.0,
                                                          "figures": {"q99.p50_ms.exact": 2.17}}))
    run = tmp_path / "run"
    run.mkdir()
    rec = {"parameters": {"SEED": 0}, "seconds": 400.0, "cpu_seconds": 400.0, "figures": {"q99.p50_ms.exact": 36.6}}
    (run / "q99_demo.json").write_text(json.dumps(rec))
    assert len(figures.compare(run, records=committed)[1]) == 1  # 17x on an unloaded run: a drift
    rec["cpu_seconds"] = 77.0  # the same 17x, in a run stretched 5.2x by other work (q06 at load 15)
    (run / "q99_demo.json").write_text(json.dumps(rec))
    assert figures.compare(run, records=committed)[1] == []


def test_compare_reports_drift_missing_and_other_parameters(tmp_path):
    committed = _records(tmp_path / "committed", {"q99.acc": 0.9, "q99.ms": 2.0, "q99.n": 5}, {"SEED": 0})
    run = _records(tmp_path / "run", {"q99.acc": 0.95, "q99.ms": 5.0, "q99.extra": 1}, {"SEED": 0})
    lines, problems = figures.compare(run, records=committed)
    assert lines == ["q99_demo: compared, 3 figures differ"]
    assert sorted(p.split(":")[1].strip() for p in problems) == ["q99.acc", "q99.extra", "q99.n"]
    _records(tmp_path / "run", {"q99.acc": 0.5}, {"SEED": 1})
    lines, problems = figures.compare(run, records=committed)
    assert problems == [] and "skipped: run with other parameters" in lines[0] and "SEED" in lines[0]
    _records(tmp_path / "run", {"q99.acc": 0.9001, "q99.ms": 19.0, "q99.n": 5}, {"SEED": 0})
    assert figures.compare(run, records=committed)[1] == []


def test_accept_takes_only_a_learner_run(tmp_path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _write_notebook(nbs / "q99_demo.ipynb", "text")
    run = _records(tmp_path / "run", {"q99.acc": 0.9}, {"SEED": 1, "N": 10})
    with pytest.raises(ValueError, match="differ from its parameters cell"):
        figures.accept(run, ["q99_demo"], records=nbs / "records")
    _records(tmp_path / "run", {"q99.acc": 0.9}, {"SEED": 0, "N": 10})
    assert figures.accept(run, ["q99_demo"], records=nbs / "records") == ["q99_demo"]
    assert figures.load_record(nbs / "records" / "q99_demo.json")["figures"] == {"q99.acc": 0.9}


def test_the_harness_writes_parameters_seconds_and_figures(tmp_path):
    import papermill as pm

    src = _write_notebook(tmp_path / "q99_demo.ipynb", "text", params="SEED = 0\nSIZES = (1, 2)")
    nb = nbformat.read(src, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("from visrec_helpers import record\nrecord('q99.seed', SEED)"))
    nbformat.write(nb, src)
    out = workbook.prepare(src, tmp_path / "out", parameters={"SEED": 2}, records_dir=tmp_path / "rec")
    pm.execute_notebook(str(out), str(tmp_path / "done.ipynb"), kernel_name="python3", progress_bar=False)
    rec = figures.load_record(tmp_path / "rec" / "q99_demo.json")
    assert rec["parameters"] == {"SEED": 2, "SIZES": [1, 2]} and rec["figures"] == {"q99.seed": 2}
    assert rec["seconds"] >= 0 and rec["notebook"] == "q99_demo" and rec["cache"] == "warm"


# ------------------------------------------------------------------------------------ README, parameters
def test_readme_is_generated_from_the_committed_records():
    text = figures.README.read_text(encoding="utf-8")
    assert figures.readme_text(text, figures.committed_records()) == text, \
        "README is stale: run `python -m visrec_book.figures readme --write`"


def test_readme_generation_follows_a_changed_record():
    text = figures.README.read_text(encoding="utf-8")
    records = figures.committed_records()
    records["t01_cnn_image_classification"]["figures"]["t01.test_accuracy.cnn"] = 0.5
    new = figures.readme_text(text, records)
    assert new != text and "CNN 0.500" in new


def test_every_notebook_has_a_headline_that_its_records_fill():
    records = figures.committed_records()
    for _num, stem, _t, _m in workbook.NOTEBOOK_MAP:
        assert stem in figures.HEADLINES, f"{stem} has no README headline"
        if stem in records:
            assert "(not recorded)" not in figures.headline(stem, records[stem]["figures"]), stem


def test_ci_parameters_only_on_pending_notebooks(tmp_path, monkeypatch):
    assert figures.parameter_problems(ROOT / "notebooks") == []
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _write_notebook(nbs / "q98_fast.ipynb", "text", ci={"N": 3})
    _write_notebook(nbs / "q99_slow.ipynb", "text", ci={"N": 3})
    monkeypatch.setattr(workbook, "PENDING", {"q99_slow", "q97_gone"})
    problems = figures.parameter_problems(nbs)
    assert len(problems) == 2 and "q98_fast.ipynb: has CI parameters" in problems[0] and "q97_gone" in problems[1]
    assert workbook.run_parameters(nbs / "q99_slow.ipynb") == {"N": 3}
    assert workbook.run_parameters(nbs / "q98_fast.ipynb") == {}
