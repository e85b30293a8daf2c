"""Train/test splits of interaction tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from visrec_helpers.core.validation import as_ids
from visrec_helpers.data import DataError, validate_interactions


def leave_last_out(df: pd.DataFrame, n_test: int = 1, min_train: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out each user's last ``n_test`` interactions (by timestamp) as the test set.

    Re-viewed items: a held-out item must be new to the user at test time, or the seen
    filter (which removes a user's training items from their recommendations) could never
    recommend it and the split would measure nothing. So every earlier interaction of a
    user with one of their held-out items is removed from train (it is in neither set),
    and the test set keeps one row per (user, item), the latest. ``train.attrs
    ["dropped_repeats"]`` counts the removed rows.

    Users who would keep fewer than ``min_train`` training rows after that (including
    users with fewer than ``n_test + min_train`` interactions) stay wholly in training:
    they have nothing to test. Returns ``(train, test)``; every test user is in train and
    no (user, item) pair is in both.
    """
    validate_interactions(df)
    if isinstance(n_test, bool) or not isinstance(n_test, (int, np.integer)) or n_test < 1:
        raise ValueError(f"n_test must be an integer >= 1, got {n_test!r}")
    if isinstance(min_train, bool) or not isinstance(min_train, (int, np.integer)) or min_train < 1:
        raise ValueError(f"min_train must be an integer >= 1, got {min_train!r}")
    order = df.sort_values(["user", "timestamp"], kind="stable") if "timestamp" in df else df.sort_values(
        "user", kind="stable")
    order = order.reset_index(drop=True)
    rank_from_end = order.groupby("user").cumcount(ascending=False).to_numpy()
    users = order["user"].to_numpy()
    pair = pd.MultiIndex.from_arrays([users, order["item"].to_numpy()])
    held = rank_from_end < n_test
    held_pairs = pair[held]
    # rows of a (user, item) that is held out: the held rows themselves and earlier repeats
    in_held_pair = pair.isin(held_pairs)
    repeats = in_held_pair & ~held
    train_left = pd.Series(~in_held_pair).groupby(users).transform("sum").to_numpy()
    testable = train_left >= min_train
    is_test = held & testable
    drop = repeats & testable
    test = order[is_test]
    test = test[~test.duplicated(["user", "item"], keep="last")].reset_index(drop=True)
    train = order[~is_test & ~drop].reset_index(drop=True)
    train.attrs["dropped_repeats"] = int(drop.sum())
    return train, test


def test_sets(test: pd.DataFrame, users) -> list[set]:
    """The held-out item ids of each user in ``users`` (integer ids; a float or a mask raises
    ``DataError``), as a list of sets (empty when none)."""
    users = as_ids(users, "users", what="user", error=DataError)
    grouped = test.groupby("user")["item"].apply(set).to_dict()
    return [grouped.get(u, set()) for u in users.tolist()]


def temporal_split(df: pd.DataFrame, test_fraction: float = 0.2, drop_cold: bool = True
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Global temporal split: every interaction after one cut-off time is test.

    The cut-off is the ``1 - test_fraction`` quantile of all timestamps, so the model
    never trains on the future of any user. Cold start is the documented surprise: a
    user whose whole history lies after the cut (or an item first seen after it) has
    nothing in training. With ``drop_cold=True`` those test rows are dropped, and
    ``test.attrs`` records how many (``"cold_users"``, ``"cold_items"``,
    ``"dropped_rows"``) and the ``"cutoff"``; with ``False`` they stay for a cold-start
    evaluation.
    """
    validate_interactions(df)
    if "timestamp" not in df:
        raise ValueError("temporal_split needs a 'timestamp' column")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    cutoff = float(np.quantile(df["timestamp"].to_numpy(dtype=float), 1.0 - test_fraction))
    is_test = df["timestamp"].to_numpy(dtype=float) > cutoff
    train, test = df[~is_test].reset_index(drop=True), df[is_test].reset_index(drop=True)
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"test_fraction={test_fraction} leaves an empty train or test set")
    cold_user = ~test["user"].isin(set(train["user"]))
    cold_item = ~test["item"].isin(set(train["item"]))
    attrs = {"cutoff": cutoff, "cold_users": int(test.loc[cold_user, "user"].nunique()),
             "cold_items": int(test.loc[cold_item, "item"].nunique()), "dropped_rows": 0}
    if drop_cold:
        keep = ~(cold_user | cold_item)
        attrs["dropped_rows"] = int((~keep).sum())
        test = test[keep].reset_index(drop=True)
    test.attrs.update(attrs)
    return train, test


def spread_over_time(df: pd.DataFrame, span: float = 30 * 86_400.0, seed: int = 0) -> pd.DataFrame:
    """Re-time a log so that every user's events are spread over ``[0, span)`` seconds.

    Each user keeps the order of their events, at sorted uniform random times over the
    whole period, so users come back again and again, as in a log of several weeks. The
    simulator's sessions all fall within one day, which makes a global temporal split
    hold out whole users instead of their later interactions.
    """
    validate_interactions(df)
    if "timestamp" not in df:
        raise ValueError("spread_over_time needs a 'timestamp' column")
    if not span > 0:
        raise ValueError(f"span must be > 0, got {span}")
    rng = np.random.default_rng(seed)
    out = df.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)
    times = rng.uniform(0.0, span, len(out))
    # sort the random times within each user so the per-user order is kept
    order = np.lexsort((times, out["user"].to_numpy()))
    out["timestamp"] = times[order]
    return out


def subsample_interactions(df: pd.DataFrame, fraction: float, seed: int = 0, min_per_user: int = 1) -> pd.DataFrame:
    """Keep a random ``fraction`` of each user's rows (at least ``min_per_user``): a sparser log.

    Used to measure what sparsity does to a model; the order of the kept rows is unchanged.
    """
    validate_interactions(df)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    key = pd.Series(rng.random(len(df)), index=df.index)
    rank = key.groupby(df["user"]).rank(method="first") - 1
    size = df.groupby("user")["item"].transform("size")
    keep = rank < np.maximum(np.ceil(fraction * size), min_per_user)
    return df[keep.to_numpy()].reset_index(drop=True)
