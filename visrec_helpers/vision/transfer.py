"""Transfer learning: reuse a trained network on a new task, and distil it into a smaller one.

Strategies (``TransferClassifier(strategy=...)``), from least to most adapted:

- ``"scratch"``: the source architecture with fresh random weights (the baseline).
- ``"probe"``: a linear probe: the source network frozen (batch-norm statistics too),
  only a new head is trained.
- ``"finetune"``: every layer trained from the source weights at one learning rate.
- ``"discriminative"``: every layer trained, earlier layers at smaller learning rates
  (``lr * lr_decay**depth``, depth counted back from the head).
- ``"gradual"``: probe first (``probe_epochs`` epochs at ``probe_lr``), then unfreeze
  everything with discriminative rates: the head is no longer random when the backbone
  starts moving.
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from visrec_helpers.core.rng import init_weights_
from visrec_helpers.vision.training import _labels, images_to_tensor, predict, train_classifier

STRATEGIES = ("scratch", "probe", "finetune", "discriminative", "gradual")


def _as_tensor(X) -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        if X.ndim != 4:
            raise ValueError(f"X must be a (n, C, H, W) tensor, got shape {tuple(X.shape)}")
        return X
    return images_to_tensor(X)


def _as_labels(y, n: int) -> torch.Tensor:
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"y must be a 1-D label array of length {n}, got shape {tuple(y.shape)}")
    if y.dtype.is_floating_point:
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    if (y < 0).any():
        raise ValueError("y holds negative labels")
    return y.long()


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """``(n, h, w)`` images (uint8 or float in [0, 1]) -> ``(n, size, size)`` uint8, bilinear."""
    arr = np.asarray(images)
    if arr.ndim != 3 or len(arr) == 0:
        raise ValueError(f"images must be a non-empty (n, H, W) array, got shape {arr.shape}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    t = torch.from_numpy(arr.astype(np.float32))[:, None]
    if arr.dtype != np.uint8:
        if not np.isfinite(arr).all():
            raise ValueError("images contain NaN or infinite values")
        t = t * 255.0
    out = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return out[:, 0].clamp(0, 255).round().to(torch.uint8).numpy()


def reset_weights(model: nn.Module, seed: int = 0) -> nn.Module:
    """Re-initialise every layer in place, from ``seed`` (``core.rng.init_weights_``: torch's
    default distributions, fresh batch-norm statistics); returns ``model``."""
    return init_weights_(model, seed)


def with_new_head(model: nn.Module, n_classes: int, seed: int = 0) -> nn.Module:
    """A deep copy of ``model`` whose ``head`` (a Linear layer) is replaced by a fresh one
    with ``n_classes`` outputs, initialised from ``seed``. The source model is untouched."""
    if not isinstance(getattr(model, "head", None), nn.Linear):
        raise TypeError(f"{type(model).__name__} has no Linear 'head' to replace")
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    new = copy.deepcopy(model).cpu()
    new.head = init_weights_(nn.Linear(new.head.in_features, n_classes), seed)
    return new


def freeze(model: nn.Module, trainable=("head",)) -> nn.Module:
    """Freeze every parameter except those whose name starts with one of ``trainable``."""
    names = [n for n, _ in model.named_parameters()]
    for t in trainable:
        if not any(n.startswith(t) for n in names):
            raise ValueError(f"no parameter named {t!r}...; parameters are {names}")
    for n, p in model.named_parameters():
        p.requires_grad = any(n.startswith(t) for t in trainable)
    return model


def unfreeze(model: nn.Module) -> nn.Module:
    """Make every parameter trainable again."""
    for p in model.parameters():
        p.requires_grad = True
    return model


def layer_groups(model: nn.Module) -> list[list[nn.Parameter]]:
    """Parameters grouped by layer in forward (registration) order: a new group starts at
    each convolution or linear layer; a following batch norm joins its group."""
    groups: list[list[nn.Parameter]] = []
    for m in model.modules():
        own = list(m.parameters(recurse=False))
        if not own:
            continue
        if isinstance(m, (nn.Conv2d, nn.Linear)) or not groups:
            groups.append(own)
        else:
            groups[-1].extend(own)
    return groups


def discriminative_param_groups(model: nn.Module, lr: float, decay: float = 0.3) -> list[dict]:
    """Optimizer parameter groups: the last layer at ``lr``, each earlier layer ``decay``
    times the rate of the layer after it (``lr * decay**depth``)."""
    if not 0 < decay <= 1:
        raise ValueError(f"decay must be in (0, 1], got {decay}")
    groups = layer_groups(model)
    n = len(groups)
    return [{"params": g, "lr": lr * decay ** (n - 1 - i)} for i, g in enumerate(groups)]


def epochs_for_steps(n: int, batch_size: int, steps: int, min_epochs: int = 1) -> int:
    """Epochs that give at least ``steps`` optimizer steps on ``n`` examples: small labelled
    sets need more epochs for the same amount of training."""
    if n < 1 or batch_size < 1 or steps < 1:
        raise ValueError(f"n, batch_size and steps must be >= 1, got {n}, {batch_size}, {steps}")
    return max(min_epochs, math.ceil(steps / math.ceil(n / batch_size)))


def time_to_accuracy(history: pd.DataFrame, target: float) -> float:
    """Wall-clock seconds (cumulative over epochs) until ``val_acc`` first reaches
    ``target``; ``inf`` when it never does."""
    if "val_acc" not in history or "seconds" not in history:
        raise ValueError("history needs 'val_acc' and 'seconds' columns (train with X_val, y_val)")
    reached = np.flatnonzero(history["val_acc"].to_numpy() >= target)
    if len(reached) == 0:
        return float("inf")
    return float(history["seconds"].to_numpy()[: reached[0] + 1].sum())


class TransferClassifier:
    """Train a classifier for a new task from a ``source`` network (see module docstring).

    ``source`` is an ``nn.Module`` with a Linear ``head`` (a ``DigitCNN``); it is copied,
    never modified. ``fit(X, y, X_val=None, y_val=None)`` takes ``(n, H, W)`` uint8 images
    (or ``(n, C, H, W)`` float tensors) and integer labels and returns ``self``. Learned
    state: ``model_``, ``history_`` (per-epoch table), ``fit_seconds_``, ``n_classes_``.
    """

    def __init__(self, source: nn.Module, strategy: str = "finetune", epochs: int = 10, lr: float = 1e-3,
                 batch_size: int = 32, lr_decay: float = 0.3, probe_epochs: int | None = None,
                 probe_lr: float | None = None, weight_decay: float = 1e-4, augment=None, scheduler: str | None = "onecycle",
                 seed: int = 0, device: str = "auto", progress: bool = False):
        self.source, self.strategy, self.epochs, self.lr = source, strategy, epochs, lr
        self.batch_size, self.lr_decay, self.probe_epochs = batch_size, lr_decay, probe_epochs
        self.probe_lr = probe_lr
        self.weight_decay, self.augment, self.scheduler = weight_decay, augment, scheduler
        self.seed, self.device, self.progress = seed, device, progress

    def _train(self, model, X, y, X_val, y_val, epochs, optimizer=None, lr=None):
        return train_classifier(model, X, y, X_val, y_val, epochs=epochs, batch_size=self.batch_size,
                                lr=self.lr if lr is None else lr,
                                weight_decay=self.weight_decay, seed=self.seed, device=self.device,
                                augment=self.augment, optimizer=optimizer, progress=self.progress,
                                scheduler=self.scheduler)

    def _discriminative_opt(self, model):
        return torch.optim.Adam(discriminative_param_groups(model, self.lr, self.lr_decay),
                                weight_decay=self.weight_decay)

    def fit(self, X, y, X_val=None, y_val=None) -> TransferClassifier:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        X = _as_tensor(X)
        y = _as_labels(y, len(X))
        if (X_val is None) != (y_val is None):
            raise ValueError("give both X_val and y_val, or neither")
        if X_val is not None:
            X_val = _as_tensor(X_val)
            y_val = _as_labels(y_val, len(X_val))
        self.n_classes_ = int(y.max()) + 1
        model = with_new_head(self.source, max(self.n_classes_, 2), seed=self.seed)
        t0 = time.perf_counter()
        if self.strategy == "scratch":
            reset_weights(model, self.seed)
            hist = self._train(model, X, y, X_val, y_val, self.epochs)
        elif self.strategy == "probe":
            freeze(model)
            hist = self._train(model, X, y, X_val, y_val, self.epochs)
        elif self.strategy == "finetune":
            hist = self._train(model, X, y, X_val, y_val, self.epochs)
        elif self.strategy == "discriminative":
            hist = self._train(model, X, y, X_val, y_val, self.epochs, self._discriminative_opt(model))
        else:  # gradual
            k = self.probe_epochs if self.probe_epochs is not None else max(1, self.epochs // 2)
            if not 1 <= k < self.epochs:
                raise ValueError(f"probe_epochs must be between 1 and epochs - 1, got {k}")
            freeze(model)
            h1 = self._train(model, X, y, X_val, y_val, k, lr=self.probe_lr)
            unfreeze(model)
            h2 = self._train(model, X, y, X_val, y_val, self.epochs - k, self._discriminative_opt(model))
            h2["epoch"] += k
            hist = pd.concat([h1, h2], ignore_index=True)
        unfreeze(model)
        self.fit_seconds_ = time.perf_counter() - t0
        self.model_, self.history_ = model.cpu().eval(), hist
        return self

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise RuntimeError("TransferClassifier is not fitted yet; call fit(X, y) first")

    def predict_logits(self, X) -> np.ndarray:
        self._check_fitted()
        return predict(self.model_, _as_tensor(X), device=self.device)

    def predict(self, X) -> np.ndarray:
        return self.predict_logits(X).argmax(1)

    def score(self, X, y) -> float:
        """Accuracy on ``(X, y)``."""
        X = _as_tensor(X)
        y = _as_labels(y, len(X)).numpy()
        return float((self.predict(X) == y).mean())


# ---------------------------------------------------------------------------
# Knowledge distillation
# ---------------------------------------------------------------------------

def distillation_loss(temperature: float = 4.0, alpha: float = 0.7):
    """Loss for ``train_classifier`` with targets ``(n, 1 + C)``: column 0 the label, the rest
    the teacher's logits. ``alpha * T**2 * KL(teacher_T || student_T) + (1 - alpha) * CE``;
    the ``T**2`` keeps the soft-target gradients the same size whatever the temperature."""
    if temperature <= 0 or not 0 <= alpha <= 1:
        raise ValueError(f"need temperature > 0 and 0 <= alpha <= 1, got {temperature}, {alpha}")

    def loss(student_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.ndim != 2 or target.shape[1] != student_logits.shape[1] + 1:
            raise ValueError(f"distillation targets must be (n, 1 + {student_logits.shape[1]}), "
                             f"got {tuple(target.shape)}")
        y, teacher = _labels(target), target[:, 1:]
        soft = F.kl_div(F.log_softmax(student_logits / temperature, 1), F.log_softmax(teacher / temperature, 1),
                        reduction="batchmean", log_target=True) * temperature**2
        return alpha * soft + (1 - alpha) * F.cross_entropy(student_logits, y)

    return loss


def distill(teacher: nn.Module, student: nn.Module, X, y=None, X_val=None, y_val=None, temperature: float = 4.0,
            alpha: float = 0.7, epochs: int = 10, batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
            device: str = "auto", progress: bool = False) -> pd.DataFrame:
    """Train ``student`` in place to match ``teacher``'s softened outputs (and the labels).

    The teacher's logits are computed once (no augmentation, so they match the inputs
    exactly). ``y=None`` distils on unlabelled images (a "transfer set"): the teacher's
    top class stands in for the label, so use ``alpha=1`` to learn from soft targets only.
    Returns the ``train_classifier`` history of the student.
    """
    X = _as_tensor(X)
    t_logits = torch.from_numpy(predict(teacher, X, device=device))
    y = t_logits.argmax(1) if y is None else _as_labels(y, len(X))
    if t_logits.shape[1] != student.head.out_features:
        raise ValueError(f"teacher has {t_logits.shape[1]} classes, student {student.head.out_features}")
    target = torch.cat([y.float()[:, None], t_logits], 1)
    if X_val is not None:
        X_val, y_val = _as_tensor(X_val), _as_labels(y_val, len(X_val))
    return train_classifier(student, X, target, X_val, y_val, epochs=epochs, batch_size=batch_size, lr=lr,
                            seed=seed, device=device, loss_fn=distillation_loss(temperature, alpha),
                            progress=progress, scheduler="onecycle")


# Learning rates that work for each strategy on the workbook's small CNNs (Adam, one-cycle):
# a frozen backbone tolerates a large rate on the head; moving pretrained weights needs a small one.
DEFAULT_LR = {"scratch": 3e-3, "probe": 1e-2, "finetune": 1e-3, "discriminative": 3e-3, "gradual": 3e-3}
DEFAULT_PROBE_LR = 1e-2  # the probe phase of "gradual"


def learning_curve(source: nn.Module, X_pool, y_pool, X_test, y_test, sizes, strategies=("scratch", "probe",
                   "finetune"), steps: int = 60, batch_size: int = 32, lr: dict | None = None, seed: int = 0,
                   device: str = "auto", progress: bool = True) -> pd.DataFrame:
    """Test accuracy of each strategy when only ``n`` labelled images are available, for
    each ``n`` in ``sizes``.

    The ``n`` images are a class-stratified subset of the pool (nested: a larger subset
    contains the smaller ones' classes in the same shares); every run gets at least
    ``steps`` optimizer steps, so small sets are not under-trained. Returns one row per
    (strategy, n): ``strategy, n_labelled, test_acc, seconds``.
    """
    from tqdm.auto import tqdm

    from visrec_helpers.vision.training import stratified_split

    y_pool = np.asarray(y_pool)
    lr = {**DEFAULT_LR, **(lr or {})}
    sizes = sorted(int(n) for n in sizes)
    n_classes = len(np.unique(y_pool))
    if not sizes or sizes[0] < n_classes or sizes[-1] > len(y_pool):
        raise ValueError(f"sizes must lie between {n_classes} (one per class) and the pool size {len(y_pool)}")
    unknown = set(strategies) - set(STRATEGIES)
    if unknown:
        raise ValueError(f"unknown strategies {sorted(unknown)}; choose from {STRATEGIES}")
    rows = []
    runs = [(n, s) for n in sizes for s in strategies]
    for n, strategy in tqdm(runs, desc="learning curve", disable=not progress, leave=False):
        idx = np.arange(len(y_pool)) if n == len(y_pool) else stratified_split(y_pool, len(y_pool) - n, seed)[0]
        epochs = epochs_for_steps(n, batch_size, steps, min_epochs=2)
        clf = TransferClassifier(source, strategy, epochs=epochs, lr=lr[strategy], batch_size=batch_size,
                                 probe_lr=DEFAULT_PROBE_LR, seed=seed, device=device).fit(X_pool[idx], y_pool[idx])
        rows.append({"strategy": strategy, "n_labelled": n, "test_acc": clf.score(X_test, y_test),
                     "seconds": clf.fit_seconds_})
    return pd.DataFrame(rows)


def curve_over_seeds(source: nn.Module, X, y, sizes, seeds, n_test: int, strategies=("scratch", "probe", "finetune"),
                     steps: int = 60, batch_size: int = 32, lr: dict | None = None, device: str = "auto",
                     progress: bool = True) -> pd.DataFrame:
    """:func:`learning_curve` repeated over ``seeds``, each accuracy as a mean and 95% t interval.

    For each seed everything on the target side is redrawn from it: the stratified held-out
    split of ``n_test`` images out of ``(X, y)``, the labelled subsets of the remaining pool,
    the new head, the scratch weights and the batch order. ``source`` (a cached network) is
    the same in every run. Besides each strategy, the per-seed gain ``finetune - scratch``
    (paired: same split, same subset) gets its own interval as strategy ``"gain"`` when both
    strategies are run. Returns one row per (strategy, n): ``strategy, n_labelled, estimate,
    low, high, sd, n``; the per-seed accuracies are in ``df.attrs["runs"]`` (one row per seed).
    """
    from visrec_helpers.core.stats import over_seeds
    from visrec_helpers.vision.training import stratified_split

    X, y, seeds = np.asarray(X), np.asarray(y), list(seeds)
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
    if not 0 < n_test < len(y):
        raise ValueError(f"n_test must lie between 1 and len(y) - 1 = {len(y) - 1}, got {n_test}")

    def run(seed) -> dict:
        pool, test = stratified_split(y, n_test, seed=seed)
        c = learning_curve(source, X[pool], y[pool], X[test], y[test], sizes, strategies, steps=steps,
                           batch_size=batch_size, lr=lr, seed=seed, device=device, progress=False)
        acc = {(s, n): a for s, n, a in zip(c.strategy, c.n_labelled, c.test_acc)}
        out = {f"{s}|{n}": a for (s, n), a in acc.items()}
        if {"finetune", "scratch"} <= set(strategies):
            out.update({f"gain|{n}": acc["finetune", n] - acc["scratch", n] for n in sorted(set(c.n_labelled))})
        return out

    table = over_seeds(run, seeds, progress=progress)
    keys = table.index.str.split("|")
    out = table.reset_index(drop=True)
    out.insert(0, "n_labelled", [int(k[1]) for k in keys])
    out.insert(0, "strategy", [k[0] for k in keys])
    out.attrs = table.attrs
    return out


def curve_interval(curve: pd.DataFrame, strategy: str, n: int):
    """The :class:`~visrec_helpers.core.stats.Interval` of ``strategy`` at ``n`` labelled images
    in a :func:`curve_over_seeds` table (its per-seed values give the mean and t interval)."""
    from visrec_helpers.core.stats import t_interval

    key = f"{strategy}|{int(n)}"
    runs = curve.attrs.get("runs")
    if runs is None or key not in runs:
        raise KeyError(f"no runs for strategy={strategy!r}, n={n!r} in this curve")
    return t_interval(runs[key].to_numpy(), curve.attrs.get("level", 0.95))


# ---------------------------------------------------------------------------
# A pretrained ImageNet network on a new dataset (t07): head swap, staged unfreezing, the loop
# ---------------------------------------------------------------------------

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
