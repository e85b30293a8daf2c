"""Capacity arithmetic and the system diagram of a scalable image recommender (q15).

Units: bytes use powers of ten (1 GB = 10**9 bytes); latencies in seconds unless a name
says ``_ms``. Every number a plan prints is either an input or computed here from the
inputs, so a reader can redo the arithmetic by hand.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from visrec_helpers.search.index import build_index, check_vectors

GB = 1e9


def bytes_per_vector(dim: int, encoding: str = "float32", pq_m: int = 32, pq_nbits: int = 8,
                     id_bytes: int = 8) -> float:
    """Memory per indexed vector: the code plus a 64-bit id (as faiss inverted lists store it).

    ``encoding``: ``"float32"`` (4 bytes a dimension), ``"float16"`` (2) or ``"pq"``
    (``pq_m`` sub-quantisers of ``pq_nbits`` bits).
    """
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    if encoding == "float32":
        code = 4.0 * dim
    elif encoding == "float16":
        code = 2.0 * dim
    elif encoding == "pq":
        if pq_m < 1 or dim % pq_m:
            raise ValueError(f"pq_m={pq_m} must be >= 1 and divide dim={dim}")
        code = pq_m * pq_nbits / 8.0
    else:
        raise ValueError(f"unknown encoding {encoding!r}; use 'float32', 'float16' or 'pq'")
    return code + id_bytes


def measure_scan_cost(vectors: np.ndarray, nlist: int = 256, nprobe: int = 16, pq_m: int = 16,
                      n_queries: int = 200, n_train: int = 20_000, seed: int = 0) -> dict:
    """Measure, on this machine and one thread, what an IVF search costs per scanned vector.

    Builds an IVF-PQ (``pq_m`` bytes a code, no re-scoring) and an IVF-Flat (float32) index
    over ``vectors`` with ``search.index.build_index`` (kinds ``"faiss-ivfpq"``,
    ``"faiss-ivf"``), answers ``n_queries`` queries one at a time, and divides the time per
    query by the vectors scanned (``n * nprobe / nlist``). The per-vector costs are upper
    bounds (they include the coarse search). Returns a dict of the settings and
    ``ms_per_query_pq``, ``ms_per_query_flat``, ``seconds_per_code_pq``, ``seconds_per_vector_flat``,
    and the coarse quantiser's cost: ``seconds_per_centroid`` (one query against
    ``min(n, max(nlist, 16384))`` centroids of ``d`` dimensions, exhaustive, as faiss's flat
    quantiser does it, divided by their number) and ``ms_per_query_coarse`` (for ``nlist``). The quantisers are trained on a sample of ``n_train`` vectors (training cost is not
    what we measure).
    """
    import faiss

    v = check_vectors(vectors, None)
    n, d = v.shape
    if d % pq_m:
        raise ValueError(f"pq_m={pq_m} must divide the dimension d={d}")
    if n < 39 * nlist:
        raise ValueError(f"{n} vectors are too few to train nlist={nlist} cells (need {39 * nlist})")
    rng = np.random.default_rng(seed)
    queries = v[rng.choice(n, n_queries, replace=False)]
    train_size = min(n, max(n_train, 39 * nlist))
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    out = {"n": n, "dim": d, "nlist": nlist, "nprobe": nprobe, "pq_m": pq_m,
           "codes_scanned_per_query": n * nprobe / nlist}
    try:
        for name, kind, params in (("pq", "faiss-ivfpq", {"m": pq_m, "nbits": 8, "refine": False}),
                                   ("flat", "faiss-ivf", {})):
            index = build_index(v, kind, nlist=nlist, nprobe=nprobe, train_size=train_size, seed=seed, **params)
            # Time faiss's own search on the built index (not the Python input checks around it):
            # this is the per-scanned-vector cost a serving node pays.
            raw = index.index_
            raw.search(queries[:10], 10)  # warm up
            t0 = time.perf_counter()
            for q in queries:  # one query at a time, as a serving node answers them
                raw.search(q[None], 10)
            per_query = (time.perf_counter() - t0) / n_queries
            out[f"ms_per_query_{name}"] = per_query * 1000
            key = "seconds_per_code_pq" if name == "pq" else "seconds_per_vector_flat"
            out[key] = per_query / out["codes_scanned_per_query"]
        # many centroids, so that the fixed cost of a search call does not dominate the per-centroid cost
        n_centroids = min(n, max(nlist, 16_384))
        coarse = faiss.IndexFlatIP(d)
        coarse.add(v[rng.choice(n, n_centroids, replace=False)])
        coarse.search(queries[:10], nprobe)
        t0 = time.perf_counter()
        for q in queries:
            coarse.search(q[None], nprobe)
        per_centroid = (time.perf_counter() - t0) / n_queries / n_centroids
        out["ms_per_query_coarse"] = per_centroid * nlist * 1000
        out["seconds_per_centroid"] = per_centroid
    finally:
        faiss.omp_set_num_threads(previous)
    return out


def capacity_plan(cost: dict, n_items: float = 1e8, dim: int = 256, pq_m: int = 32, node_ram_gb: float = 64.0,
                  ram_share: float = 0.7, cores_per_node: int = 16, nlist: int = 65536, nprobe: int = 64,
                  peak_qps: float = 20_000, replicas_min: int = 2, cpu_target: float = 1.0) -> pd.DataFrame:
    """The sizing table for ``n_items`` vectors of ``dim`` dimensions, one row per encoding.

    ``cost`` is what ``measure_scan_cost`` measured on this machine.

    - index GB = ``n_items * bytes_per_vector / 1e9``;
    - shards = index GB / (``node_ram_gb * ram_share``), rounded up (the rest of the RAM
      is for the OS, the service and a rebuild);
    - one query scans ``n_items * nprobe / nlist`` vectors, split over the shards (they
      search in parallel); the cost per scanned vector is the measured one, scaled by
      ``pq_m / measured pq_m`` for PQ codes and by ``dim / measured dim`` for float
      vectors (float16 is costed as float32);
    - every shard also runs the coarse quantiser (the query against all ``nlist`` centroids)
      when ``cost`` has ``seconds_per_centroid`` (scaled by ``dim / measured dim``); at
      10^8 items with tens of thousands of cells it can cost more than the scan itself;
    - QPS per replica set = ``cores_per_node * cpu_target`` / (time per query on one shard):
      ``cpu_target`` < 1 keeps headroom for spikes, a failed node's traffic and rebuilds
      (0.5 to 0.7 is usual; 1.0, the default, plans for a machine running flat out);
      replica sets = peak QPS / that, rounded up, at least ``replicas_min`` (failover);
      nodes = replica sets x shards.
    """
    if n_items <= 0 or dim < 1 or peak_qps <= 0:
        raise ValueError(f"n_items={n_items}, dim={dim} and peak_qps={peak_qps} must be positive")
    if not 0 < ram_share <= 1:
        raise ValueError(f"ram_share must be in (0, 1], got {ram_share}")
    if not 0 < cpu_target <= 1:
        raise ValueError(f"cpu_target must be in (0, 1], got {cpu_target}")
    missing = {"seconds_per_code_pq", "seconds_per_vector_flat", "pq_m", "dim"} - set(cost)
    if missing:
        raise ValueError(f"cost is missing {sorted(missing)}: pass the dict from measure_scan_cost")
    scanned = n_items * nprobe / nlist
    coarse_s = nlist * cost.get("seconds_per_centroid", 0.0) * dim / cost["dim"]
    rows = []
    for enc in ("float32", "float16", "pq"):
        bpv = bytes_per_vector(dim, enc, pq_m=pq_m)
        size_gb = n_items * bpv / GB
        shards = max(1, math.ceil(size_gb / (node_ram_gb * ram_share)))
        if enc == "pq":
            per_vector = cost["seconds_per_code_pq"] * pq_m / cost["pq_m"]
        else:
            per_vector = cost["seconds_per_vector_flat"] * dim / cost["dim"]
        scan_s = scanned / shards * per_vector
        query_s = coarse_s + scan_s
        qps = cores_per_node * cpu_target / query_s
        replicas = max(replicas_min, math.ceil(peak_qps / qps))
        rows.append({"encoding": enc, "bytes/vector": bpv, "index GB": size_gb, "shards": shards,
                     "coarse ms": coarse_s * 1000, "scan ms": scan_s * 1000,
                     "ms/query/shard": query_s * 1000, "QPS per replica set": qps,
                     "replica sets": replicas, "nodes": replicas * shards})
    return pd.DataFrame(rows)


def draw_architecture(ax=None):
    """Draw the offline/online architecture as boxes and arrows; returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(13, 5.2))
    boxes = {
        "images": (0.05, 0.80, "image store\n(object storage)"),
        "embed": (0.27, 0.80, "batch embedding\n(Spark mapInPandas, GPUs)"),
        "features": (0.49, 0.80, "feature store\n(item vectors, parquet)"),
        "build": (0.71, 0.80, "index build\n(IVF-PQ, sharded)"),
        "index": (0.71, 0.45, "vector index service\n(shards x replicas)"),
        "log": (0.05, 0.10, "event log\n(Kafka)"),
        "stream": (0.27, 0.10, "stream processor\n(Flink, keyed by user)"),
        "profiles": (0.49, 0.10, "profile store\n(Redis)"),
        "serve": (0.49, 0.45, "recommendation API\n(candidates -> ranking)"),
        "cf": (0.27, 0.45, "CF training\n(Spark ALS, daily)"),
        "app": (0.05, 0.45, "app / browser"),
        "ab": (0.90, 0.10, "A/B + metrics\n(q07)"),
    }
    for x, y, label in boxes.values():
        ax.add_patch(plt.Rectangle((x - 0.09, y - 0.08), 0.18, 0.16, fill=True, fc="#eef3fb", ec="#3b5b92"))
        ax.text(x, y, label, ha="center", va="center", fontsize=8)
    arrows = [("images", "embed"), ("embed", "features"), ("features", "build"), ("build", "index"),
              ("app", "log"), ("log", "stream"), ("stream", "profiles"), ("profiles", "serve"),
              ("serve", "index"), ("index", "serve"), ("serve", "app"), ("log", "cf"), ("cf", "serve"),
              ("serve", "ab")]
    curved = {("serve", "app"): -0.6, ("serve", "index"): 0.25, ("index", "serve"): 0.25}

    def edge(x, y, dx, dy):
        """Where the ray from a box's centre in direction (dx, dy) leaves the box."""
        t = min(0.09 / abs(dx) if dx else np.inf, 0.08 / abs(dy) if dy else np.inf)
        return x + t * dx, y + t * dy

    for a, b in arrows:  # from border to border, so no arrow runs through a label
        (x0, y0, _), (x1, y1, _) = boxes[a], boxes[b]
        start, end = edge(x0, y0, x1 - x0, y1 - y0), edge(x1, y1, x0 - x1, y0 - y1)
        ax.annotate("", xy=end, xytext=start,
                    arrowprops={"arrowstyle": "->", "color": "#555", "shrinkA": 1, "shrinkB": 1, "lw": 1,
                                "connectionstyle": f"arc3,rad={curved.get((a, b), 0.0)}"})
    ax.text(0.5, 0.99, "offline (batch: hours)", ha="center", va="top", fontsize=9, style="italic")
    ax.text(0.5, 0.27, "online (per event / request: milliseconds)", ha="center", fontsize=9, style="italic")
    ax.axhline(0.63, color="#bbb", ls="--", lw=0.8)
    ax.set_xlim(-0.06, 1.01)
    ax.set_ylim(0, 1)
    ax.axis("off")
    return ax
