"""Embedding throughput and vector-index speed/recall, measured in one run on this machine.

1. Embedding: the workbook's CNN encoder over digits, batched (``features.embed``) vs a
   per-image loop (what re-embedding inside a query loop costs).
2. Indexes: every ``index.build_index`` kind vs exact search on at least 100,000 vectors
   grown from the real catalog embeddings with ``index.augment_vectors`` (``quick``: 20,000).
   Build seconds, queries per second (one batched call), recall@10 against exact search,
   bytes per vector.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from visrec_helpers.search.index import INDEX_KINDS, augment_vectors, build_index, recall_at_k_vs_exact
from visrec_helpers.vision.features import embed, load_catalog, split_catalog, train_encoder


def _encoder():
    # The same small encoder the q03 notebook trains in CI (cached after the first call).
    return train_encoder("digits", "supervised", epochs=2, n_train=2000, batch_size=32, seed=0, device="cpu",
                         progress=False)


def embedding_throughput(encoder, images: np.ndarray, batch_size: int = 256) -> pd.DataFrame:
    """Images per second of ``embed`` batched vs one image per call, on the CPU."""
    embed(encoder, images[:8], device="cpu")  # warm-up: first-call allocations
    t0 = time.perf_counter()
    batched = embed(encoder, images, batch_size=batch_size, device="cpu")
    t_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    looped = np.vstack([embed(encoder, img[None], device="cpu") for img in images])
    t_loop = time.perf_counter() - t0
    if not np.allclose(batched, looped, atol=1e-4):
        raise AssertionError("batched and per-image embeddings differ")
    return pd.DataFrame([
        {"path": f"batched (batch_size={batch_size})", "images": len(images), "seconds": t_batch,
         "images/s": len(images) / t_batch},
        {"path": "per-image loop", "images": len(images), "seconds": t_loop, "images/s": len(images) / t_loop},
    ])


def index_table(items: np.ndarray, queries: np.ndarray, k: int = 10) -> pd.DataFrame:
    """Build time, query throughput and recall@k vs exact of every index kind at default settings."""
    rows, exact_ids = [], None
    for kind in INDEX_KINDS:
        t0 = time.perf_counter()
        idx = build_index(items, kind=kind)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, ids = idx.search(queries, k)
        search_s = time.perf_counter() - t0
        if kind == "exact":
            exact_ids = ids
        per_vec = idx.bytes_per_vector() if hasattr(idx, "bytes_per_vector") else 4 * items.shape[1]
        rows.append({"index": kind, "vectors": len(items), "build s": build_s, "queries/s": len(queries) / search_s,
                     f"recall@{k}": recall_at_k_vs_exact(ids, exact_ids), "bytes/vector": per_vec})
    return pd.DataFrame(rows)


def run(quick: bool = False) -> list[tuple[str, pd.DataFrame]]:
    n_images = 200 if quick else 1000
    n_vectors = 20_000 if quick else 100_000
    n_queries = 200 if quick else 1000
    cat = load_catalog("digits")
    encoder = _encoder()
    through = embedding_throughput(encoder, cat.images[:n_images])
    _, test = split_catalog(cat.labels)
    base = embed(encoder, cat.images, device="cpu")
    items = augment_vectors(base, n_vectors, seed=0)
    queries = augment_vectors(base[test], n_queries, seed=1)
    table = index_table(items, queries)
    return [
        (f"Embedding throughput, CNN encoder on {n_images} MNIST digits (CPU)", through),
        (f"Index kinds on {n_vectors:,} augmented digit embeddings (d={items.shape[1]}), {n_queries} queries, "
         "default settings", table),
    ]
