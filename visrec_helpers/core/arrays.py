"""Array conversions shared by every layer."""

from __future__ import annotations

import numpy as np


def to_uint8(images, name: str = "images") -> np.ndarray:
    """Pixels in [0, 1] (float) or 0..255 (uint8) as ``uint8`` 0..255, rounded; any shape.

    Accepts NumPy arrays and torch tensors (detached and moved to the CPU). ``uint8`` input is
    returned as a copy, ``bool`` as 0/255. Float input must be finite and lie in [0, 1] (values
    within 1e-6 outside are clipped); other dtypes raise ``TypeError``, out-of-range or
    non-finite values ``ValueError``, both naming ``name``.
    """
    if hasattr(images, "detach"):  # a torch tensor, without importing torch here
        images = images.detach().cpu().numpy()
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        return arr.copy()
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"{name} must be uint8 (0..255), bool or float (0..1), got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if arr.size:
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ValueError(f"{name}: float pixels must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]")
    return np.round(np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


def as_matrix(x, name: str = "X", dtype=np.float64) -> np.ndarray:
    """``x`` as a non-empty, finite ``(n, d)`` array of ``dtype``; ``ValueError`` naming ``name`` otherwise.

    The one check behind every function that takes a matrix of features or embeddings.
    """
    if hasattr(x, "detach"):  # a torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim != 2 or len(arr) == 0:
        raise ValueError(f"{name} must be a non-empty (n, d) array, got shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(dtype)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr
