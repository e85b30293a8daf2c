"""Splits: what goes to train and test, and how cold users/items are handled."""

import numpy as np
import pandas as pd
import pytest

from visrec_helpers.data import splits


def table():
    return pd.DataFrame({
        "user": [0, 0, 0, 1, 1, 2],
        "item": [0, 1, 2, 2, 1, 4],
        "weight": 1.0,
        "timestamp": [1.0, 2.0, 9.0, 3.0, 8.0, 10.0],
    })


def test_leave_last_out_holds_each_users_latest():
    train, test = splits.leave_last_out(table())
    assert sorted(zip(test.user, test.item)) == [(0, 2), (1, 1)]
    assert 2 in set(train.user)  # a one-event user stays in training


def test_test_sets_gives_empty_set_for_users_without_test():
    _, test = splits.leave_last_out(table())
    assert splits.test_sets(test, [0, 2]) == [{2}, set()]


def test_temporal_split_cuts_at_one_time_and_drops_cold():
    train, test = splits.temporal_split(table(), test_fraction=0.5)
    assert train.timestamp.max() <= test.attrs["cutoff"] < test.timestamp.min()
    # user 2 and item 4 appear only after the cut: cold, dropped and counted
    assert test.attrs["cold_users"] == 1 and test.attrs["cold_items"] == 1
    assert sorted(zip(test.user, test.item)) == [(0, 2), (1, 1)]
    assert set(test.user) <= set(train.user) and set(test.item) <= set(train.item)


def test_temporal_split_can_keep_cold_rows():
    _, test = splits.temporal_split(table(), test_fraction=0.5, drop_cold=False)
    assert 2 in set(test.user)


@pytest.mark.parametrize("frac", [0.0, 1.0, -0.1])
def test_bad_fractions_raise(frac):
    with pytest.raises(ValueError, match="must be in"):
        splits.temporal_split(table(), test_fraction=frac)


def test_temporal_split_needs_timestamps():
    with pytest.raises(ValueError, match="timestamp"):
        splits.temporal_split(table().drop(columns="timestamp"))


def test_spread_over_time_keeps_each_users_order():
    df = table()
    out = splits.spread_over_time(df, span=100.0, seed=0)
    for u, g in out.groupby("user"):
        assert list(g["item"]) == list(df[df.user == u].sort_values("timestamp")["item"])
        assert g["timestamp"].is_monotonic_increasing
    assert out["timestamp"].between(0, 100).all()


def test_subsample_keeps_a_share_of_each_user():
    df = pd.DataFrame({"user": np.repeat([0, 1], 10), "item": np.arange(20)})
    out = splits.subsample_interactions(df, 0.3, seed=0)
    assert out.groupby("user").size().tolist() == [3, 3]
    assert len(splits.subsample_interactions(df, 0.01)) == 2  # min_per_user = 1
    with pytest.raises(ValueError, match="fraction"):
        splits.subsample_interactions(df, 0.0)


# --- leave_last_out and re-viewed items: the held-out item is new to the user ------------------

def reviewed():
    # user 0 views item 5, then 1, then 5 again (the held-out event); user 1 views only item 7, twice
    return pd.DataFrame({"user": [0, 0, 0, 1, 1], "item": [5, 1, 5, 7, 7],
                         "timestamp": [1.0, 2.0, 3.0, 1.0, 2.0]})


def test_leave_last_out_drops_earlier_views_of_the_held_out_item():
    train, test = splits.leave_last_out(reviewed())
    assert sorted(zip(test.user, test.item)) == [(0, 5)]
    assert sorted(zip(train.user, train.item)) == [(0, 1), (1, 7), (1, 7)]
    assert train.attrs["dropped_repeats"] == 1


def test_leave_last_out_never_puts_a_pair_in_both_sets():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"user": rng.integers(0, 30, 600), "item": rng.integers(0, 15, 600),
                       "timestamp": rng.random(600)})
    train, test = splits.leave_last_out(df, n_test=2)
    assert not set(zip(train.user, train.item)) & set(zip(test.user, test.item))
    assert set(test.user) <= set(train.user)
    assert not test.duplicated(["user", "item"]).any()


def test_a_user_who_only_repeats_one_item_stays_in_training():
    # user 1 has nothing left to train on once item 7 is held out: no test for them
    train, test = splits.leave_last_out(reviewed())
    assert 1 not in set(test.user) and (train.user == 1).sum() == 2


def test_leave_last_out_held_out_item_is_recommendable_after_the_seen_filter():
    train, test = splits.leave_last_out(reviewed())
    seen = set(train.loc[train.user == 0, "item"])
    assert splits.test_sets(test, [0])[0].isdisjoint(seen)


@pytest.mark.parametrize("kwargs", [{"n_test": 0}, {"n_test": 1.5}, {"min_train": 0}])
def test_leave_last_out_bad_arguments_are_named(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=f"{name} must be an integer >= 1"):
        splits.leave_last_out(table(), **kwargs)
