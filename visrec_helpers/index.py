"""Nearest-neighbour search over L2-normalised vectors (cosine = inner product)."""

from __future__ import annotations

import numpy as np


def _check_k(k: int, n: int) -> None:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > n:
        raise ValueError(f"k={k} is larger than the number of candidates ({n})")


def topk_cosine(queries: np.ndarray, items: np.ndarray, k: int, exclude=None, batch_size: int = 1024):
    """Exact top-``k`` items by inner product for each query, best first.

    queries ``(q, d)`` and items ``(n, d)`` float32, L2-normalised rows. ``exclude`` is
    ``None``, a ``scipy.sparse`` matrix ``(q, n)`` whose non-zeros are forbidden, or a
    list of q iterables of item ids (for example each user's seen items). Returns
    ``(scores (q, k) float32, ids (q, k) int64)``. Raises when k exceeds what is
    left after exclusion for any query.
    """
    queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    items = np.asarray(items, dtype=np.float32)
    if items.ndim != 2 or len(items) == 0:
        raise ValueError(f"items must be a non-empty (n, d) array, got shape {items.shape}")
    if queries.shape[1] != items.shape[1]:
        raise ValueError(f"dimension mismatch: queries have d={queries.shape[1]}, items d={items.shape[1]}")
    if not (np.isfinite(queries).all() and np.isfinite(items).all()):
        raise ValueError("queries or items contain NaN or infinite values")
    _check_k(k, len(items))
    if exclude is not None and not hasattr(exclude, "tocsr") and len(exclude) != len(queries):
        raise ValueError(f"exclude has {len(exclude)} rows for {len(queries)} queries")
    scores_out = np.empty((len(queries), k), dtype=np.float32)
    ids_out = np.empty((len(queries), k), dtype=np.int64)
    ex = exclude.tocsr() if hasattr(exclude, "tocsr") else exclude
    for s in range(0, len(queries), batch_size):
        sims = queries[s : s + batch_size] @ items.T
        if ex is not None:
            for r in range(len(sims)):
                row = ex[s + r].indices if hasattr(ex, "indptr") else np.fromiter(ex[s + r], dtype=np.int64)
                if len(items) - len(set(row.tolist())) < k:
                    raise ValueError(f"query {s + r}: only {len(items) - len(set(row.tolist()))} items remain "
                                     f"after excluding seen ones, fewer than k={k}")
                sims[r, row] = -np.inf
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        part_scores = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-part_scores, axis=1, kind="stable")
        ids_out[s : s + len(sims)] = np.take_along_axis(part, order, axis=1)
        scores_out[s : s + len(sims)] = np.take_along_axis(part_scores, order, axis=1)
    return scores_out, ids_out


class ExactIndex:
    """Brute-force cosine index with the common index shape: ``add(vectors)``, ``search(queries, k)``."""

    kind = "exact"

    def __init__(self, dim: int):
        self.dim = int(dim)
        self.vectors_ = np.zeros((0, self.dim), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.vectors_)

    def add(self, vectors: np.ndarray) -> ExactIndex:
        v = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        if v.shape[1] != self.dim:
            raise ValueError(f"dimension mismatch: index has d={self.dim}, vectors have d={v.shape[1]}")
        if not np.isfinite(v).all():
            raise ValueError("vectors contain NaN or infinite values")
        self.vectors_ = np.vstack([self.vectors_, v])
        return self

    def search(self, queries: np.ndarray, k: int, exclude=None):
        if len(self) == 0:
            raise ValueError("the index is empty: add vectors before searching")
        return topk_cosine(queries, self.vectors_, k, exclude=exclude)


def build_index(vectors: np.ndarray, kind: str = "exact", **params):
    """Build an index of ``kind`` over ``vectors`` (``(n, d)`` float32, L2-normalised)."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2:
        raise ValueError(f"vectors must be (n, d), got shape {v.shape}")
    if kind == "exact":
        return ExactIndex(v.shape[1]).add(v)
    raise ValueError(f"unknown index kind {kind!r}; available: ['exact']")
