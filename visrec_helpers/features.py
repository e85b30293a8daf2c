"""Image representations: the workbook's own trained CNN encoder, handcrafted colour and
texture features, raw pixels, and batched embedding extraction.

Every encoder answers ``embed(encoder, images) -> (n, d) float32`` with L2-normalised
rows, so cosine similarity is a plain dot product.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from .models import DigitCNN
from .runtime import cache_dir, cache_key, get_device
from .training import images_to_tensor, load_checkpoint, save_checkpoint, train_classifier


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm (all-zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, eps)


@dataclass
class FeatureEncoder:
    """A non-neural encoder: ``fn`` maps an image array batch to an ``(n, d)`` array."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]

    def transform(self, images: np.ndarray) -> np.ndarray:
        return self.fn(images)


def _check_images(images) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim not in (3, 4) or len(arr) == 0:
        raise ValueError(f"images must be a non-empty (n, H, W) or (n, H, W, C) array, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if not np.isfinite(arr).all():
            raise ValueError("images contain NaN or infinite values")
    return arr


def embed(encoder, images, batch_size: int = 256, device: str = "auto", progress: bool | None = None) -> np.ndarray:
    """Embed ``images`` with ``encoder`` in batches: ``(n, d)`` float32, rows L2-normalised.

    ``encoder`` is an ``nn.Module`` with an ``embed(x)`` method (x: ``(b, C, H, W)``
    float in [0, 1]) or a ``FeatureEncoder``. ``images`` is ``(n, H, W)`` or
    ``(n, H, W, C)`` uint8. A progress bar shows when there are more than 20 batches
    (or when ``progress=True``).
    """
    from tqdm.auto import tqdm

    arr = _check_images(images)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(encoder, FeatureEncoder):
        return l2_normalize(encoder.transform(arr))
    if not isinstance(encoder, nn.Module) or not hasattr(encoder, "embed"):
        raise TypeError(f"encoder must be an nn.Module with .embed() or a FeatureEncoder, got {type(encoder).__name__}")
    dev = get_device(device)
    encoder = encoder.to(dev).eval()
    starts = range(0, len(arr), batch_size)
    show = progress if progress is not None else len(starts) > 20
    out = []
    with torch.no_grad():
        for s in tqdm(starts, desc="embedding", disable=not show, leave=False):
            xb = images_to_tensor(arr[s : s + batch_size]).to(dev)
            out.append(encoder.embed(xb).float().cpu().numpy())
    return l2_normalize(np.concatenate(out))


def train_digit_encoder(epochs: int = 3, n_train: int | None = None, seed: int = 0, embed_dim: int = 64,
                        device: str = "auto", cache: bool = True, progress: bool = True) -> DigitCNN:
    """The workbook's own image encoder: ``DigitCNN`` trained to classify the digits catalog.

    Reproducible from this call: the same arguments give the same weights (on CPU). The
    weights are cached in ``cache_dir()`` under a key of the arguments and loaded back
    with ``weights_only=True``. Returns the model in eval mode on the CPU.
    """
    from .data import digits_catalog

    cat = digits_catalog()
    n_train = len(cat) if n_train is None else n_train
    if not 10 <= n_train <= len(cat):
        raise ValueError(f"n_train={n_train} must be between 10 and {len(cat)}")
    model = DigitCNN(embed_dim=embed_dim)
    path = cache_dir() / f"digit_encoder-{cache_key('DigitCNN-v1', epochs, n_train, seed, embed_dim)}.pt"
    if cache and path.exists():
        load_checkpoint(model, path)
        return model.eval()
    torch.manual_seed(seed)
    model = DigitCNN(embed_dim=embed_dim)
    X = images_to_tensor(cat.images[:n_train])
    y = torch.from_numpy(cat.labels[:n_train])
    train_classifier(model, X, y, epochs=epochs, seed=seed, device=device, progress=progress)
    model = model.cpu().eval()
    if cache:
        save_checkpoint(model, path, {"epochs": epochs, "n_train": n_train, "seed": seed})
    return model


# ---------------------------------------------------------------------------
# Handcrafted features
# ---------------------------------------------------------------------------

def _as_rgb_float(images: np.ndarray) -> np.ndarray:
    arr = _check_images(images).astype(np.float32)
    if arr.ndim == 3:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    return arr / 255.0 if arr.max() > 1.0 else arr


def _as_gray(images: np.ndarray) -> np.ndarray:
    arr = _check_images(images)
    if arr.ndim == 4:
        arr = arr[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    arr = arr.astype(np.float32)
    return arr / 255.0 if arr.max() > 1.0 else arr


def color_histogram(images: np.ndarray, bins: int = 4) -> np.ndarray:
    """Joint RGB histogram with ``bins`` levels per channel: ``(n, bins**3)`` float32, rows sum to 1.

    Grayscale images fall on the diagonal of the colour cube.
    """
    rgb = _as_rgb_float(images)
    q = np.clip((rgb * bins).astype(np.int64), 0, bins - 1)
    codes = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
    flat = codes.reshape(len(codes), -1)
    out = np.zeros((len(flat), bins**3), dtype=np.float32)
    for i, row in enumerate(flat):
        out[i] = np.bincount(row, minlength=bins**3)
    return out / flat.shape[1]


def hog_features(images: np.ndarray, pixels_per_cell: int | None = None) -> np.ndarray:
    """Histogram of oriented gradients per image (9 orientations, 2x2 blocks): ``(n, d)`` float32."""
    from skimage.feature import hog

    gray = _as_gray(images)
    ppc = pixels_per_cell or max(4, gray.shape[1] // 4)
    return np.stack([hog(g, orientations=9, pixels_per_cell=(ppc, ppc), cells_per_block=(2, 2),
                         feature_vector=True) for g in gray]).astype(np.float32)


def lbp_histogram(images: np.ndarray, points: int = 8, radius: float = 1.0) -> np.ndarray:
    """Uniform local binary pattern histogram (texture): ``(n, points + 2)`` float32, rows sum to 1."""
    from skimage.feature import local_binary_pattern

    gray = (_as_gray(images) * 255).astype(np.uint8)
    n_bins = points + 2
    out = np.zeros((len(gray), n_bins), dtype=np.float32)
    for i, g in enumerate(gray):
        codes = local_binary_pattern(g, points, radius, method="uniform").astype(np.int64)
        out[i] = np.bincount(codes.ravel(), minlength=n_bins)[:n_bins]
    return out / out.sum(axis=1, keepdims=True)


def raw_pixels(images: np.ndarray) -> np.ndarray:
    """Flattened pixels in [0, 1]: ``(n, H*W*C)`` float32."""
    arr = _check_images(images).astype(np.float32)
    arr = arr / 255.0 if arr.max() > 1.0 else arr
    return arr.reshape(len(arr), -1)


def colour_texture(images: np.ndarray) -> np.ndarray:
    """Colour histogram and LBP texture histogram, each block L2-normalised, side by side."""
    return np.hstack([l2_normalize(color_histogram(images)), l2_normalize(lbp_histogram(images))])


HANDCRAFTED = {
    "raw pixels": FeatureEncoder("raw pixels", raw_pixels),
    "colour histogram": FeatureEncoder("colour histogram", color_histogram),
    "HOG": FeatureEncoder("HOG", hog_features),
    "LBP": FeatureEncoder("LBP", lbp_histogram),
    "colour+texture": FeatureEncoder("colour+texture", colour_texture),
}
