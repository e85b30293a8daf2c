"""Image segmentation: classical methods (Otsu, watershed, k-means colour clustering,
GrabCut), a small U-Net with its Dice loss and training loop, emoji-on-photo scenes with
exact masks, and the overlap scores IoU and Dice.

Conventions:

- Images are ``(H, W)`` or ``(H, W, 3)`` arrays, ``uint8`` (0..255) or float in [0, 1].
- A *mask* is a 2-D ``bool`` array of the image's height and width, True = foreground.
- A *label image* is a 2-D ``int`` array, 0 = background, 1..n = regions.

Wrong shapes, dtypes, NaNs and empty images raise ``ValueError``/``TypeError`` naming the
argument and the problem.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from visrec_helpers.data import as_float_image

# ---------------------------------------------------------------------------
# Checking inputs
# ---------------------------------------------------------------------------


def as_rgb_uint8(image, name: str = "image") -> np.ndarray:
    """``image`` as ``(H, W, 3) uint8``; grayscale is repeated, [0, 1] floats are scaled by 255."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = np.round(as_float_image(arr, name) * 255).astype(np.uint8)
    else:
        as_float_image(arr, name)  # shape and emptiness checks
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return np.ascontiguousarray(arr)


def as_gray_float(image, name: str = "image") -> np.ndarray:
    """``image`` as a ``(H, W) float64`` luminance in [0, 1] (ITU-R 601 weights for RGB)."""
    rgb = as_rgb_uint8(image, name).astype(np.float64) / 255.0
    return rgb @ np.array([0.299, 0.587, 0.114])


def check_mask(mask, name: str = "mask") -> np.ndarray:
    """A 2-D non-empty mask as ``bool``; accepts bool or 0/1 integers."""
    arr = np.asarray(mask)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {arr.shape}")
    if arr.dtype != bool:
        if not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must be boolean or contain only 0 and 1")
        arr = arr.astype(bool)
    return arr


# ---------------------------------------------------------------------------
# Overlap scores
# ---------------------------------------------------------------------------


def _pair(pred, true):
    p, t = check_mask(pred, "pred"), check_mask(true, "true")
    if p.shape != t.shape:
        raise ValueError(f"pred {p.shape} and true {t.shape} masks have different shapes")
    return p, t


def iou(pred, true) -> float:
    """Intersection over union ``|P & T| / |P | T|`` of two masks; 1.0 when both are empty."""
    p, t = _pair(pred, true)
    union = np.logical_or(p, t).sum()
    return 1.0 if union == 0 else float(np.logical_and(p, t).sum() / union)


def dice(pred, true) -> float:
    """Dice coefficient ``2 |P & T| / (|P| + |T|)`` of two masks; 1.0 when both are empty.

    Dice = 2 IoU / (1 + IoU), so the two rank methods identically; Dice is the larger.
    """
    p, t = _pair(pred, true)
    total = p.sum() + t.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(p, t).sum() / total)


def score_masks(preds, trues) -> dict:
    """Mean IoU and mean Dice over paired stacks of masks ``(n, H, W)``."""
    preds, trues = np.asarray(preds), np.asarray(trues)
    if preds.ndim != 3 or preds.shape != trues.shape or len(preds) == 0:
        raise ValueError(f"preds {preds.shape} and trues {trues.shape} must be equal non-empty (n, H, W) stacks")
    return {"iou": float(np.mean([iou(p, t) for p, t in zip(preds, trues)])),
            "dice": float(np.mean([dice(p, t) for p, t in zip(preds, trues)]))}


# ---------------------------------------------------------------------------
# Classical methods
# ---------------------------------------------------------------------------


def border_background(mask: np.ndarray) -> np.ndarray:
    """Flip ``mask`` if most of its one-pixel border is foreground: objects rarely fill the frame."""
    m = check_mask(mask)
    border = np.concatenate([m[0], m[-1], m[1:-1, 0], m[1:-1, -1]])
    return ~m if border.mean() > 0.5 else m


def otsu_mask(image, foreground: str = "auto") -> np.ndarray:
    """Global Otsu threshold on luminance.

    ``foreground``: ``"bright"`` (above the threshold), ``"dark"`` (below), or ``"auto"``
    (the side that holds less of the image border).
    """
    from skimage.filters import threshold_otsu

    gray = as_gray_float(image)
    if foreground not in ("auto", "bright", "dark"):
        raise ValueError(f"foreground must be 'auto', 'bright' or 'dark', got {foreground!r}")
    if np.ptp(gray) == 0:
        return np.zeros(gray.shape, bool)
    m = gray > threshold_otsu(gray)
    if foreground == "dark":
        return ~m
    return border_background(m) if foreground == "auto" else m


def watershed_labels(image, low: float | None = None, high: float | None = None, foreground: str = "bright",
                     min_size: int = 30) -> np.ndarray:
    """Marker-based watershed on the gradient image (the classic coins recipe).

    The elevation map is the Sobel gradient of the luminance. Pixels darker than ``low``
    seed the background, pixels brighter than ``high`` seed the objects (for
    ``foreground="dark"`` the luminance is inverted first; ``"auto"`` picks the side by
    the border rule). ``low``/``high`` are in [0, 1]; by default they sit halfway between
    the Otsu threshold and the 1st/99th percentile. Regions are the filled, connected
    object areas of at least ``min_size`` pixels. Returns a label image (0 = background).
    """
    from scipy import ndimage
    from skimage.filters import sobel, threshold_otsu
    from skimage.morphology import remove_small_objects
    from skimage.segmentation import watershed

    gray = as_gray_float(image)
    if foreground not in ("auto", "bright", "dark"):
        raise ValueError(f"foreground must be 'auto', 'bright' or 'dark', got {foreground!r}")
    if foreground == "dark" or (foreground == "auto" and not np.array_equal(otsu_mask(gray, "auto"),
                                                                            otsu_mask(gray, "bright"))):
        gray = 1.0 - gray
    if np.ptp(gray) == 0:
        return np.zeros(gray.shape, int)
    t = threshold_otsu(gray)
    lo_q, hi_q = np.percentile(gray, [1, 99])
    low = t - 0.5 * (t - lo_q) if low is None else low
    high = t + 0.5 * (hi_q - t) if high is None else high
    if not 0 <= low < high <= 1:
        raise ValueError(f"need 0 <= low < high <= 1, got low={low}, high={high}")
    markers = np.zeros(gray.shape, np.int32)
    markers[gray < low] = 1
    markers[gray > high] = 2
    regions = watershed(sobel(gray), markers) == 2
    regions = ndimage.binary_fill_holes(regions)
    regions = remove_small_objects(regions, max_size=min_size - 1) if min_size > 1 else regions
    labels, _ = ndimage.label(regions)
    return labels


def kmeans_labels(image, k: int = 3, seed: int = 0, use_xy: float = 0.0) -> np.ndarray:
    """Cluster pixels by colour in CIE Lab with k-means; returns ``(H, W)`` labels 0..k-1.

    Lab makes Euclidean distance closer to perceived colour difference than RGB.
    ``use_xy > 0`` appends the pixel coordinates (scaled to the Lab range times ``use_xy``)
    so clusters also stay compact in space.
    """
    from skimage.color import rgb2lab
    from sklearn.cluster import KMeans

    rgb = as_rgb_uint8(image)
    if int(k) != k or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k}")
    h, w = rgb.shape[:2]
    if k > h * w:
        raise ValueError(f"k={k} is larger than the number of pixels ({h * w})")
    feats = rgb2lab(rgb).reshape(-1, 3)
    if use_xy > 0:
        yy, xx = np.mgrid[:h, :w]
        xy = np.stack([yy.ravel() / max(h, w), xx.ravel() / max(h, w)], axis=1) * 100 * use_xy
        feats = np.hstack([feats, xy])
    km = KMeans(n_clusters=int(k), n_init=3, random_state=seed).fit(feats)
    return km.labels_.reshape(h, w)


def kmeans_mask(image, seed: int = 0) -> np.ndarray:
    """Foreground by 2-cluster k-means on Lab colour, the cluster holding less border being foreground."""
    return border_background(kmeans_labels(image, 2, seed) == 1)


def grabcut_mask(image, rect=None, iters: int = 5, margin: float = 0.08, seed: int = 0) -> np.ndarray:
    """GrabCut (OpenCV): colour models of object and background refined by graph cuts.

    ``rect = (x, y, w, h)`` must contain the object; everything outside is background.
    By default the rectangle is the image minus ``margin`` of its size on each side.
    """
    import cv2

    rgb = as_rgb_uint8(image)
    h, w = rgb.shape[:2]
    if rect is None:
        mx, my = max(1, int(round(margin * w))), max(1, int(round(margin * h)))
        rect = (mx, my, w - 2 * mx, h - 2 * my)
    x, y, rw, rh = (int(v) for v in rect)
    if rw < 1 or rh < 1 or x < 0 or y < 0 or x + rw > w or y + rh > h or (rw == w and rh == h):
        raise ValueError(f"rect {rect} must lie inside the {w}x{h} image and leave some background outside")
    cv2.setRNGSeed(seed)
    mask = np.zeros((h, w), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(np.ascontiguousarray(rgb[..., ::-1]), mask, (x, y, rw, rh), bgd, fgd, int(iters),
                cv2.GC_INIT_WITH_RECT)  # OpenCV expects BGR
    return np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD))


def overlay(image, mask, colour=(255, 0, 0), alpha: float = 0.45) -> np.ndarray:
    """``image`` with ``mask`` painted in ``colour`` at opacity ``alpha``: ``(H, W, 3) uint8``."""
    rgb = as_rgb_uint8(image).astype(np.float64)
    m = check_mask(mask)
    if m.shape != rgb.shape[:2]:
        raise ValueError(f"mask {m.shape} does not match image {rgb.shape[:2]}")
    rgb[m] = (1 - alpha) * rgb[m] + alpha * np.asarray(colour, np.float64)
    return np.round(rgb).astype(np.uint8)


# ---------------------------------------------------------------------------
# Composite scenes with exact masks: emoji products pasted onto real photos
# ---------------------------------------------------------------------------


def composite_emoji(rgba: np.ndarray, backgrounds: dict, n: int, size: int = 64, seed: int = 0,
                    scale=(0.4, 0.8)) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Scenes of one emoji pasted onto a crop of a real photo, with the emoji's exact mask.

    ``rgba``: ``(m, h, w, 4) uint8`` drawings with straight alpha (``data.emoji_rgba``);
    ``backgrounds``: ``{name: (H, W, 3) uint8}`` photos (``data.load_photos``), each at least
    ``size`` pixels on its shorter side. Each scene takes a random square crop of a random
    photo (a random zoom), resizes it to ``size``, scales a random drawing to a random share
    ``scale`` of the side, places it at random (wholly inside) and alpha-composites it. The
    mask is where the resized alpha is at least one half: exact by construction.

    Returns ``(images (n, size, size, 3) uint8, masks (n, size, size) bool, info)``; ``info``
    has one row per scene: ``item`` (row of ``rgba``), ``background`` (name), ``box``
    (``x, y, w, h`` of the pasted drawing).
    """
    from PIL import Image

    rgba = np.asarray(rgba)
    if rgba.ndim != 4 or rgba.shape[-1] != 4 or len(rgba) == 0 or rgba.dtype != np.uint8:
        raise ValueError(f"rgba must be a non-empty (m, h, w, 4) uint8 array, got {rgba.shape} {rgba.dtype}")
    if not backgrounds:
        raise ValueError("backgrounds is empty: pass {name: photo}")
    if n < 1 or size < 16:
        raise ValueError(f"need n >= 1 and size >= 16, got n={n}, size={size}")
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"scale must be (lo, hi) with 0 < lo <= hi <= 1, got {scale}")
    names = list(backgrounds)
    photos = [as_rgb_uint8(backgrounds[k], f"backgrounds[{k!r}]") for k in names]
    small = [k for k, p in zip(names, photos) if min(p.shape[:2]) < size]
    if small:
        raise ValueError(f"backgrounds {small} are smaller than size={size}")
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.empty((n, size, size), bool)
    rows = []
    for i in range(n):
        b = int(rng.integers(len(photos)))
        bg = photos[b]
        side = int(rng.integers(size, min(bg.shape[:2]) // 2 + 1)) if min(bg.shape[:2]) >= 2 * size else size
        y0, x0 = rng.integers(0, bg.shape[0] - side + 1), rng.integers(0, bg.shape[1] - side + 1)
        crop = Image.fromarray(bg[y0 : y0 + side, x0 : x0 + side]).resize((size, size), Image.Resampling.BILINEAR)
        item = int(rng.integers(len(rgba)))
        d = int(round(size * rng.uniform(*scale)))
        drawing = Image.fromarray(rgba[item], "RGBA").resize((d, d), Image.Resampling.LANCZOS)
        oy, ox = int(rng.integers(0, size - d + 1)), int(rng.integers(0, size - d + 1))
        layer = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        layer.paste(drawing, (ox, oy))
        images[i] = np.asarray(Image.alpha_composite(crop.convert("RGBA"), layer).convert("RGB"))
        masks[i] = np.asarray(layer.getchannel("A")) >= 128
        rows.append({"item": item, "background": names[b], "box": (ox, oy, d, d)})
    return images, masks, pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# A small U-Net, its loss and its training loop
# ---------------------------------------------------------------------------


def conv_block(cin: int, cout: int) -> nn.Sequential:
    """Two 3x3 convolutions, each followed by batch norm and ReLU; keeps the spatial size."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallUNet(nn.Module):
    """U-Net for ``(n, in_channels, H, W)`` input in [0, 1]; H and W divisible by ``2 ** depth``.

    Encoder: ``depth + 1`` conv blocks of ``base, 2 base, 4 base, ...`` channels, each after a
    2x2 max-pool (but the first). Decoder: per level, a transposed convolution doubles the
    size, the encoder's features of that size are concatenated (the skip connection that
    puts boundaries back on the right pixel) and a conv block mixes them.
    Output: ``(n, 1, H, W)`` foreground logits.
    """

    def __init__(self, in_channels: int = 3, base: int = 16, depth: int = 3):
        super().__init__()
        if base < 1 or in_channels < 1 or depth < 1:
            raise ValueError(f"need base, in_channels, depth >= 1; got {base}, {in_channels}, {depth}")
        ch = [base * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([conv_block(in_channels, ch[0])]
                                  + [conv_block(ch[i], ch[i + 1]) for i in range(depth)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2) for i in reversed(range(depth))])
        self.merge = nn.ModuleList([conv_block(2 * ch[i], ch[i]) for i in reversed(range(depth))])
        self.head = nn.Conv2d(ch[0], 1, 1)
        self.depth = depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        step = 2**self.depth
        if x.ndim != 4 or x.shape[2] % step or x.shape[3] % step:
            raise ValueError(f"SmallUNet expects (n, C, H, W) with H and W divisible by {step}, got {tuple(x.shape)}")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else nn.functional.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()  # the bottleneck
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


def dice_loss(probs: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice loss ``1 - (2 sum(p t) + s) / (sum(p) + sum(t) + s)`` per image, averaged.

    ``probs``: ``(n, ...)`` foreground probabilities; ``target``: the same shape, 0/1.
    Unlike per-pixel cross-entropy it does not let a small object drown in background pixels.
    """
    if probs.shape != target.shape:
        raise ValueError(f"probs {tuple(probs.shape)} and target {tuple(target.shape)} differ in shape")
    p, t = probs.flatten(1), target.flatten(1).to(probs.dtype)
    inter = (p * t).sum(dim=1)
    return (1 - (2 * inter + smooth) / (p.sum(dim=1) + t.sum(dim=1) + smooth)).mean()


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel binary cross-entropy plus soft Dice, for ``(n, 1, H, W)`` logits and 0/1 targets."""
    target = target.to(logits.dtype)
    bce = nn.functional.binary_cross_entropy_with_logits(logits, target)
    return bce + dice_loss(torch.sigmoid(logits), target)


def unet_step(model: nn.Module, batch, *, generator: torch.Generator) -> torch.Tensor:
    """The U-Net's step for ``training.fit``: a random left-right flip of the whole batch ``(x, y)``
    (the same flip for the images and their masks, drawn from ``generator``), then
    ``segmentation_loss``."""
    x, y = batch
    if torch.rand(1, generator=generator) < 0.5:  # the same flip for image and mask
        x, y = x.flip(-1), y.flip(-1)
    return segmentation_loss(model(x), y)


def train_unet(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, epochs: int = 10, lr: float = 3e-3,
               batch_size: int = 32, seed: int = 0, device: str = "auto", progress: bool = True) -> pd.DataFrame:
    """Train ``model`` in place with Adam, a one-cycle schedule and random flips; one row per epoch.

    ``training.fit`` with ``unet_step``; batch order and flips come from one generator seeded
    with ``seed``. ``images``: ``(n, 3, H, W)`` float in [0, 1]; ``masks``: ``(n, 1, H, W)`` 0/1.
    Returns a DataFrame with ``epoch, loss`` (mean training loss) and ``seconds``.
    """
    import functools

    from visrec_helpers.core.device import get_device
    from visrec_helpers.core.rng import torch_generator
    from visrec_helpers.vision.training import ShuffledBatches, fit

    dev = get_device(device)
    model.to(dev)
    gen = torch_generator(seed)
    steps = epochs * -(-len(images) // batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    history = fit(model, ShuffledBatches((images, masks), batch_size, gen), functools.partial(unet_step, generator=gen),
                  epochs=epochs, optimiser=opt, scheduler=sched, device=dev, seed=seed, progress=progress,
                  desc="U-Net epochs")
    return history.rename(columns={"train_loss": "loss"})


class UNetSegmenter:
    """Foreground segmentation with ``SmallUNet`` trained by ``train_unet``.

    ``fit(images, masks)``: ``(n, H, W, 3) uint8`` and ``(n, H, W) bool``; returns ``self``.
    Learned state: ``model_`` (eval mode) and ``history_`` (per-epoch DataFrame).
    ``predict(images)`` returns ``(n, H, W) bool`` masks.

    With ``cache=True`` the trained weights and history are stored by ``core.cache.cached_model``
    under a key of the hyper-parameters and a hash of the training arrays, and loaded back
    (``weights_only=True``) by a later ``fit`` on the same data: notebooks re-run in seconds.
    """

    def __init__(self, base: int = 16, depth: int = 3, epochs: int = 10, lr: float = 3e-3, batch_size: int = 32,
                 seed: int = 0, device: str = "auto", progress: bool = True, cache: bool = False):
        self.base, self.depth, self.epochs, self.lr, self.batch_size = base, depth, epochs, lr, batch_size
        self.seed, self.device, self.progress, self.cache = seed, device, progress, cache

    def _tensor(self, images) -> torch.Tensor:
        from visrec_helpers.vision.training import images_to_tensor

        arr = np.asarray(images)
        if arr.ndim != 4 or arr.shape[-1] != 3 or len(arr) == 0:
            raise ValueError(f"images must be a non-empty (n, H, W, 3) array, got shape {arr.shape}")
        if arr.dtype != np.uint8:
            raise TypeError(f"images must be uint8 (0..255), got {arr.dtype}")
        step = 2**self.depth
        if arr.shape[1] % step or arr.shape[2] % step:
            raise ValueError(f"image height and width must be divisible by {step}, got {arr.shape[1:3]}")
        return images_to_tensor(arr)

    def fit(self, images, masks) -> UNetSegmenter:
        import hashlib

        from visrec_helpers.core.cache import cached_model
        from visrec_helpers.core.rng import init_weights_

        X = self._tensor(images)
        masks = np.asarray(masks)
        if masks.shape != tuple(X.shape[:1]) + tuple(X.shape[2:]):
            raise ValueError(f"masks must have shape {(X.shape[0],) + tuple(X.shape[2:])}, got {masks.shape}")
        if masks.dtype != bool:
            raise TypeError(f"masks must be bool, got {masks.dtype}")
        Y = torch.from_numpy(masks[:, None].astype(np.float32))

        def train(model):
            history = train_unet(model, X, Y, epochs=self.epochs, lr=self.lr, batch_size=self.batch_size,
                                 seed=self.seed, device=self.device, progress=self.progress)
            return {"history": {c: history[c].tolist() for c in history}}

        # The training data are part of the key: a hash of the image and mask bytes.
        digest = hashlib.sha1(np.ascontiguousarray(images).tobytes())
        digest.update(np.ascontiguousarray(masks).tobytes())
        params = {"base": self.base, "depth": self.depth, "epochs": self.epochs, "lr": self.lr,
                  "batch_size": self.batch_size, "seed": self.seed, "data": digest.hexdigest()}
        self.model_, extra = cached_model(
            "unet", params, lambda: init_weights_(SmallUNet(base=self.base, depth=self.depth), self.seed),
            train, version=4, cache=self.cache)
        self.history_ = pd.DataFrame(extra.get("history", {}))
        return self

    def predict_proba(self, images, batch_size: int = 64) -> np.ndarray:
        """Foreground probability per pixel, ``(n, H, W) float32``."""
        from visrec_helpers.core.device import get_device

        if not hasattr(self, "model_"):
            raise RuntimeError("UNetSegmenter is not fitted yet; call fit(images, masks) first")
        X, dev = self._tensor(images), get_device(self.device)
        model = self.model_.to(dev).eval()
        with torch.no_grad():
            out = [torch.sigmoid(model(X[s : s + batch_size].to(dev)))[:, 0].cpu() for s in range(0, len(X), batch_size)]
        return torch.cat(out).numpy()

    def predict(self, images) -> np.ndarray:
        return self.predict_proba(images) > 0.5


def per_image_scores(preds, trues) -> pd.DataFrame:
    """IoU and Dice of each image of paired ``(n, H, W)`` mask stacks: columns ``iou, dice``."""
    preds, trues = np.asarray(preds), np.asarray(trues)
    if preds.ndim != 3 or preds.shape != trues.shape or len(preds) == 0:
        raise ValueError(f"preds {preds.shape} and trues {trues.shape} must be equal non-empty (n, H, W) stacks")
    return pd.DataFrame({"iou": [iou(p, t) for p, t in zip(preds, trues)],
                         "dice": [dice(p, t) for p, t in zip(preds, trues)]})


def compare_methods(images, masks, methods: dict, progress: bool = True) -> pd.DataFrame:
    """Mean IoU and Dice of each method on a labelled set, best first.

    ``methods`` maps a name to a function ``image -> mask`` or to an ``(n, H, W)`` array of
    masks already predicted for ``images`` (for batch models such as the U-Net).
    """
    from tqdm.auto import tqdm

    images, masks = np.asarray(images), np.asarray(masks)
    if len(images) == 0 or len(images) != len(masks):
        raise ValueError(f"need equally many images and masks (>0), got {len(images)} and {len(masks)}")
    rows = []
    for name, fn in tqdm(methods.items(), desc="methods", disable=not progress, leave=False):
        preds = np.asarray(fn) if isinstance(fn, np.ndarray) else np.stack([fn(im) for im in images])
        rows.append({"method": name, **score_masks(preds, masks)})
    return pd.DataFrame(rows).sort_values("iou", ascending=False, ignore_index=True)


def contour_grid(images, rows: dict, truth=None, size: float = 1.5, title: str | None = None):
    """A grid of images with mask *outlines* (never tints, which vanish on red photos).

    ``images``: ``(n, H, W, 3)``; ``rows``: ``{name: (n, H, W) bool masks}``, one grid row per
    entry, drawn as a solid lime contour; ``truth``: ``(n, H, W)`` masks drawn on every panel as
    a dashed white contour. Each contour has a black underlay so it stays visible on any
    colour. Returns the figure.
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    names = list(rows)
    fig, axes = plt.subplots(len(names), len(images), figsize=(size * len(images), size * len(names) + 0.3),
                             squeeze=False)

    def outline(ax, mask, colour, style):
        m = np.pad(np.asarray(mask, float), 1)  # a closed outline where the mask touches the frame
        if not m.any():  # an empty mask has no outline (and matplotlib would warn)
            return
        for c, w in (("black", 3.0), (colour, 1.4)):
            ax.contour(np.arange(-1, m.shape[1] - 1), np.arange(-1, m.shape[0] - 1), m, levels=[0.5],
                       colors=c, linewidths=w, linestyles=style if c == colour else "solid")

    for r, name in enumerate(names):
        for c, img in enumerate(images):
            ax = axes[r, c]
            ax.imshow(img, interpolation="nearest")
            if truth is not None:
                outline(ax, truth[c], "white", "dashed")
            if rows[name] is not None:
                outline(ax, rows[name][c], "lime", "solid")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlim(-0.5, img.shape[1] - 0.5)
            ax.set_ylim(img.shape[0] - 0.5, -0.5)
            if c == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
