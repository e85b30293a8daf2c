"""The package's architecture, checked from its source with ``ast``.

1. Layers: a module imports only from its own layer or lower ones, in the order
   core < data < vision < search < recsys < serving; the workbook's tooling (``visrec_book``) is
   outside the library, and no library module imports it.
2. Randomness: no library module seeds a global generator (``torch.manual_seed``, ``np.random.seed``,
   ``random.seed``, ``torch.cuda.manual_seed*``, ``set_seed``); only ``core/rng.py`` may (its
   ``set_seed`` is for notebooks).
3. One definition per name: a public function or class is defined (``def``/``class`` at module
   level) in one library module only.

Each checker is also run on a planted violation, so a checker that finds nothing cannot pass silently.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "visrec_helpers"
LAYERS = ("core", "data", "vision", "search", "recsys", "serving")
#: The tooling package (runner, hygiene, site, benchmarks, practice): above every layer, never imported by one.
TOOLING = "visrec_book"
# Top-level modules that only alias a layer module (sys.modules); they hold no code.
ALIASES = {"index": "search", "recommenders": "recsys", "metrics": "recsys", "features": "vision"}
SEEDING_ALLOWED = {"visrec_helpers.core.rng"}
# Contract functions every module of a kind defines: command-line entry points and benchmarks.
CONTRACT_NAMES = {"main", "run"}
# Known duplicates in modules other engineers are still merging (issue 11); remove each entry when
# its modules define the name once. Any duplicate not listed here fails the test.
PENDING_DUPLICATES: dict[str, list[str]] = {}
GLOBAL_SEEDERS = {
    "torch.manual_seed", "torch.random.manual_seed", "torch.seed", "torch.random.seed",
    "torch.cuda.manual_seed", "torch.cuda.manual_seed_all", "torch.cuda.seed", "torch.cuda.seed_all",
    "torch.default_generator.manual_seed", "torch.random.default_generator.manual_seed",
    "numpy.random.seed", "random.seed",
}


def library_modules() -> dict[str, Path]:
    """Dotted name -> file of every library module (the package root, aliases and ``__init__`` aside)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = rel.parts
        if parts[-1] == "__init__" or len(parts) < 3:
            continue
        out[".".join(parts)] = path
    return out


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == TOOLING:
        return TOOLING
    if len(parts) < 2 or parts[0] != "visrec_helpers":
        return None
    return ALIASES.get(parts[1], parts[1]) if parts[1] in ALIASES or parts[1] in LAYERS else None


def _imported_modules(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """``(line, dotted module)`` of every import anywhere in the tree (inside functions too)."""
    package = module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: resolve against this module's package
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if base == "visrec_helpers":  # from visrec_helpers import data, vision
                found += [(node.lineno, f"visrec_helpers.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, base))
    return found


def layer_violations(source: str, module: str) -> list[str]:
    """Imports in ``source`` (the text of library module ``module``) of a higher layer than its own."""
    own = _layer(module)
    if own is None:
        return []
    bad = []
    for line, target in _imported_modules(ast.parse(source), module):
        layer = _layer(target)
        if layer == TOOLING:
            bad.append(f"{module}:{line} ({own}) imports {target} (the tooling package)")
        elif layer is not None and LAYERS.index(layer) > LAYERS.index(own):
            bad.append(f"{module}:{line} ({own}) imports {target} ({layer})")
    return bad


def _qualified_names(tree: ast.AST) -> dict[str, str]:
    """Local name -> dotted name it was imported as (``np`` -> ``numpy``, ``seed`` -> ``numpy.random.seed``)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    names[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _dotted(node: ast.AST, names: dict[str, str]) -> str | None:
    attrs = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([names.get(node.id, node.id)] + attrs[::-1])


def global_seed_calls(source: str, module: str) -> list[str]:
    """Calls in ``source`` that seed a global random generator (or call ``set_seed``)."""
    if module in SEEDING_ALLOWED:
        return []
    tree = ast.parse(source)
    names = _qualified_names(tree)
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _dotted(node.func, names)
            if name is not None and (name in GLOBAL_SEEDERS or name.rsplit(".", 1)[-1] == "set_seed"):
                bad.append(f"{module}:{node.lineno} calls {name}")
    return bad


def public_definitions(source: str) -> list[str]:
    """Names of the public functions and classes defined at the top level of ``source``."""
    return [n.name for n in ast.parse(source).body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not n.name.startswith("_")]


def duplicate_definitions(sources: dict[str, str]) -> dict[str, list[str]]:
    """Public name -> the modules defining it, for names defined in more than one module."""
    where = defaultdict(list)
    for module, source in sources.items():
        for name in public_definitions(source):
            if name not in CONTRACT_NAMES:
                where[name].append(module)
    return {name: mods for name, mods in sorted(where.items()) if len(mods) > 1}


def _sources() -> dict[str, str]:
    return {m: p.read_text(encoding="utf-8") for m, p in library_modules().items()}


# -- the package -----------------------------------------------------------------

def test_every_layer_module_is_found():
    found = {m.split(".")[1] for m in library_modules()}
    assert found == set(LAYERS)


def test_no_lower_layer_imports_a_higher_one():
    bad = [v for m, src in _sources().items() for v in layer_violations(src, m)]
    assert not bad, "\n".join(bad)


def test_no_library_module_seeds_a_global_generator():
    bad = [v for m, src in _sources().items() for v in global_seed_calls(src, m)]
    assert not bad, "\n".join(bad)


def test_each_public_name_is_defined_once():
    dups = {name: mods for name, mods in duplicate_definitions(_sources()).items()
            if PENDING_DUPLICATES.get(name) != mods}
    assert not dups, "\n".join(f"{name}: {', '.join(mods)}" for name, mods in dups.items())


# -- the checkers catch what they are for ----------------------------------------

@pytest.mark.parametrize("line", [
    "from visrec_helpers.search.index import build_index",
    "import visrec_helpers.recsys.metrics",
    "from visrec_helpers import serving",
    "from visrec_helpers.index import build_index",  # an alias counts as its layer (search)
    "from visrec_book import workbook",  # the tooling package, above every layer
    "import visrec_book.benchmarks.bench_million",
])
def test_layer_checker_catches_an_upward_import(line):
    source = f"def f():\n    {line}\n"  # inside a function, where a lazy import hides
    assert layer_violations(source, "visrec_helpers.vision.features")


@pytest.mark.parametrize("line", [
    "from visrec_helpers.core.cache import cached_model",
    "from visrec_helpers.data import digits_catalog",
    "from visrec_helpers.vision.models import DigitCNN",
    "from . import models",
    "import numpy as np",
])
def test_layer_checker_allows_same_or_lower_layers(line):
    assert layer_violations(f"{line}\n", "visrec_helpers.vision.features") == []


@pytest.mark.parametrize("source", [
    "import torch\ntorch.manual_seed(0)\n",
    "import numpy as np\nnp.random.seed(0)\n",
    "import numpy\nnumpy.random.seed(0)\n",
    "from numpy.random import seed\nseed(0)\n",
    "import random\nrandom.seed(0)\n",
    "import torch as T\nT.cuda.manual_seed_all(0)\n",
    "from torch import manual_seed as ms\nms(1)\n",
    "from visrec_helpers.core.runtime import set_seed\ndef f():\n    set_seed(3)\n",
    "from visrec_helpers.core import rng\nrng.set_seed(3)\n",
])
def test_seed_checker_catches_a_planted_call(source):
    assert global_seed_calls(source, "visrec_helpers.vision.training")


def test_seed_checker_allows_local_generators_and_core_rng():
    local = ("import numpy as np\nimport torch\ng = torch.Generator().manual_seed(0)\n"
             "rng = np.random.default_rng(0)\nx = torch.rand(3, generator=g)\n")
    assert global_seed_calls(local, "visrec_helpers.vision.training") == []
    assert global_seed_calls("import torch\ntorch.manual_seed(0)\n", "visrec_helpers.core.rng") == []


def test_duplicate_checker_catches_a_second_definition():
    sources = {"visrec_helpers.vision.a": "def to_uint8(x):\n    pass\nclass Box:\n    pass\n",
               "visrec_helpers.vision.b": "class to_uint8:\n    pass\ndef _private():\n    pass\n",
               "visrec_book.x": "def main():\n    pass\n",
               "visrec_book.y": "def main():\n    pass\n"}
    assert duplicate_definitions(sources) == {"to_uint8": ["visrec_helpers.vision.a", "visrec_helpers.vision.b"]}
