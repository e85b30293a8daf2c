"""Recommenders with one estimator shape (scikit-learn style).

``__init__`` takes hyper-parameters only; ``fit(user_items, ...)`` learns from a
``scipy.sparse.csr_matrix`` users x items of interaction weights and returns ``self``;
learned state ends in ``_``; ``score(user_ids) -> (n, n_items)``;
``recommend(user_ids, k=10, exclude_seen=True) -> (n, k)`` item indices, best first.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def check_user_items(user_items) -> sp.csr_matrix:
    """Validate an interaction matrix: sparse or dense 2-D, finite, non-negative, not empty."""
    m = sp.csr_matrix(user_items, dtype=np.float64)
    if m.shape[0] == 0 or m.shape[1] == 0 or m.nnz == 0:
        raise ValueError(f"user_items is empty (shape {m.shape}, {m.nnz} interactions)")
    if not np.isfinite(m.data).all():
        raise ValueError("user_items contains NaN or infinite weights")
    if (m.data < 0).any():
        raise ValueError("user_items contains negative weights")
    return m


class Recommender:
    """Base class: subclasses implement ``fit`` and ``score``."""

    def _check_fitted(self):
        if not hasattr(self, "user_items_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() first")

    def _check_users(self, user_ids) -> np.ndarray:
        self._check_fitted()
        users = np.atleast_1d(np.asarray(user_ids))
        if users.size == 0:
            raise ValueError("user_ids is empty")
        if not np.issubdtype(users.dtype, np.integer):
            raise ValueError(f"user_ids must be integers, got dtype {users.dtype}")
        n = self.user_items_.shape[0]
        bad = users[(users < 0) | (users >= n)]
        if len(bad):
            raise ValueError(f"unknown user id(s) {bad[:5].tolist()}: the model knows users 0..{n - 1}")
        return users

    def score(self, user_ids) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def recommend(self, user_ids, k: int = 10, exclude_seen: bool = True, candidates=None) -> np.ndarray:
        """Top-``k`` item indices per user, best first, ``(len(user_ids), k)`` int64.

        ``candidates`` (optional item ids) restricts the ranking to those items, for
        example the new items of a cold-start evaluation. Ties keep the lower item id first.
        """
        users = self._check_users(user_ids)
        n_items = self.user_items_.shape[1]
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if k > n_items:
            raise ValueError(f"k={k} is larger than the catalog ({n_items} items)")
        scores = np.array(self.score(users), dtype=np.float64, copy=True)
        if np.isnan(scores).any():
            raise ValueError(f"{type(self).__name__}.score returned NaN scores")
        allowed = np.ones(n_items, dtype=bool)
        if candidates is not None:
            cand = np.unique(np.asarray(candidates, dtype=np.int64))
            if len(cand) == 0 or cand.min() < 0 or cand.max() >= n_items:
                raise ValueError(f"candidates must be non-empty item ids in 0..{n_items - 1}")
            allowed[:] = False
            allowed[cand] = True
            scores[:, ~allowed] = -np.inf
        if exclude_seen:
            seen = self.user_items_[users]
            rows = np.repeat(np.arange(len(users)), np.diff(seen.indptr))
            seen_allowed = np.bincount(rows[allowed[seen.indices]], minlength=len(users))
            left = int(allowed.sum() - seen_allowed.max())
            if left < k:
                raise ValueError(f"k={k}: a user has seen all but {left} of the {int(allowed.sum())} "
                                 "candidate items, leaving fewer than k")
            scores[rows, seen.indices] = -np.inf
        elif k > allowed.sum():
            raise ValueError(f"k={k} is larger than the {int(allowed.sum())} candidate items")
        # Break ties by item id (stable), so equal scores give a reproducible order.
        return np.argsort(-scores, axis=1, kind="stable")[:, :k].astype(np.int64)


class RandomRecommender(Recommender):
    """Uniformly random scores (seeded): the floor every model must beat."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, user_items):
        self.user_items_ = check_user_items(user_items)
        self.rng_ = np.random.default_rng(self.seed)
        return self

    def score(self, user_ids):
        users = self._check_users(user_ids)
        return self.rng_.random((len(users), self.user_items_.shape[1]))


class Popularity(Recommender):
    """Scores every item by its total interaction weight in training (same list for all)."""

    def fit(self, user_items):
        self.user_items_ = check_user_items(user_items)
        self.item_scores_ = np.asarray(self.user_items_.sum(axis=0)).ravel()
        return self

    def score(self, user_ids):
        users = self._check_users(user_ids)
        return np.tile(self.item_scores_, (len(users), 1))


def _spherical_kmeans(x: np.ndarray, m: int, iters: int = 10) -> np.ndarray:
    """Deterministic spherical k-means (farthest-point init): ``m`` unit centroids of rows of ``x``."""
    centroids = [x[0]]
    for _ in range(1, m):
        sims = np.max(x @ np.stack(centroids).T, axis=1)
        centroids.append(x[int(np.argmin(sims))])
    c = np.stack(centroids)
    for _ in range(iters):
        assign = np.argmax(x @ c.T, axis=1)
        for j in range(m):
            members = x[assign == j]
            if len(members):
                v = members.sum(axis=0)
                c[j] = v / max(np.linalg.norm(v), 1e-12)
    return c


class ProfileRecommender(Recommender):
    """Content-based recommender: a user profile built from the embeddings of seen items.

    strategy:
      - ``"mean"``: weighted mean of the history embeddings (weights = interaction weights).
      - ``"recency"``: the same, with each event's weight halved every ``half_life``
        events back in time (needs ``timestamps``).
      - ``"multi"``: up to ``n_interests`` centroids of the history (spherical k-means);
        an item scores its best cosine to any centroid, so a user who likes cats and
        rockets is not recommended the average of both.
    Scores are cosines between the L2-normalised profile(s) and item embeddings.
    """

    def __init__(self, strategy: str = "mean", half_life: float = 5.0, n_interests: int = 3):
        self.strategy = strategy
        self.half_life = half_life
        self.n_interests = n_interests

    def fit(self, user_items, item_features, timestamps=None):
        if self.strategy not in ("mean", "recency", "multi"):
            raise ValueError(f"unknown strategy {self.strategy!r}; use 'mean', 'recency' or 'multi'")
        m = check_user_items(user_items)
        feats = np.asarray(item_features, dtype=np.float32)
        if feats.ndim != 2 or len(feats) != m.shape[1]:
            raise ValueError(f"item_features must be (n_items={m.shape[1]}, d), got shape {feats.shape}")
        if not np.isfinite(feats).all():
            raise ValueError("item_features contain NaN or infinite values")
        if self.strategy == "recency":
            if timestamps is None:
                raise ValueError("strategy='recency' needs timestamps (a sparse matrix shaped like user_items)")
            ts = sp.csr_matrix(timestamps)
            if ts.shape != m.shape or ts.nnz != m.nnz:
                raise ValueError("timestamps must have the same shape and non-zeros as user_items")
            self.timestamps_ = ts
        self.user_items_ = m
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        self.item_features_ = feats / np.maximum(norms, 1e-12)
        return self

    def _history(self, u: int):
        row = self.user_items_[u]
        items, w = row.indices, row.data.copy()
        if self.strategy == "recency":
            t = self.timestamps_[u]
            t = dict(zip(t.indices, t.data))
            times = np.array([t[i] for i in items])
            events_back = np.argsort(np.argsort(-times, kind="stable"), kind="stable")  # 0 = newest
            w = w * 0.5 ** (events_back / self.half_life)
        return items, w

    def profiles(self, user_ids) -> list[np.ndarray]:
        """Each user's profile vectors, ``(m, d)`` unit rows (m = 1 unless multi-interest)."""
        users = self._check_users(user_ids)
        out = []
        for u in users:
            items, w = self._history(int(u))
            if len(items) == 0:
                raise ValueError(f"user {int(u)} has no history: a content profile needs at least one item")
            x = self.item_features_[items]
            if self.strategy == "multi" and len(items) > 1:
                out.append(_spherical_kmeans(x, min(self.n_interests, len(items))))
            else:
                v = (w[:, None] * x).sum(axis=0)
                out.append((v / max(np.linalg.norm(v), 1e-12))[None, :])
        return out

    def score(self, user_ids):
        return np.stack([np.max(p @ self.item_features_.T, axis=0) for p in self.profiles(user_ids)])


# ---------------------------------------------------------------------------
# Neighbourhood collaborative filtering
# ---------------------------------------------------------------------------

def _check_hyper(name: str, value, low: float = 0.0, integer: bool = False, strict: bool = False):
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.number))
    if isinstance(value, bool) or not ok or not np.isfinite(value) or value < low or (strict and value == low):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {kind} {'>' if strict else '>='} {low}, got {value!r}")


def _top_k_per_row(m: sp.csr_matrix, k: int, progress: bool = False, desc: str = "pruning") -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row of a CSR matrix (ties: lower column first)."""
    from tqdm.auto import tqdm

    m = m.tocsr()
    m.sort_indices()
    indptr, indices, data = [0], [], []
    for r in tqdm(range(m.shape[0]), desc=desc, disable=not progress, leave=False):
        lo, hi = m.indptr[r], m.indptr[r + 1]
        cols, vals = m.indices[lo:hi], m.data[lo:hi]
        if len(vals) > k:
            keep = np.sort(np.argsort(-vals, kind="stable")[:k])
            cols, vals = cols[keep], vals[keep]
        indices.append(cols)
        data.append(vals)
        indptr.append(indptr[-1] + len(cols))
    return sp.csr_matrix((np.concatenate(data), np.concatenate(indices), np.array(indptr)), shape=m.shape)


def cosine_similarity_sparse(m: sp.csr_matrix, shrinkage: float = 0.0) -> sp.csr_matrix:
    """Row-row cosine similarity of a sparse matrix, with a shrinkage term, diagonal removed.

    ``sim(a, b) = <m_a, m_b> / (||m_a|| * ||m_b|| + shrinkage)``: the denominator uses the
    norms of the *whole* rows (not only the co-rated part), and ``shrinkage`` pulls
    similarities that rest on little overlap towards 0. Returns a CSR ``(n_rows, n_rows)``.
    """
    m = sp.csr_matrix(m, dtype=np.float64)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    s = (m @ m.T).tocoo()
    keep = s.row != s.col
    rows, cols, vals = s.row[keep], s.col[keep], s.data[keep]
    vals = vals / (norms[rows] * norms[cols] + shrinkage + 1e-12)
    return sp.csr_matrix((vals, (rows, cols)), shape=s.shape)


class ItemKNN(Recommender):
    """Item-based CF: an item scores by its similarity to the items the user interacted with.

    ``score(u, j) = sum_i r_ui * sim(i, j)`` over the user's items ``i``, with ``sim`` the
    shrunk cosine between item columns (``cosine_similarity_sparse``) keeping each item's
    ``k_neighbors`` most similar items. ``similarity_`` is ``(n_items, n_items)`` CSR.
    """

    def __init__(self, k_neighbors: int = 50, shrinkage: float = 10.0, progress: bool = False):
        self.k_neighbors = k_neighbors
        self.shrinkage = shrinkage
        self.progress = progress

    def fit(self, user_items):
        _check_hyper("k_neighbors", self.k_neighbors, 1, integer=True)
        _check_hyper("shrinkage", self.shrinkage)
        self.user_items_ = check_user_items(user_items)
        sim = cosine_similarity_sparse(self.user_items_.T.tocsr(), self.shrinkage)
        self.similarity_ = _top_k_per_row(sim, self.k_neighbors, self.progress, "item neighbours")
        return self

    def score(self, user_ids):
        users = self._check_users(user_ids)
        return np.asarray((self.user_items_[users] @ self.similarity_).todense())


class UserKNN(Recommender):
    """User-based CF: an item scores by how much the user's nearest neighbours interacted with it.

    ``score(u, j) = sum_{v in N_k(u)} sim(u, v) * r_vj`` with ``sim`` the shrunk cosine
    between user rows and ``N_k(u)`` the ``k_neighbors`` most similar other users.
    Neighbours are found at ``score`` time, so the model holds only the matrix.
    """

    def __init__(self, k_neighbors: int = 50, shrinkage: float = 0.0):
        self.k_neighbors = k_neighbors
        self.shrinkage = shrinkage

    def fit(self, user_items):
        _check_hyper("k_neighbors", self.k_neighbors, 1, integer=True)
        _check_hyper("shrinkage", self.shrinkage)
        self.user_items_ = check_user_items(user_items)
        m = self.user_items_
        self.norms_ = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        return self

    def neighbours(self, user_ids) -> sp.csr_matrix:
        """``(len(user_ids), n_users)`` CSR of the kept neighbour similarities of each user."""
        users = self._check_users(user_ids)
        m = self.user_items_
        dots = np.asarray((m[users] @ m.T).todense())
        sims = dots / (self.norms_[users, None] * self.norms_[None, :] + self.shrinkage + 1e-12)
        sims[np.arange(len(users)), users] = 0.0  # a user is not their own neighbour
        return _top_k_per_row(sp.csr_matrix(sims), self.k_neighbors)

    def score(self, user_ids):
        return np.asarray((self.neighbours(user_ids) @ self.user_items_).todense())


# ---------------------------------------------------------------------------
# Matrix factorisation
# ---------------------------------------------------------------------------

def _rows_of(m: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))


def _segment_sum(rows: np.ndarray, values: np.ndarray, n_rows: int) -> np.ndarray:
    """Sum ``values`` (nnz, ...) into ``n_rows`` groups given each entry's row (a sparse product)."""
    flat = values.reshape(len(values), -1)
    agg = sp.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(n_rows, len(rows)))
    return np.asarray(agg @ flat).reshape((n_rows,) + values.shape[1:])


def als_half_step(c: sp.csr_matrix, x: np.ndarray, y: np.ndarray, regularization: float,
                  solver: str = "cg", cg_steps: int = 3, block: int = 1024) -> np.ndarray:
    """One ALS half-step: new row factors ``x`` given column factors ``y``.

    ``c``: CSR confidences ``c_ui`` (rows x cols) for the observed pairs (preference
    ``p_ui = 1``); every unobserved pair has ``c = 1`` and ``p = 0``. Each row solves
    ``(Y^T C_u Y + lambda I) x_u = Y^T C_u p_u`` with ``Y^T C_u Y = Y^T Y + Y^T (C_u - I) Y``
    (Hu, Koren and Volinsky 2008): ``"exact"`` solves it, ``"cg"`` runs ``cg_steps``
    conjugate-gradient steps from the current ``x`` (Takacs et al. 2011).
    """
    f = y.shape[1]
    yty = y.T @ y + regularization * np.eye(f)
    rows, cols, conf = _rows_of(c), c.indices, c.data
    if solver == "exact":
        out = np.empty_like(x)
        for lo in range(0, c.shape[0], block):
            hi = min(lo + block, c.shape[0])
            a, b = c.indptr[lo], c.indptr[hi]
            yi = y[cols[a:b]]
            outer = (conf[a:b] - 1.0)[:, None, None] * yi[:, :, None] * yi[:, None, :]
            lhs = yty[None] + _segment_sum(rows[a:b] - lo, outer, hi - lo)
            rhs = _segment_sum(rows[a:b] - lo, conf[a:b, None] * yi, hi - lo)
            out[lo:hi] = np.linalg.solve(lhs, rhs[..., None])[..., 0]
        return out
    if solver != "cg":
        raise ValueError(f"unknown solver {solver!r}; use 'cg' or 'exact'")
    yi = y[cols]
    n = c.shape[0]

    def matvec(v):
        dots = np.einsum("nf,nf->n", yi, v[rows])
        return v @ yty + _segment_sum(rows, ((conf - 1.0) * dots)[:, None] * yi, n)

    xs = x.copy()
    r = _segment_sum(rows, conf[:, None] * yi, n) - matvec(xs)
    p = r.copy()
    rs_old = np.einsum("nf,nf->n", r, r)
    for _ in range(cg_steps):
        ap = matvec(p)
        denom = np.einsum("nf,nf->n", p, ap)
        active = rs_old > 1e-20
        step = np.where(active, rs_old / np.where(active, denom, 1.0), 0.0)
        xs += step[:, None] * p
        r -= step[:, None] * ap
        rs_new = np.einsum("nf,nf->n", r, r)
        p = r + np.where(active, rs_new / np.where(active, rs_old, 1.0), 0.0)[:, None] * p
        rs_old = rs_new
    return xs


def als_loss(c: sp.csr_matrix, x: np.ndarray, y: np.ndarray, regularization: float) -> float:
    """The weighted ALS objective per matrix cell: ``(sum_ui c_ui (p_ui - x_u.y_i)^2 + lambda(|X|^2+|Y|^2)) / (n_users n_items)``.

    Computed without the dense matrix: the all-pairs part is ``trace(X^T X Y^T Y)``.
    """
    rows, cols, conf = _rows_of(c), c.indices, c.data
    s = np.einsum("nf,nf->n", x[rows], y[cols])
    all_sq = float(np.sum((x.T @ x) * (y.T @ y)))  # sum over every cell of s_ui^2
    observed = float(np.sum(conf * (1.0 - s) ** 2) - np.sum(s**2))  # replace c=1,p=0 on observed cells
    reg = regularization * float((x**2).sum() + (y**2).sum())
    return (all_sq + observed + reg) / (c.shape[0] * c.shape[1])


class ALS(Recommender):
    """Implicit-feedback matrix factorisation by alternating least squares.

    Confidence ``c_ui = 1 + alpha * r_ui`` for observed weights ``r_ui``; preference 1
    where observed, 0 elsewhere with confidence 1. ``score = X Y^T``. ``solver="cg"``
    (3 conjugate-gradient steps per half-step, like the ``implicit`` library) or
    ``"exact"``. ``loss_history_`` holds ``als_loss`` after each iteration. Items with no
    interaction get factors near 0 (pure CF cannot place them).
    """

    def __init__(self, factors: int = 32, regularization: float = 0.05, alpha: float = 10.0,
                 iterations: int = 15, solver: str = "cg", cg_steps: int = 3, seed: int = 0,
                 progress: bool = False, track_loss: bool = True):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.solver = solver
        self.cg_steps = cg_steps
        self.seed = seed
        self.progress = progress
        self.track_loss = track_loss

    def confidence(self, user_items) -> sp.csr_matrix:
        """``1 + alpha * r`` on the observed cells, as CSR."""
        c = check_user_items(user_items).copy()
        c.data = 1.0 + self.alpha * c.data
        return c

    def fit(self, user_items):
        from tqdm.auto import tqdm

        _check_hyper("factors", self.factors, 1, integer=True)
        _check_hyper("iterations", self.iterations, 1, integer=True)
        _check_hyper("cg_steps", self.cg_steps, 1, integer=True)
        _check_hyper("regularization", self.regularization)
        _check_hyper("alpha", self.alpha)
        if self.solver not in ("cg", "exact"):
            raise ValueError(f"unknown solver {self.solver!r}; use 'cg' or 'exact'")
        self.user_items_ = check_user_items(user_items)
        c = self.confidence(self.user_items_)
        ct = c.T.tocsr()
        rng = np.random.default_rng(self.seed)
        n_users, n_items = c.shape
        x = rng.normal(0, 0.01, (n_users, self.factors))
        y = rng.normal(0, 0.01, (n_items, self.factors))
        self.loss_history_ = []
        bar = tqdm(range(self.iterations), desc="ALS", disable=not self.progress, leave=False)
        for _ in bar:
            x = als_half_step(c, x, y, self.regularization, self.solver, self.cg_steps)
            y = als_half_step(ct, y, x, self.regularization, self.solver, self.cg_steps)
            if self.track_loss:
                self.loss_history_.append(als_loss(c, x, y, self.regularization))
                bar.set_postfix(loss=f"{self.loss_history_[-1]:.5f}")
        self.user_factors_, self.item_factors_ = x, y
        return self

    def score(self, user_ids):
        users = self._check_users(user_ids)
        return self.user_factors_[users] @ self.item_factors_.T


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class BPR(Recommender):
    """Bayesian personalised ranking (Rendle et al. 2009): sampled pairwise SGD.

    Each step samples an observed pair ``(u, i)`` and an item ``j`` the user has not
    seen (drawn among items that have training interactions), and raises
    ``ln sigmoid(x_ui - x_uj)`` with ``x_ui = p_u . q_i + b_i``; L2 ``regularization``.
    One epoch = as many triples as observed pairs, in mini-batches. ``train_auc_`` is the
    share of a fixed sample of training triples ranked correctly after each epoch.
    Items without training interactions keep zero factors and bias.
    """

    def __init__(self, factors: int = 32, learning_rate: float = 0.1, regularization: float = 0.01,
                 epochs: int = 30, batch_size: int = 64, seed: int = 0, progress: bool = False):
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed
        self.progress = progress

    # -- the parts VBPR overrides -------------------------------------------
    def _init_params(self, rng, n_users, n_items):
        self.user_factors_ = rng.normal(0, 0.1, (n_users, self.factors))
        self.item_factors_ = rng.normal(0, 0.1, (n_items, self.factors))
        self.item_bias_ = np.zeros(n_items)

    def _pair_scores(self, u, i):
        return np.einsum("bf,bf->b", self.user_factors_[u], self.item_factors_[i]) + self.item_bias_[i]

    def _sgd_step(self, u, i, j, lr, reg):
        x = self._pair_scores(u, i) - self._pair_scores(u, j)
        self._update(u, i, j, _sigmoid(-x), lr, reg)  # sigmoid(-x) = d ln sigmoid(x) / dx

    def _update(self, u, i, j, g, lr, reg):
        pu, qi, qj = self.user_factors_[u], self.item_factors_[i], self.item_factors_[j]
        g = g[:, None]
        np.add.at(self.user_factors_, u, lr * (g * (qi - qj) - reg * pu))
        np.add.at(self.item_factors_, i, lr * (g * pu - reg * qi))
        np.add.at(self.item_factors_, j, lr * (-g * pu - reg * qj))
        np.add.at(self.item_bias_, i, lr * (g[:, 0] - reg * self.item_bias_[i]))
        np.add.at(self.item_bias_, j, lr * (-g[:, 0] - reg * self.item_bias_[j]))

    def _zero_cold(self, cold):
        self.item_factors_[cold] = 0.0
        self.item_bias_[cold] = 0.0

    # -- shared training loop ---------------------------------------------
    def _sample(self, rng, n):
        m = self.user_items_
        pick = rng.integers(0, m.nnz, n)
        u, i = self.rows_[pick], m.indices[pick]
        j = self.known_items_[rng.integers(0, len(self.known_items_), n)]
        for _ in range(3):  # redraw negatives the user has seen
            clash = np.isin(u * m.shape[1] + j, self.seen_keys_, assume_unique=False)
            if not clash.any():
                break
            j[clash] = self.known_items_[rng.integers(0, len(self.known_items_), int(clash.sum()))]
        ok = ~np.isin(u * m.shape[1] + j, self.seen_keys_)
        return u[ok], i[ok], j[ok]

    def _fit(self, user_items):
        from tqdm.auto import tqdm

        _check_hyper("factors", self.factors, 1, integer=True)
        _check_hyper("epochs", self.epochs, 1, integer=True)
        _check_hyper("batch_size", self.batch_size, 1, integer=True)
        _check_hyper("learning_rate", self.learning_rate, 0.0, strict=True)
        _check_hyper("regularization", self.regularization)
        self.user_items_ = m = check_user_items(user_items)
        n_users, n_items = m.shape
        counts = np.diff(m.tocsc().indptr)
        self.known_items_ = np.flatnonzero(counts > 0)
        if len(self.known_items_) < 2:
            raise ValueError("BPR needs at least 2 items with interactions to sample pairs")
        self.rows_ = _rows_of(m)
        self.seen_keys_ = np.sort(self.rows_ * n_items + m.indices)
        rng = np.random.default_rng(self.seed)
        self._init_params(rng, n_users, n_items)
        eval_u, eval_i, eval_j = self._sample(np.random.default_rng(self.seed + 1), min(20_000, 4 * m.nnz))
        self.train_auc_ = []
        bar = tqdm(range(self.epochs), desc=type(self).__name__, disable=not self.progress, leave=False)
        for _ in bar:
            u, i, j = self._sample(rng, m.nnz)
            for lo in range(0, len(u), self.batch_size):
                sl = slice(lo, lo + self.batch_size)
                self._sgd_step(u[sl], i[sl], j[sl], self.learning_rate, self.regularization)
            diff = self._pair_scores(eval_u, eval_i) - self._pair_scores(eval_u, eval_j)
            self.train_auc_.append(float(np.mean(diff > 0)))
            bar.set_postfix(train_auc=f"{self.train_auc_[-1]:.3f}")
        self._zero_cold(np.flatnonzero(counts == 0))
        return self

    def fit(self, user_items):
        return self._fit(user_items)

    def score(self, user_ids):
        users = self._check_users(user_ids)
        return self.user_factors_[users] @ self.item_factors_.T + self.item_bias_[None, :]


class VBPR(BPR):
    """Visual BPR (He and McAuley 2016): BPR plus a term driven by item image embeddings.

    ``x_ui = b_i + p_u . q_i + theta_u . (E f_i) + beta . f_i`` with ``f_i`` the item's
    embedding (``(n_items, d)``, L2-normalised here), ``E`` a learned ``(visual_factors, d)``
    projection and ``beta`` a visual bias. Items never seen in training keep ``q_i = 0``
    and ``b_i = 0`` but still score through their image: VBPR can rank new items.
    """

    def __init__(self, factors: int = 16, visual_factors: int = 16, learning_rate: float = 0.1,
                 regularization: float = 0.01, visual_regularization: float = 1.0, epochs: int = 30,
                 batch_size: int = 64, seed: int = 0, progress: bool = False):
        super().__init__(factors, learning_rate, regularization, epochs, batch_size, seed, progress)
        self.visual_factors = visual_factors
        self.visual_regularization = visual_regularization

    def _init_params(self, rng, n_users, n_items):
        super()._init_params(rng, n_users, n_items)
        d = self.item_features_.shape[1]
        self.user_visual_ = rng.normal(0, 0.1, (n_users, self.visual_factors))
        self.projection_ = rng.normal(0, 0.1, (self.visual_factors, d))
        self.visual_bias_ = np.zeros(d)

    def _pair_scores(self, u, i):
        f = self.item_features_[i]
        vis = np.einsum("bk,bk->b", self.user_visual_[u], f @ self.projection_.T) + f @ self.visual_bias_
        return super()._pair_scores(u, i) + vis

    def _update(self, u, i, j, g, lr, reg):
        df = self.item_features_[i] - self.item_features_[j]
        tu = self.user_visual_[u]
        ev = df @ self.projection_.T
        vreg = self.visual_regularization
        np.add.at(self.user_visual_, u, lr * (g[:, None] * ev - reg * tu))
        self.projection_ += lr * ((g[:, None] * tu).T @ df - vreg * self.projection_)
        self.visual_bias_ += lr * (g @ df - vreg * self.visual_bias_)
        super()._update(u, i, j, g, lr, reg)

    def fit(self, user_items, item_features):
        m = check_user_items(user_items)
        feats = np.asarray(item_features, dtype=np.float64)
        if feats.ndim != 2 or len(feats) != m.shape[1]:
            raise ValueError(f"item_features must be (n_items={m.shape[1]}, d), got shape {feats.shape}")
        if not np.isfinite(feats).all():
            raise ValueError("item_features contain NaN or infinite values")
        self.item_features_ = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
        return self._fit(m)

    def score(self, user_ids):
        users = self._check_users(user_ids)
        visual = (self.user_visual_[users] @ self.projection_) @ self.item_features_.T
        return super().score(users) + visual + (self.item_features_ @ self.visual_bias_)[None, :]


class ImplicitALS(Recommender):
    """The ``implicit`` library's ALS behind this module's estimator shape (the reference in t03).

    Same model as ``ALS``: the matrix handed to ``implicit`` holds the confidences
    ``1 + alpha * r`` (``implicit`` uses the matrix values as ``c_ui`` directly), with its
    own ``alpha=1``, conjugate-gradient solver and uniform random initialisation.
    Needs ``pip install implicit`` (the ``dev`` extra).
    """

    def __init__(self, factors: int = 32, regularization: float = 0.05, alpha: float = 10.0,
                 iterations: int = 15, seed: int = 0, num_threads: int = 1, progress: bool = False):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed
        self.num_threads = num_threads
        self.progress = progress

    def fit(self, user_items):
        try:
            from implicit.cpu.als import AlternatingLeastSquares
        except ImportError as exc:  # an optional reference, not a dependency of the package
            raise ImportError("ImplicitALS needs the 'implicit' package: pip install implicit "
                              "(or install the workbook with the dev extra)") from exc
        self.user_items_ = check_user_items(user_items)
        c = self.user_items_.astype(np.float32)
        c.data = 1.0 + self.alpha * c.data
        model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization, alpha=1.0,
                                        iterations=self.iterations, random_state=self.seed,
                                        num_threads=self.num_threads)
        model.fit(c, show_progress=self.progress)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float64)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float64)
        return self

    def score(self, user_ids):
        users = self._check_users(user_ids)
        return self.user_factors_[users] @ self.item_factors_.T
