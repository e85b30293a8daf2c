"""The oracle: a recommender that ranks by the simulator's true utility (the ceiling row of every table).

On simulated data (``data.simulate_users``) the ground truth knows each user's utility
for every item. Ranking the unseen items by it is the best any model can do on that
data, up to the reaction noise: no model trained on the log can beat it, so it is the ceiling row that puts every other number
of a results table in proportion. It is a measuring stick, not a model: it needs the
truth, which a real log never has.
"""

from __future__ import annotations

import numpy as np

from visrec_helpers.recsys.base import Recommender, RecsysError, check_user_items


class OracleRecommender(Recommender):
    """Scores item ``i`` for user ``u`` by the true utility ``ground_truth.utility[u, i]``.

    ``ground_truth``: anything with a ``utility`` attribute of shape
    ``(n_users, n_items)`` (``data.SimulatedTruth``), or that array
    itself. ``fit(X)`` only records ``X`` (the training interactions, so that
    ``recommend(..., exclude_seen=True)`` leaves out what each user has seen) and checks
    that its shape matches the truth; ``item_features`` and ``timestamps`` are ignored.
    ``utility_``: the ``(n_users, n_items)`` float64 utility it ranks by. A truth without
    a numeric 2-D utility, or one whose shape differs from ``X``'s, raises ``RecsysError``.
    """

    def __init__(self, ground_truth):
        self.ground_truth = ground_truth

    def fit(self, X, *, item_features=None, timestamps=None):
        truth = self.ground_truth
        utility = np.asarray(getattr(truth, "utility", truth))
        if utility.ndim != 2 or utility.size == 0 or not np.issubdtype(utility.dtype, np.number):
            raise RecsysError("ground_truth must have a utility array of shape (n_users, n_items), "
                             f"got {type(truth).__name__} with shape {utility.shape} and dtype {utility.dtype}")
        utility = utility.astype(np.float64)
        if not np.isfinite(utility).all():
            raise RecsysError("ground_truth.utility contains NaN or infinite values")
        m = check_user_items(X)
        if m.shape != utility.shape:
            raise RecsysError(f"X has shape {m.shape} but the ground truth knows {utility.shape} "
                             "(users, items): build X with the simulator's n_users and n_items, "
                             "for example interactions_to_csr(train, n_users, n_items)")
        self.user_items_ = m
        self.utility_ = utility
        return self

    def score(self, users) -> np.ndarray:
        """``(len(users), n_items)`` float64: the true utility of every item for each user."""
        users = self._check_users(users)
        return self.utility_[users].copy()
