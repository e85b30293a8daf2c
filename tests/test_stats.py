"""core.stats: bootstrap and t intervals checked against known distributions and scipy."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from visrec_helpers.core.stats import (
    Interval,
    bootstrap_ci,
    interval_table,
    over_seeds,
    overlaps,
    paired_bootstrap_ci,
    plot_intervals,
    t_interval,
)

matplotlib.use("Agg")  # no display in CI; set before pyplot is first imported

import matplotlib.pyplot as plt  # noqa: E402

# --- bootstrap over users -------------------------------------------------------------------

def test_bootstrap_ci_of_the_mean_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(123)
    reps = 300
    covered = sum(bootstrap_ci(rng.normal(0.0, 1.0, 60), n_boot=500, random_state=r).contains(0.0)
                  for r in range(reps))
    # Percentile bootstrap at n=60 is known to undercover slightly; 300 reps give sd ~1.3%.
    assert 0.90 <= covered / reps <= 0.98


def test_bootstrap_ci_width_shrinks_as_one_over_sqrt_n():
    rng = np.random.default_rng(7)
    small = np.mean([bootstrap_ci(rng.normal(size=100), n_boot=500, random_state=r).width for r in range(20)])
    large = np.mean([bootstrap_ci(rng.normal(size=400), n_boot=500, random_state=r).width for r in range(20)])
    assert small / large == pytest.approx(2.0, rel=0.12)


def test_bootstrap_ci_matches_the_normal_interval_for_a_large_sample():
    x = np.random.default_rng(3).normal(5.0, 2.0, 4000)
    iv = bootstrap_ci(x, n_boot=2000)
    half = 1.959964 * x.std(ddof=1) / np.sqrt(x.size)
    assert iv.estimate == pytest.approx(x.mean())
    assert iv.low == pytest.approx(x.mean() - half, abs=0.1 * half)
    assert iv.high == pytest.approx(x.mean() + half, abs=0.1 * half)


def test_bootstrap_ci_records_level_size_method_and_statistic():
    iv = bootstrap_ci(np.arange(10.0), statistic=np.median, level=0.9)
    assert (iv.level, iv.n, iv.method, iv.statistic) == (0.9, 10, "percentile bootstrap", "median")
    assert iv.estimate == 4.5


def test_bootstrap_ci_is_reproducible_for_a_seed_and_varies_across_seeds():
    x = np.random.default_rng(0).random(50)
    assert bootstrap_ci(x, random_state=5) == bootstrap_ci(x, random_state=5)
    assert bootstrap_ci(x, random_state=5) != bootstrap_ci(x, random_state=6)


def test_bootstrap_ci_of_constant_values_has_zero_width():
    iv = bootstrap_ci(np.full(30, 0.25))
    assert (iv.estimate, iv.low, iv.high) == (0.25, 0.25, 0.25)


def test_bootstrap_ci_accepts_a_statistic_without_axis():
    x = np.random.default_rng(1).random(200)
    iv = bootstrap_ci(x, statistic=lambda a: float(np.percentile(a, 90)), n_boot=200)
    assert iv.estimate == pytest.approx(np.percentile(x, 90))
    assert iv.low <= iv.estimate <= iv.high


@pytest.mark.property
@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=40), st.floats(-100, 100))
def test_bootstrap_mean_interval_lies_within_the_data_and_shifts_with_it(values, shift):
    x = np.array(values)
    iv = bootstrap_ci(x, n_boot=200)
    assert x.min() - 1e-9 <= iv.low <= iv.high <= x.max() + 1e-9
    moved = bootstrap_ci(x + shift, n_boot=200)
    assert moved.low == pytest.approx(iv.low + shift, abs=1e-6)
    assert moved.high == pytest.approx(iv.high + shift, abs=1e-6)


# --- paired difference ----------------------------------------------------------------------

def test_paired_bootstrap_of_a_constant_shift_is_exactly_that_shift():
    a = np.random.default_rng(2).random(80)
    iv = paired_bootstrap_ci(a + 0.1, a)
    assert iv.estimate == pytest.approx(0.1)
    assert iv.low == pytest.approx(0.1) and iv.high == pytest.approx(0.1)
    assert iv.method == "paired percentile bootstrap"


def test_paired_interval_is_narrower_than_separate_intervals_for_correlated_models():
    rng = np.random.default_rng(4)
    user_difficulty = rng.random(300)
    a = user_difficulty + rng.normal(0, 0.05, 300) + 0.02
    b = user_difficulty + rng.normal(0, 0.05, 300)
    ia, ib = bootstrap_ci(a), bootstrap_ci(b)
    assert overlaps(ia, ib)  # separate intervals cannot tell the models apart
    diff = paired_bootstrap_ci(a, b)
    assert diff.low > 0  # the paired one can
    assert diff.width < ia.width / 3


def test_paired_bootstrap_refuses_different_numbers_of_users():
    with pytest.raises(ValueError, match="values_a has 3 users but values_b has 2"):
        paired_bootstrap_ci([1.0, 2.0, 3.0], [1.0, 2.0])


# --- t interval over seeds ------------------------------------------------------------------

def test_t_interval_matches_scipy():
    x = np.array([0.31, 0.29, 0.35, 0.33, 0.30])
    iv = t_interval(x)
    low, high = sps.t.interval(0.95, df=4, loc=x.mean(), scale=sps.sem(x))
    assert (iv.estimate, iv.low, iv.high) == pytest.approx((x.mean(), low, high), rel=1e-12)
    assert (iv.n, iv.method) == (5, "t")


def test_over_seeds_with_a_number_gives_the_t_interval_of_the_runs():
    iv = over_seeds(lambda s: float(s), [1, 2, 3, 4])
    low, high = sps.t.interval(0.95, df=3, loc=2.5, scale=sps.sem([1, 2, 3, 4]))
    assert (iv.estimate, iv.low, iv.high) == pytest.approx((2.5, low, high))


def test_over_seeds_with_a_dict_gives_one_row_per_metric_and_keeps_the_runs():
    df = over_seeds(lambda s: {"ndcg@10": 0.1 * s, "recall@10": 0.5}, [1, 2, 3])
    assert list(df.index) == ["ndcg@10", "recall@10"]
    assert list(df.columns) == ["estimate", "low", "high", "sd", "n"]
    assert df.loc["ndcg@10", "estimate"] == pytest.approx(0.2)
    assert df.loc["recall@10", ["low", "high"]].tolist() == pytest.approx([0.5, 0.5])
    assert df.attrs["runs"].shape == (3, 2)
    assert df.attrs["runs"].index.tolist() == [1, 2, 3]


def test_over_seeds_passes_each_seed_once():
    seen = []
    over_seeds(lambda s: seen.append(s) or 1.0, [7, 8, 9])
    assert seen == [7, 8, 9]


@pytest.mark.parametrize("seeds, match", [([0], "at least 2 seeds"), ([0, 0], "repeats")])
def test_over_seeds_refuses_too_few_or_repeated_seeds(seeds, match):
    with pytest.raises(ValueError, match=match):
        over_seeds(lambda s: 1.0, seeds)


def test_over_seeds_names_the_seed_that_returned_nan():
    with pytest.raises(ValueError, match=r"fn\(2\)\['ndcg'\] returned nan"):
        over_seeds(lambda s: {"ndcg": float("nan") if s == 2 else 0.1}, [1, 2, 3])


def test_over_seeds_refuses_runs_with_different_metrics():
    with pytest.raises(ValueError, match="returned keys"):
        over_seeds(lambda s: {"a": 1.0} if s else {"b": 1.0}, [0, 1])


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("values, match", [
    ([], "empty"),
    ([1.0, np.nan, 2.0], "1 NaN or infinite value"),
    ([1.0, np.inf], "NaN or infinite"),
    ([0.3], "at least 2"),
    (np.ones((3, 2)), "1-D"),
    (["a", "b"], "must be numbers"),
])
def test_bootstrap_ci_refuses_bad_values(values, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_ci(values)


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1, 95, True])
def test_level_outside_zero_one_is_refused(level):
    with pytest.raises(ValueError, match="level must be a number strictly between 0 and 1"):
        bootstrap_ci([1.0, 2.0, 3.0], level=level)
    with pytest.raises(ValueError, match="level"):
        t_interval([1.0, 2.0, 3.0], level=level)


@pytest.mark.parametrize("n_boot", [0, 10, 99, 1000.0])
def test_too_few_resamples_are_refused(n_boot):
    with pytest.raises(ValueError, match="n_boot must be an integer >= 100"):
        bootstrap_ci([1.0, 2.0, 3.0], n_boot=n_boot)


# --- table, plot, overlaps -------------------------------------------------------------------

def test_interval_table_formats_cells_and_headers():
    rows = {"ALS": Interval(0.3123, 0.2901, 0.3349), "popularity": Interval(0.1, 0.09, 0.11)}
    df = interval_table(rows, metric="NDCG@10")
    assert list(df.columns) == ["model", "NDCG@10 mean [low, high]"]
    assert df.iloc[0].tolist() == ["ALS", "0.312 [0.290, 0.335]"]
    assert df.iloc[1, 1] == "0.100 [0.090, 0.110]"


def test_interval_table_takes_several_metrics_and_over_seeds_tables():
    seeds_table = over_seeds(lambda s: {"NDCG@10": 0.2 + 0.01 * s, "Recall@10": 0.4}, [0, 1, 2])
    df = interval_table([("ALS", seeds_table),
                         ("oracle", {"NDCG@10": Interval(0.9, 0.88, 0.92, statistic="mean")})], digits=2)
    assert list(df.columns) == ["model", "NDCG@10 mean [low, high]", "Recall@10 mean [low, high]"]
    assert df["model"].tolist() == ["ALS", "oracle"]
    assert df.iloc[0, 2] == "0.40 [0.40, 0.40]"
    assert df.iloc[1, 2] == ""  # the oracle row has no recall


def test_interval_table_refuses_what_is_not_an_interval():
    with pytest.raises(ValueError, match=r"rows\['ALS'\] must be an Interval"):
        interval_table({"ALS": 0.3})
    with pytest.raises(ValueError, match="empty"):
        interval_table({})


def test_plot_intervals_draws_bars_from_zero():
    rows = {"ALS": Interval(0.31, 0.29, 0.33), "popularity": Interval(0.12, 0.10, 0.14)}
    fig = plot_intervals(rows, metric="NDCG@10", reference=0.9)
    ax = fig.axes[0]
    assert ax.get_xlim()[0] == 0.0  # no truncated axis
    assert ax.get_xlim()[1] >= 0.9
    by_height = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())))
    assert [name for _, name in by_height] == ["popularity", "ALS"]  # first model on top
    segments = ax.collections[0].get_segments()  # the horizontal error bars
    spans = sorted((round(s[0][0], 6), round(s[1][0], 6)) for s in segments)
    assert spans == [(0.10, 0.14), (0.29, 0.33)]
    plt.close(fig)


def test_plot_intervals_shows_zero_for_differences_and_one_panel_per_metric():
    rows = {"ALS - pop": {"NDCG@10": Interval(0.05, -0.01, 0.11), "Recall@10": Interval(0.1, 0.05, 0.15)}}
    fig = plot_intervals(rows, title="paired differences")
    assert len(fig.axes) == 2
    left, right = fig.axes[0].get_xlim()
    assert left < -0.01 and right > 0.11
    plt.close(fig)


@pytest.mark.parametrize("a, b, expected", [
    (Interval(0, 1, 2), Interval(0, 3, 4), False),
    (Interval(0, 1, 3), Interval(0, 2, 4), True),
    (Interval(0, 1, 2), Interval(0, 2, 3), True),  # touching
    (Interval(0, 1, 4), Interval(0, 2, 3), True),  # nested
])
def test_overlaps(a, b, expected):
    assert overlaps(a, b) is expected
    assert overlaps(b, a) is expected


def test_interval_str_and_contains():
    iv = Interval(0.3123, 0.2901, 0.3349)
    assert str(iv) == "0.312 [0.290, 0.335]"
    assert iv.contains(0.3) and not iv.contains(0.4)
    assert iv.width == pytest.approx(0.0448)


def test_overlaps_refuses_plain_tuples():
    with pytest.raises(ValueError, match="a must be an Interval"):
        overlaps((0, 1, 2), Interval(0, 1, 2))


def test_over_seeds_table_round_trips_into_plot():
    table = over_seeds(lambda s: {"NDCG@10": 0.2 + 0.01 * s}, [0, 1, 2])
    fig = plot_intervals({"ALS": table})
    assert fig.axes[0].get_xlabel() == "NDCG@10 (95% interval)"
    plt.close(fig)
    assert isinstance(table, pd.DataFrame)
