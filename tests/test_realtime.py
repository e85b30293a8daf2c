"""Specification of visrec_helpers.serving.realtime: events, profiles, serving, latency, synthetic scale."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from visrec_helpers.data import DataError, load_interactions_csv
from visrec_helpers.recsys.base import Recommender
from visrec_helpers.search.index import IndexInputError
from visrec_helpers.serving.realtime import (
    EVENT_WEIGHTS,
    Event,
    LatencyRecorder,
    OnlinePopularity,
    ProfileStore,
    RealtimeRecommender,
    augment_embeddings,
    events_from_interactions,
    replay,
    run_replay,
    serving_index,
    truth_precision,
)

E2 = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)


def _unit_rows(n, d, seed=0):
    v = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# --- events and replay -------------------------------------------------------

def test_events_from_interactions_maps_weights_to_kinds_and_sorts_by_time():
    df = pd.DataFrame({"user": [0, 0, 1], "item": [2, 1, 0], "weight": [1.0, 3.0, 0.0],
                       "timestamp": [30.0, 10.0, 20.0]})
    ev = events_from_interactions(df)
    assert ev["timestamp"].tolist() == [10.0, 20.0, 30.0]
    assert ev["kind"].tolist() == ["like", "skip", "view"]
    assert ev["item"].tolist() == [1, 0, 2]


def test_events_from_interactions_reads_the_event_column_when_there_is_one():
    # the simulator's log: a skip weighs 0 by the data layer's policy, and the event column names it
    df = pd.DataFrame({"user": [0, 0, 1], "item": [2, 1, 0], "event": ["view", "skip", "like"],
                       "weight": [1.0, 0.0, 3.0], "timestamp": [30.0, 10.0, 20.0]})
    assert events_from_interactions(df)["kind"].tolist() == ["skip", "like", "view"]
    with pytest.raises(DataError, match="unknown event"):
        events_from_interactions(df.assign(event=["view", "click", "like"]))


def test_profile_and_popularity_weights_come_from_the_data_layer_policy():
    from visrec_helpers.data import WEIGHT_POLICIES

    assert EVENT_WEIGHTS is WEIGHT_POLICIES["signed"] and EVENT_WEIGHTS["skip"] < 0
    pop = OnlinePopularity(3, k=1)
    for user, (kind, item) in enumerate((("skip", 0), ("view", 1), ("like", 2))):
        pop.on_event(Event(user, item, kind, 0.0))
    np.testing.assert_array_equal(pop.counts_, [0.0, 1.0, 3.0])  # a skip adds nothing, never a negative count


def test_replay_yields_time_order_and_keeps_input_order_for_ties():
    ev = pd.DataFrame({"user": [5, 6, 7, 8], "item": [0, 1, 2, 3], "kind": ["view"] * 4,
                       "timestamp": [2.0, 1.0, 2.0, 0.5]})
    assert [e.user for e in replay(ev)] == [8, 6, 5, 7]
    assert [e.user for e in replay(ev, limit=2)] == [8, 6]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=40))
def test_replay_timestamps_never_go_backwards(times):
    ev = pd.DataFrame({"user": range(len(times)), "item": [0] * len(times), "kind": ["view"] * len(times),
                       "timestamp": times})
    out = [e.timestamp for e in replay(ev)]
    assert out == sorted(times)


def test_replay_rejects_unknown_kind_missing_columns_and_nan_time():
    ok = pd.DataFrame({"user": [0], "item": [0], "kind": ["view"], "timestamp": [0.0]})
    with pytest.raises(DataError, match="unknown event kind"):
        list(replay(ok.assign(kind="buy")))
    with pytest.raises(DataError, match="missing column"):
        list(replay(ok.drop(columns="kind")))
    with pytest.raises(DataError, match="timestamp"):
        list(replay(ok.assign(timestamp=np.nan)))


def test_events_from_a_users_csv_file(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user,item,weight,timestamp\nann,1,3,5\nbob,0,1,1\n")
    ev = events_from_interactions(load_interactions_csv(path, n_items=2))  # as q06 and t08 read DATA_DIR
    assert ev["kind"].tolist() == ["view", "like"]
    assert ev["item"].tolist() == [0, 1]


def test_events_need_a_timestamp_column():
    with pytest.raises(DataError, match="timestamp"):
        events_from_interactions(pd.DataFrame({"user": [0], "item": [0]}))


# --- profile store -------------------------------------------------------------

def test_long_term_profile_exact_values_with_half_life_one():
    store = ProfileStore(E2, long_half_life=1.0, session_half_life=1.0)
    store.update(Event(0, 0, "view", 0.0))
    store.update(Event(0, 1, "view", 1.0))
    np.testing.assert_allclose(store.raw(0, "long"), [0.5, 1.0])
    np.testing.assert_allclose(store.profile(0, "long"), np.array([0.5, 1.0]) / np.sqrt(1.25), rtol=1e-6)


def test_like_weighs_three_views_and_skip_pushes_away():
    store = ProfileStore(E2, long_half_life=1e9)
    store.update(Event(0, 0, "like", 0.0))
    store.update(Event(0, 1, "skip", 1.0))
    np.testing.assert_allclose(store.raw(0, "long"), [3.0, -0.5], rtol=1e-6)


def test_session_resets_after_a_gap_but_long_term_does_not():
    store = ProfileStore(E2, long_half_life=1e9, session_half_life=1e9, session_gap=100.0)
    store.update(Event(0, 0, "view", 0.0))
    store.update(Event(0, 1, "view", 500.0))
    np.testing.assert_allclose(store.raw(0, "session"), [0.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(store.raw(0, "long"), [1.0, 1.0], rtol=1e-6)


def test_blend_is_the_normalised_mix_of_unit_profiles():
    store = ProfileStore(E2, long_half_life=1e9, session_half_life=1.0)
    for t, item in enumerate([0, 0, 1]):
        store.update(Event(0, item, "view", float(t)))
    s = store.raw(0, "session") / np.linalg.norm(store.raw(0, "session"))
    lo = store.raw(0, "long") / np.linalg.norm(store.raw(0, "long"))
    want = 0.25 * s + 0.75 * lo
    np.testing.assert_allclose(store.profile(0, "blend", 0.25), want / np.linalg.norm(want), rtol=1e-5)


def test_profiles_are_independent_per_user_and_track_seen_items():
    store = ProfileStore(E2)
    store.update(Event(1, 2, "view", 0.0))
    store.update(Event(2, 0, "view", 0.0))
    assert store.seen(1) == {2} and store.seen(2) == {0} and store.seen(99) == set()
    np.testing.assert_allclose(store.profile(1, "long"), E2[2], rtol=1e-6)


def test_store_grows_past_its_initial_capacity():
    store = ProfileStore(E2)
    for u in range(40):
        store.update(Event(u, u % 3, "view", 0.0))
    assert len(store) == 40
    np.testing.assert_allclose(store.profile(39, "long"), E2[0], rtol=1e-6)


def test_store_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        ProfileStore(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="non-empty"):
        ProfileStore(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="half_life"):
        ProfileStore(E2, long_half_life=0)
    store = ProfileStore(E2)
    with pytest.raises(ValueError, match="unknown item id 3"):
        store.update(Event(0, 3, "view", 0.0))
    with pytest.raises(ValueError, match="unknown event kind"):
        store.update(Event(0, 0, "buy", 0.0))
    with pytest.raises(KeyError, match="unknown user 7"):
        store.profile(7)
    with pytest.raises(ValueError, match="dimension mismatch"):
        store.add_items(np.ones((1, 3)))


# --- latency recorder -----------------------------------------------------------

def test_latency_summary_percentiles_and_throughput():
    rec = LatencyRecorder()
    for ms in range(1, 101):
        rec.add(ms / 1000.0)
    s = rec.summary()
    assert s["n"] == 100
    assert s["p50_ms"] == pytest.approx(50.5)
    assert s["p95_ms"] == pytest.approx(95.05)
    assert s["p99_ms"] == pytest.approx(99.01)
    assert s["max_ms"] == pytest.approx(100.0)
    assert s["throughput_eps"] == pytest.approx(100 / 5.05)


def test_latency_measure_records_a_block():
    rec = LatencyRecorder()
    with rec.measure():
        sum(range(1000))
    assert len(rec) == 1 and rec.seconds_[0] >= 0


def test_latency_rejects_negative_and_empty():
    rec = LatencyRecorder()
    with pytest.raises(ValueError, match="no latencies"):
        rec.summary()
    with pytest.raises(ValueError, match="non-negative"):
        rec.add(-1.0)
    with pytest.raises(ValueError, match="non-negative"):
        rec.add(float("nan"))


# --- serving -------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["exact", "faiss-flat"])
def test_recommend_matches_brute_force_and_filters_seen(kind):
    v = _unit_rows(200, 8)
    store = ProfileStore(v)
    server = RealtimeRecommender(store, serving_index(v, kind), k=5, profile="long")
    recs = server.on_event(Event(0, 3, "view", 0.0))
    assert 3 not in recs
    want = [i for i in np.argsort(-(v @ v[3]), kind="stable") if i != 3][:5]
    assert recs.tolist() == want
    assert len(server.latency_) == 1


def test_approximate_index_still_returns_k_unseen():
    v = _unit_rows(2000, 8)
    store = ProfileStore(v)
    server = RealtimeRecommender(store, serving_index(v, "faiss-ivf", nlist=16, nprobe=1), k=10)
    for t in range(30):
        recs = server.on_event(Event(0, t, "view", float(t)))
        assert len(recs) == 10 and not set(recs.tolist()) & store.seen(0)


def test_incremental_add_makes_a_new_item_servable_without_rebuild():
    v = _unit_rows(50, 4)
    store = ProfileStore(v)
    index = serving_index(v, "exact")
    server = RealtimeRecommender(store, index, k=1, profile="long")
    store.update(Event(0, 0, "view", 0.0))
    new = -v[0:1].copy()
    new[0, 0] = -new[0, 0]  # not a duplicate of item 0
    twin = v[0:1] * 0.999 + 0.001  # almost item 0: should become the top recommendation
    twin /= np.linalg.norm(twin)
    ids = server.add_items(np.vstack([new, twin]))
    assert ids.tolist() == [50, 51]
    assert len(index) == 52 and len(store.item_vectors_) == 52
    assert server.recommend_user(0).tolist() == [51]


def test_recommend_rejects_k_larger_than_unseen():
    store = ProfileStore(E2)
    server = RealtimeRecommender(store, serving_index(E2, "exact"), k=2)
    store.update(Event(0, 0, "view", 0.0))
    with pytest.raises(IndexInputError, match="k=3: user 0 has seen 1 of 3 items, fewer than k left"):
        server.recommend_user(0, k=3)
    with pytest.raises(ValueError, match="larger than the catalog"):
        RealtimeRecommender(store, serving_index(E2, "exact"), k=4)
    with pytest.raises(ValueError, match="index holds"):
        RealtimeRecommender(store, serving_index(E2[:2], "exact"))


def test_run_replay_records_latency_next_hit_and_truth_score():
    v = _unit_rows(30, 4)
    ev = pd.DataFrame({"user": [0, 0, 1], "item": [1, 2, 3], "kind": ["view"] * 3, "timestamp": [0.0, 1.0, 0.5]})

    class Truth:
        utility = np.tile(np.arange(30.0), (2, 1))

    server = RealtimeRecommender(ProfileStore(v), serving_index(v, "exact"), k=5)
    out = run_replay(server, ev, truth=truth_precision(Truth, top_n=10), progress=False)
    assert out["user"].tolist() == [0, 1, 0]
    assert (out["latency_ms"] >= 0).all()
    assert out["next_hit"].isna().tolist() == [False, True, True]
    assert out["truth_score"].between(0, 1).all()


def test_truth_precision_counts_share_in_true_top():
    class Truth:
        utility = np.array([[5.0, 4.0, 3.0, 0.0, 0.0]])

    score = truth_precision(Truth, top_n=2)
    assert score(0, [0, 3]) == 0.5
    assert score(0, [0, 1]) == 1.0
    with pytest.raises(ValueError, match="unknown user"):
        score(1, [0])


# --- scale ---------------------------------------------------------------------

def test_augment_embeddings_keeps_real_items_and_unit_norm():
    v = _unit_rows(10, 6)
    big, labels = augment_embeddings(v, np.arange(10), 35, noise=0.05)
    assert big.shape == (35, 6) and labels.tolist() == (list(range(10)) * 4)[:35]
    np.testing.assert_allclose(big[:10], v, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(big, axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="smaller"):
        augment_embeddings(v, np.arange(10), 5)


def test_online_popularity_ranks_by_counts_and_skips_seen():
    pop = OnlinePopularity(n_items=6, k=2)
    for t, (u, i) in enumerate([(0, 3), (1, 3), (1, 5), (2, 5), (3, 5)]):
        pop.on_event(Event(u, i, "view", float(t)))
    assert pop.recommend([9], k=2).tolist() == [[5, 3]]
    assert pop.recommend([1], k=2).tolist() == [[0, 1]]  # 3 and 5 seen; ties broken by id
    rnd = OnlinePopularity(n_items=6, k=3, random=True)
    recs = rnd.on_event(Event(0, 2, "view", 0.0))
    assert recs.shape == (3,) and len(set(recs.tolist())) == 3 and 2 not in recs
    with pytest.raises(ValueError, match="k must be"):
        OnlinePopularity(n_items=3, k=3)


def test_online_popularity_follows_the_recommender_contract():
    X = sp.csr_matrix(np.array([[1, 0, 3, 0], [0, 0, 1, 1], [0, 0, 0, 0]], dtype=float))
    pop = OnlinePopularity(k=2).fit(X)
    assert isinstance(pop, Recommender) and pop.n_items_ == 4
    np.testing.assert_allclose(pop.counts_, [1, 0, 4, 1])
    assert pop.recommend([0, 1, 2], k=2).tolist() == [[3, 1], [0, 1], [2, 0]]
    assert pop.recommend([0], k=2, exclude_seen=False).tolist() == [[2, 0]]
    assert pop.recommend([2], k=1, candidates=[1, 3]).tolist() == [[3]]
    with pytest.raises(ValueError, match="boolean"):
        pop.recommend([2], k=1, candidates=np.array([False, True, False, True]))
    with pytest.raises(ValueError, match="negative"):
        pop.recommend([-1], k=1)
    with pytest.raises(ValueError, match="larger than the catalog"):
        pop.recommend([2], k=5)
    with pytest.raises(RuntimeError, match="not fitted"):
        OnlinePopularity().recommend([0])


def test_online_popularity_refuses_a_bad_event_without_counting_it():
    pop = OnlinePopularity(n_items=4, k=2)
    for bad in (Event(0, 4, "view", 0.0), Event(0, 1, "buy", 0.0), Event(0, True, "view", 0.0),
                Event(-3, 1, "view", 0.0)):
        with pytest.raises(DataError):
            pop.on_event(bad)
    assert pop.counts_.sum() == 0 and pop.seen_ == {}


@pytest.mark.property
@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 9), st.sampled_from(sorted(EVENT_WEIGHTS))),
                min_size=1, max_size=30), st.booleans())
def test_online_popularity_lists_are_distinct_unseen_and_in_range(events, random):
    pop = OnlinePopularity(n_items=10, k=3, random=random)
    for t, (u, i, kind) in enumerate(events):
        if len(pop.seen_.get(u, set()) | {i}) > 7:
            with pytest.raises(ValueError, match="fewer than k"):
                pop.on_event(Event(u, i, kind, float(t)))
            return
        recs = pop.on_event(Event(u, i, kind, float(t)))
        assert len(set(recs.tolist())) == 3 and ((recs >= 0) & (recs < 10)).all()
        assert not set(recs.tolist()) & pop.seen_[u]


# --- one serving index: the search layer's protocol ---------------------------------------------

def test_serving_index_is_the_search_layers_factory():
    from visrec_helpers.search.index import FaissIndex, build_index

    assert serving_index is build_index
    assert isinstance(serving_index(_unit_rows(100, 4), "faiss-ivf", nlist=4), FaissIndex)


@pytest.mark.parametrize("kind", ["exact", "faiss-flat", "faiss-ivf", "faiss-ivfpq", "hnsw"])
def test_serving_index_refuses_nan_vectors_and_queries(kind):
    v = _unit_rows(300, 8)
    bad = v.copy()
    bad[7, 1] = np.nan
    with pytest.raises(IndexInputError, match="vectors contain NaN"):
        serving_index(bad, kind)
    with pytest.raises(IndexInputError, match="queries contain NaN"):
        serving_index(v, kind).search(bad[7:8], 3)


@pytest.mark.parametrize("kind", ["faiss-ivf", "hnsw"])
def test_recommend_near_the_catalog_size_returns_every_unseen_item(kind):
    v = _unit_rows(60, 8)
    params = {"faiss-ivf": {"nlist": 4, "nprobe": 1}, "hnsw": {"M": 4, "ef_search": 2}}[kind]
    store = ProfileStore(v)
    server = RealtimeRecommender(store, serving_index(v, kind, **params), k=10)
    for t in range(5):
        server.on_event(Event(0, t, "view", float(t)))
    recs = server.recommend_user(0, k=55)
    assert sorted(recs.tolist()) == list(range(5, 60))


def test_a_bad_event_leaves_no_half_created_user():
    store = ProfileStore(E2)
    for bad in (Event(5, 2.5, "view", 0.0), Event(5, -1, "view", 0.0), Event(5, 0, "view", float("nan")),
                Event(True, 0, "view", 0.0), Event(5, 0, "buy", 0.0), Event(1.5, 0, "view", 0.0)):
        with pytest.raises(DataError):
            store.update(bad)
    assert len(store) == 0 and 5 not in store.rows_ and store.seen(5) == set()
    with pytest.raises(KeyError, match="unknown user 5"):
        store.profile(5)
    store.update(Event(5, 1, "view", 0.0))  # the same user then works normally
    np.testing.assert_allclose(store.profile(5, "long"), E2[1])


def test_adding_bad_items_changes_neither_store_nor_index():
    v = _unit_rows(50, 4)
    server = RealtimeRecommender(ProfileStore(v), serving_index(v, "faiss-flat"), k=3)
    with pytest.raises(IndexInputError, match="NaN"):
        server.add_items(np.full((2, 4), np.nan))
    with pytest.raises(IndexInputError, match="dimension mismatch"):
        server.add_items(np.ones((2, 5)))
    assert server.index.ntotal == 50 and len(server.store.item_vectors_) == 50


# --- serve_event: the serving step shown in q06 --------------------------------

def test_serve_event_returns_the_exact_top_k_among_unseen_items():
    from visrec_helpers.serving.realtime import serve_event

    v = _unit_rows(200, 8, seed=4)
    store = ProfileStore(v)
    index = serving_index(v, "exact")
    for t, item in enumerate([3, 17, 42]):
        ids, seconds = serve_event(store, index, Event(5, item, "view", float(t)), k=10)
    q = store.profile(5)
    scores = v @ q
    scores[[3, 17, 42]] = -np.inf
    assert ids.tolist() == np.argsort(-scores, kind="stable")[:10].tolist()
    assert ids.dtype == np.int64 and seconds >= 0


def test_serve_event_fills_k_from_an_approximate_index_and_never_returns_seen_items():
    from visrec_helpers.serving.realtime import serve_event

    v = _unit_rows(600, 8, seed=5)
    store = ProfileStore(v)
    index = serving_index(v, "faiss-ivf", nlist=16, nprobe=1)
    for t in range(40):
        ids, _ = serve_event(store, index, Event(0, t, "like", float(t)), k=10)
    assert len(ids) == 10 and len(set(ids.tolist())) == 10
    assert not set(ids.tolist()) & store.seen(0)


def test_serve_event_refuses_k_beyond_the_unseen_items():
    from visrec_helpers.serving.realtime import serve_event

    store = ProfileStore(E2)
    with pytest.raises(IndexInputError, match="fewer than k left"):
        serve_event(store, serving_index(E2, "exact"), Event(0, 0, "view", 0.0), k=3)
