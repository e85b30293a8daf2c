"""Run-time settings shared by every module: device choice, seeding and the on-disk cache."""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    """Folder for cached catalogs, weights and embeddings.

    ``$VISREC_CACHE`` when set, else ``~/.cache/visrec``. Created on first use.
    """
    path = Path(os.environ.get("VISREC_CACHE", Path.home() / ".cache" / "visrec"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_key(*parts) -> str:
    """A short stable hash of JSON-serialisable parts, used in cache file names."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha1(blob).hexdigest()[:16]


def set_seed(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch; return a NumPy Generator for local use."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # torch is a hard dependency, but keep data-only use light
        pass
    return np.random.default_rng(seed)


def get_device(device: str = "auto"):
    """Resolve ``"auto"`` to CUDA when available, else CPU; pass other names through.

    Asking for ``"cuda"`` on a machine without a GPU raises a clear error instead of
    failing later inside torch.
    """
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was requested but no CUDA GPU is available; use 'auto' or 'cpu'")
    return dev
