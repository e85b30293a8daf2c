"""Specification of visrec_helpers.serving.spark and visrec_helpers.serving.architecture.

The Spark tests start one local session for the module and skip cleanly, with the
reason, when no Java runtime or no PySpark is available.
"""

import functools

import numpy as np
import pytest
import scipy.sparse as sp

from visrec_helpers.serving import architecture as arch
from visrec_helpers.serving import spark as vs

JAVA_OK, JAVA_MESSAGE = vs.java_status()


# --- without Spark ----------------------------------------------------------------

def test_java_status_reports_a_missing_java_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    ok, message = vs.java_status()
    assert not ok
    assert "no Java runtime found" in message and "install a Java 17+" in message


def test_get_spark_raises_a_clear_error_without_java(monkeypatch):
    monkeypatch.setattr(vs, "java_status", lambda min_version=17: (False, "no Java runtime found: install"))
    with pytest.raises(vs.JavaMissingError, match="no Java runtime found"):
        vs.get_spark()


def test_top_k_overlap_golden():
    assert vs.top_k_overlap([[1, 2], [3, 4]], [[2, 9], [3, 4]]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="same shape"):
        vs.top_k_overlap([[1, 2]], [[1, 2, 3]])


def test_bytes_per_vector_golden():
    assert arch.bytes_per_vector(256, "float32") == 1032
    assert arch.bytes_per_vector(256, "float16") == 520
    assert arch.bytes_per_vector(256, "pq", pq_m=32) == 40
    with pytest.raises(ValueError, match="divide"):
        arch.bytes_per_vector(10, "pq", pq_m=3)
    with pytest.raises(ValueError, match="unknown encoding"):
        arch.bytes_per_vector(8, "int4")


def test_capacity_plan_arithmetic_for_1e8_vectors():
    cost = {"seconds_per_code_pq": 1e-8, "seconds_per_vector_flat": 2e-8, "pq_m": 16, "dim": 64}
    plan = arch.capacity_plan(cost, n_items=1e8, dim=256, pq_m=32, node_ram_gb=64, ram_share=0.5,
                              cores_per_node=10, nlist=1000, nprobe=10, peak_qps=1000).set_index("encoding")
    assert plan.loc["float32", "index GB"] == pytest.approx(103.2)
    assert plan.loc["float32", "shards"] == 4  # 103.2 GB / 32 GB usable per node
    assert plan.loc["pq", "index GB"] == pytest.approx(4.0) and plan.loc["pq", "shards"] == 1
    # pq: 1e6 codes scanned x 1e-8 s x 32/16 = 20 ms per query; 10 cores -> 500 QPS -> 2 replica sets
    assert plan.loc["pq", "ms/query/shard"] == pytest.approx(20.0)
    assert plan.loc["pq", "QPS per replica set"] == pytest.approx(500.0)
    assert plan.loc["pq", "replica sets"] == 2 and plan.loc["pq", "nodes"] == 2
    # float32: 1e6 / 4 shards x 2e-8 x 256/64 = 20 ms
    assert plan.loc["float32", "ms/query/shard"] == pytest.approx(20.0)
    assert plan.loc["float32", "nodes"] == 8
    with pytest.raises(ValueError, match="measure_scan_cost"):
        arch.capacity_plan({}, n_items=10)


def test_capacity_plan_counts_the_coarse_quantiser_and_cpu_headroom():
    cost = {"seconds_per_code_pq": 1e-8, "seconds_per_vector_flat": 2e-8, "pq_m": 16, "dim": 64,
            "seconds_per_centroid": 5e-9}
    plan = arch.capacity_plan(cost, n_items=1e8, dim=256, pq_m=32, node_ram_gb=64, ram_share=0.5,
                              cores_per_node=10, nlist=1000, nprobe=10, peak_qps=1000,
                              cpu_target=0.5).set_index("encoding")
    # coarse: 1000 centroids x 5e-9 s x 256/64 = 0.02 ms on every shard, on top of the 20 ms scan
    assert plan.loc["pq", "coarse ms"] == pytest.approx(0.02)
    assert plan.loc["pq", "scan ms"] == pytest.approx(20.0)
    assert plan.loc["pq", "ms/query/shard"] == pytest.approx(20.02)
    # half the cores' time is kept free: 10 x 0.5 / 20.02 ms = 249.75 QPS -> 5 replica sets
    assert plan.loc["pq", "QPS per replica set"] == pytest.approx(5 / 0.02002)
    assert plan.loc["pq", "replica sets"] == 5
    with pytest.raises(ValueError, match="cpu_target"):
        arch.capacity_plan(cost, cpu_target=1.5)


def test_measure_scan_cost_returns_positive_costs():
    v = np.random.default_rng(0).normal(size=(2000, 8)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    cost = arch.measure_scan_cost(v, nlist=16, nprobe=4, pq_m=4, n_queries=20)
    assert cost["codes_scanned_per_query"] == 500
    assert cost["seconds_per_code_pq"] > 0 and cost["seconds_per_vector_flat"] > 0
    assert cost["seconds_per_centroid"] > 0 and cost["ms_per_query_coarse"] > 0
    with pytest.raises(ValueError, match="too few"):
        arch.measure_scan_cost(v[:100], nlist=16, pq_m=4)


def test_draw_architecture_draws_boxes():
    import matplotlib

    matplotlib.use("Agg")
    ax = arch.draw_architecture()
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "Kafka" in texts and "vector index" in texts and "Spark ALS" in texts


# --- with a local Spark session ---------------------------------------------------

needs_spark = pytest.mark.skipif(not JAVA_OK, reason=f"Spark tests need Java: {JAVA_MESSAGE}")


@pytest.fixture(scope="module")
def spark():
    if not JAVA_OK:
        pytest.skip(f"Spark tests need Java: {JAVA_MESSAGE}")
    pytest.importorskip("pyspark", reason="PySpark is not installed (pip install '.[spark]')")
    session = vs.get_spark("visrec-tests", cores=1)
    yield session
    session.stop()


@needs_spark
def test_embed_job_matches_in_process_embeddings(spark):
    import torch

    from visrec_helpers.vision.features import embed
    from visrec_helpers.vision.models import DigitCNN

    torch.manual_seed(0)
    model = DigitCNN(embed_dim=16, width=8).eval()
    images = np.random.default_rng(0).integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    frame = vs.embed_job(spark, vs.images_frame(spark, images, partitions=2),
                         functools.partial(DigitCNN, embed_dim=16, width=8), model, (28, 28))
    got = vs.collect_embeddings(frame, n_items=12)
    np.testing.assert_allclose(got, embed(model, images, device="cpu"), atol=1e-5)


def test_backbone_embed_matches_the_encoder():
    pytest.importorskip("timm")
    from visrec_helpers.vision.pretrained import efficientnet_lite0, pretrained_encoder

    images = np.random.default_rng(0).integers(0, 256, size=(3, 40, 40, 3), dtype=np.uint8)
    net = efficientnet_lite0(weights=True)
    got = vs.backbone_embed(net, images, input_size=64)
    want = pretrained_encoder(device="cpu", input_size=64, fast=False).embed(images)
    assert got.shape == (3, 1280)
    np.testing.assert_allclose(got, want, atol=1e-5)


@needs_spark
def test_als_job_ignores_columns_other_than_user_item_rating(spark):
    # the article's bug: image features sit next to the ratings, and ALS never reads them
    import pandas as pd

    rng = np.random.default_rng(0)
    pdf = pd.DataFrame({"user": rng.integers(0, 15, 120).astype(np.int32),
                        "item": rng.integers(0, 10, 120).astype(np.int32), "rating": np.ones(120, np.float32)})
    plain = vs.als_job(spark.createDataFrame(pdf), factors=3, iterations=3)
    pdf["image_features"] = list(rng.normal(size=(120, 4)))
    with_features = vs.als_job(spark.createDataFrame(pdf), factors=3, iterations=3)
    a = vs.factor_matrix(plain.itemFactors, 10, 3)
    b = vs.factor_matrix(with_features.itemFactors, 10, 3)
    np.testing.assert_array_equal(a, b)


@needs_spark
def test_spark_als_learns_block_structure(spark):
    # two groups of users who each interact with one half of the items
    rng = np.random.default_rng(0)
    m = np.zeros((40, 20))
    m[:20, :10] = rng.random((20, 10)) < 0.4
    m[20:, 10:] = rng.random((20, 10)) < 0.4
    m[np.arange(40), np.where(np.arange(40) < 20, 0, 10)] = 1  # nobody is empty
    model = vs.SparkALS(spark, factors=4, regularization=0.01, alpha=10, iterations=5).fit(sp.csr_matrix(m))
    assert model.user_factors_.shape == (40, 4) and model.item_factors_.shape == (20, 4)
    recs = model.recommend(np.arange(40), k=2)
    assert (recs[:20] < 10).all() and (recs[20:] >= 10).all()
    assert not any(m[u, i] for u in range(40) for i in recs[u])


@needs_spark
def test_images_frame_rejects_bad_images(spark):
    with pytest.raises(ValueError, match="uint8"):
        vs.images_frame(spark, np.zeros((2, 4, 4), dtype=np.float32))


@needs_spark
def test_collect_embeddings_rejects_missing_items(spark):
    import pandas as pd

    frame = spark.createDataFrame(pd.DataFrame({"item": [0, 2], "embedding": [[1.0], [0.5]]}))
    with pytest.raises(ValueError, match="one embedding for each item"):
        vs.collect_embeddings(frame, n_items=3)
