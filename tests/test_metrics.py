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
