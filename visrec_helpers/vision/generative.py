"""Generative models for the digits: a small GAN that trains on CPU, its complete training
program (progress bar, loss history, sample grids per epoch, checkpoints and exact resume),
a class-conditional variant, sample-quality measures taken with the workbook's own
classifier, a mode-collapse demonstration, and latent-space search for one user.

Image conventions: the GAN works on ``(n, 1, 28, 28)`` float tensors in ``[-1, 1]``
(``tanh`` output); everything handed back to the caller is ``(n, 28, 28)`` uint8 in
0..255, the same as ``data.digits_catalog().images``. A classifier or encoder here is any
``nn.Module`` whose ``forward(x)`` gives class logits and whose ``embed(x)`` gives a
feature vector, for ``x`` of shape ``(b, 1, 28, 28)`` float in ``[0, 1]`` (``DigitCNN``).
"""

from __future__ import annotations

import copy
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from visrec_helpers.core.arrays import to_uint8
from visrec_helpers.core.checkpoints import load_checkpoint, save_checkpoint
from visrec_helpers.core.device import get_device
from visrec_helpers.core.errors import CheckpointError
from visrec_helpers.core.rng import init_weights_, torch_generator, weights_generator
from visrec_helpers.vision.training import images_to_tensor

IMAGE_SHAPE = (1, 28, 28)


# ---------------------------------------------------------------------------
# Conversions
# ---------------------------------------------------------------------------

def to_gan_range(images) -> torch.Tensor:
    """``(n, 28, 28)`` uint8 digits -> ``(n, 1, 28, 28)`` float32 in ``[-1, 1]``."""
    arr = np.asarray(images)
    if arr.ndim != 3 or arr.shape[1:] != (28, 28):
        raise ValueError(f"images must have shape (n, 28, 28), got {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"images must be uint8 in 0..255, got dtype {arr.dtype}")
    return images_to_tensor(arr) * 2.0 - 1.0


def from_gan_range(x: torch.Tensor) -> np.ndarray:
    """GAN output ``(n, 1, 28, 28)`` in ``[-1, 1]`` -> ``(n, 28, 28)`` uint8 in 0..255 (the inverse
    of ``to_gan_range``; values outside [-1, 1] are clamped)."""
    x = x.detach().float().cpu().clamp(-1, 1)
    return to_uint8((x[:, 0] + 1.0) / 2.0)


def _check_labels(labels, n: int, n_classes: int) -> torch.Tensor:
    y = np.asarray(labels)
    if y.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    return torch.from_numpy(y.astype(np.int64))


def load_training_images(data_dir=None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images the GAN learns from: ``(n, 28, 28)`` uint8, labels ``(n,)`` int64, label names.

    ``data_dir=None`` gives the 5,000 real MNIST digits of ``data.digits_catalog()``; a
    folder (sub-folders = labels) is read with ``data.load_image_folder``, resized to
    28x28 and turned to grayscale (the GAN's networks are sized for 28x28x1).
    """
    from visrec_helpers.data import digits_catalog, load_image_folder

    if data_dir is None:
        cat = digits_catalog()
        return cat.images, cat.labels, list(cat.label_names)
    cat = load_image_folder(data_dir, size=28)
    rgb = cat.images.astype(np.float32)
    gray = np.round(rgb[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32))
    return np.clip(gray, 0, 255).astype(np.uint8), cat.labels, list(cat.label_names)


def nearest_items(images, ref_images, k: int = 1) -> np.ndarray:
    """Indices ``(n, k)`` of the ``k`` nearest reference images of each image in *pixel* space
    (Euclidean over [0, 1] pixels), nearest first. Turns generated images into real catalog
    items, with a distance that shares no weights with any network: a fair check of a search
    that optimised against a network. Images ``(n, H, W)`` uint8, one size."""
    from sklearn.neighbors import NearestNeighbors

    a, r = np.asarray(images), np.asarray(ref_images)
    if a.ndim != 3 or r.ndim != 3 or a.shape[1:] != r.shape[1:] or len(a) == 0:
        raise ValueError(f"images {a.shape} and ref_images {r.shape} must be non-empty (n, H, W) of one size")
    if not 1 <= k <= len(r):
        raise ValueError(f"k={k} must be between 1 and the number of reference images {len(r)}")
    nn_index = NearestNeighbors(n_neighbors=k).fit(r.reshape(len(r), -1) / 255.0)
    return nn_index.kneighbors(a.reshape(len(a), -1) / 255.0, return_distance=False)


def utility_percentile(utility, items) -> float:
    """Mean percentile rank (0 = the user's worst item, 1 = their best) of ``items`` under one
    user's true ``utility`` ``(n_items,)``: comparable across users, 0.5 for random items."""
    u = np.asarray(utility, dtype=np.float64)
    idx = np.asarray(items).ravel()
    if u.ndim != 1 or len(u) < 2:
        raise ValueError(f"utility must be a 1-D array of at least 2 items, got shape {u.shape}")
    if len(idx) == 0 or not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= len(u):
        raise ValueError(f"items must be a non-empty array of item ids in 0..{len(u) - 1}")
    ranks = np.argsort(np.argsort(u, kind="stable"), kind="stable")
    return float((ranks[idx] / (len(u) - 1)).mean())


# ---------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------

class Generator(nn.Module):
    """Latent ``z`` ``(b, latent_dim)`` (plus a class label when conditional) -> image in ``[-1, 1]``.

    ``arch="mlp"``: two hidden layers (``hidden``, ``2 * hidden``) with LeakyReLU.
    ``arch="conv"``: a DCGAN-style stack: linear to ``2*hidden//4 x 7 x 7``, two
    transposed convolutions (7 -> 14 -> 28) with batch norm. The class label, when
    ``n_classes > 0``, enters as a learned embedding concatenated to ``z``.
    """

    def __init__(self, latent_dim: int = 64, hidden: int = 256, arch: str = "mlp", n_classes: int = 0):
        super().__init__()
        if arch not in ("mlp", "conv"):
            raise ValueError(f"arch must be 'mlp' or 'conv', got {arch!r}")
        self.latent_dim, self.arch, self.n_classes = latent_dim, arch, n_classes
        self.label_embed = nn.Embedding(n_classes, 16) if n_classes else None
        d_in = latent_dim + (16 if n_classes else 0)
        if arch == "mlp":
            self.net = nn.Sequential(
                nn.Linear(d_in, hidden), nn.LeakyReLU(0.2),
                nn.Linear(hidden, 2 * hidden), nn.LeakyReLU(0.2),
                nn.Linear(2 * hidden, 28 * 28), nn.Tanh(),
            )
        else:
            c = max(8, hidden // 4)
            self.net = nn.Sequential(
                nn.Linear(d_in, 2 * c * 7 * 7), nn.BatchNorm1d(2 * c * 7 * 7), nn.ReLU(),
                nn.Unflatten(1, (2 * c, 7, 7)),
                nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1), nn.BatchNorm2d(c), nn.ReLU(),  # 14x14
                nn.ConvTranspose2d(c, 1, 4, stride=2, padding=1), nn.Tanh(),  # 28x28
            )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_embed is not None:
            if labels is None:
                raise ValueError("this generator is conditional: pass labels")
            z = torch.cat([z, self.label_embed(labels)], dim=1)
        return self.net(z).view(-1, *IMAGE_SHAPE)


class Discriminator(nn.Module):
    """Image in ``[-1, 1]`` -> ``(logit, class_logits)``: one real/fake logit per image (no
    sigmoid: use BCE with logits) and, when ``n_classes > 0``, an auxiliary classifier head
    ``(b, n_classes)`` (AC-GAN, Odena et al. 2017; ``None`` otherwise). The head learns the
    classes of real images and the conditional generator is trained to make images it
    assigns to the requested class.
    """

    def __init__(self, hidden: int = 256, arch: str = "mlp", n_classes: int = 0):
        super().__init__()
        if arch not in ("mlp", "conv"):
            raise ValueError(f"arch must be 'mlp' or 'conv', got {arch!r}")
        if arch == "mlp":
            self.body = nn.Sequential(
                nn.Flatten(), nn.Linear(28 * 28, 2 * hidden), nn.LeakyReLU(0.2),
                nn.Linear(2 * hidden, hidden), nn.LeakyReLU(0.2),
            )
            d = hidden
        else:
            c = max(8, hidden // 4)
            self.body = nn.Sequential(
                nn.Conv2d(1, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 14x14
                nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 7x7
                nn.Flatten(),
            )
            d = 2 * c * 7 * 7
        self.out = nn.Linear(d, 1)
        self.classify = nn.Linear(d, n_classes) if n_classes else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.body(x)
        return self.out(h).squeeze(1), (self.classify(h) if self.classify is not None else None)


# ---------------------------------------------------------------------------
# The training program
# ---------------------------------------------------------------------------

class _Pair(nn.Module):
    """Generator, discriminator (and the generator's moving average, when kept) in one module,
    so one state dict holds them all."""

    def __init__(self, G: nn.Module, D: nn.Module, G_ema: nn.Module | None = None):
        super().__init__()
        self.G, self.D = G, D
        if G_ema is not None:
            self.G_ema = G_ema


def d_step(D: nn.Module, opt_d: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor,
           y_real: torch.Tensor | None = None, real_target: float = 0.9) -> tuple[float, float, float]:
    """One discriminator update: real images -> ``real_target`` (a smoothed 1), generated -> 0,
    binary cross-entropy on logits; with a class head (AC-GAN) D also learns to classify the
    real images. ``fake`` is detached, so this step cannot move the generator.
    Returns ``(loss, mean P(real) on real, mean P(real) on fake)``."""
    d_real, c_real = D(real)
    d_fake, _ = D(fake.detach())
    loss = (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, real_target))
            + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
    if c_real is not None:
        loss = loss + F.cross_entropy(c_real, y_real)
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.item(), torch.sigmoid(d_real).mean().item(), torch.sigmoid(d_fake).mean().item()


def g_step(D: nn.Module, opt_g: torch.optim.Optimizer, fake: torch.Tensor, y_fake: torch.Tensor | None = None,
           z: torch.Tensor | None = None, mode_seeking: float = 0.0, class_weight: float = 1.0) -> float:
    """One generator update with the non-saturating loss: maximise log D(G(z)) (target 1 for
    the fakes) instead of minimising log(1 - D(G(z))), whose gradient vanishes while D wins.
    With a class head, G is also trained so that D's head sees the requested class (that
    cross-entropy weighted by ``class_weight``). ``mode_seeking`` > 0 adds the mode-seeking term of MSGAN (Mao et al. 2019): the two halves
    of the batch ask for the same classes with different noise ``z``, and G pays
    ``mode_seeking / ratio``, ratio = mean |G(z1) - G(z2)| / mean |z1 - z2|, so different
    noise must give different images (against a class collapsing to one prototype).
    Only G's optimiser steps; D's gradients from this pass are cleared by the next ``d_step``."""
    out, c_fake = D(fake)
    loss = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
    if c_fake is not None:
        loss = loss + class_weight * F.cross_entropy(c_fake, y_fake)
    if mode_seeking:
        h = len(fake) // 2
        ratio = (fake[:h] - fake[h:2 * h]).abs().mean((1, 2, 3)) / (z[:h] - z[h:2 * h]).abs().mean(1)
        loss = loss + mode_seeking / (ratio.mean() + 1e-5)
    opt_g.zero_grad()
    loss.backward()
    opt_g.step()
    return loss.item()


@torch.no_grad()
def ema_update(ema_model: nn.Module, model: nn.Module, decay: float = 0.999) -> None:
    """Move ``ema_model``'s weights towards ``model``'s in place:
    ``ema = decay * ema + (1 - decay) * weight``; buffers (batch-norm statistics) are copied.
    Sampling from this average of the generator smooths out the step-to-step oscillation of
    GAN training."""
    for e, w in zip(ema_model.parameters(), model.parameters()):
        e.lerp_(w, 1.0 - decay)
    for e, b in zip(ema_model.buffers(), model.buffers()):
        e.copy_(b)


def gan_epoch(G: nn.Module, D: nn.Module, opt_g, opt_d, X: torch.Tensor, Y: torch.Tensor, batch_size: int,
              rng: torch.Generator, n_classes: int = 0, real_target: float = 0.9, G_ema: nn.Module | None = None,
              ema_decay: float = 0.999, device="cpu", mode_seeking: float = 0.0, class_weight: float = 1.0) -> dict:
    """One epoch over images ``X`` ``(n, 1, 28, 28)`` in [-1, 1] with labels ``Y`` ``(n,)``: per
    batch, draw noise (and requested classes; with ``mode_seeking`` the second half of the batch
    repeats the first half's classes), one D step, one G step, one EMA update. All randomness
    comes from ``rng``. Returns the epoch means of ``d_loss, g_loss, d_real, d_fake``."""
    G.train()
    D.train()
    perm = torch.randperm(len(X), generator=rng)
    n_batches = len(X) // batch_size  # drop the ragged last batch: steady batch statistics
    sums = np.zeros(4)
    for b in range(n_batches):
        idx = perm[b * batch_size:(b + 1) * batch_size]
        real, y_real = X[idx].to(device), Y[idx].to(device)
        z = torch.randn(len(idx), G.latent_dim, generator=rng).to(device)
        y_fake = torch.randint(0, n_classes, (len(idx),), generator=rng).to(device) if n_classes else None
        if mode_seeking and n_classes:
            y_fake[len(idx) // 2:2 * (len(idx) // 2)] = y_fake[:len(idx) // 2]
        fake = G(z, y_fake)
        d_loss, d_real, d_fake = d_step(D, opt_d, real, fake, y_real, real_target)
        g_loss = g_step(D, opt_g, fake, y_fake, z, mode_seeking, class_weight)
        if G_ema is not None:
            ema_update(G_ema, G, ema_decay)
        sums += [d_loss, g_loss, d_real, d_fake]
    return dict(zip(["d_loss", "g_loss", "d_real", "d_fake"], (sums / n_batches).tolist()))


class GAN:
    """A small GAN for 28x28 digits, trained with the non-saturating loss and Adam.

    Hyper-parameters (``__init__``): ``latent_dim``, ``hidden`` (width), ``arch``
    ("mlp" or "conv"), ``n_classes`` (0 = unconditional; 10 = conditional on the digit),
    ``lr``, ``beta1`` (Adam), ``batch_size``, ``label_smoothing`` (target for real images
    is ``1 - label_smoothing``), ``n_grid`` (fixed latent points drawn after every epoch),
    ``seed``, ``device``, ``ema_decay`` (0 = off; e.g. 0.999 keeps ``generator_ema_``, a moving
    average of the generator's weights, which ``generate``, ``sample`` and the grids then use),
    ``mode_seeking`` (0 = off; the weight of the mode-seeking term in ``g_step``), ``class_weight``
    (weight of the generator's class loss, conditional GANs).

    Learned state after ``fit``: ``generator_``, ``discriminator_``, ``generator_ema_``, ``history_``
    (one row per epoch: ``epoch, d_loss, g_loss, d_real, d_fake, seconds``; ``d_real`` /
    ``d_fake`` are the discriminator's mean probability of "real" on each kind),
    ``grids_`` (list of ``(n_grid, 28, 28)`` uint8 samples of the same latent points,
    one per epoch) and ``epochs_done_``.
    """

    def __init__(self, latent_dim: int = 64, hidden: int = 32, arch: str = "conv", n_classes: int = 0,
                 lr: float = 5e-4, beta1: float = 0.5, batch_size: int = 32, label_smoothing: float = 0.1,
                 n_grid: int = 16, seed: int = 0, device: str = "auto", ema_decay: float = 0.0,
                 mode_seeking: float = 0.0, class_weight: float = 1.0):
        self.latent_dim, self.hidden, self.arch, self.n_classes = latent_dim, hidden, arch, n_classes
        self.lr, self.beta1, self.batch_size, self.label_smoothing = lr, beta1, batch_size, label_smoothing
        self.n_grid, self.seed, self.device, self.ema_decay = n_grid, seed, device, ema_decay
        self.mode_seeking, self.class_weight = mode_seeking, class_weight

    # -- set-up -----------------------------------------------------------
    def _config(self) -> dict:
        keys = ("latent_dim", "hidden", "arch", "n_classes", "lr", "beta1", "batch_size", "label_smoothing",
                "n_grid", "seed", "ema_decay") + (("mode_seeking",) if self.mode_seeking else ()) + (
                ("class_weight",) if self.class_weight != 1.0 else ())
        return {k: getattr(self, k) for k in keys}

    def _build(self):
        if self.latent_dim < 1 or self.hidden < 8 or self.batch_size < 2:
            raise ValueError(f"latent_dim >= 1, hidden >= 8 and batch_size >= 2 are needed, got "
                             f"{self.latent_dim}, {self.hidden}, {self.batch_size}")
        self.device_ = get_device(self.device)
        if self.device_.type == "cuda":
            # Exact resume needs deterministic kernels; cuDNN's transposed-convolution backward
            # is not deterministic by default.
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        init = weights_generator(self.seed)  # one stream initialises G, then D
        self.generator_ = init_weights_(Generator(self.latent_dim, self.hidden, self.arch, self.n_classes),
                                        init).to(self.device_)
        self.discriminator_ = init_weights_(Discriminator(self.hidden, self.arch, self.n_classes), init).to(self.device_)
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        self.generator_ema_ = copy.deepcopy(self.generator_).eval() if self.ema_decay else None
        betas = (self.beta1, 0.999)
        self.opt_g_ = torch.optim.Adam(self.generator_.parameters(), lr=self.lr, betas=betas)
        self.opt_d_ = torch.optim.Adam(self.discriminator_.parameters(), lr=self.lr, betas=betas)
        # All training randomness (shuffling, noise, fake labels) comes from this one generator,
        # whose state is checkpointed, so a resumed run continues exactly.
        self._rng = torch_generator(self.seed)
        fixed = torch_generator(self.seed + 1)
        self._grid_z = torch.randn(self.n_grid, self.latent_dim, generator=fixed)
        self._grid_y = torch.arange(self.n_grid) % self.n_classes if self.n_classes else None
        self.history_, self.grids_, self.epochs_done_ = [], [], 0

    def reset(self) -> GAN:
        """Build fresh, untrained networks (the "epoch 0" baseline); returns ``self``."""
        self._build()
        return self

    def _state(self) -> tuple[_Pair, dict]:
        extra = {
            "config": self._config(), "epochs_done": self.epochs_done_, "history": list(self.history_),
            "grids": [torch.from_numpy(g) for g in self.grids_], "rng": self._rng.get_state(),
            "opt_g": self.opt_g_.state_dict(), "opt_d": self.opt_d_.state_dict(),
        }
        return _Pair(self.generator_, self.discriminator_, self.generator_ema_), extra

    def save(self, path) -> Path:
        """Write weights, optimiser states, RNG state, history and grids to ``path``."""
        if not hasattr(self, "generator_"):
            raise RuntimeError("GAN.save: nothing to save, call fit first")
        pair, extra = self._state()
        return save_checkpoint(pair, path, extra)

    def load(self, path, restore_state: bool = True) -> GAN:
        """Restore a checkpoint written by ``save`` into this (freshly built) GAN; returns ``self``.

        Loads with ``weights_only=True``. Raises ``CheckpointError`` when the file's
        hyper-parameters differ from this object's. ``restore_state=False`` restores the
        weights, history and epoch count only, with fresh optimisers and random stream: the
        common "resume" mistake, kept for demonstrating why it is one.
        """
        self._build()
        pair = _Pair(self.generator_, self.discriminator_, self.generator_ema_)
        path = Path(path)
        extra = load_checkpoint(pair, path, device=str(self.device_))
        if extra.get("config") != self._config():
            raise CheckpointError(f"{path}: saved with hyper-parameters {extra.get('config')}, "
                                  f"this GAN has {self._config()}")
        if restore_state:
            self.opt_g_.load_state_dict(extra["opt_g"])
            self.opt_d_.load_state_dict(extra["opt_d"])
            self._rng.set_state(extra["rng"])
        self.epochs_done_ = int(extra["epochs_done"])
        self.history_ = list(extra["history"])
        self.grids_ = [g.numpy() for g in extra["grids"]]
        return self

    @classmethod
    def from_checkpoint(cls, path, device: str = "auto") -> GAN:
        """A GAN rebuilt with the hyper-parameters stored in a ``save`` checkpoint, then loaded
        (both reads use ``weights_only=True``)."""
        path = Path(path)
        if not path.exists():
            raise CheckpointError(f"{path}: checkpoint file does not exist")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            config = dict(payload["extra"]["config"])
        except Exception as exc:  # unreadable file or not a GAN checkpoint
            raise CheckpointError(f"{path}: not a GAN checkpoint ({type(exc).__name__}: {exc})") from None
        return cls(**config, device=device).load(path)

    # -- training ---------------------------------------------------------
    def fit(self, images, labels=None, epochs: int = 10, checkpoint=None, resume: bool = False,
            keep_all: bool = False, on_epoch=None, progress: bool = True) -> GAN:
        """Train until ``epochs`` epochs in total have run; returns ``self``.

        images: ``(n, 28, 28)`` uint8. labels: ``(n,)`` ints in ``0..n_classes-1``
        (required when conditional, ignored otherwise). ``checkpoint``: a path written
        after every epoch. ``resume=True`` continues from that file when it exists (the
        continuation equals an uninterrupted run), or else from this object's current state
        when it has been fitted or loaded already. ``keep_all=True`` also keeps a copy per
        epoch, ``<stem>.epoch003<suffix>`` (see ``epoch_checkpoint``). ``on_epoch(gan, epoch)`` is called
        after each epoch (for example to measure sample quality during training); a dict it
        returns is added to that epoch's history row.
        """
        from tqdm.auto import tqdm

        X = to_gan_range(images)
        if len(X) < self.batch_size:
            raise ValueError(f"need at least batch_size={self.batch_size} images, got {len(X)}")
        if self.n_classes:
            if labels is None:
                raise ValueError("a conditional GAN (n_classes > 0) needs labels")
            Y = _check_labels(labels, len(X), self.n_classes)
        else:
            Y = torch.zeros(len(X), dtype=torch.long)
        if not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
        if resume and checkpoint is not None and Path(checkpoint).exists():
            self.load(checkpoint)
        elif resume and hasattr(self, "generator_"):
            pass  # continue in memory
        elif resume and checkpoint is None:
            raise ValueError("resume=True needs a checkpoint path or a GAN that was fitted or loaded")
        else:
            self._build()
        G, D, dev = self.generator_, self.discriminator_, self.device_
        bar = tqdm(range(self.epochs_done_, epochs), desc="GAN epochs", disable=not progress, leave=False)
        for epoch in bar:
            t0 = time.perf_counter()
            means = gan_epoch(G, D, self.opt_g_, self.opt_d_, X, Y, self.batch_size, self._rng, self.n_classes,
                              1.0 - self.label_smoothing, self.generator_ema_, self.ema_decay, dev,
                              self.mode_seeking, self.class_weight)
            self.epochs_done_ = epoch + 1
            row = {"epoch": epoch + 1, **means, "seconds": time.perf_counter() - t0}
            self.history_.append(row)
            self.grids_.append(self._grid_images())
            bar.set_postfix({k: round(v, 3) for k, v in row.items() if k != "epoch"})
            if checkpoint is not None:
                self.save(checkpoint)
                if keep_all:
                    shutil.copyfile(checkpoint, epoch_checkpoint(checkpoint, epoch + 1))
            if on_epoch is not None:
                measured = on_epoch(self, epoch + 1)
                if isinstance(measured, dict):  # figures measured after the epoch join its history row
                    self.history_[-1].update(measured)
        G.eval()
        D.eval()
        return self

    @property
    def history(self) -> pd.DataFrame:
        """``history_`` as a DataFrame."""
        return pd.DataFrame(self.history_)

    # -- sampling ---------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "generator_"):
            raise RuntimeError("this GAN is not fitted yet: call fit (or load) first")

    @property
    def sampler_(self) -> nn.Module:
        """The network that draws samples: the moving-average generator when kept, else ``generator_``."""
        ema = getattr(self, "generator_ema_", None)
        return ema if ema is not None else self.generator_

    @torch.no_grad()
    def _grid_images(self) -> np.ndarray:
        G = self.sampler_
        was_training = G.training
        G.eval()
        y = self._grid_y.to(self.device_) if self._grid_y is not None else None
        out = from_gan_range(G(self._grid_z.to(self.device_), y))
        G.train(was_training)
        return out

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Differentiable: ``z`` ``(b, latent_dim)`` -> images ``(b, 1, 28, 28)`` in ``[0, 1]`` (eval mode)."""
        self._check_fitted()
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (b, {self.latent_dim}), got {tuple(z.shape)}")
        G = self.sampler_.eval()
        if self.n_classes and labels is not None:
            labels = labels.to(self.device_)
        return (G(z.to(self.device_), labels) + 1.0) / 2.0

    def sample(self, n: int, labels=None, seed: int = 0) -> np.ndarray:
        """``n`` new digits as ``(n, 28, 28)`` uint8. A conditional GAN takes ``labels``
        ``(n,)`` (default: classes in turn, 0, 1, ..., 9, 0, ...)."""
        self._check_fitted()
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        z = torch.randn(n, self.latent_dim, generator=torch_generator(seed))
        y = None
        if self.n_classes:
            y = torch.arange(n) % self.n_classes if labels is None else _check_labels(labels, n, self.n_classes)
        with torch.no_grad():
            return np.concatenate([to_uint8(self.generate(z[s:s + 500], None if y is None else y[s:s + 500])[:, 0])
                                   for s in range(0, n, 500)])


def epoch_checkpoint(checkpoint, epoch: int) -> Path:
    """Path of the per-epoch copy that ``fit(..., keep_all=True)`` writes after ``epoch``."""
    p = Path(checkpoint)
    return p.with_name(f"{p.stem}.epoch{epoch:03d}{p.suffix}")


def train_gan(images, labels=None, epochs: int = 10, checkpoint=None, resume: bool = False,
              keep_all: bool = False, on_epoch=None, progress: bool = True, **hyper) -> GAN:
    """The complete training program in one call: ``GAN(**hyper).fit(images, labels, ...)``.

    Progress bar, per-epoch loss history (``gan.history``), a sample grid of fixed latent
    points per epoch (``gan.grids_``), a checkpoint after every epoch and exact resume.
    """
    return GAN(**hyper).fit(images, labels, epochs=epochs, checkpoint=checkpoint, resume=resume,
                            keep_all=keep_all, on_epoch=on_epoch, progress=progress)


def cached_gan(images, labels=None, epochs: int = 10, *, data_key: str, on_epoch=None, measure_key=None,
               cache: bool = True, progress: bool = True, **hyper) -> GAN:
    """``GAN(**hyper).fit(images, labels, epochs=epochs, on_epoch=on_epoch)``, trained once per
    machine: the weights (generator, discriminator, moving-average generator), the history
    (with whatever ``on_epoch`` measured) and the per-epoch grids are kept by
    ``core.cache.cached_model`` under a key of ``hyper``, ``epochs``, ``data_key`` (a name for
    the training images, e.g. ``"mnist_split.train"``) and ``measure_key`` (a name for what
    ``on_epoch`` measures, since its figures are stored with the history). Later calls with
    the same key load instead of training (t05 trains, q12 reuses). The returned GAN samples
    and plots like a fitted one; its optimiser states are not kept, so it cannot be resumed.
    """
    from visrec_helpers.core.cache import cached_model

    if not isinstance(data_key, str) or not data_key:
        raise ValueError(f"data_key must be a non-empty string naming the training images, got {data_key!r}")
    gan = GAN(**hyper)

    def build():
        gan._build()
        return _Pair(gan.generator_, gan.discriminator_, gan.generator_ema_)

    def train(pair):
        gan.fit(images, labels, epochs=epochs, resume=True, on_epoch=on_epoch, progress=progress)
        return {"history": list(gan.history_), "grids": torch.from_numpy(np.stack(gan.grids_))}

    params = {"config": gan._config(), "epochs": int(epochs), "data": data_key, "measure": measure_key}
    pair, extra = cached_model("gan", params, build, train, version=1, cache=cache)
    pair.to(gan.device_)
    gan.history_ = [dict(row) for row in extra["history"]]
    gan.grids_ = [g.numpy() for g in extra["grids"]]
    gan.epochs_done_ = len(gan.history_)
    return gan


# ---------------------------------------------------------------------------
# Sample quality, measured with a classifier
# ---------------------------------------------------------------------------

@torch.no_grad()
def classifier_outputs(classifier: nn.Module, images, batch_size: int = 500,
                       device: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities ``(n, C)`` and features ``(n, d)`` (``classifier.embed``, not
    normalised) of ``(n, 28, 28)`` uint8 images, both float64."""
    arr = np.asarray(images)
    if arr.ndim != 3 or len(arr) == 0:
        raise ValueError(f"images must be a non-empty (n, H, W) array, got shape {arr.shape}")
    if not hasattr(classifier, "embed"):
        raise TypeError(f"classifier must have an .embed() method, got {type(classifier).__name__}")
    dev = get_device(device)
    classifier = classifier.to(dev).eval()
    probs, feats = [], []
    for s in range(0, len(arr), batch_size):
        x = images_to_tensor(arr[s:s + batch_size]).to(dev)
        h = classifier.embed(x)
        logits = classifier.head(h) if hasattr(classifier, "head") else classifier(x)
        probs.append(torch.softmax(logits.float(), 1).cpu().numpy())
        feats.append(h.float().cpu().numpy())
    return np.concatenate(probs).astype(np.float64), np.concatenate(feats).astype(np.float64)


def mean_confidence(probs) -> float:
    """Mean over samples of the classifier's top class probability (1 = always certain)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError(f"probs must be a non-empty (n, C) array, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("probs contain NaN or infinite values")
    return float(p.max(1).mean())


def class_coverage(predicted, n_classes: int = 10, min_share: float = 0.0) -> float:
    """Share of the ``n_classes`` classes that receive more than ``min_share`` of the predictions.

    ``class_coverage([0, 0, 1, 2], 10) == 0.3``. A collapsed generator scores low even
    when every sample it makes is a confident, clean digit.
    """
    y = np.asarray(predicted)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"predicted must be a non-empty 1-D array of class ids, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"predicted must hold integer class ids in 0..{n_classes - 1}")
    share = np.bincount(y, minlength=n_classes) / len(y)
    return float((share > min_share).mean())


def gaussian_frechet(mu1, cov1, mu2, cov2) -> float:
    """Frechet distance between two Gaussians:
    ``|mu1 - mu2|^2 + tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2))``."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, float)), np.atleast_1d(np.asarray(mu2, float))
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, float)), np.atleast_2d(np.asarray(cov2, float))
    d = len(mu1)
    if mu2.shape != (d,) or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(f"shapes do not match: mu1 {mu1.shape}, mu2 {mu2.shape}, cov1 {cov1.shape}, cov2 {cov2.shape}")
    for name, a in (("mu1", mu1), ("mu2", mu2), ("cov1", cov1), ("cov2", cov2)):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    # tr((cov1 cov2)^(1/2)) = sum of sqrt(eigenvalues) of the symmetric PSD matrix
    # cov1^(1/2) cov2 cov1^(1/2): stable where a plain sqrtm of cov1 @ cov2 warns (singular).
    w1, v1 = linalg.eigh((cov1 + cov1.T) / 2)
    root1 = (v1 * np.sqrt(np.clip(w1, 0, None))) @ v1.T
    middle = root1 @ ((cov2 + cov2.T) / 2) @ root1
    tr_covmean = np.sqrt(np.clip(linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_covmean, 0.0))


def frechet_distance(feats_a, feats_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets ``(n_a, d)``, ``(n_b, d)``
    (FID when the features come from Inception; here from the workbook's classifier)."""
    a, b = np.asarray(feats_a, float), np.asarray(feats_b, float)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature arrays must be (n, d) with the same d, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each feature set needs at least 2 rows to estimate a covariance")
    return gaussian_frechet(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def pixel_diversity(images) -> float:
    """Mean L2 distance between consecutive pairs of ``(n, H, W)`` uint8 images, pixels in [0, 1],
    divided by sqrt(H*W): 0 when all images are identical."""
    x = np.asarray(images, dtype=np.float64) / 255.0
    if x.ndim != 3 or len(x) < 2:
        raise ValueError(f"need at least 2 images of shape (H, W), got {x.shape}")
    flat = x.reshape(len(x), -1)
    return float(np.linalg.norm(flat[1:] - flat[:-1], axis=1).mean() / np.sqrt(flat.shape[1]))


def sample_quality(images, classifier, reference_images, reference=None, n_classes: int = 10,
                   min_share: float = 0.02) -> dict:
    """Quality figures of generated ``images`` measured with ``classifier``:
    ``confidence`` (mean top probability), ``coverage`` (classes with more than ``min_share``
    of the samples), ``frechet`` (Frechet distance of the classifier's features to those of
    ``reference_images``) and ``diversity`` (``pixel_diversity``). Pass ``reference`` (the
    ``classifier_outputs`` of the reference images) to avoid recomputing them."""
    probs, feats = classifier_outputs(classifier, images)
    _, ref_feats = reference if reference is not None else classifier_outputs(classifier, reference_images)
    return {"confidence": mean_confidence(probs),
            "coverage": class_coverage(probs.argmax(1), n_classes, min_share),
            "frechet": frechet_distance(feats, ref_feats),
            "diversity": pixel_diversity(images)}


def class_accuracy(gan: GAN, classifier: nn.Module, n_per_class: int = 100, seed: int = 0) -> pd.DataFrame:
    """For a conditional GAN: ask for ``n_per_class`` samples of each class and report the
    share the classifier assigns to the requested class. Columns ``class, accuracy, confidence``;
    the mean over classes is the headline figure."""
    if not gan.n_classes:
        raise ValueError("class_accuracy needs a conditional GAN (n_classes > 0)")
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    y = np.repeat(np.arange(gan.n_classes), n_per_class)
    probs, _ = classifier_outputs(classifier, gan.sample(len(y), labels=y, seed=seed))
    pred = probs.argmax(1)
    return pd.DataFrame({"class": np.arange(gan.n_classes),
                         "accuracy": [(pred[y == c] == c).mean() for c in range(gan.n_classes)],
                         "confidence": [probs[y == c, c].mean() for c in range(gan.n_classes)]})


def judge_measure(judge: nn.Module, reference_feats, n: int = 500, seed: int = 0, n_classes: int = 10,
                  device: str = "auto"):
    """An ``on_epoch`` hook (see ``GAN.fit``) for a conditional GAN: ``n`` samples of fixed noise
    ``seed`` (classes in turn) judged by ``judge``: ``frechet`` (distance of the judge's features
    to ``reference_feats`` ``(m, d)``) and ``class_accuracy`` (share read as the requested class)."""
    if n < n_classes:
        raise ValueError(f"n={n} must be at least n_classes={n_classes}")
    labels = np.arange(n) % n_classes

    def measure(gan: GAN, epoch: int) -> dict:
        probs, feats = classifier_outputs(judge, gan.sample(n, labels=labels, seed=seed), device=device)
        return {"frechet": frechet_distance(feats, reference_feats),
                "class_accuracy": float((probs.argmax(1) == labels).mean())}

    return measure


DIGIT_GAN_DEFAULTS = {"epochs": 12, "hidden": 64, "batch_size": 64, "lr": 2e-4, "ema_decay": 0.99,
                      "mode_seeking": 0.1, "class_weight": 2.0, "judge_epochs": 12, "n_samples": 500}


def digit_gan(epochs: int = DIGIT_GAN_DEFAULTS["epochs"], hidden: int = DIGIT_GAN_DEFAULTS["hidden"],
              batch_size: int = DIGIT_GAN_DEFAULTS["batch_size"], lr: float = DIGIT_GAN_DEFAULTS["lr"],
              ema_decay: float = DIGIT_GAN_DEFAULTS["ema_decay"],
              mode_seeking: float = DIGIT_GAN_DEFAULTS["mode_seeking"],
              class_weight: float = DIGIT_GAN_DEFAULTS["class_weight"],
              judge_epochs: int = DIGIT_GAN_DEFAULTS["judge_epochs"], n_samples: int = DIGIT_GAN_DEFAULTS["n_samples"],
              seed: int = 0, device: str = "auto", progress: bool = True) -> tuple[GAN, nn.Module]:
    """t05's conditional GAN: trained on the 4,000 training digits of ``training.mnist_split()``
    and judged after every epoch (``judge_measure`` on ``n_samples`` samples, against the 1,000
    held-out digits) by the t01 network ``training.train_mnist_classifier(judge_epochs)``.
    Cached (``cached_gan``): t05 trains it, q12 loads the same model. Returns ``(gan, judge)``;
    ``gan.history`` holds ``frechet`` and ``class_accuracy`` per epoch."""
    from visrec_helpers.vision.training import mnist_split, train_mnist_classifier

    split = mnist_split()
    judge, _ = train_mnist_classifier(epochs=judge_epochs, device=device, progress=progress)
    _, ref_feats = classifier_outputs(judge, split["X_test"], device=device)
    hyper = dict(latent_dim=64, hidden=hidden, arch="conv", n_classes=10, lr=lr, batch_size=batch_size,
                 label_smoothing=0.1, ema_decay=ema_decay, mode_seeking=mode_seeking,
                 class_weight=class_weight, seed=seed, device=device)
    gan = cached_gan(split["X_train"], split["y_train"], epochs=epochs, data_key="mnist_split.train",
                     on_epoch=judge_measure(judge, ref_feats, n_samples, seed, device=device),
                     measure_key=f"t01 judge {judge_epochs} epochs, {n_samples} samples, held-out reference",
                     progress=progress, **hyper)
    return gan, judge


# ---------------------------------------------------------------------------
# Mode collapse, shown
# ---------------------------------------------------------------------------

def collapse_generator(gan: GAN, steps: int = 100, lr: float = 3e-3, batch_size: int = 64,
                       progress: bool = False) -> GAN:
    """A copy of ``gan`` whose generator was trained ``steps`` more steps against a *frozen*
    discriminator: the generator's best reply to a fixed critic is to put every sample on
    the few images that critic likes most, which is mode collapse in its plainest form.
    The input ``gan`` is left untouched."""
    from tqdm.auto import tqdm

    gan._check_fitted()
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    out = copy.copy(gan)
    out.generator_ = copy.deepcopy(gan.generator_).train()
    out.generator_ema_ = None  # the collapsed copy samples from the generator it trains
    D = gan.discriminator_.eval()
    for p in D.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(out.generator_.parameters(), lr=lr, betas=(0.5, 0.999))
    rng = torch_generator(gan.seed + 7)
    try:
        for _ in tqdm(range(steps), desc="generator vs frozen critic", disable=not progress, leave=False):
            z = torch.randn(batch_size, gan.latent_dim, generator=rng).to(gan.device_)
            y = (torch.randint(0, gan.n_classes, (batch_size,), generator=rng).to(gan.device_)
                 if gan.n_classes else None)
            logit, _ = D(out.generator_(z, y))
            loss = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        for p in D.parameters():
            p.requires_grad_(True)
    out.generator_.eval()
    return out


# ---------------------------------------------------------------------------
# Latent-space search for one user
# ---------------------------------------------------------------------------

def preference_profile(history_embeddings, weights=None, center=None) -> np.ndarray:
    """A user's taste as one unit vector: the (weighted) mean of their history's L2-normalised
    embeddings ``(n, d)``, normalised again. ``weights`` ``(n,)`` >= 0 (e.g. 3 for a like).
    ``center`` ``(d,)``: subtracted from each normalised embedding first (then renormalised);
    with ReLU features all cosines are high, and centring on the catalog mean spreads them."""
    e = np.asarray(history_embeddings, dtype=np.float64)
    if e.ndim != 2 or len(e) == 0:
        raise ValueError(f"history_embeddings must be a non-empty (n, d) array, got shape {e.shape}")
    if not np.isfinite(e).all():
        raise ValueError("history_embeddings contain NaN or infinite values")
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    if center is not None:
        c = np.asarray(center, dtype=np.float64)
        if c.shape != (e.shape[1],):
            raise ValueError(f"center has shape {c.shape}, expected ({e.shape[1]},)")
        e = e - c
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    w = np.ones(len(e)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(e),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be ({len(e)},) non-negative with a positive sum")
    p = (w[:, None] * e).sum(0)
    norm = np.linalg.norm(p)
    if norm < 1e-12:
        raise ValueError("the history embeddings cancel out: the profile has zero length")
    return (p / norm).astype(np.float32)


def profile_scores(gan: GAN, encoder: nn.Module, z: torch.Tensor, profile: torch.Tensor,
                   center: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
    """``(n,)`` preference scores of the images ``G(z)`` (with ``labels`` for a conditional GAN):
    the cosine of each normalised embedding (minus ``center``, then re-normalised) to the unit
    ``profile``. Differentiable in ``z`` (``latent_search`` ascends it)."""
    e = F.normalize(encoder.embed(gan.generate(z, labels)), dim=1)
    if center is not None:
        e = F.normalize(e - center, dim=1)
    return e @ profile


@dataclass
class LatentSearchResult:
    """``images`` ``(k, 28, 28)`` uint8 best first with their ``scores`` (cosine to the
    profile); ``random_scores`` of every random candidate before search; ``z`` the latent
    points ``(k, latent_dim)``; ``refined_gain`` the mean score added by gradient ascent;
    ``start_images`` / ``start_scores`` the best ``k`` random candidates before refinement;
    ``labels`` ``(k,)`` the class of each image (conditional GAN; ``None`` otherwise)."""

    images: np.ndarray
    scores: np.ndarray
    z: np.ndarray
    random_scores: np.ndarray
    refined_gain: float
    start_images: np.ndarray
    start_scores: np.ndarray
    labels: np.ndarray | None = None


def latent_search_inputs(gan: GAN, encoder: nn.Module, profile, k: int, n_candidates: int, center):
    """Checked inputs of ``latent_search``: the unit profile and the centre as tensors on the GAN's device."""
    gan._check_fitted()
    if not 1 <= k <= n_candidates:
        raise ValueError(f"k={k} must be between 1 and n_candidates={n_candidates}")
    p = np.asarray(profile, dtype=np.float32)
    if p.ndim != 1 or not np.isfinite(p).all():
        raise ValueError(f"profile must be a finite 1-D vector, got shape {p.shape}")
    encoder.to(gan.device_).eval()
    prof = F.normalize(torch.from_numpy(p).to(gan.device_), dim=0)
    with torch.no_grad():
        y0 = torch.zeros(1, dtype=torch.long) if gan.n_classes else None
        dim = encoder.embed(gan.generate(torch.zeros(1, gan.latent_dim), y0)).shape[1]
    if prof.numel() != dim:
        raise ValueError(f"profile has length {prof.numel()} but the encoder's embeddings have {dim}")
    if center is not None:
        center = torch.as_tensor(np.asarray(center, dtype=np.float32)).to(gan.device_)
        if center.shape != prof.shape:
            raise ValueError(f"center has shape {tuple(center.shape)}, expected {tuple(prof.shape)}")
    return prof, center


def latent_search(gan: GAN, encoder: nn.Module, profile, k: int = 8, n_candidates: int = 1000,
                  steps: int = 30, lr: float = 0.05, center=None, seed: int = 0,
                  progress: bool = False) -> LatentSearchResult:
    """Find ``k`` generated images that maximise one user's preference score
    ``cos(profile, embed(G(z)))``: draw ``n_candidates`` random ``z`` (a conditional GAN gets
    the classes in turn), keep the best ``k``, then refine their ``z`` (classes fixed) by
    ``steps`` of gradient ascent, projecting back onto the sphere of radius
    ``sqrt(latent_dim)`` after each step (where Gaussian latents live) so the search stays
    where the generator was trained. ``center`` (optional, ``(d,)``): subtracted from every
    normalised embedding before the cosine (build ``profile`` with the same centre, see
    ``preference_profile``). ``encoder`` needs ``.embed``; only ``z`` is updated."""
    from tqdm.auto import tqdm

    prof, center = latent_search_inputs(gan, encoder, profile, k, n_candidates, center)
    z = torch.randn(n_candidates, gan.latent_dim, generator=torch_generator(seed)).to(gan.device_)
    y = (torch.arange(n_candidates) % gan.n_classes).to(gan.device_) if gan.n_classes else None
    with torch.no_grad():  # 1. score the random candidates, keep the best k
        rand = torch.cat([profile_scores(gan, encoder, z[s:s + 500], prof, center, None if y is None else y[s:s + 500])
                          for s in range(0, len(z), 500)])
    top = torch.argsort(rand, descending=True)[:k]
    zk, yk = z[top].clone().requires_grad_(True), (None if y is None else y[top])
    opt = torch.optim.Adam([zk], lr=lr)
    radius = float(np.sqrt(gan.latent_dim))
    for _ in tqdm(range(steps), desc="latent search", disable=not progress, leave=False):
        # 2. gradient ascent on z alone (no gradient reaches the networks), then back onto the shell
        (zk.grad,) = torch.autograd.grad(-profile_scores(gan, encoder, zk, prof, center, yk).sum(), zk)
        opt.step()
        with torch.no_grad():
            zk.mul_(radius / zk.norm(dim=1, keepdim=True))
    with torch.no_grad():
        final = profile_scores(gan, encoder, zk, prof, center, yk)
        order = torch.argsort(final, descending=True)
        images = to_uint8(gan.generate(zk[order], None if yk is None else yk[order])[:, 0])
        start_images = to_uint8(gan.generate(z[top], yk)[:, 0])
    return LatentSearchResult(images, final[order].cpu().numpy(), zk[order].detach().cpu().numpy(),
                              rand.cpu().numpy(), float(final.mean() - rand[top].mean()), start_images,
                              rand[top].cpu().numpy(), None if yk is None else yk[order].cpu().numpy())


# ---------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------

def plot_losses(history: pd.DataFrame, ax=None, title: str = "GAN training"):
    """Discriminator and generator losses per epoch, with D's mean "real" probability on
    real and fake images on a second axis."""
    import matplotlib.pyplot as plt

    h = pd.DataFrame(history)
    if h.empty:
        raise ValueError("plot_losses: empty history")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(h["epoch"], h["d_loss"], marker="o", label="D loss")
    ax.plot(h["epoch"], h["g_loss"], marker="o", label="G loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax2 = ax.twinx()
    ax2.plot(h["epoch"], h["d_real"], ls="--", color="tab:green", label="D(real)")
    ax2.plot(h["epoch"], h["d_fake"], ls="--", color="tab:red", label="D(fake)")
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("mean probability 'real'")
    lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(lines, [ln.get_label() for ln in lines], fontsize=8, loc="upper right")
    ax.set_title(title)
    return ax


def plot_grids(grids, epochs=None, n_show: int = 10, size: float = 0.9):
    """One row per chosen epoch of the fixed-latent sample grids: the same ``z`` over training."""
    import matplotlib.pyplot as plt

    if len(grids) == 0:
        raise ValueError("plot_grids: no grids to show")
    epochs = list(range(1, len(grids) + 1)) if epochs is None else list(epochs)
    n_show = min(n_show, len(grids[0]))
    fig, axes = plt.subplots(len(epochs), n_show, figsize=(size * n_show, size * len(epochs) + 0.3),
                             squeeze=False)
    for r, e in enumerate(epochs):
        for c in range(n_show):
            ax = axes[r, c]
            ax.imshow(grids[e - 1][c], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"ep {e}", fontsize=8)
    fig.tight_layout()
    return fig
