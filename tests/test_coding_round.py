"""The coding round's check runner: a program runs in a fresh offline process under a time limit, and
the task's check measures what it left; t01's interview version is read from its tagged cells and
passes its own check."""

import ast
import time

import pytest

from visrec_book import coding_round as cr
from visrec_book import mock_interview as mi
from visrec_book.workbook import NOTEBOOK_DIR

T01 = cr.T01

KNN = """import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from visrec_helpers.data import load_mnist

X, y = load_mnist()
train_idx, test_idx = train_test_split(np.arange(len(y)), test_size=1000, stratify=y, random_state=SEED)
knn = KNeighborsClassifier(1).fit(X[train_idx].reshape(len(train_idx), -1), y[train_idx])
def predict(images):
    return knn.predict(np.asarray(images).reshape(len(images), -1))
print("fitted")
"""


def test_t01_interview_version_is_its_tagged_cells_within_80_lines_of_standard_libraries():
    cells = cr.interview_cells(T01)
    assert cells and all(kind == "code" for kind, _ in cells)
    program = cr.interview_program(T01)
    assert len(program.splitlines()) <= 80 + len(cells)  # the joins add one blank line per cell
    assert sum(len(src.splitlines()) for _, src in cells) <= 80
    roots = set()
    for node in ast.walk(ast.parse(program)):
        if isinstance(node, ast.Import):
            roots |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add(node.module)
    allowed = ("numpy", "torch", "torchvision", "sklearn", "time", "visrec_helpers.data")
    assert all(any(r == a or r.startswith(a + ".") for a in allowed) for r in roots), roots
    for needed in ("DataLoader", "cross_entropy", "inference_mode", "model.eval()", "assert accuracy >="):
        assert needed in program, needed
    markdown = cr.interview_markdown(T01)
    assert markdown.count("```python") == len(cells)


def test_a_notebook_without_tagged_cells_has_no_interview_version(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, tmp_path / "t99_x.ipynb")
    assert cr.interview_cells("t99_x", tmp_path) == [] and cr.interview_program("t99_x", tmp_path) == ""
    assert cr.interview_cells("t98_missing", tmp_path) == []


@pytest.mark.slow
def test_t01_interview_version_passes_its_own_check():
    report = cr.run_check(T01, cr.interview_program(T01), seed=0)
    assert report.passed, cr.report_text(report)
    accuracy = next(o for o in report.outcomes if o.name_en.startswith("held-out accuracy"))
    assert float(accuracy.detail.split(",")[0]) >= cr.T01_BAR
    assert "held-out accuracy" in report.output  # the program's own print is shown


def test_a_program_below_the_bar_fails_and_shows_the_accuracy_the_check_measured():
    report = cr.run_check(T01, KNN, seed=0)
    assert not report.passed and not report.error, cr.report_text(report)
    by_name = {o.name_en: o for o in report.outcomes}
    assert by_name["held-out set of at least 500 images"].passed
    assert by_name["no test image in training"].passed
    accuracy = by_name[f"held-out accuracy >= {cr.T01_BAR:.2f}"]
    assert not accuracy.passed and 0.9 < float(accuracy.detail.split(",")[0]) < cr.T01_BAR
    assert "fitted" in report.output
    text = cr.report_text(report)
    assert text.startswith("NOT YET") and "[x ] held-out accuracy" in text and "[ok] no test image" in text


def test_a_program_that_trains_on_its_test_images_fails_the_split_criterion():
    leak = KNN.replace("knn = KNeighborsClassifier(1).fit(X[train_idx]", "train_idx = np.arange(len(y))\n"
                       "knn = KNeighborsClassifier(1).fit(X[train_idx]")
    report = cr.run_check(T01, leak, seed=0)
    by_name = {o.name_en: o for o in report.outcomes}
    assert not report.passed and not by_name["no test image in training"].passed
    assert by_name["no test image in training"].detail == "1000 shared"


def test_a_program_that_hangs_is_stopped_at_the_time_limit():
    t0 = time.monotonic()
    report = cr.run_check(T01, "print('started', flush=True)\nwhile True:\n    pass\n", time_limit_s=5)
    assert time.monotonic() - t0 < 60
    assert not report.passed and report.error == "time limit: stopped after 5 s"
    assert "started" in report.output and report.outcomes == []
    assert "did not finish: time limit" in cr.report_text(report)


def test_a_program_that_crashes_shows_its_own_error():
    report = cr.run_check(T01, "x = 1\ny = x / 0\n")
    assert not report.passed and report.outcomes == []
    assert "ZeroDivisionError: division by zero" in report.error
    assert 'program.py", line 2' in report.error and "runpy" not in report.error
    zh = cr.report_text(report, "zh")
    assert zh.startswith("还没通过") and "没跑完：" in zh


def test_a_program_that_leaves_nothing_is_told_what_is_missing():
    report = cr.run_check(T01, "print('hello')\n")
    (outcome,) = report.outcomes
    assert not report.passed and outcome.detail == "missing: predict, train_idx, test_idx"


def test_a_program_that_leaves_the_wrong_things_is_told_so():
    report = cr.run_check(T01, "train_idx = test_idx = 'abc'\npredict = len\n")
    assert not report.passed and "the check could not use what your program left" in report.error


def test_the_program_runs_offline_and_with_seed_defined():
    report = cr.run_check(T01, "print('seed', SEED)\nimport socket\nsocket.create_connection(('192.0.2.1', 80), 1)\n",
                          seed=2)
    assert "seed 2" in report.output
    assert "NetworkBlockedError" in report.error


def test_a_task_without_a_check_is_refused_by_name():
    with pytest.raises(ValueError, match="'t06_object_recognition' has no outcome check yet"):
        cr.run_check("t06_object_recognition", "pass")


def test_every_question_draws_an_existing_task_and_q10_draws_the_cnn():
    stems = {p.stem for p in NOTEBOOK_DIR.glob("q*.ipynb")}
    assert set(mi.CODING_TASK_FOR) == stems
    assert all((NOTEBOOK_DIR / f"{t}.ipynb").exists() for t in mi.CODING_TASK_FOR.values())
    assert mi.CODING_TASK_FOR["q10_deep_learning_recognition_recommendation"] == T01
    assert set(cr.TASK_CHECKS) <= set(mi.CODING_TASK_FOR.values())


def test_q10_has_a_program_round_with_t01s_interview_version():
    q10, = [q for q in mi.load_questions() if q.id.startswith("q10_")]
    assert q10.program_round and q10.task == T01
    assert q10.interview == cr.interview_markdown(T01)
