"""The one validation path (``core.validation``) and every helper that takes ids, masks, ``k`` or
``exclude`` through it: property tests, and a regression test for each example of issue 28 in its scope."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from visrec_helpers.core.errors import InputError
from visrec_helpers.core.validation import as_exclude, as_id, as_ids, as_int, as_k, as_mask, as_names
from visrec_helpers.data import Catalog, DataError, SimulatedTruth
from visrec_helpers.recsys.base import RecsysError
from visrec_helpers.recsys.content import mmr_rerank
from visrec_helpers.search.index import IndexInputError, build_index
from visrec_helpers.serving.realtime import Event, ProfileStore, RealtimeRecommender, replay

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- the path itself: properties ------------------------------------------------------------

N = st.integers(1, 40)


@pytest.mark.property
@SETTINGS
@given(st.data(), N)
def test_valid_ids_come_back_unchanged_as_int64(data, n):
    ids = data.draw(st.lists(st.integers(0, n - 1), max_size=30))
    form = data.draw(st.sampled_from([list, tuple, np.array, pd.Series, lambda v: np.array(v, np.uint16)]))
    out = as_ids(form(ids), "ids", n)
    assert out.dtype == np.int64 and out.tolist() == ids


@pytest.mark.property
@SETTINGS
@given(st.data(), N)
def test_an_id_out_of_range_is_refused_naming_the_argument_and_the_value(data, n):
    ids = data.draw(st.lists(st.integers(0, n - 1), max_size=10))
    bad = data.draw(st.one_of(st.integers(-(2**40), -1), st.integers(n, 2**40)))
    ids.insert(data.draw(st.integers(0, len(ids))), bad)
    with pytest.raises(InputError, match=rf"my_ids holds unknown item id\(s\) \[{bad}\]"):
        as_ids(ids, "my_ids", n)


@pytest.mark.property
@SETTINGS
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=10), N)
def test_float_ids_integral_or_not_and_nan_are_refused_never_truncated(values, n):
    with pytest.raises(InputError, match="ids must be integers, got dtype float64"):
        as_ids(np.array(values, dtype=np.float64), "ids", n)


@pytest.mark.property
@SETTINGS
@given(st.lists(st.booleans(), min_size=1, max_size=30))
def test_a_boolean_array_is_never_read_as_ids(mask):
    with pytest.raises(InputError, match="boolean array"):
        as_ids(np.array(mask), "items", len(mask))
    # as a mask (where a helper accepts one) it is exactly the positions of True
    assert as_ids(np.array(mask), "items", len(mask), mask=True).tolist() == np.flatnonzero(mask).tolist()


@pytest.mark.property
@SETTINGS
@given(st.lists(st.booleans(), min_size=1, max_size=30), st.integers(-3, 3))
def test_masks_must_be_boolean_and_of_the_right_length(mask, delta):
    m = np.array(mask)
    n = len(mask) + delta
    if delta == 0:
        assert as_mask(m, "mask", n).tolist() == mask
    else:
        with pytest.raises(InputError, match=rf"mask must be a boolean mask of shape \({n},\)"):
            as_mask(m, "mask", n)
    with pytest.raises(InputError, match="dtype int64"):
        as_mask(m.astype(np.int64), "mask", len(mask))


@pytest.mark.property
@SETTINGS
@given(st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.booleans(), st.none(), st.text(max_size=3)),
       st.one_of(st.none(), st.integers(1, 100)))
def test_k_is_an_integer_between_one_and_n_or_refused(k, n):
    ok = isinstance(k, int) and not isinstance(k, bool) and k >= 1 and (n is None or k <= n)
    if ok:
        assert as_k(k, n) == k
    else:
        with pytest.raises(InputError, match="k"):
            as_k(k, n)


@pytest.mark.property
@SETTINGS
@given(st.data(), N)
def test_exclude_comes_back_sorted_and_distinct(data, n):
    ids = data.draw(st.lists(st.integers(0, n - 1), max_size=50))
    form = data.draw(st.sampled_from([list, set, np.array, tuple]))
    out = as_exclude(form(ids), n)
    assert out.tolist() == sorted(set(ids))


@pytest.mark.property
@SETTINGS
@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=6))
def test_a_repeated_name_is_refused_and_distinct_names_kept_in_order(names):
    if len(set(names)) == len(names):
        assert as_names(names, "layers", known="abcd") == names
    else:
        with pytest.raises(InputError, match="layers repeats"):
            as_names(names, "layers")


def test_edge_cases_of_the_path():
    assert as_ids(np.int64(3), "i", 5).tolist() == [3]  # one integer is one id
    assert as_ids([], "i", 5).tolist() == [] and as_ids(set(), "i").dtype == np.int64
    with pytest.raises(InputError, match="empty"):
        as_ids([], "i", 5, allow_empty=False)
    with pytest.raises(InputError, match="1-D"):
        as_ids([[1, 2]], "i", 5)
    with pytest.raises(InputError, match="flat list"):
        as_ids([[1], [2, 3]], "i", 5)
    with pytest.raises(InputError, match="must be integers, got dtype object"):
        as_ids([1, None], "i", 5)
    with pytest.raises(InputError, match="must be integers, got dtype <U1"):
        as_ids(["1"], "i", 5)
    with pytest.raises(InputError, match=r"unknown item id\(s\) \[18446744073709551615\]"):
        as_ids([2**64 - 1], "i")
    with pytest.raises(InputError, match=r"repeats id\(s\) \[2\]"):
        as_ids([2, 1, 2], "i", 5, unique=True)
    for bad in (True, 2.0, -1, 5, np.nan, "1"):
        with pytest.raises(InputError, match="user"):
            as_id(bad, "user", 5, what="user")
    assert as_id(np.int32(4), "user", 5) == 4
    assert as_int(0, "limit", min_val=0) == 0
    with pytest.raises(InputError, match=r"limit must be an integer >= 0, got -1"):
        as_int(-1, "limit", min_val=0)
    with pytest.raises(InputError, match="string"):
        as_names("blocks.0", "layers")
    assert issubclass(InputError, ValueError)
    for error in (DataError, IndexInputError, RecsysError):  # each layer's class, through the same path
        with pytest.raises(error):
            as_ids([-1], "x", 3, error=error)


# --- issue 28's examples, one regression test each ----------------------------------------------

def _truth(n_users=3, n_items=8, seed=0):
    """A hand-made ``SimulatedTruth`` (random utilities), for properties that need many of them quickly."""
    rng = np.random.default_rng(seed)
    u = rng.random((n_users, n_items))
    z = np.zeros(n_users)
    return SimulatedTruth(utility=u, start_utility=u, like_threshold=z + 0.5, skip_threshold=z + 0.2, like_rate=z,
                          skip_rate=z, quality=np.zeros(n_items), popularity_sensitivity=z, tastes=[], end_tastes=None,
                          facets=[])


@pytest.fixture(scope="module")
def simulated():
    from visrec_helpers.data import simulate_users

    rng = np.random.default_rng(0)
    attrs = pd.DataFrame({"colour": rng.choice(["red", "blue", "green"], 30), "shape": rng.choice(["a", "b"], 30)})
    _, truth = simulate_users(attrs, ["colour", "shape"], n_users=5, events_per_user=(5, 10), random_state=0)
    return truth


def _both(simulated):
    return [_truth(), simulated]


def test_a_negative_exclude_id_is_refused_not_dropping_the_last_item(simulated):
    for truth in _both(simulated):
        n = truth.utility.shape[1]
        assert sorted(truth.top_items(0, n).tolist()) == list(range(n))
        with pytest.raises(DataError, match=r"exclude holds unknown item id\(s\) \[-1\]"):
            truth.top_items(0, 3, exclude=[-1])  # was: the last item silently left out
        with pytest.raises(DataError, match=r"exclude holds unknown item id\(s\) \[" + str(n) + r"\]"):
            truth.top_items(0, 3, exclude=[n])
    with pytest.raises(DataError, match=r"exclude holds unknown item id\(s\) \[-1\]"):
        simulated.relevant(0, exclude=[-1])


def test_k_minus_one_is_refused_not_n_minus_one_items(simulated):
    for truth in _both(simulated):
        for bad in (-1, 0, 2.0, True, np.nan):
            with pytest.raises(DataError, match="k must be a positive integer"):
                truth.top_items(0, bad)
        n = truth.utility.shape[1]
        with pytest.raises(DataError, match=f"k={n} is larger than the {n - 1} items left after excluding 1"):
            truth.top_items(0, n, exclude=[0])  # never padded with the excluded item


def test_a_mask_or_float_is_not_read_as_ids_by_the_catalog_and_truth_helpers(simulated):
    truth = simulated
    mask = np.zeros(truth.n_items, dtype=bool)
    mask[[2, 5]] = True
    with pytest.raises(DataError, match="boolean array"):
        truth.top_items(0, 3, exclude=mask)
    with pytest.raises(DataError, match="boolean array"):
        truth.relevant(0, exclude=mask)
    with pytest.raises(DataError, match="users must be integers"):
        truth.relevant_sets(users=[0.0, 1.0])
    with pytest.raises(DataError, match=r"exclude must be integers, got dtype float64 \(values \[1.7\]\)"):
        truth.top_items(0, 3, exclude=[1.7])
    assert truth.top_items(0, 3, exclude=[2, 5]).tolist() == truth.top_items(0, 3, exclude=np.flatnonzero(mask)).tolist()


def _catalog(n=6):
    attrs = pd.DataFrame({"codepoint": ["U+1F600"] * n})
    return Catalog("c", np.arange(n * 4, dtype=np.uint8).reshape(n, 2, 2), np.arange(n), [str(i) for i in range(n)],
                   attrs, [[f"t{i}"] for i in range(n)], {"style": "twemoji", "size": 8})


def test_catalog_subset_refuses_masks_floats_and_negative_ids():
    cat = _catalog()
    sub = cat.subset([4, 1])
    assert sub.tags == [["t4"], ["t1"]] and (sub.images == cat.images[[4, 1]]).all()
    for bad, message in ((np.array([True, False] * 3), "boolean array"), ([1.7], "must be integers"),
                         ([-1], r"unknown item id\(s\) \[-1\]"), ([6], r"unknown item id\(s\) \[6\]")):
        with pytest.raises(DataError, match=rf"^idx .*{message}"):
            cat.subset(bad)


def test_emoji_rgba_refuses_a_fractional_id_and_a_mask_before_drawing():
    from visrec_helpers.data.emoji import emoji_rgba

    cat = _catalog()
    with pytest.raises(DataError, match=r"items must be integers, got dtype float64 \(values \[1.7\]\)"):
        emoji_rgba(cat, [1.7])  # was truncated to item 1
    with pytest.raises(DataError, match="items is a boolean array of length 6"):
        emoji_rgba(cat, np.ones(6, dtype=bool))  # was read as items 1, 1, 1, 1, 1, 1
    with pytest.raises(DataError, match=r"items holds unknown item id\(s\) \[-1\]"):
        emoji_rgba(cat, [-1])


@pytest.mark.property
@SETTINGS
@given(st.data())
def test_catalog_subset_keeps_images_labels_and_tags_aligned(data):
    cat = _catalog(8)
    idx = data.draw(st.lists(st.integers(0, 7), max_size=12))
    sub = cat.subset(idx)
    assert sub.images.tolist() == cat.images[idx].tolist() if idx else len(sub.images) == 0
    assert sub.labels.tolist() == idx and sub.tags == [[f"t{i}"] for i in idx]


@pytest.mark.property
@SETTINGS
@given(st.data())
def test_truth_top_items_are_k_distinct_unexcluded_best_first(data):
    truth = _truth(n_items=12, seed=data.draw(st.integers(0, 100)))
    exclude = data.draw(st.lists(st.integers(0, 11), max_size=8))
    left = 12 - len(set(exclude))
    k = data.draw(st.integers(1, left))
    top = truth.top_items(1, k, exclude=exclude)
    assert len(top) == k == len(set(top.tolist())) and not set(top.tolist()) & set(exclude)
    u = truth.utility[1]
    assert (np.diff(u[top]) <= 0).all()
    rest = np.setdiff1d(np.arange(12), np.concatenate([top, np.asarray(exclude, dtype=np.int64)]))
    assert not len(rest) or u[rest].max() <= u[top].min()


def test_replay_refuses_fractional_and_nan_ids_instead_of_truncating():
    events = pd.DataFrame({"user": [0, 1], "item": [2.7, 3.0], "kind": ["view", "view"], "timestamp": [0.0, 1.0]})
    with pytest.raises(DataError, match=r"events\['item'\] must be integers"):
        list(replay(events))
    events["item"] = [2, 3]
    events["user"] = [0.0, np.nan]
    with pytest.raises(DataError, match=r"events\['user'\] must be integers"):
        list(replay(events))
    events["user"] = [0, -1]
    with pytest.raises(DataError, match=r"events\['user'\] holds unknown user id\(s\) \[-1\]"):
        list(replay(events))
    events["user"] = [0, 1]
    for bad in (-1, 1.5, True):
        with pytest.raises(DataError, match="limit"):
            list(replay(events, limit=bad))
    assert [e.item for e in replay(events, limit=1)] == [2]


def test_mmr_returns_every_candidate_once_when_k_exceeds_them():
    v = np.eye(6, dtype=np.float32)
    out = mmr_rerank(np.array([4, 1, 3]), np.array([0.1, 0.9, 0.5]), v, k=10, lam=0.5)
    assert sorted(out.tolist()) == [1, 3, 4] and out[0] == 1  # all three once, never padded with repeats
    for kwargs, message in (({"k": -1}, "k must be a positive integer"), ({"k": 2.0}, "k must be"),
                            ({"candidates": np.array([1, 1, 3])}, r"repeats id\(s\) \[1\]"),
                            ({"candidates": np.array([1.0, 2.0, 3.0])}, "candidates must be integers"),
                            ({"candidates": np.array([True, False, True])}, "boolean array"),
                            ({"candidates": np.array([1, 2, 9])}, r"unknown item id\(s\) \[9\]"),
                            ({"relevance": np.array([0.1, np.nan, 0.2])}, "relevance must be 3 finite"),
                            ({"lam": 1.5}, "lam must be")):
        args = {"candidates": np.array([4, 1, 3]), "relevance": np.array([0.1, 0.9, 0.5]), "item_vectors": v,
                "k": 2, "lam": 0.5} | kwargs
        with pytest.raises(RecsysError, match=message):
            mmr_rerank(**args)


@pytest.mark.property
@SETTINGS
@given(st.data())
def test_mmr_lists_are_distinct_candidates_of_length_min_k_m(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    v = rng.normal(size=(15, 4)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    cand = np.array(data.draw(st.lists(st.integers(0, 14), min_size=1, max_size=15, unique=True)))
    k = data.draw(st.integers(1, 20))
    out = mmr_rerank(cand, rng.random(len(cand)), v, k, lam=data.draw(st.floats(0, 1)))
    assert len(out) == min(k, len(cand)) == len(set(out.tolist())) and set(out.tolist()) <= set(cand.tolist())


def _net():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3))


def test_a_repeated_layer_name_is_refused_everywhere_not_returned_twice():
    from visrec_helpers.vision.hooks import fuse_layers, pooled_layer_features, record_layers

    with pytest.raises(InputError, match=r"layers repeats \['0'\]"):
        pooled_layer_features(_net(), torch.rand(1, 3, 8, 8), ["0", "2", "0"])
    with pytest.raises(InputError, match=r"layers repeats \['0'\]"):
        with record_layers(_net(), ["0", "0"]):
            pass
    vecs = {"a": np.ones((2, 3)), "b": np.ones((2, 2))}
    with pytest.raises(InputError, match=r"layers repeats \['a'\]"):
        fuse_layers(vecs, ["a", "b", "a"])
    assert fuse_layers(vecs, ["a", "b"]).shape == (2, 5)


def test_the_pretrained_encoders_feature_maps_refuse_a_repeated_layer():
    from visrec_helpers.vision.pretrained import PretrainedEncoder

    enc = PretrainedEncoder.__new__(PretrainedEncoder)  # the check runs before the model or weights are used
    enc.model = _net()
    with pytest.raises(InputError, match=r"layers repeats \['0'\]"):
        enc.feature_maps(np.zeros((1, 8, 8, 3), np.uint8), layers=["0", "0"])


def test_index_exclude_and_k_go_through_the_same_path():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(20, 4)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    index = build_index(v, "exact")
    for exclude, message in (([[-1]], r"exclude\[0\] holds unknown item id\(s\) \[-1\]"),
                             ([[1.0]], r"exclude\[0\] must be integers"),
                             ([np.array([1.7])], r"exclude\[0\] must be integers"),
                             ([np.ones(20, bool)], "boolean")):
        with pytest.raises(IndexInputError, match=message):
            index.search(v[:1], 3, exclude=exclude)
    for k in (-1, 0, 2.0, True):
        with pytest.raises(IndexInputError, match="k must be a positive integer"):
            index.search(v[:1], k)


# --- the serving store: transactional updates ---------------------------------------------------

def _unit(n, d, seed=0):
    v = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class _RefusingIndex:
    """An index (the search protocol) whose ``add`` refuses rows after checks the server does not know."""

    def __init__(self, vectors):
        self.inner = build_index(vectors, "exact")

    @property
    def ntotal(self):
        return self.inner.ntotal

    def search(self, queries, k, exclude=None):
        return self.inner.search(queries, k, exclude=exclude)

    def add(self, vectors):
        v = np.asarray(vectors)
        if (v < 0).any():
            raise IndexInputError("this index refuses rows with negative entries")
        self.inner.add(v)
        return self


def _snapshot(store: ProfileStore):
    return (store.n_items_, store.item_vectors_.copy(), dict(store.rows_), store.long_.copy(),
            {u: set(s) for u, s in store.seen_.items()})


def _same(a, b) -> bool:
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2] == b[2] and np.array_equal(a[3], b[3]) and a[4] == b[4]


def test_when_the_index_refuses_rows_the_store_is_unchanged_and_serving_goes_on():
    v = np.abs(_unit(30, 4))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    store = ProfileStore(v)
    server = RealtimeRecommender(store, _RefusingIndex(v), k=3)
    server.on_event(Event(0, 1, "view", 0.0))
    before = _snapshot(store)
    with pytest.raises(IndexInputError, match="negative entries"):
        server.add_items(-v[:2])
    assert _same(_snapshot(store), before)
    assert store.n_items_ == server.index.ntotal == 30
    with pytest.raises(DataError, match="event.item is an unknown item id 30"):
        server.on_event(Event(0, 30, "view", 1.0))  # the refused item was never accepted
    assert len(server.recommend_user(0)) == 3 and server.recommend([0, 0], k=2).shape == (2, 2)
    ids = server.add_items(v[:2] * 0.5 + 0.5 / np.sqrt(4))  # a good batch afterwards gets the next ids
    assert ids.tolist() == [30, 31] and store.n_items_ == server.index.ntotal == 32


def test_a_real_index_that_refuses_rows_leaves_the_store_as_it_was():
    """faiss-ivfpq built on unit rows ranks by L2 and refuses rows that are not unit length."""
    pytest.importorskip("faiss")
    v = _unit(2000, 8)
    index = build_index(v, "faiss-ivfpq", nlist=8, m=4, nbits=4)
    store = ProfileStore(v)
    server = RealtimeRecommender(store, index, k=5)
    server.on_event(Event(3, 7, "like", 0.0))
    before = _snapshot(store)
    with pytest.raises(IndexInputError, match="L2-normalise"):
        server.add_items(v[:4] * 3.0)
    assert _same(_snapshot(store), before) and index.ntotal == store.n_items_ == 2000
    assert len(server.on_event(Event(3, 8, "view", 1.0))) == 5


def test_an_event_that_would_leave_fewer_than_k_items_changes_nothing():
    v = _unit(4, 3)
    store = ProfileStore(v)
    server = RealtimeRecommender(store, build_index(v, "exact"), k=3)
    server.on_event(Event(0, 0, "view", 0.0))
    before = _snapshot(store)
    with pytest.raises(IndexInputError, match="fewer than k left"):
        server.on_event(Event(0, 1, "view", 1.0))
    assert _same(_snapshot(store), before) and len(server.latency_) == 1


def test_recommend_follows_the_package_contract():
    v = _unit(40, 4)
    store = ProfileStore(v)
    server = RealtimeRecommender(store, build_index(v, "exact"), k=4)
    for t, (u, i) in enumerate([(0, 1), (1, 2), (0, 3)]):
        server.on_event(Event(u, i, "view", float(t)))
    recs = server.recommend([0, 1, 0], k=5)
    assert recs.shape == (3, 5) and recs.dtype == np.int64
    assert recs[0].tolist() == recs[2].tolist() == server.recommend_user(0, 5).tolist()
    assert not {1, 3} & set(recs[0].tolist())
    with_seen = server.recommend([0], k=40, exclude_seen=False)[0]
    assert sorted(with_seen.tolist()) == list(range(40))
    cand = server.recommend([1], k=3, candidates=[5, 6, 7, 2])[0]
    assert sorted(cand.tolist()) == [5, 6, 7]  # 2 was seen
    for kwargs, message in (({"k": -1}, "k must be a positive integer"), ({"k": 41}, "larger than"),
                            ({"candidates": [5, 5]}, "repeats"), ({"exclude_seen": 1}, "exclude_seen"),
                            ({"candidates": [2, 5]}, "fewer than k")):
        with pytest.raises(IndexInputError, match=message):
            server.recommend([1], **({"k": 2} | kwargs))
    for users in ([0.0], [-1], np.array([True])):
        with pytest.raises(IndexInputError, match="users"):
            server.recommend(users, k=2)
    with pytest.raises(KeyError, match="unknown user 9"):
        server.recommend([9], k=2)


OPS = st.lists(st.one_of(
    st.tuples(st.just("event"), st.integers(0, 3), st.integers(-2, 45), st.sampled_from(["view", "like", "skip"])),
    st.tuples(st.just("add"), st.integers(1, 3), st.booleans(), st.booleans()),
), min_size=1, max_size=25)


@pytest.mark.property
@SETTINGS
@given(OPS)
def test_store_and_index_never_disagree_and_refused_operations_leave_no_trace(ops):
    v = np.abs(_unit(12, 4, seed=1))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    store = ProfileStore(v)
    server = RealtimeRecommender(store, _RefusingIndex(v), k=2)
    rng = np.random.default_rng(0)
    for t, op in enumerate(ops):
        before = _snapshot(store)
        try:
            if op[0] == "event":
                server.on_event(Event(op[1], op[2], op[3], float(t)))
            else:
                rows = np.abs(rng.normal(size=(op[1], 4 if op[2] else 5))).astype(np.float32)
                rows /= np.linalg.norm(rows, axis=1, keepdims=True)
                server.add_items(-rows if op[3] else rows)
        except (DataError, IndexInputError):
            assert _same(_snapshot(store), before)  # refused: nothing changed
        assert store.n_items_ == server.index.ntotal
        for user in store.rows_:
            left = store.n_items_ - len(store.seen(user))
            if left >= 2:
                recs = server.recommend_user(user)
                assert len(set(recs.tolist())) == 2 and not set(recs.tolist()) & store.seen(user)


def test_split_test_sets_refuse_float_and_mask_users():
    from visrec_helpers.data import splits

    test = pd.DataFrame({"user": [0, 1, 1], "item": [3, 4, 5]})
    assert splits.test_sets(test, [1, 0, 7]) == [{4, 5}, {3}, set()]
    with pytest.raises(DataError, match="users must be integers"):
        splits.test_sets(test, [1.7])  # was read as user 1
    with pytest.raises(DataError, match="users is a boolean array"):
        splits.test_sets(test, np.array([True, False]))  # was read as users 1 and 0
