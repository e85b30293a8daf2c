"""The on-disk cache: its folder, keys from parameters, one helper every cache file goes through,
and the one cached-model registry.

Everything cached is stored in a format that cannot run code when read: models as
``weights_only`` checkpoints (``cached_model``), arrays as ``.npz`` read with
``allow_pickle=False`` (``cached_arrays``). Keys are hashes of JSON parameters plus a version
number, never of source text: bump ``version`` when a change of code must invalidate old files.

Every cache file of the library (catalogs, MNIST, embeddings, layer features, models) is read
and written by ``cached_file``, which

- takes a file lock (``<file>.lock``), so two processes or threads asking for one file build it
  once: the second waits and reads;
- writes to a unique temporary name in the same folder (``tempfile.mkstemp``) and moves it over
  the file atomically (``os.replace``): a reader never sees half a file, two writers never share
  a temporary name;
- checks what it reads (the caller states the shapes, dtypes and lengths it expects) and rebuilds
  a truncated, empty, corrupt or mismatched file with a ``CacheWarning`` naming the file;
- reads a read-only cache without a lock (files are only ever replaced whole); what it cannot
  write it computes, returns and does not store, with a ``CacheWarning`` saying so.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath

from visrec_helpers.core.checkpoints import load_checkpoint, save_checkpoint, to_plain


class CacheWarning(UserWarning):
    """A cache file was unusable (and is rebuilt) or could not be written; the message names the file."""


class CacheFileError(ValueError):
    """A cache file does not hold what its caller expects; the message says what differs."""


def cache_dir() -> Path:
    """Folder for cached catalogs, weights and embeddings (an absolute path).

    ``$VISREC_CACHE`` when set to a non-blank value (``~`` is expanded; a relative path is taken
    from the current folder), else ``~/.cache/visrec``. An empty or blank ``VISREC_CACHE`` counts
    as unset: it never means "the current folder". Created on first use when possible; a folder
    that cannot be created or written is still returned (reads work, writes warn).
    """
    raw = os.environ.get("VISREC_CACHE", "")
    path = Path(raw).expanduser() if raw.strip() else Path.home() / ".cache" / "visrec"
    path = Path(os.path.abspath(path))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # read-only: cached_file reads what is there and warns that it cannot write
    return path


def _canonical(value, where: str):
    """``value`` as plain JSON, refusing what would make two different values one key."""
    import numpy as np

    if isinstance(value, np.generic):
        item = value.item()
        if not isinstance(item, (bool, int, float, str)):
            raise TypeError(f"cache key part {where} = {value!r:.60} ({type(value).__name__}) is not a plain JSON value")
        value = item
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cache key part {where} is {value!r}: NaN and infinity cannot be a cache key "
                             "(NaN never equals itself, so every call would rebuild); pass a finite number")
        return float(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"cache key part {where} has the key {k!r} ({type(k).__name__}); keys must be "
                                f"strings, because JSON would make {{{k!r}: ...}} and {{{str(k)!r}: ...}} one key")
            out[k] = _canonical(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"cache key part {where} = {value!r:.60} ({type(value).__name__}) is not a plain JSON value")


def key_json(*parts) -> str:
    """The canonical JSON text that ``cache_key`` hashes (sorted keys, no NaN, string dict keys)."""
    canonical = [_canonical(p, f"#{i}") for i, p in enumerate(parts)]
    return json.dumps(canonical, sort_keys=True, allow_nan=False)


def cache_key(*parts) -> str:
    """A short stable hash (16 hex digits) of JSON-serialisable parts, used in cache file names.

    Parts must be numbers, strings, booleans, ``None``, paths, or lists/dicts of them (NumPy
    scalars count as numbers, tuples as lists). Anything else raises ``TypeError`` rather than
    hashing a ``repr`` that may change between runs; so does a dict key that is not a string
    (``{1: 'x'}`` and ``{'1': 'x'}`` would be one JSON object). NaN or infinity raises
    ``ValueError`` (it never equals itself, so a cache keyed by it would rebuild on every call).
    """
    return hashlib.sha1(key_json(*parts).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------
# One helper for every cache file
# ---------------------------------------------------------------------------

def _writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if len(text) <= 240 else text[:237] + "..."  # torch's unpickling errors run to pages
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _store(path: Path, value, write: Callable) -> None:
    """Write ``value`` under a unique temporary name next to ``path``, then replace ``path`` atomically."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(value, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def cached_file(path, build: Callable, *, read: Callable, write: Callable, lock_timeout: float = -1):
    """``read(path)`` when ``path`` holds a good cache file, else ``build()``, stored with ``write``.

    - ``build()`` computes the value;
    - ``write(value, tmp)`` writes it to ``tmp``, a unique temporary path in the same folder with
      the same suffix (the helper then moves it over ``path`` with ``os.replace``);
    - ``read(path)`` loads it and checks it, raising any exception when the file is not what the
      caller expects (wrong shape, dtype, length or key): such a file, like a truncated, empty or
      corrupt one, is removed and rebuilt with a ``CacheWarning`` naming it.

    Look-up and build run under a file lock (``<path>.lock``; ``lock_timeout`` seconds, -1 = as
    long as it takes), so concurrent first calls build once. In a read-only folder the file is
    read without a lock; a value that cannot be stored is returned anyway, with a
    ``CacheWarning`` naming the file. Exceptions of ``build`` and ``write`` (other than
    ``OSError`` from writing) propagate.
    """
    from filelock import FileLock, Timeout

    path = Path(path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    lock = None
    if _writable(folder):
        lock = FileLock(str(path) + ".lock", timeout=lock_timeout)
        try:
            lock.acquire()
        except Timeout:
            raise
        except OSError as exc:  # the lock file cannot be created: go on as in a read-only folder
            warnings.warn(f"{path}: cannot take the cache lock ({_reason(exc)}); reading without it",
                          CacheWarning, stacklevel=2)
            lock = None
    try:
        if path.exists():
            try:
                return read(path)
            except Exception as exc:  # anything a broken file raises: zip, pickle, shape, key errors
                reason = _reason(exc).replace(f"{path}: ", "")  # the path is said once
                warnings.warn(f"{path}: unusable cache file ({reason}); rebuilding it", CacheWarning, stacklevel=2)
                if lock is not None:
                    try:
                        path.unlink(missing_ok=True)
                    except OSError:
                        pass
        value = build()
        if lock is None and not _writable(folder):
            warnings.warn(f"{path}: the cache folder {folder} is not writable; the result is computed but not "
                          "stored (set VISREC_CACHE to a writable folder to keep it)", CacheWarning, stacklevel=2)
            return value
        try:
            _store(path, value, write)
        except OSError as exc:  # a full disk or a folder that turned read-only: the value is still good
            warnings.warn(f"{path}: could not write the cache file ({_reason(exc)}); the result is returned "
                          "but not stored", CacheWarning, stacklevel=2)
        return value
    finally:
        if lock is not None:
            lock.release()


# ---------------------------------------------------------------------------
# Arrays: .npz files read without pickle and checked against what the caller expects
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ArraySpec:
    """What one array of a cache file must be.

    ``dtype``: a NumPy dtype name (``"uint8"``, ``"float32"``), ``"str"`` for a unicode array, or
    ``None`` for any. ``shape``: a tuple of ints (exact), ``None`` (any length) or names
    (``"n"``: every axis with that name, in every array of the file, has one length), or ``None``
    for any shape. ``finite``: float values must be finite.
    """

    dtype: str | None = None
    shape: tuple | None = None
    finite: bool = False


def _as_spec(spec) -> ArraySpec:
    if isinstance(spec, ArraySpec):
        return spec
    return ArraySpec(*spec)


def check_arrays(arrays: Mapping, expect: Mapping, where: str = "cache file") -> dict:
    """Check ``arrays`` (name -> array) against ``expect`` (name -> ``ArraySpec`` or a
    ``(dtype, shape[, finite])`` tuple); returns the named lengths (``{"n": 5000}``).

    Raises ``CacheFileError`` naming ``where`` and the array for a missing array, another dtype,
    another number of axes or length, or a non-finite value where ``finite`` is asked.
    """
    import numpy as np

    sizes: dict = {}
    for name, raw in expect.items():
        spec = _as_spec(raw)
        if name not in arrays:
            raise CacheFileError(f"{where}: no array {name!r} (has {sorted(arrays)})")
        a = arrays[name]
        if not isinstance(a, np.ndarray):
            raise CacheFileError(f"{where}: {name!r} is a {type(a).__name__}, not an array")
        if spec.dtype == "str":
            if a.dtype.kind != "U":
                raise CacheFileError(f"{where}: array {name!r} has dtype {a.dtype}, expected a unicode string")
        elif spec.dtype is not None and a.dtype != np.dtype(spec.dtype):
            raise CacheFileError(f"{where}: array {name!r} has dtype {a.dtype}, expected {np.dtype(spec.dtype)}")
        if spec.shape is not None:
            if a.ndim != len(spec.shape):
                raise CacheFileError(f"{where}: array {name!r} has shape {a.shape}, expected {len(spec.shape)} axes "
                                     f"{tuple(spec.shape)}")
            for axis, (got, want) in enumerate(zip(a.shape, spec.shape)):
                if isinstance(want, str):
                    if sizes.setdefault(want, got) != got:
                        raise CacheFileError(f"{where}: array {name!r} has {got} along axis {axis} ({want!r}), "
                                             f"but another array has {sizes[want]}")
                elif want is not None and got != want:
                    raise CacheFileError(f"{where}: array {name!r} has shape {a.shape}, expected {tuple(spec.shape)}")
        if spec.finite and a.dtype.kind in "fc" and not np.isfinite(a).all():
            raise CacheFileError(f"{where}: array {name!r} holds NaN or infinite values")
    return sizes


def read_npz(path, expect: Mapping | None = None) -> dict:
    """All arrays of the ``.npz`` at ``path``, read with ``allow_pickle=False``, checked with
    ``check_arrays`` when ``expect`` is given. Raises ``CacheFileError`` naming the file for
    anything that is not such an ``.npz`` (empty, truncated, not a zip, pickled objects)."""
    import numpy as np

    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head[:2] != b"PK":  # np.load would read anything else as a pickle and say so
        size = path.stat().st_size
        raise CacheFileError(f"{path}: not an .npz archive ({'empty' if size == 0 else f'{size} bytes'})")
    try:
        with np.load(path, allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise CacheFileError(f"{path}: a single array, not an .npz archive")
            arrays = {k: z[k] for k in z.files}
    except CacheFileError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, EOFError, ValueError (pickled data), OSError, ...
        raise CacheFileError(f"{path}: not a readable .npz ({_reason(exc)})") from None
    if expect is not None:
        check_arrays(arrays, expect, str(path))
    return arrays


def write_npz(arrays: Mapping, path) -> None:
    """Write ``arrays`` (name -> array) as an uncompressed ``.npz`` at ``path`` (no object arrays)."""
    import numpy as np

    for name, a in arrays.items():
        if np.asarray(a).dtype == object:
            raise TypeError(f"array {name!r} has dtype object, which a cache file cannot store without pickle")
    with open(path, "wb") as fh:  # a file object: np.savez would append ".npz" to other names
        np.savez(fh, **arrays)


def cached_arrays(path, build: Callable, expect: Mapping, *, decode: Callable | None = None,
                  lock_timeout: float = -1):
    """``decode(arrays)`` of the ``.npz`` cache file at ``path``, built by ``build()`` when missing or broken.

    ``build()`` returns a dict of arrays; ``expect`` states each array's dtype and shape
    (see ``check_arrays``), checked on every read and on the fresh build; ``decode`` (default:
    the dict itself) turns the arrays into the value returned, and may raise on contents that do
    not fit (a JSON table of another length): then the file is rebuilt, like a corrupt one.
    A warm read and a cold build go through the same ``decode``, so they return the same types.
    Locking, atomic writing, read-only folders and warnings: see ``cached_file``.
    """
    decode = decode or (lambda arrays: arrays)

    def fresh() -> _Entry:
        arrays = dict(build())
        check_arrays(arrays, expect, f"the arrays built for {Path(path).name}")
        return _Entry(arrays, decode(arrays))  # decoded before it is stored: a bad build is never written

    entry = cached_file(path, fresh, read=lambda p: _Entry(None, decode(read_npz(p, expect))),
                        write=lambda e, tmp: write_npz(e.arrays, tmp), lock_timeout=lock_timeout)
    return entry.value


@dataclass
class _Entry:
    """A cache file's arrays (``None`` once read back) and the value decoded from them."""

    arrays: dict | None
    value: object


# ---------------------------------------------------------------------------
# The cached-model registry
# ---------------------------------------------------------------------------

def models_dir() -> Path:
    """The one folder of ``cached_model`` checkpoints: ``cache_dir() / "models"``."""
    path = cache_dir() / "models"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    return path


def _check_name(name) -> str:
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"name={name!r} must be a non-empty string of letters, digits, '-' and '_'")
    return name


def _check_version(version) -> int:
    if isinstance(version, bool) or not isinstance(version, numbers.Integral):
        raise TypeError(f"version must be an int, got {version!r}")
    return int(version)


def cached_model_path(name: str, params: dict, version: int = 1) -> Path:
    """Where ``cached_model(name, params, ..., version=version)`` keeps its checkpoint."""
    _check_name(name)
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of plain values, got {type(params).__name__}")
    version = _check_version(version)
    return models_dir() / f"{name}-v{version}-{cache_key(name, version, params)}.pt"


def cached_model(name: str, params: dict, build: Callable, train: Callable | None = None, *, version: int = 1,
                 cache: bool = True, lock_timeout: float = -1):
    """Build a model and train it, or load the weights a previous call with the same key saved.

    ``name``: a short id (``"t01_cnn"``); ``params``: every plain value (JSON) the weights depend
    on (string keys, finite numbers: see ``cache_key``); ``version``: bump it when code that shapes
    the weights changes. The key is a hash of ``(name, version, params)``. ``build()`` returns a
    fresh ``nn.Module`` (with its weights initialised from a seed, see ``core.rng.init_weights_``);
    ``train(model)`` trains it in place and returns a dict of plain values to keep with the weights
    (for example the history), or ``None``. Without ``train`` the built model is stored as is.

    With ``cache=True`` the checkpoint lives in ``models_dir()`` and goes through ``cached_file``:
    the look-up-or-train runs under a file lock, so two processes asking for the same model train
    it once (the second waits and loads); the file is written atomically and read with
    ``weights_only=True``; a broken file, or one holding another key, is rebuilt with a
    ``CacheWarning`` naming it. ``lock_timeout``: seconds to wait for another process (-1 = as long
    as it takes).

    Returns ``(model, extra)``: the model in eval mode on the CPU and the dict ``train`` returned,
    converted by ``checkpoints.to_plain`` (NumPy arrays become tensors, NumPy scalars numbers), so a
    cold build and a warm load return the same types.
    """
    path = cached_model_path(name, params, version)
    key = {"name": name, "version": int(version), "params": json.loads(key_json(params))[0]}

    def make():
        model = build()
        extra = (train(model) if train is not None else None) or {}
        if not isinstance(extra, dict):
            raise TypeError(f"train must return a dict or None, got {type(extra).__name__}")
        return model.cpu().eval(), to_plain(extra, "extra")

    if not cache:
        return make()

    def read(p):
        model = build()
        stored = load_checkpoint(model, p)  # CheckpointError names the file
        if stored.get("key") != key:
            raise CacheFileError(f"{p}: holds the weights of another key ({stored.get('key')!r:.120})")
        return model.cpu().eval(), stored.get("extra", {})

    def write(value, tmp):
        save_checkpoint(value[0], tmp, {"key": key, "extra": value[1]})

    return cached_file(path, make, read=read, write=write, lock_timeout=lock_timeout)
