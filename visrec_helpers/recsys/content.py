"""Content-based recommendation: user profiles built from item embeddings (mean, recency, multi-interest)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from visrec_helpers.recsys.base import Recommender, check_user_items


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
