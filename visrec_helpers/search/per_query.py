"""Labelled retrieval scored per query, so that a mean comes with a bootstrap interval (q03, q11).

``retrieval.labelled_retrieval`` returns means; ``average_precisions`` returns one AP@k per
query (same definition: the query is left out of its own list by id, an item is relevant
when it has the query's label, AP is divided by ``min(k, n_relevant)``), ready for
``core.stats.bootstrap_ci`` and ``paired_bootstrap_ci``. ``cross_average_precisions``
scores other images (shifted copies, another style) searching a database.
"""

from __future__ import annotations

import numpy as np

from visrec_helpers.search.index import build_index
from visrec_helpers.search.retrieval import average_precision_of_flags


def _unit(a, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    if a.ndim != 2 or len(a) == 0 or not np.isfinite(a).all():
        raise ValueError(f"{name} must be a non-empty finite 2-d array, got shape {a.shape}")
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return a / np.where(norms > 0, norms, 1.0)


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k={k!r} must be a positive integer")
    return int(k)


def queries_with_matches(labels, min_matches: int = 1) -> np.ndarray:
    """Ids of the items whose label has at least ``min_matches`` other items (the useful queries)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-d array, got shape {labels.shape}")
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return np.flatnonzero(counts[inverse] - 1 >= min_matches)


def average_precisions(vectors, labels, k: int = 10, queries=None) -> np.ndarray:
    """AP@k of each query item searching all other items by cosine: ``(n_queries,)`` float64.

    ``vectors`` ``(n, d)`` (rows are L2-normalised here); ``labels`` ``(n,)``;
    ``queries``: ids of the query items (default every item). A query is never its own
    result. The mean equals ``retrieval.labelled_retrieval(...)["map@k"]``.
    """
    k = _check_k(k)
    vec, labels = _unit(vectors, "vectors"), np.asarray(labels)
    if len(vec) != len(labels):
        raise ValueError(f"vectors {vec.shape} and labels {labels.shape} must have one row per item")
    if k > len(vec) - 1:
        raise ValueError(f"k={k} is larger than the {len(vec) - 1} other items")
    q = np.arange(len(vec)) if queries is None else np.asarray(queries, dtype=np.int64)
    if q.ndim != 1 or len(q) == 0 or q.min() < 0 or q.max() >= len(vec):
        raise ValueError(f"queries must be a non-empty list of ids in [0, {len(vec)}), got {queries!r:.80}")
    _, ids = build_index(vec, kind="exact").search(vec[q], k, exclude=q[:, None])
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    n_rel = counts[inverse[q]] - 1
    rel = labels[ids] == labels[q][:, None]
    return np.array([average_precision_of_flags(r, int(n), k) for r, n in zip(rel, n_rel)])


def cross_average_precisions(query_vectors, query_labels, database_vectors, database_labels, k: int = 10,
                             exclude=None) -> np.ndarray:
    """AP@k of each query vector searching a separate database by cosine: ``(m,)`` float64.

    ``exclude``: optional ``(m,)`` database ids, one per query, left out of that query's list
    and of its relevant count (e.g. the unshifted original of a shifted query).
    """
    k = _check_k(k)
    qv, dbv = _unit(query_vectors, "query_vectors"), _unit(database_vectors, "database_vectors")
    ql, dl = np.asarray(query_labels), np.asarray(database_labels)
    if len(qv) != len(ql) or len(dbv) != len(dl):
        raise ValueError(f"one label per vector is needed: queries {qv.shape} / {ql.shape}, "
                         f"database {dbv.shape} / {dl.shape}")
    if qv.shape[1] != dbv.shape[1]:
        raise ValueError(f"query_vectors have {qv.shape[1]} dimensions, database_vectors {dbv.shape[1]}")
    n_rel = (ql[:, None] == dl[None, :]).sum(1)
    ex = None
    if exclude is not None:
        ex = np.asarray(exclude, dtype=np.int64).reshape(-1)
        if len(ex) != len(qv):
            raise ValueError(f"exclude has {len(ex)} ids for {len(qv)} queries")
        n_rel = n_rel - (dl[ex] == ql)
        ex = ex[:, None]
    if k > len(dbv) - (ex is not None):
        raise ValueError(f"k={k} is larger than the {len(dbv)} database items")
    _, ids = build_index(dbv, kind="exact").search(qv, k, exclude=ex)
    rel = dl[ids] == ql[:, None]
    return np.array([average_precision_of_flags(r, int(n), k) for r, n in zip(rel, n_rel)])
