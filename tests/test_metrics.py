"""Specification of the ranking metrics: worked examples, sklearn agreement, properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import ndcg_score

from visrec_helpers.recsys import metrics as M

REC = [5, 1, 7, 3, 9]  # hits at ranks 2 and 4 when relevant = {1, 3, 8}
REL = {1, 3, 8}


def test_precision_divides_by_k():
    assert M.precision_at_k(REC, REL, 5) == pytest.approx(2 / 5)


def test_recall_divides_by_relevant():
    assert M.recall_at_k(REC, REL, 5) == pytest.approx(2 / 3)


def test_ndcg_worked_example():
    dcg = 1 / np.log2(3) + 1 / np.log2(5)
    idcg = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert M.ndcg_at_k(REC, REL, 5) == pytest.approx(dcg / idcg)


def test_average_precision_normalised_by_min_k_relevant():
    # precision at the hits: 1/2 and 2/4; min(k=5, 3 relevant) = 3
    assert M.average_precision_at_k(REC, REL, 5) == pytest.approx((1 / 2 + 2 / 4) / 3)
    # with k=2 only one hit counts and the normaliser is min(2, 3) = 2
    assert M.average_precision_at_k(REC, REL, 2) == pytest.approx((1 / 2) / 2)


def test_hit_rate_and_reciprocal_rank():
    assert M.hit_rate_at_k(REC, REL, 1) == 0.0
    assert M.hit_rate_at_k(REC, REL, 2) == 1.0
    assert M.reciprocal_rank(REC, REL, 5) == pytest.approx(0.5)
    assert M.reciprocal_rank(REC, REL, 1) == 0.0


def test_auc_worked_example():
    scores = np.array([0.9, 0.1, 0.8, 0.3, 0.5])
    # positives 0 and 3; negatives 1, 2, 4: pairs won 3 + 1 = 4 of 6
    assert M.auc(scores, [0, 3]) == pytest.approx(4 / 6)
    # excluding item 2 leaves negatives 1, 4: won 2 + 1 of 4
    assert M.auc(scores, [0, 3], exclude=[2]) == pytest.approx(3 / 4)


def test_auc_counts_ties_half():
    assert M.auc(np.array([1.0, 1.0]), [0]) == pytest.approx(0.5)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 30), st.integers(1, 10), st.integers(0, 10_000))
def test_ndcg_matches_sklearn(n_items, k, seed):
    rng = np.random.default_rng(seed)
    scores = rng.permutation(n_items).astype(float)  # distinct: sklearn's tie averaging not involved
    y_true = (rng.random(n_items) < 0.3).astype(float)
    if y_true.sum() == 0:
        y_true[0] = 1.0
    ranked = np.argsort(-scores)
    ours = M.ndcg_at_k(ranked, set(np.flatnonzero(y_true)), k)
    assert ours == pytest.approx(ndcg_score(y_true[None], scores[None], k=k))


ranked_lists = st.lists(st.integers(0, 40), min_size=1, max_size=20, unique=True)
relevant_sets = st.sets(st.integers(0, 40), min_size=1, max_size=10)


@settings(max_examples=100, deadline=None)
@given(ranked_lists, relevant_sets, st.integers(1, 20))
def test_every_metric_is_between_0_and_1(rec, rel, k):
    for fn in M.METRICS.values():
        assert 0.0 <= fn(rec, rel, k) <= 1.0 + 1e-12


@settings(max_examples=100, deadline=None)
@given(relevant_sets, st.integers(1, 20))
def test_perfect_ranking_scores_one(rel, k):
    rec = sorted(rel) + [100, 101]
    for name in ("ndcg", "map", "hit_rate", "mrr"):
        assert M.METRICS[name](rec, rel, k) == pytest.approx(1.0)
    assert M.recall_at_k(rec, rel, k) == pytest.approx(min(k, len(rel)) / len(rel))


@settings(max_examples=60, deadline=None)
@given(ranked_lists, relevant_sets, st.integers(1, 20), st.randoms())
def test_order_of_relevant_set_does_not_matter(rec, rel, k, rnd):
    shuffled = list(rel)
    rnd.shuffle(shuffled)
    for fn in M.METRICS.values():
        assert fn(rec, rel, k) == fn(rec, shuffled, k)


def test_no_relevant_items_scores_zero():
    assert M.ndcg_at_k([1, 2], set(), 2) == 0.0
    assert M.average_precision_at_k([1, 2], [], 2) == 0.0


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_k_raises(k):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        M.ndcg_at_k([1], {1}, k)


def test_evaluate_averages_and_skips_users_without_truth():
    out = M.evaluate([[1, 2], [3, 4], [5, 6]], [{1}, {9}, set()], k=2)
    assert out["users"] == 2
    assert out["recall@2"] == pytest.approx(0.5)
    assert set(out) >= {"precision@2", "ndcg@2", "map@2", "hit_rate@2", "mrr@2"}


def test_evaluate_rejects_mismatched_and_short_lists():
    with pytest.raises(ValueError, match="2 recommendation lists but 1 truth"):
        M.evaluate([[1], [2]], [{1}], k=1)
    with pytest.raises(ValueError, match="fewer than k"):
        M.evaluate([[1]], [{1}], k=2)
    with pytest.raises(ValueError, match="nothing to evaluate"):
        M.evaluate([[1]], [set()], k=1)


def test_catalog_coverage():
    assert M.catalog_coverage(np.array([[0, 1], [1, 2]]), 10) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="item ids must lie"):
        M.catalog_coverage(np.array([[0, 11]]), 10)


def test_intra_list_diversity_of_identical_and_orthogonal_items():
    emb = np.eye(3)
    assert M.intra_list_diversity(np.array([[0, 1, 2]]), emb) == pytest.approx(1.0)
    same = np.array([[1.0, 0], [2.0, 0]])
    assert M.intra_list_diversity(np.array([[0, 1]]), same) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="NaN"):
        M.intra_list_diversity(np.array([[0, 1]]), np.array([[np.nan, 0], [1, 0]]))


def test_novelty_is_higher_for_rare_items():
    counts = np.array([99, 0])
    assert M.novelty(np.array([[1]]), counts, 99) > M.novelty(np.array([[0]]), counts, 99)
    assert M.novelty(np.array([[0]]), counts, 99) == pytest.approx(-np.log2(100 / 100))


def test_sampled_evaluate_ranks_against_negatives_only():
    scores = np.array([[0.0, 5.0, 1.0, 2.0, 3.0]])
    negs = M.sample_negatives([[1]], [{4}], 5, n_negatives=2, seed=0)
    assert set(negs[0]) <= {0, 2, 3}
    out = M.sampled_evaluate(scores, [{4}], np.array([[0, 2]]), k=1)
    assert out["hit_rate@1"] == 1.0  # item 4 beats both sampled negatives
    full = M.evaluate(np.argsort(-scores, axis=1), [{4}], k=1)
    assert full["hit_rate@1"] == 0.0  # but not item 1 in the full ranking


def test_sample_negatives_raises_when_too_few_candidates():
    with pytest.raises(ValueError, match="candidate negatives"):
        M.sample_negatives([[0, 1]], [{2}], 4, n_negatives=2)


def test_evaluate_model_and_compare_models_on_a_fitted_popularity():
    import scipy.sparse as sp

    from visrec_helpers.recsys.recommenders import Popularity

    m = sp.csr_matrix(np.array([[1.0, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0]]))
    model = Popularity().fit(m)  # popularity order: 0, 1 (2 each), then 2, then 3
    out = M.evaluate_model(model, [1, 2], [{1}, {3}], k=1)
    assert out["hit_rate@1"] == pytest.approx(0.5) and out["coverage@1"] == pytest.approx(2 / 4)
    table = M.compare_models({"pop": (Popularity(), (m,))}, [1, 2], [{1}, {3}], k=1, progress=False)
    assert list(table["model"]) == ["pop"] and table["HitRate@1"].iloc[0] == pytest.approx(0.5)
    assert table["fit s"].iloc[0] >= 0


# --- Refused inputs (issue 16: no silent wrong answer) ----------------------------


def test_a_repeated_item_in_a_list_is_refused_not_counted_twice():
    # recall_at_k([1, 1, 1], {1}, 3) used to be 3.0
    for fn in M.METRICS.values():
        with pytest.raises(M.RecsysError, match=r"recommended repeats id\(s\) \[1\]"):
            fn([1, 1, 1], {1}, 3)


@pytest.mark.parametrize("bad, message", [([1.5, 2], "must be integers"), ([-1, 2], r"unknown item id\(s\) \[-1\]"),
                                          (np.array([True, False]), "boolean"), ([[1, 2]], "1-D")])
def test_recommended_ids_must_be_non_negative_integers(bad, message):
    with pytest.raises(M.RecsysError, match=message):
        M.ndcg_at_k(bad, {1}, 2)


def test_repeated_relevant_ids_count_once():
    assert M.recall_at_k([1, 2], [1, 1], 2) == 1.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_sampled_evaluate_refuses_non_finite_scores(bad):
    scores = np.array([[0.0, bad, 1.0, 2.0]])  # a NaN positive used to beat every negative
    with pytest.raises(M.RecsysError, match="NaN or infinite"):
        M.sampled_evaluate(scores, [{1}], np.array([[0, 2]]), k=1)


def test_sampled_evaluate_refuses_a_negative_that_is_a_positive_and_mismatched_rows():
    scores = np.zeros((1, 4))
    with pytest.raises(M.RecsysError, match=r"negatives\[0\] holds positive item\(s\) \[2\]"):
        M.sampled_evaluate(scores, [{2}], np.array([[0, 2]]), k=1)
    with pytest.raises(M.RecsysError, match="same users"):
        M.sampled_evaluate(scores, [{2}, {1}], np.array([[0, 3]]), k=1)
    with pytest.raises(M.RecsysError, match=r"negatives\[0\] repeats"):
        M.sampled_evaluate(scores, [{2}], np.array([[0, 0]]), k=1)


def test_sample_negatives_refuses_mismatched_lengths():
    # used to return an (n, k) array of uninitialised memory for the rows zip() skipped
    with pytest.raises(M.RecsysError, match="seen_rows has 1 users but positives has 3"):
        M.sample_negatives([[0]], [{1}, {2}, {3}], 10, n_negatives=2)


@pytest.mark.parametrize("kw, message", [({"n_items": 0}, "n_items"), ({"n_negatives": 0}, "n_negatives"),
                                         ({"n_items": 2.5}, "n_items")])
def test_sample_negatives_refuses_bad_sizes(kw, message):
    args = {"n_items": 10, "n_negatives": 2, **kw}
    with pytest.raises(M.RecsysError, match=message):
        M.sample_negatives([[0]], [{1}], **args)


def test_sample_negatives_refuses_out_of_range_ids():
    with pytest.raises(M.RecsysError, match=r"seen_rows\[0\] holds unknown item id\(s\) \[12\]"):
        M.sample_negatives([[12]], [{1}], 10, n_negatives=2)


def test_beyond_accuracy_metrics_refuse_repeated_items():
    with pytest.raises(M.RecsysError, match="row 0 repeats an item"):
        M.intra_list_diversity(np.array([[0, 0]]), np.eye(2))
    with pytest.raises(M.RecsysError, match="row 1 repeats"):
        M.catalog_coverage(np.array([[0, 1], [2, 2]]), 5)


def test_auc_refuses_float_and_out_of_range_ids():
    with pytest.raises(M.RecsysError, match=r"relevant holds unknown item id\(s\) \[7\]"):
        M.auc(np.zeros(3), [7])
    with pytest.raises(M.RecsysError, match="exclude must be integers"):
        M.auc(np.zeros(3), [0], exclude=[1.0])


class _FixedLists:
    """The least a model needs for evaluate_model: recommend(...) and the contract's n_items_."""

    n_items_ = 4

    def recommend(self, users, k, exclude_seen=True, candidates=None):
        return np.array([[0, 1], [0, 2]])[: len(users), :k]


def test_evaluate_model_reads_only_recommend_and_n_items():
    out = M.evaluate_model(_FixedLists(), [0, 1], [{2}, {3}], k=2)
    assert out["coverage@2"] == pytest.approx(3 / 4)
    assert M.evaluate_model(_FixedLists(), [0, 1], [{2}, {3}], k=2, n_items=6)["coverage@2"] == pytest.approx(3 / 6)


def test_compare_models_takes_fit_keyword_arguments():
    import scipy.sparse as sp

    from visrec_helpers.recsys.recommenders import ProfileRecommender

    m = sp.csr_matrix(np.array([[1.0, 0, 0, 0], [0, 0, 1, 0]]))
    feats = np.array([[1.0, 0], [1.0, 0.1], [0, 1.0], [0.1, 1.0]])
    table = M.compare_models({"profile": (ProfileRecommender(), (m, {"item_features": feats}))}, [0, 1],
                             [{1}, {3}], k=1, progress=False)
    assert table["HitRate@1"].iloc[0] == 1.0
    with pytest.raises(M.RecsysError, match="must be"):
        M.compare_models({"profile": (ProfileRecommender(), (m, feats))}, [0], [{1}], k=1, progress=False)


# --- Properties: for any input, the documented error or a value in range -----------

any_ids = st.lists(st.one_of(st.integers(-2, 12), st.sampled_from([1.5, float("nan")])), max_size=8)
any_scores = st.lists(st.one_of(st.floats(-3, 3), st.sampled_from([np.nan, np.inf])), min_size=1, max_size=10)


@pytest.mark.property
@settings(max_examples=50, deadline=None)
@given(any_ids, any_ids, st.integers(-1, 10))
def test_every_metric_refuses_or_lies_in_0_1(rec, rel, k):
    for fn in M.METRICS.values():
        try:
            value = fn(rec, rel, k)
        except M.RecsysError:
            continue
        assert 0.0 <= value <= 1.0 + 1e-12


@pytest.mark.property
@settings(max_examples=50, deadline=None)
@given(any_scores, any_ids, any_ids)
def test_auc_refuses_or_lies_in_0_1(scores, rel, ex):
    try:
        value = M.auc(np.array(scores), rel, exclude=ex)
    except M.RecsysError:
        return
    assert 0.0 <= value <= 1.0


@st.composite
def sampled_calls(draw):
    n_users, n_items = draw(st.integers(1, 4)), draw(st.integers(2, 8))
    scores = np.array(draw(st.lists(st.one_of(st.floats(-2, 2), st.sampled_from([np.nan, np.inf])),
                                    min_size=n_users * n_items, max_size=n_users * n_items))).reshape(n_users, -1)
    truth = draw(st.lists(st.sets(st.integers(-1, n_items)), min_size=n_users - 1, max_size=n_users + 1))
    negatives = np.array(draw(st.lists(st.integers(-1, n_items), min_size=2 * n_users, max_size=2 * n_users)))
    return scores, truth, negatives.reshape(n_users, 2), draw(st.integers(0, 4))


@pytest.mark.property
@settings(max_examples=50, deadline=None)
@given(sampled_calls())
def test_sampled_evaluate_refuses_or_lies_in_0_1(call):
    scores, truth, negatives, k = call
    try:
        out = M.sampled_evaluate(scores, truth, negatives, k=k)
    except M.RecsysError:
        return
    assert 0.0 <= out[f"hit_rate@{k}"] <= 1.0 and 0.0 <= out[f"ndcg@{k}"] <= 1.0


@pytest.mark.property
@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(-1, 9), max_size=5), max_size=4),
       st.lists(st.sets(st.integers(-1, 9), max_size=3), max_size=4), st.integers(0, 10), st.integers(0, 6))
def test_sample_negatives_refuses_or_draws_distinct_unseen_items(seen, positives, n_items, n_negatives):
    try:
        negs = M.sample_negatives(seen, positives, n_items, n_negatives, seed=0)
    except M.RecsysError:
        return
    assert negs.shape == (len(positives), n_negatives)
    for row, s, p in zip(negs, seen, positives):
        assert len(set(row.tolist())) == n_negatives and ((row >= 0) & (row < n_items)).all()
        assert not set(row.tolist()) & (set(s) | set(p))


rec_matrices = st.lists(st.lists(st.integers(-1, 6), min_size=2, max_size=3), min_size=1, max_size=3).filter(
    lambda rows: len({len(r) for r in rows}) == 1).map(np.array)


@pytest.mark.property
@settings(max_examples=50, deadline=None)
@given(rec_matrices, st.integers(0, 8))
def test_beyond_accuracy_metrics_refuse_or_lie_in_range(recs, n_items):
    emb = np.random.default_rng(0).normal(size=(max(n_items, 1), 3))
    counts = np.arange(max(n_items, 1)) % 3
    for fn, low, high in [(lambda: M.catalog_coverage(recs, n_items), 0.0, 1.0),
                          (lambda: M.intra_list_diversity(recs, emb[:n_items]), 0.0, 2.0),  # 1 - cosine
                          (lambda: M.novelty(recs, counts[:n_items], 3), 0.0, np.log2(4))]:
        try:
            value = fn()
        except M.RecsysError:
            continue
        assert low - 1e-12 <= value <= high + 1e-12


def test_prepare_ranking_cuts_to_k_and_hit_flags_marks_relevant_ids():
    rec, rel, k = M.prepare_ranking([5, 3, 9, 1], [3, 1, 1], 3)
    assert rec == [5, 3, 9] and rel == {1, 3} and k == 3
    assert M.hit_flags(rec, rel).tolist() == [False, True, False]
    with pytest.raises(ValueError):
        M.prepare_ranking([1, 1], [1], 2)  # a repeated recommendation would count a hit twice
