"""Checkpoints that cannot run code and cannot be lost: ``save_checkpoint`` / ``load_checkpoint``.

A checkpoint is ``{"state_dict": tensors, "extra": plain values}`` written with ``torch.save``
and read with ``torch.load(..., weights_only=True)``, which refuses anything but tensors and plain
containers. ``save_checkpoint`` converts ``extra`` to those types (or refuses it, naming the
entry), writes a temporary file, checks that it loads with ``weights_only=True`` and only then
moves it over the old file, so a failed save never replaces a good checkpoint.
"""

from __future__ import annotations

import numbers
import os
import tempfile
from pathlib import Path, PurePath

from visrec_helpers.core.device import get_device
from visrec_helpers.core.errors import CheckpointError, DeviceError


def to_plain(value, name: str = "extra"):
    """``value`` with only types ``torch.load(weights_only=True)`` accepts: ``None``, ``bool``,
    ``int``, ``float``, ``str``, ``torch.Tensor`` and lists/tuples/dicts of them.

    NumPy scalars become Python numbers, NumPy arrays tensors, paths strings. Anything else
    raises ``CheckpointError`` naming where it sits (``extra['history'][2]``).
    """
    import numpy as np
    import torch

    if value is None or isinstance(value, (bool, str, torch.Tensor)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise CheckpointError(f"{name}: a NumPy object array cannot be stored safely; convert it first")
        return torch.from_numpy(np.ascontiguousarray(value).copy())
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise CheckpointError(f"{name}: key {k!r} must be a str or int, got {type(k).__name__}")
            out[k] = to_plain(v, f"{name}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        items = [to_plain(v, f"{name}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise CheckpointError(f"{name} holds a {type(value).__name__} ({value!r:.60}), which a weights_only "
                          "checkpoint cannot store; convert it to a number, string, list, dict or tensor")


def save_checkpoint(model, path, extra: dict | None = None) -> Path:
    """Save ``model.state_dict()`` and ``extra`` to ``path`` atomically; returns the path.

    ``extra`` (a dict) is converted with ``to_plain`` first; a value that cannot be stored raises
    ``CheckpointError`` before anything is written. The file is written next to ``path`` under a
    temporary name, loaded back with ``weights_only=True`` and then moved over ``path``
    (``os.replace``), so an existing good file is never replaced by one that cannot be loaded.
    """
    import torch

    path = Path(path)
    if extra is not None and not isinstance(extra, dict):
        raise CheckpointError(f"extra must be a dict or None, got {type(extra).__name__}")
    payload = {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "extra": to_plain(extra or {}, "extra")}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        torch.save(payload, tmp)
        try:
            torch.load(tmp, map_location="cpu", weights_only=True)
        except Exception as exc:  # the check exists for any failure, whatever its type
            raise CheckpointError(f"{path}: the written checkpoint does not load with weights_only=True "
                                  f"({type(exc).__name__}: {exc}); the existing file was kept") from None
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(model, path, device="cpu") -> dict:
    """Load weights saved by ``save_checkpoint`` into ``model``; returns the ``extra`` dict.

    Uses ``torch.load(..., weights_only=True)`` so a checkpoint cannot run code. ``device`` is
    where the tensors are mapped (``"cpu"``, ``"cuda"``, ``"auto"``); a bad device raises
    ``DeviceError`` about the device, before the file is read. A missing, corrupt or mismatched
    file raises ``CheckpointError`` naming the file.
    """
    import torch

    map_location = get_device(device)  # DeviceError names the device, not the checkpoint
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint file does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle/zip errors come in many types
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise CheckpointError(f"{path}: not a visrec checkpoint (no 'state_dict' entry)")
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit {type(model).__name__} ({exc})") from None
    return payload.get("extra", {})


__all__ = ["CheckpointError", "DeviceError", "load_checkpoint", "save_checkpoint", "to_plain"]
