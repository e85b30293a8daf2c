"""Ranking and beyond-accuracy metrics for recommendation, as plain functions over plain arrays.

Conventions (binary relevance), the same as Microsoft Recommenders' python evaluation:

- ``recommended`` is a ranked sequence of item ids, best first; ``relevant`` is a
  collection of item ids. Only the first ``k`` recommendations count.
- precision@k = hits / k (a list shorter than k is not rewarded for being short).
- recall@k = hits / number of relevant items.
- NDCG@k: gain 1 per hit, discount ``1 / log2(rank + 1)`` (rank from 1); the ideal DCG
  puts ``min(k, len(relevant))`` hits at the top. Agrees with ``sklearn.metrics.ndcg_score``
  on binary labels without ties.
- AP@k: sum of precision@i over the ranks i <= k that hold a hit, divided by
  ``min(k, len(relevant))`` (the ``map_at_k`` convention), so a perfect list scores 1.
- hit rate@k: 1 when at least one relevant item is in the top k.
- reciprocal rank@k: 1 / rank of the first hit within the top k, else 0 (MRR averages it).
- A user with no relevant items scores 0 everywhere; ``evaluate`` skips such users.

Inputs are checked (``RecsysError``, a ``ValueError``, naming the argument and value): item
ids must be non-negative integers (a float, NaN or boolean mask is refused), a recommendation
list must not repeat an item (it would count one hit twice and push recall above 1), scores
must be finite (a NaN would win every comparison of a sampled metric), and arrays that
describe the same users must have the same length. Every metric then lies in [0, 1].
"""

from __future__ import annotations

import numbers

import numpy as np

from visrec_helpers.recsys.base import RecsysError, check_ids, check_recommendations, check_top_k

# Item ids in a metric are checked to be non-negative integers; the catalog size is not known there.
_NO_UPPER_BOUND = np.iinfo(np.int64).max


def _check_k(k) -> int:
    return check_top_k(k)


def _id_list(values, name: str, *, unique: bool) -> list[int]:
    """A 1-D collection of non-negative integer item ids as a list (a set's order is its sorted order)."""
    if isinstance(values, (set, frozenset)):
        values = sorted(values)
    elif not isinstance(values, np.ndarray):
        values = list(values)
    return check_ids(values, _NO_UPPER_BOUND, name, unique=unique, allow_empty=True).tolist()


def prepare_ranking(recommended, relevant, k: int):
    """The checked inputs of a ranking metric: ``(top-k list, relevant set, k)``.

    ``recommended``: distinct item ids, best first (repeats refused: they would count a hit twice);
    ``relevant``: item ids, read as a set (repeats count once)."""
    k = _check_k(k)
    rec = _id_list(recommended, "recommended", unique=True)[:k]
    rel = set(_id_list(relevant, "relevant", unique=False))
    return rec, rel, k


def hit_flags(rec, rel) -> np.ndarray:
    """``(len(rec),)`` bool: which recommended ids are in the relevant set ``rel``."""
    return np.array([i in rel for i in rec], dtype=bool)


def precision_at_k(recommended, relevant, k: int) -> float:
    """Hits in the top ``k`` divided by ``k``."""
    rec, rel, k = prepare_ranking(recommended, relevant, k)
    return float(hit_flags(rec, rel).sum() / k) if rel else 0.0


def recall_at_k(recommended, relevant, k: int) -> float:
    """Share of the relevant items found in the top ``k``; 0 when nothing is relevant."""
    rec, rel, k = prepare_ranking(recommended, relevant, k)
    if not rel:
        return 0.0
    return float(hit_flags(rec, rel).sum() / len(rel))


def ndcg_at_k(recommended, relevant, k: int) -> float:
    """Normalised discounted cumulative gain at ``k`` with binary gains and a log2 discount."""
    rec, rel, k = prepare_ranking(recommended, relevant, k)
    if not rel:
        return 0.0
    hits = hit_flags(rec, rel)
    discounts = 1.0 / np.log2(np.arange(2, len(rec) + 2))
    dcg = float((hits * discounts).sum())
    ideal = float((1.0 / np.log2(np.arange(2, min(k, len(rel)) + 2))).sum())
    return dcg / ideal


def average_precision_at_k(recommended, relevant, k: int) -> float:
    """AP@k normalised by ``min(k, len(relevant))`` (Microsoft Recommenders ``map_at_k``)."""
    rec, rel, k = prepare_ranking(recommended, relevant, k)
    if not rel:
        return 0.0
    hits = hit_flags(rec, rel)
    precisions = np.cumsum(hits) / np.arange(1, len(rec) + 1)
    return float((precisions * hits).sum() / min(k, len(rel)))


def hit_rate_at_k(recommended, relevant, k: int) -> float:
    """1.0 when any relevant item is in the top ``k``, else 0.0."""
    rec, rel, k = prepare_ranking(recommended, relevant, k)
    return float(hit_flags(rec, rel).any()) if rel else 0.0


def reciprocal_rank(recommended, relevant, k: int) -> float:
    """1 / (rank of the first relevant item), counting only the top ``k``; 0 when none."""
    rec, rel, k = prepare_ranking(recommended, relevant, k)
    hits = hit_flags(rec, rel)
    return float(1.0 / (np.argmax(hits) + 1)) if hits.any() else 0.0


def auc(scores, relevant, exclude=()) -> float:
    """Area under the ROC curve of one user's full score vector.

    ``scores``: ``(n_items,)`` model scores; ``relevant``: positive item ids; ``exclude``:
    item ids left out of the comparison (typically the training items). Every other item
    is a negative. AUC = share of (positive, negative) pairs ranked correctly, ties 1/2.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or len(s) == 0:
        raise RecsysError(f"scores must be a non-empty 1-D array, got shape {s.shape}")
    if not np.isfinite(s).all():
        raise RecsysError("scores contain NaN or infinite values")
    pos = np.zeros(len(s), dtype=bool)
    rel = check_ids(_as_list(relevant), len(s), "relevant", unique=False, allow_empty=True)
    ex = check_ids(_as_list(exclude), len(s), "exclude", unique=False, allow_empty=True)
    pos[rel] = True
    keep = np.ones(len(s), dtype=bool)
    keep[ex] = False
    keep[rel] = True
    p, n = s[pos & keep], s[~pos & keep]
    if len(p) == 0 or len(n) == 0:
        raise RecsysError(f"AUC needs at least one positive and one negative ({len(p)} and {len(n)})")
    # Mann-Whitney U from average ranks (ties get the mean rank, i.e. count 1/2).
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([p, n]))
    u = ranks[: len(p)].sum() - len(p) * (len(p) + 1) / 2
    return float(u / (len(p) * len(n)))


def _as_list(values):
    if isinstance(values, (set, frozenset)):
        return sorted(values)
    return values if isinstance(values, np.ndarray) else list(values)


METRICS = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "map": average_precision_at_k,
    "hit_rate": hit_rate_at_k,
    "mrr": reciprocal_rank,
}


def evaluate(recommendations, truth, k: int = 10, metrics=None) -> dict:
    """Average per-user metrics. ``recommendations``: (n_users, >=k) item ids; ``truth``: n_users sets.

    Returns ``{"recall@10": ..., "ndcg@10": ..., "users": n}``; by default every metric of
    ``METRICS`` (precision, recall, ndcg, map, hit_rate, mrr). Users with no relevant items
    are skipped (``"users"`` counts the users that were evaluated).
    """
    k = _check_k(k)
    metrics = metrics or METRICS
    if len(recommendations) != len(truth):
        raise RecsysError(f"{len(recommendations)} recommendation lists but {len(truth)} truth sets")
    sums = {name: 0.0 for name in metrics}
    n = 0
    for rec, rel in zip(recommendations, truth):
        if len(rel) == 0:
            continue
        if len(rec) < k:
            raise RecsysError(f"a recommendation list has {len(rec)} items, fewer than k={k}")
        n += 1
        for name, fn in metrics.items():
            sums[name] += fn(rec, rel, k)
    if n == 0:
        raise RecsysError("no user has any relevant item: nothing to evaluate")
    out = {f"{name}@{k}": s / n for name, s in sums.items()}
    out["users"] = n
    return out


# ---------------------------------------------------------------------------
# Beyond accuracy
# ---------------------------------------------------------------------------

def _rec_matrix(recommendations) -> np.ndarray:
    return check_recommendations(recommendations)


def _check_n(n, name: str) -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 1:
        raise RecsysError(f"{name} must be a positive integer, got {n!r}")
    return int(n)


def catalog_coverage(recommendations, n_items: int) -> float:
    """Share of the ``n_items`` catalog that appears in at least one recommendation list."""
    r = _rec_matrix(recommendations)
    n_items = _check_n(n_items, "n_items")
    check_recommendations(r, "recommended", n_items)
    return float(len(np.unique(r)) / n_items)


def intra_list_diversity(recommendations, item_embeddings) -> float:
    """Mean pairwise cosine distance (1 - cosine) inside each list, averaged over lists.

    ``item_embeddings``: ``(n_items, d)``; rows are L2-normalised here. Lists need k >= 2.
    """
    r = _rec_matrix(recommendations)
    if r.shape[1] < 2:
        raise RecsysError("intra-list diversity needs lists of at least 2 items")
    e = np.asarray(item_embeddings, dtype=np.float64)
    if e.ndim != 2 or r.max() >= len(e):
        raise RecsysError(f"item_embeddings must be (n_items, d) covering every recommended id, got {e.shape}")
    if not np.isfinite(e).all():
        raise RecsysError("item_embeddings contain NaN or infinite values")
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    v = e[r]  # (n, k, d)
    sims = np.einsum("nkd,njd->nkj", v, v)
    k = r.shape[1]
    off = (sims.sum(axis=(1, 2)) - np.trace(sims, axis1=1, axis2=2)) / (k * (k - 1))
    return float(np.mean(1.0 - off))


def novelty(recommendations, item_counts, n_users: int) -> float:
    """Mean self-information ``-log2 p(i)`` of recommended items, in bits.

    ``p(i) = (item_counts[i] + 1) / (n_users + 1)``: the share of training users who
    interacted with item ``i``, Laplace-smoothed so never-seen items stay finite.
    Recommending only blockbusters gives low novelty.
    """
    r = _rec_matrix(recommendations)
    n_users = _check_n(n_users, "n_users")
    c = np.asarray(item_counts, dtype=np.float64)
    if c.ndim != 1 or r.max() >= len(c):
        raise RecsysError(f"item_counts must be (n_items,) covering every recommended id, got {c.shape}")
    if not np.isfinite(c).all() or (c < 0).any() or (c > n_users).any():
        raise RecsysError(f"item_counts must lie in 0..n_users={n_users}")
    p = (c + 1.0) / (n_users + 1.0)
    return float(np.mean(-np.log2(p[r])))


# ---------------------------------------------------------------------------
# Sampled metrics (what many papers report, and why it misleads)
# ---------------------------------------------------------------------------

def sample_negatives(seen_rows, positives, n_items: int, n_negatives: int = 100, seed: int = 0) -> np.ndarray:
    """For each user, ``n_negatives`` distinct item ids drawn uniformly among items that are neither seen nor positive.

    ``seen_rows``: per user, the training item ids; ``positives``: per user, the held-out
    item ids (the same number of users in both, ids in ``0..n_items-1``). Returns
    ``(n_users, n_negatives)`` int64, from a local generator seeded with ``seed``.
    """
    n_items = _check_n(n_items, "n_items")
    n_negatives = _check_n(n_negatives, "n_negatives")
    seen_rows, positives = list(seen_rows), list(positives)
    if len(seen_rows) != len(positives):
        raise RecsysError(f"seen_rows has {len(seen_rows)} users but positives has {len(positives)}: "
                          "one entry per user in both")
    rng = np.random.default_rng(seed)
    out = np.empty((len(positives), n_negatives), dtype=np.int64)
    for u, (seen, pos) in enumerate(zip(seen_rows, positives)):
        seen_ids = check_ids(_as_list(seen), n_items, f"seen_rows[{u}]", unique=False, allow_empty=True)
        pos_ids = check_ids(_as_list(pos), n_items, f"positives[{u}]", unique=False, allow_empty=True)
        banned = set(seen_ids.tolist()) | set(pos_ids.tolist())
        if n_items - len(banned) < n_negatives:
            raise RecsysError(f"user row {u}: only {n_items - len(banned)} candidate negatives, need {n_negatives}")
        cand = rng.choice(n_items, size=min(n_items, n_negatives + len(banned) + 16), replace=False)
        cand = [c for c in cand.tolist() if c not in banned][:n_negatives]
        while len(cand) < n_negatives:  # rare: redraw the rest from what is left
            pool = np.setdiff1d(np.arange(n_items), np.fromiter(banned | set(cand), dtype=np.int64))
            cand += rng.choice(pool, size=n_negatives - len(cand), replace=False).tolist()
        out[u] = cand
    return out


def sampled_evaluate(scores, truth, negatives, k: int = 10) -> dict:
    """Hit rate@k and NDCG@k when each positive is ranked only against ``negatives``.

    ``scores``: ``(n_users, n_items)`` finite; ``truth``: per user a set of positive item
    ids; ``negatives``: ``(n_users, n_negatives)`` distinct item ids per row, none of them
    a positive of that user (``sample_negatives`` draws such). One candidate list per
    positive: the positive plus that user's negatives, ties counted pessimistically.
    Averages over all (user, positive) pairs.
    """
    k = _check_k(k)
    s = np.asarray(scores, dtype=np.float64)
    truth = list(truth)
    if s.ndim != 2 or s.shape[1] == 0:
        raise RecsysError(f"scores must be (n_users, n_items), got shape {s.shape}")
    neg = np.asarray(negatives)
    if neg.ndim != 2 or neg.dtype == bool or not np.issubdtype(neg.dtype, np.integer) or neg.shape[1] == 0:
        raise RecsysError(f"negatives must be an (n_users, n_negatives) integer array, got shape {neg.shape} "
                          f"dtype {neg.dtype}")
    if len(s) != len(truth) or len(neg) != len(truth):
        raise RecsysError(f"scores ({len(s)} rows), truth ({len(truth)}) and negatives ({len(neg)} rows) "
                          "must describe the same users")
    if not np.isfinite(s).all():
        raise RecsysError("scores contain NaN or infinite values: a NaN would beat every sampled negative")
    if neg.shape[1] + 1 < k:
        raise RecsysError(f"k={k} is larger than the sampled candidate list ({neg.shape[1] + 1})")
    hits, ndcgs = [], []
    for u, rel in enumerate(truth):
        negs = check_ids(neg[u], s.shape[1], f"negatives[{u}]", unique=True)
        pos = check_ids(_as_list(rel), s.shape[1], f"truth[{u}]", unique=False, allow_empty=True)
        clash = np.intersect1d(negs, pos)
        if len(clash):
            raise RecsysError(f"negatives[{u}] holds positive item(s) {clash[:5].tolist()} of that user")
        neg_scores = s[u, negs]
        for i in np.unique(pos):
            rank = int((neg_scores >= s[u, i]).sum())  # 0 = the positive is first
            hits.append(rank < k)
            ndcgs.append(1.0 / np.log2(rank + 2) if rank < k else 0.0)
    if not hits:
        raise RecsysError("no user has any relevant item: nothing to evaluate")
    return {f"hit_rate@{k}": float(np.mean(hits)), f"ndcg@{k}": float(np.mean(ndcgs)), "pairs": len(hits)}


# ---------------------------------------------------------------------------
# Comparing fitted models on one split
# ---------------------------------------------------------------------------

def evaluate_model(model, users, truth, k: int = 10, candidates=None, exclude_seen: bool = True,
                   n_items: int | None = None) -> dict:
    """Recommend with a fitted model (anything with ``recommend(users, k, exclude_seen, candidates)``)
    and return ``evaluate`` plus ``coverage@k``: the share of the candidate set (or of the
    ``n_items`` catalog; default the model's ``n_items_``) that appears in some list."""
    recs = model.recommend(np.asarray(users), k=k, exclude_seen=exclude_seen, candidates=candidates)
    out = evaluate(recs, truth, k)
    if candidates is not None:
        n = len(np.unique(np.asarray(candidates)))
    else:
        n = _check_n(model.n_items_ if n_items is None else n_items, "n_items")
    out[f"coverage@{k}"] = float(len(np.unique(recs)) / n)
    return out


def compare_models(specs: dict, users, truth, k: int = 10, candidates=None, progress: bool = True):
    """Fit and evaluate several models on one split: a ``pandas.DataFrame``, one row per model.

    ``specs``: ``{name: (model, fit_args)}`` with ``fit_args`` either ``(X,)`` or
    ``(X, fit_kwargs)``, e.g. ``(X, {"item_features": item_emb})``; ``model.fit(X, **fit_kwargs)``
    is called and timed (``fit s``). Columns: ``NDCG@k``, ``Recall@k``, ``Precision@k``,
    ``MAP@k``, ``HitRate@k``, ``MRR@k``, ``Coverage@k``, ``fit s``.
    """
    import time

    import pandas as pd
    from tqdm.auto import tqdm

    rows = []
    for name, spec in tqdm(specs.items(), desc="models", disable=not progress, leave=False):
        if not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], tuple)
                and len(spec[1]) in (1, 2) and (len(spec[1]) == 1 or isinstance(spec[1][1], dict))):
            raise RecsysError(f"specs[{name!r}] must be (model, (X,)) or (model, (X, fit_kwargs)), got {spec!r:.120}")
        model, args = spec
        kwargs = args[1] if len(args) == 2 else {}
        t0 = time.perf_counter()
        model.fit(args[0], **kwargs)
        seconds = time.perf_counter() - t0
        r = evaluate_model(model, users, truth, k, candidates)
        rows.append({"model": name, f"NDCG@{k}": r[f"ndcg@{k}"], f"Recall@{k}": r[f"recall@{k}"],
                     f"Precision@{k}": r[f"precision@{k}"], f"MAP@{k}": r[f"map@{k}"],
                     f"HitRate@{k}": r[f"hit_rate@{k}"], f"MRR@{k}": r[f"mrr@{k}"],
                     f"Coverage@{k}": r[f"coverage@{k}"], "fit s": seconds})
    return pd.DataFrame(rows)
