"""One training loop for every notebook: seeded, device "auto", progress bar, history
table, early stopping, and safe checkpoints (loaded with ``weights_only=True``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .runtime import get_device, set_seed


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt or does not fit the model."""


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """``(n, H, W)`` or ``(n, H, W, C)`` uint8 -> ``(n, C, H, W)`` float32 in [0, 1]."""
    arr = np.asarray(images)
    if arr.ndim not in (3, 4):
        raise ValueError(f"images must have shape (n, H, W) or (n, H, W, C), got {arr.shape}")
    if arr.size == 0:
        raise ValueError("images is empty")
    t = torch.from_numpy(np.ascontiguousarray(arr)).float()
    if arr.dtype == np.uint8:
        t = t / 255.0
    if not torch.isfinite(t).all():
        raise ValueError("images contain NaN or infinite values")
    return t.unsqueeze(1) if arr.ndim == 3 else t.permute(0, 3, 1, 2).contiguous()


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return (logits.argmax(1) == y).float().mean().item()


@torch.no_grad()
def predict(model: nn.Module, X: torch.Tensor, batch_size: int = 512, device="auto") -> np.ndarray:
    """Logits of ``model`` for ``X`` as a ``(n, n_classes)`` float32 array, in eval mode."""
    dev = get_device(device)
    model = model.to(dev).eval()
    outs = [model(X[i : i + batch_size].to(dev)).float().cpu() for i in range(0, len(X), batch_size)]
    return torch.cat(outs).numpy()


def train_classifier(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    X_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    patience: int | None = None,
    seed: int = 0,
    device: str = "auto",
    augment=None,
    loss_fn=None,
    optimizer: torch.optim.Optimizer | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train ``model`` in place with Adam (or ``optimizer``) and cross-entropy (or ``loss_fn``).

    Returns the per-epoch history as a DataFrame with columns ``epoch, train_loss,
    train_acc, val_loss, val_acc, seconds``. With ``patience``, training stops when the
    validation loss has not improved for that many epochs and the best weights are
    restored. ``augment`` is an optional function applied to each input batch.
    """
    from tqdm.auto import tqdm

    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    if len(X) == 0:
        raise ValueError("no training examples")
    if patience is not None and X_val is None:
        raise ValueError("early stopping (patience) needs X_val and y_val")
    set_seed(seed)
    dev = get_device(device)
    model.to(dev)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    opt = optimizer or torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True, generator=gen)
    history, best, best_state, waited = [], np.inf, None, 0
    bar = tqdm(range(epochs), desc="epochs", disable=not progress, leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        tot_loss, tot_acc, seen = 0.0, 0.0, 0
        for xb, yb in loader:
            xb, yb = xb.to(dev), yb.to(dev)
            if augment is not None:
                xb = augment(xb)
            opt.zero_grad()
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            opt.step()
            tot_loss += loss.item() * len(xb)
            tot_acc += _accuracy(logits.detach(), yb) * len(xb)
            seen += len(xb)
        row = {"epoch": epoch + 1, "train_loss": tot_loss / seen, "train_acc": tot_acc / seen}
        if X_val is not None:
            logits = torch.from_numpy(predict(model, X_val, device=dev))
            yv = y_val.cpu()
            row["val_loss"] = nn.functional.cross_entropy(logits, yv).item()
            row["val_acc"] = _accuracy(logits, yv)
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        bar.set_postfix({k: round(v, 4) for k, v in row.items() if k != "epoch"})
        if patience is not None:
            if row["val_loss"] < best - 1e-6:
                best, waited = row["val_loss"], 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
                if waited >= patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return pd.DataFrame(history)


def save_checkpoint(model: nn.Module, path, extra: dict | None = None) -> Path:
    """Save ``model.state_dict()`` (plus plain ``extra`` values) atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "extra": extra or {}}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(model: nn.Module, path, device: str = "cpu") -> dict:
    """Load weights saved by ``save_checkpoint`` into ``model``; returns the ``extra`` dict.

    Uses ``torch.load(..., weights_only=True)`` so a checkpoint cannot run code. Raises
    ``CheckpointError`` for a missing, corrupt or mismatched file.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint file does not exist")
    try:
        payload = torch.load(path, map_location=get_device(device), weights_only=True)
    except Exception as exc:  # pickle/zip errors come in many types
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise CheckpointError(f"{path}: not a visrec checkpoint (no 'state_dict' entry)")
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit {type(model).__name__} ({exc})") from None
    return payload.get("extra", {})
