"""vision.transfer, t07's program: head swap, freezing by name, the staged fine-tuning loop, nested splits,
epochs per run."""

import numpy as np
import pytest
import torch
from torch import nn

from visrec_helpers.core.rng import init_weights_
from visrec_helpers.vision.training import fit
from visrec_helpers.vision.transfer import (
    epochs_for_steps,
    finetune_in_stages,
    nested_class_split,
    set_trainable,
    swap_head,
    train_step,
)


class TinyTimm(nn.Module):
    """The two attributes of a timm classifier that swap_head uses: num_features and classifier."""

    def __init__(self):
        super().__init__()
        self.num_features = 4
        self.body = nn.Linear(3, 4)
        self.classifier = nn.Linear(4, 1000)

    def forward(self, x):
        return self.classifier(self.body(x))


def two_part_net(seed=0):
    net = nn.Sequential()
    net.add_module("body", nn.Linear(5, 6))
    net.add_module("head", nn.Linear(6, 3))
    return init_weights_(net, seed)


def test_swap_head_replaces_only_the_classifier_and_leaves_the_source():
    source = TinyTimm()
    new = swap_head(source, 7, seed=1)
    assert new.classifier.out_features == 7 and source.classifier.out_features == 1000
    assert torch.equal(new.body.weight, source.body.weight) and new.body.weight is not source.body.weight


def test_swap_head_is_seeded():
    a, b = swap_head(TinyTimm(), 3, seed=2), swap_head(TinyTimm(), 3, seed=2)
    assert torch.equal(a.classifier.weight, b.classifier.weight)


def test_swap_head_rejects_models_without_a_classifier_and_bad_class_counts():
    with pytest.raises(TypeError, match="classifier"):
        swap_head(nn.Linear(2, 2), 3)
    with pytest.raises(ValueError, match="n_classes=1"):
        swap_head(TinyTimm(), 1)


def test_set_trainable_freezes_all_but_the_named_parts_with_their_rates():
    net = nn.Sequential()
    net.add_module("blocks", nn.Sequential(*[nn.Linear(2, 2) for _ in range(11)]))
    net.add_module("head", nn.Linear(2, 2))
    groups = set_trainable(net, {"head": 1e-2, "blocks.1": 1e-4})
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias", "blocks.1.weight", "blocks.1.bias"}  # not blocks.10
    assert [(g["name"], g["lr"], len(g["params"])) for g in groups] == [("head", 1e-2, 2), ("blocks.1", 1e-4, 2)]


def test_set_trainable_rejects_a_name_with_no_parameters():
    with pytest.raises(ValueError, match="'classifier'"):
        set_trainable(two_part_net(), {"classifier": 1e-2})


def test_train_step_is_the_cross_entropy_and_fit_lowers_it():
    net = two_part_net()
    x, y = torch.randn(16, 5, generator=torch.Generator().manual_seed(0)), torch.arange(16) % 3
    loss = train_step(net, (x, y))
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(net(x), y)) and loss.requires_grad
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    history = fit(net, [(x, y)], train_step, epochs=20, optimiser=opt, progress=False)
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]


def test_finetune_in_stages_equals_the_hand_written_loop():
    """The staged run through training.fit gives the weights of the plain loop it replaced."""
    x, y = torch.randn(70, 5, generator=torch.Generator().manual_seed(4)), torch.arange(70) % 3
    stages = [{"epochs": 2, "lr": {"head": 1e-2}}, {"epochs": 1, "lr": {"head": 1e-3, "body": 1e-4}}]
    got, want = two_part_net(), two_part_net()
    finetune_in_stages(got, x, y, stages, batch_size=32, seed=5)
    generator = torch.Generator().manual_seed(5)
    for stage in stages:
        optimizer = torch.optim.AdamW(set_trainable(want, stage["lr"]), weight_decay=1e-4)
        for _ in range(stage["epochs"]):
            want.train()
            for idx in torch.randperm(len(x), generator=generator).split(32):
                loss = torch.nn.functional.cross_entropy(want(x[idx]), y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    assert all(torch.equal(p, q) for p, q in zip(got.parameters(), want.parameters()))


def test_finetune_in_stages_moves_only_what_each_stage_unfreezes():
    net = two_part_net()
    body_before = net.body.weight.detach().clone()
    x, y = torch.randn(40, 5, generator=torch.Generator().manual_seed(1)), torch.arange(40) % 3
    history = finetune_in_stages(net, x, y, [{"epochs": 2, "lr": {"head": 1e-2}}], batch_size=8)
    assert torch.equal(net.body.weight, body_before)
    assert history[["stage", "epoch"]].values.tolist() == [[1, 1], [1, 2]]
    finetune_in_stages(net, x, y, [{"epochs": 1, "lr": {"body": 1e-2}}], batch_size=8)
    assert not torch.equal(net.body.weight, body_before)


def test_finetune_in_stages_is_reproducible_from_its_seed():
    x, y = torch.randn(30, 5, generator=torch.Generator().manual_seed(2)), torch.arange(30) % 3
    stages = [{"epochs": 2, "lr": {"head": 1e-2}}, {"epochs": 1, "lr": {"head": 1e-3, "body": 1e-4}}]
    a, b = two_part_net(), two_part_net()
    finetune_in_stages(a, x, y, stages, seed=3)
    finetune_in_stages(b, x, y, stages, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_nested_class_split_nests_and_keeps_the_test_set_apart():
    labels = np.repeat(np.arange(3), 8)
    train, test = nested_class_split(labels, [1, 3], seed=0)
    assert set(train[1]) <= set(train[3]) and not set(train[3]) & set(test)
    assert np.bincount(labels[train[3]]).tolist() == [3, 3, 3] and len(test) == 15


def test_nested_class_split_needs_items_left_for_the_test_set():
    with pytest.raises(ValueError, match="has 2 items"):
        nested_class_split([0, 0, 1, 1, 1], [2])


def test_epochs_for_steps_gives_at_least_the_steps_asked_for():
    assert epochs_for_steps(20, 32, 30) == 30  # one step per epoch
    assert epochs_for_steps(640, 32, 30) == 2  # 20 steps per epoch
    assert epochs_for_steps(640, 32, 30, min_epochs=5) == 5


def test_epochs_for_steps_refuses_an_empty_set():
    with pytest.raises(ValueError, match="must be >= 1"):
        epochs_for_steps(0, 32, 30)
