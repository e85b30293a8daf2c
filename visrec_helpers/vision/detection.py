"""Object detection and recognition on real products (task t06).

Scenes: emoji "products" (``data.emoji_catalog`` drawings with their alpha channel,
``data.emoji_rgba``) pasted at several sizes, some overlapping, onto crops of the bundled
real photos. The alpha channel gives every object's exact box, so detectors can be scored
without hand labelling. ``compose_detection_scenes`` builds them.

Boxes are ``(k, 4)`` arrays ``[x0, y0, x1, y1]`` in pixels with exclusive ends
(``x1 = x0 + width``); ground truth is ``int64``, predictions ``float64``.

- Geometry: ``box_iou`` (all pairs), ``nms`` (greedy non-maximum suppression).
- A learned detector: ``CentreNet``, a CenterNet-style head (centre heatmap, box size,
  sub-cell offset) on frozen ImageNet EfficientNet-Lite0 feature maps
  (``backbone_features``), trained with ``centre_loss`` by ``detector_train_step`` in
  ``fit_centrenet``;
  ``centre_targets`` draws the training targets and ``decode_centres`` turns outputs into
  scored boxes.
- A classical baseline: ``segment_proposals``, graph-based segmentation regions
  (Felzenszwalb-Huttenlocher, the first stage of selective search) scored by colour
  contrast with their surroundings.
- Scores: ``match_boxes`` (one-to-one by IoU), ``match_detections`` (greedy in score order,
  as PASCAL VOC / COCO), ``average_precision``, ``detection_report`` (precision, recall, AP
  and class mAP at IoU 0.5 with intervals from a bootstrap over images).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DETECTION_GROUPS = ("Smileys & Emotion", "Animals & Nature", "Food & Drink", "Travel & Places", "Activities",
                    "Objects")
TRAIN_PHOTOS = ("astronaut", "coffee", "rocket", "brick", "grass", "camera", "coins", "page", "china",
                "immunohistochemistry")
TEST_PHOTOS = ("chelsea", "gravel", "moon", "clock", "flower", "retina", "text", "cell")


@dataclass
class DetectionScene:
    """One scene: ``image`` ``(H, W, 3) uint8``, true ``boxes`` ``(k, 4) int64``, class ``labels`` ``(k,)``,
    catalog ``items`` ``(k,)`` and the background ``photo``'s name."""

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    items: np.ndarray
    photo: str = ""


def check_boxes(boxes, name: str = "boxes") -> np.ndarray:
    b = np.asarray(boxes)
    if b.size == 0:
        return np.zeros((0, 4), dtype=b.dtype if b.dtype.kind in "if" else np.int64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{name} must have shape (k, 4) as [x0, y0, x1, y1], got {b.shape}")
    if not np.isfinite(b).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    if ((b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])).any():
        raise ValueError(f"{name} need x1 > x0 and y1 > y0 (exclusive ends)")
    return b


# ---------------------------------------------------------------------------
# Scenes with known boxes
# ---------------------------------------------------------------------------

def paste_object(canvas: np.ndarray, rgba: np.ndarray, x: int, y: int) -> tuple[int, int, int, int]:
    """Alpha-composite ``rgba`` ``(s, s, 4) uint8`` onto ``canvas`` ``(H, W, 3) uint8`` in place at ``(x, y)``.

    Returns the drawing's exact box (pixels with alpha >= 128), in canvas coordinates.
    The drawing must lie wholly inside the canvas.
    """
    s = rgba.shape[0]
    if x < 0 or y < 0 or x + s > canvas.shape[1] or y + s > canvas.shape[0]:
        raise ValueError(f"a {s}-pixel drawing at ({x}, {y}) does not fit a canvas of {canvas.shape[:2]}")
    a = rgba[..., 3:].astype(np.float32) / 255.0
    region = canvas[y : y + s, x : x + s].astype(np.float32)
    canvas[y : y + s, x : x + s] = np.round(a * rgba[..., :3] + (1 - a) * region).astype(np.uint8)
    ys, xs = np.nonzero(rgba[..., 3] >= 128)
    if len(xs) == 0:
        raise ValueError("the drawing has no pixel with alpha >= 128: nothing to box")
    return x + int(xs.min()), y + int(ys.min()), x + int(xs.max()) + 1, y + int(ys.max()) + 1


def _backgrounds(photos: dict, short_side: int) -> dict:
    from PIL import Image

    out = {}
    for name, arr in photos.items():
        h, w = arr.shape[:2]
        f = short_side / min(h, w)
        size = (max(short_side, round(w * f)), max(short_side, round(h * f)))
        out[name] = np.asarray(Image.fromarray(arr).resize(size, Image.Resampling.LANCZOS))
    return out


def compose_detection_scenes(rgba: np.ndarray, labels: np.ndarray, photos: dict, n_scenes: int = 100,
                             size: int = 256, n_objects: tuple[int, int] = (2, 5),
                             sizes: tuple[int, int] = (28, 96), overlap: float = 0.3,
                             seed: int = 0) -> list[DetectionScene]:
    """``n_scenes`` scenes of ``size`` x ``size`` pixels: products pasted on real photo crops.

    ``rgba``: ``(n, s, s, 4) uint8`` drawings with alpha (``data.emoji_rgba``); ``labels``:
    their classes ``(n,)``; ``photos``: ``name -> (H, W, 3) uint8`` backgrounds (each scaled
    so its short side is ``1.25 * size``, then a random ``size`` crop is taken). Each scene
    gets ``n_objects`` drawings (low and high inclusive) at a side drawn log-uniformly from
    ``sizes`` pixels. With probability ``overlap`` a drawing is placed over an earlier one
    (box IoU 0.1 to 0.4, at most half of the earlier box covered); otherwise it keeps clear
    of all earlier boxes. True boxes are the whole drawings (amodal: an occluded object keeps
    its full box). ``items`` holds the row of ``rgba`` each object came from.
    """
    from PIL import Image

    rgba, labels = np.asarray(rgba), np.asarray(labels)
    if rgba.ndim != 4 or rgba.shape[-1] != 4 or rgba.dtype != np.uint8 or len(rgba) == 0:
        raise ValueError(f"rgba must be a non-empty (n, s, s, 4) uint8 array, got {rgba.shape} {rgba.dtype}")
    if len(labels) != len(rgba):
        raise ValueError(f"{len(rgba)} drawings but {len(labels)} labels")
    if not photos:
        raise ValueError("photos is empty: give at least one background photo")
    lo, hi = n_objects
    if not 1 <= lo <= hi:
        raise ValueError(f"n_objects must be (low, high) with 1 <= low <= high, got {n_objects}")
    if not 8 <= sizes[0] <= sizes[1] <= size // 2:
        raise ValueError(f"sizes={sizes} must satisfy 8 <= low <= high <= size // 2 = {size // 2}")
    if not 0.0 <= overlap <= 1.0:
        raise ValueError(f"overlap must be a probability in [0, 1], got {overlap}")
    rng = np.random.default_rng(seed)
    backs = _backgrounds(photos, int(round(1.25 * size)))
    names = sorted(backs)
    scenes = []
    for _ in range(n_scenes):
        name = names[int(rng.integers(len(names)))]
        src = backs[name]
        y0, x0 = int(rng.integers(0, src.shape[0] - size + 1)), int(rng.integers(0, src.shape[1] - size + 1))
        canvas = src[y0 : y0 + size, x0 : x0 + size].copy()
        boxes, labs, items = [], [], []
        for _ in range(int(rng.integers(lo, hi + 1))):
            i = int(rng.integers(len(rgba)))
            side = int(round(np.exp(rng.uniform(np.log(sizes[0]), np.log(sizes[1])))))
            drawing = np.asarray(Image.fromarray(rgba[i]).resize((side, side), Image.Resampling.LANCZOS))
            ys, xs = np.nonzero(drawing[..., 3] >= 128)
            if len(xs) == 0:
                continue
            inner = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            over = bool(boxes) and rng.random() < overlap
            for _try in range(100):
                if over:  # near a random earlier object
                    bx = boxes[int(rng.integers(len(boxes)))]
                    cx = int(rng.integers(bx[0] - side // 2, bx[2] - side // 2 + 1))
                    cy = int(rng.integers(bx[1] - side // 2, bx[3] - side // 2 + 1))
                    x, y = int(np.clip(cx, 0, size - side)), int(np.clip(cy, 0, size - side))
                else:
                    x, y = int(rng.integers(0, size - side + 1)), int(rng.integers(0, size - side + 1))
                box = np.array([[x + inner[0], y + inner[1], x + inner[2], y + inner[3]]])
                if boxes:
                    old = np.array(boxes)
                    iou = box_iou(box, old)[0]
                    iw = np.clip(np.minimum(box[0, 2], old[:, 2]) - np.maximum(box[0, 0], old[:, 0]), 0, None)
                    ih = np.clip(np.minimum(box[0, 3], old[:, 3]) - np.maximum(box[0, 1], old[:, 1]), 0, None)
                    covered = iw * ih / ((old[:, 2] - old[:, 0]) * (old[:, 3] - old[:, 1]))
                    ok = (iou.max() <= 0.4 and covered.max() <= 0.5 and iou.max() >= 0.1) if over else iou.max() == 0
                    if not ok:
                        continue
                boxes.append(paste_object(canvas, drawing, x, y))
                labs.append(int(labels[i]))
                items.append(i)
                break
        scenes.append(DetectionScene(canvas, np.array(boxes, dtype=np.int64).reshape(-1, 4),
                                     np.array(labs, dtype=np.int64), np.array(items, dtype=np.int64), name))
    return scenes


# ---------------------------------------------------------------------------
# Geometry: IoU and non-maximum suppression
# ---------------------------------------------------------------------------

def box_iou(a, b) -> np.ndarray:
    """Intersection over union of every box in ``a`` ``(n, 4)`` with every box in ``b`` ``(m, 4)``: ``(n, m)``."""
    a = check_boxes(a, "a").astype(np.float64)
    b = check_boxes(b, "b").astype(np.float64)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def nms(boxes, scores, iou_threshold: float = 0.5) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the kept boxes, highest score first.

    Take the best-scoring box, drop every remaining box whose IoU with it exceeds
    ``iou_threshold``, repeat. Ties in score keep the earlier box.
    """
    boxes = check_boxes(boxes)
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    order = np.argsort(-scores, kind="stable")
    iou = box_iou(boxes, boxes)
    keep = []
    while len(order):
        best = order[0]
        keep.append(best)
        order = order[1:][iou[best, order[1:]] <= iou_threshold]
    return np.array(keep, dtype=np.int64)


# ---------------------------------------------------------------------------
# The learned detector: a centre-heatmap head on frozen pretrained features
# ---------------------------------------------------------------------------

FEATURE_LAYERS = (2, 4)  # EfficientNet-Lite0 stages: stride 8 (40 channels) and stride 16 (112)


def backbone_features(encoder, images, layers=FEATURE_LAYERS, batch_size: int = 16,
                      progress: bool = False) -> torch.Tensor:
    """Frozen feature maps for detection: ``(n, C, h, w) float32``, every stage upsampled to the first's grid.

    ``encoder``: a ``vision.pretrained.PretrainedEncoder`` (its ``input_size`` sets the
    image size: 256 px gives a 32 x 32 grid at stride 8). Runs the stem and the block
    stages up to the last of ``layers`` only (the rest of the network is not needed). The
    default stages give ``C = 152``.
    """
    from tqdm.auto import tqdm

    m = encoder.model.eval()
    stages, last = sorted(layers), max(layers)
    out = []
    with torch.inference_mode():
        for s in tqdm(range(0, len(images), batch_size), desc="backbone", disable=not progress, leave=False):
            x = m.bn1(m.conv_stem(encoder.preprocess(images[s : s + batch_size]).to(encoder.device)))
            maps = []
            for i in range(last + 1):
                x = m.blocks[i](x)
                if i in stages:
                    maps.append(x.float().cpu())
            g = maps[0].shape[-2:]
            out.append(torch.cat([maps[0]] + [F.interpolate(t, size=g, mode="bilinear", align_corners=False)
                                              for t in maps[1:]], dim=1))
    return torch.cat(out)


class CentreNet(nn.Module):
    """A CenterNet-style detection head: each grid cell predicts whether an object's centre is there.

    Input: frozen features ``(b, C, h, w)``. Outputs: ``heat`` ``(b, 1, h, w)`` logits of
    "an object's centre is in this cell", ``size`` ``(b, 2, h, w)`` the box's log width and
    height in cells, ``offset`` ``(b, 2, h, w)`` the centre's position inside its cell (0..1).
    """

    def __init__(self, in_channels: int, hidden: int = 64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.BatchNorm2d(hidden), nn.ReLU(),
        )
        self.heat = nn.Conv2d(hidden, 1, 1)
        self.size = nn.Conv2d(hidden, 2, 1)
        self.offset = nn.Conv2d(hidden, 2, 1)
        nn.init.constant_(self.heat.bias, -2.2)  # start by predicting "no centre" (p = 0.1): a stable start

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.body(features)
        return self.heat(h), self.size(h), torch.sigmoid(self.offset(h))


def centre_targets(boxes_per_image, grid: int, stride: int) -> dict[str, torch.Tensor]:
    """Training targets of ``CentreNet`` for a batch of true boxes (lists of ``(k, 4)`` pixel boxes).

    ``heat`` ``(b, 1, grid, grid)``: a Gaussian bump (sigma = a sixth of the box side, in
    cells) around each centre, 1 at the centre cell, the maximum where bumps meet. ``size``
    and ``offset`` ``(b, 2, grid, grid)``: log width/height in cells and the centre's
    position inside its cell, set at centre cells only (``mask`` ``(b, 1, grid, grid)``).
    """
    b = len(boxes_per_image)
    heat, size, offset = torch.zeros(b, 1, grid, grid), torch.zeros(b, 2, grid, grid), torch.zeros(b, 2, grid, grid)
    mask = torch.zeros(b, 1, grid, grid)
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32),
                            indexing="ij")
    for n, boxes in enumerate(boxes_per_image):
        for x0, y0, x1, y1 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
            cx, cy = (x0 + x1) / 2 / stride, (y0 + y1) / 2 / stride
            w, h = (x1 - x0) / stride, (y1 - y0) / stride
            i, j = min(int(cy), grid - 1), min(int(cx), grid - 1)
            sig_x, sig_y = max(w / 6, 0.5), max(h / 6, 0.5)
            bump = torch.exp(-((xs - j) ** 2) / (2 * sig_x**2) - ((ys - i) ** 2) / (2 * sig_y**2))
            heat[n, 0] = torch.maximum(heat[n, 0], bump)
            size[n, :, i, j] = torch.tensor([np.log(w), np.log(h)], dtype=torch.float32)
            offset[n, :, i, j] = torch.tensor([cx - j, cy - i], dtype=torch.float32)
            mask[n, 0, i, j] = 1.0
    return {"heat": heat, "size": size, "offset": offset, "mask": mask}


def centre_loss(outputs, targets: dict, size_weight: float = 1.0) -> torch.Tensor:
    """CenterNet's loss: a focal loss on the heatmap plus L1 on size and offset at the true centres.

    The focal loss (alpha 2, beta 4) down-weights the many easy background cells and the
    cells close to a centre (target near 1); everything is divided by the number of objects.
    """
    heat, size, offset = outputs
    p = torch.sigmoid(heat).clamp(1e-4, 1 - 1e-4)
    t, mask = targets["heat"], targets["mask"]
    n_obj = mask.sum().clamp(min=1.0)
    pos = mask * (1 - p) ** 2 * torch.log(p)
    neg = (1 - mask) * (1 - t) ** 4 * p**2 * torch.log(1 - p)
    focal = -(pos + neg).sum() / n_obj
    l1_size = (mask * (size - targets["size"]).abs()).sum() / n_obj
    l1_offset = (mask * (offset - targets["offset"]).abs()).sum() / n_obj
    return focal + size_weight * l1_size + l1_offset


def detector_train_step(model: nn.Module, optimiser: torch.optim.Optimizer, features: torch.Tensor,
                        targets: dict) -> float:
    """One optimisation step of the head on a batch of frozen features; returns the loss."""
    model.train()
    optimiser.zero_grad()
    loss = centre_loss(model(features), targets)
    loss.backward()
    optimiser.step()
    return float(loss.detach())


def decode_centres(outputs, stride: int, top_k: int = 20, min_score: float = 0.05,
                   nms_iou: float = 0.6) -> list[tuple[np.ndarray, np.ndarray]]:
    """Scored boxes from ``CentreNet`` outputs: per image ``(boxes (k, 4) float64 pixels, scores (k,))``.

    A peak is a cell whose heat is the maximum of its 3 x 3 neighbourhood; the ``top_k``
    peaks above ``min_score`` become boxes (centre from cell + offset, size from the log
    size), and ``nms`` at ``nms_iou`` removes duplicates left by wide peaks.
    """
    heat, size, offset = (o.detach().float().cpu() for o in outputs)
    p = torch.sigmoid(heat)
    peaks = p * (F.max_pool2d(p, 3, stride=1, padding=1) == p)
    out = []
    for n in range(p.shape[0]):
        flat = peaks[n, 0].flatten()
        k = min(top_k, flat.numel())
        scores, idx = flat.topk(k)
        keep = scores >= min_score
        scores, idx = scores[keep].numpy().astype(np.float64), idx[keep].numpy()
        i, j = idx // p.shape[-1], idx % p.shape[-1]
        cx = (j + offset[n, 0, i, j].numpy()) * stride
        cy = (i + offset[n, 1, i, j].numpy()) * stride
        w, h = np.exp(size[n, 0, i, j].numpy()) * stride, np.exp(size[n, 1, i, j].numpy()) * stride
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float64)
        kept = nms(boxes, scores, nms_iou) if len(boxes) else np.zeros(0, np.int64)
        out.append((boxes[kept].reshape(-1, 4), scores[kept]))
    return out


def fit_centrenet(model: nn.Module, features: torch.Tensor, boxes_per_image, stride: int = 8, epochs: int = 12,
                  batch_size: int = 32, lr: float = 3e-3, seed: int = 0, progress: bool = True) -> list[float]:
    """Train a ``CentreNet`` in place on frozen ``features`` ``(n, C, g, g)`` and their true boxes.

    Every scene is also shown mirrored left-right (features and boxes flipped together).
    Adam with a one-cycle learning rate up to ``lr``; batches come from a ``torch.Generator``
    seeded with ``seed``. Returns the mean loss of each epoch; the model is left in eval mode.
    """
    from tqdm.auto import tqdm

    from visrec_helpers.core.rng import torch_generator

    if len(boxes_per_image) != len(features):
        raise ValueError(f"{len(features)} feature maps but {len(boxes_per_image)} box lists")
    grid, width = features.shape[-1], features.shape[-1] * stride
    boxes = [np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in boxes_per_image]
    mirrored = [np.column_stack([width - b[:, 2], b[:, 1], width - b[:, 0], b[:, 3]]) for b in boxes]
    feats = torch.cat([features, features.flip(-1)])
    targets = centre_targets(boxes + mirrored, grid, stride)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * int(np.ceil(len(feats) / batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    gen = torch_generator(seed)
    history = []
    for _ in tqdm(range(epochs), desc="detector", disable=not progress, leave=False):
        order, losses = torch.randperm(len(feats), generator=gen), []
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            losses.append(detector_train_step(model, opt, feats[idx], {k: v[idx] for k, v in targets.items()}))
            sched.step()
        history.append(float(np.mean(losses)))
    model.eval()
    return history


# ---------------------------------------------------------------------------
# The classical baseline: segmentation regions as proposals
# ---------------------------------------------------------------------------

def segment_proposals(image: np.ndarray, scales=(100, 300, 1000), min_side: int = 12,
                      max_side_share: float = 0.6, nms_iou: float = 0.5,
                      downscale: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Classical proposals: ``(boxes (k, 4) float64, scores (k,))`` from graph-based segmentation.

    Felzenszwalb-Huttenlocher segmentation (``skimage.segmentation.felzenszwalb``) at each
    of ``scales`` (larger = bigger regions); each region's box is a proposal, kept when
    both sides lie between ``min_side`` pixels and ``max_side_share`` of the image. Score:
    the colour distance (CIELAB, in units of 100) between the region's mean and the mean of
    a ring around its box, so a region that stands out from its surroundings ranks first.
    ``nms`` at ``nms_iou`` removes the near-copies that the scales share. The segmentation
    runs on the image shrunk ``downscale`` times (boxes are scaled back), which is
    ``downscale**2`` times faster and loses little at these object sizes.
    """
    from scipy import ndimage
    from skimage.color import rgb2lab
    from skimage.segmentation import felzenszwalb

    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {img.shape} {img.dtype}")
    if isinstance(downscale, bool) or not isinstance(downscale, (int, np.integer)) or downscale < 1:
        raise ValueError(f"downscale={downscale!r} must be a positive integer")
    f = int(downscale)
    H, W = img.shape[0] // f, img.shape[1] // f
    img = img[: H * f, : W * f].reshape(H, f, W, f, 3).mean((1, 3)).round().astype(np.uint8)
    min_side = max(2, min_side // f)
    lab = rgb2lab(img)
    # Summed-area tables give the colour sum of any box in O(1): ring = outer box - inner box.
    sat = np.zeros((H + 1, W + 1, 4))
    sat[1:, 1:, :3] = lab.cumsum(0).cumsum(1)
    sat[1:, 1:, 3] = np.arange(1, H + 1)[:, None] * np.arange(1, W + 1)[None, :]

    def box_sum(x0, y0, x1, y1):
        return sat[y1, x1] - sat[y0, x1] - sat[y1, x0] + sat[y0, x0]

    boxes, scores = [], []
    for scale in scales:
        seg = felzenszwalb(img, scale=scale, sigma=0.8, min_size=min_side * min_side // 2) + 1
        n = int(seg.max())
        means = np.stack([ndimage.mean(lab[..., c], seg, np.arange(1, n + 1)) for c in range(3)], axis=1)
        for r, sl in enumerate(ndimage.find_objects(seg)):
            if sl is None:
                continue
            y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
            w, h = x1 - x0, y1 - y0
            if min(w, h) < min_side or max(w / W, h / H) > max_side_share:
                continue
            m = max(2, int(0.25 * max(w, h)))
            outer = box_sum(max(0, x0 - m), max(0, y0 - m), min(W, x1 + m), min(H, y1 + m))
            ring = outer - box_sum(x0, y0, x1, y1)
            around = ring[:3] / ring[3] if ring[3] > 0 else means[r]
            boxes.append((x0, y0, x1, y1))
            scores.append(float(np.linalg.norm(means[r] - around) / 100.0))
    if not boxes:
        return np.zeros((0, 4)), np.zeros(0)
    boxes_arr, scores_arr = np.array(boxes, dtype=np.float64) * f, np.array(scores)
    keep = nms(boxes_arr, scores_arr, nms_iou)
    return boxes_arr[keep], scores_arr[keep]


# ---------------------------------------------------------------------------
# Classifying detected boxes
# ---------------------------------------------------------------------------

def crop_boxes(image: np.ndarray, boxes, margin: float = 0.1, min_side: int = 4) -> list[np.ndarray]:
    """The regions of ``boxes`` in ``image`` with ``margin`` (share of the box side) of context around each.

    Boxes are clipped to the image; each crop is at least ``min_side`` pixels a side.
    Returns ``(h, w, 3) uint8`` arrays (resize them with the encoder).
    """
    img = np.asarray(image)
    H, W = img.shape[:2]
    out = []
    for x0, y0, x1, y1 in check_boxes(boxes).astype(np.float64).reshape(-1, 4):
        mx, my = margin * (x1 - x0), margin * (y1 - y0)
        a, b = int(np.clip(np.floor(x0 - mx), 0, W - min_side)), int(np.clip(np.floor(y0 - my), 0, H - min_side))
        c, d = int(np.clip(np.ceil(x1 + mx), a + min_side, W)), int(np.clip(np.ceil(y1 + my), b + min_side, H))
        out.append(img[b:d, a:c])
    return out


# ---------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------

def match_boxes(pred, truth, iou_threshold: float = 0.5) -> list[tuple[int, int]]:
    """Greedy one-to-one matching: pairs ``(pred_index, truth_index)`` by decreasing IoU, IoU >= threshold.

    Each predicted and each true box is used at most once (a box that covers two objects
    matches at most one of them).
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    iou = box_iou(pred, truth)
    pairs = [(iou[i, j], i, j) for i, j in zip(*np.nonzero(iou >= iou_threshold))]
    used_p, used_t, out = set(), set(), []
    for _, i, j in sorted(pairs, key=lambda t: (-t[0], t[1], t[2])):
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            out.append((int(i), int(j)))
    return out


def match_detections(boxes, scores, truth, iou_threshold: float = 0.5) -> np.ndarray:
    """PASCAL VOC / COCO matching: ``(k,) bool``, True where a detection is a true positive.

    Detections are visited from the highest score down; each takes the unmatched true box
    it overlaps most if that IoU is at least ``iou_threshold``, else it is a false positive
    (a second detection of an already found object is a false positive too).
    """
    boxes, truth = check_boxes(boxes), check_boxes(truth, "truth")
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    tp = np.zeros(len(boxes), dtype=bool)
    if len(boxes) == 0 or len(truth) == 0:
        return tp
    iou = box_iou(boxes, truth)
    free = np.ones(len(truth), dtype=bool)
    for i in np.argsort(-scores, kind="stable"):
        cand = np.where(free, iou[i], -1.0)
        j = int(np.argmax(cand))
        if cand[j] >= iou_threshold:
            tp[i], free[j] = True, False
    return tp


def average_precision(scores, is_tp, n_true: int) -> float:
    """Area under the precision-recall curve, all points interpolated (PASCAL VOC 2010 onwards).

    ``scores`` and ``is_tp`` ``(k,)`` of every detection over the whole test set, ``n_true``
    the number of true objects. Precision is made monotone (the best precision at any
    higher recall) before summing it over the recall steps. 0 when nothing is detected.
    """
    scores, is_tp = np.asarray(scores, dtype=np.float64), np.asarray(is_tp, dtype=bool)
    if n_true <= 0:
        raise ValueError(f"n_true={n_true}: AP needs at least one true object")
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(is_tp[order])
    precision = tp / np.arange(1, len(tp) + 1)
    recall = tp / n_true
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float((precision * steps).sum())


def _image_records(detections, scenes, iou_threshold, n_classes):
    """Per image: class-agnostic (scores, tp) and per class (scores, tp, n_true)."""
    recs = []
    for (boxes, scores, labels), sc in zip(detections, scenes):
        agnostic = (scores, match_detections(boxes, scores, sc.boxes, iou_threshold), len(sc.boxes))
        per_class = []
        for c in range(n_classes):
            p, t = labels == c, sc.labels == c
            per_class.append((scores[p], match_detections(boxes[p], scores[p], sc.boxes[t], iou_threshold),
                              int(t.sum())))
        recs.append((agnostic, per_class))
    return recs


def _scores_of(recs, threshold, n_classes):
    def pooled(parts):
        s = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
        t = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, bool)
        return s, t, sum(p[2] for p in parts)

    s, t, n = pooled([r[0] for r in recs])
    above = s >= threshold
    out = {"precision": float(t[above].mean()) if above.any() else 0.0,
           "recall": float(t[above].sum() / n) if n else 0.0,
           "AP": average_precision(s, t, n) if n else 0.0}
    aps = []
    for c in range(n_classes):
        s, t, n = pooled([r[1][c] for r in recs])
        if n:
            aps.append(average_precision(s, t, n))
    out["mAP"] = float(np.mean(aps)) if aps else 0.0
    return out


def detection_report(detections, scenes, threshold: float, n_classes: int, iou_threshold: float = 0.5,
                     n_boot: int = 500, seed: int = 0) -> dict:
    """Precision and recall at ``threshold``, class-agnostic AP and class mAP at ``iou_threshold``.

    ``detections``: per scene ``(boxes (k, 4), scores (k,), labels (k,))``; ``scenes``:
    the ``DetectionScene`` list. Each figure is a ``core.stats.Interval``: the estimate on
    all scenes and a 95% percentile interval from ``n_boot`` bootstrap resamples of the
    scenes (an image is the unit: its objects are not independent).
    """
    from visrec_helpers.core.stats import Interval

    if len(detections) != len(scenes) or not scenes:
        raise ValueError(f"{len(detections)} detection lists for {len(scenes)} scenes (need equal, non-zero)")
    recs = _image_records(detections, scenes, iou_threshold, n_classes)
    full = _scores_of(recs, threshold, n_classes)
    rng = np.random.default_rng(seed)
    boots = {k: [] for k in full}
    for _ in range(n_boot):
        sample = [recs[i] for i in rng.integers(0, len(recs), len(recs))]
        for k, v in _scores_of(sample, threshold, n_classes).items():
            boots[k].append(v)
    return {k: Interval(full[k], float(np.percentile(boots[k], 2.5)), float(np.percentile(boots[k], 97.5)),
                        n=len(scenes), method="percentile bootstrap over images", statistic=k) for k in full}


def best_f1_threshold(detections, scenes, iou_threshold: float = 0.5) -> float:
    """The score threshold with the highest F1 (class-agnostic) on ``scenes``: choose it on training scenes."""
    s = np.concatenate([d[1] for d in detections])
    t = np.concatenate([match_detections(d[0], d[1], sc.boxes, iou_threshold) for d, sc in zip(detections, scenes)])
    n = sum(len(sc.boxes) for sc in scenes)
    if len(s) == 0 or n == 0:
        return 0.5
    order = np.argsort(-s, kind="stable")
    tp = np.cumsum(t[order])
    f1 = 2 * tp / (np.arange(1, len(s) + 1) + n)
    return float(s[order][int(np.argmax(f1))])


def plot_detections(scene, boxes=None, scores=None, names=None, ax=None, title=None, max_boxes: int = 10):
    """A scene with its true boxes (white, solid) and up to ``max_boxes`` detections (dashed, with labels)."""
    import matplotlib.patheffects as pe
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(scene.image)
    for x0, y0, x1, y1 in scene.boxes:
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="white", lw=2.5))
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="black", lw=1))
    if boxes is not None:
        order = np.argsort(-np.asarray(scores))[:max_boxes] if scores is not None else range(min(len(boxes), max_boxes))
        for k in order:
            x0, y0, x1, y1 = boxes[k]
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="magenta", lw=2, ls="--"))
            label = " ".join(s for s in (names[k] if names is not None else "",
                                          f"{scores[k]:.2f}" if scores is not None else "") if s)
            if label:
                ax.text(x0, y0 - 2, label, color="white", fontsize=9, va="bottom",
                        path_effects=[pe.withStroke(linewidth=2.5, foreground="black")])
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return ax
