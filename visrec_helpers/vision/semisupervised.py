"""Learning when most labels are missing: kNN on embeddings, label spreading over a kNN
graph, self-training with a confidence threshold that can abstain, and weak labels from
product names.

The cores are plain functions a notebook shows: ``knn_graph`` and ``spread_labels`` (the
label spreading iteration), ``self_training`` (the pseudo-labelling loop, with the accuracy
of each round's pseudo-labels when the true labels are known), ``weak_labels`` (keyword
rules on names). The estimators wrap them.

Labels use ``-1`` (``UNLABELLED``) for "unknown", as scikit-learn does. Every estimator
works on an ``(n, d)`` float embedding ``Z`` and has the same shape: ``fit(Z, y_partial)``
returns ``self``; ``predict_proba(Z)``; ``predict(Z, threshold=None)`` where a row whose top
probability is below ``threshold`` gets ``-1`` (the model abstains).
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd
from scipy import sparse

from visrec_helpers.core.arrays import as_matrix

UNLABELLED = -1


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
    X = as_matrix(X.reshape(len(X), -1), "images")
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
        Z = as_matrix(Z)
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
        Z = as_matrix(Z)
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


def knn_graph(Z: np.ndarray, k: int) -> sparse.csr_matrix:
    """Symmetric ``k``-nearest-neighbour graph of the rows of ``Z`` (cosine similarity).

    ``W[i, j] = 1`` when ``j`` is among the ``k`` most similar rows to ``i`` or ``i`` among
    those of ``j``; no self-loops. Returns an ``(n, n)`` float64 CSR matrix.
    """
    Z = as_matrix(Z)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < len(Z):
        raise ValueError(f"k must be an int in [1, {len(Z) - 1}], got {k!r}")
    Zn = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    sims = Zn @ Zn.T
    np.fill_diagonal(sims, -np.inf)  # a row is not its own neighbour
    nn_idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    rows = np.repeat(np.arange(len(Z)), k)
    W = sparse.csr_matrix((np.ones(rows.size), (rows, nn_idx.ravel())), shape=(len(Z), len(Z)))
    return W.maximum(W.T).tocsr()


def spread_labels(W: sparse.spmatrix, y: np.ndarray, alpha: float = 0.9, n_iter: int = 50) -> np.ndarray:
    """Label spreading (Zhou et al., 2004): ``F <- alpha S F + (1 - alpha) Y``, ``S = D^-1/2 W D^-1/2``.

    W: ``(n, n)`` symmetric non-negative graph; y: ``(n,)`` labels ``0..c-1``, ``-1`` unlabelled.
    Each step passes every row's scores to its neighbours (``S F``) and pulls the labelled
    rows back towards their own label (``Y``, one-hot); ``alpha`` in (0, 1) sets how far labels
    travel. Returns ``F``: ``(n, c)`` float64 scores, ``c = y.max() + 1`` (argmax = the label;
    all-zero rows were never reached).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    degree = np.asarray(W.sum(axis=1)).ravel()
    d = sparse.diags(1.0 / np.sqrt(np.maximum(degree, 1e-12)))
    S = d @ W @ d
    Y = np.zeros((len(y), int(y.max()) + 1))
    Y[y != UNLABELLED, y[y != UNLABELLED]] = 1.0
    F = Y.copy()
    for _ in range(n_iter):
        F = alpha * (S @ F) + (1 - alpha) * Y
    return F


class LabelSpreader:
    """Label spreading (``spread_labels``) over the ``knn_graph`` of the rows of ``Z``: labels
    diffuse to unlabelled neighbours; ``alpha`` is how far they travel. Transductive: ``fit``
    labels the rows it was given (``transduction_``, ``label_distributions_``); ``predict`` on
    new rows averages the label distributions of their ``k`` most similar fitted rows."""

    def __init__(self, k: int = 10, alpha: float = 0.9, max_iter: int = 50):
        self.k, self.alpha, self.max_iter = k, alpha, max_iter

    def fit(self, Z, y) -> LabelSpreader:
        Z = as_matrix(Z)
        y = _check_partial(Z, y)
        self.classes_ = np.unique(y[y != UNLABELLED])
        codes = np.where(y == UNLABELLED, UNLABELLED, np.searchsorted(self.classes_, y))
        F = spread_labels(knn_graph(Z, self.k), codes, self.alpha, self.max_iter)
        self.label_distributions_ = self._fix(F)
        self.transduction_ = self.classes_[self.label_distributions_.argmax(1)]
        self.Z_ = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
        return self

    def _fix(self, proba: np.ndarray) -> np.ndarray:
        """Rows with no mass (unreached by the graph) become uniform: no evidence either way."""
        proba = np.asarray(proba, dtype=np.float64).copy()
        empty = proba.sum(1) <= 0
        proba[empty] = 1.0 / proba.shape[1]
        return proba / proba.sum(1, keepdims=True)

    def predict_proba(self, Z) -> np.ndarray:
        if not hasattr(self, "Z_"):
            raise RuntimeError("LabelSpreader is not fitted yet; call fit(Z, y) first")
        Z = as_matrix(Z)
        if Z.shape[1] != self.Z_.shape[1]:
            raise ValueError(f"Z has {Z.shape[1]} columns, the fitted embedding {self.Z_.shape[1]}")
        sims = (Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)) @ self.Z_.T
        nn_idx = np.argpartition(-sims, self.k - 1, axis=1)[:, : self.k]
        return self._fix(self.label_distributions_[nn_idx].mean(1))

    def predict(self, Z, threshold: float | None = None) -> np.ndarray:
        return _abstain(self.predict_proba(Z), self.classes_, threshold)


def self_training(Z: np.ndarray, y: np.ndarray, threshold: float = 0.9, max_rounds: int = 10, C: float = 1.0,
                  y_true: np.ndarray | None = None):
    """Self-training: fit a logistic regression on the labelled rows, give the unlabelled rows it
    predicts with probability >= ``threshold`` their predicted label (pseudo-labels), refit;
    stop after ``max_rounds`` rounds or when no new row passes the threshold.

    Z: ``(n, d)`` features; y: ``(n,)`` int labels, ``-1`` unlabelled. y_true: the hidden labels,
    for the diagnosis only (never used to train). Returns ``(model, pseudo, history)``:
    the last model, ``(n,)`` labels used to train it, and one row per round (rows added, their
    mean confidence and, with ``y_true``, the accuracy of that round's and of all pseudo-labels).
    """
    from sklearn.linear_model import LogisticRegression

    pseudo, history = y.copy(), []
    for round_ in range(1, max_rounds + 2):
        labelled = pseudo != UNLABELLED
        model = LogisticRegression(C=C, max_iter=2000).fit(Z[labelled], pseudo[labelled])
        if labelled.all() or round_ > max_rounds:
            break
        proba = model.predict_proba(Z[~labelled])
        sure = proba.max(1) >= threshold
        if not sure.any():
            break
        new = np.flatnonzero(~labelled)[sure]
        pseudo[new] = model.classes_[proba[sure].argmax(1)]
        row = {"round": round_, "added": len(new), "confidence": float(proba[sure].max(1).mean())}
        if y_true is not None:
            was_hidden = (y == UNLABELLED) & (pseudo != UNLABELLED)
            row["accuracy of added"] = float((pseudo[new] == y_true[new]).mean())
            row["accuracy of all pseudo-labels"] = float((pseudo[was_hidden] == y_true[was_hidden]).mean())
        history.append(row)
    return model, pseudo, pd.DataFrame(history)


class SelfTrainer:
    """``self_training`` as an estimator. Learned state: ``model_``, ``pseudo_added_`` (rows
    added per round), ``pseudo_labels_`` (the final labels used for training, ``-1`` where
    still unlabelled), ``history_`` (one row per round, see ``self_training``).
    """

    def __init__(self, threshold: float = 0.9, max_rounds: int = 10, C: float = 10.0):
        self.threshold, self.max_rounds, self.C = threshold, max_rounds, C

    def fit(self, Z, y, y_true=None) -> SelfTrainer:
        Z = as_matrix(Z)
        y = _check_partial(Z, y)
        _check_threshold(self.threshold)
        if self.max_rounds < 0:
            raise ValueError(f"max_rounds must be >= 0, got {self.max_rounds}")
        if len(np.unique(y[y != UNLABELLED])) < 2:
            raise ValueError("need labelled rows of at least two classes")
        if y_true is not None and np.shape(y_true) != y.shape:
            raise ValueError(f"y_true must have shape {y.shape} like y, got {np.shape(y_true)}")
        self.model_, self.pseudo_labels_, self.history_ = self_training(
            Z, y, self.threshold, self.max_rounds, self.C, None if y_true is None else np.asarray(y_true))
        self.pseudo_added_ = [int(a) for a in self.history_.get("added", [])]
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, Z) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise RuntimeError("SelfTrainer is not fitted yet; call fit(Z, y) first")
        return self.model_.predict_proba(as_matrix(Z))

    def predict(self, Z, threshold: float | None = None) -> np.ndarray:
        return _abstain(self.predict_proba(Z), self.classes_, threshold)


def weak_labels(names, rules: dict) -> np.ndarray:
    """Weak labels from product names: each rule ``{label: [word, ...]}`` votes for its label once
    per word of a name it lists; the label with the most votes wins, and a name no rule
    matches, or a tie, gets ``-1`` (abstain). Words are lower-case runs of letters; a trailing
    "s" is ignored on both sides ("apples" matches "apple").

    names: ``n`` strings; rules: int label -> iterable of words. Returns ``(n,)`` int64.
    """
    def stem(word: str) -> str:
        return word[:-1] if len(word) > 3 and word.endswith("s") else word

    vocab = {}
    for label, words in rules.items():
        for w in words:
            vocab.setdefault(stem(w.lower()), []).append(int(label))
    out = np.full(len(names), UNLABELLED, dtype=np.int64)
    for i, name in enumerate(names):
        votes = Counter(lab for w in re.findall(r"[a-z]+", str(name).lower()) for lab in vocab.get(stem(w), []))
        ranked = votes.most_common(2)
        if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]):
            out[i] = ranked[0][0]
    return out


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
