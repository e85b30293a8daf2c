"""search.quantisation: product quantisation by hand, scalar quantisation, recall at equal bytes."""

import faiss
import numpy as np
import pytest

from visrec_helpers.search.index import IndexInputError
from visrec_helpers.search.quantisation import (
    adc_search,
    bytes_recall_table,
    extrapolate_ivf,
    int8_decode,
    int8_encode,
    int8_fit,
    ivf_cost_split,
    kmeans,
    nearest_centroid,
    pca_fit,
    pq_decode,
    pq_encode,
    random_projection_matrix,
    recall_per_query,
    train_codebooks,
)


@pytest.fixture(scope="module")
def clustered():
    """600 unit vectors in 12 tight clusters (d = 16) and 40 queries near them."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((12, 16))
    x = centres[rng.integers(0, 12, 640)] + 0.2 * rng.standard_normal((640, 16))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return x[:600], x[600:]


def test_nearest_centroid_golden():
    x = np.array([[0.0, 0.0], [2.9, 3.0], [10.0, -1.0]], np.float32)
    c = np.array([[3.0, 3.0], [0.1, 0.0], [9.0, 0.0]], np.float32)
    assert nearest_centroid(x, c).tolist() == [1, 0, 2]


def test_kmeans_finds_well_separated_clusters():
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [10, 0], [0, 10]], np.float32)
    x = np.repeat(centres, 50, axis=0) + 0.1 * rng.standard_normal((150, 2)).astype(np.float32)
    found = kmeans(x, 3, iterations=10, seed=0)
    assert np.allclose(np.sort(found, axis=0), np.sort(centres, axis=0), atol=0.1)


def test_kmeans_reseeds_empty_centroids_and_keeps_k_distinct():
    x = np.array([[0.0], [0.0], [0.0], [5.0]], np.float32)
    c = kmeans(x, 2, iterations=3, seed=0)
    assert c.shape == (2, 1) and set(np.round(c.ravel(), 4)) == {0.0, 5.0}


def test_kmeans_rejects_more_centroids_than_points():
    with pytest.raises(ValueError, match="k=5"):
        kmeans(np.zeros((3, 2), np.float32), 5)


def test_codebooks_shape_and_m_must_divide_d(clustered):
    x, _ = clustered
    books = train_codebooks(x, 4, n_centroids=8, iterations=3)
    assert books.shape == (4, 8, 4) and books.dtype == np.float32
    with pytest.raises(ValueError, match="m=5"):
        train_codebooks(x, 5)


def test_encode_picks_the_nearest_centroid_per_piece(clustered):
    x, _ = clustered
    books = train_codebooks(x, 4, n_centroids=16, iterations=5)
    codes = pq_encode(x, books)
    assert codes.shape == (600, 4) and codes.dtype == np.uint8
    piece = x[:, 4:8]
    dist = ((piece[:, None, :] - books[1][None]) ** 2).sum(-1)
    assert np.array_equal(codes[:, 1], dist.argmin(1))


def test_adc_distances_equal_distances_to_decoded_vectors(clustered):
    x, q = clustered
    books = train_codebooks(x, 8, n_centroids=16, iterations=5)
    codes = pq_encode(x, books)
    dist, ids = adc_search(q, codes, books, 5)
    full = ((pq_decode(codes, books)[None] - q[:, None]) ** 2).sum(-1)
    assert np.allclose(dist, np.sort(full, axis=1)[:, :5], atol=1e-5)
    assert np.allclose(np.take_along_axis(full, ids, axis=1), dist, atol=1e-5)


def test_same_codes_and_distances_as_faiss_given_our_codebooks(clustered):
    x, q = clustered
    books = train_codebooks(x, 4, n_centroids=256, iterations=4)
    ref = faiss.IndexPQ(16, 4, 8)
    faiss.copy_array_to_vector(books.ravel(), ref.pq.centroids)
    ref.is_trained = True
    ref.add(x)
    codes = pq_encode(x, books)
    assert np.array_equal(ref.pq.compute_codes(x), codes)
    ref_dist, _ = ref.search(q, 10)
    dist, _ = adc_search(q, codes, books, 10)
    assert np.allclose(ref_dist, dist, atol=1e-5)


def test_pq_recall_rises_with_bytes(clustered):
    x, q = clustered
    table = bytes_recall_table(x, q, [2, 8], methods=("PQ",), iterations=8)
    r = dict(zip(table.bytes, table.recall))
    assert r[8] > r[2]


def test_encode_rejects_wrong_dimension():
    books = np.zeros((2, 4, 3), np.float32)
    with pytest.raises(IndexInputError):
        pq_encode(np.zeros((5, 7), np.float32), books)


def test_pca_fit_centres_and_keeps_the_top_direction():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((200, 1)) * [[5.0, 0.0, 0.0]] + rng.standard_normal((200, 3)) * 0.1 + 7).astype(np.float32)
    mean, basis = pca_fit(x, 1)
    assert np.allclose(mean, x.mean(0), atol=1e-4)
    assert abs(abs(basis[0, 0]) - 1) < 1e-2
    with pytest.raises(ValueError, match="dim=4"):
        pca_fit(x, 4)


def test_int8_roundtrip_error_within_half_a_step():
    z = np.random.default_rng(4).normal(size=(100, 5)).astype(np.float32)
    low, step = int8_fit(z)
    codes = int8_encode(z, low, step)
    assert codes.dtype == np.uint8 and codes.min() == 0 and codes.max() == 255
    assert np.all(np.abs(int8_decode(codes, low, step) - z) <= step / 2 + 1e-6)


def test_int8_clips_values_outside_the_fitted_range():
    low, step = np.zeros(1, np.float32), np.ones(1, np.float32)
    assert int8_encode(np.array([[-3.0], [300.0]], np.float32), low, step).ravel().tolist() == [0, 255]


def test_random_projection_keeps_squared_lengths_on_average():
    p = random_projection_matrix(64, 2000, seed=0)
    x = np.random.default_rng(5).standard_normal((50, 64)).astype(np.float32)
    ratio = ((x @ p) ** 2).sum(1) / (x**2).sum(1)
    assert abs(ratio.mean() - 1) < 0.05


def test_recall_per_query_golden():
    assert recall_per_query(np.array([[1, 2, 3], [4, 5, 6]]), np.array([[3, 2, 9], [7, 8, 9]])).tolist() == [2 / 3, 0]


def test_bytes_recall_table_spends_exactly_the_budget(clustered):
    x, q = clustered
    table = bytes_recall_table(x, q, [8], methods=("PCA float32", "PCA float16", "PCA int8",
                                                   "random projection, centred"), k=5)
    assert dict(zip(table.method, table.numbers)) == {"PCA float32": 2, "PCA float16": 4, "PCA int8": 8,
                                                       "random projection, centred": 2}
    assert (table.low <= table.recall).all() and (table.recall <= table.high).all()
    assert set(table.attrs["per_query"]) == {(m, 8) for m in table.method}


def test_bytes_recall_table_skips_budgets_a_method_cannot_spend(clustered):
    x, q = clustered
    table = bytes_recall_table(x, q, [3], methods=("PQ", "PCA float32", "PCA int8"), k=5)
    assert table.method.tolist() == ["PCA int8"]  # 3 does not divide 16, nor is it a multiple of 4


def test_bytes_recall_table_rejects_unknown_methods(clustered):
    x, q = clustered
    with pytest.raises(ValueError, match="unknown methods"):
        bytes_recall_table(x, q, [8], methods=("LSH",))


def test_ivf_cost_split_recovers_fixed_and_per_code_costs():
    # 1e6 items, 4096 cells: a query costs 0.05 ms + 20 ns per scanned code
    nprobes = np.array([8, 32, 128])
    seconds = 50e-6 + 20e-9 * 1e6 * nprobes / 4096
    split = ivf_cost_split(1_000_000, 4096, nprobes, 1 / seconds)
    assert split["fixed_ms"] == pytest.approx(0.05) and split["ns_per_code"] == pytest.approx(20.0)
    assert split["ns_per_centroid"] == pytest.approx(50e3 / 4096)


def test_ivf_cost_split_needs_two_operating_points():
    with pytest.raises(ValueError, match="2 distinct nprobe"):
        ivf_cost_split(1000, 10, [8], [100.0])


def test_extrapolate_ivf_grows_coarse_with_cells_and_scan_with_items():
    split = {"ns_per_centroid": 10.0, "ns_per_code": 20.0}
    out = extrapolate_ivf(split, 1e8, 65_536, 8)
    assert out["codes_scanned"] == pytest.approx(1e8 * 8 / 65_536)
    assert out["coarse_ms"] == pytest.approx(65_536 * 10e-6)
    assert out["ms_per_query"] == pytest.approx(out["coarse_ms"] + out["codes_scanned"] * 20e-6)
