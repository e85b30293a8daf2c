"""make seeds (visrec_book.seeds): a notebook at other seeds, a table of the asserts that fail."""

import nbformat

from visrec_book import seeds, workbook


def _notebook(path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("SEED = 0\nN = 10")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params,
                nbformat.v4.new_code_cell("from visrec_helpers import record\nvalue = (SEED * 7) % 3\n"
                                          "record('q99.value', value)"),
                nbformat.v4.new_markdown_cell("## Check"),
                nbformat.v4.new_code_cell("assert value != 1, f'value is {value}'\nprint('first claim holds')"),
                nbformat.v4.new_code_cell("assert N == 10, 'N'\nassert value < 2, 'value below 2'"),
                nbformat.v4.new_markdown_cell("## Pitfalls"),
                nbformat.v4.new_code_cell("1 / 0")]
    nbformat.write(nb, path)
    return path


def test_every_failing_assert_of_a_seed_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(workbook, "PENDING", set())
    path = _notebook(tmp_path / "q99_demo.ipynb")
    rows = [seeds.run_one(path, s, tmp_path / "out") for s in (0, 1, 2)]
    # SEED 0 -> value 0, SEED 1 -> 1 (first assert fails), SEED 2 -> 2 (second cell's last assert fails)
    assert [r["figures"] for r in rows] == [{"q99.value": 0}, {"q99.value": 1}, {"q99.value": 2}]
    assert all(r["parameters"]["SEED"] == s for r, s in zip(rows, (0, 1, 2)))
    fails = [[(f["cell"], f["check"], f["error"]) for f in r["failures"]] for r in rows]
    # cells are numbered as in the notebook (the executed copy has harness cells around them)
    assert fails == [[(6, False, "ZeroDivisionError")],
                     [(3, True, "AssertionError"), (6, False, "ZeroDivisionError")],
                     [(4, True, "AssertionError"), (6, False, "ZeroDivisionError")]]
    assert rows[2]["failures"][0]["line"] == "assert value < 2, 'value below 2'"
    table = seeds.report(rows)
    assert table.count("| FAIL |") == 3
    assert "`assert value != 1, f'value is {value}'` value is 1" in table
    assert "ZeroDivisionError" in table.splitlines()[2]


def test_check_cells_are_those_under_the_check_heading(tmp_path):
    import json

    nb = json.loads(_notebook(tmp_path / "q99_demo.ipynb").read_text())
    assert seeds.check_cells(nb) == {3, 4}
