"""Recommenders on the emoji product catalog, and our ALS against the ``implicit`` library.

1. Every model of ``recommenders`` (and the tag model) fitted on one leave-last-5-out split of
   simulator-v2 shoppers over the 1,639 Twemoji items (tastes over subgroup and colour), plus
   the oracle (true utility): fit seconds, NDCG@10 with its 95% bootstrap interval over test
   users, Recall@10, Coverage@10. VBPR and the content profile use the pretrained backbone's
   embeddings (centred, 64 principal components, renormalised; as in t03).
2. ALS (NumPy, conjugate gradient) vs ``implicit``'s ALS (C++, one thread), same confidence
   matrix, factors, regularisation, iterations, 3 CG steps, float32 and start (repeat ``s`` gives
   both ``seed=s``: the same uniform [0, 0.01) draw): NDCG@10 of each (per user, averaged over the
   seeds) with the paired interval of their relative difference, and the fit-time ratio
   ours/implicit over the ``repeats`` paired timings (median and bootstrap interval).
   Targets: NDCG within 2%, fit time within 1.5x.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from visrec_helpers import data
from visrec_helpers.core import stats
from visrec_helpers.data import splits
from visrec_helpers.recsys import metrics, recommenders, tags
from visrec_helpers.recsys.oracle import OracleRecommender


def _setup(n_users: int, seed: int = 0):
    from visrec_helpers.vision.pretrained import catalog_embeddings, pretrained_encoder

    catalog = data.emoji_catalog(style="twemoji")
    log, truth = data.simulate_users(catalog.attributes, ["subgroup", "colour"], n_users=n_users, random_state=seed)
    train, test = splits.leave_last_out(log, n_test=5)
    test = test[test["event"] != "skip"]
    X = data.interactions_to_csr(train, n_users=n_users, n_items=len(catalog))
    users = np.sort(test["user"].unique())
    raw = catalog_embeddings(catalog, pretrained_encoder(device="cpu"))
    emb = raw - raw.mean(axis=0)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    _, _, components = np.linalg.svd(emb, full_matrices=False)  # 64 principal components, as in t03
    emb = emb @ components[:64].T
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    return catalog, truth, X, users, splits.test_sets(test, users), emb


def _per_user_ndcg(model, users, relevant, k: int = 10) -> np.ndarray:
    return np.array([metrics.ndcg_at_k(r, t, k) for r, t in zip(model.recommend(users, k=k), relevant)])


def model_table(X, users, relevant, emb, catalog, truth, epochs: int = 30) -> pd.DataFrame:
    """Fit seconds, NDCG@10 (mean [95% interval over users]), Recall@10 and Coverage@10 of each model."""
    specs = {
        "oracle (true utility)": (OracleRecommender(truth), (X,)),
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
    out["NDCG@10 [95% CI]"] = [str(stats.bootstrap_ci(_per_user_ndcg(specs[m][0], users, relevant)))
                               for m in out["model"]]
    return out[["model", "fit s", "NDCG@10 [95% CI]", "Recall@10", "Coverage@10"]]


def als_vs_implicit(X, users, relevant, factor_grid=(32, 64), iterations: int = 15, repeats: int = 5) -> pd.DataFrame:
    """Our ALS against ``implicit``'s at equal settings: NDCG@10 of each (per user, averaged over the
    ``repeats`` seeds; bootstrap intervals over users), their relative difference (paired bootstrap),
    and the fit-time ratio over the ``repeats`` paired timings. Repeat ``s`` fits both with ``seed=s``."""
    rows = []
    for f in factor_grid:
        row = {"factors": f, "iterations": iterations, "users": X.shape[0], "items": X.shape[1], "nnz": X.nnz}
        times, ndcgs = {"ours": [], "implicit": []}, {"ours": [], "implicit": []}
        for seed in range(repeats):  # alternate the two, so a slow spell of a shared machine hits both
            for label, cls, extra in (("ours", recommenders.ALS, {"track_loss": False}),
                                      ("implicit", recommenders.ImplicitALS, {})):
                model = cls(factors=f, iterations=iterations, seed=seed, **extra)
                t0 = time.perf_counter()
                model.fit(X)
                times[label].append(time.perf_counter() - t0)
                ndcgs[label].append(_per_user_ndcg(model, users, relevant))
        per_user = {label: np.mean(v, axis=0) for label, v in ndcgs.items()}
        ratios = np.asarray(times["ours"]) / np.asarray(times["implicit"])
        base = per_user["implicit"].mean()
        rel = stats.paired_bootstrap_ci(per_user["ours"], per_user["implicit"])
        row |= {"ours NDCG@10": str(stats.bootstrap_ci(per_user["ours"])),
                "implicit NDCG@10": str(stats.bootstrap_ci(per_user["implicit"])),
                "NDCG rel. difference": f"{rel.estimate / base:+.2%} [{rel.low / base:+.2%}, {rel.high / base:+.2%}]",
                "ours fit s": float(np.median(times["ours"])), "implicit fit s": float(np.median(times["implicit"])),
                "fit time ratio ours/implicit": (str(stats.bootstrap_ci(ratios, np.median)) if len(ratios) > 1
                                                 else f"{ratios[0]:.3f}"),
                "NDCG within 2%": bool(abs(rel.estimate) <= 0.02 * base),
                "fit within 1.5x": bool(np.median(ratios) <= 1.5)}
        rows.append(row)
    return pd.DataFrame(rows)


def run(quick: bool = False) -> list[tuple[str, pd.DataFrame]]:
    n_users = 200 if quick else 1000
    catalog, truth, X, users, relevant, emb = _setup(n_users)
    tables = [(f"Recommenders on the emoji catalog, simulator v2 ({n_users} users x {X.shape[1]} items, "
               f"{X.nnz} training pairs, leave-last-5-out; NDCG@10 with 95% intervals over users)",
               model_table(X, users, relevant, emb, catalog, truth, epochs=15 if quick else 30))]
    try:
        import implicit  # noqa: F401
    except ImportError:
        tables.append(("ALS vs implicit", pd.DataFrame([{"skipped": "the implicit package is not installed"}])))
        return tables
    tables.append(("ALS (NumPy, CG) vs implicit (C++, 1 thread): same confidences, factors, regularisation, iterations",
                   als_vs_implicit(X, users, relevant, (16,) if quick else (32, 64), repeats=2 if quick else 5)))
    return tables
