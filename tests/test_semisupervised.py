"""Learning with missing labels: hiding labels, kNN, label spreading, self-training, abstention."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visrec_helpers.vision.semisupervised import (
    UNLABELLED,
    KNNLabeler,
    LabelSpreader,
    SelfTrainer,
    hide_labels,
    knn_graph,
    pca_embedding,
    selective_accuracy,
    self_training,
    spread_labels,
    weak_labels,
)


def _clusters(n_per=60, seed=0):
    """Three well separated Gaussian clusters in 5-D, labels 0..2."""
    rng = np.random.default_rng(seed)
    centres = np.eye(5)[:3] * 6
    Z = np.vstack([c + rng.normal(size=(n_per, 5)) for c in centres])
    y = np.repeat(np.arange(3), n_per)
    return Z, y


@settings(max_examples=30, deadline=None)
@given(st.floats(0.01, 1.0), st.integers(0, 1000))
def test_hide_labels_keeps_share_and_every_class(share, seed):
    y = np.repeat(np.arange(4), 50)
    part = hide_labels(y, share, seed=seed)
    kept = part != UNLABELLED
    assert np.array_equal(part[kept], y[kept])  # never changes a kept label
    assert set(part[kept]) == {0, 1, 2, 3}  # at least one label per class
    assert abs(kept.mean() - share) <= 0.02 + 1 / 50


def test_hide_labels_rejects_bad_input():
    with pytest.raises(ValueError, match="labelled_share"):
        hide_labels(np.array([0, 1]), 0.0)
    with pytest.raises(ValueError, match="non-negative integer"):
        hide_labels(np.array([0.5, 1.0]), 0.5)


@pytest.mark.parametrize("est", [KNNLabeler(3), LabelSpreader(5), SelfTrainer(0.9)])
def test_each_method_labels_clean_clusters_from_few_labels(est):
    Z, y = _clusters()
    part = hide_labels(y, 0.05, seed=1)
    est.fit(Z, part)
    unl = part == UNLABELLED
    assert (est.predict(Z[unl]) == y[unl]).mean() > 0.95
    proba = est.predict_proba(Z[:4])
    assert proba.shape == (4, 3) and np.allclose(proba.sum(1), 1)


def test_knn_golden_vote():
    Z = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.5, 0.5]])
    y = np.array([0, 0, 1, UNLABELLED])
    knn = KNNLabeler(k=1).fit(Z, y)
    assert knn.predict(np.array([[0.1, 1.0], [1.0, 0.05]])).tolist() == [1, 0]


def test_threshold_abstains_on_uncertain_rows():
    Z, y = _clusters()
    part = hide_labels(y, 0.1, seed=0)
    st_ = SelfTrainer(0.9).fit(Z, part)
    middle = np.full((1, 5), 2.0)  # equally far from all three centres
    assert st_.predict(middle, threshold=0.99)[0] == UNLABELLED
    assert st_.predict(middle)[0] != UNLABELLED  # without a threshold it always answers


def test_self_training_adds_pseudo_labels():
    Z, y = _clusters()
    part = hide_labels(y, 0.05, seed=2)
    st_ = SelfTrainer(0.8, max_rounds=5).fit(Z, part)
    assert sum(st_.pseudo_added_) > 0
    new = (part == UNLABELLED) & (st_.pseudo_labels_ != UNLABELLED)
    assert (st_.pseudo_labels_[new] == y[new]).mean() > 0.95


def test_self_training_with_zero_rounds_is_the_supervised_baseline():
    Z, y = _clusters()
    part = hide_labels(y, 0.05, seed=2)
    st_ = SelfTrainer(0.8, max_rounds=0).fit(Z, part)
    assert st_.pseudo_added_ == [] and np.array_equal(st_.pseudo_labels_, part)


def test_label_spreading_transduction_covers_every_row():
    Z, y = _clusters()
    ls = LabelSpreader(5).fit(Z, hide_labels(y, 0.05))
    assert ls.transduction_.shape == y.shape and (ls.transduction_ == y).mean() > 0.95


def test_selective_accuracy_golden():
    out = selective_accuracy(np.array([0, 1, 2, 2]), np.array([0, UNLABELLED, 1, 2]))
    assert out == {"coverage": 0.75, "accuracy": pytest.approx(2 / 3), "abstained": 1, "accuracy_all": 0.5}
    assert np.isnan(selective_accuracy(np.array([1]), np.array([UNLABELLED]))["accuracy"])


def test_pca_embedding_shape_and_norm():
    rng = np.random.default_rng(0)
    Z = pca_embedding(rng.integers(0, 256, size=(40, 8, 8)).astype(np.uint8), n_components=5)
    assert Z.shape == (40, 5) and np.allclose(np.linalg.norm(Z, axis=1), 1, atol=1e-5)


def test_bad_inputs_raise_clear_errors():
    Z, y = _clusters()
    with pytest.raises(ValueError, match="no labelled rows"):
        KNNLabeler().fit(Z, np.full(len(Z), UNLABELLED))
    with pytest.raises(ValueError, match="shape"):
        KNNLabeler().fit(Z, y[:-1])
    bad = Z.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        LabelSpreader().fit(bad, y)
    with pytest.raises(ValueError, match="k=500"):
        KNNLabeler(k=500).fit(Z, hide_labels(y, 0.1))
    with pytest.raises(ValueError, match="threshold"):
        KNNLabeler(3).fit(Z, y).predict(Z, threshold=1.5)
    with pytest.raises(RuntimeError, match="not fitted"):
        SelfTrainer().predict(Z)
    with pytest.raises(ValueError, match="columns"):
        KNNLabeler(3).fit(Z, y).predict(Z[:, :2])
    with pytest.raises(ValueError, match="integer"):
        SelfTrainer().fit(Z, y.astype(float))


def test_knn_graph_golden_on_a_line():
    Z = np.array([[1.0, 0.0], [1.0, 0.1], [1.0, 0.3], [0.0, 1.0]])  # angles 0, 5.7, 16.7, 90 degrees
    W = knn_graph(Z, 1).toarray()
    # nearest: 0->1, 1->0, 2->1, 3->2; symmetrised
    expected = np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]], dtype=float)
    assert np.array_equal(W, expected)


def test_knn_graph_is_symmetric_without_self_loops():
    Z, _ = _clusters()
    W = knn_graph(Z, 5)
    assert (W != W.T).nnz == 0 and W.diagonal().sum() == 0
    assert (np.asarray(W.sum(1)).ravel() >= 5).all()  # every row keeps its own k neighbours


def test_knn_graph_rejects_bad_k():
    with pytest.raises(ValueError, match="k must be an int in \\[1, 2\\], got 3"):
        knn_graph(np.eye(3), 3)


def test_spread_labels_converges_to_the_closed_form():
    Z, y = _clusters(n_per=15)
    part = hide_labels(y, 0.1, seed=0)
    W = knn_graph(Z, 4)
    alpha = 0.8
    F = spread_labels(W, part, alpha=alpha, n_iter=300)
    d = 1 / np.sqrt(np.asarray(W.sum(1)).ravel())
    S = d[:, None] * W.toarray() * d[None, :]
    Y = np.eye(3)[np.where(part < 0, 0, part)] * (part >= 0)[:, None]
    closed = (1 - alpha) * np.linalg.solve(np.eye(len(Z)) - alpha * S, Y)
    assert np.allclose(F, closed, atol=1e-10)


def test_spread_labels_golden_chain():
    W = knn_graph(np.array([[1.0, 0.0], [1.0, 0.1], [1.0, 0.3], [0.0, 1.0]]), 1)  # chain 0-1-2-3
    F = spread_labels(W, np.array([0, -1, -1, 1]), alpha=0.5, n_iter=1)
    # one step from F = Y: row 1 gets 0.5 * S[1, 0] = 0.5 / sqrt(1 * 2); row 2 gets 0.5 * S[2, 3] likewise
    assert np.allclose(F, [[0.5, 0], [0.5 / np.sqrt(2), 0], [0, 0.5 / np.sqrt(2)], [0, 0.5]])


def test_spread_labels_leaves_an_unreached_component_at_zero():
    W = knn_graph(np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99]]), 1)  # two pairs
    F = spread_labels(W, np.array([0, -1, -1, -1]), n_iter=20)
    assert F[1, 0] > 0 and np.all(F[2:] == 0)
    with pytest.raises(ValueError, match="alpha must be in \\(0, 1\\), got 1.0"):
        spread_labels(W, np.array([0, -1, -1, -1]), alpha=1.0)


def test_label_spreader_predicts_new_rows_from_their_fitted_neighbours():
    Z, y = _clusters()
    ls = LabelSpreader(5).fit(Z, hide_labels(y, 0.05))
    new = np.eye(5)[:3] * 6 + 0.1  # near each centre
    assert ls.predict(new).tolist() == [0, 1, 2]


def test_self_training_history_reports_pseudo_label_accuracy():
    Z, y = _clusters()
    part = hide_labels(y, 0.05, seed=2)
    _, pseudo, history = self_training(Z, part, threshold=0.8, max_rounds=5, y_true=y)
    assert list(history.columns) == ["round", "added", "confidence", "accuracy of added",
                                     "accuracy of all pseudo-labels"]
    assert history["round"].tolist() == list(range(1, len(history) + 1))
    added = (part == UNLABELLED) & (pseudo != UNLABELLED)
    assert history["added"].sum() == added.sum()
    assert history["accuracy of all pseudo-labels"].iloc[-1] == pytest.approx((pseudo[added] == y[added]).mean())
    assert (history["confidence"] >= 0.8).all()


def test_self_training_never_trains_on_the_true_labels():
    Z, y = _clusters()
    part = hide_labels(y, 0.05, seed=2)
    y_wrong = (y + 1) % 3  # a diagnosis label that would change the model if it were used
    a, pa, _ = self_training(Z, part, threshold=0.8, max_rounds=3)
    b, pb, hb = self_training(Z, part, threshold=0.8, max_rounds=3, y_true=y_wrong)
    assert np.array_equal(pa, pb) and np.allclose(a.coef_, b.coef_)
    assert (hb["accuracy of added"] == 0).all()


def test_self_trainer_rejects_misshapen_y_true():
    Z, y = _clusters()
    with pytest.raises(ValueError, match="y_true must have shape"):
        SelfTrainer().fit(Z, hide_labels(y, 0.1), y_true=y[:-1])


def test_weak_labels_golden():
    rules = {0: ["apple", "banana"], 1: ["car", "bus"], 2: ["red"]}
    names = ["red apple", "banana", "bus stop", "sports car with apples", "blue book", "Red car"]
    # 'red apple': 0 and 2 tie -> abstain; plural 'apples' matches 'apple'; 'Red car': tie -> abstain
    assert weak_labels(names, rules).tolist() == [-1, 0, 1, -1, -1, -1]
    assert weak_labels(["apple apple red"], rules).tolist() == [0]  # two votes beat one
