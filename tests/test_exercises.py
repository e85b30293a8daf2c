"""Every exercise has a self-check and a solution; learner copies drop the solutions."""

import re

import nbformat
import pytest

from visrec_book import exercises
from visrec_book.workbook import list_notebooks

CHAPTERS = [p for p in list_notebooks() if re.match(r"[qt]\d\d_", p.name)]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_exercise_has_a_check_and_a_solution(path):
    found = exercises.find_exercises(path)
    assert 2 <= len(found) <= 3, f"{path.name}: expected 2-3 exercises, found {len(found)}"
    for ex in found:
        assert ex.has_check, f"{path.name}: exercise {ex.number} has no self-check cell"
        assert ex.has_solution, f"{path.name}: exercise {ex.number} has no cell tagged 'solution'"


def test_strip_solutions_removes_only_solution_cells(tmp_path):
    nb = nbformat.v4.new_notebook()
    sol = nbformat.v4.new_code_cell("def f(): return 1")
    sol.metadata["tags"] = ["solution"]
    nb.cells = [nbformat.v4.new_markdown_cell("## Exercises\n**Exercise 1.** Write f."),
                nbformat.v4.new_code_cell("def f(): raise NotImplementedError"),
                nbformat.v4.new_code_cell("check_f(f)"), sol]
    src = tmp_path / "q99_x.ipynb"
    nbformat.write(nb, src)
    [ex] = exercises.find_exercises(src)
    assert ex.has_check and ex.has_solution
    out = nbformat.read(exercises.strip_solutions(src, tmp_path / "out"), as_version=4)
    assert len(out.cells) == 3 and all("solution" not in c.metadata.get("tags", []) for c in out.cells)


def test_an_exercise_without_solution_is_detected(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Exercises\n**Exercise 1.** Write f."),
                nbformat.v4.new_code_cell("check_f(f)"),
                nbformat.v4.new_markdown_cell("## References")]
    src = tmp_path / "q98_x.ipynb"
    nbformat.write(nb, src)
    [ex] = exercises.find_exercises(src)
    assert ex.has_check and not ex.has_solution


def test_an_exercise_heading_may_carry_a_note_in_brackets(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Exercises\n**Exercise 1 (the core).** Write it."),
                nbformat.v4.new_code_cell("check_it(my_fn)"),
                nbformat.v4.new_markdown_cell("**Exercise 2.** Another."),
                nbformat.v4.new_markdown_cell("## References")]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    found = exercises.find_exercises(path)
    assert [(e.number, e.has_check) for e in found] == [(1, True), (2, False)]
