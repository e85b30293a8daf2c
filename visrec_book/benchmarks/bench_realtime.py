"""Real-time serving: per-event latency (p50/p95/p99) and throughput of ``realtime.RealtimeRecommender``.

1. Per index kind and catalog size: replay the same simulated events (digits catalog users,
   events over the real items, catalog grown with noisy copies of the real embeddings by
   ``realtime.augment_embeddings``) through profile update + search + seen filter, one event
   at a time on one thread.
2. The profile update alone (``ProfileStore.update``) against the embedding dimension.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from visrec_helpers import data
from visrec_helpers.serving import realtime
from visrec_helpers.vision import features


def _setup(n_users: int, seed: int = 0):
    catalog = data.digits_catalog()
    emb = features.embed(features.train_digit_encoder(seed=seed, device="cpu", progress=False), catalog.images,
                         device="cpu")
    # the digits' measured stroke facets (not the label, which the encoder is trained on)
    log, _ = data.simulate_users(catalog.attributes, ["thickness", "slant", "width"], n_users=n_users,
                                 events_per_user=20, random_state=seed)
    return catalog, emb, realtime.events_from_interactions(log)


def serving_table(emb, labels, events, sizes, kinds=("exact", "faiss-flat", "faiss-ivf"), k: int = 10,
                  seed: int = 0) -> pd.DataFrame:
    """One row per (catalog size, index kind): build seconds and the latency summary of a replay."""
    import faiss

    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # one event at a time on one core, as a serving worker
    rows = []
    try:
        for n in sizes:
            vectors, _ = realtime.augment_embeddings(emb, labels, max(n, len(emb)), seed=seed)
            for kind in kinds:
                t0 = time.perf_counter()
                index = realtime.serving_index(vectors, kind)
                build_s = time.perf_counter() - t0
                server = realtime.RealtimeRecommender(realtime.ProfileStore(vectors), index, k=k)
                realtime.run_replay(server, events, progress=False)
                s = server.latency_.summary()
                rows.append({"items": len(vectors), "index": kind, "build s": build_s, "events": s["n"],
                             "p50 ms": s["p50_ms"], "p95 ms": s["p95_ms"], "p99 ms": s["p99_ms"],
                             "events/s": s["throughput_eps"]})
    finally:
        faiss.omp_set_num_threads(previous)
    return pd.DataFrame(rows)


def update_table(dims=(64, 256, 1024), n_events: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """Microseconds per ``ProfileStore.update`` by embedding dimension (O(d) per event)."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in dims:
        v = rng.normal(size=(1000, d)).astype(np.float32)
        store = realtime.ProfileStore(v)
        users = rng.integers(0, 100, n_events)
        items = rng.integers(0, 1000, n_events)
        t0 = time.perf_counter()
        for t, (u, i) in enumerate(zip(users, items)):
            store.update(realtime.Event(int(u), int(i), "view", float(t)))
        rows.append({"dim": d, "events": n_events, "us/update": (time.perf_counter() - t0) * 1e6 / n_events})
    return pd.DataFrame(rows)


def run(quick: bool = False) -> list[tuple[str, pd.DataFrame]]:
    catalog, emb, events = _setup(n_users=20 if quick else 200)
    sizes = (20_000,) if quick else (10_000, 100_000, 300_000)
    return [
        ("Real-time serving: latency per event (update + search + seen filter), one thread",
         serving_table(emb, catalog.labels, events, sizes)),
        ("Real-time serving: profile update alone by dimension",
         update_table(n_events=2_000 if quick else 20_000)),
    ]
