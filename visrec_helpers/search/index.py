"""Nearest-neighbour search over L2-normalised vectors (cosine = inner product).

One protocol for every index kind, built by one factory::

    index = build_index(vectors, kind="faiss-ivfpq", nprobe=32)   # (n, d) float32, unit rows
    scores, ids = index.search(queries, k, exclude=None)          # (q, k) float32, (q, k) int64
    index.add(new_vectors); index.ntotal; index.dim

Kinds (``INDEX_KINDS``): ``"exact"`` (NumPy brute force), ``"faiss-flat"`` (faiss brute
force), ``"faiss-ivf"`` (inverted file, full vectors), ``"faiss-ivfpq"`` (inverted file,
product-quantised codes, optional exact re-scoring) and ``"hnsw"`` (graph). Every kind
checks its inputs in the same place (``VectorIndex.search`` / ``VectorIndex.add``) and
raises ``IndexInputError`` naming the argument:

- vectors and queries: a 2-D (or one 1-D vector) numeric array of the index's dimension,
  finite, entries at most ``MAX_ABS`` in magnitude (larger ones overflow float32 inner
  products);
- ``k``: a positive integer, at most ``ntotal`` (the rule for k > n is to refuse, never to
  pad with ``-1``);
- ``exclude``: ``None``, a ``scipy.sparse`` ``(q, ntotal)`` matrix whose non-zeros are
  forbidden, or ``q`` iterables of item ids (one per query). Ids must be integers in
  ``0..ntotal-1`` (``-1`` is refused, not read as "the last item"); boolean masks are
  refused (pass ``np.flatnonzero(mask)``); each query must keep at least ``k`` items.

Every answer holds ``k`` distinct ids in ``0..ntotal-1`` per query, best first, none excluded:
approximate kinds over-fetch, then widen their search (more probes / a larger beam), and as
a last resort score the stored vectors exactly, rather than return ``-1``.
"""

from __future__ import annotations

import numpy as np

from visrec_helpers.core.validation import as_exclude, as_k
from visrec_helpers.data import DataError

# The one set of kind names (realtime serving, benchmarks and notebooks use these).
INDEX_KINDS = ("exact", "faiss-flat", "faiss-ivf", "faiss-ivfpq", "hnsw")

# Which build parameters each kind takes (anything else is refused by name).
KIND_PARAMS = {
    "exact": (),
    "faiss-flat": (),
    "faiss-ivf": ("nlist", "nprobe", "train_size", "seed"),
    "faiss-ivfpq": ("nlist", "nprobe", "m", "nbits", "fast_scan", "refine", "refine_m", "refine_factor", "train_size",
                    "seed"),
    "hnsw": ("M", "ef_construction", "ef_search"),
}

MAX_ABS = 1e15  # |entry| bound: d * MAX_ABS**2 stays far below float32's 3.4e38 for any practical d


class IndexInputError(DataError):
    """Bad input to an index (vectors, queries, ``k``, ``exclude``, a build parameter); a ``ValueError``."""


# ---------------------------------------------------------------------------
# Input validation: one place for every kind
# ---------------------------------------------------------------------------

def check_vectors(vectors, dim: int | None, what: str = "vectors") -> np.ndarray:
    """``vectors`` as a C-contiguous ``(n, d)`` float32 array, or ``IndexInputError`` naming ``what``.

    A 1-D array is one vector. ``dim`` (if given) must match ``d``.
    """
    try:
        v = np.asarray(vectors)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise IndexInputError(f"{what}: not a numeric (n, d) array ({exc})") from None
    if v.dtype == bool or v.dtype.kind not in "iuf":
        raise IndexInputError(f"{what} must be a real-valued numeric array, got dtype {v.dtype}")
    if v.ndim == 1:
        if v.size == 0:
            raise IndexInputError(f"{what} is empty: expected an (n, d) array")
        v = v[None, :]
    if v.ndim != 2:
        raise IndexInputError(f"{what} must be (n, d) (or one (d,) vector), got shape {v.shape}")
    if v.shape[1] == 0:
        raise IndexInputError(f"{what} must have at least one dimension, got shape {v.shape}")
    if dim is not None and v.shape[1] != dim:
        raise IndexInputError(f"dimension mismatch: index has d={dim}, {what} have d={v.shape[1]}")
    v = np.ascontiguousarray(v, dtype=np.float32)
    if v.size and not np.abs(v).max() <= MAX_ABS:  # one pass; NaN fails the comparison too
        finite = np.isfinite(v)
        if not finite.all():
            row = int(np.flatnonzero(~finite.all(axis=1))[0])
            raise IndexInputError(f"{what} contain NaN or infinite values (first in row {row})")
        raise IndexInputError(f"{what} have entries larger than {MAX_ABS:g} in magnitude; "
                              "index L2-normalised vectors")
    return v


def check_k(k, n: int, what: str = "the number of candidates") -> int:
    """``k`` as an int in ``1..n``, or ``IndexInputError`` (k > n is refused, never padded)."""
    return as_k(k, n, what=what, error=IndexInputError)


def check_exclude(exclude, n_queries: int, n_items: int, k: int | None = None) -> list[np.ndarray] | None:
    """Validated exclusions: ``None`` or one sorted int64 array of distinct item ids per query.

    Accepts ``None``, a ``scipy.sparse`` ``(n_queries, n_items)`` matrix (non-zeros are
    excluded) or ``n_queries`` iterables of integer item ids in ``0..n_items-1``. Refuses
    boolean masks, ``-1`` and other out-of-range ids, and (with ``k``) a query that keeps
    fewer than ``k`` items.
    """
    if exclude is None:
        return None
    if hasattr(exclude, "tocsr"):
        m = exclude.tocsr()
        if m.shape != (n_queries, n_items):
            raise IndexInputError(f"exclude: a sparse matrix must be (queries, items) = ({n_queries}, {n_items}), "
                                  f"got {m.shape}")
        m = m.copy()
        m.eliminate_zeros()
        rows = [np.unique(m.indices[m.indptr[r] : m.indptr[r + 1]]).astype(np.int64) for r in range(n_queries)]
    else:
        if isinstance(exclude, np.ndarray) and exclude.dtype == bool:
            raise IndexInputError("exclude: a boolean mask is not accepted; pass item ids per query "
                                  "(np.flatnonzero(mask_row)) or a scipy.sparse (queries, items) matrix")
        if isinstance(exclude, (str, bytes)) or not hasattr(exclude, "__len__"):
            raise IndexInputError(f"exclude must be one iterable of item ids per query, got {type(exclude).__name__}")
        if len(exclude) != n_queries:
            raise IndexInputError(f"exclude has {len(exclude)} rows for {n_queries} queries (one per query)")
        rows = []
        for r, row in enumerate(exclude):
            if isinstance(row, (str, bytes)) or np.ndim(row) == 0 and not isinstance(row, (set, frozenset)):
                raise IndexInputError(f"exclude[{r}] must be an iterable of item ids, got {row!r}")
            rows.append(as_exclude(row, n_items, f"exclude[{r}]", error=IndexInputError))
    if k is not None:
        for r, ids in enumerate(rows):
            if n_items - len(ids) < k:
                raise IndexInputError(f"query {r}: only {n_items - len(ids)} items remain after excluding "
                                      f"{len(ids)}, fewer than k={k}")
    return rows


# ---------------------------------------------------------------------------
# Exact search
# ---------------------------------------------------------------------------

def _unit_rows(v: np.ndarray, tol: float = 1e-3) -> bool:
    """Whether every row of ``v`` has L2 norm 1 (within ``tol``)."""
    return bool(len(v)) and bool(np.all(np.abs(np.einsum("ij,ij->i", v, v) - 1.0) <= 2 * tol))


def _topk(queries: np.ndarray, items: np.ndarray, k: int, exclude, batch_size: int = 1024):
    """Exact top-k of validated inputs (see ``topk_cosine``); ties go to the lower id."""
    scores_out = np.empty((len(queries), k), dtype=np.float32)
    ids_out = np.empty((len(queries), k), dtype=np.int64)
    for s in range(0, len(queries), batch_size):
        sims = queries[s : s + batch_size] @ items.T
        if exclude is not None:
            for r in range(len(sims)):
                sims[r, exclude[s + r]] = -np.inf
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        part_scores = np.take_along_axis(sims, part, axis=1)
        order = np.lexsort((part, -part_scores), axis=-1)
        ids_out[s : s + len(sims)] = np.take_along_axis(part, order, axis=1)
        scores_out[s : s + len(sims)] = np.take_along_axis(part_scores, order, axis=1)
    return scores_out, ids_out


def topk_cosine(queries: np.ndarray, items: np.ndarray, k: int, exclude=None, batch_size: int = 1024):
    """Exact top-``k`` items by inner product for each query, best first.

    queries ``(q, d)`` and items ``(n, d)`` float32, L2-normalised rows. ``exclude`` as in
    the module docstring (for example each user's seen items). Returns ``(scores (q, k)
    float32, ids (q, k) int64)``; equal scores keep the lower id first. Raises
    ``IndexInputError`` when k exceeds what is left after exclusion for any query.
    """
    items = check_vectors(items, None, "items")
    queries = check_vectors(queries, items.shape[1], "queries")
    k = check_k(k, len(items))
    return _topk(queries, items, k, check_exclude(exclude, len(queries), len(items), k), batch_size)


# ---------------------------------------------------------------------------
# The protocol and its kinds
# ---------------------------------------------------------------------------

class VectorIndex:
    """The index protocol: ``add(vectors)``, ``search(queries, k, exclude=None)``, ``ntotal``, ``dim``.

    Subclasses implement ``_add(v)`` and ``_search(q, k, exclude_rows)`` on validated input.
    """

    kind = "abstract"

    def __init__(self, dim: int):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise IndexInputError(f"dim must be a positive integer, got {dim!r}")
        self.dim = int(dim)

    @property
    def ntotal(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def __len__(self) -> int:
        return self.ntotal

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, dim={self.dim}, ntotal={self.ntotal})"

    def add(self, vectors, progress: bool | None = None) -> VectorIndex:
        """Append ``vectors`` (``(m, dim)`` float32, unit rows); they get ids ``ntotal..ntotal+m-1``.

        ``progress``: a progress bar over the add (``None``: only for 200,000 vectors or more).
        """
        v = check_vectors(vectors, self.dim)
        if len(v):
            self._add(v, len(v) >= 200_000 if progress is None else bool(progress))
        return self

    def search(self, queries, k: int, exclude=None):
        """Top-``k`` per query: ``(scores (q, k) float32, ids (q, k) int64)``, best first.

        ``queries`` ``(q, dim)``; ``exclude`` per the module docstring. Ids are distinct, in
        ``0..ntotal-1`` and never excluded; bad input raises ``IndexInputError``.
        """
        n = self.ntotal
        if n == 0:
            raise IndexInputError("the index is empty: add vectors before searching")
        q = check_vectors(queries, self.dim, "queries")
        k = check_k(k, n, "the number of indexed vectors")
        ex = check_exclude(exclude, len(q), n, k)
        if len(q) == 0:
            return np.zeros((0, k), dtype=np.float32), np.zeros((0, k), dtype=np.int64)
        scores, ids = self._search(q, k, ex)
        return np.asarray(scores, dtype=np.float32), np.asarray(ids, dtype=np.int64)

    def bytes_per_vector(self) -> float:
        """Memory the index keeps per vector, in bytes."""
        return 4.0 * self.dim


class ExactIndex(VectorIndex):
    """Brute-force cosine (inner-product) index in NumPy: the reference every other kind is measured against."""

    kind = "exact"

    def __init__(self, dim: int):
        super().__init__(dim)
        self._buf = np.zeros((0, self.dim), dtype=np.float32)
        self._n = 0

    @property
    def ntotal(self) -> int:
        return self._n

    @property
    def vectors_(self) -> np.ndarray:
        """The indexed vectors, ``(ntotal, dim)`` float32 (a view: do not modify)."""
        return self._buf[: self._n]

    def _add(self, v: np.ndarray, progress: bool) -> None:
        if self._n + len(v) > len(self._buf):  # amortised O(m): grow the buffer geometrically
            grown = np.empty((max(2 * len(self._buf), self._n + len(v)), self.dim), dtype=np.float32)
            grown[: self._n] = self._buf[: self._n]
            self._buf = grown
        self._buf[self._n : self._n + len(v)] = v
        self._n += len(v)

    def _search(self, q, k, exclude):
        return _topk(q, self.vectors_, k, exclude)


class FaissIndex(VectorIndex):
    """A faiss index over L2-normalised vectors, scored by inner product (= cosine).

    ``kind``:

    - ``"faiss-flat"``: exact, ``IndexFlatIP``;
    - ``"faiss-ivf"``: ``IndexIVFFlat``, ``nlist`` coarse cells (default ``min(256, n // 39)``)
      of full vectors, ``nprobe`` cells visited per query (default ``min(8, nlist)``): the
      real-time serving default, tuned for latency;
    - ``"faiss-ivfpq"``: ``IndexIVFPQ``, ``nlist`` cells (default ``min(4 sqrt(n), n // 39)``),
      vectors compressed into ``m`` codes of ``nbits`` bits, ``nprobe`` cells visited
      (default ``max(8, nlist // 8)``); ``fast_scan=True`` stores 4-bit codes in faiss's
      SIMD fast-scan layout (``IndexIVFPQFastScan``, needs ``nbits=4``). With ``refine``
      the ``refine_factor * k`` best PQ candidates are re-scored: ``True`` / ``"flat"`` with
      the full vectors (on the benchmark's 100,000 near-duplicate-rich vectors a factor of 10
      reached recall@10 0.90 and 30 reached 0.98, so 30 is the default), ``"pq"`` with a
      second, finer PQ code of ``refine_m`` bytes (a compact index: codes + refine code +
      id, no float32 copy), ``False`` not at all. On unit rows (the protocol's input) it
      quantises and ranks by L2 distance, which orders unit items exactly as the inner product
      does (``|q - x|^2 = |q|^2 + 1 - 2 q.x``), and returns inner products: faiss's
      inner-product IVF-PQ codes residuals poorly (recall@10 0.78 against 0.997 for L2 at the
      same settings, 100,000 unit digit embeddings, d = 64). Rows that are not unit length
      fall back to inner-product quantisation, and adding such rows to an L2-built index is
      refused;
    - ``"hnsw"``: ``IndexHNSWFlat`` with ``M`` links per node, ``ef_construction`` and
      ``ef_search``.

    IVF kinds train their quantisers at the first non-empty ``add`` (on all its vectors, or
    on ``train_size`` of them drawn with ``seed``); ``None`` parameters are chosen from the
    data size then. ``search`` follows ``VectorIndex``: no ``-1`` ids ever come back.
    """

    def __init__(self, dim: int, kind: str = "faiss-flat", nlist: int | None = None, nprobe: int | None = None,
                 m: int | None = None, nbits: int = 8, fast_scan: bool = False, refine: bool | str = True,
                 refine_m: int = 32, refine_factor: int = 30,
                 M: int = 32, ef_construction: int = 80, ef_search: int = 128, train_size: int | None = None,
                 seed: int = 0):
        super().__init__(dim)
        if kind not in INDEX_KINDS[1:]:
            raise IndexInputError(f"unknown faiss index kind {kind!r}; available: {list(INDEX_KINDS[1:])}")
        for name, value, low in (("nlist", nlist, 1), ("nprobe", nprobe, 1), ("m", m, 1), ("nbits", nbits, 1),
                                 ("refine_factor", refine_factor, 1), ("refine_m", refine_m, 1), ("M", M, 2), ("ef_construction", ef_construction, 1),
                                 ("ef_search", ef_search, 1), ("train_size", train_size, 1)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                      or value < low):
                raise IndexInputError(f"{name} must be an integer >= {low}, got {value!r}")
        if nbits > 16:
            raise IndexInputError(f"nbits must be at most 16, got {nbits}")
        self.kind = kind
        self.nlist, self.nprobe, self.m, self.nbits = nlist, nprobe, m, int(nbits)
        if refine not in (True, False, "flat", "pq"):
            raise IndexInputError(f"refine must be True/'flat', 'pq' or False, got {refine!r}")
        if fast_scan and nbits != 4:
            raise IndexInputError(f"fast_scan needs nbits=4 (faiss's fast-scan codes are 4-bit), got nbits={nbits}")
        self.fast_scan = bool(fast_scan)
        self.refine = "flat" if refine is True else refine
        self.refine_m, self.refine_factor = int(refine_m), int(refine_factor)
        self.M, self.ef_construction, self.ef_search = int(M), int(ef_construction), int(ef_search)
        self.train_size, self.seed = train_size, seed
        self.index_ = None
        self.metric_ = "ip"  # "l2" once a faiss-ivfpq index is built on unit rows

    @property
    def ntotal(self) -> int:
        return 0 if self.index_ is None else int(self.index_.ntotal)

    def _train_sample(self, v: np.ndarray) -> np.ndarray:
        if self.train_size is None or self.train_size >= len(v):
            return v
        rng = np.random.default_rng(self.seed)
        return v[np.sort(rng.choice(len(v), self.train_size, replace=False))]

    def _build(self, v: np.ndarray):
        import faiss

        d = self.dim
        if self.kind == "faiss-flat":
            return faiss.IndexFlatIP(d)
        if self.kind == "hnsw":
            idx = faiss.IndexHNSWFlat(d, self.M, faiss.METRIC_INNER_PRODUCT)
            idx.hnsw.efConstruction = self.ef_construction
            idx.hnsw.efSearch = self.ef_search
            return idx
        sample = self._train_sample(v)
        n = len(sample)
        quantizer = faiss.IndexFlatIP(d)
        if self.kind == "faiss-ivf":
            self.nlist = self.nlist or int(max(1, min(256, n // 39)))
            if n < self.nlist:
                raise IndexInputError(f"faiss-ivf needs at least nlist={self.nlist} training vectors, got {n}; "
                                      "add more, lower nlist or use 'faiss-flat'")
            self.nprobe = min(self.nprobe or 8, self.nlist)
            ivf = faiss.IndexIVFFlat(quantizer, d, self.nlist, faiss.METRIC_INNER_PRODUCT)
        else:
            # IVF-PQ needs training data: enough points for every coarse cell and PQ centroid.
            # On unit rows, L2 ranks as the inner product does and PQ codes its residuals far better.
            self.metric_ = "l2" if _unit_rows(v) else "ip"
            metric = faiss.METRIC_L2 if self.metric_ == "l2" else faiss.METRIC_INNER_PRODUCT
            quantizer = faiss.IndexFlatL2(d) if self.metric_ == "l2" else quantizer
            self.nlist = self.nlist or int(max(1, min(4 * np.sqrt(n), n // 39)))
            self.m = self.m or next(mm for mm in (d // 4, d // 2, d) if mm >= 1 and d % mm == 0)
            if d % self.m:
                raise IndexInputError(f"m={self.m} sub-quantisers must divide the dimension d={d}")
            if n < max(self.nlist, 2 ** self.nbits):
                raise IndexInputError(f"faiss-ivfpq needs at least {max(self.nlist, 2 ** self.nbits)} vectors to "
                                      f"train (nlist={self.nlist}, nbits={self.nbits}), got {n}; add more or use "
                                      "'faiss-flat'")
            self.nprobe = min(self.nprobe or int(max(8, self.nlist // 8)), self.nlist)
            if self.fast_scan:
                ivf = faiss.IndexIVFPQFastScan(quantizer, d, self.nlist, self.m, 4, metric)
            else:
                ivf = faiss.IndexIVFPQ(quantizer, d, self.nlist, self.m, self.nbits, metric)
            ivf.pq.cp.min_points_per_centroid = 5  # the size checks above already refuse too little data
        ivf.cp.min_points_per_centroid = 5
        ivf.cp.seed = int(self.seed) % (2**31)
        ivf.train(sample)
        ivf.nprobe = self.nprobe
        self.quantizer_ = quantizer  # faiss does not own it: keep it alive
        self.ivf_ = ivf
        if self.kind == "faiss-ivf" or not self.refine:
            return ivf
        if self.refine == "pq":
            if d % self.refine_m:
                raise IndexInputError(f"refine_m={self.refine_m} must divide the dimension d={d}")
            fine = faiss.IndexPQ(d, self.refine_m, 8, faiss.METRIC_L2 if self.metric_ == "l2" else
                                 faiss.METRIC_INNER_PRODUCT)
            fine.pq.cp.min_points_per_centroid = 5
            fine.train(sample)
            self.refine_index_ = fine  # faiss does not own it: keep it alive
            ref = faiss.IndexRefine(ivf, fine)
        else:
            ref = faiss.IndexRefineFlat(ivf)
        ref.k_factor = float(self.refine_factor)
        return ref

    def _add(self, v: np.ndarray, progress: bool) -> None:
        from tqdm.auto import tqdm

        if self.index_ is None:
            self.index_ = self._build(v)
        elif self.metric_ == "l2" and not _unit_rows(v):
            raise IndexInputError(f"this {self.kind} index was built on unit-length rows and ranks by L2 distance; "
                                  "the rows added now are not unit length: L2-normalise them first")
        step = 50_000
        with tqdm(total=len(v), desc=f"{self.kind}: add", unit="vec", disable=not progress, leave=False) as bar:
            for s in range(0, len(v), step):
                self.index_.add(v[s : s + step])
                bar.update(min(step, len(v) - s))

    def _params(self, fetch: int, widen: bool):
        """faiss search parameters: the built settings, or (``widen``) an exhaustive probe / wide beam."""
        import faiss

        key = (self.nprobe, self.ef_search, self.refine_factor)
        if not widen and getattr(self, "_default_key", None) == key:
            return self._default_params  # built once per setting: creating them costs as much as a small search
        if self.kind == "hnsw":
            p = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, fetch) if widen else self.ef_search)
        elif self.kind in ("faiss-ivf", "faiss-ivfpq"):
            p = faiss.SearchParametersIVF(nprobe=self.nlist if widen else self.nprobe)
            if self.kind == "faiss-ivfpq" and self.refine:
                base, p = p, faiss.IndexRefineSearchParameters(k_factor=float(self.refine_factor), base_index_params=p)
                p._base = base  # keep the Python wrapper of the nested parameters alive
        else:
            return None
        if not widen:
            self._default_params, self._default_key = p, key
        return p

    def _raw_search(self, q, fetch, params):
        """faiss's answer as (inner products, ids): L2 distances to unit items become ``(|q|^2 + 1 - d) / 2``."""
        s, i = self.index_.search(q, fetch, params=params) if params else self.index_.search(q, fetch)
        if self.metric_ == "l2":
            s = (np.einsum("ij,ij->i", q, q)[:, None] + 1.0 - s) / 2.0
        return s, i

    def _search(self, q, k, exclude):
        n = self.ntotal
        extra = max((len(r) for r in exclude), default=0) if exclude is not None else 0
        fetch = min(n, k + extra)
        scores = np.empty((len(q), k), dtype=np.float32)
        ids = np.empty((len(q), k), dtype=np.int64)
        params = self._params(fetch, False)
        s, i = self._raw_search(q, fetch, params)
        if exclude is None and fetch == k and (i >= 0).all():  # the usual case, answered at once
            return s, i
        todo = np.arange(len(q))
        widen = False
        while True:
            if widen:
                params = self._params(fetch, widen)
                s, i = self._raw_search(q[todo], fetch, params)
            ok = i >= 0
            if exclude is not None:
                for r, row in enumerate(todo):
                    ex = exclude[row]
                    if len(ex):  # ex is sorted: a binary search is cheaper than np.isin on short rows
                        pos = np.minimum(np.searchsorted(ex, i[r]), len(ex) - 1)
                        ok[r] &= ex[pos] != i[r]
            first = ok[:, :k].all(axis=1)  # the first k answers are usable
            if first.all() and len(todo) == len(q):
                return s[:, :k], i[:, :k]
            scores[todo[first]], ids[todo[first]] = s[first, :k], i[first, :k]
            short = []
            for r in np.flatnonzero(~first):
                keep = np.flatnonzero(ok[r])[:k]
                if len(keep) == k:
                    scores[todo[r]], ids[todo[r]] = s[r, keep], i[r, keep]
                else:
                    short.append(todo[r])
            todo = np.asarray(short, dtype=np.int64)
            if len(todo) == 0:
                break
            if fetch >= n and widen:
                # The approximate structure cannot reach k items for these queries (an HNSW graph
                # with unreachable nodes): score the stored vectors exactly instead.
                rest = None if exclude is None else [exclude[r] for r in todo]
                scores[todo], ids[todo] = _topk(q[todo], self.index_.reconstruct_n(0, n), k, rest)
                break
            fetch, widen = min(n, 2 * fetch), True
        return scores, ids

    def bytes_per_vector(self) -> float:
        """Memory the index keeps per vector, in bytes (codes, ids, links, full vectors when refining)."""
        if self.kind == "faiss-ivfpq":
            m = self.m or max(1, self.dim // 4)
            code = m * self.nbits / 8 + 8  # PQ code plus the 64-bit id in the inverted list
            return code + {"flat": 4 * self.dim, "pq": self.refine_m, False: 0}[self.refine]
        if self.kind == "faiss-ivf":
            return 4 * self.dim + 8
        if self.kind == "hnsw":
            return 4 * self.dim + 8 * self.M  # vectors plus about 2M int32 links on level 0
        return 4.0 * self.dim


def build_index(vectors: np.ndarray, kind: str = "exact", *, progress: bool | None = None, **params) -> VectorIndex:
    """Build an index of ``kind`` over ``vectors`` (``(n, d)`` float32, L2-normalised rows).

    ``kind``: one of ``INDEX_KINDS``; ``params`` are the kind's build settings
    (``KIND_PARAMS[kind]``, see ``FaissIndex``); a setting the kind does not use is refused.
    ``progress``: a progress bar over the add (``None``: only for 200,000 vectors or more).
    Every index follows the ``VectorIndex`` protocol.
    """
    if not isinstance(kind, str) or kind not in INDEX_KINDS:
        raise IndexInputError(f"unknown index kind {kind!r}; available: {list(INDEX_KINDS)}")
    unknown = sorted(set(params) - set(KIND_PARAMS[kind]))
    if unknown:
        raise TypeError(f"index kind {kind!r} takes no parameter(s) {unknown}; "
                        f"it takes {list(KIND_PARAMS[kind]) or 'none'}")
    v = check_vectors(vectors, None)
    index = ExactIndex(v.shape[1]) if kind == "exact" else FaissIndex(v.shape[1], kind=kind, **params)
    return index.add(v, progress=progress)


def recall_at_k_vs_exact(found_ids: np.ndarray, exact_ids: np.ndarray) -> float:
    """Share of the exact top-k neighbours that an approximate search also returned (mean over queries)."""
    found_ids, exact_ids = np.asarray(found_ids), np.asarray(exact_ids)
    if found_ids.shape[0] != exact_ids.shape[0]:
        raise ValueError(f"{found_ids.shape[0]} result rows but {exact_ids.shape[0]} exact rows")
    k = exact_ids.shape[1]
    hits = [len(set(f[:k].tolist()) & set(e.tolist())) for f, e in zip(found_ids, exact_ids)]
    return float(np.mean(hits) / k)


def augment_vectors(base: np.ndarray, n: int, noise: float = 0.15, seed: int = 0) -> np.ndarray:
    """``n`` vectors like ``base``: random rows of ``base`` plus Gaussian noise, L2-normalised.

    Used to grow a few thousand real embeddings into an index-sized set whose
    neighbourhoods still look like real ones (clusters of classes, not uniform noise).
    ``noise`` is the noise norm relative to a unit vector.
    """
    base = check_vectors(base, None, "base")
    if len(base) == 0 or n < 1:
        raise ValueError(f"need a non-empty base and n >= 1, got {len(base)} rows and n={n}")
    rng = np.random.default_rng(seed)
    base = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-12)
    rows = base[rng.integers(0, len(base), n)]
    eps = rng.standard_normal(rows.shape).astype(np.float32) * (noise / np.sqrt(base.shape[1]))
    out = rows + eps
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


# The compression and dimensionality helpers (q14) live in ``search.compression``; they stay
# importable from here, loaded on first use (compression imports this module).
_COMPRESSION_NAMES = ("pca_basis", "explained_variance_curve", "random_projection", "compression_recall",
                      "relative_contrast", "dims_for_variance", "knn_label_agreement")


def __getattr__(name: str):
    if name in _COMPRESSION_NAMES:
        from visrec_helpers.search import compression

        return getattr(compression, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_COMPRESSION_NAMES))
