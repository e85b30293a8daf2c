"""The on-disk cache: its folder, keys from parameters, and the one cached-model registry.

Everything cached is stored in a format that cannot run code when read: models as
``weights_only`` checkpoints (``cached_model``), arrays as ``.npz``/``.npy`` read with
``allow_pickle=False``. Keys are hashes of JSON parameters plus a version number, never of
source text: bump ``version`` when a change of code must invalidate old files.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
from collections.abc import Callable
from pathlib import Path, PurePath

from visrec_helpers.core.checkpoints import load_checkpoint, save_checkpoint
from visrec_helpers.core.errors import CheckpointError


def cache_dir() -> Path:
    """Folder for cached catalogs, weights and embeddings.

    ``$VISREC_CACHE`` when set, else ``~/.cache/visrec``. Created on first use.
    """
    path = Path(os.environ.get("VISREC_CACHE", Path.home() / ".cache" / "visrec"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic) and isinstance(value.item(), (bool, int, float, str)):
        return value.item()
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"cache key part {value!r:.60} ({type(value).__name__}) is not a plain JSON value")


def cache_key(*parts) -> str:
    """A short stable hash (16 hex digits) of JSON-serialisable parts, used in cache file names.

    Parts must be numbers, strings, booleans, ``None``, paths, or lists/dicts of them (NumPy
    scalars count as numbers); anything else raises ``TypeError`` rather than hashing a
    ``repr`` that may change between runs.
    """
    blob = json.dumps(parts, sort_keys=True, default=_json_default).encode()
    return hashlib.sha1(blob).hexdigest()[:16]


def models_dir() -> Path:
    """The one folder of ``cached_model`` checkpoints: ``cache_dir() / "models"``."""
    path = cache_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check_name(name) -> str:
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"name={name!r} must be a non-empty string of letters, digits, '-' and '_'")
    return name


def cached_model_path(name: str, params: dict, version: int = 1) -> Path:
    """Where ``cached_model(name, params, ..., version=version)`` keeps its checkpoint."""
    _check_name(name)
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of plain values, got {type(params).__name__}")
    if isinstance(version, bool) or not isinstance(version, numbers.Integral):
        raise TypeError(f"version must be an int, got {version!r}")
    return models_dir() / f"{name}-v{int(version)}-{cache_key(name, int(version), params)}.pt"


def cached_model(name: str, params: dict, build: Callable, train: Callable | None = None, *, version: int = 1,
                 cache: bool = True, lock_timeout: float = -1):
    """Build a model and train it, or load the weights a previous call with the same key saved.

    ``name``: a short id (``"t01_cnn"``); ``params``: every plain value (JSON) the weights depend
    on; ``version``: bump it when code that shapes the weights changes. The key is a hash of
    ``(name, version, params)``. ``build()`` returns a fresh ``nn.Module`` (with its weights
    initialised from a seed, see ``core.rng.init_weights_``); ``train(model)`` trains it in place
    and returns a dict of plain values to keep with the weights (for example the history), or
    ``None``. Without ``train`` the built model is stored as is.

    With ``cache=True`` the checkpoint lives in ``models_dir()`` and the whole look-up-or-train
    runs under a file lock (``filelock``), so two processes asking for the same model train it
    once: the second waits and loads. The file is written atomically and read with
    ``weights_only=True``; a broken or mismatched file is rebuilt, never trusted.
    ``lock_timeout``: seconds to wait for another process (-1 = as long as it takes).

    Returns ``(model, extra)``: the model in eval mode on the CPU and the dict ``train`` returned.
    """
    from filelock import FileLock

    def make():
        model = build()
        extra = (train(model) if train is not None else None) or {}
        if not isinstance(extra, dict):
            raise TypeError(f"train must return a dict or None, got {type(extra).__name__}")
        return model.cpu().eval(), extra

    path = cached_model_path(name, params, version)
    if not cache:
        return make()
    with FileLock(str(path) + ".lock", timeout=lock_timeout):
        if path.exists():
            model = build()
            try:
                stored = load_checkpoint(model, path)
                if stored.get("key") == {"name": name, "version": int(version), "params": json.loads(
                        json.dumps(params, sort_keys=True, default=_json_default))}:
                    return model.cpu().eval(), stored.get("extra", {})
            except CheckpointError:
                pass
            path.unlink(missing_ok=True)  # a broken or colliding file is rebuilt, not trusted
        model, extra = make()
        key = {"name": name, "version": int(version),
               "params": json.loads(json.dumps(params, sort_keys=True, default=_json_default))}
        save_checkpoint(model, path, {"key": key, "extra": extra})
        return model, extra
