"""One training loop for every notebook: seeded, device "auto", progress bar, history
table, early stopping, learning-rate schedules, and safe checkpoints (loaded with
``weights_only=True``).

Also here: batch augmentation (``RandomAffine``), the workbook's held-out MNIST split
(``mnist_split``), "the t01 network" (``fit_image_classifier`` for any images,
``train_mnist_classifier`` cached for MNIST, reused by t06, t07, q02, q08, q12, q13), and
the plots of a run (``plot_history``, ``plot_confusion``).
"""

from __future__ import annotations

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
from visrec_helpers.core.rng import init_weights_, torch_generator


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


def _keep_frozen_norms_in_eval(model: nn.Module) -> None:
    """A frozen batch-norm layer must not update its running statistics either."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
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


def train_epoch(model: nn.Module, loader, opt: torch.optim.Optimizer, loss_fn, device,
                augment=None, sched=None) -> tuple[float, float]:
    """One pass over ``loader`` (batches ``(x, y)``): for each batch, augment, forward, loss,
    backward, optimiser step and (per batch) scheduler step. Returns the epoch's mean training
    loss and accuracy, weighted by batch size."""
    model.train()
    _keep_frozen_norms_in_eval(model)  # frozen batch-norm layers keep their statistics
    tot_loss, tot_acc, seen = 0.0, 0.0, 0
    for xb, yb in loader:
        xb, yb = xb.to(device), yb.to(device)
        if augment is not None:
            xb = augment(xb)
        opt.zero_grad()
        logits = model(xb)
        loss = loss_fn(logits, yb)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        tot_loss += loss.item() * len(xb)
        tot_acc += _batch_accuracy(logits.detach(), yb) * len(xb)
        seen += len(xb)
    return tot_loss / seen, tot_acc / seen


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
    """Train ``model`` in place with Adam (or ``optimizer``) and cross-entropy (or ``loss_fn``).

    Returns the per-epoch history as a DataFrame with columns ``epoch, train_loss,
    train_acc, val_loss, val_acc, seconds``. With ``patience``, training stops when the
    validation loss has not improved for that many epochs and the best weights are
    restored. ``augment`` is an optional function applied to each input batch.
    ``y`` is ``(n,)`` int64 labels, or ``(n, 1 + k)`` float rows whose column 0 is the
    label and the rest extra targets for a custom ``loss_fn`` (teacher logits in
    distillation); accuracy always uses the label.
    ``scheduler``: ``None`` (constant rate), ``"onecycle"`` (warm up then anneal, the
    fastest way to a good model in a fixed number of epochs) or ``"cosine"``; it
    drives every parameter group of the optimizer, so per-group rates are kept in ratio.
    ``label_smoothing`` is passed to the default cross-entropy loss.
    ``seed`` fixes the batch order (a local ``torch.Generator``; the global random state is
    neither read nor changed). Initialise the model's weights from a seed before calling
    (``core.rng.init_weights_``) for a fully reproducible run.
    """
    from tqdm.auto import tqdm

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
    dev = get_device(device)
    model.to(dev)
    loss_fn = loss_fn or nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer is None and not params:
        raise ValueError("model has no trainable parameters (everything is frozen)")
    opt = optimizer or torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    gen = torch_generator(seed)
    loader = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True, generator=gen)
    sched = None
    if scheduler == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=[g["lr"] for g in opt.param_groups], epochs=epochs, steps_per_epoch=len(loader))
    elif scheduler == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(loader))
    history, best, best_state, waited = [], np.inf, None, 0
    bar = tqdm(range(epochs), desc="epochs", disable=not progress, leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        train_loss, train_acc = train_epoch(model, loader, opt, loss_fn, dev, augment, sched)
        row = {"epoch": epoch + 1, "train_loss": train_loss, "train_acc": train_acc}
        if X_val is not None:
            logits = torch.from_numpy(predict(model, X_val, device=dev))
            yv = _labels(y_val.cpu())
            row["val_loss"] = nn.functional.cross_entropy(logits, yv).item()
            row["val_acc"] = _batch_accuracy(logits, yv)
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
