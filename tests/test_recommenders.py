"""One estimator shape for every recommender: fitting, scoring, exclusions, bad input."""

import ast
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from visrec_helpers.data import DataError
from visrec_helpers.recsys.base import RecsysError
from visrec_helpers.recsys.recommenders import (
    ALS,
    BPR,
    VBPR,
    ItemKNN,
    Popularity,
    ProfileRecommender,
    RandomRecommender,
    UserKNN,
    bpr_step,
    cosine_similarity_sparse,
)


def blocks(n_users=40, n_items=30, seed=0):
    """Two taste groups: users 0..19 like items 0..14, the rest like 15..29 (plus noise)."""
    rng = np.random.default_rng(seed)
    m = np.zeros((n_users, n_items))
    for u in range(n_users):
        pool = np.arange(15) if u < n_users // 2 else np.arange(15, 30)
        m[u, rng.choice(pool, 6, replace=False)] = 1.0
    return sp.csr_matrix(m)


FEATS = np.repeat(np.eye(2), 15, axis=0) + 0.01 * np.random.default_rng(0).normal(size=(30, 2))
MODELS = {
    "random": lambda: RandomRecommender(),
    "popularity": lambda: Popularity(),
    "itemknn": lambda: ItemKNN(k_neighbors=10),
    "userknn": lambda: UserKNN(k_neighbors=10),
    "als": lambda: ALS(factors=4, iterations=5),
    "bpr": lambda: BPR(factors=4, epochs=30),
    "vbpr": lambda: VBPR(factors=4, visual_factors=2, epochs=5),
    "profile": lambda: ProfileRecommender(),
}


def fit(name, m):
    model = MODELS[name]()
    return model.fit(m, item_features=FEATS) if name in ("vbpr", "profile") else model.fit(m)


@pytest.mark.parametrize("name", MODELS)
def test_recommend_shape_and_never_returns_training_items(name):
    m = blocks()
    model = fit(name, m)
    rec = model.recommend(np.arange(40), k=5)
    assert rec.shape == (40, 5) and rec.dtype == np.int64
    for u in range(40):
        assert not set(rec[u]) & set(m[u].indices)
        assert len(set(rec[u])) == 5


@pytest.mark.parametrize("name", MODELS)
def test_fit_returns_self_and_is_deterministic(name):
    m = blocks()
    a, b = MODELS[name](), MODELS[name]()
    kw = {"item_features": FEATS} if name in ("vbpr", "profile") else {}
    assert a.fit(m, **kw) is a
    b.fit(m, **kw)
    np.testing.assert_array_equal(a.recommend([0, 25], 5), b.recommend([0, 25], 5))


@pytest.mark.parametrize("name", ["itemknn", "userknn", "als", "bpr", "vbpr", "profile"])
def test_personalised_models_recommend_from_the_users_group(name):
    model = fit(name, blocks())
    rec = model.recommend(np.arange(40), k=3)
    in_group = [(rec[u] < 15).mean() if u < 20 else (rec[u] >= 15).mean() for u in range(40)]
    assert np.mean(in_group) > 0.9


@pytest.mark.parametrize("name", MODELS)
def test_bad_inputs_raise_clear_errors(name):
    model = fit(name, blocks())
    with pytest.raises(ValueError, match="unknown user id"):
        model.recommend([40])
    with pytest.raises(ValueError, match="larger than the catalog"):
        model.recommend([0], k=31)
    with pytest.raises(ValueError, match="leaving fewer than k"):
        model.recommend([0], k=26)
    with pytest.raises(ValueError, match="integers"):
        model.recommend([0.5])


@pytest.mark.parametrize("name", ["popularity", "itemknn", "als", "bpr"])
def test_empty_and_nan_matrices_are_refused(name):
    with pytest.raises(ValueError, match="empty"):
        MODELS[name]().fit(sp.csr_matrix((5, 5)))
    bad = blocks().toarray()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MODELS[name]().fit(bad)


def test_unfitted_model_says_so():
    with pytest.raises(RuntimeError, match="not fitted"):
        ALS().recommend([0])


def test_candidates_restrict_the_ranking():
    rec = Popularity().fit(blocks()).recommend([0, 1], k=2, candidates=[28, 29, 27], exclude_seen=False)
    assert set(rec.ravel()) <= {27, 28, 29}
    with pytest.raises(ValueError, match="larger than the 3 candidate"):
        Popularity().fit(blocks()).recommend([0], k=4, candidates=[27, 28, 29], exclude_seen=False)


def test_cosine_similarity_golden_values_and_shrinkage():
    m = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    s = cosine_similarity_sparse(m).toarray()
    assert s[0, 1] == pytest.approx(1 / np.sqrt(2))
    assert s[0, 2] == 0.0 and s[0, 0] == 0.0
    shrunk = cosine_similarity_sparse(m, shrinkage=1.0).toarray()
    assert shrunk[0, 1] == pytest.approx(1 / (np.sqrt(2) + 1))


def test_itemknn_keeps_k_neighbours_per_item():
    model = ItemKNN(k_neighbors=3).fit(blocks())
    assert np.diff(model.similarity_.indptr).max() <= 3


def test_als_loss_decreases():
    model = ALS(factors=4, iterations=8).fit(blocks())
    assert np.all(np.diff(model.loss_history_) < 1e-12)
    assert model.loss_history_[-1] < model.loss_history_[0]


def test_als_cg_and_exact_solvers_agree_on_rankings():
    m = blocks()
    a = ALS(factors=4, iterations=10, solver="exact").fit(m).recommend(np.arange(40), 3)
    b = ALS(factors=4, iterations=10, solver="cg").fit(m).recommend(np.arange(40), 3)
    assert np.mean([len(set(x) & set(y)) / 3 for x, y in zip(a, b)]) > 0.6


def test_als_unknown_solver_raises():
    with pytest.raises(ValueError, match="unknown solver"):
        ALS(solver="svd").fit(blocks())


def test_bpr_training_auc_is_above_half_and_grows():
    model = BPR(factors=4, epochs=15).fit(blocks())
    assert model.train_auc_[-1] > 0.8
    assert model.train_auc_[-1] > model.train_auc_[0]


def test_vbpr_scores_items_never_seen_in_training():
    m = blocks().toarray()
    m[:, [14, 29]] = 0.0  # one new item per group
    model = VBPR(factors=4, visual_factors=2, epochs=20).fit(sp.csr_matrix(m), item_features=FEATS)
    assert not model.item_factors_[[14, 29]].any()  # no CF signal for them
    rec = model.recommend(np.arange(40), k=1, candidates=[14, 29])
    assert (rec[:20] == 14).mean() > 0.8 and (rec[20:] == 29).mean() > 0.8


def test_vbpr_rejects_misshaped_features():
    with pytest.raises(ValueError, match="item_features must be"):
        VBPR().fit(blocks(), item_features=FEATS[:5])


@pytest.mark.parametrize("kw", [{"factors": 0}, {"learning_rate": 0.0}, {"epochs": 2.5}])
def test_bad_hyper_parameters_raise(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        BPR(**kw).fit(blocks())


def test_implicit_reference_ranks_like_our_als():
    pytest.importorskip("implicit")
    from visrec_helpers.recsys.recommenders import ImplicitALS

    m = blocks()
    ours = ALS(factors=4, iterations=10).fit(m).recommend(np.arange(40), 3)
    ref = ImplicitALS(factors=4, iterations=10).fit(m).recommend(np.arange(40), 3)
    in_group = [(ref[u] < 15).mean() if u < 20 else (ref[u] >= 15).mean() for u in range(40)]
    assert np.mean(in_group) > 0.9
    assert np.mean([len(set(a) & set(b)) / 3 for a, b in zip(ours, ref)]) > 0.3


def weighted(n_users=60, n_items=50, seed=1):
    """Random sparse weights like the workbook's events: like 3, view 1, skip 0.1."""
    m = sp.random(n_users, n_items, density=0.15, random_state=seed, format="csr")
    m.data = np.random.default_rng(seed).choice([3.0, 1.0, 0.1], m.nnz)
    return m


def test_als_cg_half_step_reaches_the_exact_solution_in_f_steps():
    from visrec_helpers.recsys.factorisation import als_half_step_cg, als_half_step_exact

    c = ALS(alpha=10.0).confidence(weighted())
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 4)), rng.normal(size=(50, 4))
    exact = als_half_step_exact(c, y, 0.05)
    # CG solves an f x f positive definite system exactly in f steps (up to rounding)
    np.testing.assert_allclose(als_half_step_cg(c, x, y, 0.05, cg_steps=4), exact, rtol=1e-6, atol=1e-8)
    assert np.abs(als_half_step_cg(c, x, y, 0.05, cg_steps=1) - exact).max() > 1e-3  # one step is not enough


def test_als_cg_half_step_computes_in_float32_when_given_float32():
    from visrec_helpers.recsys.factorisation import als_half_step_cg

    c = ALS(alpha=10.0).confidence(weighted())
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 4)), rng.normal(size=(50, 4))
    out = als_half_step_cg(c.astype(np.float32), x.astype(np.float32), y.astype(np.float32), 0.05)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, als_half_step_cg(c, x, y, 0.05), rtol=1e-3, atol=1e-4)


def test_als_and_implicit_with_the_same_seed_learn_the_same_factors():
    """Equal settings down to the start: both draw uniform [0, 0.01) float32 factors from
    default_rng(seed), users first, and run the same 3-step CG; only float32 rounding differs."""
    pytest.importorskip("implicit")
    from visrec_helpers.recsys.recommenders import ImplicitALS

    def relative_gap(a, b):
        return np.linalg.norm(a - b) / np.linalg.norm(b)

    m = weighted()
    ours = ALS(factors=6, iterations=5, seed=3, track_loss=False).fit(m)
    ref = ImplicitALS(factors=6, iterations=5, seed=3).fit(m)
    assert ours.user_factors_.dtype == np.float32
    assert relative_gap(ours.user_factors_, ref.user_factors_) < 1e-3  # 3e-4 seen: float32 rounding
    assert relative_gap(ours.item_factors_, ref.item_factors_) < 1e-3
    other_start = ALS(factors=6, iterations=5, seed=4, track_loss=False).fit(m)
    assert relative_gap(other_start.user_factors_, ref.user_factors_) > 0.1  # another seed: other factors


def test_implicit_reference_refuses_nan():
    pytest.importorskip("implicit")
    from visrec_helpers.recsys.recommenders import ImplicitALS

    bad = blocks().toarray()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ImplicitALS().fit(bad)


# --- One validation path (issue 16: no silent wrong answer) -----------------------


@pytest.mark.parametrize("candidates, message", [
    (np.zeros(30, dtype=bool), "boolean array of length 30: pass ids, not a mask"),
    ([27, -1], r"candidates holds unknown item id\(s\) \[-1\]"),  # -1 is not "the last item"
    ([27, 30], r"unknown item id\(s\) \[30\]"),
    ([27, 27, 28], r"candidates repeats id\(s\) \[27\]"),
    ([27.0, 28.0], "candidates must be integers"),
    ([], "candidates is empty"),
])
def test_bad_candidates_are_refused_naming_the_value(candidates, message):
    with pytest.raises(RecsysError, match=message):
        Popularity().fit(blocks()).recommend([0], k=1, candidates=candidates)


def test_a_boolean_mask_converted_explicitly_gives_the_same_lists_as_its_ids():
    mask = np.zeros(30, dtype=bool)
    mask[[3, 17, 29]] = True
    model = Popularity().fit(blocks())
    np.testing.assert_array_equal(model.recommend([0, 1], k=2, candidates=np.flatnonzero(mask), exclude_seen=False),
                                  model.recommend([0, 1], k=2, candidates=[3, 17, 29], exclude_seen=False))


@pytest.mark.parametrize("users, message", [([-1], r"unknown user id\(s\) \[-1\]"), ([10**20], "unknown user id"),
                                            ([], "users is empty"), ([[0, 1]], "1-D")])
def test_bad_users_are_refused(users, message):
    with pytest.raises(RecsysError, match=message):
        Popularity().fit(blocks()).recommend(users, k=1)


def test_repeated_users_get_one_row_each():
    rec = Popularity().fit(blocks()).recommend([3, 3], k=2)
    np.testing.assert_array_equal(rec[0], rec[1])


def test_exclude_seen_must_be_a_bool_not_a_candidate_list_passed_by_position():
    with pytest.raises(RecsysError, match="exclude_seen must be True or False"):
        Popularity().fit(blocks()).recommend([0], 2, [27, 28])


def test_item_features_are_keyword_only():
    with pytest.raises(TypeError):
        ProfileRecommender().fit(blocks(), FEATS)


def test_a_model_that_needs_item_features_says_so():
    with pytest.raises(RecsysError, match="VBPR.fit needs item_features"):
        VBPR().fit(blocks())


class _NaNScores(Popularity):
    def score(self, users):
        s = super().score(users)
        s[:, 0] = np.nan
        return s


def test_nan_scores_are_refused_not_ranked():
    with pytest.raises(RecsysError, match="NaN"):
        _NaNScores().fit(blocks()).recommend([0], k=2)


def test_explicit_zero_weights_are_not_interactions():
    m = sp.csr_matrix((np.array([1.0, 0.0]), (np.array([0, 0]), np.array([0, 1]))), shape=(1, 3))
    assert Popularity().fit(m).user_items_.nnz == 1
    assert set(Popularity().fit(m).recommend([0], k=2)[0]) == {1, 2}


# --- Recency timestamps -------------------------------------------------------------


def _recency_case():
    x = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]))
    feats = np.eye(3)
    return x, feats


def test_recency_timestamps_with_another_sparsity_pattern_name_the_missing_interaction():
    # used to fail with KeyError: np.int32(0) from deep inside the profile code
    x, feats = _recency_case()
    ts = sp.csr_matrix(np.array([[0.0, 5.0, 3.0], [0.0, 2.0, 4.0]]))  # (0, 0) missing, (0, 2) extra
    with pytest.raises(RecsysError, match=r"no time for the interaction \(user 0, item 0\)"):
        ProfileRecommender("recency").fit(x, item_features=feats, timestamps=ts)


def test_recency_timestamps_dense_may_hold_time_zero_and_the_newest_item_weighs_most():
    x, feats = _recency_case()
    ts = np.array([[0.0, 7.0, 0.0], [0.0, 9.0, 1.0]])  # user 0: item 1 is newer; user 1: item 1 is newer
    model = ProfileRecommender("recency", half_life=1.0).fit(x, item_features=feats, timestamps=ts)
    p = model.profiles([0, 1])
    assert p[0][0, 1] > p[0][0, 0] and p[1][0, 1] > p[1][0, 2]
    expected = np.array([0.5, 1.0, 0.0]) / np.linalg.norm([0.5, 1.0])
    np.testing.assert_allclose(p[0][0], expected, atol=1e-6)


def test_recency_without_timestamps_says_what_it_needs():
    x, feats = _recency_case()
    with pytest.raises(RecsysError, match="needs timestamps"):
        ProfileRecommender("recency").fit(x, item_features=feats)
    with pytest.raises(RecsysError, match="NaN or infinite times"):
        ProfileRecommender("recency").fit(x, item_features=feats, timestamps=np.full((2, 3), np.nan))


# --- The BPR step -------------------------------------------------------------------


def test_bpr_step_golden_values():
    p, q, b = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0], [1.0, 0.0]]), np.zeros(2)
    g = bpr_step(p, q, b, np.array([0]), np.array([0]), np.array([1]), 0.1, 0.0)
    sig1 = 1 / (1 + np.exp(-1.0))  # x_uij = p.(q_i - q_j) = -1, so g = sigmoid(1)
    assert g[0] == pytest.approx(sig1)
    np.testing.assert_allclose(p[0], [1 - 0.1 * sig1, 0.1 * sig1])
    np.testing.assert_allclose(q[1], [1 - 0.1 * sig1, 0.0])
    np.testing.assert_allclose(b, [0.1 * sig1, -0.1 * sig1])


# --- Properties: for any input, the documented error or lists within the contract ----


def _tags_for(n_items, rng):
    return [[f"t{int(t)}" for t in rng.choice(4, rng.integers(1, 3), replace=False)] for _ in range(n_items)]


def _contract_models():
    from visrec_helpers.recsys.coldstart import MappedALS
    from visrec_helpers.recsys.factorisation import ImplicitALS
    from visrec_helpers.recsys.oracle import OracleRecommender
    from visrec_helpers.recsys.sequence import GRURecommender
    from visrec_helpers.recsys.tags import TagRecommender
    from visrec_helpers.serving.realtime import OnlinePopularity

    return {
        "random": (RandomRecommender, {}, None),
        "popularity": (Popularity, {}, None),
        "itemknn": (ItemKNN, {"k_neighbors": 3}, None),
        "userknn": (UserKNN, {"k_neighbors": 3}, None),
        "als": (ALS, {"factors": 2, "iterations": 2}, None),
        "implicit-als": (ImplicitALS, {"factors": 2, "iterations": 2}, None),
        "bpr": (BPR, {"factors": 2, "epochs": 2}, None),
        "vbpr": (VBPR, {"factors": 2, "visual_factors": 2, "epochs": 2}, "features"),
        "profile": (ProfileRecommender, {}, "features"),
        "profile-recency": (ProfileRecommender, {"strategy": "recency"}, "features"),
        "profile-multi": (ProfileRecommender, {"strategy": "multi"}, "features"),
        "mapped-als": (MappedALS, {"als": ALS(factors=2, iterations=2)}, "features"),
        "tags": (TagRecommender, {}, "tags"),
        "gru": (GRURecommender, {"hidden": 4, "epochs": 1, "progress": False, "device": "cpu"}, "features"),
        "oracle": (OracleRecommender, {}, "truth"),
        "online-popularity": (OnlinePopularity, {"k": 1}, None),
    }


CONTRACT_MODELS = _contract_models()


@st.composite
def contract_calls(draw):
    """(X, users, k, candidates, exclude_seen, seed): mostly well-formed calls (so the lists get checked),
    the rest anything: unknown or negative ids, k out of range, repeated candidates, boolean masks."""
    wild = draw(st.integers(0, 3)) == 0
    n_users, n_items = draw(st.integers(1, 6)), draw(st.integers(1 if wild else 4, 9))
    cells = draw(st.lists(st.sampled_from([0.0, 0.0, 1.0, 2.5]), min_size=n_users * n_items,
                          max_size=n_users * n_items))
    x = np.array(cells).reshape(n_users, n_items)
    if not wild:  # every user has at least one interaction and has not seen everything
        x[np.arange(n_users), np.arange(n_users) % n_items] = 1.0
        x[np.arange(n_users), (np.arange(n_users) + 1) % n_items] = 0.0
    if wild:
        users = draw(st.lists(st.integers(-1, n_users), max_size=4))
        k = draw(st.integers(-1, n_items + 1))
        candidates = draw(st.one_of(
            st.none(),
            st.lists(st.integers(-1, n_items), max_size=n_items + 1),
            st.lists(st.booleans(), min_size=n_items, max_size=n_items).map(lambda b: np.array(b, dtype=bool))))
    else:
        users = draw(st.lists(st.integers(0, n_users - 1), min_size=1, max_size=4))
        k = draw(st.integers(1, 2))
        candidates = draw(st.one_of(st.none(), st.lists(st.integers(0, n_items - 1), min_size=1, max_size=n_items,
                                                        unique=True)))
    return x, users, k, candidates, draw(st.booleans()), draw(st.integers(0, 2**16))


@pytest.mark.property
@pytest.mark.parametrize("name", CONTRACT_MODELS)
@settings(max_examples=30, deadline=None)
@given(call=contract_calls())
def test_any_call_gives_the_documented_error_or_lists_within_the_contract(name, call):
    x, users, k, candidates, exclude_seen, seed = call
    cls, params, extra = CONTRACT_MODELS[name]
    rng = np.random.default_rng(seed)
    kw = {"timestamps": rng.permutation(x.size).reshape(x.shape).astype(float)}
    if extra == "features":
        kw["item_features"] = rng.normal(size=(x.shape[1], 3))
    elif extra == "tags":
        kw["item_features"] = _tags_for(x.shape[1], rng)
    elif extra == "truth":
        params = {"ground_truth": rng.normal(size=x.shape)}
    try:
        recs = cls(**params).fit(sp.csr_matrix(x), **kw).recommend(users, k, exclude_seen, candidates)
    except (RecsysError, DataError):
        return  # the package's documented errors, naming the argument
    assert recs.shape == (len(users), k) and recs.dtype == np.int64
    assert ((recs >= 0) & (recs < x.shape[1])).all()
    for row, u in zip(recs, users):
        assert len(set(row.tolist())) == k
        if candidates is not None:
            assert set(row.tolist()) <= set(np.asarray(candidates).tolist())
        if exclude_seen and u < len(x):  # OnlinePopularity serves any user id; one beyond X has seen nothing
            assert not (x[u, row] > 0).any()


def test_the_kept_module_name_reexports_every_model_and_step():
    import visrec_helpers.recommenders as kept
    from visrec_helpers.recsys import base, factorisation, neighbours

    assert kept.ALS is factorisation.ALS and kept.bpr_step is factorisation.bpr_step
    assert kept.ItemKNN is neighbours.ItemKNN and kept.Recommender is base.Recommender
    assert all(issubclass(getattr(kept, n), base.Recommender) for n in
               ("ALS", "BPR", "VBPR", "ImplicitALS", "ItemKNN", "UserKNN", "Popularity", "RandomRecommender",
                "ProfileRecommender", "OracleRecommender"))


# --- One recommend signature: every recommender class of the package, found, not listed ----

_LIBRARY = Path(__file__).resolve().parents[1] / "visrec_helpers"
_CONTRACT_SIGNATURE = "(self, users, k: 'int' = 10, exclude_seen: 'bool' = True, candidates=None) -> 'np.ndarray'"
#: Classes with their own ``recommend`` outside the ``Recommender`` base (the contract's signature, checked below),
#: with the reason they implement it themselves.
_OWN_RECOMMEND = {"serving.realtime.RealtimeRecommender": "serves through its vector index, not a score matrix"}


def _classes_with_recommend(root: Path = _LIBRARY) -> set[str]:
    """``module.Class`` of every class whose body defines ``recommend`` (found with ``ast``)."""
    found = set()
    for path in root.rglob("*.py"):
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(f, ast.FunctionDef) and f.name == "recommend" for f in node.body):
                found.add(f"{module}.{node.name}")
    return found


def _all_recommender_classes() -> dict[str, type]:
    """Every ``Recommender`` subclass defined in the library (all its modules imported)."""
    import importlib
    import pkgutil

    import visrec_helpers
    from visrec_helpers.recsys.base import Recommender

    for info in pkgutil.walk_packages(visrec_helpers.__path__, "visrec_helpers."):
        importlib.import_module(info.name)
    out, todo = {}, list(Recommender.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("visrec_helpers.") and not cls.__name__.startswith("_"):
            out[f"{cls.__module__.removeprefix('visrec_helpers.')}.{cls.__name__}"] = cls
    return out


def test_recommend_is_defined_once_in_the_base_and_nowhere_else_with_another_signature():
    import importlib
    import inspect

    from visrec_helpers.recsys.base import Recommender

    assert str(inspect.signature(Recommender.recommend)) == _CONTRACT_SIGNATURE
    assert _classes_with_recommend() - set(_OWN_RECOMMEND) == {"recsys.base.Recommender"}
    for name in _OWN_RECOMMEND:
        module, cls = name.rsplit(".", 1)
        own = getattr(importlib.import_module(f"visrec_helpers.{module}"), cls)
        assert str(inspect.signature(own.recommend)) == _CONTRACT_SIGNATURE, name


def test_the_recommend_finder_sees_a_planted_override(tmp_path):
    (tmp_path / "planted.py").write_text("class Mine:\n    def recommend(self, user, n=5):\n        return []\n")
    assert _classes_with_recommend(tmp_path) == {"planted.Mine"}


def test_every_recommender_class_keeps_the_contract_and_is_in_the_property_test():
    import inspect

    from visrec_helpers.recsys.base import Recommender

    classes = _all_recommender_classes()
    assert len(classes) >= 15
    fit_params = ["self", "X", "item_features", "timestamps"]
    for name, cls in classes.items():
        assert cls.recommend is Recommender.recommend, name
        params = inspect.signature(cls.fit).parameters
        assert list(params) == fit_params, (name, list(params))
        assert params["item_features"].kind is inspect.Parameter.KEYWORD_ONLY, name
    exercised = {cls for cls, _, _ in CONTRACT_MODELS.values()}
    # SparkALS needs a Spark session (tests/test_spark.py fits it and calls the inherited recommend)
    missing = {n for n, c in classes.items() if c not in exercised} - {"serving.spark.SparkALS"}
    assert not missing, f"recommenders not in CONTRACT_MODELS: {sorted(missing)}"


def test_the_session_variant_of_the_gru_takes_the_same_trailing_arguments():
    import inspect

    from visrec_helpers.recsys.sequence import GRURecommender

    params = list(inspect.signature(GRURecommender.recommend_sessions).parameters)
    assert params == ["self", "histories", "k", "exclude_seen", "candidates"]


def test_bpr_sample_triples_pairs_a_seen_item_with_an_unseen_one():
    m = blocks()
    model = BPR(factors=4, epochs=2).fit(m)
    u, i, j = model.sample_triples(np.random.default_rng(0), 500)
    dense = m.toarray()
    assert u.shape == i.shape == j.shape == (500,)
    assert dense[u, i].all() and not dense[u, j].any()
    again = model.sample_triples(np.random.default_rng(0), 500)
    assert all(np.array_equal(a, b) for a, b in zip((u, i, j), again))


def test_check_hyper_names_the_argument_and_the_bound():
    from visrec_helpers.recsys.base import check_hyper

    check_hyper("factors", 4, low=1, integer=True)
    with pytest.raises(RecsysError, match="factors must be an integer >= 1, got 0"):
        check_hyper("factors", 0, low=1, integer=True)
    with pytest.raises(RecsysError, match="alpha must be a number > 0"):
        check_hyper("alpha", 0.0, strict=True)
    with pytest.raises(RecsysError, match="True"):
        check_hyper("k", True, integer=True)
