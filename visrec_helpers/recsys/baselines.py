"""Baselines: random scores (the floor) and popularity (the same list for every user)."""

from __future__ import annotations

import numpy as np

from visrec_helpers.recsys.base import Recommender, check_user_items


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
