"""Cold start: feature-to-factor mapping, mapped ALS, bandit policies on a known world."""

import numpy as np
import pytest
import scipy.sparse as sp

from visrec_helpers.recsys import coldstart as C
from visrec_helpers.recsys.recommenders import ALS


def test_feature_to_factor_recovers_a_linear_map():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    w = rng.normal(size=(5, 3))
    y = x @ w + 2.0
    m = C.FeatureToFactor(alpha=1e-6).fit(x, y)
    np.testing.assert_allclose(m.predict(x), y, atol=1e-4)


def test_feature_to_factor_errors():
    with pytest.raises(ValueError, match="same n"):
        C.FeatureToFactor().fit(np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(RuntimeError, match="not fitted"):
        C.FeatureToFactor().predict(np.ones((1, 2)))


def test_mapped_als_gives_cold_items_factors_from_their_features():
    rng = np.random.default_rng(0)
    m = np.zeros((40, 30))
    for u in range(40):
        pool = np.arange(14) if u < 20 else np.arange(15, 29)
        m[u, rng.choice(pool, 6, replace=False)] = 1.0  # items 14 and 29 are never seen
    feats = np.repeat(np.eye(2), 15, axis=0) + 0.01 * rng.normal(size=(30, 2))
    model = C.MappedALS(ALS(factors=4, iterations=10), ridge_alpha=0.01).fit(sp.csr_matrix(m), item_features=feats)
    assert sorted(model.cold_items_) == [14, 29]
    rec = model.recommend(np.arange(40), k=1, candidates=[14, 29])
    assert (rec[:20] == 14).mean() > 0.8 and (rec[20:] == 29).mean() > 0.8
    plain = ALS(factors=4, iterations=10).fit(sp.csr_matrix(m))
    assert np.abs(plain.item_factors_[[14, 29]]).max() < 1e-3  # pure CF leaves them at ~0


def world():
    """4 clusters of 25 items; user u likes exactly the items of cluster u % 4."""
    clusters = np.repeat(np.arange(4), 25)
    utility = np.array([(clusters == u % 4).astype(float) + 0.01 * np.arange(100) / 100 for u in range(8)])
    popularity = np.arange(100, 0, -1).astype(float)  # cluster 0 is the most popular
    return C.ClusterBanditEnv(utility, clusters, popularity, like_quantile=0.75)


@pytest.mark.parametrize("policy", [C.EpsilonGreedy(0.1), C.ThompsonSampling()], ids=lambda p: p.name)
def test_bandits_beat_popularity_on_a_clustered_world(policy):
    env = world()
    pop = C.simulate_new_users(C.PopularityPolicy(), env, n_rounds=20).sum()
    ours = C.simulate_new_users(policy, env, n_rounds=20, seed=0).sum()
    assert pop == 2 * 20  # only the two users of cluster 0 are served
    assert ours > 2 * pop


def test_onboarding_then_content_finds_each_users_cluster():
    env = world()
    emb = np.eye(4)[env.clusters]
    r = C.simulate_new_users(C.Onboarding(emb), env, n_rounds=20)
    assert (r[:, 4:] == 1).all()  # after one item per cluster, every pick is liked


def test_simulation_never_shows_an_item_twice_and_is_seeded():
    env = world()
    a = C.simulate_new_users(C.ThompsonSampling(), env, n_rounds=30, seed=3)
    b = C.simulate_new_users(C.ThompsonSampling(), env, n_rounds=30, seed=3)
    np.testing.assert_array_equal(a, b)


def test_env_and_policy_errors():
    with pytest.raises(ValueError, match="disagree"):
        C.ClusterBanditEnv(np.ones((2, 5)), np.zeros(4, dtype=int), np.ones(5))
    with pytest.raises(ValueError, match="epsilon"):
        C.EpsilonGreedy(1.5)
    with pytest.raises(ValueError, match="n_rounds"):
        C.simulate_new_users(C.PopularityPolicy(), world(), n_rounds=0)


def test_arm_values_greedy_rates_and_thompson_posterior_draws():
    greedy = C.EpsilonGreedy(0.0)
    greedy.wins, greedy.pulls, greedy.rng = np.array([1.0, 0.0, 3.0]), np.array([2.0, 0.0, 4.0]), np.random.default_rng(0)
    assert greedy.arm_values().tolist() == [0.5, 0.0, 0.75]
    ts = C.ThompsonSampling(prior=(2.0, 3.0))
    ts.wins, ts.pulls, ts.rng = np.array([0.0, 3.0]), np.array([2.0, 4.0]), np.random.default_rng(7)
    want = np.random.default_rng(7).beta(np.array([2.0, 5.0]), np.array([5.0, 4.0]))
    assert np.allclose(ts.arm_values(), want)
