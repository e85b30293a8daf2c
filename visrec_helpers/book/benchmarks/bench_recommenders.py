"""Recommenders on the digits-catalog interactions, and our ALS against the ``implicit`` library.

1. Every model of ``recommenders`` (and the tag model) fitted on one leave-last-out split of
   simulated interactions over the 5,000 MNIST items: fit seconds, NDCG@10, Recall@10.
2. ALS (NumPy, conjugate gradient) vs ``implicit``'s ALS (C++, one thread), same confidence
   matrix, factors, regularisation and iterations: fit seconds of each, their ratio, and
   NDCG@10 of each (median of ``repeats`` timings).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from visrec_helpers import data
from visrec_helpers.data import splits
from visrec_helpers.recsys import metrics, recommenders, tags
from visrec_helpers.vision import features


def _setup(n_users: int, seed: int = 0):
    catalog = data.digits_catalog()
    log, _ = data.simulate_interactions(catalog, n_users=n_users, events_per_user=30, seed=seed)
    train, test = splits.leave_last_out(log, n_test=5)
    X = data.interactions_to_csr(train, n_users=n_users, n_items=len(catalog))
    users = np.sort(test["user"].unique())
    emb = features.embed(features.train_digit_encoder(seed=seed, device="cpu", progress=False), catalog.images,
                         device="cpu")
    return catalog, X, users, splits.test_sets(test, users), emb


def model_table(X, users, relevant, emb, catalog, epochs: int = 30) -> pd.DataFrame:
    """Fit seconds, NDCG@10 and Recall@10 of each model on one split."""
    specs = {
        "Popularity": (recommenders.Popularity(), (X,)),
        "ItemKNN": (recommenders.ItemKNN(), (X,)),
        "UserKNN": (recommenders.UserKNN(), (X,)),
        "ALS (cg)": (recommenders.ALS(track_loss=False), (X,)),
        "ALS (exact)": (recommenders.ALS(solver="exact", track_loss=False), (X,)),
        "BPR": (recommenders.BPR(epochs=epochs), (X,)),
        "VBPR": (recommenders.VBPR(epochs=epochs), (X, {"item_features": emb})),
        "content profile": (recommenders.ProfileRecommender(), (X, {"item_features": emb})),
        "tags (TF-IDF)": (tags.TagRecommender(), (X, {"item_features": catalog.tags})),
    }
    out = metrics.compare_models(specs, users, relevant, k=10, progress=False)
    return out[["model", "fit s", "NDCG@10", "Recall@10", "Coverage@10"]]


def als_vs_implicit(X, users, relevant, factor_grid=(32, 64), iterations: int = 15, repeats: int = 3) -> pd.DataFrame:
    """Median fit seconds of our ALS and ``implicit``'s with the same hyper-parameters, and NDCG@10 of each."""
    rows = []
    for f in factor_grid:
        row = {"factors": f, "iterations": iterations, "users": X.shape[0], "items": X.shape[1], "nnz": X.nnz}
        for label, cls, extra in (("ours", recommenders.ALS, {"track_loss": False}),
                                  ("implicit", recommenders.ImplicitALS, {})):
            times = []
            for _ in range(repeats):
                model = cls(factors=f, iterations=iterations, **extra)
                t0 = time.perf_counter()
                model.fit(X)
                times.append(time.perf_counter() - t0)
            row[f"{label} fit s"] = float(np.median(times))
            row[f"{label} NDCG@10"] = metrics.evaluate_model(model, users, relevant, 10)["ndcg@10"]
        row["fit time ratio ours/implicit"] = row["ours fit s"] / row["implicit fit s"]
        rows.append(row)
    return pd.DataFrame(rows)


def run(quick: bool = False) -> list[tuple[str, pd.DataFrame]]:
    n_users = 200 if quick else 1000
    catalog, X, users, relevant, emb = _setup(n_users)
    tables = [(f"Recommenders on digits-catalog interactions ({n_users} users x {X.shape[1]} items, "
               f"{X.nnz} training pairs, leave-last-5-out)",
               model_table(X, users, relevant, emb, catalog, epochs=15 if quick else 30))]
    try:
        import implicit  # noqa: F401
    except ImportError:
        tables.append(("ALS vs implicit", pd.DataFrame([{"skipped": "the implicit package is not installed"}])))
        return tables
    tables.append(("ALS (NumPy, CG) vs implicit (C++, 1 thread): same confidences, factors, regularisation, iterations",
                   als_vs_implicit(X, users, relevant, (16,) if quick else (32, 64), repeats=1 if quick else 3)))
    return tables
