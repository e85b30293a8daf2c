"""The workbook's small CNN trained on any image array, supervised or self-supervised (q03).

``features.train_encoder`` trains on the two bundled catalogs by name; ``train_small_encoder``
takes the images themselves (emoji, photo tiles, your own), so a notebook can train on
exactly its training split. Same network (``features.SmallCNN`` inside an
``ImageEncoder`` that resizes to ``input_size``), same two methods: ``"supervised"``
(cross-entropy on ``labels``) and ``"simclr"`` (two augmented views of each image must find
each other, ``features.nt_xent_loss``; labels unused). Weights are cached by
``core.cache.cached_model`` under a key of the image bytes and every argument.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from visrec_helpers.core.cache import cached_model
from visrec_helpers.core.rng import init_weights_
from visrec_helpers.vision.features import ImageEncoder, SmallCNN, _train_simclr
from visrec_helpers.vision.training import images_to_tensor, train_classifier

METHODS = ("supervised", "simclr")


def train_small_encoder(images: np.ndarray, labels=None, *, method: str = "supervised", epochs: int = 10,
                        input_size: int = 32, embed_dim: int = 64, width: int = 16, batch_size: int = 64,
                        lr: float = 3e-3, temperature: float = 0.2, seed: int = 0, device: str = "auto",
                        cache: bool = True, progress: bool = False) -> ImageEncoder:
    """A ``SmallCNN`` encoder trained on ``images`` ``(n, H, W[, 3]) uint8``; eval mode, on the CPU.

    ``labels`` ``(n,)`` int (needed for ``"supervised"``, ignored by ``"simclr"``). Images are
    resized to ``input_size`` inside the encoder. ``history_`` holds the loss per epoch.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} must be one of {METHODS}")
    images = np.ascontiguousarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or len(images) < 2:
        raise ValueError(f"images must be a uint8 array (n >= 2, H, W[, C]), got {images.dtype} {images.shape}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be a positive integer")
    y = None
    if method == "supervised":
        if labels is None:
            raise ValueError("method='supervised' needs labels")
        y = np.asarray(labels, dtype=np.int64)
        if y.shape != (len(images),) or y.min() < 0:
            raise ValueError(f"labels must be (n,) = ({len(images)},) non-negative ints, got shape {y.shape}")
    n_classes = int(y.max()) + 1 if y is not None else 2
    channels = 1 if images.ndim == 3 else images.shape[-1]

    def build() -> ImageEncoder:
        net = SmallCNN(n_classes=n_classes, embed_dim=embed_dim, width=width, in_channels=channels)
        return init_weights_(ImageEncoder(net, input_size), seed)

    def train(model):
        X = images_to_tensor(images)
        if y is None:
            return {"history": _train_simclr(model, X, epochs, batch_size, lr, seed, device, temperature, progress)}
        hist = train_classifier(model, X, torch.from_numpy(y), epochs=epochs, batch_size=batch_size, lr=lr,
                                seed=seed, device=device, progress=progress)
        return {"history": hist["train_loss"].tolist()}

    params = {"images_sha1": hashlib.sha1(images.data).hexdigest(), "shape": list(images.shape),
              "labels_sha1": None if y is None else hashlib.sha1(y.tobytes()).hexdigest(), "method": method,
              "epochs": int(epochs), "input_size": input_size, "embed_dim": embed_dim, "width": width,
              "batch_size": batch_size, "lr": lr, "temperature": temperature if y is None else None, "seed": seed}
    model, extra = cached_model(f"small-encoder-{method}", params, build, train, version=1, cache=cache)
    model.history_ = list(extra.get("history", []))
    return model
