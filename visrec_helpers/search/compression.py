"""Smaller vectors and what dimension does to search (q14): PCA, random projection, product
quantisation, and the diagnostics behind them (explained variance, relative contrast, how
much label structure a 2-D map keeps).

Vectors are ``(n, d)`` float32 rows; these helpers validate them with ``index.check_vectors``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from visrec_helpers.search.index import check_k, check_vectors, recall_at_k_vs_exact, topk_cosine


def pca_basis(vectors: np.ndarray, dim: int) -> np.ndarray:
    """The top ``dim`` right singular vectors of ``vectors`` (uncentred PCA): ``(d, dim)`` float32.

    Uncentred, because search scores are raw inner products: projecting onto these
    directions keeps inner products as well as any ``dim``-dimensional linear map can.
    """
    v = check_vectors(vectors, None)
    if not 1 <= dim <= v.shape[1]:
        raise ValueError(f"dim={dim} must be between 1 and d={v.shape[1]}")
    _, _, vt = np.linalg.svd(v.astype(np.float64), full_matrices=False)
    return vt[:dim].T.astype(np.float32)


def explained_variance_curve(vectors: np.ndarray) -> np.ndarray:
    """Cumulative share of variance explained by the first 1..d principal components (centred PCA)."""
    v = check_vectors(vectors, None).astype(np.float64)
    if len(v) < 2:
        raise ValueError("need at least 2 vectors for a variance curve")
    c = v - v.mean(axis=0)
    if len(c) > c.shape[1]:  # the eigenvalues of the (d, d) scatter matrix: cheaper than an SVD of the data
        s = np.clip(np.linalg.eigvalsh(c.T @ c)[::-1], 0, None)
    else:
        s = np.linalg.svd(c, compute_uv=False) ** 2
    return np.cumsum(s) / s.sum()


def random_projection(d: int, dim: int, seed: int = 0) -> np.ndarray:
    """A Gaussian random projection ``(d, dim)`` float32 scaled so norms are kept on average."""
    if not 1 <= dim:
        raise ValueError(f"dim={dim} must be >= 1")
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((d, dim)) / np.sqrt(dim)).astype(np.float32)


def compression_recall(items: np.ndarray, queries: np.ndarray, sizes=(4, 8, 16, 32), k: int = 10,
                       seed: int = 0) -> pd.DataFrame:
    """Recall@k against exact search after shrinking each vector, for several sizes.

    Methods: ``PCA`` and ``random projection`` to ``size`` float32 dimensions, and
    ``PQ`` with ``size`` one-byte codes (faiss ``IndexPQ``, ``size`` must divide d).
    Returns one row per (method, size): ``method, size, bytes_per_vector, recall@k``,
    with the uncompressed float32 vectors as the first row.
    """
    import faiss

    items = check_vectors(items, None, "items")
    queries = check_vectors(queries, items.shape[1], "queries")
    d = items.shape[1]
    _, exact = topk_cosine(queries, items, k)
    rows = [{"method": "float32 (exact)", "size": d, "bytes_per_vector": 4 * d, f"recall@{k}": 1.0}]
    for size in sizes:
        if size > d:
            raise ValueError(f"size={size} is larger than the dimension d={d}")
        for name, proj in (("PCA", pca_basis(items, size)), ("random projection", random_projection(d, size, seed))):
            _, ids = topk_cosine(queries @ proj, items @ proj, k)
            rows.append({"method": name, "size": size, "bytes_per_vector": 4 * size,
                         f"recall@{k}": recall_at_k_vs_exact(ids, exact)})
        if d % size == 0 and len(items) >= 256:
            pq = faiss.IndexPQ(d, size, 8, faiss.METRIC_INNER_PRODUCT)
            pq.pq.cp.min_points_per_centroid = 5  # small catalogs: train anyway, without the warning
            pq.train(items)
            pq.add(items)
            _, ids = pq.search(queries, k)
            rows.append({"method": "PQ", "size": size, "bytes_per_vector": size,
                         f"recall@{k}": recall_at_k_vs_exact(ids, exact)})
    return pd.DataFrame(rows)


def relative_contrast(points: np.ndarray, n_queries: int = 100, seed: int = 0) -> float:
    """Mean over sample queries of ``(farthest - nearest) / nearest`` Euclidean distance to the other points.

    Near 0 means every point is about equally far away: nearest-neighbour search has
    little to find (distance concentration).
    """
    p = check_vectors(points, None, "points").astype(np.float64)
    if len(p) < 3:
        raise ValueError(f"need at least 3 points, got {len(p)}")
    rng = np.random.default_rng(seed)
    qi = rng.choice(len(p), size=min(n_queries, len(p)), replace=False)
    sq = (p**2).sum(1)
    d2 = sq[qi, None] + sq[None, :] - 2 * p[qi] @ p.T
    d2[np.arange(len(qi)), qi] = np.nan  # a point is not its own neighbour
    dist = np.sqrt(np.maximum(d2, 0))
    near, far = np.nanmin(dist, axis=1), np.nanmax(dist, axis=1)
    return float(np.mean((far - near) / np.maximum(near, 1e-12)))


def dims_for_variance(curve: np.ndarray, share: float = 0.9) -> int:
    """Smallest number of components whose cumulative explained variance reaches ``share``."""
    if not 0 < share <= 1:
        raise ValueError(f"share={share} must be in (0, 1]")
    curve = np.asarray(curve)
    return int(np.searchsorted(curve, share - 1e-12) + 1)


def knn_label_agreement(points: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Share of each point's ``k`` nearest other points (Euclidean) that share its label.

    Used to score 2-D maps (PCA, t-SNE): how much of the label neighbourhood structure the
    map keeps.
    """
    p = check_vectors(points, None, "points").astype(np.float64)
    labels = np.asarray(labels)
    if len(p) != len(labels):
        raise ValueError(f"{len(p)} points but {len(labels)} labels")
    check_k(k, len(p) - 1, "the number of other points")
    sq = (p**2).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2 * p @ p.T
    np.fill_diagonal(d2, np.inf)
    nn_ids = np.argpartition(d2, k - 1, axis=1)[:, :k]
    return float((labels[nn_ids] == labels[:, None]).mean())
