"""Matrix factorisation: ALS (its half-step and loss), BPR (its SGD step), VBPR and the ``implicit`` reference."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from visrec_helpers.recsys.base import (
    Recommender,
    RecsysError,
    check_hyper,
    check_item_features,
    check_user_items,
)


def _rows_of(m: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))


def _segment_sum(rows: np.ndarray, values: np.ndarray, n_rows: int) -> np.ndarray:
    """Sum ``values`` (nnz, ...) into ``n_rows`` groups given each entry's row (a sparse product)."""
    flat = values.reshape(len(values), -1)
    agg = sp.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(n_rows, len(rows)))
    return np.asarray(agg @ flat).reshape((n_rows,) + values.shape[1:])


def als_half_step_exact(c: sp.csr_matrix, y: np.ndarray, regularization: float, block: int = 1024) -> np.ndarray:
    """Every row's exact ALS solution given the column factors ``y`` ``(n_cols, f)``: ``(n_rows, f)``.

    Row ``u`` solves ``(Y^T Y + Y^T (C_u - I) Y + lambda I) x_u = Y^T C_u p_u``. Each observed
    pair ``(u, i)`` adds ``(c_ui - 1) y_i y_i^T`` to row u's matrix and ``c_ui y_i`` to its
    right-hand side; ``_segment_sum`` adds them up per row and one batched solve does the rest.
    Rows go in blocks of ``block`` to bound the ``(block, f, f)`` memory.
    """
    f = y.shape[1]
    yty = y.T @ y + regularization * np.eye(f)  # shared by every row
    rows, cols, conf = _rows_of(c), c.indices, c.data
    out = np.empty((c.shape[0], f), dtype=y.dtype)
    for lo in range(0, c.shape[0], block):
        hi = min(lo + block, c.shape[0])
        a, b = c.indptr[lo], c.indptr[hi]  # the observed pairs of rows lo .. hi - 1
        yi = y[cols[a:b]]
        outer = (conf[a:b] - 1.0)[:, None, None] * yi[:, :, None] * yi[:, None, :]
        lhs = yty[None] + _segment_sum(rows[a:b] - lo, outer, hi - lo)  # Y^T C_u Y + lambda I
        rhs = _segment_sum(rows[a:b] - lo, conf[a:b, None] * yi, hi - lo)  # Y^T C_u p_u (p_u = 1 where seen)
        out[lo:hi] = np.linalg.solve(lhs, rhs[..., None])[..., 0]
    return out


def als_half_step_cg(c: sp.csr_matrix, x: np.ndarray, y: np.ndarray, regularization: float,
                     cg_steps: int = 3) -> np.ndarray:
    """``cg_steps`` conjugate-gradient steps on every row's ALS system at once, from ``x`` ``(n_rows, f)``.

    Same system as ``als_half_step_exact``; the matrix is never formed. ``Y^T Y + lambda I`` and
    the column factor of every stored pair are computed once per half-step; then ``A v`` for all
    rows costs one dot product per stored pair and one sparse (CSR) times dense product, ``O(nnz f)``.
    Computes in ``y``'s dtype (``ALS`` passes float32, like ``implicit``). Rows whose residual is
    already ~0 stop moving.
    """
    yty = y.T @ y + regularization * np.eye(y.shape[1], dtype=y.dtype)  # shared by every row
    rows, yi = _rows_of(c), y[c.indices]  # yi: (nnz, f), the y_i of each stored pair (u, i)
    conf, conf1 = c.data, c.data - 1.0
    s = sp.csr_matrix((conf, c.indices, c.indptr), shape=c.shape)  # c's pattern, values set below

    def pair_dots(v):  # y_i . v_u for every stored pair (u, i): (nnz,)
        return np.einsum("nf,nf->n", yi, np.take(v, rows, axis=0))  # np.take(v, rows, 0) is v[rows]

    def weighted_sum(w):  # sum_i w_ui y_i for every row u: one sparse (CSR) x dense product
        s.data = w
        return s @ y

    xs = x.copy()
    r = weighted_sum(conf - conf1 * pair_dots(xs)) - xs @ yty  # residual b - A x
    p = r.copy()
    rs_old = np.einsum("nf,nf->n", r, r)
    for _ in range(cg_steps):
        ap = p @ yty + weighted_sum(conf1 * pair_dots(p))  # A p for every row at once
        denom = np.einsum("nf,nf->n", p, ap)
        active = rs_old > 1e-20
        step = np.where(active, rs_old / np.where(active, denom, 1.0), 0.0)
        xs += step[:, None] * p
        r -= step[:, None] * ap
        rs_new = np.einsum("nf,nf->n", r, r)
        p = r + np.where(active, rs_new / np.where(active, rs_old, 1.0), 0.0)[:, None] * p
        rs_old = rs_new
    return xs


def als_half_step(c: sp.csr_matrix, x: np.ndarray, y: np.ndarray, regularization: float,
                  solver: str = "cg", cg_steps: int = 3, block: int = 1024) -> np.ndarray:
    """One ALS half-step: new row factors ``x`` given column factors ``y``.

    ``c``: CSR confidences ``c_ui`` (rows x cols) for the observed pairs (preference
    ``p_ui = 1``); every unobserved pair has ``c = 1`` and ``p = 0``. Each row solves
    ``(Y^T C_u Y + lambda I) x_u = Y^T C_u p_u`` with ``Y^T C_u Y = Y^T Y + Y^T (C_u - I) Y``
    (Hu, Koren and Volinsky 2008): ``"exact"`` solves it (``als_half_step_exact``), ``"cg"``
    runs ``cg_steps`` conjugate-gradient steps from the current ``x`` (``als_half_step_cg``,
    Takacs et al. 2011).
    """
    if solver == "exact":
        return als_half_step_exact(c, y, regularization, block)
    if solver == "cg":
        return als_half_step_cg(c, x, y, regularization, cg_steps)
    raise RecsysError(f"unknown solver {solver!r}; use 'cg' or 'exact'")


def als_loss(c: sp.csr_matrix, x: np.ndarray, y: np.ndarray, regularization: float) -> float:
    """The weighted ALS objective per matrix cell: ``(sum_ui c_ui (p_ui - x_u.y_i)^2 + lambda(|X|^2+|Y|^2)) / (n_users n_items)``.

    Computed without the dense matrix: the all-pairs part is ``trace(X^T X Y^T Y)``. In float64
    whatever the factors' dtype, so that sweep-to-sweep changes are not lost to rounding.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    rows, cols, conf = _rows_of(c), c.indices, c.data.astype(np.float64)
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
    ``"exact"``. Like ``implicit``'s ALS, factors are float32 and start uniform in
    ``[0, 0.01)``, drawn from ``np.random.default_rng(seed)`` users first, so the same seed gives
    both libraries the same start. ``loss_history_`` holds ``als_loss`` after each iteration.
    Items with no interaction keep factors near 0 (pure CF cannot place them).
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

    def confidence(self, X) -> sp.csr_matrix:
        """``1 + alpha * r`` on the observed cells, as CSR."""
        c = check_user_items(X).copy()
        c.data = 1.0 + self.alpha * c.data
        return c

    def fit(self, X, *, item_features=None, timestamps=None):
        from tqdm.auto import tqdm

        check_hyper("factors", self.factors, 1, integer=True)
        check_hyper("iterations", self.iterations, 1, integer=True)
        check_hyper("cg_steps", self.cg_steps, 1, integer=True)
        check_hyper("regularization", self.regularization)
        check_hyper("alpha", self.alpha)
        if self.solver not in ("cg", "exact"):
            raise RecsysError(f"unknown solver {self.solver!r}; use 'cg' or 'exact'")
        self.user_items_ = check_user_items(X)
        c = self.confidence(self.user_items_).astype(np.float32)
        ct = c.T.tocsr()
        rng = np.random.default_rng(self.seed)
        n_users, n_items = c.shape
        x = rng.random((n_users, self.factors), dtype=np.float32) * 0.01  # implicit's start
        y = rng.random((n_items, self.factors), dtype=np.float32) * 0.01
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

    def score(self, users):
        users = self._check_users(users)
        return self.user_factors_[users] @ self.item_factors_.T


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def bpr_step(user_factors: np.ndarray, item_factors: np.ndarray, item_bias: np.ndarray,
             u: np.ndarray, i: np.ndarray, j: np.ndarray, learning_rate: float, regularization: float,
             extra_margin: np.ndarray | None = None) -> np.ndarray:
    """One mini-batch SGD step of BPR on triples ``(u, i, j)``, updating the factors in place.

    ``user_factors`` ``(n_users, f)``, ``item_factors`` ``(n_items, f)``, ``item_bias``
    ``(n_items,)``; ``u``, ``i``, ``j`` ``(b,)`` int arrays (user, seen item, unseen item).
    The margin is ``x_uij = p_u . (q_i - q_j) + b_i - b_j`` (plus ``extra_margin``, ``(b,)``,
    the part of the margin another model adds, e.g. VBPR's visual term). Gradient ascent on
    ``ln sigmoid(x_uij) - regularization * |params|^2 / 2``:

        g = sigmoid(-x_uij)                      (= d ln sigmoid(x) / dx)
        p_u += lr * (g (q_i - q_j) - reg p_u)
        q_i += lr * (g p_u - reg q_i);  q_j += lr * (-g p_u - reg q_j)
        b_i += lr * (g - reg b_i);      b_j += lr * (-g - reg b_j)

    Repeated ids in a batch add up (``np.add.at``). Returns ``g`` ``(b,)``.
    """
    pu, qi, qj = user_factors[u], item_factors[i], item_factors[j]
    x = np.einsum("bf,bf->b", pu, qi) + item_bias[i] - (np.einsum("bf,bf->b", pu, qj) + item_bias[j])
    if extra_margin is not None:
        x = x + extra_margin
    g = _sigmoid(-x)
    gc = g[:, None]
    np.add.at(user_factors, u, learning_rate * (gc * (qi - qj) - regularization * pu))
    np.add.at(item_factors, i, learning_rate * (gc * pu - regularization * qi))
    np.add.at(item_factors, j, learning_rate * (-gc * pu - regularization * qj))
    np.add.at(item_bias, i, learning_rate * (g - regularization * item_bias[i]))
    np.add.at(item_bias, j, learning_rate * (-g - regularization * item_bias[j]))
    return g


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
        bpr_step(self.user_factors_, self.item_factors_, self.item_bias_, u, i, j, lr, reg)

    def _zero_cold(self, cold):
        self.item_factors_[cold] = 0.0
        self.item_bias_[cold] = 0.0

    # -- shared training loop ---------------------------------------------
    def sample_triples(self, rng, n):
        """``n`` training triples ``(u, i, j)`` drawn with ``rng`` (a NumPy ``Generator``): a seen
        (user, item) pair and an item ``j`` the user has not seen (negatives that clash with the
        user's history are redrawn). Needs a fitted model; three ``(n,)`` int arrays."""
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

    def _fit(self, X):
        from tqdm.auto import tqdm

        check_hyper("factors", self.factors, 1, integer=True)
        check_hyper("epochs", self.epochs, 1, integer=True)
        check_hyper("batch_size", self.batch_size, 1, integer=True)
        check_hyper("learning_rate", self.learning_rate, 0.0, strict=True)
        check_hyper("regularization", self.regularization)
        self.user_items_ = m = check_user_items(X)
        n_users, n_items = m.shape
        counts = np.diff(m.tocsc().indptr)
        self.known_items_ = np.flatnonzero(counts > 0)
        if len(self.known_items_) < 2:
            raise RecsysError("BPR needs at least 2 items with interactions to sample pairs")
        self.rows_ = _rows_of(m)
        self.seen_keys_ = np.sort(self.rows_ * n_items + m.indices)
        if (np.diff(m.indptr) >= len(self.known_items_)).all():
            raise RecsysError("BPR needs a (user, seen item, unseen item) triple: every user has seen every item "
                              "that has interactions")
        rng = np.random.default_rng(self.seed)
        self._init_params(rng, n_users, n_items)
        eval_u, eval_i, eval_j = self.sample_triples(np.random.default_rng(self.seed + 1), min(20_000, 4 * m.nnz))
        self.train_auc_ = []
        bar = tqdm(range(self.epochs), desc=type(self).__name__, disable=not self.progress, leave=False)
        for _ in bar:
            u, i, j = self.sample_triples(rng, m.nnz)
            for lo in range(0, len(u), self.batch_size):
                sl = slice(lo, lo + self.batch_size)
                self._sgd_step(u[sl], i[sl], j[sl], self.learning_rate, self.regularization)
            diff = self._pair_scores(eval_u, eval_i) - self._pair_scores(eval_u, eval_j)
            self.train_auc_.append(float(np.mean(diff > 0)) if len(diff) else float("nan"))
            bar.set_postfix(train_auc=f"{self.train_auc_[-1]:.3f}")
        self._zero_cold(np.flatnonzero(counts == 0))
        return self

    def fit(self, X, *, item_features=None, timestamps=None):
        """``X`` users x items weights (their size is ignored: every observed pair is a positive);
        ``item_features`` and ``timestamps`` are unused."""
        return self._fit(X)

    def score(self, users):
        users = self._check_users(users)
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

    def _sgd_step(self, u, i, j, lr, reg):
        # The BPR step with the visual margin added; the visual parameters then take the same g.
        df = self.item_features_[i] - self.item_features_[j]
        tu = self.user_visual_[u]
        ev = df @ self.projection_.T
        visual_margin = np.einsum("bk,bk->b", tu, ev) + df @ self.visual_bias_
        g = bpr_step(self.user_factors_, self.item_factors_, self.item_bias_, u, i, j, lr, reg, visual_margin)
        vreg = self.visual_regularization
        np.add.at(self.user_visual_, u, lr * (g[:, None] * ev - reg * tu))
        self.projection_ += lr * ((g[:, None] * tu).T @ df - vreg * self.projection_)
        self.visual_bias_ += lr * (g @ df - vreg * self.visual_bias_)

    def fit(self, X, *, item_features=None, timestamps=None):
        """``X`` users x items weights; ``item_features`` ``(n_items, d)`` (required); ``timestamps`` unused."""
        m = check_user_items(X)
        feats = check_item_features(item_features, m.shape[1], type(self).__name__)
        self.item_features_ = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
        return self._fit(m)

    def score(self, users):
        users = self._check_users(users)
        visual = (self.user_visual_[users] @ self.projection_) @ self.item_features_.T
        return super().score(users) + visual + (self.item_features_ @ self.visual_bias_)[None, :]


class ImplicitALS(Recommender):
    """The ``implicit`` library's ALS behind this module's estimator shape (the reference in t03).

    Same model as ``ALS``: the matrix handed to ``implicit`` holds the confidences
    ``1 + alpha * r`` (``implicit`` uses the matrix values as ``c_ui`` directly), with its
    own ``alpha=1``; its conjugate-gradient solver (3 steps), unscaled ``regularization`` and
    start (uniform in ``[0, 0.01)`` from ``default_rng(seed)``) are the same as ``ALS``'s.
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

    def fit(self, X, *, item_features=None, timestamps=None):
        try:
            from implicit.cpu.als import AlternatingLeastSquares
        except ImportError as exc:  # an optional reference, not a dependency of the package
            raise ImportError("ImplicitALS needs the 'implicit' package: pip install implicit "
                              "(or install the workbook with the dev extra)") from exc
        self.user_items_ = check_user_items(X)
        c = ALS(alpha=self.alpha).confidence(self.user_items_).astype(np.float32)  # the same matrix as ALS's
        model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization, alpha=1.0,
                                        iterations=self.iterations, random_state=self.seed,
                                        num_threads=self.num_threads)
        model.fit(c, show_progress=self.progress)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float64)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float64)
        return self

    def score(self, users):
        users = self._check_users(users)
        return self.user_factors_[users] @ self.item_factors_.T
