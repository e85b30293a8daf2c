"""The million-item benchmark's quick mode (100,000 items), as CI runs it: tables and sanity, never timings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from visrec_book.benchmarks import bench_million as bm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_million")
    return out, dict(bm.run(quick=True, out_dir=out))


def _retrieval(tables):
    return [df for title, df in tables.items() if title.startswith("Retrieval")]


def test_quick_run_has_one_retrieval_table_per_dimension_and_the_serving_tables(quick):
    _, tables = quick
    assert len(_retrieval(tables)) == len(bm.QUICK["dims"])
    titles = list(tables)
    assert any(t.startswith("Real-time serving") for t in titles)
    assert any(t.startswith("Adding") for t in titles)
    assert any(t.startswith("Issue 18 goals") for t in titles)


def test_every_kind_is_measured_at_its_operating_points(quick):
    _, tables = quick
    for df in _retrieval(tables):
        for kind in ("exact", "faiss-flat", "faiss-ivf", "faiss-ivfpq", "ivfpq-compact", "hnsw"):
            expected = len(bm.OPERATING_POINTS[kind][1]) if kind in bm.OPERATING_POINTS else 1
            assert (df["index"] == kind).sum() == expected, kind


def test_recalls_are_shares_and_exact_search_is_the_reference(quick):
    _, tables = quick
    for df in _retrieval(tables):
        assert df["recall@10"].between(0.0, 1.0).all()
        assert df.loc[df["index"] == "exact", "recall@10"].tolist() == [1.0]
        assert df.loc[df["index"] == "exact", "x exact"].tolist() == [1.0]
        assert df.loc[df["index"] == "faiss-flat", "recall@10"].iloc[0] >= 0.999  # brute force too


def test_speeds_sizes_and_build_times_are_positive(quick):
    _, tables = quick
    for df in _retrieval(tables):
        assert (df["queries/s"] > 0).all() and (df["x exact"] > 0).all()
        assert (df["build s"] >= 0).all() and (df["build CPU s"] >= 0).all()
        d = int(df.attrs["dim"])
        assert df.loc[df["index"] == "exact", "bytes/vector"].iloc[0] == 4 * d
        # The compact kind keeps no full vectors: well under the 4 d bytes of a float32 row.
        assert df.loc[df["index"] == "ivfpq-compact", "bytes/vector"].iloc[0] < 4 * d


def test_serving_latencies_are_ordered_percentiles(quick):
    _, tables = quick
    serving = next(df for t, df in tables.items() if t.startswith("Real-time serving"))
    assert len(serving) >= 4
    assert (serving["p50 ms"] > 0).all()
    assert (serving["p50 ms"] <= serving["p95 ms"]).all() and (serving["p95 ms"] <= serving["p99 ms"]).all()


def test_adds_report_rates_and_recalls_after_ten_percent_new_items(quick):
    _, tables = quick
    adds = next(df for t, df in tables.items() if t.startswith("Adding"))
    assert set(adds["new items"]) == {int(bm.NEW_SHARE * bm.QUICK["n"])}
    assert (adds["adds/s"] > 0).all()
    for col in ("recall@10 old queries", "recall@10 new-item queries"):
        assert adds[col].between(0.0, 1.0).all()


def test_plot_and_figures_json_are_written(quick):
    out, tables = quick
    for df in _retrieval(tables):
        png = df.attrs["plot"]
        assert png.endswith(".png") and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    figures = json.loads((out / bm.FIGURES_JSON.name).read_text())
    assert figures["n"] == bm.QUICK["n"]
    assert set(figures["retrieval"]) == {str(d) for d in bm.QUICK["dims"]}


def test_grow_vectors_keeps_unit_rows_and_each_vectors_label():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(30, 8)).astype(np.float32)
    base[15:] += 5.0  # two far-apart clusters
    labels = np.repeat([0, 1], 15)
    v, lab = bm.grow_vectors(base, labels, 500, seed=1, return_labels=True)
    assert v.shape == (500, 8) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    centre = base[15:].mean(axis=0) / np.linalg.norm(base[15:].mean(axis=0))
    # Mixtures stay inside their label's cluster: closer to its centre for label 1 than label 0 is.
    assert (v[lab == 1] @ centre).mean() > (v[lab == 0] @ centre).mean() + 0.5


def test_grow_vectors_refuses_mismatched_labels():
    with pytest.raises(ValueError, match="one label per row"):
        bm.grow_vectors(np.zeros((3, 4), np.float32), np.zeros(2), 10)


def test_exact_search_matches_a_full_sort():
    rng = np.random.default_rng(0)
    items = rng.normal(size=(300, 16)).astype(np.float32)
    queries = rng.normal(size=(70, 16)).astype(np.float32)
    expected = np.argsort(-(queries @ items.T), axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(bm.exact_search(items, queries, k=10, block=16), expected)


def test_compact_index_returns_k_unseen_items():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(4000, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    index = bm.CompactIVFPQ(16, nlist=16, nprobe=1, m=4, m_refine=8, train_size=4000).add(v)
    seen = [np.arange(0, 4000, 2)]  # every even id
    _, ids = index.search(v[:1], 10, exclude=seen)
    assert ids.shape == (1, 10) and len(set(ids[0])) == 10
    assert (ids % 2 == 1).all()


def test_scan_costs_reads_a_full_runs_figures(tmp_path):
    # IVF-Flat: 0.05 ms fixed (coarse quantiser) + 125 ns per scanned vector (1e6 * nprobe / 4000 of them)
    rows = [{"index": "faiss-ivf", "setting": "nprobe=8", "recall@10": 0.90, "queries/s": 1 / 0.30e-3},
            {"index": "faiss-ivf", "setting": "nprobe=32", "recall@10": 0.97, "queries/s": 1 / 1.05e-3},
            {"index": "faiss-ivfpq", "setting": "nprobe=8", "recall@10": 0.96, "queries/s": 2000.0}]
    path = tmp_path / "bench_million.json"
    path.write_text(json.dumps({"n": 1_000_000, "nlist": 4000, "retrieval": {"64": rows}}))
    cost = bm.scan_costs(path, dim=64)
    # IVF-PQ: 0.5 ms a query over 1e6 * 8 / 4000 = 2,000 codes; IVF-Flat at nprobe=32 (first >= 0.95).
    assert cost["nprobe"] == 8 and cost["nprobe_flat"] == 32 and cost["pq_m"] == 16
    assert cost["seconds_per_code_pq"] == pytest.approx(0.5e-3 / 2000)
    assert cost["seconds_per_vector_flat"] == pytest.approx(1.05e-3 / 8000)
    assert cost["coarse_ms_per_query"] == pytest.approx(0.05)  # the line's fixed part, not nlist x per-vector


def test_scan_costs_ignores_missing_files_and_quick_runs(tmp_path):
    assert bm.scan_costs(tmp_path / "absent.json") is None
    path = tmp_path / "quick.json"
    path.write_text(json.dumps({"n": 100_000, "retrieval": {"64": []}}))
    assert bm.scan_costs(path) is None


def test_coarse_quantisers_train_on_at_least_forty_vectors_per_cell():
    assert bm.train_size_for(4096, 1_000_000, 50_000) == 163_840  # 50,000 would leave 12 per cell
    assert bm.train_size_for(512, 100_000, 20_000) == 20_480
    assert bm.train_size_for(512, 10_000, 20_000) == 10_000  # never more than there are
    assert bm.train_size_for(16, 100_000, 20_000) == 20_000  # the configured minimum otherwise
