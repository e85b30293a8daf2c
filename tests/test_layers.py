"""The package's architecture, checked from its source with ``ast``.

1. Layers: a module imports only from its own layer or lower ones, in the order
   core < data < vision < search < recsys < serving; the workbook's tooling (``visrec_book``) is
   outside the library, and no library module imports it.
2. Randomness: no library module seeds a global generator (``torch.manual_seed``, ``np.random.seed``,
   ``random.seed``, ``torch.cuda.manual_seed*``, ``set_seed``); only ``core/rng.py`` may (its
   ``set_seed`` is for notebooks).
3. One definition per name: a public function or class is defined (``def``/``class`` at module
   level) in one library module only.
4. Public API between modules: no library module imports another module's private name
   (``from visrec_helpers.x import _name``) or reads one through a module (``x._name``).
5. Short functions: no library function or method is longer than ``MAX_FUNCTION_LINES`` lines
   (from ``def`` to its last line); a longer one is split into named steps.

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
MAX_FUNCTION_LINES = 80
# Functions over the limit that another engineer owns this round (issue 22: the user simulator,
# h22c); remove each entry when its function is split or deleted. Any other long function fails.
PENDING_LONG: dict[str, str] = {
    "visrec_helpers.data.simulate.simulate_users": "h22c (issue 22: one user simulator)",
}
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


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(source: str, module: str) -> list[str]:
    """Private names of another library module that ``source`` (module ``module``) imports or reads."""
    tree = ast.parse(source)
    bad, modules = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("visrec_helpers") and not node.level:
            for a in node.names:
                if _is_private(a.name) and node.module != module:
                    bad.append(f"{module}:{node.lineno} imports {node.module}.{a.name}")
                elif not _is_private(a.name):
                    modules[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("visrec_helpers") and a.asname:
                    modules[a.asname] = a.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _is_private(node.attr) and isinstance(node.value, ast.Name)
                and node.value.id in modules and modules[node.value.id] != module):
            bad.append(f"{module}:{node.lineno} reads {modules[node.value.id]}.{node.attr}")
    return bad


def long_functions(source: str, module: str, limit: int = MAX_FUNCTION_LINES) -> dict[str, int]:
    """``module.qualified.name -> lines`` of every function or method in ``source`` longer than ``limit``."""
    found = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}.{child.name}"
                if not isinstance(child, ast.ClassDef) and child.end_lineno - child.lineno + 1 > limit:
                    found[name] = child.end_lineno - child.lineno + 1
                visit(child, name)

    visit(ast.parse(source), module)
    return found


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


def test_no_library_module_uses_another_modules_private_names():
    bad = [v for m, src in _sources().items() for v in private_imports(src, m)]
    assert not bad, "\n".join(bad)


def test_no_library_function_is_longer_than_the_limit():
    long = {name: n for m, src in _sources().items() for name, n in long_functions(src, m).items()
            if name not in PENDING_LONG}
    assert not long, "\n".join(f"{name}: {n} lines (split it into named steps)" for name, n in long.items())
    stale = [name for name in PENDING_LONG if not any(name in long_functions(src, m) for m, src in _sources().items())]
    assert not stale, f"split or gone: remove from PENDING_LONG: {stale}"


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


@pytest.mark.parametrize("source", [
    "from visrec_helpers.vision.features import _train_simclr\n",
    "def f():\n    from visrec_helpers.recsys.base import _check_hyper\n",
    "from visrec_helpers.vision import pretrained\nx = pretrained._to_tensor\n",
    "import visrec_helpers.serving.spark as vs\ny = vs._factors(1, 2, 3)\n",
])
def test_private_import_checker_catches_a_planted_use(source):
    assert private_imports(source, "visrec_helpers.vision.transfer")


def test_private_import_checker_allows_public_names_own_module_and_dunders():
    source = ("from visrec_helpers.vision.training import fit\nfrom visrec_helpers.vision import training\n"
              "x = training.__name__\nfrom visrec_helpers.vision.transfer import _own\nself._x = 1\n")
    assert private_imports(source, "visrec_helpers.vision.transfer") == []


def test_long_function_checker_catches_a_planted_long_function_and_method():
    body = "".join(f"    x{i} = {i}\n" for i in range(80))
    source = f"def short():\n    pass\n\n\ndef long():\n{body}\n\nclass A:\n    def m(self):\n" + body.replace(
        "    ", "        ") + "\n    def ok(self):\n        pass\n"
    assert long_functions(source, "visrec_helpers.vision.x") == {"visrec_helpers.vision.x.long": 81,
                                                               "visrec_helpers.vision.x.A.m": 81}
    assert long_functions(f"def f():\n{body[: body.index('    x79')]}", "m") == {}  # 80 lines pass
