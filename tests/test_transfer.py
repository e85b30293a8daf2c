"""Transfer learning: freezing, discriminative learning rates, strategies, distillation."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from visrec_helpers.vision import transfer as tf
from visrec_helpers.vision.models import DigitCNN, TinyCNN


def _source():
    torch.manual_seed(0)
    return DigitCNN(n_classes=10, embed_dim=8, width=8)


def _bars(n=40, seed=0):
    """Two classes of 12x12 images: a horizontal or a vertical bar, with noise."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 40, size=(n, 12, 12)).astype(np.uint8)
    y = np.arange(n) % 2
    for i in range(n):
        if y[i]:
            X[i, :, 5:7] = 255
        else:
            X[i, 5:7, :] = 255
    return X, y


def test_with_new_head_copies_and_leaves_source_alone():
    src = _source()
    before = {k: v.clone() for k, v in src.state_dict().items()}
    new = tf.with_new_head(src, 3)
    assert new.head.out_features == 3 and src.head.out_features == 10
    assert torch.equal(new.features[0].weight, src.features[0].weight)
    new.features[0].weight.data += 1
    assert all(torch.equal(v, src.state_dict()[k]) for k, v in before.items())


def test_freeze_and_unfreeze():
    m = tf.freeze(_source())
    trainable = [n for n, p in m.named_parameters() if p.requires_grad]
    assert trainable == ["head.weight", "head.bias"]
    assert all(p.requires_grad for p in tf.unfreeze(m).parameters())
    with pytest.raises(ValueError, match="no parameter named 'nope'"):
        tf.freeze(_source(), trainable=("nope",))


def test_layer_groups_follow_forward_order():
    groups = tf.layer_groups(_source())
    assert len(groups) == 5  # three conv blocks (each with its batch norm), project, head
    assert sum(p.numel() for g in groups for p in g) == sum(p.numel() for p in _source().parameters())


def test_discriminative_rates_golden():
    groups = tf.discriminative_param_groups(_source(), lr=1e-2, decay=0.5)
    assert [g["lr"] for g in groups] == pytest.approx([1e-2 * 0.5**k for k in (4, 3, 2, 1, 0)])
    with pytest.raises(ValueError, match="decay"):
        tf.discriminative_param_groups(_source(), lr=1e-2, decay=0)


def test_epochs_for_steps():
    assert tf.epochs_for_steps(20, 32, 30) == 30  # one step per epoch
    assert tf.epochs_for_steps(640, 32, 30) == 2
    with pytest.raises(ValueError):
        tf.epochs_for_steps(0, 32, 30)


def test_time_to_accuracy():
    h = pd.DataFrame({"val_acc": [0.5, 0.8, 0.95], "seconds": [1.0, 2.0, 4.0]})
    assert tf.time_to_accuracy(h, 0.8) == 3.0
    assert math.isinf(tf.time_to_accuracy(h, 0.99))
    with pytest.raises(ValueError, match="val_acc"):
        tf.time_to_accuracy(pd.DataFrame({"seconds": [1.0]}), 0.5)


def test_probe_changes_only_the_head():
    src = _source()
    X, y = _bars()
    clf = tf.TransferClassifier(src, "probe", epochs=3, lr=1e-2, device="cpu").fit(X, y)
    for (name, a), b in zip(clf.model_.state_dict().items(), src.state_dict().values()):
        if not name.startswith("head"):
            assert torch.equal(a, b), f"{name} moved during a linear probe"


def test_finetune_moves_the_backbone_and_scratch_resets_it():
    src = _source()
    X, y = _bars()
    ft = tf.TransferClassifier(src, "finetune", epochs=2, device="cpu").fit(X, y)
    sc = tf.TransferClassifier(src, "scratch", epochs=1, device="cpu")
    sc.fit(X, y)
    w = src.features[0].weight
    assert not torch.equal(ft.model_.features[0].weight, w)
    assert not torch.allclose(sc.model_.features[0].weight, w, atol=1e-2)


@pytest.fixture(scope="module")
def bar_source():
    """A source network that already knows bar orientation (trained from scratch on bars)."""
    X, y = _bars(80, seed=5)
    return tf.TransferClassifier(_source(), "scratch", epochs=10, lr=1e-2, batch_size=16, device="cpu").fit(X, y).model_


@pytest.mark.parametrize("strategy", tf.STRATEGIES)
def test_every_strategy_learns_bars(strategy, bar_source):
    X, y = _bars(80)
    Xt, yt = _bars(40, seed=1)
    clf = tf.TransferClassifier(bar_source, strategy, epochs=12, lr=1e-2, batch_size=16, device="cpu")
    clf.fit(X, y, Xt, yt)
    assert clf.score(Xt, yt) >= 0.9
    assert len(clf.history_) == 12 and clf.history_["epoch"].tolist() == list(range(1, 13))
    assert clf.fit_seconds_ > 0


def test_gradual_unfreezes_after_the_probe_epochs():
    X, y = _bars()
    clf = tf.TransferClassifier(_source(), "gradual", epochs=4, probe_epochs=2, device="cpu").fit(X, y)
    assert all(p.requires_grad for p in clf.model_.parameters())
    with pytest.raises(ValueError, match="probe_epochs"):
        tf.TransferClassifier(_source(), "gradual", epochs=2, probe_epochs=2).fit(X, y)


def test_bad_inputs_raise_clear_errors():
    X, y = _bars()
    with pytest.raises(ValueError, match="strategy"):
        tf.TransferClassifier(_source(), "magic").fit(X, y)
    with pytest.raises(ValueError, match="length"):
        tf.TransferClassifier(_source()).fit(X, y[:-1])
    with pytest.raises(ValueError, match="integer"):
        tf.TransferClassifier(_source()).fit(X, y.astype(float))
    with pytest.raises(RuntimeError, match="not fitted"):
        tf.TransferClassifier(_source()).predict(X)
    with pytest.raises(ValueError, match="both"):
        tf.TransferClassifier(_source()).fit(X, y, X_val=X)
    with pytest.raises(TypeError, match="head"):
        tf.with_new_head(torch.nn.Linear(2, 2), 3)


def test_resize_images():
    out = tf.resize_images(np.full((2, 8, 8), 200, np.uint8), 28)
    assert out.shape == (2, 28, 28) and out.dtype == np.uint8 and (out == 200).all()
    assert tf.resize_images(np.ones((1, 4, 4)), 2).max() == 255  # float [0, 1] input
    with pytest.raises(ValueError, match="NaN"):
        tf.resize_images(np.full((1, 4, 4), np.nan), 2)


def test_distillation_loss_is_zero_when_student_matches_teacher_and_labels():
    logits = torch.tensor([[20.0, -20.0], [-20.0, 20.0]])
    target = torch.cat([torch.tensor([[0.0], [1.0]]), logits], 1)
    assert tf.distillation_loss(4.0, 0.5)(logits, target).item() == pytest.approx(0.0, abs=1e-6)
    wrong = tf.distillation_loss(4.0, 1.0)(-logits, target).item()
    assert wrong > 1.0
    with pytest.raises(ValueError, match="distillation targets"):
        tf.distillation_loss()(logits, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="temperature"):
        tf.distillation_loss(0.0)


def test_distill_teaches_a_tiny_student():
    X, y = _bars(80)
    teacher = tf.TransferClassifier(_source(), "scratch", epochs=8, lr=1e-2, batch_size=16, device="cpu")
    teacher.fit(X, y)
    student = TinyCNN(n_classes=2, c1=4, c2=4)
    hist = tf.distill(teacher.model_, student, X, y, X, y, epochs=10, batch_size=16, lr=1e-2, device="cpu")
    assert hist["val_acc"].iloc[-1] >= 0.9
    with pytest.raises(ValueError, match="classes"):
        tf.distill(teacher.model_, TinyCNN(n_classes=3), X, y)


def test_distill_without_labels_uses_teacher_outputs(bar_source):
    X, y = _bars(80)
    student = TinyCNN(n_classes=2, c1=4, c2=4)
    hist = tf.distill(bar_source, student, X, None, X, y, alpha=1.0, epochs=10, batch_size=16, lr=1e-2,
                      device="cpu")
    assert hist["val_acc"].iloc[-1] >= 0.9  # learned the true classes without seeing a label


def test_learning_curve_rows_and_errors(bar_source):
    X, y = _bars(60)
    Xt, yt = _bars(20, seed=3)
    lc = tf.learning_curve(bar_source, X, y, Xt, yt, sizes=[10, 60], strategies=("probe", "finetune"), steps=5,
                           device="cpu", progress=False)
    assert lc[["strategy", "n_labelled"]].values.tolist() == [["probe", 10], ["finetune", 10], ["probe", 60],
                                                               ["finetune", 60]]
    assert lc["test_acc"].between(0, 1).all()
    with pytest.raises(ValueError, match="sizes"):
        tf.learning_curve(bar_source, X, y, Xt, yt, sizes=[1], progress=False)
    with pytest.raises(ValueError, match="unknown strategies"):
        tf.learning_curve(bar_source, X, y, Xt, yt, sizes=[10], strategies=("magic",), progress=False)


def test_curve_over_seeds_gives_intervals_and_paired_gain(bar_source):
    X, y = _bars(60)
    curve = tf.curve_over_seeds(bar_source, X, y, sizes=[10], seeds=[0, 1, 2], n_test=20, steps=3,
                                strategies=("scratch", "finetune"), device="cpu", progress=False)
    assert curve[["strategy", "n_labelled"]].values.tolist() == [["scratch", 10], ["finetune", 10], ["gain", 10]]
    runs = curve.attrs["runs"]
    assert len(runs) == 3
    assert np.allclose(runs["gain|10"], runs["finetune|10"] - runs["scratch|10"])
    iv = tf.curve_interval(curve, "finetune", 10)
    assert iv.n == 3 and iv.low <= iv.estimate <= iv.high
    assert math.isclose(iv.estimate, runs["finetune|10"].mean())
    assert (curve["low"] <= curve["estimate"]).all() and (curve["estimate"] <= curve["high"]).all()


def test_curve_over_seeds_bad_inputs(bar_source):
    X, y = _bars(40)
    with pytest.raises(ValueError, match="n_test"):
        tf.curve_over_seeds(bar_source, X, y, sizes=[10], seeds=[0, 1], n_test=40, progress=False)
    with pytest.raises(ValueError, match="same length"):
        tf.curve_over_seeds(bar_source, X, y[:-1], sizes=[10], seeds=[0, 1], n_test=10, progress=False)
    with pytest.raises(KeyError, match="strategy='probe'"):
        tf.curve_interval(pd.DataFrame(), "probe", 10)
