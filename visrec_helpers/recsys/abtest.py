"""A/B testing of recommenders: the two-proportion z-test, its power, the sample size
it needs, and a simulated experiment on users with known preferences.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from visrec_helpers.recsys.base import RecsysError, check_recommendations


def _check_counts(successes, n, label):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise RecsysError(f"n_{label} must be a positive integer, got {n!r}")
    if not 0 <= successes <= n:
        raise RecsysError(f"successes_{label}={successes} must lie in 0..n_{label}={n}")


def two_proportion_ztest(successes_a: int, n_a: int, successes_b: int, n_b: int, alpha: float = 0.05) -> dict:
    """Two-sided z-test of ``p_b == p_a`` with the pooled standard error.

    Returns ``p_a``, ``p_b``, ``diff`` (= p_b - p_a), ``z``, ``p_value``, and the
    ``1 - alpha`` Wald confidence interval of ``diff`` (unpooled standard error) as
    ``ci_low``/``ci_high``.
    """
    _check_counts(successes_a, n_a, "a")
    _check_counts(successes_b, n_b, "b")
    pa, pb = successes_a / n_a, successes_b / n_b
    pooled = (successes_a + successes_b) / (n_a + n_b)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = (pb - pa) / se if se > 0 else 0.0
    se_diff = np.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
    half = norm.ppf(1 - alpha / 2) * se_diff
    return {"p_a": pa, "p_b": pb, "diff": pb - pa, "z": float(z), "p_value": float(2 * norm.sf(abs(z))),
            "ci_low": pb - pa - half, "ci_high": pb - pa + half}


def power_two_proportions(p_a: float, p_b: float, n_per_group: int, alpha: float = 0.05) -> float:
    """Probability that a two-sided z-test at level ``alpha`` detects ``p_a != p_b`` with ``n_per_group`` users each.

    Normal approximation: ``power = Phi((|p_b - p_a| - z_{1-alpha/2} se0) / se1)`` with
    se0 under the null (pooled) and se1 under the alternative.
    """
    for name, p in (("p_a", p_a), ("p_b", p_b)):
        if not 0.0 < p < 1.0:
            raise RecsysError(f"{name} must be in (0, 1), got {p}")
    if n_per_group < 1:
        raise RecsysError(f"n_per_group must be >= 1, got {n_per_group}")
    pbar = (p_a + p_b) / 2
    se0 = np.sqrt(2 * pbar * (1 - pbar) / n_per_group)
    se1 = np.sqrt((p_a * (1 - p_a) + p_b * (1 - p_b)) / n_per_group)
    return float(norm.cdf((abs(p_b - p_a) - norm.ppf(1 - alpha / 2) * se0) / se1))


def sample_size_two_proportions(p_a: float, p_b: float, power: float = 0.8, alpha: float = 0.05) -> int:
    """Smallest users per group for which ``power_two_proportions`` reaches ``power``."""
    if p_a == p_b:
        raise RecsysError("p_a == p_b: no sample size can detect a zero difference")
    if not 0.0 < power < 1.0:
        raise RecsysError(f"power must be in (0, 1), got {power}")
    pbar = (p_a + p_b) / 2
    za, zb = norm.ppf(1 - alpha / 2), norm.ppf(power)
    n = ((za * np.sqrt(2 * pbar * (1 - pbar)) + zb * np.sqrt(p_a * (1 - p_a) + p_b * (1 - p_b))) / (p_b - p_a)) ** 2
    n = int(np.ceil(n))
    while power_two_proportions(p_a, p_b, n, alpha) < power:  # guard the rounding
        n += 1
    return n


def click_probability(likes, recommendations) -> np.ndarray:
    """Per user, the chance of a click when they look at one random slot of their list.

    ``likes``: ``(n_users, n_items)`` bool, what each user truly likes;
    ``recommendations``: ``(n_users, k)`` item ids. Returns ``(n_users,)`` = share of the
    list the user likes.
    """
    likes = np.asarray(likes, dtype=bool)
    if likes.ndim != 2:
        raise RecsysError(f"likes must be (n_users, n_items), got shape {likes.shape}")
    rec = check_recommendations(recommendations, "recommendations", likes.shape[1])
    if len(rec) != len(likes):
        raise RecsysError(f"recommendations must be (n_users={len(likes)}, k), got shape {rec.shape}")
    return np.take_along_axis(likes, rec, axis=1).mean(axis=1)


def simulate_ab_test(p_click_a, p_click_b, seed: int = 0, alpha: float = 0.05) -> dict:
    """Randomise users into A or B (half each), draw one click per user from their arm's probability.

    ``p_click_a``/``p_click_b``: ``(n_users,)`` each user's click probability under arm A
    and under arm B (only the assigned arm is observed). Returns the z-test result plus
    ``n_a``, ``n_b`` and the true mean click rates ``true_p_a``/``true_p_b``.
    """
    pa, pb = np.asarray(p_click_a, dtype=np.float64), np.asarray(p_click_b, dtype=np.float64)
    if pa.shape != pb.shape or pa.ndim != 1 or len(pa) < 2:
        raise RecsysError("p_click_a and p_click_b must be (n_users,) arrays of the same length >= 2")
    if ((pa < 0) | (pa > 1) | (pb < 0) | (pb > 1)).any() or not np.isfinite(pa + pb).all():
        raise RecsysError("click probabilities must lie in [0, 1]")
    rng = np.random.default_rng(seed)
    in_b = rng.permutation(len(pa)) < len(pa) // 2
    clicks = rng.random(len(pa)) < np.where(in_b, pb, pa)
    out = two_proportion_ztest(int(clicks[~in_b].sum()), int((~in_b).sum()), int(clicks[in_b].sum()),
                               int(in_b.sum()), alpha)
    out.update(n_a=int((~in_b).sum()), n_b=int(in_b.sum()), true_p_a=float(pa.mean()), true_p_b=float(pb.mean()))
    return out


def sample_ratio_mismatch(n_a: int, n_b: int, expected_share_a: float = 0.5) -> float:
    """p-value of the chi-square test (1 dof) that users split into the arms as designed.

    ``n_a``, ``n_b``: users observed in each arm; ``expected_share_a``: the designed share
    of arm A (0.5 for a 50/50 test). A tiny p-value (below 0.001, say) means the assignment
    or the logging is broken, and the test's result should not be read (Kohavi et al. 2020).
    """
    _check_counts(0, n_a, "a")
    _check_counts(0, n_b, "b")
    if not 0.0 < expected_share_a < 1.0:
        raise RecsysError(f"expected_share_a must be in (0, 1), got {expected_share_a!r}")
    n = n_a + n_b
    expected = np.array([expected_share_a * n, (1.0 - expected_share_a) * n])
    chi2 = float((((np.array([n_a, n_b]) - expected) ** 2) / expected).sum())
    return float(2 * norm.sf(np.sqrt(chi2)))  # chi-square with 1 dof = square of a standard normal
