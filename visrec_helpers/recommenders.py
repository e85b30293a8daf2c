"""Recommenders with one estimator shape (scikit-learn style).

``__init__`` takes hyper-parameters only; ``fit(user_items, ...)`` learns from a
``scipy.sparse.csr_matrix`` users x items of interaction weights and returns ``self``;
learned state ends in ``_``; ``score(user_ids) -> (n, n_items)``;
``recommend(user_ids, k=10, exclude_seen=True) -> (n, k)`` item indices, best first.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def check_user_items(user_items) -> sp.csr_matrix:
    """Validate an interaction matrix: sparse or dense 2-D, finite, non-negative, not empty."""
    m = sp.csr_matrix(user_items, dtype=np.float64)
    if m.shape[0] == 0 or m.shape[1] == 0 or m.nnz == 0:
        raise ValueError(f"user_items is empty (shape {m.shape}, {m.nnz} interactions)")
    if not np.isfinite(m.data).all():
        raise ValueError("user_items contains NaN or infinite weights")
    if (m.data < 0).any():
        raise ValueError("user_items contains negative weights")
    return m


class Recommender:
    """Base class: subclasses implement ``fit`` and ``score``."""

    def _check_fitted(self):
        if not hasattr(self, "user_items_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() first")

    def _check_users(self, user_ids) -> np.ndarray:
        self._check_fitted()
        users = np.atleast_1d(np.asarray(user_ids))
        if users.size == 0:
            raise ValueError("user_ids is empty")
        if not np.issubdtype(users.dtype, np.integer):
            raise ValueError(f"user_ids must be integers, got dtype {users.dtype}")
        n = self.user_items_.shape[0]
        bad = users[(users < 0) | (users >= n)]
        if len(bad):
            raise ValueError(f"unknown user id(s) {bad[:5].tolist()}: the model knows users 0..{n - 1}")
        return users

    def score(self, user_ids) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def recommend(self, user_ids, k: int = 10, exclude_seen: bool = True) -> np.ndarray:
        """Top-``k`` item indices per user, best first, ``(len(user_ids), k)`` int64."""
        users = self._check_users(user_ids)
        n_items = self.user_items_.shape[1]
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if k > n_items:
            raise ValueError(f"k={k} is larger than the catalog ({n_items} items)")
        scores = np.array(self.score(users), dtype=np.float64, copy=True)
        if exclude_seen:
            seen = self.user_items_[users]
            max_seen = np.diff(seen.indptr).max()
            if n_items - max_seen < k:
                raise ValueError(f"k={k}: a user has seen {max_seen} of {n_items} items, leaving fewer than k")
            rows = np.repeat(np.arange(len(users)), np.diff(seen.indptr))
            scores[rows, seen.indices] = -np.inf
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
        return np.take_along_axis(part, order, axis=1).astype(np.int64)


class RandomRecommender(Recommender):
    """Uniformly random scores (seeded): the floor every model must beat."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, user_items):
        self.user_items_ = check_user_items(user_items)
        self.rng_ = np.random.default_rng(self.seed)
        return self

    def score(self, user_ids):
        users = self._check_users(user_ids)
        return self.rng_.random((len(users), self.user_items_.shape[1]))


class Popularity(Recommender):
    """Scores every item by its total interaction weight in training (same list for all)."""

    def fit(self, user_items):
        self.user_items_ = check_user_items(user_items)
        self.item_scores_ = np.asarray(self.user_items_.sum(axis=0)).ravel()
        return self

    def score(self, user_ids):
        users = self._check_users(user_ids)
        return np.tile(self.item_scores_, (len(users), 1))


def _spherical_kmeans(x: np.ndarray, m: int, iters: int = 10) -> np.ndarray:
    """Deterministic spherical k-means (farthest-point init): ``m`` unit centroids of rows of ``x``."""
    centroids = [x[0]]
    for _ in range(1, m):
        sims = np.max(x @ np.stack(centroids).T, axis=1)
        centroids.append(x[int(np.argmin(sims))])
    c = np.stack(centroids)
    for _ in range(iters):
        assign = np.argmax(x @ c.T, axis=1)
        for j in range(m):
            members = x[assign == j]
            if len(members):
                v = members.sum(axis=0)
                c[j] = v / max(np.linalg.norm(v), 1e-12)
    return c


class ProfileRecommender(Recommender):
    """Content-based recommender: a user profile built from the embeddings of seen items.

    strategy:
      - ``"mean"``: weighted mean of the history embeddings (weights = interaction weights).
      - ``"recency"``: the same, with each event's weight halved every ``half_life``
        events back in time (needs ``timestamps``).
      - ``"multi"``: up to ``n_interests`` centroids of the history (spherical k-means);
        an item scores its best cosine to any centroid, so a user who likes cats and
        rockets is not recommended the average of both.
    Scores are cosines between the L2-normalised profile(s) and item embeddings.
    """

    def __init__(self, strategy: str = "mean", half_life: float = 5.0, n_interests: int = 3):
        self.strategy = strategy
        self.half_life = half_life
        self.n_interests = n_interests

    def fit(self, user_items, item_features, timestamps=None):
        if self.strategy not in ("mean", "recency", "multi"):
            raise ValueError(f"unknown strategy {self.strategy!r}; use 'mean', 'recency' or 'multi'")
        m = check_user_items(user_items)
        feats = np.asarray(item_features, dtype=np.float32)
        if feats.ndim != 2 or len(feats) != m.shape[1]:
            raise ValueError(f"item_features must be (n_items={m.shape[1]}, d), got shape {feats.shape}")
        if not np.isfinite(feats).all():
            raise ValueError("item_features contain NaN or infinite values")
        if self.strategy == "recency":
            if timestamps is None:
                raise ValueError("strategy='recency' needs timestamps (a sparse matrix shaped like user_items)")
            ts = sp.csr_matrix(timestamps)
            if ts.shape != m.shape or ts.nnz != m.nnz:
                raise ValueError("timestamps must have the same shape and non-zeros as user_items")
            self.timestamps_ = ts
        self.user_items_ = m
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        self.item_features_ = feats / np.maximum(norms, 1e-12)
        return self

    def _history(self, u: int):
        row = self.user_items_[u]
        items, w = row.indices, row.data.copy()
        if self.strategy == "recency":
            t = self.timestamps_[u]
            t = dict(zip(t.indices, t.data))
            times = np.array([t[i] for i in items])
            events_back = np.argsort(np.argsort(-times, kind="stable"), kind="stable")  # 0 = newest
            w = w * 0.5 ** (events_back / self.half_life)
        return items, w

    def profiles(self, user_ids) -> list[np.ndarray]:
        """Each user's profile vectors, ``(m, d)`` unit rows (m = 1 unless multi-interest)."""
        users = self._check_users(user_ids)
        out = []
        for u in users:
            items, w = self._history(int(u))
            if len(items) == 0:
                raise ValueError(f"user {int(u)} has no history: a content profile needs at least one item")
            x = self.item_features_[items]
            if self.strategy == "multi" and len(items) > 1:
                out.append(_spherical_kmeans(x, min(self.n_interests, len(items))))
            else:
                v = (w[:, None] * x).sum(axis=0)
                out.append((v / max(np.linalg.norm(v), 1e-12))[None, :])
        return out

    def score(self, user_ids):
        return np.stack([np.max(p @ self.item_features_.T, axis=0) for p in self.profiles(user_ids)])
