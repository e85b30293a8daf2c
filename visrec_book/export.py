"""One source for the code a notebook shows: marked cells must equal the package's definitions.

A notebook code cell whose first line is ``#| export visrec_helpers.recsys.factorisation``
holds the real source of one or more top-level definitions of that module: functions,
classes and constants (``UPPER_CASE = ...`` or ``UPPER_CASE: type = ...``). The notebook runs the cell,
so the reader sees and uses the very code the package exports and the unit tests cover.

Rules for a marked cell (anything else is reported as a problem):

- after the marker line, only ``def``, ``async def``, ``class``, constants (one ``UPPER_CASE``
  name assigned), imports, comments and blank lines;
- each definition is compared with the definition of the same name in the module's file,
  read with :mod:`ast` (the module is never imported): the exact source text from the first
  decorator to the end of the definition, with trailing whitespace removed from each line;
  comments above a definition or between definitions are not compared;
- an import is allowed so that the cell runs on its own; it is not compared, but the module
  must bind the same name the same way (``import numpy as np`` in the cell needs
  ``import numpy as np`` in the module), so a name in the shown code means the same thing
  in both places.

Public names only: every code cell of a notebook (marked or not) may not import a private name
(``from m import _name``, ``import a._b``) nor read a private attribute of another object
(``obj._name``; ``self._name`` and ``cls._name`` inside a shown class are the class's own). A
helper that shown code needs is made public or shown in its own marked cell; dunder names
(``__name__``) are not private. The check reports each use with its cell and line.

Command line (from the repository root)::

    python -m visrec_book.export check                    # exit 1 and a diff on drift
    python -m visrec_book.export sync --from notebooks    # write the cells into the package
    python -m visrec_book.export sync --from package      # write the package into the cells

``sync --from notebooks`` replaces each definition in the module with the cell's text and
appends a definition the module lacks; ``sync --from package`` replaces each definition in
the cells with the module's text. Neither creates a module or touches anything outside the
definitions. Both refuse to write (and say why) when the cells cannot be parsed, or when two
cells export different text for the same name.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from visrec_book.workbook import list_notebooks

ROOT = Path(__file__).resolve().parents[1]
MARKER_RE = re.compile(r"^#\|\s*export\s+([A-Za-z_][\w.]*)\s*$")
CONSTANT_RE = re.compile(r"^_?[A-Z][A-Z0-9_]*$")
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class ExportError(ValueError):
    """A marked cell or its module cannot be read (bad marker, syntax error, missing module)."""


@dataclass
class Definition:
    """One top-level definition: its name and its exact source text with its span in the file."""

    name: str
    text: str
    start: int  # character offsets in the source the definition was read from
    end: int


@dataclass
class MarkedCell:
    """A notebook code cell marked ``#| export <module>``."""

    notebook: Path
    index: int  # position of the cell among all cells of the notebook
    cell_id: str | None
    module: str
    source: str  # the cell's source, marker line included
    definitions: list[Definition] = field(default_factory=list)
    imports: list[ast.stmt] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        ident = f" (id {self.cell_id})" if self.cell_id else ""
        return f"{self.notebook.name} cell {self.index}{ident}"


def normalise(text: str) -> str:
    """The text compared: trailing whitespace removed from every line and from the end."""
    return "\n".join(line.rstrip() for line in text.splitlines()).rstrip()


def _lines(source: str) -> list[str]:
    """Lines with their ends, split only at newlines as :mod:`ast` counts them."""
    return re.findall(r"[^\n]*\n|[^\n]+", source)


def _line_offsets(source: str) -> list[int]:
    offsets, total = [0], 0
    for line in _lines(source):
        total += len(line)
        offsets.append(total)
    return offsets


def _assigned_name(node: ast.stmt) -> str | None:
    """The constant a statement defines: ``UPPER_CASE = ...`` or ``UPPER_CASE: type = ...``."""
    target = None
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        target = node.target
    if isinstance(target, ast.Name) and CONSTANT_RE.match(target.id):
        return target.id
    return None


def _definition(node: ast.stmt, source: str, offsets: list[int]) -> Definition | None:
    """The definition a top-level statement makes, or None when it is not a definition."""
    if isinstance(node, _DEFINITIONS):
        name = node.name
    else:
        name = _assigned_name(node)
        if name is None:
            return None
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    # ast columns are UTF-8 byte offsets: convert the last line's end column to characters.
    last_line = _lines(source)[node.end_lineno - 1]
    end_col = len(last_line.encode("utf-8")[: node.end_col_offset].decode("utf-8"))
    start, end = offsets[first - 1], offsets[node.end_lineno - 1] + end_col
    return Definition(name, source[start:end], start, end)


def _parse(source: str, what: str) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError as exc:
        raise ExportError(f"{what}: not valid Python (line {exc.lineno}: {exc.msg})") from None


def module_path(module: str, root: Path = ROOT) -> Path:
    """The file of a dotted module name under ``root`` (``a.b`` -> ``a/b.py`` or ``a/b/__init__.py``)."""
    base = Path(root, *module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise ExportError(f"module {module} not found (looked for {base.with_suffix('.py')} and {base / '__init__.py'})")


def _shown(path: Path, root: Path) -> Path:
    """``path`` relative to ``root`` when it lies under it (shorter messages)."""
    try:
        return Path(path).resolve().relative_to(Path(root).resolve())
    except ValueError:
        return Path(path)


def module_definitions(path: Path) -> tuple[str, dict[str, list[Definition]], list[ast.stmt]]:
    """A module's source, its top-level definitions by name (a list: a name may repeat) and imports."""
    source = path.read_text(encoding="utf-8")
    tree = _parse(source, str(path))
    offsets = _line_offsets(source)
    found: dict[str, list[Definition]] = {}
    imports = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(node)
        d = _definition(node, source, offsets)
        if d is not None:
            found.setdefault(d.name, []).append(d)
    return source, found, imports


def _bindings(imports: list[ast.stmt]) -> dict[str, tuple]:
    """Local name -> what an import binds it to (``import a.b as c`` -> ``("a.b",)``)."""
    out = {}
    for node in imports:
        for alias in node.names:
            if isinstance(node, ast.Import):
                local = alias.asname or alias.name.split(".")[0]
                out[local] = (alias.name if alias.asname else alias.name.split(".")[0],)
            else:
                out[alias.asname or alias.name] = (node.module, node.level, alias.name)
    return out


def read_marked_cells(notebook: Path) -> list[MarkedCell]:
    """Every marked code cell of one notebook, its definitions parsed (problems noted on the cell)."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    cells = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", ""))
        first = source.split("\n", 1)[0]
        if not first.startswith("#|") or "export" not in first:
            continue
        marked = MarkedCell(Path(notebook), index, cell.get("id"), "", source)
        cells.append(marked)
        m = MARKER_RE.match(first)
        if not m:
            marked.problems.append(f"{marked.where}: marker {first!r} is not '#| export package.module'")
            continue
        marked.module = m.group(1)
        try:
            tree = _parse(source, marked.where)
        except ExportError as exc:
            marked.problems.append(str(exc))
            continue
        offsets = _line_offsets(source)
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                marked.imports.append(node)
                continue
            d = _definition(node, source, offsets)
            if d is None:
                marked.problems.append(
                    f"{marked.where}: line {node.lineno} is a {type(node).__name__} statement, not a definition; "
                    "a marked cell holds only def, class, UPPER_CASE = ... and imports (move the rest to another cell)")
            else:
                marked.definitions.append(d)
        if not marked.definitions and not marked.problems:
            marked.problems.append(f"{marked.where}: marked cell defines nothing")
    return cells


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _without_magic(line: str) -> str:
    """A line as Python: a line magic's statement (when it parses on its own) or ``pass``."""
    stripped = line.lstrip()
    if not stripped.startswith(("%", "!")):
        return line
    indent = line[: len(line) - len(stripped)]
    rest = stripped.split(None, 1)[1] if stripped.startswith("%") and not stripped.startswith("%%") \
        and len(stripped.split(None, 1)) == 2 else ""
    try:
        ast.parse(rest)
    except SyntaxError:
        rest = ""
    return indent + (rest or "pass")


def private_uses(source: str) -> list[tuple[int, str]]:
    """``(line, what)`` for every private name a cell's code imports or reads (see the module doc).

    A line magic keeps the Python after it (``%time y = f._g()`` is read as ``y = f._g()``); other
    magics and shell escapes (``%%time``, ``!ls``) are skipped; a cell that is not valid Python gives
    nothing here (the notebook run reports it).
    """
    lines = [_without_magic(line) for line in source.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += [(node.lineno, f"imports the private name {a.name!r} from {node.module}")
                      for a in node.names if _is_private(a.name)]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, f"imports the private module {a.name}")
                      for a in node.names if any(_is_private(part) for part in a.name.split("."))]
        elif isinstance(node, ast.Attribute) and _is_private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append((node.lineno, f"reads the private attribute {ast.unparse(node)}"))
    return sorted(found)


def check_private(notebooks: Path | str = ROOT / "notebooks") -> list[str]:
    """A problem line for every private name any code cell of the notebooks imports or reads."""
    problems = []
    for notebook in list_notebooks(Path(notebooks)):
        nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
        for index, cell in enumerate(nb.get("cells", [])):
            if cell.get("cell_type") != "code":
                continue
            ident = f" (id {cell['id']})" if cell.get("id") else ""
            for line, what in private_uses("".join(cell.get("source", ""))):
                problems.append(f"{Path(notebook).name} cell {index}{ident} line {line}: {what}; make it public "
                                "(with a docstring and a test) or show it in its own marked cell")
    return problems


def _diff(module_text: str, cell_text: str, module_label: str, cell_label: str) -> str:
    lines = difflib.unified_diff(normalise(module_text).splitlines(), normalise(cell_text).splitlines(),
                                 fromfile=module_label, tofile=cell_label, lineterm="")
    return "\n".join(lines)


@dataclass
class Report:
    cells: int = 0
    definitions: int = 0
    problems: list[str] = field(default_factory=list)


def check(notebooks: Path | str = ROOT / "notebooks", root: Path | str = ROOT) -> Report:
    """Compare every marked cell of the notebooks in ``notebooks`` with the modules under ``root``, and
    refuse private names in every code cell (``check_private``)."""
    report = Report()
    modules: dict[str, tuple] = {}
    for notebook in list_notebooks(Path(notebooks)):
        for cell in read_marked_cells(notebook):
            report.cells += 1
            report.problems.extend(cell.problems)
            if cell.problems:
                continue
            if cell.module not in modules:
                try:
                    path = module_path(cell.module, Path(root))
                    modules[cell.module] = (_shown(path, Path(root)), *module_definitions(path))
                except ExportError as exc:
                    modules[cell.module] = exc
            loaded = modules[cell.module]
            if isinstance(loaded, ExportError):
                report.problems.append(f"{cell.where}: exports to {cell.module}, but {loaded}")
                continue
            path, _, defs, imports = loaded
            report.problems.extend(_compare_cell(cell, path, defs, imports))
            report.definitions += len(cell.definitions)
    report.problems.extend(check_private(notebooks))
    return report


def _compare_cell(cell: MarkedCell, path: Path, defs: dict, imports: list) -> list[str]:
    problems = []
    module_binds = _bindings(imports)
    for local, target in _bindings(cell.imports).items():
        if module_binds.get(local) != target:
            problems.append(f"{cell.where}: imports {local!r}, but {cell.module} ({path.name}) does not "
                            f"import it the same way")
    for d in cell.definitions:
        found = defs.get(d.name, [])
        label = f"{cell.module}.{d.name}"
        if not found:
            problems.append(f"{cell.where}: {label} does not exist in {path} "
                            "(add it with `sync --from notebooks`, or fix the name)")
        elif len(found) > 1:
            problems.append(f"{cell.where}: {label} is defined {len(found)} times in {path}; keep one")
        elif normalise(found[0].text) != normalise(d.text):
            diff = _diff(found[0].text, d.text, f"{path} ({d.name})", f"{cell.where} ({d.name})")
            problems.append(f"{cell.where}: {label} differs from the package:\n{diff}")
    return problems


# ---------------------------------------------------------------------------
# sync
# ---------------------------------------------------------------------------

def _replace_spans(source: str, replacements: list[tuple[int, int, str]]) -> str:
    for start, end, text in sorted(replacements, reverse=True):
        source = source[:start] + text + source[end:]
    return source


def _all_marked_cells(notebooks: Path) -> list[MarkedCell]:
    cells = [c for nb in list_notebooks(notebooks) for c in read_marked_cells(nb)]
    problems = [p for c in cells for p in c.problems]
    if problems:
        raise ExportError("cannot sync while marked cells have problems:\n" + "\n".join(problems))
    return cells


def sync_from_notebooks(notebooks: Path | str = ROOT / "notebooks", root: Path | str = ROOT) -> list[str]:
    """Write each marked cell's definitions into its module; returns a line per changed name."""
    wanted: dict[str, dict[str, tuple[str, str]]] = {}  # module -> name -> (text, where)
    for cell in _all_marked_cells(Path(notebooks)):
        for d in cell.definitions:
            previous = wanted.setdefault(cell.module, {}).get(d.name)
            if previous and normalise(previous[0]) != normalise(d.text):
                raise ExportError(f"{cell.module}.{d.name} is exported with different text by {previous[1]} "
                                  f"and {cell.where}; make them agree first")
            wanted[cell.module][d.name] = (d.text, cell.where)
    changed = []
    for module, names in wanted.items():
        path = module_path(module, Path(root))
        source, defs, _ = module_definitions(path)
        shown = _shown(path, Path(root))
        replacements, appended = [], []
        for name, (text, where) in names.items():
            found = defs.get(name, [])
            if len(found) > 1:
                raise ExportError(f"{module}.{name} is defined {len(found)} times in {path}; keep one")
            if not found:
                appended.append(normalise(text))
                changed.append(f"{module}.{name}: appended to {shown} from {where}")
            elif normalise(found[0].text) != normalise(text):
                replacements.append((found[0].start, found[0].end, normalise(text)))
                changed.append(f"{module}.{name}: {shown} updated from {where}")
        new = _replace_spans(source, replacements)
        if appended:
            new = new.rstrip("\n") + "\n\n\n" + "\n\n\n".join(appended) + "\n"
        if new != source:
            _replace_file(path, source, new)
    return changed


def _replace_file(path: Path, old: str, new: str) -> None:
    """Write ``new`` over ``path`` atomically (temporary file + ``os.replace``), only if the file
    still holds ``old``: an edit saved meanwhile (from an editor or Jupyter) is never lost."""
    import os
    import tempfile

    if path.read_text(encoding="utf-8") != old:
        raise ExportError(f"{path} changed while syncing; nothing was written to it: run the sync again")
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sync_from_package(notebooks: Path | str = ROOT / "notebooks", root: Path | str = ROOT) -> list[str]:
    """Write each module's definitions into the marked cells that show them; a line per changed name."""
    cells = _all_marked_cells(Path(notebooks))
    changed = []
    for notebook in sorted({c.notebook for c in cells}):
        original = notebook.read_text(encoding="utf-8")
        nb = json.loads(original)
        touched = False
        for cell in (c for c in cells if c.notebook == notebook):
            path = module_path(cell.module, Path(root))
            _, defs, _ = module_definitions(path)
            replacements = []
            for d in cell.definitions:
                found = defs.get(d.name, [])
                if len(found) != 1:
                    raise ExportError(f"{cell.where}: {cell.module}.{d.name} is defined {len(found)} times "
                                      f"in {path}; cannot take it from the package")
                if normalise(found[0].text) != normalise(d.text):
                    replacements.append((d.start, d.end, normalise(found[0].text)))
                    changed.append(f"{cell.module}.{d.name}: {cell.where} updated from {_shown(path, Path(root))}")
            if replacements:
                text = _replace_spans(cell.source, replacements)
                nb["cells"][cell.index]["source"] = _lines(text)
                touched = True
        if touched:
            _replace_file(notebook, original, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return changed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m visrec_book.export", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("check", "sync"):
        p = sub.add_parser(name)
        p.add_argument("--notebooks", default=str(ROOT / "notebooks"), help="folder of notebooks")
        p.add_argument("--root", default=str(ROOT), help="folder that holds the package")
        if name == "sync":
            p.add_argument("--from", dest="source", required=True, choices=["notebooks", "package"],
                           help="the side whose text wins")
    args = ap.parse_args(argv)
    if args.command == "check":
        report = check(args.notebooks, args.root)
        for p in report.problems:
            print("single-source:", p)
        if report.problems:
            print("single-source: to fix, edit one side, then run `python -m visrec_book.export "
                  "sync --from notebooks` (the cell wins) or `... sync --from package` (the module wins)")
        print(f"single-source: {report.cells} marked cells, {report.definitions} definitions checked, "
              f"{len(report.problems)} problems")
        return 1 if report.problems else 0
    try:
        sync = sync_from_notebooks if args.source == "notebooks" else sync_from_package
        changed = sync(args.notebooks, args.root)
    except ExportError as exc:
        print("single-source:", exc)
        return 1
    for line in changed:
        print("single-source:", line)
    print(f"single-source: {len(changed)} definitions synced from the {args.source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
