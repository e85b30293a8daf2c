"""The one validation path for ids, boolean masks, ``k``, ``exclude`` and name lists.

Every helper that takes item or user ids, a mask, a list length ``k``, items to leave out or
a list of layer names checks them here, so the same mistake gets the same answer everywhere
(catalog helpers, the simulator's truth, replay and serving, MMR, feature maps, the index's
``exclude``, the recommender contract). The rules:

- **ids** (``as_ids``, ``as_id``) are integers: a Python int or a NumPy integer, or an array
  of them. A bool, a boolean array (a mask is not a list of ids), a float (``1.0`` and
  ``1.7`` alike: an integral float is refused too, so nothing is ever truncated), NaN, a
  string or a nested list is refused. With ``n``, every id lies in ``0..n-1``: ``-1`` is an
  unknown id, never "the last item".
- **masks** (``as_mask``) are boolean arrays of exactly ``n`` entries; integer 0/1 arrays are
  refused (they read like ids).
- **k** (``as_k``) is an integer >= 1 (``k=-1`` is an error, never "all but one"), at most
  ``n`` when ``n`` is given; ``as_int`` checks other integer arguments the same way
  (scikit-learn's ``check_scalar`` does the range test).
- **exclude** (``as_exclude``) is ids (possibly empty, repeats allowed) returned sorted and
  distinct.
- **names** (``as_names``) are a list of distinct strings, each known when ``known`` is given;
  a repeated name is refused (it would return every activation twice).

Errors are ``error`` (default ``core.errors.InputError``, a ``ValueError``); each layer passes
its own class (``DataError``, ``IndexInputError``, ``RecsysError``). Every message names the
argument and shows the offending values.
"""

from __future__ import annotations

import numbers

import numpy as np

from visrec_helpers.core.errors import InputError


def _show(values, limit: int = 5) -> str:
    values = np.asarray(values).ravel()
    head = values[:limit].tolist()
    return f"{head}{' ...' if len(values) > limit else ''}"


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def as_int(value, name: str, *, min_val: int | None = None, max_val: int | None = None,
           error: type[Exception] = InputError) -> int:
    """``value`` as a Python int within ``[min_val, max_val]`` (either bound optional).

    Bools, floats (also integral ones such as ``3.0``) and NaN are refused, with ``error``
    naming ``name`` and the value. The range test is scikit-learn's ``check_scalar``.
    """
    from sklearn.utils.validation import check_scalar

    if not _is_int(value):
        raise error(f"{name} must be an integer, got {value!r}")
    try:
        check_scalar(int(value), name, numbers.Integral, min_val=min_val, max_val=max_val)
    except (TypeError, ValueError) as exc:
        raise error(f"{name} must be an integer{_bounds(min_val, max_val)}, got {value!r} ({exc})") from None
    return int(value)


def _bounds(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f" in {lo}..{hi}"
    if lo is not None:
        return f" >= {lo}"
    return f" <= {hi}" if hi is not None else ""


def as_k(k, n: int | None = None, name: str = "k", what: str = "items",
         error: type[Exception] = InputError) -> int:
    """``k`` as a Python int >= 1 and, with ``n``, at most ``n`` (``what`` says what ``n`` counts).

    ``k=-1``, ``0``, ``True``, ``2.0`` and NaN are refused: no helper returns "all but one"
    or truncates a float. A ``k`` above ``n`` is refused here; helpers that document "return
    all ``n``" cap it themselves before calling.
    """
    if not _is_int(k) or k < 1:
        raise error(f"{name} must be a positive integer, got {k!r}")
    if n is not None and k > n:
        raise error(f"{name}={k} is larger than the {n} {what}")
    return int(k)


def as_id(value, name: str, n: int | None = None, what: str = "item",
          error: type[Exception] = InputError) -> int:
    """One id as a Python int in ``0..n-1`` (``n`` optional: then only ``>= 0``)."""
    if not _is_int(value):
        raise error(f"{name} must be an integer {what} id, got {value!r}")
    if value < 0 or (n is not None and value >= n):
        known = f"{what} ids run 0..{n - 1}" if n is not None else "ids are >= 0"
        raise error(f"{name} is an unknown {what} id {value!r}: {known}")
    return int(value)


def as_ids(ids, name: str, n: int | None = None, *, unique: bool = False, allow_empty: bool = True,
           mask: bool = False, what: str = "item", error: type[Exception] = InputError) -> np.ndarray:
    """Ids as a ``(m,)`` int64 array in the given order, each in ``0..n-1`` (``n`` optional).

    Accepts a list, tuple, range, set (read in sorted order), NumPy array, pandas Series or a
    single integer (one id). Refuses, with ``error`` naming ``name`` and the values: a
    boolean array (unless ``mask``: then a boolean array of exactly ``n`` entries is the
    mask, returned as ``np.flatnonzero(mask)``), any non-integer dtype (floats, integral or
    not, NaN, strings), more than one dimension, ids below 0 or >= ``n``, repeats when
    ``unique``, and an empty input unless ``allow_empty``.
    """
    if isinstance(ids, (set, frozenset)):
        ids = sorted(ids)
    if hasattr(ids, "to_numpy"):  # pandas
        ids = ids.to_numpy()
    try:
        a = np.asarray(ids)
    except (TypeError, ValueError):  # ragged nested lists
        raise error(f"{name} must be a flat list of integer {what} ids, got {ids!r:.80}") from None
    if a.dtype == bool:
        if mask and n is not None:
            return np.flatnonzero(as_mask(a, name, n, error=error)).astype(np.int64)
        raise error(f"{name} is a boolean array of length {a.size}: pass ids, not a mask "
                    "(for a boolean mask, np.flatnonzero(mask))")
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1:
        raise error(f"{name} must be a 1-D array of {what} ids, got shape {a.shape}")
    if a.size == 0:
        if allow_empty:
            return np.zeros(0, dtype=np.int64)
        raise error(f"{name} is empty: at least one {what} id is needed")
    if a.dtype == object and all(_is_int(v) for v in a.tolist()):
        big = [v for v in a.tolist() if v < 0 or (n is not None and v >= n) or v >= 2**63]
        if big:  # Python ints too large for int64 land here
            raise error(f"{name} holds unknown {what} id(s) {big[:5]}: {_known(n, what)}")
        a = a.astype(np.int64)
    if not np.issubdtype(a.dtype, np.integer):
        raise error(f"{name} must be integers, got dtype {a.dtype} (values {_show(a)}); "
                    f"{what} ids are never rounded or truncated")
    bad = a[(a < 0) | (a >= n)] if n is not None else a[a < 0]
    if len(bad):
        raise error(f"{name} holds unknown {what} id(s) {_show(bad)}: {_known(n, what)}")
    if a.dtype == np.uint64 and len(a) and a.max() >= 2**63:
        raise error(f"{name} holds unknown {what} id(s) {_show(a[a >= 2**63])}: {_known(n, what)}")
    a = a.astype(np.int64)
    if unique:
        values, counts = np.unique(a, return_counts=True)
        if (counts > 1).any():
            raise error(f"{name} repeats id(s) {_show(values[counts > 1])}")
    return a


def _known(n, what) -> str:
    return f"{what} ids run 0..{n - 1}" if n is not None else f"{what} ids are >= 0"


def as_mask(mask, name: str, n: int, error: type[Exception] = InputError) -> np.ndarray:
    """A boolean ``(n,)`` mask, as a bool array; anything else (0/1 integers, floats, another
    length, more dimensions) is refused with ``error`` naming ``name``."""
    if hasattr(mask, "to_numpy"):
        mask = mask.to_numpy()
    m = np.asarray(mask)
    if m.dtype != bool:
        raise error(f"{name} must be a boolean mask of {n} entries, got dtype {m.dtype} "
                    "(for ids, pass them as ids; for 0/1 values, compare: values == 1)")
    if m.shape != (n,):
        raise error(f"{name} must be a boolean mask of shape ({n},), got shape {m.shape}")
    return m


def as_exclude(exclude, n: int | None = None, name: str = "exclude", what: str = "item",
               error: type[Exception] = InputError) -> np.ndarray:
    """Ids to leave out: ``None`` or any ``as_ids`` input (repeats allowed), as sorted distinct int64.

    A negative or too-large id is refused (it would silently leave out another item)."""
    if exclude is None:
        return np.zeros(0, dtype=np.int64)
    ids = as_ids(exclude, name, n, what=what, error=error)
    return ids if len(ids) < 2 or bool((ids[1:] > ids[:-1]).all()) else np.unique(ids)


def as_names(names, name: str, known=None, error: type[Exception] = InputError) -> list[str]:
    """A non-empty list of distinct strings (each in ``known`` when given), in the given order.

    A bare string is refused (``"abc"`` is not the list ``["a", "b", "c"]``), and so is a
    repeated name: a layer named twice would otherwise come back twice.
    """
    if isinstance(names, (str, bytes)):
        raise error(f"{name} must be a list of names, got the string {names!r} (write [{names!r}])")
    try:
        given = list(names)
    except TypeError:
        raise error(f"{name} must be a list of names, got {type(names).__name__}") from None
    if not given:
        raise error(f"{name} is empty: name at least one")
    odd = [v for v in given if not isinstance(v, str)]
    if odd:
        raise error(f"{name} must hold strings, got {odd[:5]!r}")
    seen, repeated = set(), []
    for v in given:
        if v in seen and v not in repeated:
            repeated.append(v)
        seen.add(v)
    if repeated:
        raise error(f"{name} repeats {repeated!r}: each name may appear once")
    if known is not None:
        known = list(known)
        unknown = [v for v in given if v not in set(known)]
        if unknown:
            raise error(f"{name}: unknown {unknown!r}; choose from {known[:40]!r}")
    return given
