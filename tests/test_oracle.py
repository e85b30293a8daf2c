"""recsys.oracle: the ceiling row, ranking by the simulator's true utility."""

import numpy as np
import pandas as pd
import pytest

from visrec_helpers.data import interactions_to_csr
from visrec_helpers.data.simulate import simulate_users
from visrec_helpers.recsys.base import RecsysError
from visrec_helpers.recsys.metrics import evaluate
from visrec_helpers.recsys.oracle import OracleRecommender
from visrec_helpers.recsys.recommenders import Popularity, Recommender

N_USERS = 200


@pytest.fixture(scope="module")
def split():
    """A simulated log over a synthetic catalog, 20% of events held out at random; likes are the truth."""
    rng = np.random.default_rng(0)
    n_items = 300
    sub = rng.choice(15, size=n_items, p=rng.dirichlet(np.ones(15)))
    attrs = pd.DataFrame({"subgroup": [f"sub-{s}" for s in sub], "colour": rng.choice(["r", "g", "b"], n_items)})
    df, truth = simulate_users(attrs, ["subgroup", "colour"], n_users=N_USERS, events_per_user=(20, 40),
                               random_state=0)
    held = np.random.default_rng(1).random(len(df)) < 0.2
    train, test = df[~held], df[held & (df["event"] == "like")]
    X = interactions_to_csr(train, N_USERS, n_items)
    users = np.array(sorted(test["user"].unique()))
    relevant = [set(test.loc[test["user"] == u, "item"]) for u in users]
    return X, truth, users, relevant


def test_oracle_follows_the_recommender_contract(split):
    X, truth, _, _ = split
    model = OracleRecommender(truth)
    assert isinstance(model, Recommender)
    assert model.fit(X, item_features=None, timestamps=None) is model
    recs = model.recommend(np.array([0, 1]), k=10)
    assert recs.shape == (2, 10) and recs.dtype == np.int64


def test_oracle_ranks_unseen_items_by_true_utility(split):
    X, truth, _, _ = split
    model = OracleRecommender(truth).fit(X)
    seen = X[3].indices
    np.testing.assert_array_equal(model.recommend([3], k=10)[0], truth.top_items(3, 10, exclude=seen))
    np.testing.assert_array_equal(model.recommend([3], k=5, exclude_seen=False)[0], truth.top_items(3, 5))


def test_oracle_never_recommends_seen_items(split):
    X, truth, _, _ = split
    recs = OracleRecommender(truth).fit(X).recommend(np.arange(N_USERS), k=20)
    for u in range(N_USERS):
        assert not set(recs[u]) & set(X[u].indices)


def test_oracle_beats_popularity_on_ndcg_by_a_clear_margin(split):
    X, truth, users, relevant = split
    oracle = evaluate(OracleRecommender(truth).fit(X).recommend(users, k=10), relevant, k=10)
    popular = evaluate(Popularity().fit(X).recommend(users, k=10), relevant, k=10)
    assert oracle["ndcg@10"] > popular["ndcg@10"] + 0.3
    assert oracle["ndcg@10"] > 2 * popular["ndcg@10"]


def test_oracle_respects_candidates(split):
    X, truth, _, _ = split
    candidates = np.arange(100, 200)
    recs = OracleRecommender(truth).fit(X).recommend([0, 1], k=5, candidates=candidates)
    assert np.isin(recs, candidates).all()


def test_oracle_takes_a_plain_utility_array():
    utility = np.array([[0.1, 0.9, 0.5, 0.3], [0.8, 0.2, 0.4, 0.6]])
    X = np.array([[0, 1, 0, 0], [1, 0, 0, 0]])
    model = OracleRecommender(utility).fit(X)
    np.testing.assert_array_equal(model.recommend([0, 1], k=2), [[2, 3], [3, 2]])
    np.testing.assert_array_equal(model.score([1]), utility[[1]])


def test_oracle_refuses_interactions_of_another_shape(split):
    X, truth, _, _ = split
    with pytest.raises(RecsysError, match=r"X has shape \(200, 299\) but the ground truth knows \(200, 300\)"):
        OracleRecommender(truth).fit(X[:, :299])


@pytest.mark.parametrize("truth, match", [
    (np.ones(4), "utility array of shape"),
    (np.array([[0.0, np.nan]]), "NaN or infinite"),
    ("truth", "utility array of shape"),
])
def test_oracle_refuses_a_bad_ground_truth(truth, match):
    with pytest.raises(RecsysError, match=match):
        OracleRecommender(truth).fit(np.ones((1, 2)))


def test_oracle_must_be_fitted_first():
    with pytest.raises(RuntimeError, match="not fitted"):
        OracleRecommender(np.ones((2, 3))).recommend([0], k=1)
