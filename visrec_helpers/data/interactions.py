"""Data layer: the interactions table (``user, item, weight, timestamp``): validation, the
sparse user x item matrix, and the first simulator of the workbook."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from visrec_helpers.data.catalogs import Catalog
from visrec_helpers.data.images import DataError

# ---------------------------------------------------------------------------
# Simulated interactions with known ground truth
# ---------------------------------------------------------------------------

@dataclass
class GroundTruth:
    """What the simulator knows and a real log does not.

    utility: ``(n_users, n_items)`` float64, each user's true preference score for every
    item (higher is better). interests: per user, the list of (label, tag, weight) taste
    components. popularity: ``(n_items,)`` the items' latent quality.
    """

    utility: np.ndarray
    interests: list
    popularity: np.ndarray
    params: dict

    def top_items(self, user: int, k: int = 10, exclude=()) -> np.ndarray:
        """The ``k`` items this user truly likes most, excluding ``exclude``."""
        u = self.utility[user].copy()
        u[list(exclude)] = -np.inf
        return np.argsort(-u, kind="stable")[:k]


def simulate_interactions(
    catalog: Catalog,
    n_users: int = 500,
    events_per_user: int = 30,
    n_interests: tuple[int, int] = (1, 3),
    popularity_weight: float = 0.3,
    temperature: float = 0.25,
    tag_weight: float = 1.5,
    seed: int = 0,
) -> tuple[pd.DataFrame, GroundTruth]:
    """Simulate implicit feedback from users whose taste is built on real item attributes.

    The generative model (documented so that results can be checked against truth):

    1. Each item gets a latent quality ``q_i ~ Normal(0, 1)``; ``popularity_weight * q_i``
       is added to everyone's utility, so some items are liked by many (what a
       popularity baseline can exploit).
    2. Each user has 1-3 interests (``n_interests``). An interest is a class label of the
       catalog plus one of that item's tags (for digits: "thick", "right-slant", ...),
       with a Dirichlet weight. Item utility for that interest is ``1`` for the label
       plus ``tag_weight`` when the item also carries the tag.
    3. ``utility[u, i] = sum_k w_k * match_k(i) + popularity_weight * q_i + noise``
       (noise ``Normal(0, 0.1)`` fixed per user-item).
    4. The user views ``events_per_user`` distinct items, drawn without replacement
       with probability ``softmax(utility / temperature)``. Timestamps are increasing
       per user (seconds, starting at a random time in one simulated day). The weight
       is 1 for a view and 3 for a "like" (utility in the user's top 10%).

    Returns ``(interactions, truth)``: interactions has columns
    ``user, item, weight, timestamp`` sorted by user then time.
    """
    if not isinstance(catalog, Catalog):
        raise TypeError(f"catalog must be a Catalog (digits_catalog(), photo_catalog(), load_image_folder()), "
                        f"got {type(catalog).__name__}")
    n = len(catalog)
    for arg, value in (("n_users", n_users), ("events_per_user", events_per_user)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{arg} must be an integer, got {value!r}")
    if n_users < 1 or events_per_user < 1:
        raise ValueError(f"n_users={n_users} and events_per_user={events_per_user} must be >= 1")
    try:
        lo_i, hi_i = (int(v) for v in n_interests)
    except (TypeError, ValueError):
        raise ValueError(f"n_interests must be a pair (min, max) of integers, got {n_interests!r}") from None
    if not 1 <= lo_i <= hi_i:
        raise ValueError(f"n_interests={n_interests!r} must satisfy 1 <= min <= max")
    for arg, value in (("popularity_weight", popularity_weight), ("tag_weight", tag_weight),
                       ("temperature", temperature)):
        if not np.isfinite(value):
            raise ValueError(f"{arg} must be a finite number, got {value!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 (softmax of utility / temperature), got {temperature!r}")
    if events_per_user > n:
        raise ValueError(f"events_per_user={events_per_user} exceeds the catalog size {n}")
    rng = np.random.default_rng(seed)
    labels = catalog.labels
    n_labels = int(labels.max()) + 1
    quality = rng.normal(0.0, 1.0, n)
    # Tags other than the class name, per item, as a boolean matrix.
    vocab = sorted({t for ts in catalog.tags for t in ts} - set(catalog.label_names))
    tag_index = {t: j for j, t in enumerate(vocab)}
    has_tag = np.zeros((n, max(len(vocab), 1)), dtype=bool)
    for i, ts in enumerate(catalog.tags):
        for t in ts:
            if t in tag_index:
                has_tag[i, tag_index[t]] = True

    utility = np.empty((n_users, n))
    interests, rows = [], []
    lo, hi = n_interests
    for u in range(n_users):
        m = int(rng.integers(lo, hi + 1))
        chosen = rng.choice(n_labels, size=min(m, n_labels), replace=False)
        weights = rng.dirichlet(np.ones(len(chosen)) * 2.0)
        score = popularity_weight * quality + rng.normal(0.0, 0.1, n)
        mine = []
        for c, w in zip(chosen, weights):
            match = (labels == c).astype(float)
            tag = None
            if vocab:
                tag = vocab[int(rng.integers(len(vocab)))]
                match = match + tag_weight * ((labels == c) & has_tag[:, tag_index[tag]])
            score = score + w * 2.0 * match
            mine.append((int(c), tag, float(w)))
        utility[u] = score
        interests.append(mine)
        logits = score / temperature
        p = np.exp(logits - logits.max())
        p /= p.sum()
        # Gumbel top-k = sampling without replacement proportional to p.
        g = np.log(p + 1e-300) + rng.gumbel(size=n)
        items = np.argsort(-g)[:events_per_user]
        like_cut = np.quantile(score, 0.9)
        t0 = rng.uniform(0, 86_400)
        times = t0 + np.cumsum(rng.exponential(60.0, events_per_user))
        for it, ts in zip(items, times):
            rows.append((u, int(it), 3.0 if score[it] >= like_cut else 1.0, float(ts)))
    df = pd.DataFrame(rows, columns=["user", "item", "weight", "timestamp"])
    df = df.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)
    truth = GroundTruth(utility, interests, quality,
                        {"popularity_weight": popularity_weight, "temperature": temperature,
                         "tag_weight": tag_weight, "seed": seed})
    return df, truth


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
