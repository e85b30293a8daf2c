"""Ranking metrics for recommendation, as plain functions over plain arrays.

Conventions (binary relevance): ``recommended`` is a ranked sequence of item ids, best
first; ``relevant`` is a collection of item ids. Only the first ``k`` recommendations
count. Recall divides hits by the number of relevant items; NDCG uses a log2 discount
and the ideal DCG over ``min(k, len(relevant))`` items.
"""

from __future__ import annotations

import numpy as np


def _prep(recommended, relevant, k: int):
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    rec = list(recommended)[:k]
    rel = set(np.asarray(list(relevant)).tolist())
    return rec, rel


def recall_at_k(recommended, relevant, k: int) -> float:
    """Share of the relevant items found in the top ``k``; 0 when nothing is relevant."""
    rec, rel = _prep(recommended, relevant, k)
    if not rel:
        return 0.0
    return sum(1 for i in rec if i in rel) / len(rel)


def ndcg_at_k(recommended, relevant, k: int) -> float:
    """Normalised discounted cumulative gain at ``k`` with binary gains and a log2 discount."""
    rec, rel = _prep(recommended, relevant, k)
    if not rel:
        return 0.0
    dcg = sum(1.0 / np.log2(r + 2) for r, i in enumerate(rec) if i in rel)
    ideal = sum(1.0 / np.log2(r + 2) for r in range(min(k, len(rel))))
    return float(dcg / ideal)


def evaluate(recommendations, truth, k: int = 10, metrics=None) -> dict:
    """Average per-user metrics. ``recommendations``: (n_users, >=k) item ids; ``truth``: n_users sets.

    Users with no relevant items are skipped (and counted in ``"users"``).
    """
    metrics = metrics or {"recall": recall_at_k, "ndcg": ndcg_at_k}
    if len(recommendations) != len(truth):
        raise ValueError(f"{len(recommendations)} recommendation lists but {len(truth)} truth sets")
    sums = {name: 0.0 for name in metrics}
    n = 0
    for rec, rel in zip(recommendations, truth):
        if len(rel) == 0:
            continue
        n += 1
        for name, fn in metrics.items():
            sums[name] += fn(rec, rel, k)
    if n == 0:
        raise ValueError("no user has any relevant item: nothing to evaluate")
    out = {f"{name}@{k}": s / n for name, s in sums.items()}
    out["users"] = n
    return out
