"""Object recognition in scenes (task t06): compose scenes with known boxes, detect with
OpenCV, classify each crop, and score detection and end-to-end recognition.

Scenes are built from real images: held-out MNIST digits pasted (pixel-wise maximum,
so strokes stay bright) onto grayscale texture crops of the bundled photos (brick,
grass, gravel, ...), dimmed to ``contrast`` so the digits stand out as they would on a
sheet of paper. Because we place every digit ourselves, each scene carries its true
boxes (tight around the ink) and labels.

Boxes are ``(k, 4) int64`` arrays ``[x0, y0, x1, y1]`` in pixels with exclusive ends
(``x1 = x0 + width``). Two detectors answer ``detect(image) -> boxes``:
``ContourDetector`` (blur, Otsu threshold, closing, external contours; optional split of
boxes too wide for one digit) and ``MSERDetector`` (maximally stable extremal regions
with containment suppression). ``SceneRecognizer`` chains a detector and a digit
classifier. Scores: ``box_iou``, greedy ``match_boxes`` at IoU 0.5,
``evaluate_scenes`` (precision, recall, end-to-end accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_TEXTURES = ("brick", "grass", "gravel", "moon", "camera")


@dataclass
class Scene:
    """One composed scene: ``image`` ``(H, W) uint8``, true ``boxes`` ``(k, 4)``, ``labels`` ``(k,)``.

    ``touching`` is True when at least one digit was placed against another on purpose.
    """

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    touching: bool = False
    texture: str = ""


def _check_boxes(boxes, name: str = "boxes") -> np.ndarray:
    b = np.asarray(boxes)
    if b.size == 0:
        return np.zeros((0, 4), dtype=np.int64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{name} must have shape (k, 4) as [x0, y0, x1, y1], got {b.shape}")
    if not np.isfinite(b).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    if ((b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])).any():
        raise ValueError(f"{name} need x1 > x0 and y1 > y0 (exclusive ends)")
    return b


def _check_image(image) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 2 or img.size == 0:
        raise ValueError(f"image must be a non-empty (H, W) grayscale array, got shape {img.shape}")
    if img.dtype != np.uint8:
        raise ValueError(f"image must be uint8 in 0..255, got dtype {img.dtype}")
    return img


# ---------------------------------------------------------------------------
# Scenes with known boxes
# ---------------------------------------------------------------------------

def ink_box(digit: np.ndarray, level: int = 128) -> tuple[int, int, int, int]:
    """Tight ``(x0, y0, x1, y1)`` box of the pixels ``>= level`` of one ``(h, w)`` digit image."""
    ys, xs = np.nonzero(digit >= level)
    if len(xs) == 0:
        raise ValueError(f"digit has no pixel >= {level}: no ink to box")
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def texture_backgrounds(names=DEFAULT_TEXTURES) -> dict[str, np.ndarray]:
    """Grayscale ``(H, W) uint8`` versions of the bundled photos used as scene backgrounds."""
    from visrec_helpers.data import load_photos

    return {n: (img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)
            for n, img in load_photos(names).items()}


def compose_scenes(digits: np.ndarray, labels: np.ndarray, n_scenes: int = 40, size: int = 128,
                   n_digits: tuple[int, int] = (3, 5), touching: float = 0.0, scale: tuple[float, float] = (1.0, 1.5),
                   contrast: int = 110, textures=DEFAULT_TEXTURES, seed: int = 0) -> list[Scene]:
    """Compose ``n_scenes`` scenes of ``size`` x ``size`` pixels from real digit images.

    ``digits`` ``(n, 28, 28) uint8`` (white on black) and their ``labels``. Each scene takes a
    random texture crop (from ``textures``, rescaled to 0..``contrast``), then pastes
    ``n_digits`` random digits, each resized by a factor in ``scale``, with a pixel-wise
    maximum. Digits keep a gap of at least 3 pixels between ink boxes, except that with
    probability ``touching`` a digit is placed so that its ink box touches (0 to 2 pixels of
    overlap) the previous digit's box on the right: the case where contour detection merges
    two objects. Returns a list of ``Scene`` with boxes tight around the ink (level 128).
    """
    import cv2

    digits, labels = np.asarray(digits), np.asarray(labels)
    if digits.ndim != 3 or digits.dtype != np.uint8 or len(digits) == 0:
        raise ValueError(f"digits must be a non-empty (n, h, w) uint8 array, got {digits.shape} {digits.dtype}")
    if len(digits) != len(labels):
        raise ValueError(f"{len(digits)} digits but {len(labels)} labels")
    if not 0.0 <= touching <= 1.0:
        raise ValueError(f"touching must be a probability in [0, 1], got {touching}")
    lo, hi = n_digits
    if not 1 <= lo <= hi:
        raise ValueError(f"n_digits must be (low, high) with 1 <= low <= high, got {n_digits}")
    if size < 2 * 28 * scale[1]:
        raise ValueError(f"size={size} is too small for digits scaled up to {scale[1]}x")
    rng = np.random.default_rng(seed)
    backs = texture_backgrounds(textures)
    names = list(backs)
    scenes = []
    for _ in range(n_scenes):
        tex = names[int(rng.integers(len(names)))]
        src = backs[tex]
        y0 = int(rng.integers(0, src.shape[0] - size + 1))
        x0 = int(rng.integers(0, src.shape[1] - size + 1))
        canvas = (src[y0 : y0 + size, x0 : x0 + size].astype(np.float32) * (contrast / 255.0)).astype(np.uint8)
        boxes, labs, any_touch = [], [], False
        for _ in range(int(rng.integers(lo, hi + 1))):
            i = int(rng.integers(len(digits)))
            s = rng.uniform(*scale)
            side = int(round(digits.shape[1] * s))
            d = cv2.resize(digits[i], (side, side), interpolation=cv2.INTER_LINEAR)
            bx0, by0, bx1, by1 = ink_box(d)
            placed = None
            want_touch = boxes and rng.random() < touching
            for _try in range(60):
                if want_touch:
                    px0, py0, px1, py1 = boxes[-1]
                    ox = px1 - int(rng.integers(0, 3)) - bx0  # ink starts 0-2 px inside the neighbour
                    oy = py0 + int(rng.integers(-4, 5)) - by0
                else:
                    ox = int(rng.integers(-bx0, size - bx1 + 1))
                    oy = int(rng.integers(-by0, size - by1 + 1))
                box = (ox + bx0, oy + by0, ox + bx1, oy + by1)
                if box[0] < 0 or box[1] < 0 or box[2] > size or box[3] > size:
                    want_touch = False
                    continue
                others = boxes[:-1] if want_touch else boxes
                if all(box[2] + 3 <= b[0] or b[2] + 3 <= box[0] or box[3] + 3 <= b[1] or b[3] + 3 <= box[1]
                       for b in others):
                    placed = (ox, oy, box)
                    break
                want_touch = False
            if placed is None:
                continue
            ox, oy, box = placed
            # Paste the part of the digit that falls inside the canvas.
            ys0, xs0 = max(oy, 0), max(ox, 0)
            ys1, xs1 = min(oy + side, size), min(ox + side, size)
            region = canvas[ys0:ys1, xs0:xs1]
            np.maximum(region, d[ys0 - oy : ys1 - oy, xs0 - ox : xs1 - ox], out=region)
            any_touch = any_touch or bool(boxes) and box[0] < boxes[-1][2] + 3 and box[0] >= boxes[-1][0]
            boxes.append(box)
            labs.append(int(labels[i]))
        scenes.append(Scene(canvas, np.array(boxes, dtype=np.int64).reshape(-1, 4),
                            np.array(labs, dtype=np.int64), any_touch, tex))
    return scenes


# ---------------------------------------------------------------------------
# Detectors
# ---------------------------------------------------------------------------

def foreground_mask(image: np.ndarray, blur: int = 3, threshold="otsu") -> tuple[np.ndarray, int]:
    """Binary ``(H, W) uint8`` mask (255 = object) and the threshold used (Otsu or a fixed level)."""
    import cv2

    img = _check_image(image)
    if blur:
        img = cv2.GaussianBlur(img, (blur, blur), 0)
    if threshold == "otsu":
        level, mask = cv2.threshold(img, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    else:
        if not 0 <= int(threshold) <= 255:
            raise ValueError(f"threshold must be 'otsu' or a level in 0..255, got {threshold!r}")
        level, mask = cv2.threshold(img, int(threshold), 255, cv2.THRESH_BINARY)
    return mask, int(level)


def split_wide_box(mask: np.ndarray, box, max_aspect: float = 1.15) -> list[tuple[int, int, int, int]]:
    """Split a box wider than ``max_aspect`` x its height into side-by-side digit boxes.

    The number of parts is ``round(width / (0.8 * height))`` (a digit is about 0.8 times
    as wide as it is tall, "1" much less); each cut goes at the column with the least ink
    within a window around the equal-width position. Each part is then tightened to its
    ink. Boxes that are not too wide come back unchanged.
    """
    x0, y0, x1, y1 = (int(v) for v in box)
    w, h = x1 - x0, y1 - y0
    if w <= max_aspect * h:
        return [(x0, y0, x1, y1)]
    parts = max(2, int(round(w / (0.8 * h))))
    sub = mask[y0:y1, x0:x1] > 0
    ink = sub.sum(axis=0)
    cuts = [0]
    for j in range(1, parts):
        c = int(round(j * w / parts))
        lo_, hi_ = max(cuts[-1] + 1, c - w // (3 * parts)), min(w - 1, c + w // (3 * parts))
        cuts.append(lo_ + int(np.argmin(ink[lo_ : hi_ + 1])) if hi_ >= lo_ else c)
    cuts.append(w)
    out = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        ys, xs = np.nonzero(sub[:, a:b])
        if len(xs) < 5:
            continue
        out.append((x0 + a + int(xs.min()), y0 + int(ys.min()), x0 + a + int(xs.max()) + 1, y0 + int(ys.max()) + 1))
    return out or [(x0, y0, x1, y1)]


class ContourDetector:
    """Threshold + contours: blur, Otsu (or fixed) threshold, morphological closing, external contours.

    Components smaller than ``min_area`` pixels (box area) are dropped as texture noise.
    ``split_wide=True`` splits boxes too wide for one digit (touching digits) with
    ``split_wide_box``. ``detect(image) -> (k, 4) int64`` boxes.
    """

    def __init__(self, blur: int = 3, threshold="otsu", close: int = 3, min_area: int = 60,
                 split_wide: bool = False, max_aspect: float = 1.15):
        self.blur = blur
        self.threshold = threshold
        self.close = close
        self.min_area = min_area
        self.split_wide = split_wide
        self.max_aspect = max_aspect

    def fit(self, scenes=None):
        """Nothing to learn (kept for the common estimator shape); returns self."""
        return self

    def mask(self, image: np.ndarray) -> tuple[np.ndarray, int]:
        import cv2

        mask, level = foreground_mask(image, self.blur, self.threshold)
        if self.close:
            kernel = np.ones((self.close, self.close), np.uint8)
            mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
        return mask, level

    def detect(self, image: np.ndarray) -> np.ndarray:
        import cv2

        mask, _ = self.mask(image)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        boxes = []
        for c in contours:
            x, y, w, h = cv2.boundingRect(c)
            if w * h < self.min_area:
                continue
            box = (x, y, x + w, y + h)
            boxes.extend(split_wide_box(mask, box, self.max_aspect) if self.split_wide else [box])
        return np.array(boxes, dtype=np.int64).reshape(-1, 4)


def suppress_contained(boxes: np.ndarray, overlap: float = 0.7) -> np.ndarray:
    """Keep the larger of two boxes when the smaller lies ``overlap`` or more inside it."""
    b = _check_boxes(boxes)
    if len(b) == 0:
        return b
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    keep = []
    for i in np.argsort(-area, kind="stable"):
        ok = True
        for j in keep:
            iw = min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0])
            ih = min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1])
            if iw > 0 and ih > 0 and iw * ih >= overlap * area[i]:
                ok = False
                break
        if ok:
            keep.append(i)
    return b[np.sort(keep)]


class MSERDetector:
    """Maximally stable extremal regions, nested regions suppressed.

    ``delta`` is MSER's stability step in grey levels and ``max_variation`` the largest
    relative area change over ``2 * delta`` levels that still counts as stable. MNIST
    strokes have soft, anti-aliased edges, so a digit's area grows smoothly with the
    threshold: OpenCV's default ``delta=5`` finds few of them, a wide ``delta=30``
    finds them all. Regions with box area outside ``[min_area, max_area]`` are dropped.
    ``detect(image) -> (k, 4) int64`` boxes.
    """

    def __init__(self, delta: int = 30, max_variation: float = 1.0, min_area: int = 60, max_area: int = 1600,
                 overlap: float = 0.7):
        self.delta = delta
        self.max_variation = max_variation
        self.min_area = min_area
        self.max_area = max_area
        self.overlap = overlap

    def fit(self, scenes=None):
        """Nothing to learn (kept for the common estimator shape); returns self."""
        return self

    def detect(self, image: np.ndarray) -> np.ndarray:
        import cv2

        img = _check_image(image)
        # OpenCV's MSER on a grey image returns regions of both polarities.
        mser = cv2.MSER_create(int(self.delta), 20, int(self.max_area), float(self.max_variation))
        _, rects = mser.detectRegions(img)
        boxes = [(x, y, x + w, y + h) for x, y, w, h in rects if self.min_area <= w * h <= self.max_area]
        return suppress_contained(np.array(boxes, dtype=np.int64).reshape(-1, 4), self.overlap)


# ---------------------------------------------------------------------------
# Classifying crops
# ---------------------------------------------------------------------------

def crop_to_mnist(image: np.ndarray, box, level: int) -> np.ndarray:
    """The object in ``box`` prepared like MNIST: ``(28, 28) uint8``.

    Pixels below ``level`` (background texture) become 0; the crop is resized so its
    longer side is 20 pixels and pasted so its centre of mass sits at the centre of a
    28x28 black frame, which is how the MNIST digits were made.
    """
    import cv2

    img = _check_image(image)
    x0, y0, x1, y1 = (int(v) for v in box)
    if not (0 <= x0 < x1 <= img.shape[1] and 0 <= y0 < y1 <= img.shape[0]):
        raise ValueError(f"box {box} lies outside the image of shape {img.shape}")
    crop = img[y0:y1, x0:x1].astype(np.float32)
    crop = np.where(crop >= level, crop, 0.0)
    h, w = crop.shape
    f = 20.0 / max(h, w)
    nh, nw = max(1, int(round(h * f))), max(1, int(round(w * f)))
    small = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA)
    out = np.zeros((28, 28), np.float32)
    mass = small.sum()
    if mass > 0:
        cy = (small.sum(1) * np.arange(nh)).sum() / mass
        cx = (small.sum(0) * np.arange(nw)).sum() / mass
    else:
        cy, cx = nh / 2, nw / 2
    oy = int(np.clip(round(14 - cy), 0, 28 - nh))
    ox = int(np.clip(round(14 - cx), 0, 28 - nw))
    out[oy : oy + nh, ox : ox + nw] = small
    if out.max() > 0:
        out = out * (255.0 / out.max())
    return out.astype(np.uint8)


def naive_crop(image: np.ndarray, box) -> np.ndarray:
    """The object in ``box`` squeezed to ``(28, 28) uint8`` with no background removal or centring.

    The shortcut the MNIST model was never trained for (kept to measure what it costs).
    """
    import cv2

    img = _check_image(image)
    x0, y0, x1, y1 = (int(v) for v in box)
    if not (0 <= x0 < x1 <= img.shape[1] and 0 <= y0 < y1 <= img.shape[0]):
        raise ValueError(f"box {box} lies outside the image of shape {img.shape}")
    return cv2.resize(img[y0:y1, x0:x1], (28, 28), interpolation=cv2.INTER_AREA)


class SceneRecognizer:
    """Detector + digit classifier: ``predict(image) -> (boxes (k, 4), labels (k,))``.

    ``classifier`` is an ``nn.Module`` taking ``(b, 1, 28, 28)`` floats in [0, 1] and
    returning logits (for example the workbook's ``DigitCNN``). With ``prepare="mnist"``
    crops are prepared with ``crop_to_mnist`` at the scene's Otsu level; ``"naive"`` uses
    ``naive_crop`` (a plain resize, for comparison).
    """

    def __init__(self, detector, classifier, prepare: str = "mnist", device: str = "cpu"):
        self.detector = detector
        self.classifier = classifier
        self.prepare = prepare
        self.device = device

    def fit(self, scenes=None):
        """The classifier is trained beforehand; nothing to learn here. Returns self."""
        return self

    def classify(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Predicted labels ``(k,)`` for given ``boxes`` of ``image`` (ground-truth boxes give the oracle)."""
        from visrec_helpers.vision.training import images_to_tensor, predict

        boxes = _check_boxes(boxes)
        if len(boxes) == 0:
            return np.zeros(0, dtype=np.int64)
        if self.prepare == "mnist":
            _, level = foreground_mask(image)
            crops = np.stack([crop_to_mnist(image, b, level) for b in boxes])
        elif self.prepare == "naive":
            crops = np.stack([naive_crop(image, b) for b in boxes])
        else:
            raise ValueError(f"prepare must be 'mnist' or 'naive', got {self.prepare!r}")
        return predict(self.classifier, images_to_tensor(crops), device=self.device).argmax(1).astype(np.int64)

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes = self.detector.detect(image)
        return boxes, self.classify(image, boxes)


# ---------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------

def box_iou(a, b) -> np.ndarray:
    """Intersection over union of every box in ``a`` ``(n, 4)`` with every box in ``b`` ``(m, 4)``: ``(n, m)``."""
    a = _check_boxes(a, "a").astype(np.float64)
    b = _check_boxes(b, "b").astype(np.float64)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def match_boxes(pred, truth, iou_threshold: float = 0.5) -> list[tuple[int, int]]:
    """Greedy one-to-one matching: pairs ``(pred_index, truth_index)`` by decreasing IoU, IoU >= threshold.

    Each predicted and each true box is used at most once (a box that covers two digits
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


def evaluate_scenes(recognizer: SceneRecognizer, scenes: list[Scene], iou_threshold: float = 0.5) -> dict:
    """Detection and recognition scores over ``scenes``.

    Returns ``precision`` (matched detections / detections), ``recall`` (matched true
    objects / true objects), ``end_to_end`` (true objects both detected and given the
    right label / true objects), ``crop_accuracy`` (right labels among matched
    detections) and ``oracle_accuracy`` (the classifier on the true boxes), plus counts.
    """
    if not scenes:
        raise ValueError("no scenes to evaluate")
    tp = n_pred = n_true = correct = oracle = 0
    for sc in scenes:
        boxes, labels = recognizer.predict(sc.image)
        pairs = match_boxes(boxes, sc.boxes, iou_threshold)
        tp += len(pairs)
        n_pred += len(boxes)
        n_true += len(sc.boxes)
        correct += sum(int(labels[i] == sc.labels[j]) for i, j in pairs)
        oracle += int((recognizer.classify(sc.image, sc.boxes) == sc.labels).sum())
    if n_true == 0:
        raise ValueError("the scenes hold no objects")
    return {
        "precision": tp / n_pred if n_pred else 0.0,
        "recall": tp / n_true,
        "end_to_end": correct / n_true,
        "crop_accuracy": correct / tp if tp else 0.0,
        "oracle_accuracy": oracle / n_true,
        "detections": n_pred, "objects": n_true, "matched": tp,
    }


def plot_scene(scene_or_image, pred_boxes=None, pred_labels=None, ax=None, title=None):
    """Show a scene with true boxes (green) and predicted boxes with labels (red)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    image = scene_or_image.image if isinstance(scene_or_image, Scene) else scene_or_image
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    if isinstance(scene_or_image, Scene):
        for x0, y0, x1, y1 in scene_or_image.boxes:
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="lime", lw=1))
    if pred_boxes is not None:
        for k, (x0, y0, x1, y1) in enumerate(pred_boxes):
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="red", lw=1, ls="--"))
            if pred_labels is not None:
                ax.text(x0, y0 - 1, str(pred_labels[k]), color="red", fontsize=8, va="bottom")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=8)
    return ax


def digit_classifier(n_train: int = 4000, epochs: int = 3, seed: int = 0, lr: float = 2e-3, batch_size: int = 32,
                     device: str = "auto", cache: bool = True, progress: bool = True):
    """A ``DigitCNN`` trained on the first ``n_train`` items of the digits catalog (cached).

    Items ``n_train`` onwards stay unseen, so scenes composed from them test the model
    on digits it never saw. After training, batch-norm statistics are re-estimated on
    the training images (short runs leave them lagging). Cached by ``core.cache.cached_model``
    under a key of the arguments (not ``device``, ``cache``, ``progress``).
    """
    import torch

    from visrec_helpers.core.cache import cached_model
    from visrec_helpers.core.rng import init_weights_
    from visrec_helpers.data import digits_catalog
    from visrec_helpers.vision.domain import adapt_batchnorm
    from visrec_helpers.vision.models import DigitCNN
    from visrec_helpers.vision.training import images_to_tensor, train_classifier

    cat = digits_catalog()
    if not 100 <= n_train <= len(cat) - 100:
        raise ValueError(f"n_train={n_train} must be between 100 and {len(cat) - 100} (leave digits for scenes)")

    def train(model):
        train_classifier(model, images_to_tensor(cat.images[:n_train]), torch.from_numpy(cat.labels[:n_train]),
                         epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, device=device, progress=progress)
        # AdaBN on the training images themselves, copied back into the model being cached
        model.load_state_dict(adapt_batchnorm(model.cpu(), cat.images[:n_train]).state_dict())

    params = {"n_train": n_train, "epochs": epochs, "seed": seed, "lr": lr, "batch_size": batch_size}
    model, _ = cached_model("t06_classifier", params, lambda: init_weights_(DigitCNN(), seed), train, version=3,
                            cache=cache)
    return model
