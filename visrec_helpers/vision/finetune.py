"""Transfer to a new label set on a CPU budget: a linear probe on cached features, the top of a
pretrained network fine-tuned on cached inputs with layer-wise learning rates (q13).

The frozen part of a network gives the same output every epoch, so it is run once and
cached (``hooks.catalog_layer_features``): a linear probe then trains on pooled vectors in
milliseconds, and fine-tuning the last stage trains on the cached maps that enter it.
``BackboneTop`` copies the last stages of the EfficientNet-Lite0 (``blocks[start:]``,
``conv_head``, ``bn2``) and puts a new head on them; its batch norms keep their ImageNet
statistics (eval mode even while training), as they should with small batches.
``layerwise_param_groups`` gives the new head the largest rate and every earlier layer a
``decay`` times smaller one. ``fit`` is one training loop for all of them and records
validation accuracy and wall-clock seconds per epoch.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from visrec_helpers.core.rng import init_weights_


def new_head(in_features: int, n_classes: int, seed: int = 0) -> nn.Linear:
    """A fresh ``Linear(in_features, n_classes)`` initialised from ``seed`` (the new task's head)."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ValueError(f"n_classes={n_classes!r} must be an integer >= 2")
    return init_weights_(nn.Linear(int(in_features), int(n_classes)), seed)


class BackboneTop(nn.Module):
    """``blocks[start:]``, ``conv_head``, ``bn2`` of a timm EfficientNet (copied), GAP and a new head.

    Input: the cached ``(b, C, h, w)`` output of ``blocks[start - 1]``; output: ``(b, n_classes)``
    logits. The source model is untouched. Batch norm layers stay in eval mode.
    """

    def __init__(self, model: nn.Module, start: int, n_classes: int, seed: int = 0):
        super().__init__()
        if not 1 <= start <= len(model.blocks):
            raise ValueError(f"start={start} must be between 1 and {len(model.blocks)}")
        self.blocks = copy.deepcopy(model.blocks[start:])
        self.conv_head, self.bn2 = copy.deepcopy(model.conv_head), copy.deepcopy(model.bn2)
        self.head = new_head(model.num_features, n_classes, seed)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        x = self.bn2(self.conv_head(self.blocks(maps)))
        return self.head(x.mean(dim=(2, 3)))

    def train(self, mode: bool = True) -> nn.Module:
        super().train(mode)
        for m in self.modules():  # frozen ImageNet statistics: batches of 32 would give noisy ones
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self


def layerwise_param_groups(top: BackboneTop, head_lr: float, decay: float = 0.1) -> list[dict]:
    """Optimizer groups: the new head at ``head_lr``, ``conv_head``+``bn2`` at ``head_lr * decay``,
    then each block (last to first) ``decay`` times the rate of the one above it.

    ``decay=1`` is one rate for everything (the pitfall q13 measures).
    """
    if not 0 < decay <= 1:
        raise ValueError(f"decay={decay} must be in (0, 1]")
    groups = [{"name": "head", "params": list(top.head.parameters()), "lr": head_lr}]
    lr = head_lr * decay
    groups.append({"name": "conv_head", "params": [*top.conv_head.parameters(), *top.bn2.parameters()], "lr": lr})
    for i in reversed(range(len(top.blocks))):
        lr *= decay
        groups.append({"name": f"blocks[{i}]", "params": list(top.blocks[i].parameters()), "lr": lr})
    return groups


def fit_one_epoch(model: nn.Module, X: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
                batch_size: int, generator: torch.Generator) -> float:
    """One pass over ``(X, y)`` in a random order (from ``generator``); returns the mean loss."""
    model.train()
    order = torch.randperm(len(X), generator=generator)
    total = 0.0
    for s in range(0, len(X), batch_size):
        idx = order[s : s + batch_size]
        loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
    return total / len(X)


def tensor_accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    """Share of ``X`` whose arg-max logit is ``y`` (eval mode, no gradients)."""
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(X[s : s + batch_size]).argmax(1) for s in range(0, len(X), batch_size)])
    return float((pred == y).float().mean())


def fit(model: nn.Module, param_groups: list[dict], X: torch.Tensor, y: torch.Tensor, X_val: torch.Tensor,
        y_val: torch.Tensor, *, epochs: int, batch_size: int = 32, seed: int = 0,
        weight_decay: float = 1e-4) -> pd.DataFrame:
    """Train ``model`` in place with AdamW on ``param_groups``; one row per epoch:
    ``epoch, train_loss, val_acc, seconds`` (cumulative wall-clock training time)."""
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be a positive integer")
    optimizer = torch.optim.AdamW(param_groups, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    rows, seconds = [], 0.0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        loss = fit_one_epoch(model, X, y, optimizer, batch_size, generator)
        seconds += time.perf_counter() - start
        rows.append({"epoch": epoch, "train_loss": loss, "val_acc": tensor_accuracy(model, X_val, y_val),
                     "seconds": seconds})
    return pd.DataFrame(rows)


def first_reaching(history: pd.DataFrame, target: float, column: str = "epoch") -> float:
    """``column`` (``"epoch"`` or ``"seconds"``) of the first epoch whose ``val_acc`` >= ``target``; inf if none."""
    hit = history.index[history["val_acc"] >= target]
    return float(history.loc[hit[0], column]) if len(hit) else float("inf")
