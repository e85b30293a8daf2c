"""Content-based recommendation: user profiles built from item embeddings (mean, recency, multi-interest)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from visrec_helpers.core.validation import as_ids, as_k
from visrec_helpers.recsys.base import (
    Recommender,
    RecsysError,
    check_hyper,
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


def recency_weights(times: np.ndarray, half_life: float) -> np.ndarray:
    """``(n,)`` weights of one user's ``n`` events from their times: the newest weighs 1 and each
    event further back weighs ``0.5 ** (1 / half_life)`` times the next (halved every ``half_life`` events)."""
    events_back = np.argsort(np.argsort(-np.asarray(times), kind="stable"), kind="stable")  # 0 = newest
    return 0.5 ** (events_back / half_life)


def mean_profiles(weights: sp.csr_matrix, item_vectors: np.ndarray) -> np.ndarray:
    """Every user's profile at once: the weighted sum of their items' vectors, L2-normalised.

    ``weights``: ``(n_users, n_items)`` sparse (like 3, view 1, skip 0.1; or recency-scaled).
    ``item_vectors``: ``(n_items, d)`` unit rows. Returns ``(n_users, d)`` float64 unit rows
    (a user without history gets a zero row). One sparse product, no loop over users.
    """
    summed = np.asarray(weights @ item_vectors, dtype=np.float64)  # (n_users, d)
    norms = np.linalg.norm(summed, axis=1, keepdims=True)
    return summed / np.maximum(norms, 1e-12)  # the mean's direction: cosine ignores its length


def cosine_top_k(profiles: np.ndarray, item_vectors: np.ndarray, k: int, seen=None) -> np.ndarray:
    """``(n, k)`` int64: the ``k`` items of highest cosine to each profile, best first, none of them seen.

    ``profiles``: ``(n, d)`` and ``item_vectors``: ``(n_items, d)``, both with unit rows, so the
    dot product is the cosine. ``seen``: ``(n, n_items)`` sparse (a user's training items) or None.
    A partial sort (``argpartition``, O(n_items)) finds the top k; only those k are then sorted.
    """
    scores = profiles @ item_vectors.T  # (n, n_items) cosines
    if seen is not None:
        rows, cols = sp.csr_matrix(seen).nonzero()
        scores[rows, cols] = -np.inf  # never recommend what the user has already seen
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # the k best, in no particular order
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.lexsort((top, -top_scores), axis=1)  # by score, ties to the lower item id
    return np.take_along_axis(top, order, axis=1).astype(np.int64)


def mmr_rerank(candidates: np.ndarray, relevance: np.ndarray, item_vectors: np.ndarray, k: int,
               lam: float = 0.7) -> np.ndarray:
    """Maximal marginal relevance (Carbonell and Goldstein 1998): re-rank one list for diversity.

    ``candidates``: ``(m,)`` distinct integer item ids, ``relevance``: ``(m,)`` their finite
    scores (cosines here), ``item_vectors``: ``(n_items, d)`` unit rows. Each step takes the
    candidate maximising ``lam * relevance - (1 - lam) * (its highest cosine to the items
    already taken)``; ``lam = 1`` keeps the relevance order. Returns ``(min(k, m),)`` int64
    item ids: with ``k`` above the number of candidates every candidate comes back once, never
    padded with repeats. Bad input (``k`` not an integer >= 1, a float or boolean mask or
    repeated id as ``candidates``, ids outside the vectors, ``lam`` outside [0, 1]) raises
    ``RecsysError`` naming the argument.
    """
    vectors_all = np.asarray(item_vectors)
    if vectors_all.ndim != 2:
        raise RecsysError(f"item_vectors must be an (n_items, d) array, got shape {vectors_all.shape}")
    candidates = as_ids(candidates, "candidates", len(vectors_all), unique=True, allow_empty=False,
                        error=RecsysError)
    k = as_k(k, error=RecsysError)
    rel = np.asarray(relevance, dtype=np.float64) if np.asarray(relevance).dtype != bool else None
    if rel is None or rel.shape != candidates.shape or not np.isfinite(rel).all():
        raise RecsysError(f"relevance must be {len(candidates)} finite numbers, one per candidate, "
                          f"got {np.asarray(relevance).dtype} of shape {np.shape(relevance)}")
    if isinstance(lam, bool) or not isinstance(lam, (int, float, np.number)) or not 0.0 <= lam <= 1.0:
        raise RecsysError(f"lam must be a number in [0, 1], got {lam!r}")
    k = min(k, len(candidates))
    vectors = vectors_all[candidates]
    sims = vectors @ vectors.T  # (m, m) cosines among the candidates
    chosen = [int(np.argmax(rel))]
    closest = sims[chosen[0]].copy()  # each candidate's highest cosine to the chosen items
    for _ in range(1, k):
        gain = lam * rel - (1.0 - lam) * closest
        gain[chosen] = -np.inf
        best = int(np.argmax(gain))
        chosen.append(best)
        closest = np.maximum(closest, sims[best])
    return candidates[chosen]


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
        check_hyper("half_life", self.half_life, 0.0, strict=True)
        check_hyper("n_interests", self.n_interests, 1, integer=True)
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
            w = w * recency_weights(times, self.half_life)
        return items, w

    def profile_weights(self, users) -> sp.csr_matrix:
        """``(len(users), n_items)`` sparse: the weight of each history item in each profile
        (the interaction weights, recency-scaled for ``strategy="recency"``)."""
        users = self._check_users(users)
        w = sp.csr_matrix(self.user_items_[users], dtype=np.float64, copy=True)
        if self.strategy == "recency":
            times = self.timestamps_[users]
            for r in range(len(users)):
                lo, hi = w.indptr[r], w.indptr[r + 1]
                w.data[lo:hi] *= recency_weights(times.data[lo:hi], self.half_life)
        return w

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
        if self.strategy == "multi":
            return np.stack([np.max(p @ self.item_features_.T, axis=0) for p in self.profiles(users)])
        weights = self.profile_weights(users)
        empty = np.flatnonzero(np.diff(weights.indptr) == 0)
        if len(empty):
            u = int(self._check_users(users)[empty[0]])
            raise RecsysError(f"user {u} has no history: a content profile needs at least one item")
        return mean_profiles(weights, self.item_features_) @ self.item_features_.T
