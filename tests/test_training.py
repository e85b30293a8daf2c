"""The training loop: learning, early stopping, schedules, checkpoints, plots, the MNIST split."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from visrec_helpers.core.rng import init_weights_
from visrec_helpers.vision import training as tr
from visrec_helpers.vision.models import DigitCNN


def _blobs(n=120, seed=0):
    """A tiny linearly separable 2-class problem as (n, 1, 4, 4) images."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    X = torch.rand(n, 1, 4, 4, generator=g) * 0.2
    X[y == 1, :, :2] += 0.8
    return X, y


def _tiny(seed=0):
    """A linear classifier with weights from its own seed (not the global generator, whose state
    depends on which tests ran before in the same worker)."""
    return init_weights_(nn.Sequential(nn.Flatten(), nn.Linear(16, 2)), seed)


def test_loss_decreases_on_a_tiny_problem():
    X, y = _blobs()
    hist = tr.train_classifier(_tiny(), X, y, epochs=8, lr=0.05, progress=False)
    assert hist["train_loss"].iloc[-1] < 0.5 * hist["train_loss"].iloc[0]
    assert hist["train_acc"].iloc[-1] == 1.0


def test_history_columns_and_rows():
    X, y = _blobs()
    hist = tr.train_classifier(_tiny(), X, y, X, y, epochs=3, progress=False)
    assert list(hist.columns) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"]
    assert hist["epoch"].tolist() == [1, 2, 3]


def test_early_stopping_stops_and_restores_best():
    X, y = _blobs()
    Xv, yv = X.clone(), 1 - y  # validation labels flipped: val loss rises as training succeeds
    model = _tiny()
    hist = tr.train_classifier(model, X, y, Xv, yv, epochs=50, lr=0.05, patience=2, progress=False)
    assert len(hist) < 50
    best = hist["val_loss"].min()
    restored = nn.functional.cross_entropy(torch.from_numpy(tr.predict(model, Xv, device="cpu")), yv).item()
    assert restored == pytest.approx(best, rel=1e-5)


def test_same_seed_same_weights():
    X, y = _blobs()
    a, b = _tiny(), _tiny()
    b.load_state_dict(a.state_dict())
    tr.train_classifier(a, X, y, epochs=2, seed=3, progress=False)
    tr.train_classifier(b, X, y, epochs=2, seed=3, progress=False)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("scheduler", ["onecycle", "cosine"])
def test_schedulers_train(scheduler):
    X, y = _blobs()
    hist = tr.train_classifier(_tiny(), X, y, epochs=5, lr=0.05, scheduler=scheduler, progress=False)
    assert hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[0]


def test_bad_inputs_raise_clear_errors():
    X, y = _blobs()
    with pytest.raises(ValueError, match="rows"):
        tr.train_classifier(_tiny(), X, y[:-1], progress=False)
    with pytest.raises(ValueError, match="no training examples"):
        tr.train_classifier(_tiny(), X[:0], y[:0], progress=False)
    with pytest.raises(ValueError, match="patience"):
        tr.train_classifier(_tiny(), X, y, patience=2, progress=False)
    with pytest.raises(ValueError, match="scheduler"):
        tr.train_classifier(_tiny(), X, y, scheduler="step", progress=False)
    bad = X.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        tr.train_classifier(_tiny(), bad, y, progress=False)
    frozen = _tiny()
    for p in frozen.parameters():
        p.requires_grad = False
    with pytest.raises(ValueError, match="frozen"):
        tr.train_classifier(frozen, X, y, progress=False)


def test_frozen_batch_norm_keeps_its_statistics():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2))
    for p in list(model[0].parameters()) + list(model[1].parameters()):
        p.requires_grad = False
    before = model[1].running_mean.clone()
    X, y = _blobs()
    tr.train_classifier(model, X, y, epochs=1, progress=False)
    assert torch.equal(model[1].running_mean, before)


def test_soft_targets_use_column_zero_as_label():
    X, y = _blobs()
    target = torch.cat([y.float()[:, None], torch.zeros(len(y), 2)], 1)

    def loss(logits, t):
        return nn.functional.cross_entropy(logits, t[:, 0].long())

    hist = tr.train_classifier(_tiny(), X, target, X, y, epochs=6, lr=0.05, loss_fn=loss, progress=False)
    assert hist["train_acc"].iloc[-1] == 1.0 and hist["val_acc"].iloc[-1] == 1.0


def test_checkpoint_round_trip_is_exact(tmp_path):
    torch.manual_seed(0)
    model = DigitCNN(width=8, embed_dim=4)
    X = torch.rand(6, 1, 28, 28)
    tr.train_classifier(model, X, torch.arange(6) % 10, epochs=1, progress=False)  # moves BN statistics
    path = tr.save_checkpoint(model, tmp_path / "m.pt", {"epochs": 1})
    other = DigitCNN(width=8, embed_dim=4)
    extra = tr.load_checkpoint(other, path)
    assert extra == {"epochs": 1}
    for (ka, va), (kb, vb) in zip(model.state_dict().items(), other.state_dict().items()):
        assert ka == kb and torch.equal(va.cpu(), vb)
    assert np.array_equal(tr.predict(model, X, device="cpu"), tr.predict(other, X, device="cpu"))


def test_corrupt_checkpoint_gives_clear_error(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(tr.CheckpointError, match="broken.pt: not a readable checkpoint"):
        tr.load_checkpoint(DigitCNN(), path)


def test_truncated_checkpoint_gives_clear_error(tmp_path):
    path = tr.save_checkpoint(DigitCNN(width=8), tmp_path / "m.pt")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(tr.CheckpointError, match="not a readable checkpoint"):
        tr.load_checkpoint(DigitCNN(width=8), path)


def test_missing_and_mismatched_checkpoints(tmp_path):
    with pytest.raises(tr.CheckpointError, match="does not exist"):
        tr.load_checkpoint(DigitCNN(), tmp_path / "nope.pt")
    path = tr.save_checkpoint(DigitCNN(width=8), tmp_path / "m.pt")
    with pytest.raises(tr.CheckpointError, match="do not fit DigitCNN"):
        tr.load_checkpoint(DigitCNN(width=16), path)
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(tr.CheckpointError, match="state_dict"):
        tr.load_checkpoint(DigitCNN(), tmp_path / "other.pt")


def test_checkpoint_refuses_pickled_code(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "extra": {"f": pd.DataFrame({"a": [1]})}}, path)
    with pytest.raises(tr.CheckpointError):
        tr.load_checkpoint(DigitCNN(), path)


def test_images_to_tensor_shapes_and_errors():
    t = tr.images_to_tensor(np.full((2, 5, 5), 255, np.uint8))
    assert t.shape == (2, 1, 5, 5) and float(t.max()) == 1.0
    assert tr.images_to_tensor(np.zeros((2, 5, 5, 3), np.uint8)).shape == (2, 3, 5, 5)
    with pytest.raises(ValueError, match="shape"):
        tr.images_to_tensor(np.zeros((5, 5)))
    with pytest.raises(ValueError, match="NaN"):
        tr.images_to_tensor(np.full((1, 2, 2), np.nan))


def test_random_affine_keeps_shape_and_changes_pixels():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 10:18, 12:16] = 1
    out = tr.RandomAffine(degrees=10, shift=3, seed=1)(x)
    assert out.shape == x.shape
    assert not torch.allclose(out, x)
    assert tr.RandomAffine(degrees=0, shift=0, scale=0)(x).sub(x).abs().max() < 1e-5
    with pytest.raises(ValueError):
        tr.RandomAffine(scale=1.5)
    with pytest.raises(ValueError, match=r"\(n, C, H, W\)"):
        tr.RandomAffine()(torch.zeros(28, 28))


def test_mnist_split_is_stratified_and_disjoint():
    s = tr.mnist_split()
    assert s["X_train"].shape == (4000, 28, 28) and s["X_test"].shape == (1000, 28, 28)
    assert np.bincount(s["y_test"]).tolist() == [100] * 10
    train_rows = {x.tobytes() for x in s["X_train"]}
    assert not any(x.tobytes() in train_rows for x in s["X_test"][:200])
    with pytest.raises(ValueError, match="n_test"):
        tr.mnist_split(n_test=5)


def test_confusion_matrix_golden():
    cm = tr.confusion_matrix([0, 0, 1, 2], [0, 1, 1, 2])
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    with pytest.raises(ValueError, match="equal-length"):
        tr.confusion_matrix([0, 1], [0])
    with pytest.raises(ValueError, match="n_classes"):
        tr.confusion_matrix([0, 3], [0, 1], n_classes=2)


def test_plots_return_axes_and_reject_bad_input():
    import matplotlib

    matplotlib.use("Agg")
    hist = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "train_acc": [0.5, 0.8],
                         "val_loss": [1.1, 0.6], "val_acc": [0.4, 0.7]})
    ax = tr.plot_history(hist)
    assert len(ax.get_lines()) == 2
    ax, cm = tr.plot_confusion([0, 1, 1], [0, 1, 0], labels=["a", "b"], normalize=True)
    assert cm[1].tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match="history"):
        tr.plot_history(pd.DataFrame())


# -- the one loop: fit(model, batches, step, ...) --------------------------------------------------

def test_fit_averages_every_figure_the_step_returns_by_batch_size():
    X, y = _blobs(n=10)
    model = _tiny()
    batches = [(X[:8], y[:8]), (X[8:], y[8:])]
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # no update: the figures are those of the start weights
    hist = tr.fit(model, batches, tr.classification_step, epochs=2, optimiser=opt, progress=False)
    assert list(hist.columns) == ["epoch", "train_loss", "train_acc", "seconds"]
    with torch.no_grad():
        losses = [nn.functional.cross_entropy(model(xb), yb).item() for xb, yb in batches]
    assert hist["train_loss"].iloc[0] == pytest.approx((8 * losses[0] + 2 * losses[1]) / 10, rel=1e-6)
    assert hist["train_loss"].iloc[1] == pytest.approx(hist["train_loss"].iloc[0], rel=1e-6)
    assert not model.training


def test_fit_stops_early_on_the_monitored_figure_and_needs_it():
    X, y = _blobs()
    model = _tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    rising = iter(range(100))
    hist = tr.fit(model, [(X, y)], tr.classification_step, epochs=30, optimiser=opt, patience=3,
                  evaluate=lambda m: {"val_loss": float(next(rising))}, progress=False)
    assert len(hist) == 4  # the first epoch is the best; three more without improvement
    with pytest.raises(ValueError, match="val_loss"):
        tr.fit(_tiny(), [(X, y)], tr.classification_step, epochs=2, optimiser=opt, patience=1, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        tr.fit(_tiny(), [(X, y)], tr.classification_step, epochs=0, optimiser=opt)


def test_fit_seeds_global_draws_and_leaves_the_global_generator_alone():
    """Dropout draws from torch's global generator: inside fit it draws from fit's seed."""
    X, y = _blobs()

    models = [init_weights_(nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16, 2)), 0) for _ in range(3)]
    before = torch.get_rng_state()  # building a module draws from the global generator: build first
    for model, seed in zip(models, (1, 1, 2)):
        tr.fit(model, [(X, y)], tr.classification_step, epochs=3, progress=False, seed=seed,
               optimiser=torch.optim.SGD(model.parameters(), lr=0.1))
    assert torch.equal(before, torch.get_rng_state())
    a, b, c = (m[2].weight for m in models)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_shuffled_batches_cover_every_row_once_per_pass_and_skip_short_batches():
    X = torch.arange(10)
    g = torch.Generator().manual_seed(0)
    batches = tr.ShuffledBatches((X, X * 10), 4, g)
    first = [b for b in batches]
    assert [len(a) for a, _ in first] == [4, 4, 2] and len(batches) == 3
    assert sorted(torch.cat([a for a, _ in first]).tolist()) == list(range(10))
    assert all(torch.equal(a * 10, b) for a, b in first)
    second = torch.cat([a for a, _ in batches])
    assert not torch.equal(second, torch.cat([a for a, _ in first]))  # a fresh order each pass
    assert [len(b[0]) for b in tr.ShuffledBatches((torch.arange(9),), 4, g, min_size=2)] == [4, 4]
    with pytest.raises(ValueError, match="one length"):
        tr.ShuffledBatches((X, X[:3]), 4, g)


def test_batch_norms_are_every_batch_norm_layer_and_nothing_else():
    layers = [nn.BatchNorm1d(2), nn.BatchNorm2d(2), nn.BatchNorm3d(2), nn.SyncBatchNorm(2), nn.LazyBatchNorm2d()]
    assert all(isinstance(m, tr.BATCH_NORMS) for m in layers)
    assert not any(isinstance(m, tr.BATCH_NORMS) for m in (nn.LayerNorm(2), nn.GroupNorm(1, 2), nn.InstanceNorm2d(2)))
