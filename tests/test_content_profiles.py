"""The content-based core shown in q01: recency weights, mean profiles, cosine top-k, MMR."""

import numpy as np
import pytest
import scipy.sparse as sp

from visrec_helpers.recsys.content import (
    ProfileRecommender,
    cosine_top_k,
    mean_profiles,
    mmr_rerank,
    recency_weights,
)


def _unit(x):
    x = np.asarray(x, dtype=float)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_recency_weights_halve_every_half_life_events_back():
    w = recency_weights(np.array([30.0, 10.0, 20.0]), half_life=1.0)  # newest is the first event
    np.testing.assert_allclose(w, [1.0, 0.25, 0.5])


def test_mean_profiles_is_the_normalised_weighted_sum():
    items = _unit([[1, 0], [0, 1], [1, 1]])
    w = sp.csr_matrix(np.array([[3.0, 1.0, 0.0], [0.0, 0.0, 2.0]]))
    p = mean_profiles(w, items)
    np.testing.assert_allclose(p[0], _unit([[3, 1]])[0])
    np.testing.assert_allclose(p[1], items[2])


def test_mean_profiles_gives_a_zero_row_to_a_user_without_history():
    p = mean_profiles(sp.csr_matrix((1, 2)), _unit([[1, 0], [0, 1]]))
    np.testing.assert_array_equal(p, [[0.0, 0.0]])


def test_cosine_top_k_orders_by_cosine_and_skips_seen_items():
    items = _unit([[1, 0], [0.9, 0.1], [0, 1], [0.5, 0.5]])
    profile = _unit([[1, 0]])
    assert cosine_top_k(profile, items, 3).tolist() == [[0, 1, 3]]
    seen = sp.csr_matrix(([1.0], ([0], [0])), shape=(1, 4))
    assert cosine_top_k(profile, items, 3, seen=seen).tolist() == [[1, 3, 2]]


def test_cosine_top_k_breaks_ties_to_the_lower_item_id():
    items = _unit([[1, 0], [0, 1], [1, 0], [1, 0]])
    assert cosine_top_k(_unit([[1, 0]]), items, 3).tolist() == [[0, 2, 3]]


def test_cosine_top_k_matches_the_profile_recommender():
    rng = np.random.default_rng(0)
    feats = _unit(rng.normal(size=(40, 6)))
    x = sp.csr_matrix((rng.random((8, 40)) < 0.2) + np.eye(8, 40), dtype=float)  # everyone has a history
    model = ProfileRecommender().fit(x, item_features=feats)
    users = np.arange(8)
    mine = cosine_top_k(mean_profiles(x, feats), feats, 5, seen=x)
    np.testing.assert_array_equal(mine, model.recommend(users, k=5))


def test_mmr_with_lambda_one_keeps_the_relevance_order():
    items = _unit(np.eye(4) + 0.1)
    out = mmr_rerank(np.array([3, 1, 2, 0]), np.array([0.2, 0.9, 0.5, 0.1]), items, k=3, lam=1.0)
    assert out.tolist() == [1, 2, 3]


def test_mmr_skips_a_near_duplicate_when_diversity_counts():
    items = _unit([[1, 0], [1, 0.01], [0, 1]])
    relevance = np.array([1.0, 0.99, 0.6])
    assert mmr_rerank(np.arange(3), relevance, items, k=2, lam=1.0).tolist() == [0, 1]
    assert mmr_rerank(np.arange(3), relevance, items, k=2, lam=0.5).tolist() == [0, 2]


@pytest.mark.parametrize("strategy", ["mean", "recency"])
def test_vectorised_scores_equal_the_per_user_profiles(strategy):
    rng = np.random.default_rng(2)
    feats = _unit(rng.normal(size=(30, 5)))
    x = sp.csr_matrix(rng.random((6, 30)) * (rng.random((6, 30)) < 0.3) + np.eye(6, 30))
    ts = x.copy()
    ts.data = rng.permutation(len(ts.data)).astype(float) + 1.0
    model = ProfileRecommender(strategy, half_life=2.0).fit(x, item_features=feats, timestamps=ts)
    per_user = np.stack([(p @ model.item_features_.T)[0] for p in model.profiles(np.arange(6))])
    np.testing.assert_allclose(model.score(np.arange(6)), per_user, atol=1e-6)
