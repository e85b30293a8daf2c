"""The workbook frame: notebook map, hygiene checks, CI-parameter injection, README."""

import json
import re

import nbformat
import pytest

from visrec_book import hygiene, workbook

ROOT = workbook.ROOT


def _notebook(tmp_path, name="q99_demo.ipynb", outputs=False, sections=hygiene.SECTIONS, ci=None):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if ci is not None:
        nb.metadata["visrec"] = {"ci_parameters": ci}
    params = nbformat.v4.new_code_cell("N = 10\nSEED = 0")
    params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell("from visrec_helpers import record\nrecord('n', N)\nassert N > 0")
    if outputs:
        body.outputs = [nbformat.v4.new_output("stream", text="hi")]
        body.execution_count = 1
    nb.cells = [nbformat.v4.new_markdown_cell("\n".join(f"## {s}" for s in sections)), params, body]
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def test_clean_notebook_passes(tmp_path):
    assert hygiene.check_notebook(_notebook(tmp_path)) == []


def test_committed_outputs_are_reported(tmp_path):
    problems = hygiene.check_notebook(_notebook(tmp_path, outputs=True))
    assert any("committed outputs" in p for p in problems)


def test_missing_sections_are_reported(tmp_path):
    problems = hygiene.check_notebook(_notebook(tmp_path, sections=["Answer in 60 seconds"]))
    assert any("missing sections" in p and "Pitfalls" in p for p in problems)


def test_unknown_ci_parameter_is_reported(tmp_path):
    problems = hygiene.check_notebook(_notebook(tmp_path, ci={"EPOCHS": 1}))
    assert any("EPOCHS" in p for p in problems)


def test_prepare_injects_parameters_and_harness(tmp_path, monkeypatch):
    src = _notebook(tmp_path, ci={"N": 3})
    assert workbook.ci_parameters(src) == {"N": 3}
    monkeypatch.setattr(workbook, "PENDING", {"q99_demo"})  # CI parameters run only for a pending notebook
    out = workbook.prepare(src, tmp_path / "out", records_dir=tmp_path / "rec")
    nb = json.loads(out.read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "N = 3" in "".join(injected[0]["source"])
    assert "recorded no headline figures" in "".join(nb["cells"][-1]["source"])


def test_prepare_runs_the_parameters_cell_off_the_pending_list(tmp_path, monkeypatch):
    src = _notebook(tmp_path, ci={"N": 3})
    monkeypatch.setattr(workbook, "PENDING", set())
    nb = json.loads(workbook.prepare(src, tmp_path / "out").read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert not injected or "N = 3" not in "".join(injected[0]["source"])


def test_prepare_refuses_unknown_parameters(tmp_path):
    with pytest.raises(ValueError, match="not in its 'parameters' cell"):
        workbook.prepare(_notebook(tmp_path), tmp_path / "out", parameters={"BOGUS": 1})


def test_every_notebook_is_on_the_map_and_hygienic():
    stems = {stem for _, stem, _, _ in workbook.NOTEBOOK_MAP}
    found = workbook.list_notebooks()
    assert found, "no notebooks in notebooks/"
    for nb in found:
        assert nb.stem in stems or nb.stem == "00_start_here", f"{nb.name} is not in NOTEBOOK_MAP"
        assert hygiene.check_notebook(nb) == []


def test_map_has_25_rows_and_the_readme_shows_them():
    assert len(workbook.NOTEBOOK_MAP) == 25
    readme = (ROOT / "README.md").read_text()
    for num, stem, _, _ in workbook.NOTEBOOK_MAP:
        assert re.search(rf"\| {num} \| \[{stem}\]", readme), f"README map lacks {num}"
    assert "make lab" in readme and "make test" in readme
