"""Intervals for the workbook's claims: bootstrap over users, t-intervals over seeds, tables and plots.

A single number ("ALS: NDCG@10 = 0.31") cannot carry a claim; a number with its
uncertainty can. Two sources of uncertainty, two helpers:

- **Which users were evaluated** (the test set is a sample): :func:`bootstrap_ci`
  resamples users with replacement and reports the percentile interval of the
  statistic (Efron and Tibshirani, 1993, ch. 13). :func:`paired_bootstrap_ci` does the
  same for the difference of two models on the same users, resampling each user's pair
  together; that interval is usually much narrower than the two separate ones
  suggest, because users who are hard for one model tend to be hard for the other.
- **Which random seed** (the simulated data, the split, the initialisation):
  :func:`over_seeds` reruns an experiment per seed and reports the mean with a Student
  t interval on ``n - 1`` degrees of freedom.

:func:`interval_table` turns intervals into a compact table ("0.312 [0.290, 0.335]"),
:func:`plot_intervals` draws them as horizontal error bars, and :func:`overlaps` lets a
notebook assert a claim only when the intervals are apart.

Use::

    per_user = [ndcg_at_k(r, t, 10) for r, t in zip(recs, relevant) if t]  # recsys.metrics
    bootstrap_ci(per_user)                      # Interval, prints as 0.312 [0.290, 0.335]
    paired_bootstrap_ci(per_user_als, per_user_pop).low > 0   # ALS better on these users
    over_seeds(lambda seed: run(seed), range(5))  # run returns a dict -> one row per metric
    interval_table({"ALS": iv_als, "popularity": iv_pop}, metric="NDCG@10")
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

_CHUNK = 1 << 22  # resampled values per batch (32 MiB of float64)


@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval.

    estimate: the statistic on the full data (the mean over seeds for ``over_seeds``).
    low, high: the interval's ends. level: its confidence level (0.95).
    n: how many users (bootstrap) or seeds (t) it rests on.
    method: ``"percentile bootstrap"``, ``"paired percentile bootstrap"`` or ``"t"``.
    statistic: the statistic's name, for table headers (``"mean"``, ``"median"``, ...).
    """

    estimate: float
    low: float
    high: float
    level: float = 0.95
    n: int = 0
    method: str = ""
    statistic: str = "mean"

    @property
    def width(self) -> float:
        return self.high - self.low

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies within ``[low, high]``."""
        return bool(self.low <= value <= self.high)

    def format(self, digits: int = 3) -> str:
        """``"0.312 [0.290, 0.335]"`` with ``digits`` decimals."""
        return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"

    def __str__(self) -> str:
        return self.format()


def _check_level(level) -> float:
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0.0 < level < 1.0:
        raise ValueError(f"level must be a number strictly between 0 and 1 (0.95 for 95%), got {level!r}")
    return float(level)


def _check_values(values, name: str, min_n: int = 2) -> np.ndarray:
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numbers, got {type(values).__name__}") from exc
    if x.ndim != 1:
        raise ValueError(f"{name} must be one value per user (1-D), got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty: nothing to put an interval on")
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(f"{name} has {int(bad.sum())} NaN or infinite value(s), first at position "
                         f"{int(np.flatnonzero(bad)[0])}: drop or fill them before computing an interval")
    if x.size < min_n:
        raise ValueError(f"{name} has {x.size} value(s): an interval needs at least {min_n}")
    return x


def _stat_name(statistic) -> str:
    return getattr(statistic, "__name__", type(statistic).__name__)


def _apply(statistic, samples: np.ndarray) -> np.ndarray:
    """``statistic`` of each row of ``samples`` ``(b, n)``: vectorised when it takes ``axis``."""
    try:
        out = np.asarray(statistic(samples, axis=1), dtype=np.float64)
        if out.shape == (len(samples),):
            return out
    except TypeError:
        pass
    return np.array([float(statistic(row)) for row in samples])


def _bootstrap(columns: list[np.ndarray], combine, n_boot: int, level: float, random_state, method: str,
               name: str) -> Interval:
    if isinstance(n_boot, bool) or not isinstance(n_boot, numbers.Integral) or n_boot < 100:
        raise ValueError(f"n_boot must be an integer >= 100 (a percentile needs many resamples), got {n_boot!r}")
    level = _check_level(level)
    n = len(columns[0])
    rng = np.random.default_rng(random_state)
    stats = np.empty(n_boot)
    per = max(1, _CHUNK // n)
    for start in range(0, n_boot, per):
        b = min(per, n_boot - start)
        idx = rng.integers(0, n, size=(b, n))  # whole users resampled, with replacement
        stats[start:start + b] = combine(*[c[idx] for c in columns])
    if not np.isfinite(stats).all():
        raise ValueError(f"the statistic {name} returned NaN or infinite values on resamples")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    estimate = float(combine(*[c[None, :] for c in columns])[0])
    return Interval(estimate, float(low), float(high), level, n, method, name)


def bootstrap_ci(per_user_values, statistic: Callable = np.mean, n_boot: int = 2000, level: float = 0.95,
                 random_state=0) -> Interval:
    """Percentile bootstrap interval of ``statistic`` over users.

    per_user_values: ``(n_users,)`` one value per evaluated user (for example each
    user's NDCG@10), finite, at least 2. statistic: a function of a 1-D array to a number
    (``np.mean``, ``np.median``, ...); called as ``statistic(a, axis=1)`` on a batch of
    resamples when it accepts ``axis``. n_boot: resamples (>= 100). level: in (0, 1).
    random_state: seed of the local ``np.random.default_rng``.
    Returns an :class:`Interval` whose ``estimate`` is ``statistic`` of the full data.
    """
    x = _check_values(per_user_values, "per_user_values")
    return _bootstrap([x], lambda a: _apply(statistic, a), n_boot, level, random_state,
                      "percentile bootstrap", _stat_name(statistic))


def paired_bootstrap_ci(values_a, values_b, statistic: Callable = np.mean, n_boot: int = 2000,
                        level: float = 0.95, random_state=0) -> Interval:
    """Percentile bootstrap interval of ``statistic(a) - statistic(b)``, resampling users in pairs.

    values_a, values_b: ``(n_users,)`` each, the two models' values for the same users in
    the same order. The interval excludes 0 when one model is better on these users
    beyond resampling noise. Other arguments as :func:`bootstrap_ci`.
    """
    a = _check_values(values_a, "values_a")
    b = _check_values(values_b, "values_b")
    if a.shape != b.shape:
        raise ValueError(f"values_a has {a.size} users but values_b has {b.size}: pass values for the same "
                         "users in the same order")
    return _bootstrap([a, b], lambda x, y: _apply(statistic, x) - _apply(statistic, y), n_boot, level,
                      random_state, "paired percentile bootstrap", f"{_stat_name(statistic)} difference")


def t_interval(values, level: float = 0.95) -> Interval:
    """Mean and Student t interval ``mean +- t(n-1) * sd / sqrt(n)`` of ``values`` (>= 2, finite)."""
    from scipy import stats

    x = _check_values(values, "values")
    level = _check_level(level)
    mean = float(x.mean())
    half = float(stats.t.ppf(0.5 + level / 2.0, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return Interval(mean, mean - half, mean + half, level, int(x.size), "t", "mean")


def over_seeds(fn: Callable, seeds: Iterable, level: float = 0.95, progress: bool = False):
    """Run ``fn(seed)`` for every seed; the mean and t interval (``n - 1`` dof) of what it returns.

    ``fn`` returns a number -> an :class:`Interval`. ``fn`` returns a dict of numbers (for
    example ``recsys.metrics.evaluate``) -> a ``pandas.DataFrame`` with one row per key
    and columns ``estimate, low, high, sd, n``; the per-seed values are in
    ``df.attrs["runs"]`` (a DataFrame, one row per seed). At least 2 seeds.
    """
    from tqdm.auto import tqdm

    seeds = list(seeds)
    if len(seeds) < 2:
        raise ValueError(f"seeds must hold at least 2 seeds for an interval, got {seeds!r}")
    if len(set(map(repr, seeds))) != len(seeds):
        raise ValueError(f"seeds has repeats: {seeds!r} (a repeated seed is not a new sample)")
    level = _check_level(level)
    results = [fn(s) for s in tqdm(seeds, desc="seeds", disable=not progress, leave=False)]

    def number(value, seed, key=None):
        where = f"fn({seed!r})" + (f"[{key!r}]" if key is not None else "")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise ValueError(f"{where} returned {value!r}: expected a finite number")
        return float(value)

    if all(isinstance(r, Mapping) for r in results):
        keys = list(results[0])
        for s, r in zip(seeds, results):
            if list(r) != keys:
                raise ValueError(f"fn({s!r}) returned keys {list(r)}, but fn({seeds[0]!r}) returned {keys}")
        runs = pd.DataFrame([{k: number(r[k], s, k) for k in keys} for s, r in zip(seeds, results)],
                            index=pd.Index(seeds, name="seed"))
        rows = {}
        for k in keys:
            iv = t_interval(runs[k].to_numpy(), level)
            rows[k] = {"estimate": iv.estimate, "low": iv.low, "high": iv.high,
                       "sd": float(runs[k].std(ddof=1)), "n": iv.n}
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "metric"
        out.attrs["runs"] = runs
        out.attrs["level"] = level
        return out
    return t_interval([number(r, s) for s, r in zip(seeds, results)], level)


def _as_intervals(value, name) -> dict:
    """``{metric: Interval}`` from an Interval, a dict of Intervals or an ``over_seeds`` table."""
    if isinstance(value, Interval):
        return {None: value}
    if isinstance(value, pd.DataFrame):
        missing = {"estimate", "low", "high"} - set(value.columns)
        if missing:
            raise ValueError(f"rows[{name!r}] is a DataFrame without column(s) {sorted(missing)}")
        level = value.attrs.get("level", 0.95)
        return {str(k): Interval(float(r["estimate"]), float(r["low"]), float(r["high"]), level,
                                 int(r.get("n", 0)), "t", "mean") for k, r in value.iterrows()}
    if isinstance(value, Mapping):
        bad = [k for k, v in value.items() if not isinstance(v, Interval)]
        if bad:
            raise ValueError(f"rows[{name!r}][{bad[0]!r}] is not an Interval")
        return dict(value)
    raise ValueError(f"rows[{name!r}] must be an Interval, a dict of Intervals or an over_seeds table, "
                     f"got {type(value).__name__}")


def _normalise_rows(rows, metric) -> tuple[list, list, dict]:
    if isinstance(rows, Mapping):
        items = list(rows.items())
    else:
        items = list(rows)
        if not all(isinstance(r, tuple) and len(r) == 2 for r in items):
            raise ValueError("rows must be a dict {name: intervals} or a list of (name, intervals) pairs")
    if not items:
        raise ValueError("rows is empty: nothing to tabulate")
    table = {}
    metrics: list = []
    for name, value in items:
        ivs = _as_intervals(value, name)
        if None in ivs:
            ivs = {metric or "value": ivs[None]}
        table[name] = ivs
        metrics += [m for m in ivs if m not in metrics]
    return [n for n, _ in items], metrics, table


def interval_table(rows, metric: str | None = None, digits: int = 3, name: str = "model") -> pd.DataFrame:
    """A compact table of intervals: one row per model, one string column per metric.

    rows: ``{model: Interval}``, ``{model: {metric: Interval}}``, ``{model: over_seeds table}``
    or a list of ``(model, ...)`` pairs (keeps the order). metric: the column name when
    each row is a single Interval (``"NDCG@10"``). Cells read ``"0.312 [0.290, 0.335]"``;
    headers ``"NDCG@10 mean [low, high]"`` (the statistic's name; ``"estimate"`` when
    models differ). A model without that metric gets an empty cell.
    """
    names, metrics, table = _normalise_rows(rows, metric)
    out = {name: names}
    for m in metrics:
        ivs = [table[n].get(m) for n in names]
        stats = {iv.statistic for iv in ivs if iv is not None}
        stat = stats.pop() if len(stats) == 1 else "estimate"
        out[f"{m} {stat} [low, high]"] = [iv.format(digits) if iv is not None else "" for iv in ivs]
    return pd.DataFrame(out)


def plot_intervals(rows, metric: str | None = None, ax=None, title: str | None = None, reference=None):
    """Horizontal error bars, one row per model and one panel per metric; returns the figure.

    rows, metric: as :func:`interval_table`. The value axis always includes 0 (no
    truncated axis makes a small gap look large); a dashed line marks 0 when intervals
    cross it (differences). reference: ``{metric: value}`` or one value, drawn as a
    dotted line (for example a published number or the oracle's ceiling).
    ``ax``: one Axes (only with a single metric).
    """
    import matplotlib.pyplot as plt

    names, metrics, table = _normalise_rows(rows, metric)
    if ax is not None and len(metrics) > 1:
        raise ValueError(f"ax is one Axes but the rows hold {len(metrics)} metrics {metrics}: leave ax=None")
    if ax is None:
        fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 0.45 * len(names) + 1.3),
                                 squeeze=False)
        axes = list(axes[0])
    else:
        fig, axes = ax.figure, [ax]
    y = np.arange(len(names))[::-1]  # first model on top
    for a, m in zip(axes, metrics):
        ivs = [table[n].get(m) for n in names]
        have = [i for i, iv in enumerate(ivs) if iv is not None]
        est = np.array([ivs[i].estimate for i in have])
        lo = np.array([ivs[i].low for i in have])
        hi = np.array([ivs[i].high for i in have])
        a.errorbar(est, y[have], xerr=[est - lo, hi - est], fmt="o", capsize=4)
        a.set_yticks(y, names)
        levels = {ivs[i].level for i in have}
        a.set_xlabel(f"{m} ({levels.pop():.0%} interval)" if len(levels) == 1 else str(m))
        left, right = min(0.0, float(lo.min())), max(0.0, float(hi.max()))
        pad = 0.05 * (right - left or 1.0)
        a.set_xlim(left - (pad if left < 0 else 0.0), right + pad)
        if lo.min() < 0 < hi.max():
            a.axvline(0.0, color="gray", linestyle="--", linewidth=1)
        ref = reference.get(m) if isinstance(reference, Mapping) else reference
        if ref is not None:
            a.axvline(float(ref), color="black", linestyle=":", linewidth=1)
            a.set_xlim(min(a.get_xlim()[0], float(ref)), max(a.get_xlim()[1], float(ref) + pad))
        a.grid(axis="x", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def overlaps(a: Interval, b: Interval) -> bool:
    """Whether intervals ``a`` and ``b`` share at least one point (touching counts as overlapping).

    Non-overlapping 95% intervals imply a difference; overlapping ones do not prove there
    is none (use :func:`paired_bootstrap_ci` for that comparison).
    """
    for name, iv in (("a", a), ("b", b)):
        if not isinstance(iv, Interval):
            raise ValueError(f"{name} must be an Interval, got {type(iv).__name__}")
    return bool(a.low <= b.high and b.low <= a.high)
