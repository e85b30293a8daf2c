"""vision.hooks (forward hooks, pooled layer features) and search.per_query (AP per query)."""

import numpy as np
import pytest
import torch
from torch import nn

from visrec_helpers.search.per_query import average_precisions, cross_average_precisions, queries_with_matches
from visrec_helpers.search.retrieval import labelled_retrieval
from visrec_helpers.vision.hooks import pooled_layer_features, record_layers


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, stride=2), nn.ReLU())


def test_record_layers_returns_the_outputs_of_the_named_modules():
    net, x = _net(), torch.rand(2, 3, 9, 9)
    with record_layers(net, ["1", "3"]) as out:
        y = net(x)
    assert torch.equal(out["3"], y)
    assert torch.equal(out["1"], torch.relu(net[0](x)))


def test_record_layers_removes_its_hooks_even_after_an_error():
    net = _net()
    with pytest.raises(RuntimeError):
        with record_layers(net, ["1"]):
            net(torch.rand(1, 5, 9, 9))  # wrong channel count
    assert all(not m._forward_hooks for m in net.modules())


def test_record_layers_names_an_unknown_layer():
    with pytest.raises(ValueError, match="layers: unknown \\['fc'\\]"):
        with record_layers(_net(), ["1", "fc"]):
            pass


def test_pooled_layer_features_are_spatial_means():
    net, x = _net(), torch.rand(3, 3, 9, 9)
    pooled = pooled_layer_features(net, x, ["3"])["3"]
    assert pooled.shape == (3, 6)
    assert torch.allclose(pooled, net(x).mean(dim=(2, 3)))


def test_average_precisions_mean_equals_labelled_retrieval_map():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(120, 6)), rng.integers(0, 4, 120)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    assert np.isclose(average_precisions(x, y, 10).mean(), labelled_retrieval(x, y, 10)["map@10"])


def test_average_precisions_golden_value():
    x = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    y = np.array([0, 1, 0, 1])
    # item 0's list: 1 (wrong), 3 (wrong), 2 (right) -> AP@3 = (1/3) / 1; item 1's: 0, 3 (right), 2 -> 1/2
    assert np.allclose(average_precisions(x, y, 3), [1 / 3, 1 / 2, 1 / 3, 1 / 2])


def test_cross_average_precisions_excludes_the_original():
    db = np.eye(3, dtype=np.float32)
    labels = np.array([0, 0, 1])
    q = db[[0]] + 0.01
    with_original = cross_average_precisions(q, [0], db, labels, k=2)
    without = cross_average_precisions(q, [0], db, labels, k=2, exclude=[0])
    assert with_original[0] == 1.0 and without.shape == (1,)


def test_queries_with_matches_drops_singleton_labels():
    assert queries_with_matches(np.array([0, 1, 1, 2, 2, 2]), 1).tolist() == [1, 2, 3, 4, 5]
    assert queries_with_matches(np.array([0, 1, 1, 2, 2, 2]), 2).tolist() == [3, 4, 5]


def test_average_precisions_refuses_a_k_larger_than_the_catalog():
    with pytest.raises(ValueError, match="k=5"):
        average_precisions(np.eye(3), [0, 0, 1], k=5)


def test_fuse_layers_gives_each_layer_the_same_weight():
    from visrec_helpers.vision.hooks import fuse_layers

    rng = np.random.default_rng(1)
    vecs = {"a": rng.random((3, 4)), "b": rng.random((3, 6)) * 100}
    out = fuse_layers(vecs, ["a", "b"])
    assert out.shape == (3, 10)
    assert np.allclose(np.linalg.norm(out, axis=1), 1)
    assert np.allclose(np.linalg.norm(out[:, :4], axis=1), np.linalg.norm(out[:, 4:], axis=1))


def test_fuse_layers_names_a_missing_layer():
    from visrec_helpers.vision.hooks import fuse_layers

    with pytest.raises(ValueError, match="missing \\['c'\\]"):
        fuse_layers({"a": np.ones((2, 2))}, ["a", "c"])


def test_photo_tiles_are_disjoint_and_split_by_column():
    from visrec_helpers.data.tiles import photo_tiles, tile_split

    cat = photo_tiles(patch=32, short_side=64, photos=["chelsea", "coffee"])
    a = cat.attributes
    assert not a.duplicated(["photo", "row", "col"]).any()
    assert cat.images.shape[1:] == (32, 32, 3)
    train, test = tile_split(cat, 0.5)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(cat)
    for _photo, g in a.groupby("photo"):
        assert g.loc[g.index.isin(train), "col"].max() < g.loc[g.index.isin(test), "col"].min()


def test_train_small_encoder_needs_labels_for_supervised():
    from visrec_helpers.vision.features import train_small_encoder

    with pytest.raises(ValueError, match="needs labels"):
        train_small_encoder(np.zeros((4, 8, 8, 3), np.uint8), method="supervised")


def test_train_small_encoder_simclr_embeds_and_is_reproducible():
    from visrec_helpers.vision import features
    from visrec_helpers.vision.features import train_small_encoder

    images = np.random.default_rng(0).integers(0, 255, (16, 16, 16, 3), dtype=np.uint8)
    a = train_small_encoder(images, method="simclr", epochs=1, input_size=16, batch_size=8, device="cpu",
                            cache=False)
    b = train_small_encoder(images, method="simclr", epochs=1, input_size=16, batch_size=8, device="cpu",
                            cache=False)
    ea, eb = features.embed(a, images, device="cpu"), features.embed(b, images, device="cpu")
    assert ea.shape == (16, 64) and np.allclose(ea, eb)
    assert len(a.history_) == 1


def test_layer_features_without_pooling_keep_the_maps():
    from visrec_helpers.vision.hooks import _layer_features

    class Enc:
        model = _net()
        device = torch.device("cpu")
        input_size = 9

    images = np.random.default_rng(0).integers(0, 255, (3, 9, 9, 3), dtype=np.uint8)
    maps = _layer_features(Enc, images, ["3"], 2, False, pool=False)["3"]
    pooled = _layer_features(Enc, images, ["3"], 2, False)["3"]
    assert maps.shape == (3, 6, 4, 4) and np.allclose(maps.mean(axis=(2, 3)), pooled, atol=1e-6)


def test_forward_hook_count_sees_hooks_inside_record_layers_and_none_after():
    from visrec_helpers.vision.hooks import forward_hook_count

    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert forward_hook_count(net) == 0
    with record_layers(net, ["0", "2"]):
        assert forward_hook_count(net) == 2
    assert forward_hook_count(net) == 0
