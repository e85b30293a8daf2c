"""core: device choice, local randomness, safe checkpoints, the cache and its model registry."""

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from visrec_helpers.core import arrays, cache, checkpoints, rng
from visrec_helpers.core.device import get_device
from visrec_helpers.core.errors import CheckpointError, DeviceError


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VISREC_CACHE", str(tmp_path))
    return tmp_path


def _net(seed=0):
    return rng.init_weights_(nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2)), seed)


def _same_weights(a, b):
    return all(torch.equal(u, v) for u, v in zip(a.state_dict().values(), b.state_dict().values()))


# -- device ------------------------------------------------------------------------

def test_get_device_resolves_auto_and_passes_cpu():
    assert get_device("cpu") == torch.device("cpu")
    assert get_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", 3])
def test_get_device_names_an_unknown_device(bad):
    with pytest.raises(DeviceError, match="device="):
        get_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_get_device_refuses_cuda_without_a_gpu_and_stays_a_runtime_error():
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        get_device("cuda")


# -- randomness --------------------------------------------------------------------

def test_init_weights_is_reproducible_and_seed_dependent():
    assert _same_weights(_net(1), _net(1))
    assert not _same_weights(_net(1), _net(2))


def test_init_weights_leaves_the_global_generator_alone():
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))  # building draws from the global generator
    before = torch.get_rng_state()
    rng.init_weights_(net, 5)
    rng.torch_generator(5)
    rng.np_rng(5).random()
    assert torch.equal(before, torch.get_rng_state())


def test_init_weights_follows_torch_default_bounds():
    lin = rng.init_weights_(nn.Linear(100, 50), 0)
    assert lin.weight.abs().max() <= 0.1 and lin.weight.abs().max() > 0.09  # +-1/sqrt(fan_in)
    assert lin.bias.abs().max() <= 0.1


def test_seeded_draws_from_the_seed_and_restores_the_global_state():
    before = torch.get_rng_state()
    with rng.seeded(3):
        a = torch.rand(4)
    with rng.seeded(3):
        b = torch.rand(4)
    assert torch.equal(a, b) and torch.equal(before, torch.get_rng_state())
    g = torch.Generator().manual_seed(9)
    with rng.seeded(g):
        c = torch.rand(4)
    with rng.seeded(g):  # the generator was advanced: the stream goes on
        d = torch.rand(4)
    ref = torch.Generator().manual_seed(9)
    assert torch.equal(c, torch.rand(4, generator=ref)) and torch.equal(d, torch.rand(4, generator=ref))
    with pytest.raises(ValueError, match="seed"):
        with rng.seeded(-1):
            pass


def test_init_weights_uses_reset_parameters_for_other_layers_from_the_seed():
    a, b = rng.init_weights_(nn.GRU(3, 4), 1), rng.init_weights_(nn.GRU(3, 4), 1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.weight_hh_l0, rng.init_weights_(nn.GRU(3, 4), 2).weight_hh_l0)


def test_init_weights_refuses_a_layer_it_cannot_initialise():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.s = nn.Parameter(torch.ones(1))

    with pytest.raises(TypeError, match="Scale"):
        rng.init_weights_(nn.Sequential(nn.Linear(2, 2), Scale()), 0)


def test_local_generators_pass_through_and_check_the_seed():
    g = torch.Generator()
    assert rng.torch_generator(g) is g
    r = np.random.default_rng(0)
    assert rng.np_rng(r) is r
    assert rng.np_rng(3).integers(1000) == np.random.default_rng(3).integers(1000)
    for bad in (-1, 1.5, "0", True):
        with pytest.raises(ValueError, match="seed"):
            rng.torch_generator(bad)


def test_set_seed_seeds_the_globals_for_notebooks():
    rng.set_seed(11)
    a = torch.rand(2), np.random.rand()
    rng.set_seed(11)
    assert torch.equal(a[0], torch.rand(2)) and a[1] == np.random.rand()


# -- arrays ------------------------------------------------------------------------

def test_to_uint8_golden_values():
    np.testing.assert_array_equal(arrays.to_uint8(np.array([0.0, 0.5, 1.0, 0.25])), [0, 128, 255, 64])
    np.testing.assert_array_equal(arrays.to_uint8(np.array([True, False])), [255, 0])
    img = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.testing.assert_array_equal(arrays.to_uint8(img), img)
    np.testing.assert_array_equal(arrays.to_uint8(torch.tensor([[1.0, 0.0]], requires_grad=True)), [[255, 0]])


@pytest.mark.parametrize("bad, err, msg", [
    (np.array([0.0, 1.5]), ValueError, r"\[0, 1\]"),
    (np.array([np.nan]), ValueError, "NaN"),
    (np.array([3], dtype=np.int64), TypeError, "dtype"),
])
def test_to_uint8_refuses_what_it_cannot_read(bad, err, msg):
    with pytest.raises(err, match=msg):
        arrays.to_uint8(bad, name="photo")


# -- checkpoints -------------------------------------------------------------------

def test_checkpoint_extra_with_numpy_scalars_and_paths_loads_as_plain_values(tmp_path):
    extra = {"acc": np.float32(0.5), "n": np.int64(3), "ok": np.bool_(True), "dir": Path("/tmp/x"),
             "curve": np.arange(3.0), "nested": [{"k": (np.int32(1), None)}]}
    path = checkpoints.save_checkpoint(_net(), tmp_path / "m.pt", extra)
    got = checkpoints.load_checkpoint(_net(1), path)
    assert got["acc"] == 0.5 and type(got["acc"]) is float
    assert got["n"] == 3 and type(got["n"]) is int and got["ok"] is True and got["dir"] == "/tmp/x"
    assert torch.equal(got["curve"], torch.arange(3.0, dtype=torch.float64))
    assert got["nested"] == [{"k": (1, None)}]


def test_checkpoint_refuses_unstorable_extra_and_keeps_the_good_file(tmp_path):
    path = checkpoints.save_checkpoint(_net(0), tmp_path / "m.pt", {"epoch": 1})
    good = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"extra\['when'\] holds a object"):
        checkpoints.save_checkpoint(_net(1), path, {"when": object()})
    assert path.read_bytes() == good
    assert checkpoints.load_checkpoint(_net(2), path) == {"epoch": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # no temporary file left


def test_checkpoint_that_fails_to_load_back_never_replaces_the_old_one(tmp_path, monkeypatch):
    path = checkpoints.save_checkpoint(_net(0), tmp_path / "m.pt")
    good = path.read_bytes()
    real_load = torch.load

    def refuse(f, *a, **k):
        if ".tmp" in str(f):
            raise pickle.UnpicklingError("Weights only load failed")
        return real_load(f, *a, **k)

    monkeypatch.setattr(torch, "load", refuse)
    with pytest.raises(CheckpointError, match="existing file was kept"):
        checkpoints.save_checkpoint(_net(1), path)
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_wrong_device_when_loading_blames_the_device_not_the_checkpoint(tmp_path):
    path = checkpoints.save_checkpoint(_net(), tmp_path / "m.pt")
    with pytest.raises(DeviceError, match="device='gpu'") as err:
        checkpoints.load_checkpoint(_net(), path, device="gpu")
    assert "checkpoint" not in str(err.value)


# -- cache keys and the model registry --------------------------------------------

def test_cache_key_is_stable_and_reads_numpy_scalars_as_numbers():
    assert cache.cache_key("a", 1) == "f36d984992eeef18"  # golden: file names must not drift
    assert cache.cache_key({"seed": np.int64(3)}) == cache.cache_key({"seed": 3})
    assert cache.cache_key({"b": 1, "a": 2}) == cache.cache_key({"a": 2, "b": 1})


def test_cache_key_refuses_values_without_a_stable_json_form():
    with pytest.raises(TypeError, match="not a plain JSON value"):
        cache.cache_key(object())


def _counting(calls):
    def train(model):
        calls.append(1)
        with torch.no_grad():
            model[0].weight.add_(1.0)
        return {"history": [0.5, 0.25]}
    return train


def test_cached_model_trains_once_then_loads(tmp_cache):
    calls = []
    m1, e1 = cache.cached_model("toy", {"seed": 0}, _net, _counting(calls), version=1)
    m2, e2 = cache.cached_model("toy", {"seed": 0}, _net, _counting(calls), version=1)
    assert len(calls) == 1 and _same_weights(m1, m2) and not _same_weights(m2, _net())
    assert e1 == e2 == {"history": [0.5, 0.25]}
    assert not m2.training
    assert [p.name.startswith("toy-v1-") for p in (tmp_cache / "models").glob("*.pt")] == [True]


def test_cached_model_key_follows_params_and_version(tmp_cache):
    calls = []
    cache.cached_model("toy", {"seed": 0}, _net, _counting(calls))
    cache.cached_model("toy", {"seed": 1}, _net, _counting(calls))
    cache.cached_model("toy", {"seed": 0}, _net, _counting(calls), version=2)
    cache.cached_model("toy", {"seed": 0}, _net, _counting(calls), cache=False)
    assert len(calls) == 4
    assert len(list((tmp_cache / "models").glob("*.pt"))) == 3


def test_cached_model_rebuilds_a_broken_file(tmp_cache):
    path = cache.cached_model_path("toy", {"seed": 0})
    path.write_bytes(b"not a checkpoint")
    calls = []
    model, _ = cache.cached_model("toy", {"seed": 0}, _net, _counting(calls))
    assert len(calls) == 1
    assert checkpoints.load_checkpoint(_net(), path)["extra"] == {"history": [0.5, 0.25]}


def test_cached_model_refuses_a_bad_name():
    with pytest.raises(ValueError, match="name="):
        cache.cached_model("../escape", {}, _net)


def test_two_processes_asking_for_one_model_train_it_once(tmp_cache):
    script = textwrap.dedent("""
        import sys, time
        from torch import nn
        from visrec_helpers.core.cache import cached_model

        def train(model):
            with open(sys.argv[1], "a") as fh:
                fh.write("trained\\n")
            time.sleep(1.0)  # long enough for the other process to reach the lock

        cached_model("race", {"seed": 0}, lambda: nn.Linear(2, 2), train)
    """)
    log = tmp_cache / "log.txt"
    env = {**os.environ, "VISREC_CACHE": str(tmp_cache)}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(log)], env=env) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert log.read_text().splitlines() == ["trained"]


# -- caches never unpickle ---------------------------------------------------------

class _Plant:
    """Unpickling this object would create the file ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_catalog_cache_ignores_an_old_pickle_file(tmp_cache):
    from visrec_helpers.data import catalogs

    marker = tmp_cache / "code-ran"
    key = catalogs.cache_key("v1", 16, 1, ["coffee"], 0)
    (tmp_cache / f"photo_catalog-{key}.pkl").write_bytes(pickle.dumps(_Plant(marker)))
    cat = catalogs.photo_catalog(patch=16, per_photo=1, photos=["coffee"])
    assert len(cat) == 1 and not marker.exists()


def test_catalog_cache_refuses_a_pickled_npz_and_rebuilds(tmp_cache):
    from visrec_helpers.data import catalogs

    first = catalogs.photo_catalog(patch=16, per_photo=1, photos=["coffee"])
    (path,) = tmp_cache.glob("photo_catalog-*.npz")
    marker = tmp_cache / "code-ran"
    np.savez(path, images=np.array([_Plant(marker)], dtype=object), allow_pickle=True)
    again = catalogs.photo_catalog(patch=16, per_photo=1, photos=["coffee"])
    assert not marker.exists()
    np.testing.assert_array_equal(first.images, again.images)
    assert first.tags == again.tags and first.attributes.equals(again.attributes)


def test_model_cache_refuses_a_pickled_checkpoint(tmp_cache):
    marker = tmp_cache / "code-ran"
    path = cache.cached_model_path("toy", {"seed": 0})
    torch.save({"state_dict": _Plant(marker)}, path)  # a full pickle, not weights only
    calls = []
    cache.cached_model("toy", {"seed": 0}, _net, _counting(calls))
    assert not marker.exists() and len(calls) == 1


def test_as_matrix_returns_a_finite_matrix_of_the_dtype_asked():
    from visrec_helpers.core.arrays import as_matrix

    out = as_matrix([[1, 2], [3, 4]], "Z", np.float32)
    assert out.dtype == np.float32 and out.shape == (2, 2)
    assert as_matrix(np.eye(3, dtype=np.float32)).dtype == np.float64  # float64 by default


@pytest.mark.parametrize("bad, message", [
    (np.zeros((0, 3)), "non-empty"), (np.zeros(3), "non-empty"), (np.zeros((2, 2, 2)), "non-empty"),
    (np.array([["a", "b"]]), "numeric"), (np.ones((2, 2), dtype=bool), "numeric"),
    (np.array([[1.0, np.nan]]), "NaN"), (np.array([[np.inf, 1.0]]), "NaN"),
])
def test_as_matrix_names_the_argument_and_the_problem(bad, message):
    from visrec_helpers.core.arrays import as_matrix

    with pytest.raises(ValueError, match=f"embeddings.*{message}"):
        as_matrix(bad, "embeddings")
