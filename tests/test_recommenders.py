"""One estimator shape for every recommender: fitting, scoring, exclusions, bad input."""

import numpy as np
import pytest
import scipy.sparse as sp

from visrec_helpers.recsys.recommenders import (
    ALS,
    BPR,
    VBPR,
    ItemKNN,
    Popularity,
    ProfileRecommender,
    RandomRecommender,
    UserKNN,
    cosine_similarity_sparse,
)


def blocks(n_users=40, n_items=30, seed=0):
    """Two taste groups: users 0..19 like items 0..14, the rest like 15..29 (plus noise)."""
    rng = np.random.default_rng(seed)
    m = np.zeros((n_users, n_items))
    for u in range(n_users):
        pool = np.arange(15) if u < n_users // 2 else np.arange(15, 30)
        m[u, rng.choice(pool, 6, replace=False)] = 1.0
    return sp.csr_matrix(m)


FEATS = np.repeat(np.eye(2), 15, axis=0) + 0.01 * np.random.default_rng(0).normal(size=(30, 2))
MODELS = {
    "random": lambda: RandomRecommender(),
    "popularity": lambda: Popularity(),
    "itemknn": lambda: ItemKNN(k_neighbors=10),
    "userknn": lambda: UserKNN(k_neighbors=10),
    "als": lambda: ALS(factors=4, iterations=5),
    "bpr": lambda: BPR(factors=4, epochs=30),
    "vbpr": lambda: VBPR(factors=4, visual_factors=2, epochs=5),
    "profile": lambda: ProfileRecommender(),
}


def fit(name, m):
    model = MODELS[name]()
    return model.fit(m, item_features=FEATS) if name in ("vbpr", "profile") else model.fit(m)


@pytest.mark.parametrize("name", MODELS)
def test_recommend_shape_and_never_returns_training_items(name):
    m = blocks()
    model = fit(name, m)
    rec = model.recommend(np.arange(40), k=5)
    assert rec.shape == (40, 5) and rec.dtype == np.int64
    for u in range(40):
        assert not set(rec[u]) & set(m[u].indices)
        assert len(set(rec[u])) == 5


@pytest.mark.parametrize("name", MODELS)
def test_fit_returns_self_and_is_deterministic(name):
    m = blocks()
    a, b = MODELS[name](), MODELS[name]()
    kw = {"item_features": FEATS} if name in ("vbpr", "profile") else {}
    assert a.fit(m, **kw) is a
    b.fit(m, **kw)
    np.testing.assert_array_equal(a.recommend([0, 25], 5), b.recommend([0, 25], 5))


@pytest.mark.parametrize("name", ["itemknn", "userknn", "als", "bpr", "vbpr", "profile"])
def test_personalised_models_recommend_from_the_users_group(name):
    model = fit(name, blocks())
    rec = model.recommend(np.arange(40), k=3)
    in_group = [(rec[u] < 15).mean() if u < 20 else (rec[u] >= 15).mean() for u in range(40)]
    assert np.mean(in_group) > 0.9


@pytest.mark.parametrize("name", MODELS)
def test_bad_inputs_raise_clear_errors(name):
    model = fit(name, blocks())
    with pytest.raises(ValueError, match="unknown user id"):
        model.recommend([40])
    with pytest.raises(ValueError, match="larger than the catalog"):
        model.recommend([0], k=31)
    with pytest.raises(ValueError, match="leaving fewer than k"):
        model.recommend([0], k=26)
    with pytest.raises(ValueError, match="integers"):
        model.recommend([0.5])


@pytest.mark.parametrize("name", ["popularity", "itemknn", "als", "bpr"])
def test_empty_and_nan_matrices_are_refused(name):
    with pytest.raises(ValueError, match="empty"):
        MODELS[name]().fit(sp.csr_matrix((5, 5)))
    bad = blocks().toarray()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MODELS[name]().fit(bad)


def test_unfitted_model_says_so():
    with pytest.raises(RuntimeError, match="not fitted"):
        ALS().recommend([0])


def test_candidates_restrict_the_ranking():
    rec = Popularity().fit(blocks()).recommend([0, 1], k=2, candidates=[28, 29, 27], exclude_seen=False)
    assert set(rec.ravel()) <= {27, 28, 29}
    with pytest.raises(ValueError, match="larger than the 3 candidate"):
        Popularity().fit(blocks()).recommend([0], k=4, candidates=[27, 28, 29], exclude_seen=False)


def test_cosine_similarity_golden_values_and_shrinkage():
    m = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    s = cosine_similarity_sparse(m).toarray()
    assert s[0, 1] == pytest.approx(1 / np.sqrt(2))
    assert s[0, 2] == 0.0 and s[0, 0] == 0.0
    shrunk = cosine_similarity_sparse(m, shrinkage=1.0).toarray()
    assert shrunk[0, 1] == pytest.approx(1 / (np.sqrt(2) + 1))


def test_itemknn_keeps_k_neighbours_per_item():
    model = ItemKNN(k_neighbors=3).fit(blocks())
    assert np.diff(model.similarity_.indptr).max() <= 3


def test_als_loss_decreases():
    model = ALS(factors=4, iterations=8).fit(blocks())
    assert np.all(np.diff(model.loss_history_) < 1e-12)
    assert model.loss_history_[-1] < model.loss_history_[0]


def test_als_cg_and_exact_solvers_agree_on_rankings():
    m = blocks()
    a = ALS(factors=4, iterations=10, solver="exact").fit(m).recommend(np.arange(40), 3)
    b = ALS(factors=4, iterations=10, solver="cg").fit(m).recommend(np.arange(40), 3)
    assert np.mean([len(set(x) & set(y)) / 3 for x, y in zip(a, b)]) > 0.6


def test_als_unknown_solver_raises():
    with pytest.raises(ValueError, match="unknown solver"):
        ALS(solver="svd").fit(blocks())


def test_bpr_training_auc_is_above_half_and_grows():
    model = BPR(factors=4, epochs=15).fit(blocks())
    assert model.train_auc_[-1] > 0.8
    assert model.train_auc_[-1] > model.train_auc_[0]


def test_vbpr_scores_items_never_seen_in_training():
    m = blocks().toarray()
    m[:, [14, 29]] = 0.0  # one new item per group
    model = VBPR(factors=4, visual_factors=2, epochs=20).fit(sp.csr_matrix(m), item_features=FEATS)
    assert not model.item_factors_[[14, 29]].any()  # no CF signal for them
    rec = model.recommend(np.arange(40), k=1, candidates=[14, 29])
    assert (rec[:20] == 14).mean() > 0.8 and (rec[20:] == 29).mean() > 0.8


def test_vbpr_rejects_misshaped_features():
    with pytest.raises(ValueError, match="item_features must be"):
        VBPR().fit(blocks(), item_features=FEATS[:5])


@pytest.mark.parametrize("kw", [{"factors": 0}, {"learning_rate": 0.0}, {"epochs": 2.5}])
def test_bad_hyper_parameters_raise(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        BPR(**kw).fit(blocks())


def test_implicit_reference_ranks_like_our_als():
    pytest.importorskip("implicit")
    from visrec_helpers.recsys.recommenders import ImplicitALS

    m = blocks()
    ours = ALS(factors=4, iterations=10).fit(m).recommend(np.arange(40), 3)
    ref = ImplicitALS(factors=4, iterations=10).fit(m).recommend(np.arange(40), 3)
    in_group = [(ref[u] < 15).mean() if u < 20 else (ref[u] >= 15).mean() for u in range(40)]
    assert np.mean(in_group) > 0.9
    assert np.mean([len(set(a) & set(b)) / 3 for a, b in zip(ours, ref)]) > 0.3


def test_implicit_reference_refuses_nan():
    pytest.importorskip("implicit")
    from visrec_helpers.recsys.recommenders import ImplicitALS

    bad = blocks().toarray()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ImplicitALS().fit(bad)
