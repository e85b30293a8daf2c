"""Specification of visrec_helpers.vision.style on small tensors and images with known answers."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visrec_helpers.vision import style as ST


def gradient_image(h=24, w=24, seed=0):
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 1, w)[None, :, None] * rng.uniform(0.3, 1, 3)[None, None, :]
    return np.clip(base + rng.normal(0, 0.05, (h, w, 3)), 0, 1)


# --- Gram matrix and losses ---------------------------------------------------

def test_gram_matrix_of_a_known_tensor():
    # two channels over 2x2 pixels: a = [1,2,3,4], b = [0,1,0,1]; C*H*W = 8
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])
    g = ST.gram_matrix(f)
    expected = torch.tensor([[[30.0, 6.0], [6.0, 2.0]]]) / 8
    torch.testing.assert_close(g, expected)


def test_gram_matrix_ignores_where_features_fire():
    f = torch.randn(1, 4, 6, 6, generator=torch.Generator().manual_seed(0))
    shuffled = f.reshape(1, 4, 36)[:, :, torch.randperm(36)].reshape(1, 4, 6, 6)
    torch.testing.assert_close(ST.gram_matrix(f), ST.gram_matrix(shuffled))


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 5), st.integers(1, 6), st.integers(1, 6))
def test_gram_matrix_is_symmetric_and_positive_semidefinite(c, h, w):
    f = torch.randn(2, c, h, w)
    g = ST.gram_matrix(f)
    assert g.shape == (2, c, c)
    torch.testing.assert_close(g, g.transpose(1, 2))
    assert (torch.linalg.eigvalsh(g) > -1e-5).all()


def test_gram_matrix_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(n, C, H, W\)"):
        ST.gram_matrix(torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="empty"):
        ST.gram_matrix(torch.zeros(1, 0, 4, 4))


def test_losses_are_zero_at_the_target_and_scale_free():
    f = [torch.rand(1, 3, 5, 5), torch.rand(1, 4, 3, 3)]
    grams = [ST.gram_matrix(x) for x in f]
    assert float(ST.style_loss(f, grams)) == pytest.approx(0.0, abs=1e-7)
    assert float(ST.content_loss(f, f)) == pytest.approx(0.0, abs=1e-7)
    # multiplying features and targets by 10 changes nothing: losses are relative
    g2 = [ST.gram_matrix(2 * x) for x in f]
    assert float(ST.style_loss([10 * x for x in f], [100 * g for g in g2])) == pytest.approx(
        float(ST.style_loss(f, g2)), rel=1e-5)


def test_content_loss_golden_value():
    t = torch.ones(1, 1, 2, 2)
    assert float(ST.content_loss([torch.zeros(1, 1, 2, 2)], [t])) == pytest.approx(1.0)


def test_loss_inputs_are_checked():
    with pytest.raises(ValueError, match="one target"):
        ST.style_loss([torch.rand(1, 2, 2, 2)], [])
    with pytest.raises(ValueError, match="shape"):
        ST.content_loss([torch.rand(1, 2, 2, 2)], [torch.rand(1, 2, 3, 3)])


# --- images and tensors ---------------------------------------------------------

def test_image_tensor_round_trip():
    img = (np.arange(2 * 3 * 3) % 256).astype(np.uint8).reshape(2, 3, 3)
    t = ST.image_to_tensor(img)
    assert t.shape == (1, 3, 2, 3) and t.dtype == torch.float32
    np.testing.assert_array_equal(ST.tensor_to_image(t), img)


@pytest.mark.parametrize("bad, err, match", [
    (np.zeros((4, 4)), ValueError, r"\(H, W, 3\)"),
    (np.zeros((0, 4, 3)), ValueError, "empty"),
    (np.full((4, 4, 3), np.nan), ValueError, "NaN"),
    (np.full((4, 4, 3), 3.0), ValueError, r"\[0, 1\]"),
    (np.zeros((4, 4, 3), np.int64), TypeError, "int64"),
])
def test_bad_images_are_refused(bad, err, match):
    with pytest.raises(err, match=match):
        ST.check_rgb(bad)


# --- feature networks ---------------------------------------------------------------

def test_random_network_is_frozen_reproducible_and_multi_scale():
    a, b = ST.RandomMultiScaleNet(width=4, seed=1), ST.RandomMultiScaleNet(width=4, seed=1)
    x = torch.rand(1, 3, 32, 32)
    fa, fb = a(x), b(x)
    assert [f.shape[-1] for f in fa] == [32, 16, 8, 4]
    assert all(torch.equal(u, v) for u, v in zip(fa, fb))
    assert not any(p.requires_grad for p in a.parameters())
    assert "substitute" in a.description


def test_missing_vgg_weights_give_a_clear_error(tmp_path):
    with pytest.raises(ST.WeightsNotFoundError, match="never downloads"):
        ST.VGGFeatures("vgg19", weights_path=tmp_path / "absent.pth")


def test_corrupt_vgg_weights_are_refused(tmp_path):
    bad = tmp_path / "vgg19.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ST.WeightsNotFoundError, match="not usable"):
        ST.VGGFeatures("vgg19", weights_path=bad)


class TinyVGG16(torch.nn.Module):
    """VGG16's layer pattern with 1/16 of the channels and no classifier: same layer indices."""

    def __init__(self, weights=None):
        super().__init__()
        from torchvision.models.vgg import make_layers

        self.features = make_layers([4, 4, "M", 8, 8, "M", 16, 16, 16, "M", 32, 32, 32, "M", 32, 32, 32, "M"])


def test_vgg_reads_weights_from_disk_and_taps_the_gatys_layers(tmp_path, monkeypatch):
    from torchvision import models

    monkeypatch.setattr(models, "vgg16", TinyVGG16)
    saved = TinyVGG16()
    path = tmp_path / "vgg16.pth"
    torch.save(saved.state_dict(), path)
    net = ST.VGGFeatures("vgg16", weights_path=path)
    torch.testing.assert_close(net.layers[0][0].weight, saved.features[0].weight)  # the file's weights
    feats = net(torch.rand(1, 3, 32, 32))
    # relu1_1, relu2_1, relu3_1, relu4_1, relu4_2, relu5_1
    assert [f.shape[1] for f in feats] == [4, 8, 16, 32, 32, 32]
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 4, 2]
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in net.modules())  # average pooling instead
    assert "VGG16" in net.description


def test_auto_falls_back_to_the_labelled_substitute(tmp_path, capsys):
    net = ST.feature_network("auto", weights_path=tmp_path / "absent.pth")
    assert isinstance(net, ST.RandomMultiScaleNet)
    assert "substitute" in capsys.readouterr().out


def test_unknown_network_kind():
    with pytest.raises(ValueError, match="kind"):
        ST.feature_network("resnet")


# --- style transfer ---------------------------------------------------------------

def test_style_transfer_lowers_the_objective_and_keeps_shape():
    net = ST.RandomMultiScaleNet(width=4, seed=0)
    content, style = gradient_image(seed=1), gradient_image(seed=2)[:, ::-1]
    out, hist = ST.style_transfer(content, style, net, steps=30, lr=0.05, progress=False, device="cpu")
    assert out.shape == (24, 24, 3) and out.dtype == np.uint8
    assert hist["total"].iloc[-1] < 0.5 * hist["total"].iloc[0]
    assert hist["content_loss"].iloc[0] == pytest.approx(0.0, abs=1e-7)  # starts at the content image
    measured = ST.measure_losses(out, content, style, net)
    assert measured["style_loss"] < hist["style_loss"].iloc[0]


def test_style_transfer_argument_checks():
    net = ST.RandomMultiScaleNet(width=2)
    img = gradient_image(8, 8)
    with pytest.raises(ValueError, match="steps"):
        ST.style_transfer(img, img, net, steps=0)
    with pytest.raises(ValueError, match="init"):
        ST.style_transfer(img, img, net, steps=1, init="zeros")
    with pytest.raises(ValueError, match="same size"):
        ST.measure_losses(img, gradient_image(16, 16), img, net)


# --- colour transfer ----------------------------------------------------------------

def test_reinhard_matches_lab_mean_and_std():
    src, tgt = gradient_image(seed=3) * 0.6 + 0.2, gradient_image(seed=4)[::-1] * 0.5 + 0.3
    out = ST.reinhard_transfer(src, tgt)
    a, b = ST.lab_stats(out), ST.lab_stats(tgt)
    np.testing.assert_allclose(a["mean"], b["mean"], atol=1.0)
    np.testing.assert_allclose(a["std"], b["std"], rtol=0.1, atol=0.5)


def test_reinhard_of_an_image_onto_itself_is_nearly_the_identity():
    img = (gradient_image(seed=5) * 255).astype(np.uint8)
    assert np.abs(ST.reinhard_transfer(img, img).astype(int) - img).max() <= 1


def test_histogram_match_copies_the_reference_histogram():
    src = (gradient_image(32, 32, seed=6) * 255).astype(np.uint8)
    ref = (np.random.default_rng(0).random((32, 32, 3)) ** 2 * 255).astype(np.uint8)
    out = ST.histogram_match(src, ref)
    assert ST.histogram_distance(out, ref) < 0.2 * ST.histogram_distance(src, ref)


def test_histogram_distance_golden_values():
    black, white = np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 255, np.uint8)
    assert ST.histogram_distance(black, black) == 0.0
    assert ST.histogram_distance(black, white) == 2.0


def test_tensor_to_image_rejects_batches_and_wrong_channels():
    with pytest.raises(ValueError, match="single image"):
        ST.tensor_to_image(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        ST.tensor_to_image(torch.zeros(1, 4, 4, 4))


def test_balance_makes_the_style_weight_scale_free():
    net = ST.RandomMultiScaleNet(width=4, seed=0)
    content, style = gradient_image(16, 16, seed=1), gradient_image(16, 16, seed=2)
    _, h = ST.style_transfer(content, style, net, steps=1, style_weight=2.0, progress=False, device="cpu")
    # at step 0 the image is the content photo: style term = 2 * s0 / s0 = 2, content term = 0
    assert h["total"].iloc[0] == pytest.approx(2.0, rel=1e-5)
    _, h_raw = ST.style_transfer(content, style, net, steps=1, style_weight=2.0, balance=False, progress=False,
                                 device="cpu")
    assert h_raw["total"].iloc[0] == pytest.approx(2.0 * h_raw["style_loss"].iloc[0], rel=1e-5)


# --- EfficientNet features, texture synthesis and the independent texture judge ----------

@pytest.mark.parametrize("pretrained", [True, False])
def test_efficientnet_features_tap_the_stem_and_block_stages(pretrained):
    net = ST.EfficientNetFeatures(imagenet=pretrained, stages=3, seed=1)
    maps = net(torch.rand(1, 3, 32, 32))
    assert [tuple(m.shape[1:]) for m in maps] == [(32, 16, 16), (16, 16, 16), (24, 8, 8), (40, 4, 4)]
    assert net.style_layers == (0, 1, 2, 3) and net.content_layers == (3,)
    assert not any(p.requires_grad for p in net.parameters())
    assert ("random" in net.description) != pretrained


def test_random_efficientnet_depends_on_its_seed_and_pretrained_one_does_not():
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    a, b = (ST.feature_network("efficientnet-random", seed=s)(x)[-1] for s in (0, 1))
    assert not torch.allclose(a, b)
    c, d = (ST.feature_network("efficientnet", seed=s)(x)[-1] for s in (0, 1))
    torch.testing.assert_close(c, d)


def test_efficientnet_stage_count_is_checked():
    with pytest.raises(ValueError, match="stages must be between 1 and 7"):
        ST.EfficientNetFeatures(stages=8)


def test_texture_synthesis_from_noise_lowers_the_style_loss():
    net = ST.RandomMultiScaleNet(width=4, seed=0)
    style = gradient_image(32, 32, seed=3)
    out, hist = ST.style_transfer(style, style, net, steps=20, content_weight=0.0, init="noise", lr=0.05,
                                  progress=False, device="cpu")
    assert out.shape == (32, 32, 3)
    assert hist["style_loss"].iloc[-1] < 0.5 * hist["style_loss"].iloc[0]


def stripes(period, size=48):
    x = (np.arange(size) // period % 2).astype(float)
    return np.repeat(np.tile(x, (size, 1))[..., None], 3, axis=2)


def test_texture_distance_is_zero_for_the_same_image_and_ignores_colour_remaps():
    rng = np.random.default_rng(0)
    img = rng.random((40, 40, 3))
    assert ST.texture_distance(img, img) == 0.0
    recoloured = np.clip(0.2 + 0.5 * img, 0, 1)  # an increasing map of every value: same local order
    assert ST.texture_distance(img, recoloured) < 0.05


def test_texture_distance_separates_textures():
    fine, coarse = stripes(1), stripes(6)
    assert ST.texture_distance(fine, coarse) > 0.5
    assert 0.0 <= ST.texture_distance(fine, coarse) <= 2.0
