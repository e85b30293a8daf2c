"""Transfer learning (t07): a pretrained ImageNet network on a new dataset.

``swap_head`` replaces the 1,000-class head with a fresh one for the new classes;
``set_trainable`` freezes everything but the named parts and gives each its learning rate;
``finetune_in_stages`` runs the stages in order (train the head first, then unfreeze the last
stage at smaller rates), one ``train_step`` per batch. ``nested_class_split`` draws the
labelled subsets of a learning curve and ``epochs_for_steps`` sizes each run.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from visrec_helpers.core.rng import init_weights_


def epochs_for_steps(n: int, batch_size: int, steps: int, min_epochs: int = 1) -> int:
    """Epochs that give at least ``steps`` optimizer steps on ``n`` examples: small labelled
    sets need more epochs for the same amount of training."""
    if n < 1 or batch_size < 1 or steps < 1:
        raise ValueError(f"n, batch_size and steps must be >= 1, got {n}, {batch_size}, {steps}")
    return max(min_epochs, math.ceil(steps / math.ceil(n / batch_size)))


def swap_head(model: nn.Module, n_classes: int, seed: int = 0) -> nn.Module:
    """A copy of a timm classifier (``model.classifier``, ``model.num_features``) whose
    1,000-class ImageNet head is replaced by a fresh ``Linear(num_features, n_classes)``
    initialised from ``seed``. The source model is untouched."""
    if not isinstance(getattr(model, "classifier", None), nn.Linear):
        raise TypeError(f"{type(model).__name__} has no Linear 'classifier' to swap")
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ValueError(f"n_classes={n_classes!r} must be an integer >= 2")
    new = copy.deepcopy(model)
    new.classifier = init_weights_(nn.Linear(model.num_features, int(n_classes)), seed)
    return new


def set_trainable(model: nn.Module, rates: dict[str, float]) -> list[dict]:
    """Freeze every parameter, then unfreeze those under a name in ``rates`` (a module path
    such as ``"head"`` or ``"blocks.0"``); returns one optimizer group per name, at its rate.

    Raises ``ValueError`` when a name matches no parameter (a typo would otherwise freeze
    the whole network silently).
    """
    groups: dict[str, list[nn.Parameter]] = {prefix: [] for prefix in rates}
    for name, p in model.named_parameters():
        prefix = next((k for k in rates if name == k or name.startswith(k + ".")), None)
        p.requires_grad_(prefix is not None)
        if prefix is not None:
            groups[prefix].append(p)
    empty = [k for k, params in groups.items() if not params]
    if empty:
        raise ValueError(f"no parameter of {type(model).__name__} lies under {empty[0]!r}")
    return [{"name": k, "params": params, "lr": float(rates[k])} for k, params in groups.items()]


def train_step(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    """One optimizer step on a batch: cross-entropy of the logits, backward, update; returns the loss."""
    loss = F.cross_entropy(model(xb), yb)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def finetune_in_stages(model: nn.Module, X: torch.Tensor, y: torch.Tensor, stages: list[dict], *,
                       batch_size: int = 32, seed: int = 0, weight_decay: float = 1e-4) -> pd.DataFrame:
    """Train ``model`` in place, one stage after another (gradual unfreezing).

    A stage is ``{"epochs": int, "lr": {module name: rate}}``: only the named parts train,
    each at its rate, with a fresh AdamW; everything else stays frozen. Batches come in a
    random order drawn from ``seed``. Returns one row per epoch: ``stage, epoch, loss``.
    """
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for number, stage in enumerate(stages, start=1):
        optimizer = torch.optim.AdamW(set_trainable(model, stage["lr"]), weight_decay=weight_decay)
        for epoch in range(1, stage["epochs"] + 1):
            model.train()
            order = torch.randperm(len(X), generator=generator)
            losses = [train_step(model, X[idx], y[idx], optimizer) for idx in order.split(batch_size)]
            rows.append({"stage": number, "epoch": epoch, "loss": float(np.mean(losses))})
    return pd.DataFrame(rows)


def nested_class_split(labels, sizes, seed: int = 0) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Labelled subsets of ``n`` items per class for each ``n`` in ``sizes`` (nested: the smaller
    subsets are prefixes of the larger ones), and the test ids: every item not in the largest.

    Each class needs more than ``max(sizes)`` items. Returns ``({n: ids}, test_ids)``, sorted ids.
    """
    labels = np.asarray(labels)
    sizes = sorted(int(n) for n in sizes)
    if not sizes or sizes[0] < 1:
        raise ValueError(f"sizes={sizes} must be positive numbers of items per class")
    classes, counts = np.unique(labels, return_counts=True)
    if counts.min() <= sizes[-1]:
        raise ValueError(f"class {classes[counts.argmin()]} has {counts.min()} items; "
                         f"{sizes[-1]} per class would leave none for the test set")
    rng = np.random.default_rng(seed)
    order = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    train = {n: np.sort(np.concatenate([o[:n] for o in order])) for n in sizes}
    test = np.sort(np.concatenate([o[sizes[-1]:] for o in order]))
    return train, test
