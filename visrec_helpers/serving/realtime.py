"""Real-time recommendation, run locally: an event stream, an online profile store, a
serving function over a vector index, a latency recorder and synthetic scale-up of a catalog.

The pieces map one-to-one onto a production stack: ``replay`` stands in for the event
log (Kafka topic), ``ProfileStore.update`` for the stream processor (a Flink job keyed
by user) writing to the profile store (Redis), ``RealtimeRecommender`` for the serving
service that queries the vector index (faiss / an ANN service) and filters seen items.

Conventions: item vectors are ``(n_items, d)`` float32 with L2-normalised rows, so
cosine similarity is an inner product; times are seconds; latencies are measured with
``time.perf_counter`` and reported in milliseconds.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from visrec_helpers.core.validation import as_id, as_ids, as_int, as_k
from visrec_helpers.data import WEIGHT_POLICIES, DataError, validate_interactions
from visrec_helpers.recsys.base import Recommender
from visrec_helpers.search.index import IndexInputError, build_index, check_vectors

# How much each kind of event moves a profile: the data layer's "signed" weight policy
# (data.interactions): a like counts three views, a skip pushes the profile away (-0.5).
EVENT_WEIGHTS = WEIGHT_POLICIES["signed"]


@dataclass(frozen=True)
class Event:
    """One user action: ``kind`` is ``"view"``, ``"like"`` or ``"skip"``; ``timestamp`` in seconds."""

    user: int
    item: int
    kind: str
    timestamp: float


# ---------------------------------------------------------------------------
# The event stream
# ---------------------------------------------------------------------------

def events_from_interactions(df: pd.DataFrame, like_weight: float = 3.0) -> pd.DataFrame:
    """An event table ``user, item, kind, timestamp`` from an interactions table.

    ``kind`` is the table's ``event`` column when it has one (``data.simulate_users``);
    otherwise it is read from the weight: ``"like"`` for weight >= ``like_weight``,
    ``"skip"`` for weight <= 0, else ``"view"`` (the weights of ``data.WEIGHT_POLICIES``).
    Rows are sorted by timestamp across all users (ties keep the input order), which is
    the order a log would deliver them in.
    """
    validate_interactions(df)
    if "timestamp" not in df.columns:
        raise DataError("interactions: a 'timestamp' column is needed to replay events in time order")
    if "event" in df.columns:
        kind = df["event"].to_numpy(dtype=object)
        bad = sorted({str(k) for k in kind} - set(EVENT_WEIGHTS))
        if bad:
            raise DataError(f"interactions: unknown event(s) {bad[:5]}; known: {sorted(EVENT_WEIGHTS)}")
    else:
        w = df["weight"].to_numpy(dtype=float) if "weight" in df.columns else np.ones(len(df))
        kind = np.where(w >= like_weight, "like", np.where(w <= 0, "skip", "view"))
    out = pd.DataFrame({"user": df["user"].to_numpy(np.int64), "item": df["item"].to_numpy(np.int64),
                        "kind": kind, "timestamp": df["timestamp"].to_numpy(dtype=float)})
    return out.sort_values("timestamp", kind="stable").reset_index(drop=True)


def replay(events: pd.DataFrame, limit: int | None = None):
    """Yield ``Event`` objects in timestamp order (stable for ties), at most ``limit`` of them.

    Raises ``DataError`` for a table without the needed columns, an unknown kind, a
    non-finite timestamp, a user or item id that is not a non-negative integer (floats such
    as ``2.7`` are refused, not truncated) or a ``limit`` that is not an integer >= 0, all
    before the first event is yielded.
    """
    if not isinstance(events, pd.DataFrame):
        raise DataError(f"events: expected a pandas DataFrame, got {type(events).__name__}")
    missing = [c for c in ("user", "item", "kind", "timestamp") if c not in events.columns]
    if missing:
        raise DataError(f"events: missing column(s) {missing}; build the table with events_from_interactions")
    bad = sorted(set(events["kind"]) - set(EVENT_WEIGHTS))
    if bad:
        raise DataError(f"events: unknown event kind(s) {bad}; known: {sorted(EVENT_WEIGHTS)}")
    ts = pd.to_numeric(events["timestamp"], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(ts).all():
        raise DataError("events: column 'timestamp' has missing or non-finite values")
    if limit is not None:
        limit = as_int(limit, "limit", min_val=0, error=DataError)
    # ids through the one check path: a float id (2.7) is refused, never truncated to 2; NaN too
    users = as_ids(events["user"], "events['user']", what="user", error=DataError)
    items = as_ids(events["item"], "events['item']", error=DataError)
    order = np.argsort(ts, kind="stable")
    if limit is not None:
        order = order[:limit]
    kinds = events["kind"].to_numpy()
    for i in order:
        yield Event(int(users[i]), int(items[i]), str(kinds[i]), float(ts[i]))


# ---------------------------------------------------------------------------
# The online profile store
# ---------------------------------------------------------------------------

def _decay(half_life: float) -> float:
    """Per-event multiplier that halves an old contribution every ``half_life`` events."""
    if not np.isfinite(half_life) or half_life <= 0:
        raise ValueError(f"half_life must be a positive number of events, got {half_life!r}")
    return float(0.5 ** (1.0 / half_life))


class ProfileStore:
    """Per-user long-term and session profiles, each updated in O(d) per event.

    For an event on an item with vector ``x`` and weight ``w`` (``EVENT_WEIGHTS``):

    - long-term: ``long <- a_long * long + w * x`` with ``a_long = 0.5 ** (1 / long_half_life)``;
    - session: ``session <- a_sess * session + w * x`` (shorter half-life), and reset to
      zero first when more than ``session_gap`` seconds passed since the user's last event.

    Profiles are stored unnormalised (a decayed sum); ``profile`` returns the unit
    vector. ``item_vectors`` is ``(n_items, d)`` float32; ``add_items`` extends it.
    """

    def __init__(self, item_vectors: np.ndarray, long_half_life: float = 50.0, session_half_life: float = 3.0,
                 session_gap: float = 1800.0):
        v = check_vectors(item_vectors, None, "item_vectors")
        if len(v) == 0:
            raise DataError(f"item_vectors must be a non-empty (n_items, d) array, got shape {v.shape}")
        if session_gap <= 0:
            raise ValueError(f"session_gap must be positive seconds, got {session_gap}")
        self.long_half_life = long_half_life
        self.session_half_life = session_half_life
        self.session_gap = session_gap
        self.a_long_ = _decay(long_half_life)
        self.a_sess_ = _decay(session_half_life)
        self._items = v  # not copied: the first add_items grows into a new buffer
        self.n_items_ = len(v)
        self.dim_ = v.shape[1]
        self.rows_: dict[int, int] = {}
        self.long_ = np.zeros((16, self.dim_), dtype=np.float64)
        self.session_ = np.zeros((16, self.dim_), dtype=np.float64)
        self.last_time_ = np.full(16, -np.inf)
        self.n_events_ = np.zeros(16, dtype=np.int64)
        self.seen_: dict[int, set] = {}

    def __len__(self) -> int:
        return len(self.rows_)

    def add_items(self, vectors: np.ndarray) -> np.ndarray:
        """Append new items (``(m, d)``); returns their ids. Existing profiles are untouched.

        The vectors live in a buffer that doubles when full, so adding ``m`` items costs
        O(m * d) amortised, not a copy of the whole catalog."""
        v = check_vectors(vectors, self.dim_, "new item vectors")
        start = self.n_items_
        if start + len(v) > len(self._items):  # amortised O(m): grow the buffer geometrically
            grown = np.empty((max(2 * len(self._items), start + len(v)), self.dim_), dtype=np.float32)
            grown[:start] = self._items[:start]
            self._items = grown
        self._items[start : start + len(v)] = v
        self.n_items_ = start + len(v)
        return np.arange(start, start + len(v))

    def _items_state(self) -> tuple[np.ndarray, int]:
        """What ``add_items`` changes, for ``_restore_items`` (a transaction's undo)."""
        return self._items, self.n_items_

    def _restore_items(self, state: tuple[np.ndarray, int]) -> None:
        self._items, self.n_items_ = state  # rows past n_items_ in the old buffer were never visible

    @property
    def item_vectors_(self) -> np.ndarray:
        """The known item vectors, ``(n_items, d)`` float32 (a view, do not modify)."""
        return self._items[: self.n_items_]

    def _row(self, user: int) -> int:
        """The user's row, created (with room to grow) on first sight; only called once the event is valid."""
        row = self.rows_.get(user)
        if row is None:
            row = len(self.rows_)
            if row == len(self.long_):  # amortised O(1): double the capacity, then register the user
                grow = len(self.long_)
                long_ = np.vstack([self.long_, np.zeros((grow, self.dim_))])
                session_ = np.vstack([self.session_, np.zeros((grow, self.dim_))])
                last_ = np.concatenate([self.last_time_, np.full(grow, -np.inf)])
                n_ev = np.concatenate([self.n_events_, np.zeros(grow, dtype=np.int64)])
                self.long_, self.session_, self.last_time_, self.n_events_ = long_, session_, last_, n_ev
            self.rows_[user] = row
            self.seen_[user] = set()
        return row

    def check_event(self, event: Event) -> tuple[int, int, float, float]:
        """``(user, item, weight, timestamp)`` of a valid event, or ``DataError`` naming the field.

        ``user`` and ``item`` must be integers (not bools or floats), ``item`` a known
        item id, ``kind`` one of ``EVENT_WEIGHTS``, ``timestamp`` finite. Nothing is changed.
        """
        user = as_id(getattr(event, "user", None), "event.user", what="user", error=DataError)
        item = as_id(getattr(event, "item", None), "event.item", self.n_items_, error=DataError)
        if not isinstance(event.kind, str) or event.kind not in EVENT_WEIGHTS:
            raise DataError(f"unknown event kind {event.kind!r}; known: {sorted(EVENT_WEIGHTS)}")
        try:
            ts = float(event.timestamp)
        except (TypeError, ValueError):
            raise DataError(f"event timestamp must be a number of seconds, got {event.timestamp!r}") from None
        if not np.isfinite(ts):
            raise DataError(f"event timestamp must be finite, got {event.timestamp}")
        return user, item, EVENT_WEIGHTS[event.kind], ts

    def update(self, event: Event) -> None:
        """Apply one event to its user's profiles: O(d) arithmetic, no pass over history.

        The event is validated before anything changes, so a bad event leaves no trace
        (no half-created user)."""
        user, item, w, ts = self.check_event(event)
        r = self._row(user)
        x = self._items[item]
        if ts - self.last_time_[r] > self.session_gap:
            self.session_[r] = 0.0  # a new session starts from nothing
        self.long_[r] *= self.a_long_
        self.long_[r] += w * x
        self.session_[r] *= self.a_sess_
        self.session_[r] += w * x
        self.last_time_[r] = ts
        self.n_events_[r] += 1
        self.seen_[user].add(item)

    def raw(self, user: int, which: str = "long") -> np.ndarray:
        """The unnormalised decayed sum of ``which`` ("long" or "session"), ``(d,)`` float64."""
        if user not in self.rows_:
            raise KeyError(f"unknown user {user}: no events seen for this user yet")
        if which not in ("long", "session"):
            raise ValueError(f"which must be 'long' or 'session', got {which!r}")
        return (self.long_ if which == "long" else self.session_)[self.rows_[user]].copy()

    def profile(self, user: int, which: str = "blend", session_weight: float = 0.5) -> np.ndarray:
        """The user's query vector, ``(d,)`` float32, unit norm (zero if the history cancels out).

        ``which``: ``"long"``, ``"session"`` or ``"blend"`` = ``session_weight`` * unit
        session + (1 - ``session_weight``) * unit long-term, renormalised.
        """
        if which not in ("long", "session", "blend"):
            raise ValueError(f"which must be 'long', 'session' or 'blend', got {which!r}")
        if not 0.0 <= session_weight <= 1.0:
            raise ValueError(f"session_weight must be in [0, 1], got {session_weight}")

        def unit(v):
            n = np.linalg.norm(v)
            return v / n if n > 1e-12 else v

        if which == "blend":
            v = session_weight * unit(self.raw(user, "session")) + (1 - session_weight) * unit(self.raw(user, "long"))
        else:
            v = self.raw(user, which)
        return unit(v).astype(np.float32)

    def seen(self, user: int) -> set:
        """Items this user has had an event on (an empty set for an unknown user)."""
        return set(self.seen_.get(int(user), ()))


# ---------------------------------------------------------------------------
# Latency
# ---------------------------------------------------------------------------

class LatencyRecorder:
    """Collects per-event latencies and summarises them as percentiles and throughput."""

    def __init__(self):
        self.seconds_: list[float] = []

    def __len__(self) -> int:
        return len(self.seconds_)

    def add(self, seconds: float) -> None:
        s = float(seconds)
        if not np.isfinite(s) or s < 0:
            raise ValueError(f"latency must be a finite non-negative number of seconds, got {seconds!r}")
        self.seconds_.append(s)

    @contextmanager
    def measure(self):
        """``with rec.measure(): ...`` records the block's wall time."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(time.perf_counter() - t0)

    def summary(self) -> dict:
        """``n``, ``p50_ms``, ``p95_ms``, ``p99_ms``, ``mean_ms``, ``max_ms`` and
        ``throughput_eps`` = events per second of serving time (n / sum of latencies),
        the rate one single-threaded worker sustains."""
        if not self.seconds_:
            raise ValueError("no latencies recorded yet")
        ms = np.asarray(self.seconds_) * 1000.0
        p50, p95, p99 = np.percentile(ms, [50, 95, 99])
        total = ms.sum() / 1000.0
        return {"n": len(ms), "p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99),
                "mean_ms": float(ms.mean()), "max_ms": float(ms.max()),
                "throughput_eps": float(len(ms) / total) if total > 0 else float("inf")}


# ---------------------------------------------------------------------------
# Serving
# ---------------------------------------------------------------------------

# The serving index is the search layer's index: one factory, one protocol, one set of kind names
# (``index.INDEX_KINDS``: "exact", "faiss-flat", "faiss-ivf", "faiss-ivfpq", "hnsw"). The name
# ``serving_index`` is kept for the notebooks that build their serving index with it.
serving_index = build_index


def _check_serving_pair(store: ProfileStore, index) -> None:
    if index.ntotal != store.n_items_:
        raise RuntimeError(f"index holds {index.ntotal} items but the profile store {store.n_items_}: "
                           "they must be changed together (RealtimeRecommender.add_items)")


def serve_event(store: ProfileStore, index, event: Event, k: int = 10, profile: str = "blend",
                session_weight: float = 0.5) -> tuple[np.ndarray, float]:
    """The serving step for one event: update the profile, query the index, drop seen items.

    ``store``: a ``ProfileStore``; ``index``: any ``search.index`` kind over the same items.
    Returns ``(ids, seconds)``: the user's top-``k`` unseen item ids, ``(k,)`` int64 best
    first, and the wall time of the whole step. Everything is checked before the profile
    changes: a bad event raises ``DataError``, a bad ``k`` or fewer than ``k`` unseen items
    left after this event ``IndexInputError``, and in each case the store is left as it was.
    """
    t0 = time.perf_counter()
    k = as_k(k, error=IndexInputError)
    user, item, _, _ = store.check_event(event)  # 0. validate before anything changes
    seen_before = store.seen_.get(user, ())
    n_seen = len(seen_before) + (item not in seen_before)
    if k > index.ntotal - n_seen:
        raise IndexInputError(f"k={k}: user {user} has seen {n_seen} of {index.ntotal} items, "
                              "fewer than k left")
    store.update(event)  # 1. O(d): decay both profiles, add w * x, mark the item seen
    q = store.profile(user, profile, session_weight)  # 2. the query: unit (d,) vector
    seen = store.seen_[user]
    fetch = min(k + len(seen), index.ntotal)  # 3. over-fetch: k survive whatever was seen
    _, ids = index.search(q[None, :], fetch)
    recs = [i for i in ids[0].tolist() if i >= 0 and i not in seen][:k]  # 4. drop seen, keep k
    if len(recs) < k:  # an approximate index came back short: let it widen its search itself
        exclude = [np.fromiter(sorted(seen), np.int64, len(seen))]
        recs = index.search(q[None, :], k, exclude=exclude)[1][0].tolist()
    return np.asarray(recs, dtype=np.int64), time.perf_counter() - t0


class RealtimeRecommender:
    """Serve top-``k`` after every event: update the profile, query the index, drop seen items.

    ``store`` is a ``ProfileStore``; ``index`` follows the search layer's index protocol
    (``build_index`` / ``serving_index``: ``search(queries, k, exclude)``, ``add``,
    ``ntotal``). Seen items are passed to the index as ``exclude``, and every index kind
    returns ``k`` unseen items (approximate kinds over-fetch and widen their search
    themselves). ``profile`` chooses the query vector (``"long"``, ``"session"`` or
    ``"blend"``). Every ``on_event`` is timed into ``latency_`` (a ``LatencyRecorder``).

    ``recommend(users, k=10, exclude_seen=True, candidates=None)`` is the package's one
    recommend signature (``recsys.base``), ``(len(users), k)``; ``recommend_user(user)`` is
    the single-user shortcut, ``(k,)`` with the server's ``k``. Every method that changes
    state (``on_event``, ``add_items``) validates everything first and changes the store and
    the index together or not at all.
    """

    def __init__(self, store: ProfileStore, index, k: int = 10, profile: str = "blend",
                 session_weight: float = 0.5):
        k = as_k(k, error=DataError)
        if index.ntotal != len(store.item_vectors_):
            raise ValueError(f"index holds {index.ntotal} items but the store {len(store.item_vectors_)}")
        if k > index.ntotal:
            raise ValueError(f"k={k} is larger than the catalog ({index.ntotal} items)")
        if profile not in ("long", "session", "blend"):
            raise ValueError(f"profile must be 'long', 'session' or 'blend', got {profile!r}")
        self.store = store
        self.index = index
        self.k = int(k)
        self.profile = profile
        self.session_weight = session_weight
        self.latency_ = LatencyRecorder()

    @property
    def n_items_(self) -> int:
        return self.index.ntotal

    def recommend(self, users, k: int = 10, exclude_seen: bool = True, candidates=None) -> np.ndarray:
        """Top-``k`` item ids per user, best first: ``(len(users), k)`` int64 (the ``recsys.base`` contract).

        ``users``: integer user ids with events so far (repeats allowed; a ``KeyError`` names
        a user without a profile to query with). ``exclude_seen`` leaves out every item the
        user had an event on; ``candidates`` (distinct integer item ids) restricts the lists
        to those items. The query is each user's ``profile`` (the server's setting). ``k`` must
        be an integer >= 1; ``IndexInputError`` when fewer than ``k`` items are left for a user
        (never padded). One index search serves all users.
        """
        return self._recommend(users, k, exclude_seen, candidates, self.profile)

    def _recommend(self, users, k, exclude_seen, candidates, which: str) -> np.ndarray:
        users = as_ids(users, "users", what="user", allow_empty=False, error=IndexInputError)
        if not isinstance(exclude_seen, (bool, np.bool_)):
            raise IndexInputError(f"exclude_seen must be True or False, got {exclude_seen!r}")
        n = self.index.ntotal
        k = as_k(k, n, what="items in the index", error=IndexInputError)
        not_allowed = None
        if candidates is not None:
            cand = as_ids(candidates, "candidates", n, unique=True, allow_empty=False, error=IndexInputError)
            allowed = np.zeros(n, dtype=bool)
            allowed[cand] = True
            not_allowed = np.flatnonzero(~allowed)
        queries, exclude = [], []
        for user in users.tolist():
            queries.append(self.store.profile(user, which, self.session_weight))
            seen = self.store.seen_.get(user, ()) if exclude_seen else ()
            ex = np.fromiter(seen, np.int64, len(seen))
            if not_allowed is not None:
                ex = np.union1d(ex, not_allowed)
            else:
                ex.sort()
            if k > n - len(ex):
                if not_allowed is None:
                    raise IndexInputError(f"k={k}: user {user} has seen {len(ex)} of {n} items, fewer than k left")
                raise IndexInputError(f"k={k}: user {user} has {n - len(ex)} unseen candidate items, fewer than k")
            exclude.append(ex)
        _, ids = self.index.search(np.stack(queries), k, exclude=exclude)
        return ids

    def recommend_user(self, user: int, k: int | None = None, which: str | None = None) -> np.ndarray:
        """Top-``k`` (default the server's ``k``) unseen item ids for one ``user``, best first, ``(k,)`` int64.

        ``recommend([user], k)[0]``, querying with the ``which`` profile (default the server's
        ``profile``): raises ``KeyError`` for a user with no events yet (no profile to query
        with) and ``IndexInputError`` when fewer than ``k`` unseen items are left."""
        user = as_id(user, "user", what="user", error=IndexInputError)
        if which is not None and which not in ("long", "session", "blend"):
            raise ValueError(f"which must be 'long', 'session' or 'blend', got {which!r}")
        return self._recommend([user], self.k if k is None else k, True, None, which or self.profile)[0]

    def on_event(self, event: Event) -> np.ndarray:
        """Apply ``event`` and return the user's new top-``k``; the whole step (``serve_event``) is timed.

        A bad event, or one that would leave fewer than ``k`` unseen items, changes nothing."""
        recs, seconds = serve_event(self.store, self.index, event, self.k, self.profile, self.session_weight)
        self.latency_.add(seconds)
        return recs

    def add_items(self, vectors: np.ndarray) -> np.ndarray:
        """Index new items without a rebuild; returns their ids (servable on the next event).

        A transaction: the vectors are validated once, then the profile store and the index
        grow together or not at all. If the index refuses the rows (for example an index
        that ranks by L2 distance and gets rows that are not unit length), the store is put
        back as it was and the error is raised: store and index never disagree, and later
        events and ``recommend`` calls work as before.
        """
        _check_serving_pair(self.store, self.index)
        v = check_vectors(vectors, self.store.dim_, "vectors")
        n_before = self.index.ntotal
        state = self.store._items_state()
        ids = self.store.add_items(v)
        try:
            self.index.add(v)
        except BaseException:
            self.store._restore_items(state)
            if self.index.ntotal != n_before:  # pragma: no cover - a faiss failure half-way through a batch
                raise RuntimeError(f"the index added {self.index.ntotal - n_before} of {len(v)} rows before "
                                   "failing; it cannot be undone: rebuild the index from store.item_vectors_") from None
            raise
        if self.index.ntotal != n_before + len(v):  # pragma: no cover - an index that lost or invented rows
            self.store._restore_items(state)
            raise RuntimeError(f"the index grew by {self.index.ntotal - n_before} rows for {len(v)} new items")
        return ids


class OnlinePopularity(Recommender):
    """Baseline server and recommender: the items with the most events so far, minus what the user saw.

    It follows the recommender contract (``recsys.base``): ``fit(X, *, item_features=None,
    timestamps=None)`` warm-starts the counts from a users x items log (column sums of
    the weights; each user's items become seen), and ``recommend(users, k=10,
    exclude_seen=True, candidates=None) -> (len(users), k)``. Unlike a batch model it also
    learns online: ``on_event`` counts the event (its ``data.WEIGHT_POLICIES["default"]`` weight)
    and returns the user's new list, ``(self.k,)``, with the ``latency_`` shape of
    ``RealtimeRecommender`` so ``run_replay`` can compare them. Users are any non-negative
    integer ids (an unknown user has seen nothing: the cold-start fallback). Ties are
    broken by item id. With ``random=True`` the scores are fresh uniform draws from a
    generator seeded with ``seed`` (a random-recommendation baseline).

    ``n_items``: the catalog size, for serving without ``fit`` (``fit`` takes it from ``X``).
    """

    def __init__(self, n_items: int | None = None, k: int = 10, random: bool = False, seed: int = 0):
        if n_items is not None and (isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer))
                                    or n_items < 2):
            raise ValueError(f"n_items must be an integer >= 2, got {n_items!r}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 or \
                (n_items is not None and k >= n_items):
            raise ValueError(f"k must be an integer between 1 and n_items - 1 ({n_items}), got {k!r}")
        self.n_items, self.k, self.random, self.seed = n_items, int(k), bool(random), seed
        self.latency_ = LatencyRecorder()
        self.rng_ = np.random.default_rng(seed)
        if n_items is not None:
            self.counts_ = np.zeros(int(n_items))
            self.seen_: dict[int, set] = {}

    def fit(self, X, *, item_features=None, timestamps=None) -> OnlinePopularity:
        """Counts and seen items from ``X`` (users x items, non-negative weights); returns ``self``."""
        import scipy.sparse as sp

        try:
            m = sp.csr_matrix(X, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"X must be a users x items matrix of numbers, got {type(X).__name__}") from None
        if m.shape[1] < 2 or not np.isfinite(m.data).all() or (m.data < 0).any():
            raise DataError(f"X must have >= 2 items and finite non-negative weights, got shape {m.shape}")
        if self.n_items is not None and m.shape[1] != self.n_items:
            raise DataError(f"X has {m.shape[1]} items but n_items={self.n_items}")
        if self.k >= m.shape[1]:
            raise DataError(f"k={self.k} must be below the {m.shape[1]} items of X")
        m.eliminate_zeros()
        self.counts_ = np.asarray(m.sum(axis=0)).ravel()
        self.seen_ = {u: set(m.indices[m.indptr[u] : m.indptr[u + 1]].tolist())
                      for u in range(m.shape[0]) if m.indptr[u + 1] > m.indptr[u]}
        self.rng_ = np.random.default_rng(self.seed)
        return self

    # --- the contract's hooks: any non-negative user id; seen items from the online log ---
    def _check_fitted(self):
        if not hasattr(self, "counts_"):
            raise RuntimeError("OnlinePopularity is not fitted: call fit(X) or give n_items")

    @property
    def n_items_(self) -> int:
        self._check_fitted()
        return len(self.counts_)

    @property
    def n_users_(self) -> int:
        self._check_fitted()
        return max(self.seen_, default=-1) + 1

    def _check_users(self, users) -> np.ndarray:
        self._check_fitted()
        u = np.atleast_1d(np.asarray(users))
        if u.dtype == bool or not np.issubdtype(u.dtype, np.integer) or u.ndim != 1 or u.size == 0:
            raise DataError(f"users must be a non-empty 1-D array of integer ids, got {users!r}")
        if (u < 0).any():
            raise DataError(f"users holds negative id(s) {u[u < 0][:5].tolist()}")
        return u.astype(np.int64)

    def seen(self, users):
        import scipy.sparse as sp

        users = self._check_users(users)
        rows = [sorted(self.seen_.get(int(u), ())) for u in users]
        indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
        indices = np.asarray([i for r in rows for i in r], dtype=np.int64)
        return sp.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(users), self.n_items_))

    def score(self, users) -> np.ndarray:
        """``(len(users), n_items)``: event counts so far (or, with ``random``, uniform draws)."""
        users = self._check_users(users)
        if self.random:
            return self.rng_.random((len(users), self.n_items_))
        return np.broadcast_to(self.counts_, (len(users), self.n_items_))

    def on_event(self, event: Event) -> np.ndarray:
        """Count ``event``, then return its user's top ``self.k`` unseen items, ``(k,)``; timed."""
        t0 = time.perf_counter()
        self._check_fitted()
        user = as_id(event.user, "event.user", what="user", error=DataError)
        item = as_id(event.item, "event.item", len(self.counts_), error=DataError)
        if event.kind not in EVENT_WEIGHTS:
            raise DataError(f"unknown event kind {event.kind!r}; known: {sorted(EVENT_WEIGHTS)}")
        seen = self.seen_.get(user, set())
        n_seen = len(seen) + (item not in seen)
        if self.k > len(self.counts_) - n_seen:  # checked before counting: a refused event leaves no trace
            raise DataError(f"k={self.k}: user {user} would have seen {n_seen} of {len(self.counts_)} items, "
                            "fewer than k left")
        self.counts_[item] += WEIGHT_POLICIES["default"][event.kind]
        self.seen_.setdefault(user, set()).add(item)
        recs = self.recommend([user], k=self.k)[0]
        self.latency_.add(time.perf_counter() - t0)
        return recs


def run_replay(server: RealtimeRecommender, events: pd.DataFrame, truth=None, limit: int | None = None,
               progress: bool = True) -> pd.DataFrame:
    """Feed ``events`` to ``server`` in time order; one row per event with its latency.

    ``next_hit`` says whether the list shown after the event contained the item the
    user touches next (NaN for a user's last event): the usual next-item hit rate. With
    ``truth`` (a function ``(user, recommended ids) -> float``, for example
    ``truth_precision``), ``truth_score`` holds its value for the list.
    """
    from tqdm.auto import tqdm

    stream = list(replay(events, limit=limit))
    rows, last_recs = [], {}
    for ev in tqdm(stream, desc="replay", disable=not progress, leave=False):
        score = np.nan
        if ev.user in last_recs:
            rows[last_recs[ev.user][1]]["next_hit"] = float(ev.item in last_recs[ev.user][0])
        recs = server.on_event(ev)
        if truth is not None:
            score = float(truth(ev.user, recs))
        last_recs[ev.user] = (set(recs.tolist()), len(rows))
        rows.append({"user": ev.user, "item": ev.item, "kind": ev.kind, "timestamp": ev.timestamp,
                     "latency_ms": server.latency_.seconds_[-1] * 1000.0, "truth_score": score, "next_hit": np.nan})
    return pd.DataFrame(rows)


def truth_precision(ground_truth, top_n: int = 50):
    """A scorer for ``run_replay``: the share of a list that lies in the user's true top ``top_n``.

    ``ground_truth`` is the ``data.SimulatedTruth`` of ``data.simulate_users`` (its
    ``utility`` matrix is the users' true taste, which a real log never reveals).
    """
    util = np.asarray(ground_truth.utility)
    if not 1 <= top_n <= util.shape[1]:
        raise ValueError(f"top_n={top_n} must be between 1 and the number of items ({util.shape[1]})")
    cache: dict[int, set] = {}

    def score(user: int, recommended) -> float:
        if not 0 <= user < len(util):
            raise ValueError(f"unknown user {user}: ground truth covers users 0..{len(util) - 1}")
        if user not in cache:
            cache[user] = set(np.argpartition(-util[user], top_n - 1)[:top_n].tolist())
        rec = np.asarray(recommended).tolist()
        return sum(i in cache[user] for i in rec) / max(len(rec), 1)

    return score


# ---------------------------------------------------------------------------
# Synthetic scale
# ---------------------------------------------------------------------------

def augment_embeddings(vectors: np.ndarray, labels: np.ndarray, n_total: int, noise: float = 0.05,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Grow a catalog of real embeddings to ``n_total`` items for load tests.

    Item ``j`` is real item ``j % n`` plus Gaussian noise of standard deviation
    ``noise`` per dimension, renormalised (the first ``n`` are the real items
    unchanged). Labels are inherited. Returns ``(vectors (n_total, d) float32, labels)``.
    """
    v = np.asarray(vectors, dtype=np.float32)
    labels = np.asarray(labels)
    if v.ndim != 2 or len(v) == 0 or len(labels) != len(v):
        raise ValueError(f"vectors must be (n, d) with one label per row; got {v.shape} and {labels.shape}")
    if n_total < len(v):
        raise ValueError(f"n_total={n_total} is smaller than the {len(v)} real items")
    rng = np.random.default_rng(seed)
    src = np.arange(n_total) % len(v)
    out = v[src].copy()
    out[len(v):] += rng.normal(0.0, noise, size=(n_total - len(v), v.shape[1])).astype(np.float32)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out, labels[src]
