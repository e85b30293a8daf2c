"""The recommender contract every model of the package follows, and the one path that checks its inputs.

The contract (scikit-learn's estimator shape, for recommendation):

- ``__init__`` takes hyper-parameters only; learned state ends in ``_``.
- ``fit(X, *, item_features=None, timestamps=None) -> self``. ``X``: users x items
  ``scipy.sparse`` matrix (or dense 2-D array) of non-negative interaction weights.
  ``item_features``: per item, what a content model reads (``(n_items, d)`` embeddings; a
  tag model takes one list of tags per item); models that need none ignore it.
  ``timestamps``: when each interaction of ``X`` happened (same shape, a time at every
  stored entry of ``X``), for models that read order or recency.
- ``score(users) -> (len(users), n_items)`` float, higher is better.
- ``recommend(users, k=10, exclude_seen=True, candidates=None) -> (len(users), k)`` int64
  item ids, best first. Every row holds ``k`` distinct ids in ``0..n_items_-1``, only ids
  from ``candidates`` when given, and none of the user's training items when
  ``exclude_seen``. Ties keep the lower item id first. When fewer than ``k`` items are left
  the call raises rather than padding the list.
- ``n_users_``, ``n_items_``: the sizes the fitted model knows.

Bad input raises ``RecsysError`` (a ``ValueError``) naming the argument and the value:
``users`` must be integer ids in ``0..n_users_-1`` (repeats allowed: one row per request);
``k`` an integer >= 1; ``candidates`` distinct integer item ids in range (a boolean mask is
refused, not read as ids: pass ``np.flatnonzero(mask)``). The metrics and samplers of
``recsys.metrics`` use the same checks.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from visrec_helpers.core.validation import as_ids, as_k


class RecsysError(ValueError):
    """Bad input to a recommender, metric or sampler; the message names the argument and the value."""


def check_top_k(k, name: str = "k") -> int:
    """``k`` as a Python int >= 1 (bools and floats refused): ``core.validation.as_k``."""
    return as_k(k, name=name, error=RecsysError)


def check_ids(ids, n: int, name: str, *, unique: bool = True, allow_empty: bool = False,
              what: str = "item") -> np.ndarray:
    """Validate a 1-D array of ids in ``0..n-1``: ``(m,)`` int64, in the given order.

    The package's one id check (``core.validation.as_ids``), raising ``RecsysError`` naming
    ``name`` and the offending values: a boolean array (a mask is not a list of ids), a
    non-integer dtype (``1.0``, ``1e20``, strings), more than one dimension, ids below 0 or
    >= ``n``, repeated ids when ``unique``, and an empty array unless ``allow_empty``.
    """
    return as_ids(ids, name, n, unique=unique, allow_empty=allow_empty, what=what, error=RecsysError)


def check_candidates(candidates, n_items: int) -> np.ndarray | None:
    """``None`` (every item) or the sorted distinct candidate item ids, ``(m,)`` int64."""
    if candidates is None:
        return None
    return np.sort(check_ids(candidates, n_items, "candidates"))


def check_recommendations(recommendations, name: str = "recommendations", n_items: int | None = None) -> np.ndarray:
    """Recommendation lists ``(n, k)``: non-empty, integer ids >= 0 (< ``n_items`` when given),
    no id twice in a row (a repeat would count one hit twice). Returns the array."""
    r = np.asarray(recommendations)
    if r.ndim != 2 or r.size == 0:
        raise RecsysError(f"{name} must be a non-empty (n_users, k) array, got shape {r.shape}")
    if r.dtype == bool or not np.issubdtype(r.dtype, np.integer):
        raise RecsysError(f"{name} must hold integer item ids, got dtype {r.dtype}")
    if r.min() < 0:
        raise RecsysError(f"{name} hold negative item id(s) {np.unique(r[r < 0])[:5].tolist()}")
    if n_items is not None and r.max() >= n_items:
        raise RecsysError(f"{name} item ids must lie in 0..{n_items - 1}, got {int(r.max())}")
    srt = np.sort(r, axis=1)
    dup = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise RecsysError(f"{name} row {row} repeats an item: {r[row].tolist()[:20]}")
    return r


def check_user_items(X, name: str = "X") -> sp.csr_matrix:
    """Validate an interaction matrix: sparse or dense 2-D, finite, non-negative, not empty.

    Returns ``(n_users, n_items)`` CSR float64 with sorted indices and no explicit zeros.
    """
    try:
        m = sp.csr_matrix(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RecsysError(f"{name} must be a users x items matrix of numbers, got {type(X).__name__}") from exc
    if m.ndim != 2 or m.shape[0] == 0 or m.shape[1] == 0 or m.nnz == 0:
        raise RecsysError(f"{name} is empty (shape {m.shape}, {m.nnz} interactions)")
    if not np.isfinite(m.data).all():
        raise RecsysError(f"{name} contains NaN or infinite weights")
    if (m.data < 0).any():
        raise RecsysError(f"{name} contains negative weights (smallest {m.data.min():g})")
    m.eliminate_zeros()
    m.sort_indices()
    if m.nnz == 0:
        raise RecsysError(f"{name} is empty (shape {m.shape}, only zero weights)")
    return m


def check_item_features(item_features, n_items: int, owner: str, dtype=np.float64) -> np.ndarray:
    """``(n_items, d)`` finite item features; ``owner`` names the model that needs them."""
    if item_features is None:
        raise RecsysError(f"{owner}.fit needs item_features, an (n_items={n_items}, d) array")
    f = np.asarray(item_features)
    if f.ndim != 2 or len(f) != n_items or f.shape[1] == 0 or not np.issubdtype(f.dtype, np.number):
        raise RecsysError(f"item_features must be (n_items={n_items}, d) numbers, got shape {f.shape}")
    f = f.astype(dtype)
    if not np.isfinite(f).all():
        raise RecsysError("item_features contain NaN or infinite values")
    return f


def check_timestamps(timestamps, X: sp.csr_matrix, owner: str) -> sp.csr_matrix:
    """A time for every stored interaction of ``X`` (the output of ``check_user_items``).

    ``timestamps``: a dense ``(n_users, n_items)`` array (read at ``X``'s entries, so a time
    of 0 is fine) or a sparse matrix of ``X``'s shape with an entry at every entry of ``X``
    (entries elsewhere are ignored). Returns CSR with ``X``'s exact sparsity pattern
    (``indptr``, ``indices``) holding the times, float64.
    """
    if timestamps is None:
        raise RecsysError(f"{owner}.fit needs timestamps: when each interaction of X happened "
                          "(a matrix shaped like X)")
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    cols = X.indices
    if sp.issparse(timestamps):
        ts = sp.csr_matrix(timestamps)
        if ts.shape != X.shape:
            raise RecsysError(f"timestamps must have X's shape {X.shape}, got {ts.shape}")
        ts.sum_duplicates()
        ts.sort_indices()
        # Look every entry of X up in ts by a flat key (row * n_items + col).
        key_x = rows * X.shape[1] + cols
        ts_rows = np.repeat(np.arange(ts.shape[0]), np.diff(ts.indptr))
        key_t = ts_rows * X.shape[1] + ts.indices
        pos = np.searchsorted(key_t, key_x)
        found = (pos < len(key_t)) & (key_t[np.minimum(pos, max(len(key_t) - 1, 0))] == key_x)
        if not found.all():
            miss = np.flatnonzero(~found)[0]
            raise RecsysError(f"timestamps has no time for the interaction (user {int(rows[miss])}, "
                              f"item {int(cols[miss])}) of X: every stored entry of X needs one "
                              "(a sparse matrix drops times equal to 0: pass a dense array then)")
        values = np.asarray(ts.data[pos], dtype=np.float64)
    else:
        t = np.asarray(timestamps)
        if t.shape != X.shape or not np.issubdtype(t.dtype, np.number):
            raise RecsysError(f"timestamps must be numbers with X's shape {X.shape}, got shape {t.shape}")
        values = t[rows, cols].astype(np.float64)
    if not np.isfinite(values).all():
        raise RecsysError("timestamps contain NaN or infinite times")
    return sp.csr_matrix((values, X.indices.copy(), X.indptr.copy()), shape=X.shape)


def check_hyper(name: str, value, low: float = 0.0, integer: bool = False, strict: bool = False):
    """Check a recommender's hyper-parameter: a finite number (an int with ``integer``) ``>= low``
    (``> low`` with ``strict``); raises ``RecsysError`` naming ``name`` and the value otherwise."""
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.number))
    if isinstance(value, bool) or not ok or not np.isfinite(value) or value < low or (strict and value == low):
        kind = "an integer" if integer else "a number"
        raise RecsysError(f"{name} must be {kind} {'>' if strict else '>='} {low}, got {value!r}")


def top_k_items(scores, k: int, *, seen: sp.csr_matrix | None = None, candidates=None,
                owner: str = "scores") -> np.ndarray:
    """The ranking step every recommender shares: top-``k`` item ids per row, best first.

    ``scores``: ``(n, n_items)`` finite floats (NaN or inf refused: they would rank
    arbitrarily). ``seen``: ``(n, n_items)`` sparse, items to leave out of each row (their
    stored entries). ``candidates``: item ids the lists may use (``None``: every item).
    Returns ``(n, k)`` int64, distinct ids per row; ties keep the lower item id first.
    Raises ``RecsysError`` when a row has fewer than ``k`` items left.
    """
    s = np.array(scores, dtype=np.float64, copy=True)
    if s.ndim != 2:
        raise RecsysError(f"{owner} must be (n, n_items), got shape {s.shape}")
    n, n_items = s.shape
    k = check_top_k(k)
    if not np.isfinite(s).all():
        raise RecsysError(f"{owner} contain NaN or infinite scores")
    if k > n_items:
        raise RecsysError(f"k={k} is larger than the catalog ({n_items} items)")
    cand = check_candidates(candidates, n_items)
    allowed = np.ones(n_items, dtype=bool)
    if cand is not None:
        allowed[:] = False
        allowed[cand] = True
        s[:, ~allowed] = -np.inf
    if seen is not None:
        seen = sp.csr_matrix(seen)
        if seen.shape != s.shape:
            raise RecsysError(f"seen must be shaped like the scores {s.shape}, got {seen.shape}")
        seen.sum_duplicates()
        rows = np.repeat(np.arange(n), np.diff(seen.indptr))
        seen_allowed = np.bincount(rows[allowed[seen.indices]], minlength=n)
        left = int(allowed.sum() - seen_allowed.max()) if n else int(allowed.sum())
        if left < k:
            raise RecsysError(f"k={k}: a user has seen all but {left} of the {int(allowed.sum())} "
                              "candidate items, leaving fewer than k")
        s[rows, seen.indices] = -np.inf
    elif k > allowed.sum():
        raise RecsysError(f"k={k} is larger than the {int(allowed.sum())} candidate items")
    # Only excluded items are -inf (scores were checked finite), and each row keeps >= k others.
    return np.argsort(-s, axis=1, kind="stable")[:, :k].astype(np.int64)


class Recommender:
    """Base class of the contract: subclasses implement ``fit`` (setting ``user_items_``) and ``score``.

    ``recommend`` is shared: validate, score, drop seen items and non-candidates, rank.
    Subclasses whose notion of "seen" or of known users differs override ``seen`` or
    ``n_users_`` / ``n_items_``.
    """

    def fit(self, X, *, item_features=None, timestamps=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, users) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_fitted(self):
        if not hasattr(self, "user_items_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() first")

    @property
    def n_users_(self) -> int:
        self._check_fitted()
        return self.user_items_.shape[0]

    @property
    def n_items_(self) -> int:
        self._check_fitted()
        return self.user_items_.shape[1]

    def _check_users(self, users) -> np.ndarray:
        """``users`` as ``(n,)`` int64 ids in ``0..n_users_-1`` (repeats allowed)."""
        self._check_fitted()
        return check_ids(users, self.n_users_, "users", unique=False, what="user")

    def seen(self, users) -> sp.csr_matrix:
        """``(len(users), n_items)`` sparse: the items each user interacted with in training."""
        return self.user_items_[self._check_users(users)]

    def recommend(self, users, k: int = 10, exclude_seen: bool = True, candidates=None) -> np.ndarray:
        """Top-``k`` item ids per user, best first: ``(len(users), k)`` int64.

        ``exclude_seen`` leaves out each user's training items; ``candidates`` (distinct
        item ids) restricts the lists to those items, for example the new items of a
        cold-start evaluation. Ties keep the lower item id first. See the module docstring
        for what is refused.
        """
        users = self._check_users(users)
        if not isinstance(exclude_seen, (bool, np.bool_)):
            raise RecsysError(f"exclude_seen must be True or False, got {exclude_seen!r}")
        k = check_top_k(k)
        n_items = self.n_items_
        if k > n_items:
            raise RecsysError(f"k={k} is larger than the catalog ({n_items} items)")
        cand = check_candidates(candidates, n_items)
        scores = np.asarray(self.score(users), dtype=np.float64)
        if scores.shape != (len(users), n_items):
            raise RecsysError(f"{type(self).__name__}.score returned shape {scores.shape}, "
                              f"expected {(len(users), n_items)}")
        if np.isnan(scores).any():
            raise RecsysError(f"{type(self).__name__}.score returned NaN scores")
        return top_k_items(scores, k, seen=self.seen(users) if exclude_seen else None, candidates=cand,
                           owner=f"{type(self).__name__}.score")
