"""Cold start: new items placed in the collaborative space from their images, and new
users served by onboarding and bandit exploration over visual clusters.

- ``FeatureToFactor``: ridge regression from image embeddings to CF item factors.
- ``MappedALS``: ALS whose items without any interaction get factors predicted from
  their image (the "map visual features into the factor space" hybrid).
- ``ClusterBanditEnv`` + policies (``PopularityPolicy``, ``EpsilonGreedy``,
  ``ThompsonSampling``, ``Onboarding``) + ``simulate_new_users``: rounds of one shown
  item each, reward 1 when the simulated user truly likes it.
"""

from __future__ import annotations

import copy

import numpy as np

from visrec_helpers.recsys.base import Recommender, RecsysError, check_item_features, check_user_items
from visrec_helpers.recsys.factorisation import ALS


class FeatureToFactor:
    """Ridge regression ``factors ~ features @ coef_ + intercept_`` (closed form).

    Learned on the items that have CF factors (warm items), applied to new items.
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def fit(self, features, factors):
        x = np.asarray(features, dtype=np.float64)
        y = np.asarray(factors, dtype=np.float64)
        if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) == 0:
            raise RecsysError(f"features (n, d) and factors (n, f) must have the same n >= 1, got {x.shape} and {y.shape}")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise RecsysError("features or factors contain NaN or infinite values")
        if self.alpha < 0:
            raise RecsysError(f"alpha must be >= 0, got {self.alpha}")
        self.x_mean_, self.y_mean_ = x.mean(axis=0), y.mean(axis=0)
        xc, yc = x - self.x_mean_, y - self.y_mean_
        self.coef_ = np.linalg.solve(xc.T @ xc + self.alpha * np.eye(x.shape[1]), xc.T @ yc)
        self.intercept_ = self.y_mean_ - self.x_mean_ @ self.coef_
        return self

    def predict(self, features) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise RuntimeError("FeatureToFactor is not fitted: call fit() first")
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.coef_.shape[0]:
            raise RecsysError(f"features must be (n, {self.coef_.shape[0]}), got shape {x.shape}")
        return x @ self.coef_ + self.intercept_


class MappedALS(Recommender):
    """ALS for warm items; items with no training interaction get factors regressed from their image.

    ``als``: an (unfitted) ``ALS`` whose hyper-parameters are used; ``ridge_alpha``: the
    ``FeatureToFactor`` penalty. ``fit(X, item_features=...)``; ``cold_items_`` lists
    the items whose factors were predicted.
    """

    def __init__(self, als: ALS | None = None, ridge_alpha: float = 1.0):
        self.als = als
        self.ridge_alpha = ridge_alpha

    def fit(self, X, *, item_features=None, timestamps=None):
        """``X`` users x items weights; ``item_features`` ``(n_items, d)`` (required); ``timestamps`` unused."""
        m = check_user_items(X)
        feats = check_item_features(item_features, m.shape[1], type(self).__name__)
        self.als_ = copy.deepcopy(self.als) if self.als is not None else ALS()
        self.als_.fit(m)
        counts = np.diff(m.tocsc().indptr)
        warm, cold = np.flatnonzero(counts > 0), np.flatnonzero(counts == 0)
        self.mapper_ = FeatureToFactor(self.ridge_alpha).fit(feats[warm], self.als_.item_factors_[warm])
        self.item_factors_ = self.als_.item_factors_.copy()
        if len(cold):
            self.item_factors_[cold] = self.mapper_.predict(feats[cold])
        self.user_factors_ = self.als_.user_factors_
        self.cold_items_ = cold
        self.user_items_ = m
        return self

    def score(self, users):
        users = self._check_users(users)
        return self.user_factors_[users] @ self.item_factors_.T


# ---------------------------------------------------------------------------
# New users: exploration over visual clusters
# ---------------------------------------------------------------------------

class ClusterBanditEnv:
    """Simulated new users shown one item per round.

    ``utility``: ``(n_users, n_items)`` true preferences (``SimulatedTruth.utility`` rows
    of the new users); a user *likes* an item when its utility is in that user's top
    ``1 - like_quantile`` share (a fixed-share definition of a like, simpler than
    ``SimulatedTruth.relevant``). ``clusters``: the
    visual cluster of each item (the bandit arms); ``popularity``: item counts from the
    warm users' training data. Pulling an arm shows the most popular not-yet-shown item of
    that cluster; the reward is 1 if the user likes it.
    """

    def __init__(self, utility, clusters, popularity, like_quantile: float = 0.9):
        self.utility = np.asarray(utility, dtype=np.float64)
        self.clusters = np.asarray(clusters, dtype=np.int64)
        self.popularity = np.asarray(popularity, dtype=np.float64)
        n_items = self.utility.shape[1] if self.utility.ndim == 2 else -1
        if self.utility.ndim != 2 or len(self.clusters) != n_items or len(self.popularity) != n_items:
            raise RecsysError("utility (n_users, n_items), clusters (n_items,) and popularity (n_items,) disagree")
        if not (0.0 < like_quantile < 1.0):
            raise RecsysError(f"like_quantile must be in (0, 1), got {like_quantile}")
        self.likes = self.utility >= np.quantile(self.utility, like_quantile, axis=1, keepdims=True)
        self.n_arms = int(self.clusters.max()) + 1
        order = np.argsort(-self.popularity, kind="stable")
        self.by_popularity = order
        self.arm_items = [order[self.clusters[order] == a] for a in range(self.n_arms)]

    def best_unshown(self, items, shown: set) -> int:
        for i in items:
            if int(i) not in shown:
                return int(i)
        raise RecsysError("every item of this list has been shown already")


class PopularityPolicy:
    """Always the most popular item not yet shown: no personalisation, no exploration."""

    name = "popularity"

    def start(self, env, rng):
        self.env = env

    def next_item(self, shown):
        return self.env.best_unshown(self.env.by_popularity, shown)

    def observe(self, item, reward):
        pass


class _ArmPolicy:
    def start(self, env, rng):
        self.env, self.rng = env, rng
        self.pulls = np.zeros(env.n_arms)
        self.wins = np.zeros(env.n_arms)

    def _open_arms(self, shown):
        return np.array([any(int(i) not in shown for i in items[: len(shown) + 1])
                         for items in self.env.arm_items])

    def next_item(self, shown):
        values = self.arm_values()
        values = np.where(self._open_arms(shown), values, -np.inf)
        best = np.flatnonzero(values == values.max())
        self.last_arm = int(self.rng.choice(best))  # random tie-break
        return self.env.best_unshown(self.env.arm_items[self.last_arm], shown)

    def observe(self, item, reward):
        a = int(self.env.clusters[item])
        self.pulls[a] += 1
        self.wins[a] += reward


class EpsilonGreedy(_ArmPolicy):
    """With probability ``epsilon`` a random cluster, else the cluster with the best observed like rate."""

    def __init__(self, epsilon: float = 0.1):
        if not 0.0 <= epsilon <= 1.0:
            raise RecsysError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon = epsilon
        self.name = f"epsilon-greedy ({epsilon:g})"

    def arm_values(self):
        """This step's value of each arm (cluster): a random vector with probability ``epsilon``,
        else each arm's observed like rate (0 before its first pull)."""
        if self.rng.random() < self.epsilon:
            return self.rng.random(self.env.n_arms)
        return np.where(self.pulls > 0, self.wins / np.maximum(self.pulls, 1), 0.0)


class ThompsonSampling(_ArmPolicy):
    """Beta-Bernoulli Thompson sampling: draw each cluster's like rate from its posterior, take the best."""

    name = "Thompson sampling"

    def __init__(self, prior: tuple[float, float] = (1.0, 1.0)):
        if min(prior) <= 0:
            raise RecsysError(f"Beta prior parameters must be > 0, got {prior}")
        self.prior = prior

    def arm_values(self):
        """This step's value of each arm: a like rate drawn from its Beta posterior (the policy's ``rng``)."""
        a, b = self.prior
        return self.rng.beta(a + self.wins, b + self.pulls - self.wins)


class Onboarding:
    """Show the most popular item of each cluster once, then recommend by content.

    After the onboarding rounds, the profile is the mean embedding of the items the user
    liked; each round shows the unseen item with the highest cosine to it (popularity
    when nothing was liked).
    """

    name = "onboarding + content"

    def __init__(self, embeddings):
        e = np.asarray(embeddings, dtype=np.float64)
        self.embeddings = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)

    def start(self, env, rng):
        if len(self.embeddings) != len(env.clusters):
            raise RecsysError(f"embeddings have {len(self.embeddings)} rows but the catalog has {len(env.clusters)} items")
        self.env = env
        self.queue = [int(items[0]) for items in env.arm_items if len(items)]
        self.liked = []
        self.order = None

    def next_item(self, shown):
        while self.queue:
            item = self.queue.pop(0)
            if item not in shown:
                return item
        if not self.liked:
            return self.env.best_unshown(self.env.by_popularity, shown)
        if self.order is None:  # re-rank only when the profile changed
            profile = self.embeddings[self.liked].mean(axis=0)
            self.order = np.argsort(-(self.embeddings @ profile), kind="stable")
        return self.env.best_unshown(self.order, shown)

    def observe(self, item, reward):
        if reward:
            self.liked.append(int(item))
            self.order = None


def simulate_new_users(policy, env: ClusterBanditEnv, n_rounds: int = 30, seed: int = 0,
                       progress: bool = False) -> np.ndarray:
    """Run ``policy`` for every user of ``env`` for ``n_rounds``: ``(n_users, n_rounds)`` 0/1 rewards."""
    from tqdm.auto import tqdm

    if n_rounds < 1 or n_rounds > env.utility.shape[1]:
        raise RecsysError(f"n_rounds must be in 1..{env.utility.shape[1]}, got {n_rounds}")
    rewards = np.zeros((len(env.utility), n_rounds))
    rng = np.random.default_rng(seed)
    for u in tqdm(range(len(env.utility)), desc=getattr(policy, "name", "policy"), disable=not progress,
                  leave=False):
        policy.start(env, rng)
        shown: set = set()
        for t in range(n_rounds):
            item = policy.next_item(shown)
            shown.add(item)
            r = float(env.likes[u, item])
            policy.observe(item, r)
            rewards[u, t] = r
    return rewards
