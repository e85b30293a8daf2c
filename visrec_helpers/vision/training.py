"""One training loop for every notebook, d2l-style: ``fit(model, batches, step, ...)`` runs the
epochs (progress bar, history table, early stopping, per-batch schedules, seeded through
``core.rng.seeded``), and each chapter shows its ``step(model, batch) -> loss`` (the part worth
teaching: ``classification_step`` here, the noise-augmented step in restoration, the staged
fine-tuning step in transfer, SimCLR's contrastive step in features). ``train_classifier`` is
``fit`` with the classification step; checkpoints are safe (loaded with ``weights_only=True``).

Also here: batch augmentation (``RandomAffine``), the workbook's held-out MNIST split
(``mnist_split``), "the t01 network" (``fit_image_classifier`` for any images,
``train_mnist_classifier`` cached for MNIST, reused by t06, t07, q02, q08, q12, q13), and
the plots of a run (``plot_history``, ``plot_confusion``).
"""

from __future__ import annotations

import functools
import time

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from visrec_helpers.core.checkpoints import load_checkpoint, save_checkpoint  # noqa: F401 - part of this API
from visrec_helpers.core.device import get_device
from visrec_helpers.core.errors import CheckpointError  # noqa: F401 - part of this module's API
from visrec_helpers.core.rng import init_weights_, seeded, torch_generator


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


BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LazyBatchNorm1d, nn.LazyBatchNorm2d,
               nn.LazyBatchNorm3d, nn.SyncBatchNorm)  # every batch-norm layer torch has


def _keep_frozen_norms_in_eval(model: nn.Module) -> None:
    """A frozen batch-norm layer must not update its running statistics either."""
    for m in model.modules():
        if isinstance(m, BATCH_NORMS):
            ps = list(m.parameters(recurse=False))
            if ps and not any(p.requires_grad for p in ps):
                m.eval()


def _labels(y: torch.Tensor) -> torch.Tensor:
    """Hard labels of a target batch: ``y`` itself, or column 0 of ``(n, 1 + k)`` targets."""
    return y[:, 0].long() if y.ndim == 2 else y


def _batch_accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return (logits.argmax(1) == _labels(y)).float().mean().item()


@torch.no_grad()
def predict(model: nn.Module, X: torch.Tensor, batch_size: int = 512, device="auto") -> np.ndarray:
    """Logits of ``model`` for ``X`` as a ``(n, n_classes)`` float32 array, in eval mode."""
    dev = get_device(device)
    model = model.to(dev).eval()
    outs = [model(X[i : i + batch_size].to(dev)).float().cpu() for i in range(0, len(X), batch_size)]
    return torch.cat(outs).numpy()


def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray, device: str = "auto") -> float:
    """Top-1 accuracy of classifier ``model`` on ``(n, H, W)`` or ``(n, H, W, C)`` uint8 images
    with ``(n,)`` integer labels (a float in [0, 1])."""
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    return float((predict(model, images_to_tensor(images), device=device).argmax(1) == labels).mean())


# ---------------------------------------------------------------------------
# The training loop: fit(model, batches, step, ...), and the steps that chapters show
# ---------------------------------------------------------------------------

class ShuffledBatches:
    """Mini-batches of equal-length tensors in a fresh random order on every pass.

    ``for batch in ShuffledBatches((X, y), 32, generator)`` yields ``(X[idx], y[idx])`` for the
    consecutive ``batch_size`` slices of ``torch.randperm(len(X), generator=generator)``; the
    permutation is drawn when a pass starts, so a step that draws from the same generator
    (noise, augmented views) continues one stream. Batches shorter than ``min_size`` are
    skipped (SimCLR needs two images to contrast).
    """

    def __init__(self, tensors, batch_size: int, generator: torch.Generator, min_size: int = 1):
        self.tensors = tuple(tensors)
        n = len(self.tensors[0]) if self.tensors else 0
        if n == 0 or any(len(t) != n for t in self.tensors):
            raise ValueError(f"need non-empty tensors of one length, got lengths {[len(t) for t in self.tensors]}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
        self.batch_size, self.generator, self.min_size, self.n = int(batch_size), generator, min_size, n

    def __iter__(self):
        order = torch.randperm(self.n, generator=self.generator)
        for idx in order.split(self.batch_size):
            if len(idx) >= self.min_size:
                yield tuple(t[idx] for t in self.tensors)

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)


def _to_device(batch, device):
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(b, device) for b in batch)
    return batch.to(device) if isinstance(batch, torch.Tensor) else batch


def _batch_size(batch) -> int:
    return len(batch[0]) if isinstance(batch, (tuple, list)) else len(batch)


def train_epoch(model: nn.Module, batches, step, optimiser: torch.optim.Optimizer, scheduler=None,
                device=None) -> dict[str, float]:
    """One pass over ``batches``: per batch, ``step(model, batch)`` (the forward half: a loss, or
    a dict with ``"loss"`` and other per-batch figures), then zero the gradients, backward,
    optimiser step and (per batch) scheduler step. Batches are moved to ``device`` first unless
    it is None. Returns ``{"train_<name>": mean}`` for every figure, weighted by batch size."""
    model.train()
    _keep_frozen_norms_in_eval(model)  # frozen batch-norm layers keep their statistics
    totals: dict[str, float] = {}
    seen = 0
    for batch in batches:
        if device is not None:
            batch = _to_device(batch, device)
        out = step(model, batch)
        figures = out if isinstance(out, dict) else {"loss": out}
        optimiser.zero_grad()
        figures["loss"].backward()
        optimiser.step()
        if scheduler is not None:
            scheduler.step()
        n = _batch_size(batch)
        for name, value in figures.items():
            totals[name] = totals.get(name, 0.0) + (value.item() if torch.is_tensor(value) else float(value)) * n
        seen += n
    if seen == 0:
        raise ValueError("batches yielded no batch")
    return {f"train_{name}": total / seen for name, total in totals.items()}


class _EarlyStopping:
    """Watches ``monitor`` (lower is better); keeps the best weights; says when to stop."""

    def __init__(self, monitor: str, patience: int | None):
        self.monitor, self.patience = monitor, patience
        self.best, self.best_state, self.waited = np.inf, None, 0

    def should_stop(self, model: nn.Module, row: dict) -> bool:
        if self.patience is None:
            return False
        if self.monitor not in row:
            raise ValueError(f"early stopping watches {self.monitor!r}, which evaluate() did not return")
        if row[self.monitor] < self.best - 1e-6:
            self.best, self.waited = row[self.monitor], 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        self.waited += 1
        return self.waited >= self.patience

    def restore(self, model: nn.Module) -> None:
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


def fit(model: nn.Module, batches, step, *, epochs: int, optimiser: torch.optim.Optimizer, scheduler=None,
        evaluate=None, patience: int | None = None, monitor: str = "val_loss", device=None, seed: int = 0,
        progress: bool = True, desc: str = "epochs") -> pd.DataFrame:
    """The workbook's one training loop (d2l's ``train``): ``epochs`` passes of ``train_epoch``.

    ``batches``: an iterable passed over once per epoch (a ``DataLoader``, ``ShuffledBatches``);
    ``step(model, batch)``: the part a chapter teaches, returning the batch's loss (or a dict with
    ``"loss"`` and other figures to average, such as ``"acc"``); ``optimiser`` and the optional
    per-batch ``scheduler`` are built by the caller. After each epoch ``evaluate(model)`` may
    return more figures (``{"val_loss": ..., "val_acc": ...}``). With ``patience``, training
    stops when ``monitor`` has not improved for that many epochs and the best weights are
    restored. The loop runs inside ``core.rng.seeded(seed)``: anything that draws from torch's
    global generator (dropout) draws from ``seed`` and the caller's random state is left as it
    was; data order and augmentation come from the generators of ``batches`` and ``step``.

    Returns one row per epoch: ``epoch``, the ``train_*`` figures, the evaluated figures and
    ``seconds`` (that epoch's training time, evaluation excluded). The model is left in eval mode.
    """
    from tqdm.auto import tqdm

    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be a positive integer")
    history, stopper = [], _EarlyStopping(monitor, patience)
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    with seeded(seed.initial_seed() if isinstance(seed, torch.Generator) else seed):
        for epoch in bar:
            start = time.perf_counter()
            row = {"epoch": epoch + 1, **train_epoch(model, batches, step, optimiser, scheduler, device)}
            seconds = time.perf_counter() - start
            row.update(evaluate(model) if evaluate is not None else {})
            row["seconds"] = seconds
            history.append(row)
            bar.set_postfix({k: round(v, 4) for k, v in row.items() if k != "epoch"})
            if stopper.should_stop(model, row):
                break
    stopper.restore(model)
    model.eval()
    return pd.DataFrame(history)


def classification_step(model: nn.Module, batch, loss_fn=F.cross_entropy, augment=None) -> dict:
    """The supervised step: augment the inputs (optional), logits, loss; with the batch accuracy.

    ``batch`` is ``(x, y)``: ``y`` holds ``(n,)`` labels, or ``(n, 1 + k)`` rows whose column 0 is
    the label (for a custom ``loss_fn``, as in distillation); the accuracy uses the label.
    """
    xb, yb = batch
    if augment is not None:
        xb = augment(xb)
    logits = model(xb)
    return {"loss": loss_fn(logits, yb), "acc": _batch_accuracy(logits.detach(), yb)}


def _check_training_inputs(X, y, X_val, patience, epochs, batch_size, scheduler) -> None:
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    if len(X) == 0:
        raise ValueError("no training examples")
    if patience is not None and X_val is None:
        raise ValueError("early stopping (patience) needs X_val and y_val")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if scheduler not in (None, "onecycle", "cosine"):
        raise ValueError(f"scheduler must be None, 'onecycle' or 'cosine', got {scheduler!r}")
    if X.dtype.is_floating_point and not torch.isfinite(X).all():
        raise ValueError("X contains NaN or infinite values")


def make_scheduler(name: str | None, optimiser: torch.optim.Optimizer, epochs: int, steps_per_epoch: int):
    """A per-batch learning-rate schedule by name: ``None`` (constant rate), ``"onecycle"`` (warm
    up then anneal, up to each parameter group's rate) or ``"cosine"``."""
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=[g["lr"] for g in optimiser.param_groups],
                                                   epochs=epochs, steps_per_epoch=steps_per_epoch)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs * steps_per_epoch)
    return None


def validation_figures(X_val: torch.Tensor, y_val: torch.Tensor, device="auto"):
    """An ``evaluate`` for ``fit``: ``model -> {"val_loss": cross-entropy, "val_acc": accuracy}`` on
    the held-out ``(X_val, y_val)`` (labels, or column 0 of ``(n, 1 + k)`` rows)."""
    def evaluate(model: nn.Module) -> dict:
        logits = torch.from_numpy(predict(model, X_val, device=device))
        yv = _labels(y_val.cpu())
        return {"val_loss": nn.functional.cross_entropy(logits, yv).item(), "val_acc": _batch_accuracy(logits, yv)}

    return evaluate


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
    scheduler: str | None = None,
    label_smoothing: float = 0.0,
) -> pd.DataFrame:
    """Train ``model`` in place with Adam (or ``optimizer``) and cross-entropy (or ``loss_fn``):
    ``fit`` with ``classification_step``.

    Returns the per-epoch history as a DataFrame with columns ``epoch, train_loss,
    train_acc, val_loss, val_acc, seconds``. With ``patience``, training stops when the
    validation loss has not improved for that many epochs and the best weights are
    restored. ``augment`` is an optional function applied to each input batch.
    ``y`` is ``(n,)`` int64 labels, or ``(n, 1 + k)`` float rows whose column 0 is the
    label and the rest extra targets for a custom ``loss_fn`` (teacher logits in
    distillation); accuracy always uses the label.
    ``scheduler``: ``None``, ``"onecycle"`` or ``"cosine"`` (``make_scheduler``); it
    drives every parameter group of the optimizer, so per-group rates are kept in ratio.
    ``label_smoothing`` is passed to the default cross-entropy loss.
    ``seed`` fixes the batch order (a local ``torch.Generator``; the global random state is
    neither read nor changed). Initialise the model's weights from a seed before calling
    (``core.rng.init_weights_``) for a fully reproducible run.
    """
    _check_training_inputs(X, y, X_val, patience, epochs, batch_size, scheduler)
    dev = get_device(device)
    model.to(dev)
    loss_fn = loss_fn or nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer is None and not params:
        raise ValueError("model has no trainable parameters (everything is frozen)")
    opt = optimizer or torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    loader = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True, generator=torch_generator(seed))
    return fit(model, loader, functools.partial(classification_step, loss_fn=loss_fn, augment=augment),
               epochs=epochs, optimiser=opt, scheduler=make_scheduler(scheduler, opt, epochs, len(loader)),
               evaluate=None if X_val is None else validation_figures(X_val, y_val, dev), patience=patience,
               device=dev, seed=seed, progress=progress)


# ---------------------------------------------------------------------------
# Augmentation, the MNIST split, and "the t01 network"
# ---------------------------------------------------------------------------

class RandomAffine:
    """Batch augmentation on ``(n, C, H, W)`` tensors: a random small rotation (degrees),
    scale and shift (pixels) per image, done with one ``grid_sample`` call.

    Cheap enough on CPU to apply to every training batch; a fresh transform per image.
    Pass an instance as ``augment=`` to ``train_classifier``.
    """

    def __init__(self, degrees: float = 10.0, shift: float = 2.0, scale: float = 0.1, seed: int = 0):
        if degrees < 0 or shift < 0 or not 0 <= scale < 1:
            raise ValueError(f"need degrees >= 0, shift >= 0 and 0 <= scale < 1, got {degrees}, {shift}, {scale}")
        self.degrees, self.shift, self.scale = degrees, shift, scale
        self.generator = torch_generator(seed)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"RandomAffine expects (n, C, H, W), got shape {tuple(x.shape)}")
        n, _, h, w = x.shape
        g = self.generator

        def u(lo, hi):
            return lo + (hi - lo) * torch.rand(n, generator=g)

        ang = torch.deg2rad(u(-self.degrees, self.degrees))
        sc = u(1 - self.scale, 1 + self.scale)
        # grid_sample works in [-1, 1] coordinates: one pixel is 2 / size.
        tx, ty = u(-self.shift, self.shift) * 2 / w, u(-self.shift, self.shift) * 2 / h
        cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
        grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def stratified_split(y: np.ndarray, test_size: float | int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train_idx, test_idx)`` with every class in the same share on both sides,
    each in a seeded random order (so any prefix of either side mixes the classes)."""
    from sklearn.model_selection import train_test_split

    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y must be a non-empty 1-D label array, got shape {y.shape}")
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=test_size, stratify=y, random_state=seed)
    return tr, te


def mnist_split(n_test: int = 1000, seed: int = 0) -> dict:
    """The workbook's held-out split of the bundled MNIST 5k digits.

    Returns a dict of numpy arrays ``X_train, y_train, X_test, y_test`` (``(n, 28, 28)``
    uint8 and ``(n,)`` int64), stratified by class. Every notebook that reuses the t01
    network evaluates on this same ``X_test`` so no test image was ever trained on.
    """
    from visrec_helpers.data import load_mnist

    X, y = load_mnist()
    if not 10 <= n_test <= len(y) - 10:
        raise ValueError(f"n_test={n_test} must be between 10 and {len(y) - 10}")
    tr, te = stratified_split(y, n_test, seed)
    return {"X_train": X[tr], "y_train": y[tr], "X_test": X[te], "y_test": y[te]}


T01_DEFAULTS = {"epochs": 12, "batch_size": 64, "lr": 2e-3, "width": 64, "embed_dim": 64, "pool_size": 3}


def fit_image_classifier(X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray | None = None,
                         y_val: np.ndarray | None = None, epochs: int = T01_DEFAULTS["epochs"], seed: int = 0,
                         augment: bool = True, width: int = T01_DEFAULTS["width"],
                         embed_dim: int = T01_DEFAULTS["embed_dim"], n_classes: int | None = None,
                         device: str = "auto", progress: bool = True):
    """Train the t01 recipe on any small image set and return ``(model, history)``.

    ``X_train``: ``(n, H, W)`` grayscale or ``(n, H, W, 3)`` RGB uint8; ``y_train``: ``(n,)``
    int labels. A ``DigitCNN`` (3x3 pooled layout) with Adam, one-cycle learning rate,
    label smoothing 0.05 and, with ``augment``, random small rotations, scalings and shifts.
    ``X_val``/``y_val`` are only evaluated after each epoch (for the learning curves); no
    choice is made with them. The model is returned in eval mode on the CPU.
    """
    from visrec_helpers.vision.models import DigitCNN

    X_train, y_train = np.asarray(X_train), np.asarray(y_train)
    if len(X_train) != len(y_train):
        raise ValueError(f"X_train has {len(X_train)} images but y_train has {len(y_train)} labels")
    if y_train.ndim != 1 or not np.issubdtype(y_train.dtype, np.integer) or (y_train < 0).any():
        raise ValueError("y_train must be a 1-D array of non-negative integer labels")
    n_classes = int(y_train.max()) + 1 if n_classes is None else n_classes
    in_channels = 1 if X_train.ndim == 3 else X_train.shape[-1]
    model = init_weights_(DigitCNN(n_classes=n_classes, embed_dim=embed_dim, width=width, in_channels=in_channels,
                                   pool_size=T01_DEFAULTS["pool_size"]), seed)
    history = _train_t01(model, X_train, y_train, X_val, y_val, epochs, seed, augment, device, progress)
    return model.cpu().eval(), history


def _train_t01(model, X_train, y_train, X_val, y_val, epochs, seed, augment, device, progress) -> pd.DataFrame:
    """The t01 recipe's training run on an already built ``model`` (in place)."""
    val = (None, None) if X_val is None else (images_to_tensor(X_val), torch.from_numpy(np.asarray(y_val)))
    return train_classifier(
        model, images_to_tensor(X_train), torch.from_numpy(np.asarray(y_train).astype(np.int64)), *val,
        epochs=epochs, batch_size=T01_DEFAULTS["batch_size"], lr=T01_DEFAULTS["lr"], weight_decay=1e-4, seed=seed,
        device=device, augment=RandomAffine(seed=seed) if augment else None, progress=progress,
        scheduler="onecycle", label_smoothing=0.05)


def train_mnist_classifier(epochs: int = T01_DEFAULTS["epochs"], seed: int = 0, n_train: int | None = None,
                           augment: bool = True, width: int = T01_DEFAULTS["width"],
                           embed_dim: int = T01_DEFAULTS["embed_dim"], device: str = "auto",
                           cache: bool = True, progress: bool = True, n_test: int = 1000, split_seed: int = 0):
    """"The t01 network": a ``DigitCNN`` trained on the training part of
    ``mnist_split(n_test, split_seed)`` (by default the workbook's split, whose ``X_test`` every
    notebook that reuses this network evaluates on; a notebook that draws its own split with other
    ``n_test``/``seed`` passes the same values here, so no image of its test part is trained on).

    Adam with a one-cycle learning-rate schedule, light label smoothing and (with
    ``augment``) random small rotations/shifts. ``n_train`` keeps a class-balanced
    subset of the 4,000 training images. Cached by ``core.cache.cached_model`` under a key
    of all arguments (except ``device``, ``cache``, ``progress``); the same arguments give
    the same weights on the same machine.

    Returns ``(model, history)``: the model in eval mode on the CPU, the per-epoch
    history DataFrame (see ``train_classifier``; ``seconds`` is the time of the run that
    built the cache).
    """
    from visrec_helpers.core.cache import cached_model
    from visrec_helpers.vision.models import DigitCNN

    split = mnist_split(n_test=n_test, seed=split_seed)
    X, y = split["X_train"], split["y_train"]
    if n_train is not None:
        if not 10 <= n_train <= len(y):
            raise ValueError(f"n_train={n_train} must be between 10 and {len(y)}")
        if n_train < len(y):
            keep, _ = stratified_split(y, len(y) - n_train, seed)
            X, y = X[keep], y[keep]

    def build():
        return init_weights_(DigitCNN(embed_dim=embed_dim, width=width, pool_size=T01_DEFAULTS["pool_size"]), seed)

    def train(model):
        history = _train_t01(model, X, y, split["X_test"], split["y_test"], epochs, seed, augment, device, progress)
        return {"history": {c: history[c].tolist() for c in history.columns}}

    params = {"epochs": epochs, "seed": seed, "n_train": len(y), "augment": augment, "width": width,
              "embed_dim": embed_dim, "recipe": T01_DEFAULTS}
    if (n_test, split_seed) != (1000, 0):  # the workbook's split keeps the key it has always had
        params["split"] = {"n_test": n_test, "seed": split_seed}
    model, extra = cached_model("t01_cnn", params, build, train, version=4, cache=cache)
    return model, pd.DataFrame(extra.get("history", {}))


# ---------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------

def plot_history(history: pd.DataFrame, ax=None, title: str | None = None):
    """Learning curves of a ``train_classifier`` history: loss (left axis) and accuracy
    (right axis) per epoch, train solid and validation dashed. Returns the left axis."""
    import matplotlib.pyplot as plt

    if not isinstance(history, pd.DataFrame) or history.empty or "epoch" not in history:
        raise ValueError("history must be a non-empty DataFrame from train_classifier (with an 'epoch' column)")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax2 = ax.twinx()
    for col, style in (("train_loss", "-"), ("val_loss", "--")):
        if col in history:
            ax.plot(history["epoch"], history[col], style, color="tab:red", label=col)
    for col, style in (("train_acc", "-"), ("val_acc", "--")):
        if col in history:
            ax2.plot(history["epoch"], history[col], style, color="tab:blue", label=col)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss", color="tab:red")
    ax2.set_ylabel("accuracy", color="tab:blue")
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], loc="center right", fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """``(n_classes, n_classes)`` int64 counts; row = true class, column = predicted."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError(f"y_true and y_pred must be equal-length non-empty 1-D arrays, got {y_true.shape} "
                         f"and {y_pred.shape}")
    if (y_true < 0).any() or (y_pred < 0).any():
        raise ValueError("labels must be non-negative integers")
    n = int(max(y_true.max(), y_pred.max()) + 1) if n_classes is None else n_classes
    if max(y_true.max(), y_pred.max()) >= n:
        raise ValueError(f"a label is >= n_classes={n}")
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    return cm


def plot_confusion(y_true, y_pred, labels=None, ax=None, normalize: bool = False, title: str | None = None):
    """Confusion matrix as an annotated heat map (rows true, columns predicted).

    Returns ``(ax, cm)`` with ``cm`` the count matrix (row-normalised when ``normalize``).
    """
    import matplotlib.pyplot as plt

    n = len(labels) if labels is not None else None
    cm = confusion_matrix(y_true, y_pred, n)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    ax.imshow(shown, cmap="Blues")
    names = labels if labels is not None else list(range(len(cm)))
    ax.set_xticks(range(len(cm)), names, fontsize=8)
    ax.set_yticks(range(len(cm)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    thresh = shown.max() / 2
    for i in range(len(cm)):
        for j in range(len(cm)):
            if cm[i, j]:
                txt = f"{shown[i, j]:.2f}" if normalize else str(cm[i, j])
                ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                        color="white" if shown[i, j] > thresh else "black")
    if title:
        ax.set_title(title)
    return ax, shown
