"""The one encoder contract: ``embed(images) -> (n, d)`` float32 with unit rows.

Two kinds of object in the package have an ``embed`` method, and they are kept apart:

- An **encoder** follows :class:`Encoder`: ``embed(images)`` takes a batch of images (an
  ``(n, H, W)`` or ``(n, H, W, C)`` uint8 array; ``PretrainedEncoder`` also takes PIL images)
  and returns ``(n, d)`` float32 rows of unit L2 norm, so cosine similarity is a dot product
  and any index of ``search`` takes the result as it is. The encoders are
  ``vision.pretrained.PretrainedEncoder``, ``vision.features.FeatureEncoder`` (the
  handcrafted features of ``features.HANDCRAFTED``), ``recsys.sequence.MetricDigitNet`` and
  :class:`ModuleEncoder`.
- A **network** is a ``torch.nn.Module`` (``DigitCNN``, ``TinyCNN``, ``SmallCNN``,
  ``ImageEncoder``) whose ``embed(x)`` maps a ``(b, C, H, W)`` float tensor to a ``(b, d)``
  tensor inside a training step, unnormalised (a loss may need the raw norm).
  ``ModuleEncoder(network)`` turns a network into an encoder (batched, no gradients,
  normalised), as ``features.embed(network, images)`` does for one call.

:func:`check_embeddings` is the contract as code; ``tests/test_encoders.py`` runs every
encoder and network class of the package through it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Encoder(Protocol):
    """Anything with ``embed(images) -> (n, d)`` float32 unit rows (see the module docstring).

    ``isinstance(obj, Encoder)`` sees only that an ``embed`` method exists (a network has one
    too); :func:`check_embeddings` checks what it returns."""

    def embed(self, images) -> np.ndarray: ...


class ModuleEncoder:
    """A network (``nn.Module`` with ``embed(x: Tensor) -> Tensor``) as an :class:`Encoder`.

    ``embed(images)`` runs ``features.embed(network, images, batch_size, device)``: batches
    of the uint8 images as ``(b, C, H, W)`` floats in [0, 1], no gradients, rows L2-normalised.
    """

    def __init__(self, network, batch_size: int = 256, device: str = "auto"):
        from torch import nn

        if not isinstance(network, nn.Module) or not callable(getattr(network, "embed", None)):
            raise TypeError(f"network must be an nn.Module with an embed(x) method, got {type(network).__name__}")
        self.network, self.batch_size, self.device = network, batch_size, device

    def embed(self, images) -> np.ndarray:
        from visrec_helpers.vision.features import embed

        return embed(self.network, images, batch_size=self.batch_size, device=self.device, progress=False)


def check_embeddings(embeddings, n: int | None = None, name: str = "embeddings", atol: float = 1e-4) -> np.ndarray:
    """``embeddings`` if it keeps the contract, else ``ValueError`` naming what is wrong.

    The contract: a ``np.ndarray`` of dtype float32, shape ``(n, d)`` with ``d >= 1`` (``n``
    rows when given), finite, every row of L2 norm 1 within ``atol`` (an all-zero row, the
    image of an all-zero feature vector, is allowed).
    """
    if not isinstance(embeddings, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(embeddings).__name__}")
    if embeddings.dtype != np.float32:
        raise ValueError(f"{name} must be float32, got {embeddings.dtype}")
    if embeddings.ndim != 2 or embeddings.shape[1] < 1:
        raise ValueError(f"{name} must have shape (n, d), got {embeddings.shape}")
    if n is not None and len(embeddings) != n:
        raise ValueError(f"{name} has {len(embeddings)} rows for {n} images")
    if not np.isfinite(embeddings).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    norms = np.linalg.norm(embeddings.astype(np.float64), axis=1)
    bad = np.flatnonzero((np.abs(norms - 1.0) > atol) & (norms > 0))
    if len(bad):
        raise ValueError(f"{name} rows {bad[:5].tolist()} have L2 norms {norms[bad[:5]].round(4).tolist()}, not 1")
    return embeddings
