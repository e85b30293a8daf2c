"""Learning when most labels are missing: kNN on embeddings, label spreading over a kNN
graph, and self-training with a confidence threshold that can abstain.

Labels use ``-1`` (``UNLABELLED``) for "unknown", as scikit-learn does. Every estimator
works on an ``(n, d)`` float embedding ``Z`` and has the same shape: ``fit(Z, y_partial)``
returns ``self``; ``predict_proba(Z)``; ``predict(Z, threshold=None)`` where a row whose top
probability is below ``threshold`` gets ``-1`` (the model abstains).
"""

from __future__ import annotations

import warnings

import numpy as np

UNLABELLED = -1


def _check_embedding(Z, name: str = "Z") -> np.ndarray:
    Z = np.asarray(Z)
    if Z.ndim != 2 or len(Z) == 0:
        raise ValueError(f"{name} must be a non-empty (n, d) array, got shape {Z.shape}")
    if not np.issubdtype(Z.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {Z.dtype}")
    Z = Z.astype(np.float64)
    if not np.isfinite(Z).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return Z


def _check_partial(Z: np.ndarray, y) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (len(Z),):
        raise ValueError(f"y must have shape ({len(Z)},) to match Z, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must hold integer labels (-1 = unlabelled), got dtype {y.dtype}")
    if (y < UNLABELLED).any():
        raise ValueError("y holds labels below -1; use -1 for unlabelled")
    if (y == UNLABELLED).all():
        raise ValueError("y has no labelled rows: every label is -1")
    return y.astype(np.int64)


def _check_threshold(threshold):
    if threshold is not None and not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in [0, 1] or None, got {threshold}")


def hide_labels(y, labelled_share: float, seed: int = 0, min_per_class: int = 1) -> np.ndarray:
    """A copy of ``y`` with all but ``labelled_share`` of the labels set to ``-1``.

    Stratified: each class keeps about the same share, and at least ``min_per_class``
    labels (so every class can be learned at all).
    """
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0 or not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
        raise ValueError("y must be a non-empty 1-D array of non-negative integer labels")
    if not 0 < labelled_share <= 1:
        raise ValueError(f"labelled_share must be in (0, 1], got {labelled_share}")
    rng = np.random.default_rng(seed)
    out = np.full_like(y, UNLABELLED)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = min(len(idx), max(min_per_class, int(round(labelled_share * len(idx)))))
        keep = rng.choice(idx, size=k, replace=False)
        out[keep] = y[keep]
    return out


def pca_embedding(images, n_components: int = 50, whiten: bool = False, seed: int = 0) -> np.ndarray:
    """An embedding learned without any label: pixels -> PCA -> L2-normalised rows.

    Whitening gives the many low-variance (mostly noise) directions the same weight as
    the first ones, which hurts neighbour search on digits; it is off by default.

    ``images`` is ``(n, H, W)`` or ``(n, d)``; returns ``(n, n_components)`` float32.
    """
    from sklearn.decomposition import PCA

    X = np.asarray(images)
    if X.ndim < 2 or len(X) == 0:
        raise ValueError(f"images must be a non-empty (n, ...) array, got shape {X.shape}")
    X = _check_embedding(X.reshape(len(X), -1), "images")
    if X.max() > 1.0:
        X = X / 255.0
    k = min(n_components, X.shape[1], len(X))
    Z = PCA(n_components=k, whiten=whiten, random_state=seed).fit_transform(X)
    return (Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _abstain(proba: np.ndarray, classes: np.ndarray, threshold) -> np.ndarray:
    _check_threshold(threshold)
    pred = classes[proba.argmax(1)]
    if threshold is not None:
        pred = np.where(proba.max(1) >= threshold, pred, UNLABELLED)
    return pred


class KNNLabeler:
    """Vote of the ``k`` nearest labelled neighbours (cosine similarity, similarity-weighted).
    Unlabelled rows are ignored when fitting."""

    def __init__(self, k: int = 5):
        self.k = k

    def fit(self, Z, y) -> KNNLabeler:
        Z = _check_embedding(Z)
        y = _check_partial(Z, y)
        lab = y != UNLABELLED
        if not isinstance(self.k, int) or not 1 <= self.k:
            raise ValueError(f"k must be a positive int, got {self.k!r}")
        if self.k > lab.sum():
            raise ValueError(f"k={self.k} is larger than the {lab.sum()} labelled rows")
        self.Z_ = Z[lab] / np.maximum(np.linalg.norm(Z[lab], axis=1, keepdims=True), 1e-12)
        self.y_ = y[lab]
        self.classes_ = np.unique(self.y_)
        return self

    def predict_proba(self, Z) -> np.ndarray:
        if not hasattr(self, "Z_"):
            raise RuntimeError("KNNLabeler is not fitted yet; call fit(Z, y) first")
        Z = _check_embedding(Z)
        if Z.shape[1] != self.Z_.shape[1]:
            raise ValueError(f"Z has {Z.shape[1]} columns, the fitted embedding {self.Z_.shape[1]}")
        Z = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
        sims = Z @ self.Z_.T
        nn_idx = np.argpartition(-sims, self.k - 1, axis=1)[:, : self.k]
        w = np.maximum(np.take_along_axis(sims, nn_idx, 1), 0) + 1e-6
        cls = np.searchsorted(self.classes_, self.y_[nn_idx])
        proba = np.zeros((len(Z), len(self.classes_)))
        np.add.at(proba, (np.arange(len(Z))[:, None], cls), w)
        return proba / proba.sum(1, keepdims=True)

    def predict(self, Z, threshold: float | None = None) -> np.ndarray:
        return _abstain(self.predict_proba(Z), self.classes_, threshold)


class LabelSpreader:
    """Label spreading (Zhou et al., 2004) over a ``k``-nearest-neighbour graph of the rows
    of ``Z``: labels diffuse to unlabelled neighbours; ``alpha`` is how much a labelled row
    may be changed by its neighbours. Transductive: ``fit`` labels the rows it was given
    (``transduction_``, ``label_distributions_``); ``predict`` on new rows uses the graph."""

    def __init__(self, k: int = 10, alpha: float = 0.2, max_iter: int = 100):
        self.k, self.alpha, self.max_iter = k, alpha, max_iter

    def fit(self, Z, y) -> LabelSpreader:
        from sklearn.semi_supervised import LabelSpreading

        Z = _check_embedding(Z)
        y = _check_partial(Z, y)
        if not isinstance(self.k, int) or not 1 <= self.k < len(Z):
            raise ValueError(f"k must be an int in [1, {len(Z) - 1}], got {self.k!r}")
        self.model_ = LabelSpreading(kernel="knn", n_neighbors=self.k, alpha=self.alpha, max_iter=self.max_iter)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            # a row the graph never reaches has all-zero mass: sklearn divides 0 by 0 there
            warnings.simplefilter("ignore", RuntimeWarning)
            self.model_.fit(Z, y)
        self.classes_ = self.model_.classes_
        self.label_distributions_ = self._fix(self.model_.label_distributions_)
        self.transduction_ = self.classes_[self.label_distributions_.argmax(1)]
        return self

    def _fix(self, proba: np.ndarray) -> np.ndarray:
        """Rows with no mass (unreached by the graph) become uniform: no evidence either way."""
        proba = np.nan_to_num(np.asarray(proba, dtype=np.float64), nan=0.0)
        empty = proba.sum(1) <= 0
        proba[empty] = 1.0 / proba.shape[1]
        return proba / proba.sum(1, keepdims=True)

    def predict_proba(self, Z) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise RuntimeError("LabelSpreader is not fitted yet; call fit(Z, y) first")
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return self._fix(self.model_.predict_proba(_check_embedding(Z)))

    def predict(self, Z, threshold: float | None = None) -> np.ndarray:
        return _abstain(self.predict_proba(Z), self.classes_, threshold)


class SelfTrainer:
    """Self-training: fit a logistic regression on the labelled rows, add the unlabelled
    rows it predicts with probability >= ``threshold`` as pseudo-labels, refit; repeat for
    at most ``max_rounds`` rounds or until nothing new passes the threshold.

    Learned state: ``model_``, ``pseudo_added_`` (rows added per round), ``pseudo_labels_``
    (the final labels used for training, ``-1`` where still unlabelled).
    """

    def __init__(self, threshold: float = 0.9, max_rounds: int = 10, C: float = 10.0):
        self.threshold, self.max_rounds, self.C = threshold, max_rounds, C

    def fit(self, Z, y) -> SelfTrainer:
        from sklearn.linear_model import LogisticRegression

        Z = _check_embedding(Z)
        y = _check_partial(Z, y).copy()
        _check_threshold(self.threshold)
        if self.max_rounds < 0:
            raise ValueError(f"max_rounds must be >= 0, got {self.max_rounds}")
        if len(np.unique(y[y != UNLABELLED])) < 2:
            raise ValueError("need labelled rows of at least two classes")
        self.pseudo_added_ = []
        for _ in range(self.max_rounds + 1):
            lab = y != UNLABELLED
            model = LogisticRegression(C=self.C, max_iter=1000).fit(Z[lab], y[lab])
            if lab.all() or len(self.pseudo_added_) == self.max_rounds:
                break
            proba = model.predict_proba(Z[~lab])
            sure = proba.max(1) >= self.threshold
            if not sure.any():
                break
            idx = np.flatnonzero(~lab)[sure]
            y[idx] = model.classes_[proba[sure].argmax(1)]
            self.pseudo_added_.append(int(sure.sum()))
        self.model_, self.pseudo_labels_, self.classes_ = model, y, model.classes_
        return self

    def predict_proba(self, Z) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise RuntimeError("SelfTrainer is not fitted yet; call fit(Z, y) first")
        return self.model_.predict_proba(_check_embedding(Z))

    def predict(self, Z, threshold: float | None = None) -> np.ndarray:
        return _abstain(self.predict_proba(Z), self.classes_, threshold)


def selective_accuracy(y_true, y_pred) -> dict:
    """Accuracy where ``y_pred`` may abstain (``-1``): ``coverage`` (share answered),
    ``accuracy`` (on the answered rows; nan when none), ``abstained`` (count), and
    ``accuracy_all`` (abstentions counted as errors)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError(f"y_true and y_pred must be equal-length non-empty 1-D arrays, got {y_true.shape}, "
                         f"{y_pred.shape}")
    answered = y_pred != UNLABELLED
    acc = float((y_pred[answered] == y_true[answered]).mean()) if answered.any() else float("nan")
    return {"coverage": float(answered.mean()), "accuracy": acc, "abstained": int((~answered).sum()),
            "accuracy_all": float((y_pred == y_true).mean())}
