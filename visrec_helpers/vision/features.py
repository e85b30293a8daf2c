"""Image representations: the workbook's own trained CNN encoder, handcrafted colour and
texture features, raw pixels, and batched embedding extraction.

The small CNN (``SmallCNN`` inside an ``ImageEncoder`` that resizes to its input size) trains
two ways, both through the workbook's one loop (``training.fit``): ``"supervised"``
(``training.classification_step`` on labels) and ``"simclr"`` (``simclr_step``: two augmented
views of each image must find each other, ``nt_xent_loss``; labels unused). ``train_encoder``
trains it on a bundled catalog by name, ``train_small_encoder`` on any image array (q03: exactly
a notebook's training split); both cache the weights with ``core.cache.cached_model``.

Every encoder answers ``embed(encoder, images) -> (n, d) float32`` with L2-normalised
rows, so cosine similarity is a plain dot product.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from visrec_helpers.core.cache import cached_model
from visrec_helpers.core.device import get_device
from visrec_helpers.core.rng import init_weights_, torch_generator
from visrec_helpers.data.images import as_image_batch
from visrec_helpers.vision.models import DigitCNN
from visrec_helpers.vision.pretrained import (  # noqa: F401 - the ImageNet backbone, re-exported here
    catalog_embeddings,
    pretrained_encoder,
)
from visrec_helpers.vision.training import ShuffledBatches, fit, images_to_tensor, train_classifier

METHODS = ("supervised", "simclr")  # the two ways the small CNN trains


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm (all-zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, eps)


@dataclass
class FeatureEncoder:
    """A non-neural encoder: ``fn`` maps an image array batch to an ``(n, d)`` array."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]

    def transform(self, images: np.ndarray) -> np.ndarray:
        """The raw features ``fn(images)``, ``(n, d)``, not normalised."""
        return self.fn(images)

    def embed(self, images) -> np.ndarray:
        """The encoder contract (``vision.encoder``): ``(n, d)`` float32 with L2-normalised rows."""
        return l2_normalize(self.transform(_check_images(images)))


def _check_images(images) -> np.ndarray:
    """``images`` as one uint8 batch ``(n, H, W)`` or ``(n, H, W, 3)``: the data layer's one rule
    (``data.as_image_batch``), stacked (these encoders need one image size)."""
    return as_image_batch(images, stack=True)


def embed(encoder, images, batch_size: int = 256, device: str = "auto", progress: bool | None = None) -> np.ndarray:
    """Embed ``images`` with ``encoder`` in batches: ``(n, d)`` float32, rows L2-normalised.

    ``encoder`` is an ``nn.Module`` with an ``embed(x)`` method (x: ``(b, C, H, W)``
    float in [0, 1]) or a ``FeatureEncoder``. ``images``: anything ``data.as_image_batch``
    accepts, of one size (``(n, H, W)`` or ``(n, H, W, C)`` uint8 arrays, [0, 1] float arrays,
    PIL images, paths); it is read by that one rule, as the pretrained encoder reads it. A
    progress bar shows when there are more than 20 batches (or when ``progress=True``).
    """
    from tqdm.auto import tqdm

    arr = _check_images(images)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(encoder, FeatureEncoder):
        return encoder.embed(arr)
    if not isinstance(encoder, nn.Module) or not hasattr(encoder, "embed"):
        raise TypeError(f"encoder must be an nn.Module with .embed() or a FeatureEncoder, got {type(encoder).__name__}")
    dev = get_device(device)
    encoder = encoder.to(dev).eval()
    starts = range(0, len(arr), batch_size)
    show = progress if progress is not None else len(starts) > 20
    out = []
    with torch.no_grad():
        for s in tqdm(starts, desc="embedding", disable=not show, leave=False):
            xb = images_to_tensor(arr[s : s + batch_size]).to(dev)
            out.append(encoder.embed(xb).float().cpu().numpy())
    return l2_normalize(np.concatenate(out))


def train_digit_encoder(epochs: int = 3, n_train: int | None = None, seed: int = 0, embed_dim: int = 64,
                        device: str = "auto", cache: bool = True, progress: bool = True) -> DigitCNN:
    """The workbook's own image encoder: ``DigitCNN`` trained to classify the digits catalog.

    Reproducible from this call: the same arguments give the same weights (on CPU). Cached by
    ``core.cache.cached_model`` under a key of the arguments (not ``device``, ``cache``,
    ``progress``). Returns the model in eval mode on the CPU.
    """
    from visrec_helpers.data import digits_catalog

    cat = digits_catalog()
    n_train = len(cat) if n_train is None else n_train
    if not 10 <= n_train <= len(cat):
        raise ValueError(f"n_train={n_train} must be between 10 and {len(cat)}")

    def train(model):
        X = images_to_tensor(cat.images[:n_train])
        y = torch.from_numpy(cat.labels[:n_train])
        train_classifier(model, X, y, epochs=epochs, seed=seed, device=device, progress=progress)

    params = {"epochs": epochs, "n_train": n_train, "seed": seed, "embed_dim": embed_dim}
    model, _ = cached_model("digit_encoder", params, lambda: init_weights_(DigitCNN(embed_dim=embed_dim), seed),
                            train, version=3, cache=cache)
    return model


# ---------------------------------------------------------------------------
# Handcrafted features
# ---------------------------------------------------------------------------

def _as_rgb_float(images) -> np.ndarray:
    arr = _check_images(images).astype(np.float32)
    if arr.ndim == 3:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    return arr / 255.0  # uint8 by the one input rule: no guessing the range from the values


def _as_gray(images) -> np.ndarray:
    arr = _check_images(images)
    if arr.ndim == 4:
        arr = arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return arr.astype(np.float32) / 255.0


def color_histogram(images: np.ndarray, bins: int = 4) -> np.ndarray:
    """Joint RGB histogram with ``bins`` levels per channel: ``(n, bins**3)`` float32, rows sum to 1.

    Grayscale images fall on the diagonal of the colour cube.
    """
    rgb = _as_rgb_float(images)
    q = np.clip((rgb * bins).astype(np.int64), 0, bins - 1)
    codes = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
    flat = codes.reshape(len(codes), -1)
    out = np.zeros((len(flat), bins**3), dtype=np.float32)
    for i, row in enumerate(flat):
        out[i] = np.bincount(row, minlength=bins**3)
    return out / flat.shape[1]


def hog_features(images: np.ndarray, pixels_per_cell: int | None = None) -> np.ndarray:
    """Histogram of oriented gradients per image (9 orientations, 2x2 blocks): ``(n, d)`` float32."""
    from skimage.feature import hog

    gray = _as_gray(images)
    ppc = pixels_per_cell or max(4, gray.shape[1] // 4)
    return np.stack([hog(g, orientations=9, pixels_per_cell=(ppc, ppc), cells_per_block=(2, 2),
                         feature_vector=True) for g in gray]).astype(np.float32)


def lbp_histogram(images: np.ndarray, points: int = 8, radius: float = 1.0) -> np.ndarray:
    """Uniform local binary pattern histogram (texture): ``(n, points + 2)`` float32, rows sum to 1."""
    from skimage.feature import local_binary_pattern

    gray = (_as_gray(images) * 255).astype(np.uint8)
    n_bins = points + 2
    out = np.zeros((len(gray), n_bins), dtype=np.float32)
    for i, g in enumerate(gray):
        codes = local_binary_pattern(g, points, radius, method="uniform").astype(np.int64)
        out[i] = np.bincount(codes.ravel(), minlength=n_bins)[:n_bins]
    return out / out.sum(axis=1, keepdims=True)


def raw_pixels(images: np.ndarray) -> np.ndarray:
    """Flattened pixels in [0, 1]: ``(n, H*W*C)`` float32."""
    arr = _check_images(images).astype(np.float32) / 255.0
    return arr.reshape(len(arr), -1)


def colour_texture(images: np.ndarray) -> np.ndarray:
    """Colour histogram and LBP texture histogram, each block L2-normalised, side by side."""
    return np.hstack([l2_normalize(color_histogram(images)), l2_normalize(lbp_histogram(images))])


HANDCRAFTED = {
    "raw pixels": FeatureEncoder("raw pixels", raw_pixels),
    "colour histogram": FeatureEncoder("colour histogram", color_histogram),
    "HOG": FeatureEncoder("HOG", hog_features),
    "LBP": FeatureEncoder("LBP", lbp_histogram),
    "colour+texture": FeatureEncoder("colour+texture", colour_texture),
}


# ---------------------------------------------------------------------------
# Trained encoders on either catalog: supervised and self-supervised (SimCLR)
# ---------------------------------------------------------------------------

class ImageEncoder(nn.Module):
    """A CNN encoder that first resizes its input to ``input_size`` (anti-aliased).

    ``net`` is a ``DigitCNN``-shaped module (``embed`` and ``forward``). Resizing inside
    the encoder means any catalog's images can be embedded without a separate
    preprocessing step that could drift from the one used in training.
    """

    def __init__(self, net: nn.Module, input_size: int):
        super().__init__()
        self.net, self.input_size = net, int(input_size)

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] == self.input_size and x.shape[-2] == self.input_size:
            return x
        return nn.functional.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                                         antialias=True, align_corners=False)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.embed(self._resize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self._resize(x))


class SmallCNN(nn.Module):
    """A light CNN (about 25k parameters) for the encoders that notebooks train in CI.

    Three conv blocks (``width``, ``2*width``, ``4*width`` channels, 3x3, batch norm,
    ReLU; max-pool after the first two), global average pooling, a linear projection
    to ``embed_dim`` (the embedding) and a linear ``head`` to ``n_classes`` logits.
    The module names match ``DigitCNN`` (``features``, ``project``, ``head``). With
    ``cosine_head`` the logits are ``scale`` times the cosine between the embedding and
    each class weight vector.
    """

    def __init__(self, n_classes: int = 10, embed_dim: int = 64, width: int = 16, in_channels: int = 1,
                 cosine_head: bool = True, scale: float = 16.0):
        super().__init__()
        w = width
        self.cosine_head, self.scale = cosine_head, float(scale)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.BatchNorm2d(4 * w), nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.project = nn.Linear(4 * w, embed_dim)
        self.head = nn.Linear(embed_dim, n_classes, bias=not cosine_head)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        # No ReLU on the embedding: a rectified embedding has many exact zeros, which
        # wastes dimensions for cosine search.
        return self.project(self.pool(self.features(x)).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.embed(x)
        if not self.cosine_head:
            return self.head(z)
        # Cosine classifier (NormFace): logits are scaled cosines between the embedding and
        # one unit vector per class, so training shapes exactly the geometry that cosine
        # retrieval later uses.
        return self.scale * nn.functional.normalize(z, dim=1) @ nn.functional.normalize(self.head.weight, dim=1).T


CATALOG_SETTINGS = {"digits": {"channels": 1, "input_size": 28}, "photos": {"channels": 3, "input_size": 32}}
"""Input channels and the size images are resized to inside each catalog's encoder."""


def load_catalog(name: str):
    """The bundled catalog called ``name`` ("digits" or "photos") with its default settings."""
    from visrec_helpers.data import digits_catalog, photo_catalog

    if name == "digits":
        return digits_catalog()
    if name == "photos":
        return photo_catalog()
    raise ValueError(f"unknown catalog {name!r}; available: {sorted(CATALOG_SETTINGS)}")


def split_catalog(labels: np.ndarray, train_share: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split: per label, the first ``train_share`` of its items train.

    Returns ``(train_ids, test_ids)`` int64, each sorted. Encoders train on the first part
    and every retrieval measurement uses the second, so no item is judged by a model
    that saw it.
    """
    labels = np.asarray(labels)
    if not 0 < train_share < 1:
        raise ValueError(f"train_share={train_share} must be strictly between 0 and 1")
    train = []
    for c in np.unique(labels):
        ids = np.where(labels == c)[0]
        n_tr = int(round(train_share * len(ids)))
        if n_tr < 1 or n_tr >= len(ids):
            raise ValueError(f"label {c}: {len(ids)} items cannot be split with train_share={train_share}")
        train.append(ids[:n_tr])
    train = np.sort(np.concatenate(train)).astype(np.int64)
    test = np.setdiff1d(np.arange(len(labels)), train).astype(np.int64)
    return train, test


def simclr_augment(x: torch.Tensor, generator: torch.Generator, min_scale: float = 0.5, flip: bool = True,
                   colour: bool = True) -> torch.Tensor:
    """One random view per image of a ``(b, C, H, W)`` batch in [0, 1], batched on the tensor.

    Random resized crop (area share in ``[min_scale, 1]``, via ``roi_align``), optional
    horizontal flip, and for colour images brightness/contrast/saturation jitter and
    random grayscale (p = 0.2).
    """
    from torchvision.ops import roi_align

    b, c, h, w = x.shape
    dev = x.device

    def rand(*shape):
        return torch.rand(*shape, generator=generator).to(dev)

    area = min_scale + (1 - min_scale) * rand(b)
    aspect = torch.exp((rand(b) - 0.5) * 0.6)
    cw = (w * torch.sqrt(area * aspect)).clamp(4, w)
    ch = (h * torch.sqrt(area / aspect)).clamp(4, h)
    x0, y0 = rand(b) * (w - cw), rand(b) * (h - ch)
    boxes = torch.stack([torch.arange(b, device=dev, dtype=x.dtype), x0, y0, x0 + cw, y0 + ch], 1)
    out = roi_align(x, boxes, output_size=(h, w), spatial_scale=1.0, sampling_ratio=2, aligned=True)
    if flip:
        f = rand(b) < 0.5
        out[f] = out[f].flip(-1)
    if colour and c == 3:
        gray = (out * torch.tensor([0.299, 0.587, 0.114], device=dev).view(1, 3, 1, 1)).sum(1, keepdim=True)
        sat = (0.6 + 0.8 * rand(b)).view(b, 1, 1, 1)
        out = gray + sat * (out - gray)
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = mean + (0.6 + 0.8 * rand(b)).view(b, 1, 1, 1) * (out - mean)
        out = out * (0.7 + 0.6 * rand(b)).view(b, 1, 1, 1)
        g = (rand(b) < 0.2).view(b, 1, 1, 1)
        gray = (out * torch.tensor([0.299, 0.587, 0.114], device=dev).view(1, 3, 1, 1)).sum(1, keepdim=True)
        out = torch.where(g, gray.expand_as(out), out)
    return out.clamp(0, 1)


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """SimCLR's normalised-temperature cross-entropy: each view must pick its partner among 2b - 1 others."""
    if z1.shape != z2.shape:
        raise ValueError(f"the two views have different shapes {tuple(z1.shape)} and {tuple(z2.shape)}")
    z = nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    b = len(z1)
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
    return nn.functional.cross_entropy(sim, target)


def simclr_step(model: nn.Module, batch, *, head: nn.Module, generator: torch.Generator, colour: bool,
                temperature: float = 0.2) -> torch.Tensor:
    """SimCLR's step for ``training.fit``: two augmented views of each image in ``batch`` (a
    1-tuple ``(x,)``), embedded and projected by ``head``; the NT-Xent loss makes each view find
    its partner. The views' randomness comes from ``generator``."""
    (xb,) = batch
    v1 = simclr_augment(xb, generator, flip=colour, colour=colour)
    v2 = simclr_augment(xb, generator, flip=colour, colour=colour)
    return nt_xent_loss(head(model.embed(v1)), head(model.embed(v2)), temperature)


def train_simclr(model: ImageEncoder, X: torch.Tensor, epochs: int, batch_size: int, lr: float, seed: int,
                 device: str = "auto", temperature: float = 0.2, progress: bool = False) -> list[float]:
    """Train ``model`` in place, self-supervised (``training.fit`` with ``simclr_step``).

    ``X``: ``(n, C, H, W)`` float images in [0, 1]; labels are never used. A projection head
    (seeded from ``seed + 1``, dropped afterwards) maps embeddings to the space the loss
    compares; Adam over both. Batch order and augmentation come from one generator seeded
    with ``seed``; a last batch of one image is skipped. Returns the mean loss of each epoch.
    """
    dev = get_device(device)
    d = model.net.project.out_features
    head = init_weights_(nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d // 2)), seed + 1)
    model.to(dev)
    head.to(dev).train()
    opt = torch.optim.Adam(list(model.parameters()) + list(head.parameters()), lr=lr, weight_decay=1e-5)
    gen = torch_generator(seed)
    step = functools.partial(simclr_step, head=head, generator=gen, colour=X.shape[1] == 3, temperature=temperature)
    history = fit(model, ShuffledBatches((X,), batch_size, gen, min_size=2), step, epochs=epochs, optimiser=opt,
                  device=dev, seed=seed, progress=progress, desc="SimCLR epochs")
    return history["train_loss"].tolist()


def train_encoder(catalog: str = "digits", method: str = "supervised", epochs: int = 3, train_share: float = 0.8,
                  n_train: int | None = None, seed: int = 0, embed_dim: int = 64, width: int = 16,
                  batch_size: int = 128, lr: float = 3e-3, temperature: float = 0.2, device: str = "auto", cache: bool = True,
                  progress: bool = True) -> ImageEncoder:
    """Train (or load from the cache) a CNN encoder on the training part of a bundled catalog.

    ``catalog``: "digits" (28x28 gray) or "photos" (RGB patches, resized to 32x32 inside
    the encoder). ``method``: "supervised" (classify the catalog's labels) or "simclr"
    (self-supervised: two augmented views of each image must find each other among
    the batch, labels unused). Training uses ``split_catalog(labels, train_share)[0]``
    (its first ``n_train`` items when given). Same arguments, same weights (on CPU); the
    weights are cached by ``core.cache.cached_model`` under a key of every argument (not
    ``device``, ``cache``, ``progress``). Returns the ``ImageEncoder`` in eval mode on the CPU;
    its ``history_`` attribute holds the per-epoch training loss (kept with the cached weights).
    """
    if catalog not in CATALOG_SETTINGS:
        raise ValueError(f"unknown catalog {catalog!r}; available: {sorted(CATALOG_SETTINGS)}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use 'supervised' or 'simclr'")
    if epochs < 1:
        raise ValueError(f"epochs={epochs} must be >= 1")
    cfg = CATALOG_SETTINGS[catalog]
    cat = load_catalog(catalog)
    n_classes = int(cat.labels.max()) + 1

    def build() -> ImageEncoder:
        return init_weights_(ImageEncoder(SmallCNN(n_classes=n_classes, embed_dim=embed_dim, width=width,
                                                   in_channels=cfg["channels"]), cfg["input_size"]), seed)

    train_ids, _ = split_catalog(cat.labels, train_share)
    if n_train is not None:
        if not 10 <= n_train <= len(train_ids):
            raise ValueError(f"n_train={n_train} must be between 10 and {len(train_ids)}")
        train_ids = train_ids[np.random.default_rng(seed).permutation(len(train_ids))[:n_train]]

    def train(model):
        X = images_to_tensor(cat.images[train_ids])
        if method == "supervised":
            y = torch.from_numpy(cat.labels[train_ids])
            hist = train_classifier(model, X, y, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                                    device=device, progress=progress)
            return {"history": hist["train_loss"].tolist()}
        return {"history": train_simclr(model, X, epochs, batch_size, lr, seed, device, temperature, progress)}

    params = {"catalog": catalog, "method": method, "epochs": epochs, "train_share": train_share,
              "n_train": n_train, "seed": seed, "embed_dim": embed_dim, "width": width, "batch_size": batch_size,
              "lr": lr, "temperature": temperature if method == "simclr" else None, "n_items": len(cat)}
    model, extra = cached_model(f"encoder-{catalog}-{method}", params, build, train, version=4, cache=cache)
    model.history_ = list(extra.get("history", []))
    return model


# ---------------------------------------------------------------------------
# Looking inside a CNN (q11): receptive fields
# ---------------------------------------------------------------------------

def receptive_field(model: nn.Module):
    """Receptive field of every conv/pool layer of ``model``, in input pixels, from the layer
    hyper-parameters: ``r_out = r_in + (k - 1) * j_in`` and ``j_out = j_in * stride`` (j =
    distance in input pixels between neighbouring outputs). Returns a DataFrame with
    ``layer, type, kernel, stride, receptive_field, jump`` in forward order (modules in
    registration order, which is the forward order of sequential CNNs like ``SmallCNN``).
    """
    import pandas as pd

    r, j, rows = 1, 1, []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
            s = m.stride if isinstance(m.stride, int) else m.stride[0]
            dil = getattr(m, "dilation", 1)
            dil = dil if isinstance(dil, int) else dil[0]
            r, j = r + (k - 1) * dil * j, j * s
            rows.append({"layer": name, "type": type(m).__name__, "kernel": k, "stride": s,
                         "receptive_field": r, "jump": j})
    if not rows:
        raise ValueError(f"{type(model).__name__} has no convolution or pooling layers")
    return pd.DataFrame(rows)


def empirical_receptive_field(model: nn.Module, layer: str, input_shape=(1, 28, 28)) -> int:
    """Width in pixels of the input region that can change one central unit of ``layer``.

    Measured, not computed: the gradient of that unit with respect to a random input is
    non-zero exactly inside its receptive field (batch norm in eval mode, so units do not
    mix across the batch).
    """
    modules = dict(model.named_modules())
    if layer not in modules:
        raise KeyError(f"unknown layer {layer!r}; the model has: {[n for n in modules if n]}")
    model = model.eval()
    x = torch.rand(1, *input_shape, generator=torch_generator(0)).requires_grad_(True)
    grabbed = {}
    h = modules[layer].register_forward_hook(lambda _m, _i, out: grabbed.__setitem__("out", out))
    try:
        model.embed(x) if hasattr(model, "embed") else model(x)
    finally:
        h.remove()
    out = grabbed["out"]
    # A central position, so its field lies inside the image; summing over channels makes a
    # pixel count when any channel's path to it is active.
    cy, cx = out.shape[2] // 2, out.shape[3] // 2
    out[0, :, cy, cx].sum().backward()
    nz = (x.grad[0].abs().sum(0) > 0).numpy()
    rows, cols = np.where(nz.any(1))[0], np.where(nz.any(0))[0]
    return int(max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1))


# ---------------------------------------------------------------------------
# The same encoder trained on any image array (q03): your own training split
# ---------------------------------------------------------------------------

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
            return {"history": train_simclr(model, X, epochs, batch_size, lr, seed, device, temperature, progress)}
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
