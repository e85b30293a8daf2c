"""The single-source check (visrec_book.export): a notebook cell marked
``#| export package.module`` must hold exactly the package's definitions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visrec_book import export

MODULE = '''"""A tiny module."""

import numpy as np

SCALE = 2.0


def double(x):
    """Twice ``x``."""
    return SCALE * np.asarray(x)


class Counter:
    def __init__(self):
        self.n = 0  # starts empty
'''

CELL = '''#| export pkg.mod
import numpy as np


def double(x):
    """Twice ``x``."""
    return SCALE * np.asarray(x)
'''


def write_notebook(path: Path, *sources: str) -> Path:
    cells = [{"cell_type": "markdown", "id": "md", "metadata": {}, "source": ["# A notebook\n"]}]
    for k, src in enumerate(sources):
        cells.append({"cell_type": "code", "execution_count": None, "id": f"c{k}", "metadata": {},
                      "outputs": [], "source": src.splitlines(keepends=True)})
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tree(tmp_path):
    """A root with pkg/mod.py and a notebooks/ folder; returns (root, notebooks, module path)."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    mod = tmp_path / "pkg" / "mod.py"
    mod.write_text(MODULE)
    (tmp_path / "notebooks").mkdir()
    return tmp_path, tmp_path / "notebooks", mod


def run_check(root, notebooks) -> export.Report:
    return export.check(notebooks, root)


def test_identical_cell_passes(tree):
    root, nbs, _ = tree
    write_notebook(nbs / "a.ipynb", "x = 1", CELL)
    report = run_check(root, nbs)
    assert report.problems == []
    assert (report.cells, report.definitions) == (1, 1)


def test_unmarked_cells_are_ignored(tree):
    root, nbs, _ = tree
    write_notebook(nbs / "a.ipynb", CELL.replace("#| export pkg.mod\n", "# export pkg.mod\n") + "\nprint(1)\n")
    assert run_check(root, nbs).cells == 0


def test_trailing_whitespace_is_not_a_difference(tree):
    root, nbs, _ = tree
    write_notebook(nbs / "a.ipynb", CELL.replace('np.asarray(x)\n', 'np.asarray(x)   \n\n\n'))
    assert run_check(root, nbs).problems == []


def test_a_class_and_a_constant_are_compared_too(tree):
    root, nbs, _ = tree
    cell = "#| export pkg.mod\nSCALE = 2.0\n\n\nclass Counter:\n    def __init__(self):\n        self.n = 0  # starts empty\n"
    write_notebook(nbs / "a.ipynb", cell)
    report = run_check(root, nbs)
    assert report.problems == [] and report.definitions == 2
    write_notebook(nbs / "a.ipynb", cell.replace("SCALE = 2.0", "SCALE = 3.0"))
    [problem] = run_check(root, nbs).problems
    assert "pkg.mod.SCALE differs" in problem


def test_one_changed_character_in_the_cell_fails_with_name_and_diff(tree):
    root, nbs, _ = tree
    write_notebook(nbs / "a.ipynb", CELL.replace("SCALE * np", "SCALE + np"))
    [problem] = run_check(root, nbs).problems
    assert "a.ipynb cell 1 (id c0): pkg.mod.double differs from the package" in problem
    assert "-    return SCALE * np.asarray(x)" in problem
    assert "+    return SCALE + np.asarray(x)" in problem


def test_one_changed_character_in_the_module_fails(tree):
    root, nbs, mod = tree
    write_notebook(nbs / "a.ipynb", CELL)
    mod.write_text(MODULE.replace('"""Twice ``x``."""', '"""Twice ``x``!"""'))
    [problem] = run_check(root, nbs).problems
    assert "pkg.mod.double differs" in problem and '-    """Twice ``x``!"""' in problem


def test_a_changed_decorator_is_a_difference(tree):
    root, nbs, mod = tree
    mod.write_text(MODULE.replace("def double", "@staticmethod\ndef double"))
    write_notebook(nbs / "a.ipynb", CELL)
    [problem] = run_check(root, nbs).problems
    assert "-@staticmethod" in problem


@pytest.mark.property
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_one_character_change_in_a_shown_definition_is_caught(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("root")
    (root / "pkg").mkdir()
    (root / "pkg" / "mod.py").write_text(MODULE)
    (root / "notebooks").mkdir()
    body_start = CELL.index("def double")
    visible = [k for k in range(body_start, len(CELL)) if not CELL[k].isspace()]
    k = data.draw(st.sampled_from(visible), label="position")
    new = data.draw(st.characters(min_codepoint=33, max_codepoint=126).filter(lambda ch: ch != CELL[k]),
                    label="replacement")
    write_notebook(root / "notebooks" / "a.ipynb", CELL[:k] + new + CELL[k + 1:])
    assert export.check(root / "notebooks", root).problems, f"not caught: {CELL[k]!r} -> {new!r} at {k}"


def test_name_missing_from_the_module_fails(tree):
    root, nbs, _ = tree
    write_notebook(nbs / "a.ipynb", CELL.replace("def double", "def triple"))
    [problem] = run_check(root, nbs).problems
    assert "pkg.mod.triple does not exist" in problem


def test_missing_module_fails(tree):
    root, nbs, _ = tree
    write_notebook(nbs / "a.ipynb", CELL.replace("pkg.mod", "pkg.nowhere"))
    [problem] = run_check(root, nbs).problems
    assert "exports to pkg.nowhere" in problem and "module pkg.nowhere not found" in problem


@pytest.mark.parametrize("extra", ["print(double(3))", "result = double(3) if True else 0",
                                   "for k in range(2):\n    pass", "a, b = 1, 2", '"""a loose string"""'])
def test_code_other_than_definitions_fails(tree, extra):
    root, nbs, _ = tree
    write_notebook(nbs / "a.ipynb", CELL + "\n" + extra + "\n")
    [problem] = run_check(root, nbs).problems
    assert "not a definition" in problem and "a.ipynb cell 1" in problem


def test_import_the_module_lacks_fails(tree):
    root, nbs, _ = tree
    write_notebook(nbs / "a.ipynb", CELL.replace("import numpy as np", "import numpy as np\nimport pandas as pd"))
    [problem] = run_check(root, nbs).problems
    assert "imports 'pd'" in problem


def test_bad_marker_and_syntax_error_fail(tree):
    root, nbs, _ = tree
    write_notebook(nbs / "a.ipynb", "#| export\ndef f(): pass\n", "#| export pkg.mod\n%time x = 1\n")
    problems = run_check(root, nbs).problems
    assert len(problems) == 2
    assert "is not '#| export package.module'" in problems[0]
    assert "not valid Python" in problems[1]


def test_name_defined_twice_in_module_fails(tree):
    root, nbs, mod = tree
    mod.write_text(MODULE + '\n\ndef double(x):\n    return x\n')
    write_notebook(nbs / "a.ipynb", CELL)
    [problem] = run_check(root, nbs).problems
    assert "defined 2 times" in problem


def test_sync_from_notebooks_repairs_the_module(tree):
    root, nbs, mod = tree
    write_notebook(nbs / "a.ipynb", CELL.replace("SCALE * np", "SCALE * 1.0 * np"))
    changed = export.sync_from_notebooks(nbs, root)
    assert changed == ["pkg.mod.double: pkg/mod.py updated from a.ipynb cell 1 (id c0)"]
    assert run_check(root, nbs).problems == []
    assert "return SCALE * 1.0 * np.asarray(x)" in mod.read_text()
    assert "class Counter" in mod.read_text() and mod.read_text().startswith('"""A tiny module."""')


def test_sync_from_notebooks_appends_a_new_definition(tree):
    root, nbs, mod = tree
    write_notebook(nbs / "a.ipynb", "#| export pkg.mod\ndef half(x):\n    return x / 2\n")
    export.sync_from_notebooks(nbs, root)
    assert mod.read_text().endswith("\n\n\ndef half(x):\n    return x / 2\n")
    assert run_check(root, nbs).problems == []


def test_sync_from_package_repairs_the_cell_and_keeps_the_rest(tree):
    root, nbs, mod = tree
    nb = write_notebook(nbs / "a.ipynb", "x = 1", CELL.replace("SCALE * np", "SCALE + np"))
    export.sync_from_package(nbs, root)
    assert run_check(root, nbs).problems == []
    cells = json.loads(nb.read_text())["cells"]
    assert "".join(cells[1]["source"]) == "x = 1"
    assert "".join(cells[2]["source"]).startswith("#| export pkg.mod\nimport numpy as np\n")
    assert nb.read_text().endswith("}\n")


def test_sync_refuses_conflicting_cells(tree):
    root, nbs, mod = tree
    write_notebook(nbs / "a.ipynb", CELL)
    write_notebook(nbs / "b.ipynb", CELL.replace("SCALE * np", "SCALE + np"))
    before = mod.read_text()
    with pytest.raises(export.ExportError, match="different text"):
        export.sync_from_notebooks(nbs, root)
    assert mod.read_text() == before


def test_command_line_exits_1_on_drift_and_0_after_sync(tree):
    root, nbs, _ = tree
    write_notebook(nbs / "a.ipynb", CELL.replace("SCALE * np", "SCALE + np"))
    args = ["--notebooks", str(nbs), "--root", str(root)]
    assert export.main(["check", *args]) == 1
    assert export.main(["sync", "--from", "package", *args]) == 0
    assert export.main(["check", *args]) == 0


PRIVATE_CELLS = {
    "from pkg.mod import _helper": "imports the private name '_helper' from pkg.mod",
    "from pkg.mod import double, _helper as h": "imports the private name '_helper' from pkg.mod",
    "import pkg._impl": "imports the private module pkg._impl",
    "y = model._opt.step()": "reads the private attribute model._opt",
    "%time z = bpr._sample(rng, 5)": "reads the private attribute bpr._sample",
}


@pytest.mark.parametrize("planted", sorted(PRIVATE_CELLS))
def test_a_private_import_or_attribute_read_in_any_cell_fails(tree, planted):
    root, nbs, _ = tree
    write_notebook(nbs / "a.ipynb", "x = 1", planted)
    problems = run_check(root, nbs).problems
    assert len(problems) == 1 and PRIVATE_CELLS[planted] in problems[0] and "a.ipynb cell 2" in problems[0]
    assert export.main(["check", "--notebooks", str(nbs), "--root", str(root)]) == 1


def test_a_private_read_inside_a_marked_cell_fails_but_self_and_dunders_pass(tree):
    root, nbs, mod = tree
    mod.write_text(MODULE + """

def peek(obj):
    return obj._state
""")
    write_notebook(nbs / "a.ipynb", CELL, "#| export pkg.mod\ndef peek(obj):\n    return obj._state\n")
    problems = run_check(root, nbs).problems
    assert len(problems) == 1 and "obj._state" in problems[0]
    fine = ("class C:\n    def f(self):\n        return self._g() + type(self).__name__\n\n"
            "    @classmethod\n    def h(cls):\n        return cls._x\n\nimport io as _io\nprint(__name__, _io)\n")
    write_notebook(nbs / "a.ipynb", CELL, fine)
    assert run_check(root, nbs).problems == []


def test_the_workbook_notebooks_match_the_package():
    root = Path(export.__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "visrec_book.export", "check"], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    report = export.check(root / "notebooks", root)
    assert export.check_private(root / "notebooks") == []
    assert report.cells >= 1 and report.definitions >= 1, "no marked cells: the check would be vacuous"
    assert any(cell.module == "visrec_helpers.recsys.factorisation"
               for cell in export.read_marked_cells(root / "notebooks" / "t03_collaborative_filtering_program.ipynb"))
