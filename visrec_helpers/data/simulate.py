"""Simulated users v2: tastes over a catalog's real attributes, with a documented ground truth.

``simulate_users(attributes, facets)`` turns any item-attributes table (the emoji
catalog's ``group``, ``subgroup`` and colour; the digits catalog's measured stroke,
slant and width; a small synthetic table in the tests) into an interaction log
``user, item, event, weight, timestamp`` plus a :class:`SimulatedTruth` that knows
every user's true utility for every item.

No circular tastes
------------------
Tastes are made only of the facet columns you pass. For the emoji catalog those are
subgroup / group / colour, which no encoder in this package is trained on (the
pretrained backbone is ImageNet EfficientNet-Lite0; nothing here is fine-tuned on the
emoji taxonomy). Do not pass a column that an encoder in the same notebook was
trained to predict (for the digits catalog: ``label``), or a content-based model
"wins" because the taste is its training target.

The generative model (what the ground truth holds)
--------------------------------------------------
For a catalog of ``n`` items and facets ``f = 1..F``, item ``i`` has level
``v_f(i)`` of facet ``f``. Numeric facet columns with more than 10 distinct values
are first cut into quintiles; a missing value is a level nobody prefers.

1. **Item quality** ``q_i ~ Normal(0, 1)``: what makes some items popular with
   everyone.
2. **Facet tastes.** For each facet, user ``u`` prefers ``m`` levels
   (``m`` uniform in ``n_preferred``, at most the number of levels), drawn without
   replacement with probability proportional to how many items have the level (big
   subgroups have more fans). Their weights are ``Dirichlet(1, ..., 1)`` scaled so that
   the favourite level has affinity 1: ``a_uf(v)`` in [0, 1], 0 for levels not preferred.
3. **Popularity sensitivity** ``b_u = popularity_weight * Gamma(2, 1/2)`` (mean
   ``popularity_weight``): some users follow the crowd more than others.
4. **Utility** (true, fixed per user and item):
   ``U[u, i] = sum_f facet_weights[f] * a_uf(v_f(i)) + b_u * q_i + e_ui``,
   with idiosyncratic taste ``e_ui ~ Normal(0, noise)``.
5. **Views.** User ``u`` makes ``N_u`` views (``N_u`` uniform in ``events_per_user``)
   of distinct items, sampled without replacement with probability
   ``softmax(U[u] / temperature)`` (Gumbel top-``N_u``).
6. **Time, independent of utility.** Each user's timeline starts at a uniform time in
   the first ``days / 2`` days and lasts a uniform ``days / 10`` to ``days / 2`` days;
   every view gets a uniform time on it, so the order of a user's events says nothing
   about their utility (the v1 simulator emitted events in decreasing utility order).
7. **Reactions.** Each view becomes ``like``, ``view`` or ``skip`` by comparing the
   momentary reaction ``r = U[u, i] + Normal(0, reaction_noise)`` with two per-user
   thresholds: ``like`` if ``r >= like_threshold[u]``, ``skip`` if
   ``r < skip_threshold[u]``, else ``view``. The thresholds are set so that, in
   expectation over the items the user is likely to view (their inclusion
   probabilities under step 5), a share ``like_rate_u`` of views are likes and
   ``skip_rate_u`` are skips, where ``like_rate_u ~ Beta`` with mean
   ``like_rate`` and ``skip_rate_u ~ Beta`` with mean ``skip_rate`` (concentration
   20: users differ in how generous they are). Defaults give about 20% likes, 30%
   skips and 50% plain views.
8. **Weights.** The log's ``weight`` column holds :data:`LOG_WEIGHTS` (like 3, view 1,
   skip 0.1), the weights the current notebooks were written against: a skip's 0.1 keeps a
   skipped item in the interaction matrix, so the models' seen filter hides it. It is *not*
   the package's interaction-weight policy: a model should train on
   ``data.interaction_weights(log)`` (like 3, view 1, skip 0; a skip is never a positive)
   and take the seen items from the whole log. ``event_weights`` replaces the table.

Taste drift (only when asked for)
---------------------------------
``drift`` in [0, 1] (default 0). With ``drift > 0`` each user also draws a second,
independent set of facet tastes (step 2); at fraction ``s`` of the timeline
(0 = first event, 1 = last) the facet part of the utility is
``(1 - drift * s) * old + drift * s * new`` (quality, popularity sensitivity and
idiosyncratic taste stay). Views are then drawn from the timeline-averaged view
distribution, and each view's time from the density proportional to how likely that
item is at each time (16 time cells), so items of the new taste come late. With
``drift = 0`` there is one taste and time is uniform, as in step 6.
:attr:`SimulatedTruth.utility` is the taste at the end of the timeline (``s = 1``),
the one a next-item recommendation should serve.

In-session intent (only when asked for)
---------------------------------------
``session_length`` (default ``None``: no sessions, the model above). With
``session_length=(low, high)`` each user's views come in sessions of a uniform
``low..high`` views (the last one shorter), and each session has a short-lived **intent**:

1. **Intent.** Session ``k`` of user ``u`` draws one level ``c_k`` of the intent facet
   (``intent_facet``, default the first facet) with probability
   ``(1 - intent_explore) * P_u(c) + intent_explore * n_c / n``: ``P_u(c)`` is the mass of
   level ``c`` in the user's long-term view distribution ``softmax(U_k / temperature)``
   (``U_k`` the utility at that session's time, ``U[u]`` without drift) and ``n_c / n`` the
   level's share of the catalog. So a session is often about one of the user's lasting
   tastes, and often (``intent_explore``, default 0.5) about something else for a while.
2. **Session utility** ``S_k = (1 - intent_weight) * U_k + intent_weight * B * [v(i) == c_k]``
   with ``B = sum(facet_weights)`` (the largest facet part a taste can give), so at
   ``intent_weight = 0.5`` the intent counts as much as the whole long-term taste.
3. **Views.** The session's items are drawn, without replacement over the user's whole
   timeline, with probability ``softmax(S_k / temperature)``.
4. **Time.** Sessions follow each other after ``1 h + Exponential(11 h)`` (hours apart);
   inside a session the views are ``30 s + Exponential(90 s)`` apart (minutes apart). The
   first session starts at a uniform time in the first ``days / 2`` days.
5. **Reactions** compare the long-term utility ``U_k`` (not ``S_k``) with the thresholds of
   step 7, calibrated on the session mixture: the intent changes what a user looks at,
   not what they like. With drift, session ``k`` of ``K`` is at timeline fraction
   ``k / (K - 1)``.

The log gains a ``session`` column (a global session id, in time order per user), and
:attr:`SimulatedTruth.sessions` is the ground truth a session model should recover: one
row per session with ``session, user, intent`` (the level ``c_k``), ``intent_facet``,
``start``, ``end`` and ``n_events``.

All randomness goes through one ``np.random.default_rng(random_state)``; without
``session_length`` no extra number is drawn, so logs without sessions are unchanged.

Use
---
::

    log, truth = simulate_users(emoji_catalog().attributes, ["subgroup", "colour"], n_users=500)
    X = interactions_to_csr(train, truth.n_users, truth.n_items)  # train: a split of log
    OracleRecommender(truth).fit(X)   # visrec_helpers.recsys.oracle: the ceiling row
    truth.relevant_sets(users, seen=train)  # what each user would like now, unseen

``truth.utility`` also scores any ranking directly (for example the share of a model's
top 10 that the user would like, ``relevant``), which a logged test split cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from visrec_helpers.core.validation import as_exclude, as_id, as_ids, as_k
from visrec_helpers.data.images import DataError
from visrec_helpers.data.interactions import EVENTS

#: The log's ``weight`` column (step 8 of the module docstring). Not the weight policy
#: (``data.WEIGHT_POLICIES``): the notebooks move onto ``data.interaction_weights`` in their
#: rewrite (issues 23 and 24), and then this default becomes the policy's.
LOG_WEIGHTS = {"like": 3.0, "view": 1.0, "skip": 0.1}

_MAX_LEVELS = 10  # numeric facets with more distinct values than this are cut into quintiles
_TIME_CELLS = 16  # time resolution of the drift model
_CAL_CELLS = 4  # time cells used to calibrate the reaction thresholds under drift
_DAY = 86_400.0
_RATE_CONCENTRATION = 20.0  # Beta(mean * c, (1 - mean) * c) for the per-user like / skip rates


@dataclass
class SimulatedTruth:
    """What ``simulate_users`` knows and a real log does not.

    utility: ``(n_users, n_items)`` float64, each user's true utility for every item at
    the end of their timeline (higher is better); equals ``start_utility`` when
    ``drift == 0``.
    start_utility: ``(n_users, n_items)`` float64, the utility at the start of the timeline.
    like_threshold, skip_threshold: ``(n_users,)`` float64, reaction thresholds (step 7
    of the module docstring).
    like_rate, skip_rate: ``(n_users,)`` float64, each user's expected share of likes and skips.
    quality: ``(n_items,)`` float64, item quality ``q_i``.
    popularity_sensitivity: ``(n_users,)`` float64, ``b_u``.
    tastes: per user, ``{facet: {level: affinity}}`` of the starting taste (affinity in (0, 1]).
    end_tastes: the same for the drifted taste, or ``None`` when ``drift == 0``.
    facets: the facet column names, in order. params: the simulator's arguments.
    sessions: with ``session_length``, one row per session: ``session, user, intent,
    intent_facet, start, end, n_events`` (the intent each session had); else ``None``.
    """

    utility: np.ndarray
    start_utility: np.ndarray
    like_threshold: np.ndarray
    skip_threshold: np.ndarray
    like_rate: np.ndarray
    skip_rate: np.ndarray
    quality: np.ndarray
    popularity_sensitivity: np.ndarray
    tastes: list
    end_tastes: list | None
    facets: list
    params: dict = field(default_factory=dict)
    sessions: pd.DataFrame | None = None

    @property
    def n_users(self) -> int:
        return self.utility.shape[0]

    @property
    def n_items(self) -> int:
        return self.utility.shape[1]

    def _check_user(self, user) -> int:
        return as_id(user, "user", self.n_users, what="user", error=DataError)

    def utility_at(self, s: float) -> np.ndarray:
        """``(n_users, n_items)`` utility at timeline fraction ``s`` in [0, 1] (0 = first event)."""
        if not 0.0 <= s <= 1.0:
            raise ValueError(f"s must be in [0, 1], got {s!r}")
        return self.start_utility + s * (self.utility - self.start_utility)

    def top_items(self, user: int, k: int = 10, exclude=()) -> np.ndarray:
        """The ``k`` items with the highest true (end) utility for ``user``, best first,
        leaving out ``exclude`` (for example the items already seen). Ties keep the lower id.

        ``user`` and ``exclude`` are integer ids, ``k`` an integer between 1 and the items left
        after ``exclude``; anything else (a float, a mask, ``-1``, ``k=-1``) raises ``DataError``."""
        u = self.utility[self._check_user(user)].copy()
        exclude = as_exclude(exclude, self.n_items, error=DataError)
        k = as_k(k, self.n_items - len(exclude), what=f"items left after excluding {len(exclude)}",
                 error=DataError)
        u[exclude] = -np.inf
        return np.argsort(-u, kind="stable")[:k].astype(np.int64)

    def relevant(self, user: int, exclude=()) -> set:
        """Items ``user`` would like if shown now: true (end) utility at or above their like
        threshold (the median reaction is a like), minus ``exclude`` (integer item ids)."""
        u = self._check_user(user)
        exclude = as_exclude(exclude, self.n_items, error=DataError)
        items = np.flatnonzero(self.utility[u] >= self.like_threshold[u])
        return set(items.tolist()) - set(exclude.tolist())

    def relevant_sets(self, users=None, seen: pd.DataFrame | None = None) -> list[set]:
        """``relevant`` for each user in ``users`` (integer ids, default all), excluding the items
        each user has in the ``seen`` interactions table (for example the training split)."""
        users = np.arange(self.n_users) if users is None else as_ids(users, "users", self.n_users, what="user",
                                                                      error=DataError)
        if seen is not None:
            missing = [c for c in ("user", "item") if c not in getattr(seen, "columns", ())]
            if missing:
                raise DataError(f"seen must be an interactions table with columns user and item; missing {missing}")
            as_ids(seen["user"], "seen['user']", what="user", error=DataError)
            as_ids(seen["item"], "seen['item']", self.n_items, error=DataError)
        seen_by = seen.groupby("user")["item"].apply(set).to_dict() if seen is not None else {}
        return [self.relevant(int(u), seen_by.get(int(u), ())) for u in users]


def _encode_facets(attributes: pd.DataFrame, facets: Sequence[str]):
    """Integer level codes ``(F, n_items)`` (-1 = missing), level names and item counts per level."""
    codes, levels, counts = [], [], []
    for f in facets:
        col = attributes[f]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col) \
                and col.nunique(dropna=True) > _MAX_LEVELS:
            col = pd.qcut(col, 5, duplicates="drop")
        c, lv = pd.factorize(col, sort=True)
        if len(lv) == 0:
            raise DataError(f"facet column '{f}' has only missing values")
        codes.append(c.astype(np.int64))
        levels.append([str(x) if isinstance(x, pd.Interval) else x for x in lv])
        counts.append(np.bincount(c[c >= 0], minlength=len(lv)).astype(np.float64))
    return np.stack(codes), levels, counts


def _draw_tastes(rng, n_users, levels, counts, n_preferred):
    """Affinity matrices ``[(n_users, n_levels_f)]`` and the per-user taste dicts."""
    mats, dicts = [], [dict() for _ in range(n_users)]
    for f, (lv, cnt) in enumerate(zip(levels, counts)):
        lo, hi = n_preferred[f]
        a = np.zeros((n_users, len(lv)))
        p = cnt / cnt.sum()
        available = int((cnt > 0).sum())
        for u in range(n_users):
            m = min(int(rng.integers(lo, hi + 1)), available)
            chosen = rng.choice(len(lv), size=m, replace=False, p=p)
            w = rng.dirichlet(np.ones(m))
            a[u, chosen] = w / w.max()
            dicts[u][f] = {lv[c]: float(a[u, c]) for c in chosen[np.argsort(-a[u, chosen], kind="stable")]}
        mats.append(a)
    return mats, dicts


def _facet_part(mats, codes, weights) -> np.ndarray:
    """``sum_f weights[f] * a_uf(v_f(i))`` as ``(n_users, n_items)``; missing levels add 0."""
    out = 0.0
    for a, c, w in zip(mats, codes, weights):
        padded = np.concatenate([a, np.zeros((a.shape[0], 1))], axis=1)  # code -1 -> the zero column
        out = out + w * padded[:, c]
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _inclusion(p: np.ndarray, n: int) -> np.ndarray:
    """Approximate inclusion probabilities of ``n`` draws without replacement proportional to
    ``p``: ``1 - exp(-lam * p)`` with ``lam`` such that they sum to ``n``."""
    if n >= len(p):
        return np.ones_like(p)
    hi = 1.0
    while (-np.expm1(-hi * p)).sum() < n:
        hi *= 2.0
    lam = brentq(lambda x: float((-np.expm1(-x * p)).sum()) - n, 0.0, hi, xtol=1e-6 * hi)
    return -np.expm1(-lam * p)


_GRID = 2048  # value grid of the reaction-threshold calibration


def _thresholds(values: np.ndarray, mass: np.ndarray, sd: float, upper_shares) -> list[float]:
    """For each share ``a`` in ``upper_shares`` the ``t`` with
    ``sum mass * P(values + Normal(0, sd) >= t) = a`` (``mass`` sums to 1).

    Computed on a grid of 2048 values: the mass is binned, convolved with the noise
    density and summed from the top (accurate to one grid step, about 0.5% of the
    utility range).
    """
    lo, hi = float(values.min()) - 5 * sd, float(values.max()) + 5 * sd
    step = max(hi - lo, 1e-12) / (_GRID - 1)
    hist = np.bincount(np.rint((values - lo) / step).astype(np.int64), weights=mass, minlength=_GRID)
    if sd > 0:
        half = int(np.ceil(5 * sd / step))
        kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * step / sd) ** 2)
        hist = np.convolve(hist, kernel / kernel.sum(), mode="same")
    tail = np.cumsum(hist[::-1])[::-1]  # tail[j] = mass of reactions at or above grid[j]
    out = []
    for a in upper_shares:
        j = int(np.flatnonzero(tail >= a * tail[0])[-1])
        out.append(lo + j * step)
    return out


def _check_range(name, value, integer=False):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        lo, hi = value, value
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        lo, hi = value
    else:
        raise ValueError(f"{name} must be an integer or a (low, high) pair, got {value!r}")
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must hold integers >= 1, got {value!r}")
    if lo > hi:
        raise ValueError(f"{name}: low {lo} is above high {hi}")
    return int(lo), int(hi)


def _check_number(name, value, low=None, high=None, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return float(value)


def _beta_rates(rng, mean: float, n: int) -> np.ndarray:
    c = _RATE_CONCENTRATION
    return rng.beta(mean * c, (1.0 - mean) * c, n)

_SESSION_GAP = (3_600.0, 11 * 3_600.0)  # between sessions: 1 h + Exponential(mean 11 h)
_EVENT_GAP = (30.0, 90.0)  # inside a session: 30 s + Exponential(mean 90 s)


def _session_lengths(rng, n_events: int, low: int, high: int) -> np.ndarray:
    """Session sizes that add up to ``n_events``: uniform ``low..high``, the last one cut short."""
    sizes = []
    while sum(sizes) < n_events:
        sizes.append(min(int(rng.integers(low, high + 1)), n_events - sum(sizes)))
    return np.array(sizes, dtype=np.int64)


def _session_plan(rng, start_u, step_u, intent_codes, level_counts, sizes, intent_weight, intent_explore, strength,
                  temperature):
    """Per session: long-term utility ``U_k`` ``(K, n)``, view distribution ``(K, n)`` of the
    session utility, and the intent level ``c_k`` (steps 1-2 of "In-session intent")."""
    k = len(sizes)
    frac = np.arange(k) / (k - 1) if k > 1 else np.zeros(1)
    base = np.repeat(start_u[None, :], k, axis=0) if step_u is None else start_u[None, :] + frac[:, None] * step_u
    known = intent_codes >= 0
    taste = np.stack([np.bincount(intent_codes[known], weights=row[known], minlength=len(level_counts))
                      for row in _softmax(base / temperature)])
    taste /= np.maximum(taste.sum(axis=1, keepdims=True), 1e-300)
    mix = (1.0 - intent_explore) * taste + intent_explore * (level_counts / level_counts.sum())[None, :]
    intents = np.argmax(np.log(np.maximum(mix, 1e-300)) + rng.gumbel(size=mix.shape), axis=1)
    match = intent_codes[None, :] == intents[:, None]
    p = _softmax(((1.0 - intent_weight) * base + intent_weight * strength * match) / temperature)
    return base, p, intents


def _session_views(rng, p, sizes, t0):
    """Items (distinct over the timeline), session index and time of every view of one user."""
    taken = np.zeros(p.shape[1], dtype=bool)
    items, which, stamps = [], [], []
    t = t0
    for k, m in enumerate(sizes):
        if k:
            t += _SESSION_GAP[0] + rng.exponential(_SESSION_GAP[1])
        g = np.where(taken, -np.inf, np.log(np.maximum(p[k], 1e-300)) + rng.gumbel(size=p.shape[1]))
        chosen = np.argsort(-g, kind="stable")[:m]
        taken[chosen] = True
        gaps = _EVENT_GAP[0] + rng.exponential(_EVENT_GAP[1], m)
        gaps[0] = 0.0
        times = t + np.cumsum(gaps)
        t = float(times[-1])
        items.append(chosen)
        which.append(np.full(m, k))
        stamps.append(times)
    return np.concatenate(items), np.concatenate(which), np.concatenate(stamps)


def simulate_users(
    attributes: pd.DataFrame,
    facets: Sequence[str],
    n_users: int = 500,
    events_per_user=(20, 60),
    *,
    facet_weights=None,
    n_preferred=(1, 3),
    popularity_weight: float = 0.5,
    noise: float = 0.3,
    temperature: float = 0.3,
    like_rate: float = 0.2,
    skip_rate: float = 0.3,
    reaction_noise: float = 0.3,
    drift: float = 0.0,
    session_length=None,
    intent_weight: float = 0.5,
    intent_explore: float = 0.5,
    intent_facet: str | None = None,
    event_weights: dict | None = None,
    days: float = 30.0,
    random_state: int = 0,
    progress: bool = False,
) -> tuple[pd.DataFrame, SimulatedTruth]:
    """Simulate users whose tastes are over ``facets`` of ``attributes`` (model in the module docstring).

    attributes: one row per item, in item-id order (``catalog.attributes``).
    facets: the columns tastes are made of, for example ``["subgroup", "colour"]``.
    n_users: number of users (ids ``0..n_users-1``; every user has at least one event).
    events_per_user: views per user, an integer or an inclusive ``(low, high)`` range.
    facet_weights: one weight per facet, a list, or ``{facet: weight}`` overriding the
    default (2 for the first facet, 1 for the others). n_preferred: levels preferred per facet, an
    inclusive ``(low, high)`` range or ``{facet: (low, high)}``.
    popularity_weight: mean ``b_u``. noise: sd of the idiosyncratic taste ``e_ui``.
    temperature: softmax temperature of the view distribution (lower = more focused).
    like_rate, skip_rate: mean shares of likes and skips among views (each in (0, 1),
    sum below 1). reaction_noise: sd of the momentary reaction noise.
    drift: taste drift in [0, 1] (0 = none). session_length: ``None`` (no sessions) or views per
    session, an integer or an inclusive ``(low, high)`` range; then ``intent_weight`` in [0, 1]
    mixes each session's intent into what is viewed, ``intent_explore`` in [0, 1] is the share
    of intents drawn regardless of the user's taste, and ``intent_facet`` (default the first
    facet) is the facet intents are drawn over ("In-session intent" in the module docstring).
    event_weights: ``{"like", "view", "skip"}`` -> non-negative weight of the log's ``weight``
    column (default :data:`LOG_WEIGHTS`; a model takes ``data.interaction_weights(log)``). days: length of the simulated period.
    random_state: seed of the one ``np.random.default_rng`` used.

    Returns ``(interactions, truth)``: interactions with columns ``user`` (int64),
    ``item`` (int64, row position in ``attributes``), ``event`` (``"like"``, ``"view"`` or
    ``"skip"``), ``weight`` (float64) and ``timestamp`` (float64 seconds from the start of
    the period), sorted by user then time, one row per (user, item), plus ``session``
    (int64) with ``session_length``; and a :class:`SimulatedTruth`.
    """
    if not isinstance(attributes, pd.DataFrame):
        raise DataError(f"attributes must be a pandas DataFrame, got {type(attributes).__name__}")
    n_items = len(attributes)
    if n_items < 2:
        raise DataError(f"attributes has {n_items} rows: need at least 2 items")
    if isinstance(facets, str):
        facets = [facets]
    facets = list(facets)
    if not facets:
        raise ValueError("facets is empty: name at least one attribute column")
    missing = [f for f in facets if f not in attributes.columns]
    if missing:
        raise DataError(f"facet column(s) {missing} not in attributes; columns are {list(attributes.columns)}")
    if len(set(facets)) != len(facets):
        raise ValueError(f"facets has duplicates: {facets}")
    if isinstance(n_users, bool) or not isinstance(n_users, (int, np.integer)) or n_users < 1:
        raise ValueError(f"n_users must be an integer >= 1, got {n_users!r}")
    ev_lo, ev_hi = _check_range("events_per_user", events_per_user)
    if ev_hi > n_items:
        raise ValueError(f"events_per_user={events_per_user!r} exceeds the catalog size {n_items}")
    fw = [2.0] + [1.0] * (len(facets) - 1)
    if isinstance(facet_weights, dict):
        unknown = set(facet_weights) - set(facets)
        if unknown:
            raise ValueError(f"facet_weights names {sorted(unknown)}, which are not in facets {facets}")
        fw = [facet_weights.get(f, w) for f, w in zip(facets, fw)]
    elif facet_weights is not None:
        fw = list(facet_weights)
        if len(fw) != len(facets):
            raise ValueError(f"facet_weights has {len(fw)} entries for {len(facets)} facets")
    fw = [_check_number(f"facet_weights[{f!r}]", w, low=0.0) for f, w in zip(facets, fw)]
    if isinstance(n_preferred, dict):
        npref = [_check_range(f"n_preferred[{f!r}]", n_preferred.get(f, (1, 3))) for f in facets]
    else:
        npref = [_check_range("n_preferred", n_preferred)] * len(facets)
    popularity_weight = _check_number("popularity_weight", popularity_weight, low=0.0)
    noise = _check_number("noise", noise, low=0.0)
    temperature = _check_number("temperature", temperature, low=0.0, low_open=True)
    like_rate = _check_number("like_rate", like_rate, 0.0, 1.0, True, True)
    skip_rate = _check_number("skip_rate", skip_rate, 0.0, 1.0, True, True)
    if like_rate + skip_rate >= 1.0:
        raise ValueError(f"like_rate + skip_rate must be below 1, got {like_rate} + {skip_rate}")
    reaction_noise = _check_number("reaction_noise", reaction_noise, low=0.0)
    drift = _check_number("drift", drift, 0.0, 1.0)
    days = _check_number("days", days, low=0.0, low_open=True)
    sess = None if session_length is None else _check_range("session_length", session_length)
    intent_weight = _check_number("intent_weight", intent_weight, 0.0, 1.0)
    intent_explore = _check_number("intent_explore", intent_explore, 0.0, 1.0)
    if intent_facet is None:
        intent_facet = facets[0]
    elif intent_facet not in facets:
        raise ValueError(f"intent_facet={intent_facet!r} is not one of the facets {facets}")
    weights = dict(LOG_WEIGHTS if event_weights is None else event_weights)
    if set(weights) != set(EVENTS):
        raise ValueError(f"event_weights must have exactly the keys {list(EVENTS)}, got {sorted(weights)}")
    for e in EVENTS:
        weights[e] = _check_number(f"event_weights[{e!r}]", weights[e], low=0.0)

    from tqdm.auto import tqdm

    rng = np.random.default_rng(random_state)
    codes, levels, counts = _encode_facets(attributes, facets)
    quality = rng.normal(0.0, 1.0, n_items)
    mats0, tastes0 = _draw_tastes(rng, n_users, levels, counts, npref)
    beta = popularity_weight * rng.gamma(2.0, 0.5, n_users)
    idio = rng.normal(0.0, noise, (n_users, n_items)) if noise > 0 else np.zeros((n_users, n_items))
    base = beta[:, None] * quality[None, :] + idio
    facet0 = _facet_part(mats0, codes, fw)
    start = facet0 + base
    if drift > 0:
        mats1, tastes1 = _draw_tastes(rng, n_users, levels, counts, npref)
        step = drift * (_facet_part(mats1, codes, fw) - facet0)
        end = start + step
        cells = (np.arange(_TIME_CELLS) + 0.5) / _TIME_CELLS
    else:
        tastes1, step, end, cells = None, None, start, np.array([0.5])
    like_u = _beta_rates(rng, like_rate, n_users)
    skip_u = _beta_rates(rng, skip_rate, n_users)
    over = like_u + skip_u > 0.95
    like_u[over], skip_u[over] = (like_u[over] / (like_u + skip_u)[over] * 0.95,
                                  skip_u[over] / (like_u + skip_u)[over] * 0.95)
    n_events = rng.integers(ev_lo, ev_hi + 1, n_users)
    t_start = rng.uniform(0.0, days / 2, n_users) * _DAY
    t_len = rng.uniform(days / 10, days / 2, n_users) * _DAY

    like_t = np.empty(n_users)
    skip_t = np.empty(n_users)
    users, items, events, stamps = [], [], [], []
    intent_f = facets.index(intent_facet)
    strength = float(sum(fw))
    session_of, session_rows = [], []
    for u in tqdm(range(n_users), desc="simulating users", disable=not progress, leave=False):
        if sess is not None:  # "In-session intent" in the module docstring
            sizes = _session_lengths(rng, int(n_events[u]), *sess)
            base, p_sess, intents = _session_plan(rng, start[u], None if step is None else step[u], codes[intent_f],
                                                  counts[intent_f], sizes, intent_weight, intent_explore, strength,
                                                  temperature)
            p_mean = (sizes[:, None] * p_sess).sum(axis=0) / sizes.sum()
            seen_share = _inclusion(p_mean, int(n_events[u])) / n_events[u]
            share = sizes[:, None] * p_sess / (sizes.sum() * np.maximum(p_mean, 1e-300)) * seen_share
            like_t[u], skip_t[u] = _thresholds(base.ravel(), share.ravel(), reaction_noise,
                                               (like_u[u], 1.0 - skip_u[u]))
            viewed, which, times = _session_views(rng, p_sess, sizes, t_start[u])
            r = base[which, viewed] + (rng.normal(0.0, reaction_noise, len(viewed)) if reaction_noise > 0 else 0.0)
            first = len(session_rows)
            session_of.append(first + which)
            for k, m in enumerate(sizes):
                level = levels[intent_f][intents[k]]
                in_k = times[which == k]
                session_rows.append((first + k, u, level, intent_facet, float(in_k[0]), float(in_k[-1]), int(m)))
            users.append(np.full(len(viewed), u, dtype=np.int64))
            items.append(viewed.astype(np.int64))
            events.append(np.where(r >= like_t[u], "like", np.where(r < skip_t[u], "skip", "view")))
            stamps.append(times)
            continue
        # (G, n_items) utility and view distribution at each time cell (G = 1 without drift).
        u_cells = start[u][None, :] if step is None else start[u][None, :] + cells[:, None] * step[u][None, :]
        p_cells = _softmax(u_cells / temperature)
        p_mean = p_cells.mean(axis=0)
        # Calibrate on what the user will actually see: each item's chance of being among
        # the N views, spread over the time cells in proportion to p_cells.
        seen_share = _inclusion(p_mean, int(n_events[u])) / n_events[u]
        share = p_cells / (len(cells) * np.maximum(p_mean, 1e-300)) * seen_share
        if step is not None:  # calibrate on 4 coarser cells (utility is linear in time)
            u_cal = u_cells.reshape(_CAL_CELLS, -1, n_items).mean(axis=1)
            share = share.reshape(_CAL_CELLS, -1, n_items).sum(axis=1)
        else:
            u_cal = u_cells
        flat_u, flat_p = u_cal.ravel(), share.ravel()
        like_t[u], skip_t[u] = _thresholds(flat_u, flat_p, reaction_noise, (like_u[u], 1.0 - skip_u[u]))
        # Gumbel top-N: N distinct items, without replacement, proportional to p_mean.
        g = np.log(np.maximum(p_mean, 1e-300)) + rng.gumbel(size=n_items)
        viewed = np.argpartition(-g, n_events[u] - 1)[: n_events[u]]
        viewed = viewed[np.argsort(-g[viewed], kind="stable")]
        if step is None:
            s = rng.uniform(0.0, 1.0, len(viewed))  # time independent of utility
        else:
            w = p_cells[:, viewed]  # (G, N): how likely each viewed item is at each time
            cum = np.cumsum(w / w.sum(axis=0, keepdims=True), axis=0)
            cell = np.minimum((cum < rng.uniform(size=len(viewed))[None, :]).sum(axis=0), len(cells) - 1)
            s = (cell + rng.uniform(size=len(viewed))) / len(cells)
        util_now = start[u, viewed] if step is None else start[u, viewed] + s * step[u, viewed]
        r = util_now + (rng.normal(0.0, reaction_noise, len(viewed)) if reaction_noise > 0 else 0.0)
        ev = np.where(r >= like_t[u], "like", np.where(r < skip_t[u], "skip", "view"))
        users.append(np.full(len(viewed), u, dtype=np.int64))
        items.append(viewed.astype(np.int64))
        events.append(ev)
        stamps.append(t_start[u] + s * t_len[u])

    ev = np.concatenate(events)
    df = pd.DataFrame({
        "user": np.concatenate(users),
        "item": np.concatenate(items),
        "event": ev.astype(object),
        "weight": np.array([weights[e] for e in EVENTS], dtype=np.float64)[
            np.select([ev == "like", ev == "view"], [0, 1], 2)],
        "timestamp": np.concatenate(stamps).astype(np.float64),
    })
    sessions = None
    if sess is not None:
        df["session"] = np.concatenate(session_of).astype(np.int64)
        sessions = pd.DataFrame(session_rows, columns=["session", "user", "intent", "intent_facet", "start", "end",
                                                       "n_events"])
    df = df.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)
    params = {"facets": facets, "n_users": int(n_users), "events_per_user": (ev_lo, ev_hi),
              "facet_weights": dict(zip(facets, fw)), "n_preferred": dict(zip(facets, npref)),
              "popularity_weight": popularity_weight, "noise": noise, "temperature": temperature,
              "like_rate": like_rate, "skip_rate": skip_rate, "reaction_noise": reaction_noise,
              "drift": drift, "session_length": sess, "intent_weight": intent_weight,
              "intent_explore": intent_explore, "intent_facet": intent_facet, "event_weights": weights, "days": days, "random_state": random_state,
              "levels": dict(zip(facets, levels))}
    truth = SimulatedTruth(
        utility=end, start_utility=start, like_threshold=like_t, skip_threshold=skip_t,
        like_rate=like_u, skip_rate=skip_u, quality=quality, popularity_sensitivity=beta,
        tastes=[{facets[f]: d for f, d in t.items()} for t in tastes0],
        end_tastes=None if tastes1 is None else [{facets[f]: d for f, d in t.items()} for t in tastes1],
        facets=facets, params=params, sessions=sessions)
    return df, truth
