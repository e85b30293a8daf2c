"""record() stores named results in notebook outputs; read_records() reads them back."""


import nbformat
import numpy as np
import pytest

from visrec_helpers import read_records, record, recorded
from visrec_helpers.core.records import MIME


def test_record_converts_numpy_and_keeps_in_process():
    record("test.value", np.float32(0.5))
    record("test.list", np.arange(3))
    assert recorded()["test.value"] == 0.5 and recorded()["test.list"] == [0, 1, 2]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_record_refuses_non_finite(bad):
    with pytest.raises(ValueError, match="not finite"):
        record("bad", bad)


def test_record_refuses_objects_and_empty_names():
    with pytest.raises(TypeError, match="cannot store"):
        record("obj", object())
    with pytest.raises(ValueError, match="non-empty"):
        record("", 1)


def test_read_records_from_an_executed_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    c1 = nbformat.v4.new_code_cell("x")
    c1.outputs = [nbformat.v4.new_output("display_data", data={MIME: {"a": 1}, "text/plain": "a"})]
    c2 = nbformat.v4.new_code_cell("y")
    c2.outputs = [nbformat.v4.new_output("display_data", data={MIME: {"b": [1, 2], "a": 3}})]
    nb.cells = [c1, c2, nbformat.v4.new_markdown_cell("text")]
    p = tmp_path / "run.ipynb"
    nbformat.write(nb, p)
    assert read_records(p) == {"a": 3, "b": [1, 2]}


def test_record_and_read_back_through_a_real_kernel(tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from visrec_helpers import record\nrecord('acc', 0.75)")]
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    p = tmp_path / "executed.ipynb"
    nbformat.write(nb, p)
    assert read_records(p) == {"acc": 0.75}


def test_read_records_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_records(tmp_path / "none.ipynb")
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not a notebook"):
        read_records(bad)


def test_record_all_stores_every_value_converted():
    from visrec_helpers import record_all

    record_all({"test.many.a": np.float64(0.25), "test.many.b": np.arange(2)}, summary="two figures")
    assert recorded()["test.many.a"] == 0.25 and recorded()["test.many.b"] == [0, 1]


def test_record_all_refuses_an_empty_dict_and_bad_names():
    from visrec_helpers import record_all

    with pytest.raises(ValueError, match="non-empty dict"):
        record_all({})
    with pytest.raises(ValueError, match="non-empty string"):
        record_all({"": 1})
    with pytest.raises(ValueError, match="not finite"):
        record_all({"x": float("nan")})


def test_hygiene_counts_record_all_as_recording(tmp_path):
    from visrec_book import hygiene

    def notebook(body):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        params = nbformat.v4.new_code_cell("N = 10")
        params.metadata["tags"] = ["parameters"]
        nb.cells = [nbformat.v4.new_markdown_cell("\n".join(f"## {s}" for s in hygiene.SECTIONS)), params,
                    nbformat.v4.new_code_cell(body)]
        path = tmp_path / "q99_demo.ipynb"
        nbformat.write(nb, path)
        return path

    assert hygiene.check_notebook(notebook("from visrec_helpers import record_all\nrecord_all({'n': N})\nassert N > 0")) == []
    assert any("never calls record" in p for p in hygiene.check_notebook(notebook("x = N\nassert N > 0")))
