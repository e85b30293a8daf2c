"""Search at catalog scale (q14, q15 and the 1,000,000-item benchmark): PCA to a serving dimension,
a catalog grown from real embeddings, and the IVF scan costs a full benchmark run measured.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from visrec_helpers.search.quantisation import ivf_cost_split

#: Where ``make bench`` writes the 1,000,000-item figures that q14 and q15 read.
FIGURES_JSON = Path("build") / "bench_million.json"
#: The full benchmark's size and coarse cells (a smaller file is a quick run and is ignored).
FULL_N = 1_000_000
FULL_NLIST = 4096
SERVING_DIM = 64
NOISE = 0.25  # augmentation noise, relative to the data's per-dimension spread
SERVING_RECALL = 0.95  # the operating point chosen for serving: the first with recall@10 >= this


def pca_reduce(vectors: np.ndarray, d: int) -> np.ndarray:
    """Rows of ``vectors`` (``(n, D)``) projected on their top-``d`` principal axes, L2-normalised: ``(n, d)`` float32."""
    x = np.asarray(vectors, np.float64)
    if not 1 <= d <= min(x.shape):
        raise ValueError(f"d={d} must be between 1 and min(n, D) = {min(x.shape)}")
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    z = x @ vt[:d].T
    return (z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)).astype(np.float32)



def grow_vectors(base: np.ndarray, labels: np.ndarray, n: int, noise: float = NOISE, seed: int = 0,
                 chunk: int = 100_000, return_labels: bool = False):
    """``n`` unit vectors like ``base`` (``(m, d)``): mixtures of two real items of one label, plus noise.

    Vector ``t`` = ``lam * base[i] + (1 - lam) * base[j] + noise * std * eps``, renormalised,
    with ``i`` uniform, ``j`` uniform among the items sharing ``i``'s label, ``lam ~ U(0, 1)``,
    ``std`` the per-dimension standard deviation of ``base`` and ``eps ~ N(0, I)``. Built in
    chunks of ``chunk`` rows; returns ``(n, d)`` float32 (and, with ``return_labels``, each
    vector's label, ``(n,)``).
    """
    base = np.asarray(base, np.float32)
    labels = np.asarray(labels)
    if base.ndim != 2 or len(base) != len(labels) or len(base) == 0:
        raise ValueError(f"base must be (m, d) with one label per row, got {base.shape} and {labels.shape}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    order = np.argsort(labels, kind="stable")
    uniq, start, counts = np.unique(labels[order], return_index=True, return_counts=True)
    std = base.std(axis=0).astype(np.float32)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    out_labels = np.empty(n, dtype=labels.dtype)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        i = rng.integers(0, len(base), m)
        g = np.searchsorted(uniq, labels[i])
        j = order[start[g] + (rng.random(m) * counts[g]).astype(np.int64)]
        lam = rng.random((m, 1), dtype=np.float32)
        x = lam * base[i] + (1 - lam) * base[j]
        x += noise * std * rng.standard_normal(x.shape, dtype=np.float32)
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        out[s : s + m] = x
        out_labels[s : s + m] = labels[i]
    return (out, out_labels) if return_labels else out



def serving_point(rows: list[dict], kind: str):
    """The operating point of ``kind`` for serving: the first with recall >= goal, else the best recall."""
    mine = [r for r in rows if r["index"] == kind]
    ok = [r for r in mine if r["recall@10"] >= SERVING_RECALL]
    return (ok[0] if ok else max(mine, key=lambda r: r["recall@10"])) if mine else None



def scan_costs(path=None, dim: int = SERVING_DIM) -> dict | None:
    """The IVF search costs a full run measured at 1,000,000 items, or ``None`` when there is none.

    Reads ``path`` (default: ``build/bench_million.json`` at the repository root, written by
    ``make bench``); quick runs (fewer than 1,000,000 items) are ignored. For ``faiss-ivfpq``
    and ``faiss-ivf`` at ``dim``, at the operating point chosen for serving (the first with
    recall@10 >= 0.95), the time per query on one thread is divided by the vectors a query
    scans (``n * nprobe / nlist``): an upper bound per scanned vector that includes the
    coarse quantiser and the re-ranking. The dict has the keys of
    ``serving.architecture.measure_scan_cost``, so ``capacity_plan`` takes it as it is, plus
    ``recall_pq``, ``recall_flat``, ``coarse_ms_per_query`` (the coarse quantiser and per-query
    overhead: the fixed part of a least-squares line through IVF-Flat's time per query against
    the vectors it scans at each measured ``nprobe``, ``search.quantisation.ivf_cost_split``) and
    ``source``.
    """
    path = Path(__file__).resolve().parents[2] / "build" / FIGURES_JSON.name if path is None else Path(path)
    if not path.is_file():
        return None
    fig = json.loads(path.read_text())
    n = int(fig.get("n", 0))
    rows = fig.get("retrieval", {}).get(str(dim))
    if n < FULL_N or not rows:
        return None
    nlist = int(fig.get("nlist") or min(FULL_NLIST, n // 40))

    def at_serving_point(kind):
        pick = serving_point(rows, kind)
        nprobe = int(pick["setting"].split("=")[1])
        seconds = 1.0 / pick["queries/s"]
        return nprobe, seconds, seconds / (n * nprobe / nlist), pick["recall@10"]

    nprobe, s_pq, per_code, recall_pq = at_serving_point("faiss-ivfpq")
    nprobe_flat, s_flat, per_vector, recall_flat = at_serving_point("faiss-ivf")
    # The coarse quantiser's share: the fixed part of a line through IVF-Flat's operating points
    # (time per query against vectors scanned), never more than the serving point's own time.
    flat = [r for r in rows if r["index"] == "faiss-ivf"]
    split = ivf_cost_split(n, nlist, [int(r["setting"].split("=")[1]) for r in flat], [r["queries/s"] for r in flat])
    coarse_ms = min(split["fixed_ms"], 1000 * s_flat)
    return {"n": n, "dim": dim, "nlist": nlist, "nprobe": nprobe, "pq_m": dim // 4,
            "codes_scanned_per_query": n * nprobe / nlist, "ms_per_query_pq": 1000 * s_pq,
            "ms_per_query_flat": 1000 * s_flat, "seconds_per_code_pq": per_code, "seconds_per_vector_flat": per_vector,
            "recall_pq": recall_pq, "recall_flat": recall_flat, "nprobe_flat": nprobe_flat,
            "coarse_ms_per_query": coarse_ms,
            "source": f"bench_million: {n:,} items, d={dim}, measured {fig.get('measured_utc', '?')} UTC"}
