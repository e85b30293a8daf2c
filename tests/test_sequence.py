"""Specification of visrec_helpers.recsys.sequence: the supervised contrastive loss, the
classify-and-embed network, the session simulator, next-item baselines and the GRU."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visrec_helpers.data import digits_catalog
from visrec_helpers.recsys import sequence as S

# --- Supervised contrastive loss ------------------------------------------------


def test_supcon_golden_value_for_two_pairs():
    # two classes, two unit vectors each; anchors see 1 positive and 2 negatives
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    y = torch.tensor([0, 0, 1, 1])
    t = 0.5
    # for every anchor: sim to positive 1/t, to negatives 0
    expected = -np.log(np.exp(2.0) / (np.exp(2.0) + 2 * np.exp(0.0)))
    assert S.supervised_contrastive_loss(z, y, t).item() == pytest.approx(expected, rel=1e-5)


def test_supcon_prefers_clustered_embeddings():
    y = torch.tensor([0, 0, 1, 1])
    clustered = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    mixed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert S.supervised_contrastive_loss(clustered, y) < S.supervised_contrastive_loss(mixed, y)


def test_supcon_without_positives_is_zero_and_differentiable():
    z = torch.nn.functional.normalize(torch.randn(3, 4, requires_grad=True), dim=1)
    loss = S.supervised_contrastive_loss(z, torch.tensor([0, 1, 2]))
    assert loss.item() == 0.0
    loss.backward()


def test_supcon_rejects_bad_input():
    with pytest.raises(ValueError, match="one label per row"):
        S.supervised_contrastive_loss(torch.zeros(3, 2), torch.zeros(2))
    with pytest.raises(ValueError, match="temperature"):
        S.supervised_contrastive_loss(torch.zeros(2, 2), torch.zeros(2), temperature=0.0)


# --- MetricDigitNet ---------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist():
    cat = digits_catalog()  # the MNIST 5k, cached on disk after the first load
    return cat.images, cat.labels


def test_metric_net_embeds_unit_vectors_and_predicts(mnist):
    X, y = mnist
    net = S.MetricDigitNet(epochs=1, batch_size=32, progress=False, device="cpu").fit(X[:96], y[:96])
    e = net.embed(X[:10])
    assert e.shape == (10, 64) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert net.predict(X[:10]).shape == (10,)
    assert list(net.history_.columns) == ["epoch", "ce_loss", "metric_loss"]
    assert net.history_["metric_loss"].iloc[0] > 0


def test_metric_net_is_seeded_locally_and_leaves_the_global_generator_alone(mnist):
    X, y = mnist
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    a = S.MetricDigitNet(epochs=1, batch_size=32, progress=False, device="cpu").fit(X[:64], y[:64])
    np.testing.assert_array_equal(torch.rand(2).numpy(), expected.numpy())
    b = S.MetricDigitNet(epochs=1, batch_size=32, progress=False, device="cpu").fit(X[:64], y[:64])
    np.testing.assert_array_equal(a.embed(X[:5]), b.embed(X[:5]))


def test_metric_net_rejects_bad_input(mnist):
    X, y = mnist
    with pytest.raises(ValueError, match="metric_weight"):
        S.MetricDigitNet(metric_weight=-1, progress=False).fit(X[:10], y[:10])
    with pytest.raises(ValueError, match="labels"):
        S.MetricDigitNet(epochs=1, progress=False).fit(X[:10], y[:9])
    with pytest.raises(RuntimeError, match="not fitted"):
        S.MetricDigitNet().embed(X[:2])


# --- Sessions -------------------------------------------------------------------------

LABELS = np.repeat(np.arange(10), 12)


def test_sessions_have_distinct_items_and_follow_the_successor():
    sessions, info = S.simulate_sessions(LABELS, n_sessions=400, length=6, p_next=0.7, p_stay=0.2, seed=0)
    assert sessions.shape == (400, 6)
    assert all(len(set(s)) == 6 for s in sessions)
    cls = LABELS[sessions]
    moved = cls[:, 1:] == info["successor"][cls[:, :-1]]
    stayed = cls[:, 1:] == cls[:, :-1]
    assert abs(moved.mean() - (0.7 + 0.1 * 0.1)) < 0.04
    assert abs(stayed.mean() - (0.2 + 0.1 * 0.1)) < 0.04


def test_successor_is_a_single_cycle_and_transition_rows_sum_to_one():
    _, info = S.simulate_sessions(LABELS, n_sessions=1, length=2, seed=3)
    c, seen = 0, set()
    for _ in range(10):
        seen.add(c)
        c = int(info["successor"][c])
    assert seen == set(range(10)) and c == 0
    np.testing.assert_allclose(info["transition"].sum(1), 1.0)


def test_simulate_sessions_rejects_bad_input():
    with pytest.raises(ValueError, match="p_next"):
        S.simulate_sessions(LABELS, p_next=0.9, p_stay=0.2)
    with pytest.raises(ValueError, match="at least length"):
        S.simulate_sessions(LABELS, length=13)
    with pytest.raises(ValueError, match="length"):
        S.simulate_sessions(LABELS, length=1)
    with pytest.raises(ValueError, match="non-empty"):
        S.simulate_sessions(np.array([]))


# --- Baselines, metrics and the GRU ---------------------------------------------------


def _unit(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_mean_and_last_item_scores_golden():
    emb = _unit(np.eye(3))
    hist = np.array([[0, 1]])
    np.testing.assert_allclose(S.mean_profile_scores(hist, emb), [[0.7071, 0.7071, 0.0]], atol=1e-4)
    np.testing.assert_allclose(S.last_item_scores(hist, emb), [[0.0, 1.0, 0.0]])


def test_unknown_item_ids_raise():
    emb = _unit(np.eye(3))
    with pytest.raises(ValueError, match="unknown item ids"):
        S.mean_profile_scores(np.array([[0, 5]]), emb)
    with pytest.raises(ValueError, match="integer"):
        S.last_item_scores(np.array([[0.0, 1.0]]), emb)


def test_top_k_excludes_and_orders():
    scores = np.array([[0.1, 0.9, 0.5, 0.7]])
    np.testing.assert_array_equal(S.top_k(scores, 2), [[1, 3]])
    np.testing.assert_array_equal(S.top_k(scores, 2, exclude=np.array([[1]])), [[3, 2]])
    with pytest.raises(ValueError, match="fewer than k"):
        S.top_k(scores, 4, exclude=np.array([[1]]))
    with pytest.raises(ValueError, match="unknown item id"):
        S.top_k(scores, 2, exclude=np.array([[-1]]))  # not read as "the last item"


def test_hit_rate_golden_and_bad_k():
    rec = np.array([[1, 2, 3], [4, 5, 6]])
    assert S.next_item_hit_rate(rec, np.array([3, 9]), 3) == 0.5
    assert S.next_item_hit_rate(rec, np.array([3, 4]), 1) == 0.5
    with pytest.raises(ValueError, match="k must be"):
        S.next_item_hit_rate(rec, np.array([3, 4]), 4)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_hit_rate_grows_with_k(seed):
    rng = np.random.default_rng(seed)
    rec, truth = np.stack([rng.permutation(30)[:10] for _ in range(20)]), rng.integers(0, 30, 20)
    vals = [S.next_item_hit_rate(rec, truth, k) for k in range(1, 11)]
    assert all(a <= b for a, b in zip(vals, vals[1:]))


def test_next_item_probabilities_golden():
    labels = np.array([0, 0, 1, 1])
    trans = np.array([[0.1, 0.9], [0.6, 0.4]])
    # history [2, 0]: last class 0; class 0 has one unseen item (1), class 1 one unseen item (3)
    np.testing.assert_allclose(S.next_item_probabilities(np.array([[2, 0]]), labels, trans), [[0.0, 0.1, 0.0, 0.9]])
    np.testing.assert_allclose(S.markov_oracle_scores(np.array([[1]]), labels, trans), [[0.1, 0.0, 0.45, 0.45]])


def test_next_item_probabilities_sum_to_one_on_simulated_sessions():
    sessions, info = S.simulate_sessions(LABELS, n_sessions=50, length=6, seed=2)
    p = S.next_item_probabilities(sessions[:, :-1], LABELS, info["transition"], info["classes"])
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert (p[np.arange(50)[:, None], sessions[:, :-1]] == 0).all()


def test_oracle_maximises_expected_hit_rate():
    sessions, info = S.simulate_sessions(LABELS, n_sessions=80, length=6, seed=4)
    hist = sessions[:, :-1]
    p = S.next_item_probabilities(hist, LABELS, info["transition"], info["classes"])
    best = S.expected_hit_rate(S.top_k(p, 10, hist), p, 10)
    rng = np.random.default_rng(0)
    other = S.expected_hit_rate(S.top_k(rng.random(p.shape), 10, hist), p, 10)
    assert best > other
    assert S.expected_hit_rate(S.top_k(p, 10, hist), p, 1) <= best


def test_gru_learns_the_successor_signal():
    rng = np.random.default_rng(0)
    emb = _unit(np.eye(10)[LABELS] + 0.05 * rng.normal(size=(len(LABELS), 10)))
    sessions, info = S.simulate_sessions(LABELS, n_sessions=600, length=6, p_next=0.9, p_stay=0.0, seed=1)
    X, ts = S.sessions_to_matrix(sessions[:500], len(LABELS))
    gru = S.GRURecommender(hidden=32, epochs=8, lr=1e-2, progress=False, device="cpu")
    gru.fit(X, item_features=emb, timestamps=ts)
    hist, nxt = sessions[500:, :-1], sessions[500:, -1]
    recs = gru.recommend_sessions(hist, 10)
    hr_gru = S.next_item_hit_rate(recs, nxt, 10)
    hr_mean = S.next_item_hit_rate(S.top_k(S.mean_profile_scores(hist, emb), 10, hist), nxt, 10)
    assert hr_gru > 0.5 and hr_gru > 2 * hr_mean
    assert recs.shape == (100, 10)
    assert not any(np.isin(r, h).any() for r, h in zip(recs, hist))


def _small_gru(n_sessions=40, epochs=1):
    rng = np.random.default_rng(0)
    emb = _unit(np.eye(10)[LABELS] + 0.05 * rng.normal(size=(len(LABELS), 10)))
    sessions, _ = S.simulate_sessions(LABELS, n_sessions=n_sessions, length=5, seed=2)
    X, ts = S.sessions_to_matrix(sessions, len(LABELS))
    gru = S.GRURecommender(hidden=8, epochs=epochs, progress=False, device="cpu")
    return gru.fit(X, item_features=emb, timestamps=ts), sessions, emb


def test_gru_recommend_for_fitted_rows_reads_each_row_in_time_order():
    gru, sessions, _ = _small_gru()
    np.testing.assert_allclose(gru.score([3, 7]), gru.score_sessions(sessions[[3, 7]]), atol=1e-6)
    recs = gru.recommend([3, 7], k=5)
    np.testing.assert_array_equal(recs, gru.recommend_sessions(sessions[[3, 7]], 5))
    assert not any(np.isin(r, sessions[u]).any() for r, u in zip(recs, [3, 7]))


def test_gru_is_seeded_locally_and_leaves_the_global_generator_alone():
    import torch

    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a, _, _ = _small_gru()
    after = torch.rand(3)
    b, sessions, _ = _small_gru()
    np.testing.assert_array_equal(before.numpy(), after.numpy())
    np.testing.assert_array_equal(a.score_sessions(sessions[:4]), b.score_sessions(sessions[:4]))


def test_gru_trains_on_sessions_of_different_lengths():
    rng = np.random.default_rng(0)
    emb = _unit(rng.normal(size=(12, 4)))
    X = sp.csr_matrix(np.array([[1, 1, 1, 0] + [0] * 8, [0, 0, 1, 1] + [0] * 8, [0] * 11 + [1]], dtype=float))
    ts = X.copy()
    ts.data = np.arange(1, X.nnz + 1, dtype=float)
    gru = S.GRURecommender(hidden=4, epochs=2, progress=False, device="cpu")
    gru.fit(X, item_features=emb, timestamps=ts)
    assert gru.recommend([0, 1, 2], k=3).shape == (3, 3)


def test_sessions_to_matrix_refuses_a_repeated_item():
    with pytest.raises(ValueError, match="repeats an item"):
        S.sessions_to_matrix(np.array([[0, 1, 0]]), 3)


def test_gru_rejects_bad_input():
    emb = _unit(np.eye(3))
    X, ts = S.sessions_to_matrix(np.array([[0, 1]]), 3)
    with pytest.raises(ValueError, match="unknown item ids"):
        S.sessions_to_matrix(np.array([[0, 3]]), 3)
    with pytest.raises(ValueError, match="NaN"):
        S.GRURecommender(epochs=1, progress=False).fit(X, item_features=np.full((3, 3), np.nan), timestamps=ts)
    with pytest.raises(ValueError, match="needs timestamps"):
        S.GRURecommender(epochs=1, progress=False).fit(X, item_features=emb)
    with pytest.raises(ValueError, match="needs item_features"):
        S.GRURecommender(epochs=1, progress=False).fit(X, timestamps=ts)
    with pytest.raises(RuntimeError, match="not fitted"):
        S.GRURecommender().score_sessions(np.array([[0, 1]]))


# --- Properties: the documented error or a value in range --------------------------

rec_rows = st.lists(st.lists(st.integers(-1, 7), min_size=3, max_size=3), min_size=1, max_size=4).map(np.array)


@pytest.mark.property
@settings(max_examples=40, deadline=None)
@given(rec_rows, st.lists(st.integers(-1, 7), min_size=1, max_size=4), st.integers(0, 4))
def test_session_metrics_refuse_or_lie_in_0_1(rec, truth, k):
    p = np.full((len(rec), 8), 1 / 8)
    for fn in (lambda: S.next_item_hit_rate(rec, np.array(truth), k), lambda: S.expected_hit_rate(rec, p, k)):
        try:
            value = fn()
        except S.RecsysError:
            continue
        assert 0.0 <= value <= 1.0 + 1e-9


@pytest.mark.property
@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(2, 7), st.integers(-1, 4), st.integers(0, 2**16), st.booleans())
def test_top_k_refuses_or_returns_distinct_unexcluded_ids(n, n_items, k, seed, with_exclude):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n, n_items))
    exclude = rng.integers(-1, n_items + 1, (n, 2)) if with_exclude else None
    try:
        out = S.top_k(scores, k, exclude)
    except S.RecsysError:  # naming k or exclude
        return
    assert out.shape == (n, k)
    for i, row in enumerate(out):
        assert len(set(row.tolist())) == k and ((row >= 0) & (row < n_items)).all()
        if exclude is not None:
            assert not set(row.tolist()) & set(exclude[i].tolist())


def test_learned_transitions_golden_counts():
    # items 0,1 are group 0 and items 2,3 group 1; the sessions alternate groups 0 -> 1 -> 0
    groups = np.array([0, 0, 1, 1])
    train = np.array([[0, 2, 1], [1, 3, 0]])  # transitions 0->1, 1->0, 0->1, 1->0 (groups)
    s = S.learned_transition_scores(train, np.array([[0]]), groups, smoothing=0.0)
    # after group 0 the next group is always 1: items 2 and 3 share it, item 0 is seen
    np.testing.assert_allclose(s, [[0.0, 0.0, 0.5, 0.5]])
    s1 = S.learned_transition_scores(train, np.array([[0]]), groups, smoothing=1.0)
    # P(1|0) = (2+1)/(2+2) = 0.75, P(0|0) = 0.25 -> item 1 gets 0.25 (only unseen of group 0)
    np.testing.assert_allclose(s1, [[0.0, 0.25, 0.375, 0.375]])


def test_learned_transitions_approach_the_oracle_with_the_true_classes():
    labels = np.repeat(np.arange(5), 12)
    train, info = S.simulate_sessions(labels, n_sessions=3000, length=6, seed=1)
    test, _ = S.simulate_sessions(labels, n_sessions=200, length=6, seed=2)
    hist = test[:, :-1]
    learned = S.learned_transition_scores(train, hist, labels)
    oracle = S.markov_oracle_scores(hist, labels, info["transition"], info["classes"])
    assert np.abs(learned - oracle).max() < 0.02
    np.testing.assert_allclose(learned.sum(axis=1), 1.0)


def test_learned_transitions_reject_bad_input():
    groups = np.array([0, 0, 1, 1])
    with pytest.raises(ValueError, match="groups"):
        S.learned_transition_scores(np.array([[0, 1]]), np.array([[0]]), np.array([0.5, 1, 1, 0]))
    with pytest.raises(ValueError, match="smoothing"):
        S.learned_transition_scores(np.array([[0, 1]]), np.array([[0]]), groups, smoothing=-1)
    with pytest.raises(ValueError):
        S.learned_transition_scores(np.array([[0, 7]]), np.array([[0]]), groups)
