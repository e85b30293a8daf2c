"""Transfer learning: a pretrained ImageNet network on a new label set, on a CPU budget (t07, q13).

The network's 1,000-class head gives way to a fresh one for the new classes (``swap_head`` on a
whole timm classifier, ``new_head`` alone). The frozen part of a network gives the same output
every epoch, so it is run once and cached (``hooks.catalog_layer_features``): a linear probe then
trains on pooled vectors in milliseconds, and fine-tuning the last stage trains on the cached
maps that enter it. ``BackboneTop`` copies the last stages of the EfficientNet-Lite0
(``blocks[start:]``, ``conv_head``, ``bn2``) and puts a new head on them; its batch norms keep
their ImageNet statistics (eval mode even while training), as they should with small batches.

Which parts train, and how fast: ``set_trainable`` freezes everything but the named parts and
gives each its rate (gradual unfreezing, t07); ``layerwise_param_groups`` gives the new head the
largest rate and every earlier layer a ``decay`` times smaller one (discriminative rates, q13).
Both train with the workbook's one loop, ``training.fit``, and this chapter's step,
``train_step`` (cross-entropy of the logits): ``finetune_in_stages`` runs the stages in order,
``finetune`` one set of parameter groups with validation accuracy and the cumulative training
seconds per epoch. ``nested_class_split`` draws the labelled subsets of a learning curve and
``epochs_for_steps`` sizes each run.
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
from visrec_helpers.vision.training import ShuffledBatches, fit


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


def train_step(model: nn.Module, batch) -> torch.Tensor:
    """This chapter's step for ``training.fit``: the cross-entropy of the logits on a batch ``(x, y)``."""
    xb, yb = batch
    return F.cross_entropy(model(xb), yb)


def finetune_in_stages(model: nn.Module, X: torch.Tensor, y: torch.Tensor, stages: list[dict], *,
                       batch_size: int = 32, seed: int = 0, weight_decay: float = 1e-4) -> pd.DataFrame:
    """Train ``model`` in place, one stage after another (gradual unfreezing).

    A stage is ``{"epochs": int, "lr": {module name: rate}}``: only the named parts train,
    each at its rate, with a fresh AdamW; everything else stays frozen. Each stage is
    ``training.fit`` with ``train_step``; batches come in a random order drawn from one
    generator seeded with ``seed``. Returns one row per epoch: ``stage, epoch, loss``.
    """
    batches = ShuffledBatches((X, y), batch_size, torch.Generator().manual_seed(seed))
    histories = []
    for number, stage in enumerate(stages, start=1):
        optimiser = torch.optim.AdamW(set_trainable(model, stage["lr"]), weight_decay=weight_decay)
        history = fit(model, batches, train_step, epochs=stage["epochs"], optimiser=optimiser, seed=seed,
                      progress=False)
        histories.append(pd.DataFrame({"stage": number, "epoch": history["epoch"], "loss": history["train_loss"]}))
    return pd.concat(histories, ignore_index=True)


def finetune(model: nn.Module, param_groups: list[dict], X: torch.Tensor, y: torch.Tensor, X_val: torch.Tensor,
             y_val: torch.Tensor, *, epochs: int, batch_size: int = 32, seed: int = 0,
             weight_decay: float = 1e-4) -> pd.DataFrame:
    """Train ``model`` in place with AdamW on ``param_groups`` (``training.fit`` with ``train_step``,
    batches shuffled from ``seed``); one row per epoch: ``epoch, train_loss, val_acc, seconds``
    (cumulative training time, evaluation excluded)."""
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be a positive integer")
    optimiser = torch.optim.AdamW(param_groups, weight_decay=weight_decay)
    batches = ShuffledBatches((X, y), batch_size, torch.Generator().manual_seed(seed))
    history = fit(model, batches, train_step, epochs=epochs, optimiser=optimiser, seed=seed, progress=False,
                  evaluate=lambda m: {"val_acc": tensor_accuracy(m, X_val, y_val)})
    history["seconds"] = history["seconds"].cumsum()
    return history[["epoch", "train_loss", "val_acc", "seconds"]]


def tensor_accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    """Share of ``X`` whose arg-max logit is ``y`` (eval mode, no gradients)."""
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(X[s : s + batch_size]).argmax(1) for s in range(0, len(X), batch_size)])
    return float((pred == y).float().mean())


def first_reaching(history: pd.DataFrame, target: float, column: str = "epoch") -> float:
    """``column`` (``"epoch"`` or ``"seconds"``) of the first epoch whose ``val_acc`` >= ``target``; inf if none."""
    hit = history.index[history["val_acc"] >= target]
    return float(history.loc[hit[0], column]) if len(hit) else float("inf")


def epochs_for_steps(n: int, batch_size: int, steps: int, min_epochs: int = 1) -> int:
    """Epochs that give at least ``steps`` optimizer steps on ``n`` examples: small labelled
    sets need more epochs for the same amount of training."""
    if n < 1 or batch_size < 1 or steps < 1:
        raise ValueError(f"n, batch_size and steps must be >= 1, got {n}, {batch_size}, {steps}")
    return max(min_epochs, math.ceil(steps / math.ceil(n / batch_size)))


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
