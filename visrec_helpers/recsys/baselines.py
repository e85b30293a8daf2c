"""Baselines: random scores (the floor every model must beat) and popularity (one list for every user)."""

from __future__ import annotations

import numpy as np

from visrec_helpers.recsys.base import Recommender, check_user_items


class RandomRecommender(Recommender):
    """Uniformly random scores from a local generator seeded with ``seed``.

    ``fit(X)`` ignores ``item_features`` and ``timestamps``. Each ``score`` call draws
    fresh scores, so two calls differ; two models fitted with one seed agree call by call.
    """

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, X, *, item_features=None, timestamps=None):
        self.user_items_ = check_user_items(X)
        self.rng_ = np.random.default_rng(self.seed)
        return self

    def score(self, users):
        users = self._check_users(users)
        return self.rng_.random((len(users), self.n_items_))


class Popularity(Recommender):
    """Scores every item by its total interaction weight in ``X`` (the same list for every user).

    ``fit(X)`` ignores ``item_features`` and ``timestamps``; ``item_scores_`` is ``(n_items,)``.
    """

    def fit(self, X, *, item_features=None, timestamps=None):
        self.user_items_ = check_user_items(X)
        self.item_scores_ = np.asarray(self.user_items_.sum(axis=0)).ravel()
        return self

    def score(self, users):
        users = self._check_users(users)
        return np.tile(self.item_scores_, (len(users), 1))
