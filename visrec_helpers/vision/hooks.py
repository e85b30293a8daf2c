"""Forward hooks: read any layer of a network without rewriting its ``forward`` (q11, q03).

``record_layers(model, layers)`` is a context manager: inside the ``with`` block every
forward pass of ``model`` stores the output of each named sub-module in a dict; on leaving
(also on an error) the hooks are removed, so the model is left as it was.
``pooled_layer_features`` runs one forward pass and global-average-pools each recorded map:
``{layer: (b, C)}``. ``catalog_layer_features`` does that for a whole ``Catalog`` with the
ImageNet backbone (``vision.pretrained``) and caches the result once per machine, like
``pretrained.catalog_embeddings``.

torchvision's ``create_feature_extractor`` reaches the same layers by tracing the model
into a new graph; hooks need no tracing and work on any ``nn.Module``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from visrec_helpers.core.cache import ArraySpec, cache_dir, cache_key, cached_arrays
from visrec_helpers.core.validation import as_names

_CACHE_VERSION = 1


def _check_layers(model: nn.Module, layers: Sequence[str]) -> list[str]:
    """``layers`` as a list, after checking (``core.validation.as_names``) that each names a
    distinct sub-module of ``model``: a repeated name is refused, not recorded twice."""
    return as_names(layers, "layers", known=[n for n, _ in model.named_modules() if n])


@contextmanager
def record_layers(model: nn.Module, layers: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of the sub-modules named ``layers`` (names from ``model.named_modules()``).

    Yields a dict that each forward pass inside the ``with`` block fills with
    ``{name: output tensor}`` (detached; the last pass wins). The hooks are removed on exit.
    """
    modules = dict(model.named_modules())
    outputs: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            outputs[name] = output.detach()
        return hook

    handles = [modules[name].register_forward_hook(keep(name)) for name in _check_layers(model, layers)]
    try:
        yield outputs
    finally:  # an exception inside the block must not leave hooks behind
        for handle in handles:
            handle.remove()


def forward_hook_count(model: nn.Module) -> int:
    """How many forward hooks are registered on ``model`` and all its sub-modules (0 after a
    ``record_layers`` block: the check that no hook was left behind). torch has no public
    listing of hooks; this reads each module's hook registry."""
    return sum(len(m._forward_hooks) for m in model.modules())


def pooled_layer_features(model: nn.Module, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """One forward pass of ``x`` ``(b, 3, H, W)``: each layer's ``(b, C, h, w)`` map averaged to ``(b, C)``.

    The model runs in eval mode under ``torch.no_grad()`` (batch norm uses its running
    statistics, so an image's features do not depend on its batch mates).
    """
    model.eval()
    with torch.no_grad(), record_layers(model, layers) as maps:
        model(x)
    return {name: maps[name].float().mean(dim=(2, 3)) for name in layers}


def _layer_features(encoder, images, layers: list[str], batch_size: int, progress: bool | None,
                    preprocess=None, pool: bool = True) -> dict[str, np.ndarray]:
    from tqdm.auto import tqdm

    from visrec_helpers.vision.pretrained import as_image_batch, to_backbone_input

    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    to_tensor = preprocess or (lambda b: to_backbone_input(b, encoder.input_size))
    batch = as_image_batch(images)
    show = progress if progress is not None else len(batch) > 256
    parts: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    for s in tqdm(range(0, len(batch), batch_size), desc="layer features", unit="batch", disable=not show,
                  leave=False):
        x = to_tensor(batch[s : s + batch_size]).to(encoder.device)
        if pool:
            out = pooled_layer_features(encoder.model, x, layers)
        else:
            encoder.model.eval()
            with torch.no_grad(), record_layers(encoder.model, layers) as out:
                encoder.model(x)
        for name in layers:
            parts[name].append(out[name].float().cpu().numpy())
    return {name: np.concatenate(v).astype(np.float32, copy=False) for name, v in parts.items()}


def layer_features(encoder, images, layers: Sequence[str], *, batch_size: int = 64, progress: bool | None = None,
                   preprocess=None) -> dict[str, np.ndarray]:
    """``{layer: (n, C) float32}``: globally average-pooled outputs of ``layers`` of ``encoder.model``.

    ``encoder``: a ``PretrainedEncoder`` (its ``model``, ``input_size`` and ``device``).
    ``images``: uint8 images as ``pretrained.as_image_batch`` accepts. ``preprocess``: a
    function from a uint8 batch to the ``(b, 3, S, S)`` float input; default the encoder's
    own resize and normalisation (q11 passes another one to measure a missing ``Normalize``).
    Rows are not normalised.
    """
    layers = _check_layers(encoder.model, layers)
    return _layer_features(encoder, images, layers, batch_size, progress, preprocess)


def catalog_layer_features(catalog, encoder, layers: Sequence[str], *, batch_size: int = 64,
                           progress: bool | None = None, cache: bool = True, pool: bool = True) -> dict[str, np.ndarray]:
    """``layer_features(encoder, catalog.images, layers)``, cached once per machine.

    ``pool=False`` keeps the whole maps, ``{layer: (n, C, h, w) float32}`` (to train the
    layers above a frozen one on cached inputs, q13).

    The cache file (``.npz`` in ``cache_dir()``, read with ``allow_pickle=False``) is keyed
    by the catalog's images (``pretrained.catalog_fingerprint``), ``encoder.settings`` and
    the layer names; it goes through ``core.cache.cached_arrays`` (written atomically under a
    file lock, so parallel processes compute it once; checked when read: one float32 array per
    layer with a row per item; a broken file is recomputed with a ``CacheWarning``).
    """
    from visrec_helpers.vision.pretrained import catalog_fingerprint

    if not hasattr(catalog, "images"):
        raise TypeError(f"catalog must be a Catalog (with .images), got {type(catalog).__name__}")
    layers = _check_layers(encoder.model, layers)
    if not cache:
        return _layer_features(encoder, catalog.images, layers, batch_size, progress, pool=pool)
    fp = catalog_fingerprint(catalog)
    key = cache_key(fp, encoder.settings, layers, _CACHE_VERSION) if pool else cache_key(
        fp, encoder.settings, layers, _CACHE_VERSION, "maps")
    path = cache_dir() / f"layer-{'features' if pool else 'maps'}-{fp['n_items']}-{key}.npz"
    n = len(catalog.images)
    names = {f"layer_{i}": ArraySpec("float32", (n, None) if pool else (n, None, None, None), finite=True)
             for i in range(len(layers))}

    def build() -> dict:
        out = _layer_features(encoder, catalog.images, layers, batch_size, progress, pool=pool)
        return {"layers": np.frombuffer(json.dumps(layers).encode(), dtype=np.uint8),
                **{f"layer_{i}": out[name] for i, name in enumerate(layers)}}

    def decode(arrays: dict) -> dict[str, np.ndarray]:
        if json.loads(arrays["layers"].tobytes().decode()) != layers:
            raise ValueError("the file holds other layers")
        return {name: arrays[f"layer_{i}"] for i, name in enumerate(layers)}

    return cached_arrays(path, build, {"layers": ("uint8", (None,)), **names}, decode=decode, lock_timeout=1800)


def fuse_layers(layer_vectors: dict[str, np.ndarray], layers: Sequence[str]) -> np.ndarray:
    """Multi-layer fusion: L2-normalise each layer's ``(n, C_i)`` rows, concatenate, L2-normalise again.

    Normalising each block first gives every layer the same weight in the cosine, whatever
    its scale or width (a 1,280-d head would otherwise drown a 112-d stage). Returns
    ``(n, sum C_i)`` float32 with unit rows. ``layers`` must be distinct (``InputError``, a
    ``ValueError``, otherwise).
    """
    def unit(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.float32)
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

    layers = as_names(layers, "layers")  # a repeated layer would count twice in the cosine
    missing = [n for n in layers if n not in layer_vectors]
    if missing:
        raise ValueError(f"layers={list(layers)!r}: missing {missing}; available {list(layer_vectors)}")
    return unit(np.hstack([unit(layer_vectors[n]) for n in layers]))
