"""data.simulate: simulated users v2 (tastes over real attributes, no order artefact, realistic event mix)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visrec_helpers.data import WEIGHT_POLICIES, DataError, interaction_weights
from visrec_helpers.data.simulate import LOG_WEIGHTS, SimulatedTruth, simulate_users

COLOURS = ["red", "yellow", "green", "blue", "black"]


def synthetic_attributes(n_items: int = 400, n_subgroups: int = 20, seed: int = 0) -> pd.DataFrame:
    """A catalog-like table: uneven subgroups inside groups, a colour and a numeric column."""
    rng = np.random.default_rng(seed)
    sizes = rng.dirichlet(np.ones(n_subgroups))
    sub = rng.choice(n_subgroups, size=n_items, p=sizes)
    return pd.DataFrame({
        "subgroup": [f"sub-{s:02d}" for s in sub],
        "group": [f"group-{s // 5}" for s in sub],
        "colour": rng.choice(COLOURS, size=n_items),
        "thickness": rng.gamma(2.0, 1.0, n_items),
    })


@pytest.fixture(scope="module")
def attrs():
    return synthetic_attributes()


@pytest.fixture(scope="module")
def log(attrs):
    return simulate_users(attrs, ["subgroup", "colour"], n_users=300, events_per_user=(20, 40), random_state=0)


def per_user_spearman(df: pd.DataFrame, utility: np.ndarray) -> float:
    """Mean over users of the Spearman correlation between an event's time and its true utility."""
    from scipy.stats import spearmanr

    u = utility[df["user"].to_numpy(), df["item"].to_numpy()]
    rhos = [spearmanr(g["timestamp"], u[g.index]).statistic for _, g in df.groupby("user")]
    return float(np.mean(rhos))


# --- the table ------------------------------------------------------------------------------

def test_log_is_a_plain_table_sorted_by_user_then_time(log, attrs):
    df, _ = log
    assert list(df.columns) == ["user", "item", "event", "weight", "timestamp"]
    assert df["user"].dtype == np.int64 and df["item"].dtype == np.int64
    assert df["weight"].dtype == np.float64 and df["timestamp"].dtype == np.float64
    assert set(df["event"]) == {"like", "view", "skip"}
    assert df["item"].between(0, len(attrs) - 1).all()
    assert df.equals(df.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True))


def test_every_user_views_distinct_items_within_the_range(log):
    df, _ = log
    assert not df.duplicated(["user", "item"]).any()
    counts = df.groupby("user").size()
    assert list(counts.index) == list(range(300))
    assert counts.between(20, 40).all()


def test_weights_follow_the_event_type(log):
    df, _ = log
    assert (df["weight"] == df["event"].map(LOG_WEIGHTS)).all()
    policy = interaction_weights(df)  # what a model trains on: a skip is never a positive
    np.testing.assert_array_equal(policy, df["event"].map(WEIGHT_POLICIES["default"]))
    assert (policy[df["event"] == "skip"] == 0).all() and (policy[df["event"] != "skip"] > 0).all()
    custom = {"like": 5.0, "view": 2.0, "skip": 0.0}
    df2, _ = simulate_users(synthetic_attributes(), ["subgroup"], n_users=20, event_weights=custom)
    assert (df2["weight"] == df2["event"].map(custom)).all()


def test_timestamps_lie_within_the_simulated_period(log):
    df, _ = log
    assert df["timestamp"].min() >= 0.0
    assert df["timestamp"].max() <= 30 * 86_400.0


# --- determinism ----------------------------------------------------------------------------

def test_same_random_state_gives_the_same_log_and_truth(attrs):
    a, ta = simulate_users(attrs, ["subgroup", "colour"], n_users=50, random_state=3)
    b, tb = simulate_users(attrs, ["subgroup", "colour"], n_users=50, random_state=3)
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(ta.utility, tb.utility)
    assert ta.tastes == tb.tastes


def test_another_random_state_gives_another_log(attrs):
    a, _ = simulate_users(attrs, ["subgroup"], n_users=50, random_state=3)
    b, _ = simulate_users(attrs, ["subgroup"], n_users=50, random_state=4)
    assert not a.equals(b)


# --- a realistic event mix ------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_likes_are_10_to_30_percent_and_skips_a_real_share_for_every_seed(attrs, seed):
    df, _ = simulate_users(attrs, ["subgroup", "colour"], n_users=200, random_state=seed)
    share = df["event"].value_counts(normalize=True)
    assert 0.10 <= share["like"] <= 0.30
    assert 0.15 <= share["skip"] <= 0.45
    assert share["view"] >= 0.30


@pytest.mark.parametrize("like_rate, skip_rate", [(0.1, 0.2), (0.3, 0.4)])
def test_event_shares_track_the_requested_rates(attrs, like_rate, skip_rate):
    df, truth = simulate_users(attrs, ["subgroup", "colour"], n_users=300, like_rate=like_rate,
                               skip_rate=skip_rate, random_state=1)
    share = df["event"].value_counts(normalize=True)
    assert share["like"] == pytest.approx(like_rate, abs=0.04)
    assert share["skip"] == pytest.approx(skip_rate, abs=0.05)
    assert truth.like_rate.mean() == pytest.approx(like_rate, abs=0.02)


def test_likes_have_higher_true_utility_than_views_and_views_than_skips(log):
    df, truth = log
    u = pd.Series(truth.utility[df["user"], df["item"]]).groupby(df["event"]).mean()
    assert u["like"] > u["view"] > u["skip"]


# --- no order artefact; drift only when asked -----------------------------------------------

def test_event_order_says_nothing_about_utility_without_drift(log):
    df, truth = log
    # 300 users x ~30 events: the mean of per-user correlations has sd ~0.01 under independence.
    assert abs(per_user_spearman(df, truth.utility)) < 0.04
    np.testing.assert_array_equal(truth.utility, truth.start_utility)
    assert truth.end_tastes is None


def test_drift_makes_later_events_follow_the_new_taste(attrs):
    df, truth = simulate_users(attrs, ["subgroup", "colour"], n_users=300, drift=1.0, random_state=0)
    assert per_user_spearman(df, truth.utility) > 0.2  # late events fit the end taste
    assert per_user_spearman(df, truth.start_utility) < -0.1  # and fit the start taste less
    assert truth.end_tastes is not None and truth.end_tastes != truth.tastes


def test_utility_at_interpolates_between_start_and_end(attrs):
    _, truth = simulate_users(attrs, ["subgroup"], n_users=10, drift=0.5, random_state=0)
    np.testing.assert_allclose(truth.utility_at(0.0), truth.start_utility)
    np.testing.assert_allclose(truth.utility_at(1.0), truth.utility)
    np.testing.assert_allclose(truth.utility_at(0.5), (truth.start_utility + truth.utility) / 2)
    with pytest.raises(ValueError, match="s must be in"):
        truth.utility_at(1.5)


# --- tastes are over the facets ---------------------------------------------------------------

def test_events_concentrate_on_each_users_preferred_subgroups(log, attrs):
    df, truth = log
    sub = attrs["subgroup"].to_numpy()
    preferred = [set(t["subgroup"]) for t in truth.tastes]
    in_pref = np.mean([sub[i] in preferred[u] for u, i in zip(df["user"], df["item"])])
    catalog_share = np.mean([np.isin(sub, list(p)).mean() for p in preferred])
    assert in_pref > 3 * catalog_share
    likes = df[df["event"] == "like"]
    assert np.mean([sub[i] in preferred[u] for u, i in zip(likes["user"], likes["item"])]) > in_pref


def test_tastes_name_real_levels_with_the_favourite_at_one(log, attrs):
    _, truth = log
    for taste in truth.tastes[:20]:
        assert set(taste) == {"subgroup", "colour"}
        assert set(taste["subgroup"]) <= set(attrs["subgroup"])
        assert 1 <= len(taste["subgroup"]) <= 3
        assert max(taste["colour"].values()) == 1.0


def test_true_utility_ranks_held_out_likes_above_popularity(log):
    """The truth explains held-out likes: its top 10 per user finds more of them than the
    most popular training items do."""
    df, truth = log
    test = np.random.default_rng(0).random(len(df)) < 0.2
    train, held = df[~test], df[test & (df["event"] == "like")]
    seen = {u: set(g) for u, g in train.groupby("user")["item"]}
    popularity = np.bincount(train["item"], weights=train["weight"], minlength=truth.n_items)
    hits_truth = hits_pop = 0
    for u, g in held.groupby("user"):
        hits_truth += len(set(truth.top_items(u, 10, exclude=seen[u])) & set(g["item"]))
        pop = popularity.copy()
        pop[list(seen[u])] = -np.inf
        hits_pop += len(set(np.argsort(-pop, kind="stable")[:10]) & set(g["item"]))
    assert hits_truth > 2 * hits_pop


def test_relevant_items_are_those_at_or_above_the_like_threshold(log):
    _, truth = log
    rel = truth.relevant(5)
    assert rel == set(np.flatnonzero(truth.utility[5] >= truth.like_threshold[5]).tolist())
    some = sorted(rel)[:1]
    assert truth.relevant(5, exclude=some) == rel - set(some)
    sets = truth.relevant_sets([5, 6])
    assert sets[0] == rel and sets[1] == truth.relevant(6)


def test_relevant_sets_leave_out_seen_items(log):
    df, truth = log
    sets = truth.relevant_sets(seen=df)
    for u in range(5):
        assert not sets[u] & set(df.loc[df["user"] == u, "item"])


def test_top_items_are_sorted_by_true_utility_and_skip_exclusions(log):
    _, truth = log
    top = truth.top_items(0, 5)
    assert np.all(np.diff(truth.utility[0, top]) <= 0)
    assert top[0] == int(np.argmax(truth.utility[0]))
    assert top[0] not in truth.top_items(0, 5, exclude=[top[0]])
    with pytest.raises(ValueError, match="user is an unknown user id 300"):
        truth.top_items(300)


def test_numeric_facets_are_cut_into_quintiles(attrs):
    _, truth = simulate_users(attrs, ["thickness"], n_users=30, random_state=0)
    assert len(truth.params["levels"]["thickness"]) == 5
    assert all(isinstance(level, str) for level in truth.params["levels"]["thickness"])


def test_missing_values_are_a_level_nobody_prefers():
    a = synthetic_attributes(200)
    a.loc[::2, "colour"] = None
    _, truth = simulate_users(a, ["colour"], n_users=50, noise=0.0, popularity_weight=0.0, random_state=0)
    assert (truth.utility[:, ::2] == 0).all()
    assert all(None not in t["colour"] for t in truth.tastes)


def test_facet_weights_scale_the_taste(attrs):
    _, truth = simulate_users(attrs, ["subgroup", "colour"], n_users=20, facet_weights={"colour": 0.0},
                              noise=0.0, popularity_weight=0.0, random_state=0)
    sub = attrs["subgroup"].to_numpy()
    for u, taste in enumerate(truth.tastes):
        expected = 2.0 * np.array([taste["subgroup"].get(s, 0.0) for s in sub])
        np.testing.assert_allclose(truth.utility[u], expected)


def test_returns_a_simulated_truth_with_matching_shapes(log, attrs):
    _, truth = log
    assert isinstance(truth, SimulatedTruth)
    assert truth.utility.shape == (300, len(attrs))
    for name in ("like_threshold", "skip_threshold", "like_rate", "skip_rate", "popularity_sensitivity"):
        assert getattr(truth, name).shape == (300,)
    assert (truth.like_threshold > truth.skip_threshold).all()
    assert truth.quality.shape == (len(attrs),)


@pytest.mark.property
@settings(max_examples=15, deadline=None)
@given(n_items=st.integers(5, 60), n_levels=st.integers(1, 6), lo=st.integers(1, 5), extra=st.integers(0, 4),
       seed=st.integers(0, 2**16), drift=st.sampled_from([0.0, 0.5]))
def test_any_small_table_gives_a_valid_log(n_items, n_levels, lo, extra, seed, drift):
    rng = np.random.default_rng(seed)
    attrs = pd.DataFrame({"kind": rng.integers(0, n_levels, n_items).astype(str)})
    hi = min(lo + extra, n_items)
    lo = min(lo, hi)
    df, truth = simulate_users(attrs, ["kind"], n_users=7, events_per_user=(lo, hi), drift=drift,
                               random_state=seed)
    counts = df.groupby("user").size()
    assert len(counts) == 7 and counts.between(lo, hi).all()
    assert not df.duplicated(["user", "item"]).any()
    assert np.isfinite(truth.utility).all()


# --- other catalogs ---------------------------------------------------------------------------

def test_works_on_the_digit_attributes():
    from visrec_helpers.data import digit_attributes, load_digits_8x8

    images, _ = load_digits_8x8()
    a = digit_attributes(images[:300])
    df, truth = simulate_users(a, ["thickness", "slant", "width"], n_users=100, random_state=0)
    assert 0.10 <= (df["event"] == "like").mean() <= 0.30
    assert truth.utility.shape == (100, 300)


@pytest.mark.slow
def test_works_on_the_emoji_catalog():
    emoji = pytest.importorskip("visrec_helpers.data.emoji")
    cat = emoji.emoji_catalog()
    df, truth = simulate_users(cat.attributes, ["subgroup", "colour"], n_users=300, random_state=0)
    assert 0.10 <= (df["event"] == "like").mean() <= 0.30
    assert abs(per_user_spearman(df, truth.utility)) < 0.04
    sub = cat.attributes["subgroup"].to_numpy()
    preferred = [set(t["subgroup"]) for t in truth.tastes]
    in_pref = np.mean([sub[i] in preferred[u] for u, i in zip(df["user"], df["item"])])
    assert in_pref > 0.25  # preferred subgroups hold ~4% of the catalog


# --- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, match", [
    ({"facets": ["price"]}, DataError, r"facet column\(s\) \['price'\] not in attributes"),
    ({"facets": []}, ValueError, "facets is empty"),
    ({"facets": ["colour", "colour"]}, ValueError, "duplicates"),
    ({"n_users": 0}, ValueError, "n_users must be an integer >= 1"),
    ({"events_per_user": 1000}, ValueError, "exceeds the catalog size 400"),
    ({"events_per_user": (5, 2)}, ValueError, "low 5 is above high 2"),
    ({"events_per_user": 2.5}, ValueError, "events_per_user must be an integer"),
    ({"like_rate": 0.7, "skip_rate": 0.4}, ValueError, "like_rate \\+ skip_rate must be below 1"),
    ({"like_rate": 0.0}, ValueError, "like_rate must be > 0"),
    ({"drift": 1.5}, ValueError, "drift must be <= 1"),
    ({"temperature": 0}, ValueError, "temperature must be > 0"),
    ({"noise": float("nan")}, ValueError, "noise must be a finite number"),
    ({"event_weights": {"like": 1.0}}, ValueError, "event_weights must have exactly the keys"),
    ({"event_weights": {"like": 1.0, "view": -1.0, "skip": 0.0}}, ValueError, r"event_weights\['view'\]"),
    ({"facet_weights": [1.0]}, ValueError, "facet_weights has 1 entries for 2 facets"),
    ({"facet_weights": {"shape": 1.0}}, ValueError, "not in facets"),
    ({"session_length": (4, 2)}, ValueError, "session_length: low 4 is above high 2"),
    ({"session_length": 0}, ValueError, "session_length must hold integers >= 1"),
    ({"session_length": 3, "intent_weight": 1.5}, ValueError, "intent_weight must be <= 1"),
    ({"session_length": 3, "intent_explore": -0.1}, ValueError, "intent_explore must be >= 0"),
    ({"session_length": 3, "intent_facet": "group"}, ValueError, "intent_facet='group' is not one of the facets"),
])
def test_bad_arguments_are_refused_by_name(attrs, kwargs, error, match):
    args = {"facets": ["subgroup", "colour"], "n_users": 5} | kwargs
    with pytest.raises(error, match=match):
        simulate_users(attrs, **args)


def test_attributes_must_be_a_dataframe_of_items():
    with pytest.raises(DataError, match="attributes must be a pandas DataFrame"):
        simulate_users({"colour": ["red"]}, ["colour"])
    with pytest.raises(DataError, match="need at least 2 items"):
        simulate_users(pd.DataFrame({"colour": ["red"]}), ["colour"])
    with pytest.raises(DataError, match="only missing values"):
        simulate_users(pd.DataFrame({"colour": [None, None]}), ["colour"], n_users=1, events_per_user=1)


# --- in-session intent ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def session_log(attrs):
    return simulate_users(attrs, ["subgroup", "colour"], n_users=300, events_per_user=(20, 40),
                          session_length=(3, 8), random_state=0)


def _consecutive(df):
    df = df.sort_values(["user", "timestamp"], kind="stable")
    same_user = df["user"].to_numpy()[1:] == df["user"].to_numpy()[:-1]
    same_session = df["session"].to_numpy()[1:] == df["session"].to_numpy()[:-1]
    return df, same_user, same_session


def test_sessions_are_off_by_default_and_leave_the_log_unchanged(log, attrs):
    df, truth = log
    assert "session" not in df.columns and truth.sessions is None
    again, _ = simulate_users(attrs, ["subgroup", "colour"], n_users=300, events_per_user=(20, 40), random_state=0,
                              intent_weight=0.9, intent_explore=0.1)  # intent knobs alone change nothing
    pd.testing.assert_frame_equal(df, again)


def test_session_log_keeps_the_table_contract_and_gains_a_session_column(session_log, attrs):
    df, truth = session_log
    assert list(df.columns) == ["user", "item", "event", "weight", "timestamp", "session"]
    assert df["session"].dtype == np.int64
    assert not df.duplicated(["user", "item"]).any()
    assert df.groupby("user").size().between(20, 40).all()
    assert df.equals(df.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True))
    assert (df["weight"] == df["event"].map(LOG_WEIGHTS)).all()


def test_sessions_are_minutes_inside_and_hours_apart(session_log):
    df, truth = session_log
    df, same_user, same_session = _consecutive(df)
    gaps = np.diff(df["timestamp"].to_numpy())
    inside, between = gaps[same_user & same_session], gaps[same_user & ~same_session]
    assert inside.min() >= 30 and np.median(inside) < 5 * 60
    assert between.min() >= 3600 and np.median(between) > 4 * 3600
    sizes = truth.sessions["n_events"]
    assert sizes.between(1, 8).all() and (sizes >= 3).mean() > 0.85  # only each user's last session is cut short


def test_ground_truth_names_each_sessions_intent_and_the_items_follow_it(session_log, attrs):
    df, truth = session_log
    ss = truth.sessions
    assert list(ss.columns) == ["session", "user", "intent", "intent_facet", "start", "end", "n_events"]
    assert ss["session"].tolist() == list(range(len(ss)))
    counts = df.groupby("session").agg(user=("user", "first"), n=("item", "size"), start=("timestamp", "min"),
                                       end=("timestamp", "max"))
    np.testing.assert_array_equal(counts["n"], ss["n_events"])
    np.testing.assert_array_equal(counts["user"], ss["user"])
    np.testing.assert_allclose(counts[["start", "end"]].to_numpy(), ss[["start", "end"]].to_numpy())
    assert set(ss["intent"]) <= set(attrs["subgroup"]) and (ss["intent_facet"] == "subgroup").all()
    level = attrs["subgroup"].to_numpy()[df["item"]]
    intent = df["session"].map(ss.set_index("session")["intent"]).to_numpy()
    assert (level == intent).mean() > 0.6  # most of a session's items are of its intent


def test_a_session_model_has_something_to_find(session_log, log, attrs):
    """The next item shares the previous item's subgroup far more often inside a session than
    across a session boundary or in a log without sessions; intents vary within a user."""
    sub = attrs["subgroup"].to_numpy()
    df, same_user, same_session = _consecutive(session_log[0])
    items = df["item"].to_numpy()
    same = sub[items[1:]] == sub[items[:-1]]
    inside, across = same[same_user & same_session].mean(), same[same_user & ~same_session].mean()
    plain = log[0].sort_values(["user", "timestamp"], kind="stable")
    p_items, p_users = plain["item"].to_numpy(), plain["user"].to_numpy()
    no_sessions = (sub[p_items[1:]] == sub[p_items[:-1]])[p_users[1:] == p_users[:-1]].mean()
    assert inside > across + 0.25 and inside > no_sessions + 0.25
    assert session_log[1].sessions.groupby("user")["intent"].nunique().mean() > 2


def test_intent_explore_sets_how_often_a_session_leaves_the_users_tastes(attrs):
    shares = []
    for explore in (0.0, 1.0):
        _, truth = simulate_users(attrs, ["subgroup", "colour"], n_users=150, session_length=(3, 6),
                                  intent_explore=explore, random_state=1)
        ss = truth.sessions
        shares.append(np.mean([i in truth.tastes[u]["subgroup"] for u, i in zip(ss["user"], ss["intent"])]))
    assert shares[0] > 0.85 and shares[1] < shares[0] - 0.3


def test_sessions_keep_the_event_mix_and_work_with_drift(attrs):
    df, truth = simulate_users(attrs, ["subgroup", "colour"], n_users=200, session_length=(2, 5), drift=1.0,
                               random_state=2)
    share = df["event"].value_counts(normalize=True)
    assert 0.1 <= share["like"] <= 0.3 and 0.15 <= share["skip"] <= 0.45
    late = df.groupby("user").tail(5)
    assert truth.utility[late["user"], late["item"]].mean() > truth.start_utility[late["user"], late["item"]].mean()
