"""vision.transfer (q13 part): new head, the copied top of an EfficientNet, layer-wise rates, the training loop."""

import numpy as np
import pytest
import timm
import torch

from visrec_helpers.vision.transfer import (
    BackboneTop,
    finetune,
    first_reaching,
    layerwise_param_groups,
    new_head,
)


@pytest.fixture(scope="module")
def model():
    return timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()


def test_new_head_is_seeded_and_refuses_one_class():
    a, b = new_head(8, 3, seed=1), new_head(8, 3, seed=1)
    assert torch.equal(a.weight, b.weight) and a.out_features == 3
    with pytest.raises(ValueError, match="n_classes=1"):
        new_head(8, 1)


def test_backbone_top_equals_the_source_forward_on_cached_maps(model):
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        maps = model.blocks[:6](model.bn1(model.conv_stem(x)))
        pooled = model.forward_head(model.forward_features(x), pre_logits=True)
        top = BackboneTop(model, 6, n_classes=4)
        top.head.weight.copy_(torch.eye(4, 1280))
        top.head.bias.zero_()
        assert torch.allclose(top(maps), pooled[:, :4], atol=1e-5)


def test_backbone_top_keeps_batch_norm_in_eval_mode_and_leaves_the_source_alone(model):
    top = BackboneTop(model, 6, n_classes=3).train()
    assert all(not m.training for m in top.modules() if isinstance(m, torch.nn.BatchNorm2d))
    with torch.no_grad():
        top.conv_head.weight.zero_()
    assert model.conv_head.weight.abs().sum() > 0


def test_layerwise_rates_fall_by_decay_from_the_head_down(model):
    top = BackboneTop(model, 5, n_classes=3)
    groups = layerwise_param_groups(top, 1e-2, decay=0.1)
    assert [g["name"] for g in groups] == ["head", "conv_head", "blocks[1]", "blocks[0]"]
    assert np.allclose([g["lr"] for g in groups], [1e-2, 1e-3, 1e-4, 1e-5])
    n_params = sum(p.numel() for g in groups for p in g["params"])
    assert n_params == sum(p.numel() for p in top.parameters())


def test_fit_learns_a_separable_problem_and_reports_time():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 5, generator=g)
    y = (X[:, 0] > 0).long()
    head = new_head(5, 2, seed=0)
    hist = finetune(head, [{"params": head.parameters(), "lr": 5e-2}], X, y, X, y, epochs=5)
    assert list(hist.columns) == ["epoch", "train_loss", "val_acc", "seconds"]
    assert hist["val_acc"].iloc[-1] > 0.9 and hist["seconds"].is_monotonic_increasing
    assert first_reaching(hist, 0.9) <= 5 and first_reaching(hist, 1.01) == float("inf")
