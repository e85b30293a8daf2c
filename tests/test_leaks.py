"""No parameter leaks (issue 21): whatever SEED and N_TEST a training notebook runs with, the images
its model trains on and the images it is tested on never overlap.

The notebook is not run: the calls its cells make (``training.mnist_split(...)`` for the test part,
``training.train_mnist_classifier(...)`` for the model) are read from the notebook with ``ast``,
their arguments evaluated with the parameters under test, and the library functions called with
them; training itself is replaced by a stub that captures the images it would train on.
"""

import ast
import json

import numpy as np
import pandas as pd
import pytest

from visrec_book.workbook import NOTEBOOK_DIR
from visrec_helpers.data import load_mnist
from visrec_helpers.vision import training

T01 = NOTEBOOK_DIR / "t01_cnn_image_classification.ipynb"


def _call(notebook, func: str) -> ast.Call:
    """The one call of ``training.<func>(...)`` in the notebook's code cells (exercise cells aside)."""
    found = []
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        try:
            tree = ast.parse(source)
        except SyntaxError:  # a cell with IPython magics holds no such call
            continue
        found += [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == func and isinstance(node.func.value, ast.Name)
                  and node.func.value.id == "training"]
    assert len(found) == 1, f"{notebook.name}: expected one call of training.{func}, found {len(found)}"
    return found[0]


def _kwargs(call: ast.Call, params: dict) -> dict:
    assert not call.args, "the calls pass their arguments by name"
    return {kw.arg: eval(compile(ast.Expression(kw.value), "<cell>", "eval"), {}, dict(params)) for kw in call.keywords}


def _trained_on(monkeypatch, **kwargs) -> np.ndarray:
    """The images ``train_mnist_classifier(**kwargs)`` would train on (training stubbed out)."""
    seen = {}

    def capture(model, X_train, y_train, X_val, y_val, *args):
        seen["X"] = np.asarray(X_train)
        return pd.DataFrame({"epoch": [1]})

    monkeypatch.setattr(training, "_train_t01", capture)
    training.train_mnist_classifier(**{**kwargs, "cache": False, "progress": False})
    return seen["X"]


def _rows(images: np.ndarray) -> set[bytes]:
    return {x.tobytes() for x in images}


def test_the_bundled_digits_have_no_duplicate_images():
    X, _ = load_mnist()  # so comparing images by their bytes is comparing them by index
    assert len(_rows(X)) == len(X)


@pytest.mark.parametrize("seed, n_test", [(0, 1000), (1, 1000), (2, 1000), (0, 500), (1, 2000), (3, 250)])
def test_t01_never_trains_on_its_test_images(seed, n_test, monkeypatch):
    params = {"SEED": seed, "N_TEST": n_test, "EPOCHS": 1, "DEVICE": "cpu"}
    split = training.mnist_split(**_kwargs(_call(T01, "mnist_split"), params))
    assert len(split["X_test"]) == n_test
    trained = _trained_on(monkeypatch, **_kwargs(_call(T01, "train_mnist_classifier"), params))
    assert len(trained) == 5000 - n_test
    assert not _rows(trained) & _rows(split["X_test"]), f"SEED={seed}, N_TEST={n_test}: test images trained on"


def test_the_check_catches_the_old_leak(monkeypatch):
    """The call t01 made before (the default split whatever SEED says) trains on most of SEED=1's
    test images: the comparison above would have failed."""
    split = training.mnist_split(n_test=1000, seed=1)
    trained = _trained_on(monkeypatch, epochs=1, seed=1, device="cpu")
    shared = len(_rows(trained) & _rows(split["X_test"]))
    assert shared > 700, shared


def test_the_default_split_keeps_its_cache_key(monkeypatch):
    """t05, q12 and the others reuse the t01 network trained on the workbook's split: passing that
    split explicitly must find the same cached model (the same key), another split a different one."""
    from visrec_helpers.core import cache

    keys = []
    monkeypatch.setattr(cache, "cached_model", lambda name, params, *a, **k: keys.append(json.dumps(params, sort_keys=True)) or (None, {}))
    for kwargs in ({}, {"n_test": 1000, "split_seed": 0}, {"n_test": 1000, "split_seed": 1}):
        training.train_mnist_classifier(epochs=1, **kwargs)
    assert keys[0] == keys[1] != keys[2]
