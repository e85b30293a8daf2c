"""Specification of the nearest-neighbour indexes: one shape for every kind, exact top-k
where it should be exact, high recall where it approximates, clear errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visrec_helpers.data import load_digits_8x8
from visrec_helpers.search.index import (
    INDEX_KINDS,
    ExactIndex,
    FaissIndex,
    augment_vectors,
    build_index,
    compression_recall,
    dims_for_variance,
    explained_variance_curve,
    knn_label_agreement,
    pca_basis,
    recall_at_k_vs_exact,
    relative_contrast,
    topk_cosine,
)
from visrec_helpers.vision.features import l2_normalize


def _unit(rng, n, d):
    return l2_normalize(rng.standard_normal((n, d)).astype(np.float32))


@pytest.fixture(scope="module")
def bench_like():
    """Real 8x8 digit vectors grown to 5,000 by the same augmentation the benchmark uses."""
    X, _ = load_digits_8x8()
    base = l2_normalize(X.reshape(len(X), -1).astype(np.float32))
    return augment_vectors(base, 5000, seed=0), augment_vectors(base, 100, seed=1)


def test_topk_cosine_golden():
    items = np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    scores, ids = topk_cosine(np.array([[1, 0]], dtype=np.float32), items, k=2)
    assert ids.tolist() == [[0, 2]]
    np.testing.assert_allclose(scores, [[1.0, 0.6]], atol=1e-6)


@pytest.mark.parametrize("kind", ["exact", "faiss-flat", "hnsw"])
def test_exact_kinds_return_the_exact_top_k_on_small_data(kind):
    rng = np.random.default_rng(0)
    items, queries = _unit(rng, 300, 16), _unit(rng, 20, 16)
    s_ref, i_ref = topk_cosine(queries, items, 5)
    scores, ids = build_index(items, kind=kind).search(queries, 5)
    assert ids.dtype == np.int64 and scores.dtype == np.float32 and ids.shape == (20, 5)
    np.testing.assert_array_equal(ids, i_ref)
    np.testing.assert_allclose(scores, s_ref, atol=1e-5)


def test_ivfpq_with_full_probe_and_refine_is_exact_on_small_data():
    rng = np.random.default_rng(1)
    items, queries = _unit(rng, 2000, 16), _unit(rng, 20, 16)
    _, i_ref = topk_cosine(queries, items, 5)
    idx = build_index(items, kind="faiss-ivfpq", nlist=8, nprobe=8, refine_factor=50)
    _, ids = idx.search(queries, 5)
    np.testing.assert_array_equal(ids, i_ref)


@pytest.mark.parametrize("kind", ["faiss-flat", "faiss-ivfpq", "hnsw"])
def test_default_settings_reach_recall_095_on_bench_like_data(kind, bench_like):
    items, queries = bench_like
    _, exact = build_index(items).search(queries, 10)
    _, ids = build_index(items, kind=kind).search(queries, 10)
    assert recall_at_k_vs_exact(ids, exact) >= 0.95


def test_ivfpq_without_refine_is_approximate(bench_like):
    items, queries = bench_like
    _, exact = build_index(items).search(queries, 10)
    _, ids = build_index(items, kind="faiss-ivfpq", refine=False, m=4).search(queries, 10)
    # 4 bytes per 64-d vector cannot keep the exact ranking.
    assert recall_at_k_vs_exact(ids, exact) < 0.9


@pytest.mark.parametrize("kind", INDEX_KINDS)
def test_add_grows_the_index_and_new_items_are_found(kind):
    rng = np.random.default_rng(2)
    items = _unit(rng, 600, 8)
    idx = build_index(items, kind=kind)
    new = _unit(rng, 5, 8)
    idx.add(new)
    assert len(idx) == 605
    _, ids = idx.search(new, 1)
    assert ids[:, 0].tolist() == list(range(600, 605))


@pytest.mark.parametrize("kind", INDEX_KINDS)
def test_dimension_mismatch_is_named(kind):
    idx = build_index(_unit(np.random.default_rng(3), 600, 8), kind=kind)
    with pytest.raises(ValueError, match="dimension mismatch"):
        idx.search(np.ones((1, 9), dtype=np.float32), 1)
    with pytest.raises(ValueError, match="dimension mismatch"):
        idx.add(np.ones((1, 7), dtype=np.float32))


@pytest.mark.parametrize("kind", INDEX_KINDS)
def test_nan_vectors_are_refused(kind):
    items = _unit(np.random.default_rng(4), 600, 8)
    idx = build_index(items, kind=kind)
    bad = items[:1].copy()
    bad[0, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        idx.search(bad, 1)
    with pytest.raises(ValueError, match="NaN"):
        idx.add(bad)
    with pytest.raises(ValueError, match="NaN"):
        build_index(np.vstack([items, bad]), kind=kind)


@pytest.mark.parametrize("kind", INDEX_KINDS)
def test_k_larger_than_the_index_is_refused(kind):
    idx = build_index(_unit(np.random.default_rng(5), 600, 8), kind=kind)
    with pytest.raises(ValueError, match="larger than"):
        idx.search(np.ones((1, 8), dtype=np.float32), 601)
    with pytest.raises(ValueError, match="positive integer"):
        idx.search(np.ones((1, 8), dtype=np.float32), 0)


@pytest.mark.parametrize("index", [ExactIndex(8), FaissIndex(8, "faiss-flat"), FaissIndex(8, "hnsw")])
def test_empty_index_is_refused(index):
    with pytest.raises(ValueError, match="empty"):
        index.search(np.ones((1, 8), dtype=np.float32), 1)


def test_unknown_kind_lists_the_available_ones():
    with pytest.raises(ValueError, match="faiss-ivfpq"):
        build_index(np.ones((3, 2), dtype=np.float32), kind="annoy")


def test_ivfpq_refuses_too_little_training_data():
    with pytest.raises(ValueError, match="needs at least"):
        build_index(_unit(np.random.default_rng(6), 50, 8), kind="faiss-ivfpq")


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(2, 12), st.integers(0, 10_000))
def test_augmented_vectors_are_unit_norm(n, d, seed):
    base = np.random.default_rng(seed).standard_normal((5, d)).astype(np.float32)
    out = augment_vectors(base, n, seed=seed)
    assert out.shape == (n, d) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_recall_vs_exact_golden():
    assert recall_at_k_vs_exact(np.array([[1, 2, 3], [4, 5, 6]]), np.array([[3, 2, 9], [7, 8, 9]])) == pytest.approx(2 / 6)


def test_pca_basis_keeps_inner_products_of_low_rank_data():
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((200, 3)) @ rng.standard_normal((3, 20))).astype(np.float32)
    p = pca_basis(x, 3)
    np.testing.assert_allclose((x @ p) @ (x @ p).T, x @ x.T, rtol=1e-3, atol=1e-3)


def test_explained_variance_curve_is_monotone_and_ends_at_one():
    curve = explained_variance_curve(np.random.default_rng(8).standard_normal((50, 10)))
    assert np.all(np.diff(curve) >= -1e-12) and curve[-1] == pytest.approx(1.0)


def test_compression_recall_rows_and_ordering(bench_like):
    items, queries = bench_like
    table = compression_recall(items[:2000], queries, sizes=(4, 32))
    assert table.iloc[0]["recall@10"] == 1.0
    pca = table[table.method == "PCA"].set_index("size")["recall@10"]
    assert pca[32] > pca[4]  # more dimensions keep more of the ranking
    assert set(table.method) == {"float32 (exact)", "PCA", "random projection", "PQ"}


def test_relative_contrast_shrinks_with_dimension():
    rng = np.random.default_rng(9)
    low = relative_contrast(rng.random((500, 2)))
    high = relative_contrast(rng.random((500, 500)))
    assert high < 0.5 < low


def test_dims_for_variance_golden():
    assert dims_for_variance(np.array([0.5, 0.85, 0.95, 1.0]), 0.9) == 3
    assert dims_for_variance(np.array([0.5, 0.9, 1.0]), 0.9) == 2


def test_knn_label_agreement_golden():
    pts = np.array([[0, 0], [0, 1], [10, 0], [10, 1]], dtype=np.float32)
    assert knn_label_agreement(pts, np.array([0, 0, 1, 1]), k=1) == 1.0
    assert knn_label_agreement(pts, np.array([0, 1, 0, 1]), k=1) == 0.0
    with pytest.raises(ValueError, match="larger than"):
        knn_label_agreement(pts, np.array([0, 0, 1, 1]), k=4)
