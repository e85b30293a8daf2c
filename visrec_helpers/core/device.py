"""Choosing the torch device: ``"auto"`` means CUDA when present, else CPU."""

from __future__ import annotations

from visrec_helpers.core.errors import DeviceError


def get_device(device="auto"):
    """Resolve ``"auto"`` (or ``None``) to CUDA when available, else CPU; pass other names through.

    Returns a ``torch.device``. An unknown name (``"gpu"``) or ``"cuda"`` on a machine without
    a GPU raises ``DeviceError`` naming the value, instead of failing later inside torch.
    """
    import torch

    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise DeviceError(f"device={device!r} must be a string such as 'auto', 'cpu' or 'cuda', "
                          f"or a torch.device; got {type(device).__name__}")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise DeviceError(f"device={device!r} is not a device torch knows ({exc}); use 'auto', 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device={device!r} was requested but no CUDA GPU is available; use 'auto' or 'cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DeviceError(f"device={device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"device={device!r}: only 'cpu', 'cuda' and 'mps' are supported")
    return dev
