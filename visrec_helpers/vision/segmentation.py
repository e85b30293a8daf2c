"""Image segmentation: classical methods (Otsu, watershed, k-means colour clustering,
GrabCut), a small U-Net, a generator of composite scenes with exact masks, and the
overlap scores IoU and Dice.

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
# Composite scenes with exact masks
# ---------------------------------------------------------------------------

TEXTURES = ("brick", "grass", "gravel", "coffee", "chelsea", "astronaut", "rocket", "china")


def composite_digits(digits: np.ndarray, n: int, size: int = 48, seed: int = 0,
                     textures=TEXTURES, scale=(0.55, 0.95)) -> tuple[np.ndarray, np.ndarray]:
    """Scenes of one real digit painted onto a crop of a real photo or texture, with its mask.

    ``digits``: ``(m, h, w) uint8`` white-on-black digit images (for example MNIST), drawn at
    random. Each scene takes a random ``size`` x ``size`` crop of a bundled photo (a random
    zoom), resizes a digit to a random share ``scale`` of the side, places it at random and
    paints it with a random colour through its own intensity as opacity. The mask is where
    that opacity exceeds 0.5, so it is exact by construction.

    Returns ``(images (n, size, size, 3) uint8, masks (n, size, size) bool)``.
    """
    from PIL import Image

    from visrec_helpers.data import load_photos

    digits = np.asarray(digits)
    if digits.ndim != 3 or len(digits) == 0 or digits.dtype != np.uint8:
        raise ValueError(f"digits must be a non-empty (m, h, w) uint8 array, got {digits.shape} {digits.dtype}")
    if n < 1 or size < 16:
        raise ValueError(f"need n >= 1 and size >= 16, got n={n}, size={size}")
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"scale must be (lo, hi) with 0 < lo <= hi <= 1, got {scale}")
    rng = np.random.default_rng(seed)
    backgrounds = list(load_photos(list(textures)).values())
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.empty((n, size, size), bool)
    for i in range(n):
        bg = backgrounds[rng.integers(len(backgrounds))]
        side = int(rng.integers(size, min(bg.shape[:2]) // 2 + 1))  # random zoom level
        y0, x0 = rng.integers(0, bg.shape[0] - side + 1), rng.integers(0, bg.shape[1] - side + 1)
        crop = Image.fromarray(bg[y0 : y0 + side, x0 : x0 + side]).resize((size, size), Image.Resampling.BILINEAR)
        d = int(round(size * rng.uniform(*scale)))
        digit = Image.fromarray(digits[rng.integers(len(digits))]).resize((d, d), Image.Resampling.BILINEAR)
        alpha = np.zeros((size, size))
        oy, ox = rng.integers(0, size - d + 1), rng.integers(0, size - d + 1)
        alpha[oy : oy + d, ox : ox + d] = np.asarray(digit, np.float64) / 255.0
        colour = rng.integers(0, 256, 3).astype(np.float64)
        img = (1 - alpha[..., None]) * np.asarray(crop, np.float64) + alpha[..., None] * colour
        images[i] = np.round(img).astype(np.uint8)
        masks[i] = alpha > 0.5
    return images, masks


# ---------------------------------------------------------------------------
# A small U-Net
# ---------------------------------------------------------------------------


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallUNet(nn.Module):
    """A two-level U-Net for ``(n, in_channels, H, W)`` float input in [0, 1], H and W divisible by 4.

    Encoder blocks of ``base`` and ``2 base`` channels, a ``4 base`` bottleneck, and a decoder
    that upsamples and concatenates the encoder's features at the same resolution (the skip
    connections that give U-Net its sharp boundaries). Output: ``(n, n_classes, H, W)`` logits.
    """

    def __init__(self, in_channels: int = 3, n_classes: int = 2, base: int = 8):
        super().__init__()
        if base < 1 or in_channels < 1 or n_classes < 2:
            raise ValueError(f"need base >= 1, in_channels >= 1, n_classes >= 2; got {base}, {in_channels}, {n_classes}")
        self.enc1, self.enc2 = _block(in_channels, base), _block(base, 2 * base)
        self.mid = _block(2 * base, 4 * base)
        self.up2 = nn.ConvTranspose2d(4 * base, 2 * base, 2, stride=2)
        self.dec2 = _block(4 * base, 2 * base)
        self.up1 = nn.ConvTranspose2d(2 * base, base, 2, stride=2)
        self.dec1 = _block(2 * base, base)
        self.out = nn.Conv2d(base, n_classes, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[2] % 4 or x.shape[3] % 4:
            raise ValueError(f"SmallUNet expects (n, C, H, W) with H and W divisible by 4, got {tuple(x.shape)}")
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        m = self.mid(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.out(d1)


class UNetSegmenter:
    """Foreground segmentation with ``SmallUNet``, trained by ``training.train_classifier``
    (per-pixel cross-entropy; its accuracy column is pixel accuracy).

    ``fit(images, masks)``: ``(n, H, W, 3) uint8`` and ``(n, H, W) bool``; returns ``self``.
    Learned state: ``model_`` (in eval mode) and ``history_`` (per-epoch DataFrame).
    ``predict(images)`` returns ``(n, H, W) bool`` masks.

    With ``cache=True`` the trained weights and history are stored by ``core.cache.cached_model``
    under a key of the hyper-parameters and a hash of the training arrays, and loaded back
    (``weights_only=True``) by a later ``fit`` on the same data: notebooks re-run in seconds.
    """

    def __init__(self, base: int = 8, epochs: int = 6, lr: float = 3e-3, batch_size: int = 8, seed: int = 0,
                 device: str = "auto", progress: bool = True, cache: bool = False):
        self.base, self.epochs, self.lr, self.batch_size = base, epochs, lr, batch_size
        self.seed, self.device, self.progress, self.cache = seed, device, progress, cache

    @staticmethod
    def _tensor(images) -> torch.Tensor:
        from visrec_helpers.vision.training import images_to_tensor

        arr = np.asarray(images)
        if arr.ndim != 4 or arr.shape[-1] != 3 or len(arr) == 0:
            raise ValueError(f"images must be a non-empty (n, H, W, 3) array, got shape {arr.shape}")
        if arr.dtype != np.uint8:
            raise TypeError(f"images must be uint8 (0..255), got {arr.dtype}")
        if arr.shape[1] % 4 or arr.shape[2] % 4:
            raise ValueError(f"image height and width must be divisible by 4, got {arr.shape[1:3]}")
        return images_to_tensor(arr)

    def fit(self, images, masks) -> UNetSegmenter:
        import hashlib

        from visrec_helpers.core.cache import cached_model
        from visrec_helpers.core.rng import init_weights_
        from visrec_helpers.vision.training import train_classifier

        X = self._tensor(images)
        masks = np.asarray(masks)
        if masks.shape != tuple(X.shape[:1]) + tuple(X.shape[2:]):
            raise ValueError(f"masks must have shape {(X.shape[0],) + tuple(X.shape[2:])}, got {masks.shape}")
        if masks.dtype != bool:
            raise TypeError(f"masks must be bool, got {masks.dtype}")

        def train(model):
            history = train_classifier(model, X, torch.from_numpy(masks.astype(np.int64)), epochs=self.epochs,
                                       lr=self.lr, batch_size=self.batch_size, seed=self.seed, device=self.device,
                                       scheduler="onecycle", progress=self.progress)
            return {"history": {c: history[c].tolist() for c in history}}

        # The training data are part of the key: a hash of the image and mask bytes.
        digest = hashlib.sha1(np.ascontiguousarray(images).tobytes())
        digest.update(np.ascontiguousarray(masks).tobytes())
        params = {"base": self.base, "epochs": self.epochs, "lr": self.lr, "batch_size": self.batch_size,
                  "seed": self.seed, "data": digest.hexdigest()}
        self.model_, extra = cached_model("unet", params, lambda: init_weights_(SmallUNet(base=self.base), self.seed),
                                          train, version=3, cache=self.cache)
        self.history_ = pd.DataFrame(extra.get("history", {}))
        return self

    def predict_proba(self, images) -> np.ndarray:
        """Foreground probability per pixel, ``(n, H, W) float32``."""
        from visrec_helpers.vision.training import predict

        if not hasattr(self, "model_"):
            raise RuntimeError("UNetSegmenter is not fitted yet; call fit(images, masks) first")
        logits = torch.from_numpy(predict(self.model_, self._tensor(images), batch_size=64, device=self.device))
        return torch.softmax(logits, dim=1)[:, 1].numpy()

    def predict(self, images) -> np.ndarray:
        return self.predict_proba(images) > 0.5


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
