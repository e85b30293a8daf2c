"""Data layer: the interactions table (``user, item, event, weight, timestamp``): the one
interaction-weight policy, validation and the sparse user x item matrix. The simulator that
writes such tables is ``data.simulate``.

The interaction-weight policy
-----------------------------
An event is a ``like``, a ``view`` or a ``skip``. Every model and notebook turns events into
weights through :func:`interaction_weights` (the table is :data:`WEIGHT_POLICIES`):

============  ======  ======  ======  ==============================================
policy        like    view    skip    for
============  ======  ======  ======  ==============================================
``default``   3.0     1.0     0.0     a users x items matrix (ALS, BPR, kNN, EASE, popularity)
``signed``    3.0     1.0     -0.5    a profile summed from item vectors (real-time serving)
============  ======  ======  ======  ==============================================

A skip is never a positive. In a matrix it weighs 0: the models' input check drops zero
entries, so a skipped item is neither a positive nor "seen" (pass ``exclude`` items yourself
if a skipped item must not come back). In a profile it weighs -0.5, pulling the profile away
from what the user passed over. A like is worth three views in both.

The simulator's log still writes its older ``weight`` column (``data.simulate.LOG_WEIGHTS``,
skip 0.1) so that the notebooks written against it keep their figures; a model built in a
new notebook takes ``log.assign(weight=interaction_weights(log))``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from visrec_helpers.data.images import DataError

EVENTS = ("like", "view", "skip")
WEIGHT_POLICIES = {
    "default": {"like": 3.0, "view": 1.0, "skip": 0.0},
    "signed": {"like": 3.0, "view": 1.0, "skip": -0.5},
}


def interaction_weights(events, policy: str = "default") -> np.ndarray:
    """``(n,)`` float64 weight of each event under ``policy`` (see the module docstring).

    ``events``: an interactions table with an ``event`` column (``data.simulate_users``) or a
    ``kind`` column (``serving.realtime`` event tables), or a sequence of event names.
    ``policy``: ``"default"`` (skip 0, for a users x items matrix) or ``"signed"`` (skip -0.5,
    for profiles). An unknown policy raises ``ValueError``; an unknown or missing event name,
    or a table without an ``event``/``kind`` column, raises ``DataError`` naming it.
    """
    if policy not in WEIGHT_POLICIES:
        raise ValueError(f"policy must be one of {sorted(WEIGHT_POLICIES)}, got {policy!r}")
    if isinstance(events, pd.DataFrame):
        column = next((c for c in ("event", "kind") if c in events.columns), None)
        if column is None:
            raise DataError(f"events: no 'event' or 'kind' column to weight; columns: {list(events.columns)}")
        names = events[column]
    elif isinstance(events, str):
        raise DataError(f"events must be a table or a sequence of event names, got the string {events!r}")
    else:
        names = pd.Series(np.asarray(events, dtype=object).ravel())
    table = WEIGHT_POLICIES[policy]
    weights = pd.Series(names).map(table)
    if weights.isna().any():
        bad = sorted({str(v) for v in pd.Series(names)[weights.isna()].unique()})[:5]
        raise DataError(f"events: unknown event name(s) {bad}; known: {list(EVENTS)}")
    return weights.to_numpy(dtype=np.float64)

# ---------------------------------------------------------------------------
# Simulated interactions with known ground truth
# ---------------------------------------------------------------------------

def interactions_to_csr(df: pd.DataFrame, n_users: int | None = None, n_items: int | None = None,
                        value: str = "weight"):
    """A ``scipy.sparse.csr_matrix`` users x items from an interactions table.

    Repeated (user, item) pairs are summed. Shape defaults to max id + 1; a given
    ``n_users``/``n_items`` must exceed every id. ``value`` names the column summed (a
    table without ``weight`` counts each row as 1). Raises ``DataError`` naming the problem.
    """
    from scipy.sparse import csr_matrix

    validate_interactions(df)
    for arg, size, col in (("n_users", n_users, "user"), ("n_items", n_items, "item")):
        if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer))
                                 or size <= int(df[col].max())):
            raise DataError(f"{arg}={size!r} is too small or not an integer: the table has {col} ids up to "
                            f"{int(df[col].max())}")
    if value not in df and value != "weight":
        raise DataError(f"value={value!r} is not a column of the table; columns: {list(df.columns)}")
    n_users = int(df["user"].max()) + 1 if n_users is None else n_users
    n_items = int(df["item"].max()) + 1 if n_items is None else n_items
    vals = df[value].to_numpy(dtype=np.float64) if value in df else np.ones(len(df))
    m = csr_matrix((vals, (df["user"].to_numpy(), df["item"].to_numpy())), shape=(n_users, n_items))
    m.sum_duplicates()
    return m


def validate_interactions(df: pd.DataFrame, n_items: int | None = None, source: str = "interactions") -> None:
    """Raise ``DataError`` naming the problem if ``df`` is not a usable interactions table."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{source}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in ("user", "item") if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing required column(s) {missing}; found {list(df.columns)}")
    if len(df) == 0:
        raise DataError(f"{source}: no interactions (empty table)")
    for col in ("user", "item"):
        if df[col].isna().any():
            raise DataError(f"{source}: column '{col}' has missing values")
        if not np.issubdtype(df[col].dtype, np.integer):
            raise DataError(f"{source}: column '{col}' must hold integer ids, got dtype {df[col].dtype}")
        if (df[col] < 0).any():
            bad = sorted(int(v) for v in df.loc[df[col] < 0, col].unique())[:5]
            raise DataError(f"{source}: column '{col}' has negative ids {bad}; ids are 0, 1, 2, ...")
    for col in ("weight", "timestamp"):
        if col in df.columns:
            vals = pd.to_numeric(df[col], errors="coerce")
            if vals.isna().any() or not np.isfinite(vals.to_numpy(dtype=float)).all():
                raise DataError(f"{source}: column '{col}' has missing, non-numeric or infinite values")
    if n_items is not None and (df["item"] >= n_items).any():
        bad = sorted(int(i) for i in df.loc[df["item"] >= n_items, "item"].unique())[:5]
        raise DataError(f"{source}: unknown item ids {bad} (catalog has {n_items} items, ids 0..{n_items - 1})")
