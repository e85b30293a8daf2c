"""The recommender contract every model of ``visrec_helpers.recsys`` follows, and its shared checks.

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

    def recommend(self, user_ids, k: int = 10, exclude_seen: bool = True, candidates=None) -> np.ndarray:
        """Top-``k`` item indices per user, best first, ``(len(user_ids), k)`` int64.

        ``candidates`` (optional item ids) restricts the ranking to those items, for
        example the new items of a cold-start evaluation. Ties keep the lower item id first.
        """
        users = self._check_users(user_ids)
        n_items = self.user_items_.shape[1]
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if k > n_items:
            raise ValueError(f"k={k} is larger than the catalog ({n_items} items)")
        scores = np.array(self.score(users), dtype=np.float64, copy=True)
        if np.isnan(scores).any():
            raise ValueError(f"{type(self).__name__}.score returned NaN scores")
        allowed = np.ones(n_items, dtype=bool)
        if candidates is not None:
            cand = np.unique(np.asarray(candidates, dtype=np.int64))
            if len(cand) == 0 or cand.min() < 0 or cand.max() >= n_items:
                raise ValueError(f"candidates must be non-empty item ids in 0..{n_items - 1}")
            allowed[:] = False
            allowed[cand] = True
            scores[:, ~allowed] = -np.inf
        if exclude_seen:
            seen = self.user_items_[users]
            rows = np.repeat(np.arange(len(users)), np.diff(seen.indptr))
            seen_allowed = np.bincount(rows[allowed[seen.indices]], minlength=len(users))
            left = int(allowed.sum() - seen_allowed.max())
            if left < k:
                raise ValueError(f"k={k}: a user has seen all but {left} of the {int(allowed.sum())} "
                                 "candidate items, leaving fewer than k")
            scores[rows, seen.indices] = -np.inf
        elif k > allowed.sum():
            raise ValueError(f"k={k} is larger than the {int(allowed.sum())} candidate items")
        # Break ties by item id (stable), so equal scores give a reproducible order.
        return np.argsort(-scores, axis=1, kind="stable")[:, :k].astype(np.int64)


def _check_hyper(name: str, value, low: float = 0.0, integer: bool = False, strict: bool = False):
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.number))
    if isinstance(value, bool) or not ok or not np.isfinite(value) or value < low or (strict and value == low):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {kind} {'>' if strict else '>='} {low}, got {value!r}")
