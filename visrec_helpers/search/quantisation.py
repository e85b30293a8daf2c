"""Vectors in fewer bytes, by hand (q14): product quantisation (sub-space k-means, encoding,
search with lookup tables), PCA stored as float32 / float16 / int8, random projection, and
recall@k against exact search at equal bytes per vector, per query (for bootstrap intervals).

Vectors are ``(n, d)`` float32 rows (validated by ``index.check_vectors``). Distances are
squared Euclidean; for L2-normalised vectors the nearest in Euclidean distance are the most
similar in cosine, so exact search by cosine is the reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from visrec_helpers.search.index import check_k, check_vectors, topk_cosine

N_CENTROIDS = 256  # one byte per sub-vector code


def nearest_centroid(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (squared L2) for each row of ``x``: ``(n,)`` int64.

    ``||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2``; the first term is the same for every
    centroid, so the arg-min needs only the last two.
    """
    scores = x @ centroids.T * -2.0 + (centroids**2).sum(axis=1)
    return scores.argmin(axis=1)


def kmeans(x: np.ndarray, k: int, iterations: int = 20, seed: int = 0) -> np.ndarray:
    """Lloyd's k-means on the rows of ``x`` ``(n, d)``: ``(k, d)`` float32 centroids.

    Starts from ``k`` distinct random rows; a centroid that loses all its points is
    re-seeded on a random row (small sub-spaces with 256 centroids often have some).
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float32)
    if not 1 <= k <= len(x):
        raise ValueError(f"k={k} must be between 1 and the number of points {len(x)}")
    centroids = x[rng.choice(len(x), size=k, replace=False)].copy()
    for _ in range(iterations):
        assign = nearest_centroid(x, centroids)
        counts = np.bincount(assign, minlength=k)
        filled = counts > 0
        starts = (np.cumsum(counts) - counts)[filled]  # rows sorted by centroid: one run per filled centroid
        sums = np.add.reduceat(x[np.argsort(assign, kind="stable")], starts, axis=0)
        centroids[filled] = sums / counts[filled, None]
        centroids[~filled] = x[rng.choice(len(x), size=int((~filled).sum()), replace=False)]
    return centroids


def train_codebooks(vectors: np.ndarray, m: int, n_centroids: int = N_CENTROIDS, iterations: int = 20,
                    seed: int = 0) -> np.ndarray:
    """Product-quantiser codebooks: cut each ``d``-dim vector into ``m`` sub-vectors of
    ``d / m`` numbers and run k-means separately in each sub-space.

    Returns ``(m, n_centroids, d // m)`` float32. ``m`` must divide ``d``.
    """
    x = check_vectors(vectors, None)
    n, d = x.shape
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1 or d % m:
        raise ValueError(f"m={m!r} must be a positive divisor of the dimension d={d}")
    subs = x.reshape(n, m, d // m)
    return np.stack([kmeans(subs[:, j], n_centroids, iterations, seed + j) for j in range(m)])


def pq_encode(vectors: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """The code of each vector: for each sub-vector, the index of its nearest centroid.

    ``vectors (n, d)``, ``codebooks (m, K, d // m)`` -> ``(n, m)`` uint8 (``K <= 256``): ``m`` bytes a vector.
    """
    m, k, ds = codebooks.shape
    x = check_vectors(vectors, m * ds)
    if k > 256:
        raise ValueError(f"{k} centroids per sub-space do not fit in one byte (at most 256)")
    subs = x.reshape(len(x), m, ds)
    return np.stack([nearest_centroid(subs[:, j], codebooks[j]) for j in range(m)], axis=1).astype(np.uint8)


def pq_decode(codes: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """The approximate vectors that ``codes (n, m)`` stand for: ``(n, d)`` float32."""
    m = codebooks.shape[0]
    return np.concatenate([codebooks[j][codes[:, j]] for j in range(m)], axis=1)


def adc_search(queries: np.ndarray, codes: np.ndarray, codebooks: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Search PQ codes with asymmetric distances: the query stays exact, the items are codes.

    For each query, one lookup table ``(m, K)``: the squared distance of each query
    sub-vector to every centroid of its sub-space. An item's distance is then the sum of
    ``m`` table entries, picked by its code: no vector is decoded, one add per byte.
    Returns ``(distances, ids)``, both ``(n_queries, k)``, nearest first.
    """
    m, _, ds = codebooks.shape
    q = check_vectors(queries, m * ds, "queries")
    k = check_k(k, len(codes))
    q_subs = q.reshape(len(q), m, ds)
    tables = ((q_subs**2).sum(axis=-1)[:, :, None] - 2 * np.einsum("qmd,mkd->qmk", q_subs, codebooks)
              + (codebooks**2).sum(axis=-1)[None])                 # (n_queries, m, K)
    dist = np.zeros((len(q), len(codes)), dtype=np.float32)
    for j in range(m):
        dist += tables[:, j, codes[:, j]]                          # gather one column per sub-space
    ids = np.argpartition(dist, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(dist, ids, axis=1).argsort(axis=1, kind="stable")
    ids = np.take_along_axis(ids, order, axis=1)
    return np.take_along_axis(dist, ids, axis=1), ids


def pca_fit(vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Centred PCA: the mean ``(d,)`` and the top ``dim`` principal directions ``(d, dim)``, float32.

    The directions are the top eigenvectors of the ``(d, d)`` scatter matrix (cheaper than an
    SVD of the data when ``n > d``); their signs are arbitrary.
    """
    x = check_vectors(vectors, None).astype(np.float64)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 1 <= dim <= min(x.shape):
        raise ValueError(f"dim={dim!r} must be an integer between 1 and {min(x.shape)}")
    mean = x.mean(axis=0)
    centred = x - mean
    if len(x) > x.shape[1]:
        _, vectors_ = np.linalg.eigh(centred.T @ centred)  # eigenvalues ascending
        basis = vectors_[:, ::-1][:, :dim]
    else:
        basis = np.linalg.svd(centred, full_matrices=False)[2][:dim].T
    return mean.astype(np.float32), basis.astype(np.float32)


def int8_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scalar quantiser, one byte per number: per-dimension ``low`` and ``step`` so that
    ``low + 255 * step`` is the largest value seen (``(d,)`` float32 each)."""
    x = check_vectors(x, None)
    low, high = x.min(axis=0), x.max(axis=0)
    return low, np.maximum(high - low, 1e-12) / 255


def int8_encode(x: np.ndarray, low: np.ndarray, step: np.ndarray) -> np.ndarray:
    """``(n, d)`` float -> ``(n, d)`` uint8 codes (values outside the fitted range are clipped)."""
    return np.clip(np.rint((x - low) / step), 0, 255).astype(np.uint8)


def int8_decode(codes: np.ndarray, low: np.ndarray, step: np.ndarray) -> np.ndarray:
    """The float32 values that ``int8_encode`` codes stand for."""
    return (low + codes.astype(np.float32) * step).astype(np.float32)


def random_projection_matrix(d: int, dim: int, seed: int = 0) -> np.ndarray:
    """A Gaussian ``(d, dim)`` float32 matrix scaled by ``1/sqrt(dim)`` (lengths kept on average)."""
    if dim < 1 or d < 1:
        raise ValueError(f"d={d} and dim={dim} must be >= 1")
    return (np.random.default_rng(seed).standard_normal((d, dim)) / np.sqrt(dim)).astype(np.float32)


def _topk_l2(queries: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """Ids of the ``k`` nearest items in squared L2, nearest first, ``(n_queries, k)``."""
    d2 = (items**2).sum(axis=1)[None, :] - 2.0 * (queries @ items.T)
    ids = np.argpartition(d2, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(d2, ids, axis=1).argsort(axis=1, kind="stable")
    return np.take_along_axis(ids, order, axis=1)


def _topk_ip(queries: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    s = queries @ items.T
    ids = np.argpartition(-s, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(-s, ids, axis=1).argsort(axis=1, kind="stable")
    return np.take_along_axis(ids, order, axis=1)


def recall_per_query(found: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Share of each query's exact top-k that ``found`` holds: ``(n_queries,)`` float in [0, 1]."""
    found, exact = np.asarray(found), np.asarray(exact)
    if found.shape[0] != exact.shape[0]:
        raise ValueError(f"found has {found.shape[0]} rows, exact {exact.shape[0]}")
    return np.array([len(np.intersect1d(f, e)) / len(e) for f, e in zip(found, exact)])


BYTES_PER_NUMBER = {"PCA float32": 4, "PCA float16": 2, "PCA int8": 1, "random projection, centred": 4,
                    "random projection, inner product": 4}
METHODS = ("PQ", "PQ (faiss)", "PCA float32", "PCA float16", "PCA int8", "random projection, centred",
           "random projection, inner product")


def _method_ids(method: str, budget: int, items, queries, k: int, seed: int, iterations: int, pca=None):
    """Ids of the top-k found by ``method`` at ``budget`` bytes per vector; ``None`` if it cannot spend exactly that.

    ``pca``: ``(mean, basis)`` from ``pca_fit`` with at least the dimensions needed (the
    principal directions are nested, so one fit serves every budget).
    """
    d = items.shape[1]
    if method in ("PQ", "PQ (faiss)"):
        if d % budget:
            return None
        if method == "PQ":
            books = train_codebooks(items, budget, iterations=iterations, seed=seed)
            return adc_search(queries, pq_encode(items, books), books, k)[1]
        import faiss

        pq = faiss.IndexPQ(d, budget, 8)
        pq.pq.cp.niter, pq.pq.cp.seed, pq.pq.cp.min_points_per_centroid = iterations, seed, 1
        pq.train(items)
        pq.add(items)
        return pq.search(queries, k)[1]
    if method not in METHODS:
        raise ValueError(f"method={method!r} must be one of {METHODS}")
    bytes_per_number = BYTES_PER_NUMBER[method]
    if budget % bytes_per_number or budget // bytes_per_number > min(items.shape):
        return None
    dim = budget // bytes_per_number
    if method.startswith("PCA"):
        mean, basis = pca_fit(items, dim) if pca is None or pca[1].shape[1] < dim else pca
        zi, zq = (items - mean) @ basis[:, :dim], (queries - mean) @ basis[:, :dim]
        if method == "PCA float16":
            zi = zi.astype(np.float16).astype(np.float32)
        elif method == "PCA int8":
            low, step = int8_fit(zi)
            zi = int8_decode(int8_encode(zi, low, step), low, step)
        return _topk_l2(zq, zi, k)
    proj = random_projection_matrix(d, dim, seed)
    if method == "random projection, centred":
        mean = items.mean(axis=0)
        return _topk_l2((queries - mean) @ proj, (items - mean) @ proj, k)
    return _topk_ip(queries @ proj, items @ proj, k)  # "random projection, inner product"


def bytes_recall_table(items: np.ndarray, queries: np.ndarray, budgets, methods=METHODS, k: int = 10,
                       seed: int = 0, iterations: int = 20, progress: bool = False) -> pd.DataFrame:
    """Recall@k against exact cosine search when each item is stored in ``budget`` bytes.

    For every ``budget`` (bytes per item) and method (``METHODS``), what is fitted
    (codebooks, PCA, quantiser ranges) is fitted on ``items`` only; queries stay float32.
    A method that cannot spend exactly ``budget`` bytes is skipped (PQ needs ``budget | d``;
    PCA float32 and random projections keep ``budget / 4`` numbers, float16 ``budget / 2``,
    int8 ``budget``). Returns one row per (method, budget): ``method, bytes, numbers``
    (kept per item), ``recall`` (mean over queries) and ``low, high`` (95% bootstrap over
    queries); ``attrs["per_query"][(method, budget)]`` holds each query's recall and
    ``attrs["intervals"][(method, budget)]`` its ``core.stats.Interval``.
    """
    from tqdm.auto import tqdm

    from visrec_helpers.core.stats import bootstrap_ci

    items = check_vectors(items, None, "items")
    queries = check_vectors(queries, items.shape[1], "queries")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}")
    budgets = [int(b) for b in budgets]
    if any(b < 1 for b in budgets):
        raise ValueError(f"budgets={budgets} must all be >= 1 byte")
    _, exact = topk_cosine(queries, items, k)
    pca_dims = [b // BYTES_PER_NUMBER[m] for m in methods if m.startswith("PCA") for b in budgets
                if b % BYTES_PER_NUMBER[m] == 0 and b // BYTES_PER_NUMBER[m] <= min(items.shape)]
    pca = pca_fit(items, max(pca_dims)) if pca_dims else None
    rows, per_query, intervals = [], {}, {}
    for budget in tqdm(budgets, desc="budgets", disable=not progress, leave=False):
        for method in methods:
            ids = _method_ids(method, budget, items, queries, k, seed, iterations, pca)
            if ids is None:
                continue
            r = recall_per_query(ids, exact)
            iv = bootstrap_ci(r, random_state=seed)
            per_query[(method, budget)], intervals[(method, budget)] = r, iv
            numbers = budget if method.startswith("PQ") else budget // BYTES_PER_NUMBER[method]
            rows.append({"method": method, "bytes": budget, "numbers": numbers, "recall": iv.estimate,
                         "low": iv.low, "high": iv.high})
    out = pd.DataFrame(rows)
    out.attrs["per_query"], out.attrs["intervals"] = per_query, intervals
    return out


def ivf_cost_split(n: int, nlist: int, nprobes, queries_per_s) -> dict:
    """Split an IVF index's measured time per query into a fixed part and a per-code part.

    One query costs ``fixed + codes_scanned * per_code`` with ``codes_scanned = n * nprobe /
    nlist``; given the queries/s measured at several ``nprobes`` (one thread), a least-squares
    line through ``(codes_scanned, 1 / queries_per_s)`` gives both. The fixed part is mostly
    the coarse quantiser (the query against all ``nlist`` centroids) plus per-query overhead.
    Returns ``fixed_ms``, ``ns_per_code``, ``ns_per_centroid`` (``fixed_ms`` spread over the
    ``nlist`` centroids, an upper bound) and the inputs ``n``, ``nlist``.
    """
    nprobes = np.asarray(nprobes, dtype=float)
    qps = np.asarray(queries_per_s, dtype=float)
    if len(nprobes) < 2 or len(nprobes) != len(qps) or len(np.unique(nprobes)) < 2:
        raise ValueError(f"need at least 2 distinct nprobe values with one queries/s each, got {nprobes} and {qps}")
    if n < 1 or nlist < 1 or (qps <= 0).any() or (nprobes <= 0).any():
        raise ValueError(f"n={n}, nlist={nlist}, nprobes and queries_per_s must be positive")
    scanned = n * nprobes / nlist
    per_code, fixed = np.polyfit(scanned, 1.0 / qps, 1)
    per_code, fixed = max(float(per_code), 0.0), max(float(fixed), 0.0)
    return {"n": int(n), "nlist": int(nlist), "fixed_ms": 1000 * fixed, "ns_per_code": 1e9 * per_code,
            "ns_per_centroid": 1e9 * fixed / nlist}


def extrapolate_ivf(split: dict, n_items: float, nlist: int, nprobe: int) -> dict:
    """Time per query (one thread) of the same IVF index kind at ``n_items`` vectors with
    ``nlist`` cells and ``nprobe`` probed: the coarse quantiser grows with ``nlist`` (at the
    measured cost per centroid), the scan with ``n_items * nprobe / nlist`` codes (at the
    measured cost per code). Returns ``coarse_ms``, ``scan_ms``, ``ms_per_query``, ``codes_scanned``.
    """
    if n_items <= 0 or nlist < 1 or nprobe < 1:
        raise ValueError(f"n_items={n_items}, nlist={nlist} and nprobe={nprobe} must be positive")
    scanned = n_items * nprobe / nlist
    coarse = split["ns_per_centroid"] * nlist / 1e6
    scan = split["ns_per_code"] * scanned / 1e6
    return {"codes_scanned": scanned, "coarse_ms": coarse, "scan_ms": scan, "ms_per_query": coarse + scan}
