"""Non-overlapping tiles of the bundled photos, split by position so no pixel is on both sides (q03).

Random crops of one photo overlap each other, so a random train/test split of crops puts
the same pixels on both sides (q03's old split: 74% of test crops overlapped a training
crop by IoU > 0.5). ``photo_tiles`` cuts each photo into a grid of disjoint ``patch`` x
``patch`` tiles after scaling its short side to ``short_side`` pixels; ``tile_split``
puts the left columns of every photo in the training part and the right columns in the
test part, so the two parts come from different regions of each photo.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from visrec_helpers.data.catalogs import Catalog
from visrec_helpers.data.images import PHOTO_TAGS, DataError, load_photos


def photo_tiles(patch: int = 64, short_side: int = 256, photos=None) -> Catalog:
    """A ``Catalog`` of disjoint ``patch``-pixel tiles of the bundled photos; label = source photo.

    ``photos``: names from ``PHOTO_TAGS`` (default all). Each photo is resized (Lanczos)
    so its short side is ``short_side`` pixels, then cut into ``rows x cols`` tiles from
    the top-left corner (the remainder is dropped). ``attributes`` holds ``photo, row, col,
    n_cols`` per tile; ``tags`` the photo's tags. Images ``(n, patch, patch, 3) uint8``.
    """
    for name, v in (("patch", patch), ("short_side", short_side)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 8:
            raise DataError(f"{name}={v!r} must be an integer of at least 8 pixels")
    if short_side < patch:
        raise DataError(f"short_side={short_side} is smaller than patch={patch}: no tile would fit")
    loaded = load_photos(photos)
    images, rows = [], []
    for label, (name, arr) in enumerate(loaded.items()):
        h, w = arr.shape[:2]
        scale = short_side / min(h, w)
        size = (max(patch, round(w * scale)), max(patch, round(h * scale)))
        img = np.asarray(Image.fromarray(arr).resize(size, Image.Resampling.LANCZOS))
        n_rows, n_cols = img.shape[0] // patch, img.shape[1] // patch
        for r in range(n_rows):
            for c in range(n_cols):
                images.append(img[r * patch : (r + 1) * patch, c * patch : (c + 1) * patch])
                rows.append({"photo": name, "label": label, "row": r, "col": c, "n_cols": n_cols})
    attributes = pd.DataFrame(rows)
    return Catalog(name=f"photo-tiles-{patch}-{short_side}", images=np.stack(images),
                   labels=attributes.pop("label").to_numpy(np.int64), label_names=list(loaded),
                   attributes=attributes, tags=[list(PHOTO_TAGS[p]) for p in attributes["photo"]],
                   meta={"patch": patch, "short_side": short_side})


def tile_split(catalog: Catalog, train_share: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``(train_ids, test_ids)``: per photo, tiles in the left ``train_share`` of its columns train.

    Needs ``photo_tiles``'s ``col`` and ``n_cols`` attributes. Every photo keeps at least one
    column on each side.
    """
    if not 0 < train_share < 1:
        raise DataError(f"train_share={train_share} must be strictly between 0 and 1")
    a = catalog.attributes
    if not {"col", "n_cols"} <= set(a.columns):
        raise DataError(f"catalog {catalog.name!r} has no col/n_cols attributes: build it with photo_tiles")
    cut = np.clip(np.round(a["n_cols"].to_numpy() * train_share), 1, a["n_cols"].to_numpy() - 1)
    train = a["col"].to_numpy() < cut
    return np.flatnonzero(train).astype(np.int64), np.flatnonzero(~train).astype(np.int64)
