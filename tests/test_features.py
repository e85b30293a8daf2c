"""Specification of the encoders: one output shape (rows L2-normalised float32), cached
trained weights that reload identically."""

import numpy as np
import pytest
import torch

from visrec_helpers.data import digits_catalog, photo_catalog
from visrec_helpers.vision.features import (
    HANDCRAFTED,
    FeatureEncoder,
    ImageEncoder,
    SmallCNN,
    embed,
    l2_normalize,
    nt_xent_loss,
    simclr_augment,
    split_catalog,
    train_encoder,
)


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """An empty weights/embeddings cache that still sees the (slow to build) catalogs."""
    from visrec_helpers.core.runtime import cache_dir

    digits_catalog(), photo_catalog()
    for f in list(cache_dir().glob("digits_catalog-*.npz")) + list(cache_dir().glob("photo_catalog-*.npz")):
        (tmp_path / f.name).symlink_to(f)
    monkeypatch.setenv("VISREC_CACHE", str(tmp_path))
    return tmp_path


def _digits(n=40):
    return digits_catalog().images[:n]


def _unit_rows(x):
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", list(HANDCRAFTED))
def test_handcrafted_encoders_give_unit_rows(name):
    out = embed(HANDCRAFTED[name], _digits(12))
    assert out.dtype == np.float32 and out.ndim == 2 and len(out) == 12
    _unit_rows(out)


def test_small_cnn_encoder_shape_for_any_input_size():
    enc = ImageEncoder(SmallCNN(n_classes=3, embed_dim=24, in_channels=3), input_size=32)
    out = embed(enc, photo_catalog().images[:5])  # 64x64 patches resized inside
    assert out.shape == (5, 24) and out.dtype == np.float32
    _unit_rows(out)


def test_split_catalog_is_stratified_and_disjoint():
    labels = np.repeat([0, 1, 2], 10)
    train, test = split_catalog(labels, 0.8)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 30
    assert np.bincount(labels[train]).tolist() == [8, 8, 8]
    with pytest.raises(ValueError, match="train_share"):
        split_catalog(labels, 1.0)


def test_train_encoder_is_cached_and_reloads_the_same_weights(tmp_cache, monkeypatch):
    import visrec_helpers.vision.features as F

    kw = dict(catalog="digits", method="supervised", epochs=1, n_train=64, progress=False, device="cpu")
    first = train_encoder(**kw)
    files = list(tmp_cache.glob("models/encoder-digits-supervised-*.pt"))
    assert len(files) == 1
    monkeypatch.setattr(F, "train_classifier", lambda *a, **k: pytest.fail("retrained instead of loading"))
    again = train_encoder(**kw)
    assert again.history_ == first.history_ and len(first.history_) == 1  # kept with the weights
    for a, b in zip(first.state_dict().values(), again.state_dict().values()):
        torch.testing.assert_close(a, b)
    x = _digits(8)
    np.testing.assert_allclose(embed(first, x), embed(again, x), atol=1e-6)


def test_train_encoder_is_reproducible_from_its_arguments(tmp_cache):
    kw = dict(catalog="photos", method="simclr", epochs=1, n_train=32, batch_size=16, progress=False, device="cpu")
    a = train_encoder(cache=False, **kw)
    b = train_encoder(cache=False, **kw)
    x = photo_catalog().images[:6]
    np.testing.assert_allclose(embed(a, x), embed(b, x), atol=1e-5)


def test_train_encoder_refuses_unknown_catalog_and_method():
    with pytest.raises(ValueError, match="unknown catalog"):
        train_encoder("faces")
    with pytest.raises(ValueError, match="unknown method"):
        train_encoder("digits", method="byol")


def test_simclr_views_keep_shape_and_range():
    x = torch.rand(4, 3, 32, 32)
    v = simclr_augment(x, torch.Generator().manual_seed(0))
    assert v.shape == x.shape and v.min() >= 0 and v.max() <= 1
    assert not torch.allclose(v, x)


def test_nt_xent_is_low_for_matching_views_and_high_for_random_ones():
    z = torch.nn.functional.normalize(torch.randn(16, 8), dim=1) * 5
    assert nt_xent_loss(z, z).item() < nt_xent_loss(z, torch.randn(16, 8)).item()
    with pytest.raises(ValueError, match="different shapes"):
        nt_xent_loss(z, z[:8])


def test_embed_refuses_bad_input():
    with pytest.raises(ValueError, match="images is empty"):
        embed(HANDCRAFTED["HOG"], np.zeros((0, 8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        embed(HANDCRAFTED["raw pixels"], np.full((2, 4, 4), np.nan))
    with pytest.raises(TypeError, match="encoder"):
        embed(object(), _digits(2))
    with pytest.raises(ValueError, match="NaN"):
        l2_normalize(np.array([[np.nan, 1.0]]))


def test_feature_encoder_wraps_a_function():
    enc = FeatureEncoder("mean", lambda imgs: imgs.reshape(len(imgs), -1).mean(1, keepdims=True) + 1)
    np.testing.assert_allclose(embed(enc, _digits(3)), 1.0)
