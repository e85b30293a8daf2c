"""Content-based recommendation: user profiles built from item embeddings (mean, recency, multi-interest)."""

from __future__ import annotations

import numpy as np

from visrec_helpers.recsys.base import (
    Recommender,
    RecsysError,
    _check_hyper,
    check_item_features,
    check_timestamps,
    check_user_items,
)


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

    def fit(self, X, *, item_features=None, timestamps=None):
        """``X`` users x items weights; ``item_features`` ``(n_items, d)`` (required);
        ``timestamps`` shaped like ``X`` (required by ``strategy="recency"``, else unused)."""
        if self.strategy not in ("mean", "recency", "multi"):
            raise RecsysError(f"unknown strategy {self.strategy!r}; use 'mean', 'recency' or 'multi'")
        _check_hyper("half_life", self.half_life, 0.0, strict=True)
        _check_hyper("n_interests", self.n_interests, 1, integer=True)
        m = check_user_items(X)
        feats = check_item_features(item_features, m.shape[1], type(self).__name__, np.float32)
        if self.strategy == "recency":
            self.timestamps_ = check_timestamps(timestamps, m, f"{type(self).__name__}(strategy='recency')")
        self.user_items_ = m
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        self.item_features_ = feats / np.maximum(norms, 1e-12)
        return self

    def _history(self, u: int):
        row = self.user_items_[u]
        items, w = row.indices, row.data.copy()
        if self.strategy == "recency":
            times = self.timestamps_[u].data  # aligned with row.indices (check_timestamps)
            events_back = np.argsort(np.argsort(-times, kind="stable"), kind="stable")  # 0 = newest
            w = w * 0.5 ** (events_back / self.half_life)
        return items, w

    def profiles(self, users) -> list[np.ndarray]:
        """Each user's profile vectors, ``(m, d)`` unit rows (m = 1 unless multi-interest)."""
        users = self._check_users(users)
        out = []
        for u in users:
            items, w = self._history(int(u))
            if len(items) == 0:
                raise RecsysError(f"user {int(u)} has no history: a content profile needs at least one item")
            x = self.item_features_[items]
            if self.strategy == "multi" and len(items) > 1:
                out.append(_spherical_kmeans(x, min(self.n_interests, len(items))))
            else:
                v = (w[:, None] * x).sum(axis=0)
                out.append((v / max(np.linalg.norm(v), 1e-12))[None, :])
        return out

    def score(self, users):
        return np.stack([np.max(p @ self.item_features_.T, axis=0) for p in self.profiles(users)])
