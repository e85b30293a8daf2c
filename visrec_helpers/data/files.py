"""Data layer: the user's own files, an image folder as a ``Catalog`` and an interactions CSV."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from visrec_helpers.data.catalogs import Catalog
from visrec_helpers.data.images import IMAGE_SUFFIXES, MAX_PIXELS, DataError, ImageLoadError, load_image
from visrec_helpers.data.interactions import validate_interactions


def _read_csv_exact(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, rows and line numbers of a CSV, every cell as the exact string written.

    Nothing is converted (``007`` stays ``007``, ``1e3`` stays ``1e3``); surrounding spaces are
    stripped. Blank lines are skipped; a row whose number of fields differs from the header's
    is refused with its line number (pandas would shift it silently into an index column).
    """
    import csv

    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, strict=True)
            header: list[str] | None = None
            rows: list[list[str]] = []
            lines: list[int] = []
            start = 1
            for row in reader:
                if not row or all(not cell.strip() for cell in row) and len(row) <= 1:
                    start = reader.line_num + 1
                    continue
                if header is None:
                    header = [cell.strip().lower() for cell in row]
                    start = reader.line_num + 1
                    continue
                if len(row) != len(header):
                    raise DataError(
                        f"{path}: line {start} has {len(row)} field(s) but the header has {len(header)} "
                        f"({', '.join(header)}); fix that row (a stray comma or a missing value?)"
                    )
                rows.append([cell.strip() for cell in row])
                lines.append(start)
                start = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: cannot parse as CSV (not UTF-8 text: {exc})") from None
    except csv.Error as exc:
        raise DataError(f"{path}: cannot parse as CSV (line {reader.line_num}: {exc})") from None
    if header is None:
        raise DataError(f"{path}: file is empty (no header line)")
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise DataError(f"{path}: duplicated column name(s) {dupes} in the header {header}; "
                        "each column must appear once")
    if "" in header:
        raise DataError(f"{path}: the header {header} has an empty column name")
    return header, rows, lines


def _parse_item_positions(keys: pd.Series, lines: np.ndarray, path: Path, n_items: int | None) -> np.ndarray:
    """Item ids written as decimal digits -> int64 positions; anything else is refused by line."""
    digits = keys.str.fullmatch(r"\+?\d+")
    if not digits.all():
        bad = (~digits).to_numpy().nonzero()[0][:5]
        shown = ", ".join(f"{keys.iloc[i]!r} (line {lines[i]})" for i in bad)
        raise DataError(f"{path}: item ids must be whole numbers 0..n_items-1 written in digits when no "
                        f"item_ids are given; got {shown}")
    # Python ints: an id such as 10**20 stays exact and is reported as out of range, not wrapped.
    values = [int(v) for v in keys]
    limit = n_items if n_items is not None else np.iinfo(np.int64).max
    too_big = [i for i, v in enumerate(values) if v >= limit]
    if too_big:
        shown = sorted({values[i] for i in too_big})[:5]
        lines_shown = [int(lines[i]) for i in too_big[:5]]
        if n_items is not None:
            raise DataError(f"{path}: unknown item ids {shown} on line(s) {lines_shown} (catalog has "
                            f"{n_items} items, ids 0..{n_items - 1})")
        raise DataError(f"{path}: item ids {shown} on line(s) {lines_shown} are too large for an item "
                        "position; give n_items or item_ids")
    return np.array(values, dtype=np.int64)


def _numeric_column(raw: pd.DataFrame, col: str, lines: np.ndarray, path: Path) -> pd.Series:
    vals = pd.to_numeric(raw[col], errors="coerce")
    bad = ~np.isfinite(vals.to_numpy(dtype=float))
    if bad.any():
        idx = bad.nonzero()[0][:5]
        shown = ", ".join(f"{raw[col].iloc[i]!r} (line {lines[i]})" for i in idx)
        raise DataError(f"{path}: column '{col}' must hold finite numbers; got {shown}")
    return vals.astype(float)


def load_interactions_csv(path, n_items: int | None = None, item_ids=None) -> pd.DataFrame:
    """Read a user's interactions CSV with columns ``user, item`` and optional ``weight, timestamp``.

    Ids are read as the exact strings written (only surrounding spaces are stripped):
    users ``007`` and ``7`` are two users, ``1000`` and ``1e3`` two ids. ``user`` values
    are mapped to 0..n_users-1 in order of first appearance (the strings are in
    ``df.attrs["user_ids"]``). ``item`` values are looked up exactly in ``item_ids`` (for
    example the file names of ``load_image_folder``) when given; otherwise they must be
    whole numbers written in digits below ``n_items``. Missing ``weight`` is 1, missing
    ``timestamp`` is the row order. Column names are case- and space-insensitive.

    Raises ``DataError`` naming the file (and the line where there is one) for: a missing
    or empty file, text that is not UTF-8 CSV, a row with more or fewer fields than the
    header, a duplicated or missing column, an empty id, an unknown or malformed item id,
    a non-finite weight or timestamp, and duplicated ``item_ids``.
    """
    path = Path(path)
    if n_items is not None and (isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer))
                                or n_items < 1):
        raise DataError(f"n_items must be a positive integer, got {n_items!r}")
    if not path.exists():
        raise DataError(f"{path}: file does not exist")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a CSV file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    header, rows, line_list = _read_csv_exact(path)
    missing = [c for c in ("user", "item") if c not in header]
    if missing:
        raise DataError(f"{path}: missing required column(s) {missing}; found {header}")
    if not rows:
        raise DataError(f"{path}: has a header but no rows")
    raw = pd.DataFrame(rows, columns=header, dtype=object)
    lines = np.asarray(line_list, dtype=np.int64)
    empty = ((raw["user"] == "") | (raw["item"] == "")).to_numpy()
    if empty.any():
        raise DataError(f"{path}: empty user or item on line(s) {lines[empty][:5].tolist()}")
    users, user_ids = pd.factorize(raw["user"], sort=False)
    if item_ids is not None:
        keys_catalog = [str(v) for v in item_ids]
        if len(set(keys_catalog)) != len(keys_catalog):
            seen, dup = set(), []
            for k in keys_catalog:
                if k in seen and k not in dup:
                    dup.append(k)
                seen.add(k)
            raise DataError(f"item_ids holds duplicated ids {dup[:5]}: each catalog item needs its own id")
        lookup = {k: i for i, k in enumerate(keys_catalog)}
        known = raw["item"].isin(lookup).to_numpy()
        if not known.all():
            unknown = list(dict.fromkeys(raw["item"][~known]))
            raise DataError(f"{path}: unknown item ids {unknown[:5]} on line(s) {lines[~known][:5].tolist()} "
                            f"(not in the {len(lookup)} catalog items)")
        items = raw["item"].map(lookup).to_numpy(dtype=np.int64)
    else:
        items = _parse_item_positions(raw["item"], lines, path, n_items)
    df = pd.DataFrame({
        "user": users.astype(np.int64),
        "item": items,
        "weight": _numeric_column(raw, "weight", lines, path) if "weight" in raw else 1.0,
        "timestamp": _numeric_column(raw, "timestamp", lines, path) if "timestamp" in raw
        else np.arange(len(raw), dtype=float),
    })
    validate_interactions(df, n_items=n_items if item_ids is None else len(item_ids), source=str(path))
    df.attrs["user_ids"] = [str(u) for u in user_ids]
    return df.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)


def _list_image_files(root: Path, on_error: str) -> tuple[list[Path], dict]:
    """Image files under ``root`` (sorted by relative path) and what was left out, and why.

    Hidden entries (a name starting with ".": ``.DS_Store``, macOS ``._name.png`` resource
    forks, ``.ipynb_checkpoints``) are skipped. Linked sub-folders are followed; a link to a
    folder already read (a loop, or a second link to the same folder) is not followed again
    and is reported. A broken link with an image suffix is kept, so that it fails to load
    with its reason.
    """
    files: list[Path] = []
    report = {"hidden": [], "links": [], "links_not_followed": [], "unreadable_folders": []}
    visited = {os.path.realpath(root)}
    queue = [root]
    while queue:
        folder = queue.pop(0)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            if on_error == "raise":
                raise DataError(f"{folder}: cannot read the folder ({exc.strerror or exc})") from None
            report["unreadable_folders"].append(f"{folder}: {exc.strerror or exc}")
            continue
        for entry in entries:
            p = Path(entry.path)
            rel = str(p.relative_to(root))
            if entry.name.startswith("."):
                report["hidden"].append(rel)
                continue
            is_link = entry.is_symlink()
            if entry.is_dir(follow_symlinks=True):
                real = os.path.realpath(p)
                if real in visited:
                    report["links_not_followed"].append(f"{rel} -> {real} (folder already read: a loop or a "
                                                        "second link to it)")
                    continue
                visited.add(real)
                if is_link:
                    report["links"].append(f"{rel} -> {real}")
                queue.append(p)
            elif p.suffix.lower() in IMAGE_SUFFIXES and (entry.is_file(follow_symlinks=True)
                                                         or (is_link and not p.exists())):
                files.append(p)
    files.sort(key=lambda f: f.relative_to(root).parts)
    return files, report


def load_image_folder(path, size: int = 64, on_error: str = "raise", max_pixels: int = MAX_PIXELS) -> Catalog:
    """A catalog from a folder of images: one item per image file, resized to ``size`` x ``size`` RGB.

    Sub-folders become labels (``folder/cats/a.jpg`` has label "cats"); files directly in
    ``path`` get the label "unlabelled". Tags are the label plus the lower-cased words of
    the file name. ``on_error="raise"`` stops at the first unreadable image with an
    ``ImageLoadError`` naming it; ``"skip"`` leaves it out and lists it in
    ``catalog.meta["skipped"]``.

    Hidden files and folders (name starting with ".", such as macOS ``._name.png``
    resource forks) are skipped and listed in ``meta["hidden"]``. Linked sub-folders are
    followed (listed in ``meta["links"]``); a link that would read a folder a second time
    (a loop) is not followed, is listed in ``meta["links_not_followed"]`` and raises a
    ``UserWarning``. ``meta["item_ids"]`` holds each item's path relative to ``path``.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer (pixels), got {size!r}")
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    files, report = _list_image_files(root, on_error)
    if report["links_not_followed"]:
        warnings.warn(f"{root}: linked folder(s) not followed: {report['links_not_followed']}", stacklevel=2)
    if not files:
        raise DataError(f"{root}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) found"
                        + (f"; skipped hidden entries {report['hidden'][:5]}" if report["hidden"] else ""))
    imgs, label_of, names, tags, skipped = [], [], [], [], list(report["unreadable_folders"])
    for f in files:
        try:
            img = load_image(f, max_pixels=max_pixels)
        except ImageLoadError as exc:
            if on_error == "raise":
                raise
            skipped.append(str(exc))
            continue
        img = ImageOps.fit(img, (size, size), method=Image.Resampling.BILINEAR)
        imgs.append(np.asarray(img, dtype=np.uint8))
        rel = f.relative_to(root)
        label = rel.parts[0] if len(rel.parts) > 1 else "unlabelled"
        label_of.append(label)
        names.append(rel.as_posix())
        words = [w for w in f.stem.replace("-", "_").lower().split("_") if w.isalpha()]
        tags.append([label] + words)
    if not imgs:
        raise DataError(f"{root}: none of the {len(files)} image files could be read")
    label_names = sorted(set(label_of))
    labels = np.array([label_names.index(lab) for lab in label_of], dtype=np.int64)
    attrs = pd.DataFrame({"label": labels, "file": names})
    return Catalog(root.name, np.stack(imgs), labels, label_names, attrs, tags,
                   {"source": str(root), "skipped": skipped, "item_ids": names, **report})
