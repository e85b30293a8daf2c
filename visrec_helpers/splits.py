"""Train/test splits of interaction tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data import validate_interactions


def leave_last_out(df: pd.DataFrame, n_test: int = 1, min_train: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out each user's last ``n_test`` interactions (by timestamp) as the test set.

    Users with fewer than ``n_test + min_train`` interactions stay wholly in training
    (they have nothing to test). Returns ``(train, test)``; every test user is in train.
    """
    validate_interactions(df)
    if n_test < 1:
        raise ValueError(f"n_test must be >= 1, got {n_test}")
    order = df.sort_values(["user", "timestamp"], kind="stable") if "timestamp" in df else df
    rank_from_end = order.groupby("user").cumcount(ascending=False)
    counts = order.groupby("user")["item"].transform("size")
    is_test = (rank_from_end < n_test) & (counts >= n_test + min_train)
    return order[~is_test].reset_index(drop=True), order[is_test].reset_index(drop=True)


def test_sets(test: pd.DataFrame, users) -> list[set]:
    """The held-out item ids of each user in ``users``, as a list of sets (empty when none)."""
    grouped = test.groupby("user")["item"].apply(set).to_dict()
    return [grouped.get(int(u), set()) for u in np.asarray(users)]
