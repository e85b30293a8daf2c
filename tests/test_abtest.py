"""A/B test statistics against textbook values and simulation."""

import numpy as np
import pytest
from scipy.stats import norm

from visrec_helpers.recsys import abtest as A


def test_ztest_golden_value():
    # 200/1000 vs 250/1000: pooled p = 0.225, se = sqrt(.225*.775*2/1000)
    out = A.two_proportion_ztest(200, 1000, 250, 1000)
    z = 0.05 / np.sqrt(0.225 * 0.775 * 0.002)
    assert out["z"] == pytest.approx(z)
    assert out["p_value"] == pytest.approx(2 * norm.sf(z))
    assert out["ci_low"] < 0.05 < out["ci_high"]


def test_ztest_equal_rates_give_z_zero():
    assert A.two_proportion_ztest(30, 100, 30, 100)["p_value"] == pytest.approx(1.0)


def test_power_at_the_required_sample_size():
    n = A.sample_size_two_proportions(0.10, 0.12, power=0.8)
    assert A.power_two_proportions(0.10, 0.12, n) >= 0.8 > A.power_two_proportions(0.10, 0.12, n - 1)
    assert 3000 < n < 4500  # textbook value is about 3,840 per group


def test_power_matches_simulated_rejection_rate():
    rng = np.random.default_rng(0)
    n, pa, pb = 1500, 0.10, 0.13
    rejections = [A.two_proportion_ztest(rng.binomial(n, pa), n, rng.binomial(n, pb), n)["p_value"] < 0.05
                  for _ in range(2000)]
    assert np.mean(rejections) == pytest.approx(A.power_two_proportions(pa, pb, n), abs=0.04)


def test_simulated_ab_test_finds_a_large_effect_and_reports_truth():
    out = A.simulate_ab_test(np.full(4000, 0.1), np.full(4000, 0.2), seed=0)
    assert out["n_a"] + out["n_b"] == 4000
    assert out["p_value"] < 1e-6 and out["true_p_b"] == pytest.approx(0.2)


def test_click_probability_is_share_of_liked_slots():
    likes = np.array([[True, False, True, False]])
    assert A.click_probability(likes, np.array([[0, 1]]))[0] == pytest.approx(0.5)


@pytest.mark.parametrize("args", [(5, 4, 1, 4), (1, 0, 1, 4), (-1, 4, 1, 4)])
def test_bad_counts_raise(args):
    with pytest.raises(ValueError, match="successes|positive integer"):
        A.two_proportion_ztest(*args)


def test_bad_rates_raise():
    with pytest.raises(ValueError, match="p_a"):
        A.power_two_proportions(0.0, 0.1, 100)
    with pytest.raises(ValueError, match="zero difference"):
        A.sample_size_two_proportions(0.1, 0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        A.simulate_ab_test(np.array([0.5, 1.5]), np.array([0.5, 0.5]))


def test_sample_ratio_mismatch_golden_values():
    assert A.sample_ratio_mismatch(5000, 5000) == pytest.approx(1.0)
    # 5100 vs 4900: chi2 = 2 * 100^2 / 5000 = 4, p = P(chi2_1 > 4) = 2 * sf(2)
    assert A.sample_ratio_mismatch(5100, 4900) == pytest.approx(2 * norm.sf(2.0))
    # a designed 10/90 split observed exactly as designed
    assert A.sample_ratio_mismatch(1000, 9000, expected_share_a=0.1) == pytest.approx(1.0)


def test_sample_ratio_mismatch_bad_input_raises():
    with pytest.raises(ValueError, match="n_a"):
        A.sample_ratio_mismatch(0, 10)
    with pytest.raises(ValueError, match="expected_share_a"):
        A.sample_ratio_mismatch(10, 10, expected_share_a=1.0)
