"""Neighbourhood collaborative filtering: shrunk cosine similarity, item-kNN and user-kNN."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from visrec_helpers.recsys.base import Recommender, check_hyper, check_user_items


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

    def fit(self, X, *, item_features=None, timestamps=None):
        check_hyper("k_neighbors", self.k_neighbors, 1, integer=True)
        check_hyper("shrinkage", self.shrinkage)
        self.user_items_ = check_user_items(X)
        sim = cosine_similarity_sparse(self.user_items_.T.tocsr(), self.shrinkage)
        self.similarity_ = _top_k_per_row(sim, self.k_neighbors, self.progress, "item neighbours")
        return self

    def score(self, users):
        users = self._check_users(users)
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

    def fit(self, X, *, item_features=None, timestamps=None):
        check_hyper("k_neighbors", self.k_neighbors, 1, integer=True)
        check_hyper("shrinkage", self.shrinkage)
        self.user_items_ = check_user_items(X)
        m = self.user_items_
        self.norms_ = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        return self

    def neighbours(self, users) -> sp.csr_matrix:
        """``(len(users), n_users)`` CSR of the kept neighbour similarities of each user."""
        users = self._check_users(users)
        m = self.user_items_
        dots = np.asarray((m[users] @ m.T).todense())
        sims = dots / (self.norms_[users, None] * self.norms_[None, :] + self.shrinkage + 1e-12)
        sims[np.arange(len(users)), users] = 0.0  # a user is not their own neighbour
        return _top_k_per_row(sp.csr_matrix(sims), self.k_neighbors)

    def score(self, users):
        return np.asarray((self.neighbours(users) @ self.user_items_).todense())
