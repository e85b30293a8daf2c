"""Specification of visrec_helpers.vision.generative: quality measures with known answers, the
training program (shapes, history, exact resume), conditional sampling, latent search."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from visrec_helpers.core.errors import CheckpointError
from visrec_helpers.vision import generative as g
from visrec_helpers.vision.models import DigitCNN


def _digits(n=64, seed=0):
    """Tiny synthetic 'digits': a bright bar whose position depends on the class."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    X = rng.integers(0, 30, (n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(y):
        X[i, 4 + 5 * c: 8 + 5 * c, 4:24] = 255
    return X, y.astype(np.int64)


def _tiny(**kw):
    base = dict(latent_dim=8, hidden=16, arch="mlp", batch_size=16, n_grid=4, seed=0, device="cpu")
    base.update(kw)
    return g.GAN(**base)


# -- Frechet distance -------------------------------------------------------

def test_frechet_of_identical_gaussians_is_zero():
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    assert g.gaussian_frechet([1.0, 2.0], cov, [1.0, 2.0], cov) == pytest.approx(0.0, abs=1e-9)


def test_frechet_of_shifted_gaussians_is_squared_shift():
    cov = np.eye(3) * 0.5
    assert g.gaussian_frechet([0, 0, 0], cov, [1, 2, 2], cov) == pytest.approx(9.0, abs=1e-9)


def test_frechet_of_scaled_variance_golden_value():
    # 1-D: (mu1 - mu2)^2 + (sigma1 - sigma2)^2 = 0 + (2 - 1)^2 = 1
    assert g.gaussian_frechet([0.0], [[4.0]], [0.0], [[1.0]]) == pytest.approx(1.0, abs=1e-9)


def test_frechet_handles_singular_covariances():
    cov = np.diag([1.0, 0.0])  # a dead feature, as ReLU features have
    assert g.gaussian_frechet([0, 0], cov, [0, 0], cov) == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_frechet_distance_is_symmetric_and_nonnegative(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(40, 3)), rng.normal(1.0, 2.0, size=(50, 3))
    d_ab, d_ba = g.frechet_distance(a, b), g.frechet_distance(b, a)
    assert d_ab >= 0 and d_ab == pytest.approx(d_ba, rel=1e-6, abs=1e-9)


def test_frechet_distance_of_samples_estimates_the_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20_000, 2))
    assert g.frechet_distance(a, a + [3.0, 4.0]) == pytest.approx(25.0, abs=1e-6)


def test_frechet_rejects_bad_input():
    with pytest.raises(ValueError, match="same d"):
        g.frechet_distance(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        g.frechet_distance(np.zeros((1, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="NaN"):
        g.gaussian_frechet([np.nan], [[1.0]], [0.0], [[1.0]])


# -- coverage, confidence, diversity ----------------------------------------

def test_class_coverage_of_a_known_set():
    assert g.class_coverage(np.array([0, 0, 1, 2]), 10) == pytest.approx(0.3)
    assert g.class_coverage(np.arange(10), 10) == 1.0


def test_class_coverage_min_share_drops_rare_classes():
    pred = np.array([0] * 98 + [1, 2])
    assert g.class_coverage(pred, 10, min_share=0.05) == pytest.approx(0.1)


def test_class_coverage_rejects_bad_ids():
    with pytest.raises(ValueError, match="class ids"):
        g.class_coverage(np.array([0, 12]), 10)
    with pytest.raises(ValueError, match="non-empty"):
        g.class_coverage(np.array([], dtype=int), 10)


def test_mean_confidence_golden_value():
    assert g.mean_confidence([[0.9, 0.1], [0.4, 0.6]]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="NaN"):
        g.mean_confidence([[np.nan, 1.0]])


def test_pixel_diversity_is_zero_for_identical_images_and_one_for_opposites():
    same = np.full((5, 28, 28), 77, np.uint8)
    assert g.pixel_diversity(same) == 0.0
    flip = np.stack([np.zeros((28, 28), np.uint8), np.full((28, 28), 255, np.uint8)])
    assert g.pixel_diversity(flip) == pytest.approx(1.0)


def test_sample_quality_of_real_against_itself():
    X, _ = _digits(60)
    clf = DigitCNN().eval()
    q = g.sample_quality(X, clf, X)
    assert q["frechet"] == pytest.approx(0.0, abs=1e-6)
    assert 0.0 < q["confidence"] <= 1.0 and 0.0 < q["coverage"] <= 1.0


# -- conversions ---------------------------------------------------------------

def test_gan_range_round_trip():
    X, _ = _digits(8)
    x = g.to_gan_range(X)
    assert x.shape == (8, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert np.array_equal(g.from_gan_range(x), X)


def test_to_gan_range_rejects_wrong_shape_and_dtype():
    with pytest.raises(ValueError, match=r"\(n, 28, 28\)"):
        g.to_gan_range(np.zeros((4, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        g.to_gan_range(np.zeros((4, 28, 28), np.float32))


# -- the training program --------------------------------------------------------

@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_fit_records_history_and_grids(arch):
    X, _ = _digits(64)
    gan = _tiny(arch=arch).fit(X, epochs=2, progress=False)
    h = gan.history
    assert list(h["epoch"]) == [1, 2] and gan.epochs_done_ == 2
    assert {"d_loss", "g_loss", "d_real", "d_fake", "seconds"} <= set(h.columns)
    assert np.isfinite(h[["d_loss", "g_loss"]].to_numpy()).all()
    assert len(gan.grids_) == 2 and gan.grids_[0].shape == (4, 28, 28) and gan.grids_[0].dtype == np.uint8
    s = gan.sample(5, seed=3)
    assert s.shape == (5, 28, 28) and s.dtype == np.uint8
    assert np.array_equal(s, gan.sample(5, seed=3))


def test_training_moves_the_generator():
    X, _ = _digits(64)
    gan = _tiny()
    gan.reset()
    before = gan.sample(8, seed=1)
    gan.fit(X, epochs=2, progress=False)
    assert np.abs(gan.sample(8, seed=1).astype(int) - before).mean() > 1.0


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    X, _ = _digits(64)
    straight = _tiny().fit(X, epochs=4, progress=False)
    ckpt = tmp_path / "gan.pt"
    _tiny().fit(X, epochs=2, checkpoint=ckpt, progress=False)  # "interrupted" after 2 epochs
    resumed = _tiny().fit(X, epochs=4, checkpoint=ckpt, resume=True, progress=False)
    assert resumed.epochs_done_ == 4 and len(resumed.history_) == 4
    for a, b in zip(straight.generator_.state_dict().values(), resumed.generator_.state_dict().values()):
        assert torch.equal(a, b)
    assert np.array_equal(straight.sample(6), resumed.sample(6))
    assert np.allclose(straight.history["g_loss"], resumed.history["g_loss"])


def test_resume_rejects_a_checkpoint_of_other_hyper_parameters(tmp_path):
    X, _ = _digits(64)
    ckpt = tmp_path / "gan.pt"
    _tiny().fit(X, epochs=1, checkpoint=ckpt, progress=False)
    with pytest.raises(CheckpointError, match="hyper-parameters"):
        _tiny(lr=1e-3).fit(X, epochs=2, checkpoint=ckpt, resume=True, progress=False)


def test_load_rejects_a_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        _tiny().load(bad)


def test_fit_rejects_bad_input():
    X, y = _digits(64)
    with pytest.raises(ValueError, match="batch_size"):
        _tiny().fit(X[:4], epochs=1, progress=False)
    with pytest.raises(ValueError, match="needs labels"):
        _tiny(n_classes=4).fit(X, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.3"):
        _tiny(n_classes=4).fit(X, y + 1, epochs=1, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        _tiny().fit(X, epochs=0, progress=False)
    with pytest.raises(ValueError, match="checkpoint"):
        _tiny().fit(X, epochs=1, resume=True, progress=False)
    with pytest.raises(RuntimeError, match="not fitted"):
        _tiny().sample(3)


def test_conditional_gan_samples_requested_labels_and_class_accuracy_shape():
    X, y = _digits(64)
    gan = _tiny(n_classes=4).fit(X, y, epochs=1, progress=False)
    assert gan.sample(8, labels=np.array([0, 1, 2, 3] * 2)).shape == (8, 28, 28)
    with pytest.raises(ValueError, match="labels"):
        gan.sample(3, labels=np.array([0, 9, 1]))
    clf = DigitCNN(n_classes=4).eval()
    acc = g.class_accuracy(gan, clf, n_per_class=5)
    assert list(acc["class"]) == [0, 1, 2, 3] and acc["accuracy"].between(0, 1).all()


def test_train_gan_is_the_estimator_in_one_call():
    X, _ = _digits(64)
    a = g.train_gan(X, epochs=1, progress=False, latent_dim=8, hidden=16, arch="mlp", batch_size=16, n_grid=4)
    b = _tiny().fit(X, epochs=1, progress=False)
    assert np.array_equal(a.sample(4), b.sample(4))


# -- mode collapse ------------------------------------------------------------------

def test_collapse_generator_leaves_the_original_untouched():
    X, _ = _digits(64)
    gan = _tiny().fit(X, epochs=1, progress=False)
    before = gan.sample(6)
    collapsed = g.collapse_generator(gan, steps=5)
    assert np.array_equal(gan.sample(6), before)
    assert not np.array_equal(collapsed.sample(6), before)
    assert all(p.requires_grad for p in gan.discriminator_.parameters())


# -- user profile and latent search -------------------------------------------------

def test_preference_profile_is_the_normalised_weighted_mean():
    e = np.array([[2.0, 0.0], [0.0, 1.0]])
    assert np.allclose(g.preference_profile(e), [np.sqrt(0.5), np.sqrt(0.5)])
    assert np.allclose(g.preference_profile(e, weights=[1.0, 0.0]), [1.0, 0.0])


def test_preference_profile_rejects_bad_input():
    with pytest.raises(ValueError, match="non-empty"):
        g.preference_profile(np.zeros((0, 4)))
    with pytest.raises(ValueError, match="NaN"):
        g.preference_profile(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="zero length"):
        g.preference_profile(np.array([[1.0, 0.0], [-1.0, 0.0]]))


def test_latent_search_finds_images_at_least_as_liked_as_random_ones():
    X, _ = _digits(64)
    from visrec_helpers.core.rng import init_weights_

    gan = _tiny().fit(X, epochs=1, progress=False)
    profile = np.random.default_rng(0).normal(size=16)
    for seed in range(3):  # the encoder's weights from their own seed, not the global generator's state
        enc = init_weights_(DigitCNN(embed_dim=16), seed).eval()
        res = g.latent_search(gan, enc, profile, k=4, n_candidates=64, steps=5)
        assert res.images.shape == (4, 28, 28) and res.scores.shape == (4,)
        assert np.all(np.diff(res.scores) <= 1e-6)  # best first
        assert res.scores.min() >= np.median(res.random_scores) - 1e-6, seed
        assert np.allclose(np.linalg.norm(res.z, axis=1), np.sqrt(8), atol=1e-4)


def test_latent_search_rejects_bad_input():
    X, _ = _digits(64)
    gan = _tiny().fit(X, epochs=1, progress=False)
    enc = DigitCNN(embed_dim=16).eval()
    with pytest.raises(ValueError, match="between 1 and n_candidates"):
        g.latent_search(gan, enc, np.ones(16), k=100, n_candidates=10)
    with pytest.raises(ValueError, match="length 5"):
        g.latent_search(gan, enc, np.ones(5), k=2, n_candidates=10)


def test_profile_scores_are_cosines_to_the_profile_and_inputs_are_checked():
    X, _ = _digits(64)
    gan = _tiny().fit(X, epochs=1, progress=False)
    enc = DigitCNN(embed_dim=16).eval()
    profile = np.random.default_rng(1).normal(size=16)
    prof, center = g.latent_search_inputs(gan, enc, profile, 2, 10, None)
    assert center is None and torch.allclose(prof.norm(), torch.tensor(1.0)) and prof.device == gan.device_
    z = torch.randn(5, gan.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = g.profile_scores(gan, enc, z, prof)
        e = F.normalize(enc.embed(gan.generate(z)), dim=1)
    assert torch.allclose(got, e @ prof, atol=1e-6) and got.abs().max() <= 1 + 1e-6
    with pytest.raises(ValueError, match="center has shape"):
        g.latent_search_inputs(gan, enc, profile, 2, 10, np.zeros(3))
    assert isinstance(gan.opt_g_, torch.optim.Adam) and isinstance(gan.opt_d_, torch.optim.Adam)


def test_nearest_items_finds_each_reference_image_itself():
    X, _ = _digits(40)
    assert np.array_equal(g.nearest_items(X[:8], X)[:, 0], np.arange(8))
    assert g.nearest_items(X[:3], X, k=4).shape == (3, 4)
    with pytest.raises(ValueError, match="k=99"):
        g.nearest_items(X[:2], X[:10], k=99)
    with pytest.raises(ValueError, match="one size"):
        g.nearest_items(X[:2, :20], X)


def test_utility_percentile_golden_values():
    u = np.array([0.1, 0.5, 0.3, 0.9, 0.7])  # ranks 0, 2, 1, 4, 3 -> percentiles 0, .5, .25, 1, .75
    assert g.utility_percentile(u, [3]) == 1.0
    assert g.utility_percentile(u, [0]) == 0.0
    assert g.utility_percentile(u, np.array([[1], [2]])) == pytest.approx(0.375)
    assert g.utility_percentile(u, np.arange(5)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="item ids"):
        g.utility_percentile(u, [5])


def test_centred_profile_and_search_check_the_centre_shape():
    with pytest.raises(ValueError, match="center has shape"):
        g.preference_profile(np.eye(3), center=np.zeros(2))
    e = np.array([[1.0, 0.0], [0.8, 0.6]])
    assert np.allclose(g.preference_profile(e, center=[0.5, 0.0]), g.preference_profile(e - [0.5, 0.0]))


def test_load_training_images_from_a_folder(tmp_path):
    from PIL import Image

    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.fromarray(np.full((40, 40, 3), 50 * i, np.uint8)).save(tmp_path / label / f"{i}.png")
    X, y, names = g.load_training_images(tmp_path)
    assert X.shape == (6, 28, 28) and X.dtype == np.uint8
    assert names == ["a", "b"] and sorted(y.tolist()) == [0, 0, 0, 1, 1, 1]


def test_keep_all_writes_one_checkpoint_per_epoch_and_resuming_from_one_matches(tmp_path):
    import shutil

    X, _ = _digits(64)
    ckpt = tmp_path / "run.pt"
    straight = _tiny().fit(X, epochs=3, checkpoint=ckpt, keep_all=True, progress=False)
    copies = [g.epoch_checkpoint(ckpt, e) for e in (1, 2, 3)]
    assert all(p.exists() for p in copies) and copies[0].name == "run.epoch001.pt"
    restart = tmp_path / "restart.pt"
    shutil.copyfile(copies[0], restart)
    resumed = _tiny().fit(X, epochs=3, checkpoint=restart, resume=True, progress=False)
    assert np.array_equal(straight.sample(5), resumed.sample(5))


def test_conditional_discriminator_has_a_class_head():
    D = g.Discriminator(hidden=16, arch="conv", n_classes=10)
    logit, cls = D(torch.zeros(3, 1, 28, 28))
    assert logit.shape == (3,) and cls.shape == (3, 10)
    assert g.Discriminator(hidden=16, arch="mlp")(torch.zeros(2, 1, 28, 28))[1] is None


def test_resume_in_memory_continues_like_an_uninterrupted_run():
    X, _ = _digits(64)
    straight = _tiny().fit(X, epochs=2, progress=False)
    stepwise = _tiny().fit(X, epochs=1, progress=False).fit(X, epochs=2, resume=True, progress=False)
    assert np.array_equal(straight.sample(6), stepwise.sample(6))


def test_weights_only_restart_diverges_from_a_true_resume(tmp_path):
    X, _ = _digits(64)
    ckpt = tmp_path / "half.pt"
    straight = _tiny().fit(X, epochs=2, progress=False)
    _tiny().fit(X, epochs=1, checkpoint=ckpt, progress=False)
    naive = _tiny().load(ckpt, restore_state=False).fit(X, epochs=2, resume=True, progress=False)
    assert naive.epochs_done_ == 2
    assert not np.array_equal(straight.sample(6), naive.sample(6))


def test_from_checkpoint_rebuilds_the_hyper_parameters(tmp_path):
    X, y = _digits(64)
    ckpt = tmp_path / "c.pt"
    gan = _tiny(n_classes=4).fit(X, y, epochs=1, checkpoint=ckpt, progress=False)
    back = g.GAN.from_checkpoint(ckpt, device="cpu")
    assert back.n_classes == 4 and back.hidden == 16
    assert np.array_equal(back.sample(4), gan.sample(4))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a GAN checkpoint"):
        g.GAN.from_checkpoint(bad)


# -- the steps shown in t05: D step, G step, moving average, cached GAN ----------

def _nets(n_classes=0):
    G = g.Generator(latent_dim=8, hidden=16, arch="mlp", n_classes=n_classes)
    D = g.Discriminator(hidden=16, arch="mlp", n_classes=n_classes)
    return G, D, torch.optim.Adam(G.parameters(), lr=1e-2), torch.optim.Adam(D.parameters(), lr=1e-2)


def _copy(m):
    return [p.detach().clone() for p in m.parameters()]


def test_d_step_moves_only_the_discriminator():
    G, D, _, opt_d = _nets()
    real = g.to_gan_range(_digits(16)[0])
    g_before, d_before = _copy(G), _copy(D)
    loss, p_real, p_fake = g.d_step(D, opt_d, real, G(torch.randn(16, 8)))
    assert all(torch.equal(a, b) for a, b in zip(g_before, G.parameters())), "the fake is detached"
    assert any(not torch.equal(a, b) for a, b in zip(d_before, D.parameters()))
    assert loss > 0 and 0 <= p_real <= 1 and 0 <= p_fake <= 1


def test_g_step_moves_only_the_generator():
    G, D, opt_g, _ = _nets(n_classes=4)
    y = torch.arange(16) % 4
    g_before, d_before = _copy(G), _copy(D)
    g.g_step(D, opt_g, G(torch.randn(16, 8), y), y)
    assert all(torch.equal(a, b) for a, b in zip(d_before, D.parameters())), "D's optimiser does not step"
    assert any(not torch.equal(a, b) for a, b in zip(g_before, G.parameters()))


def test_ema_update_golden_values_and_copies_buffers():
    a, b = torch.nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2)
    with torch.no_grad():
        a.weight.fill_(0.0)
        b.weight.fill_(1.0)
        b.running_mean.fill_(3.0)
    g.ema_update(a, b, decay=0.9)
    assert torch.allclose(a.weight, torch.full((2,), 0.1)), "0.9 * 0 + 0.1 * 1"
    assert torch.equal(a.running_mean, b.running_mean), "batch-norm statistics are copied"
    assert torch.equal(b.weight, torch.ones(2)), "the source is unchanged"


def test_fit_equals_the_shown_epoch_function():
    X, y = _digits(64)
    gan = _tiny(n_classes=4).fit(X, y, epochs=1, progress=False)
    ref = _tiny(n_classes=4).reset()
    g.gan_epoch(ref.generator_, ref.discriminator_, ref.opt_g_, ref.opt_d_, g.to_gan_range(X), torch.from_numpy(y),
                16, ref._rng, 4, 0.9)
    for a, b in zip(gan.generator_.state_dict().values(), ref.generator_.state_dict().values()):
        assert torch.equal(a, b)


def test_moving_average_generator_is_sampled_checkpointed_and_resumed(tmp_path):
    X, _ = _digits(64)
    straight = _tiny(ema_decay=0.9).fit(X, epochs=3, progress=False)
    assert straight.sampler_ is straight.generator_ema_
    w_ema = next(straight.generator_ema_.parameters())
    assert not torch.equal(w_ema, next(straight.generator_.parameters())), "the average lags the generator"
    ckpt = tmp_path / "gan.pt"
    _tiny(ema_decay=0.9).fit(X, epochs=1, checkpoint=ckpt, progress=False)
    resumed = _tiny(ema_decay=0.9).fit(X, epochs=3, checkpoint=ckpt, resume=True, progress=False)
    for a, b in zip(straight.generator_ema_.state_dict().values(), resumed.generator_ema_.state_dict().values()):
        assert torch.equal(a, b)
    assert np.array_equal(straight.sample(6), resumed.sample(6))
    with pytest.raises(ValueError, match="ema_decay"):
        _tiny(ema_decay=1.0).fit(X, epochs=1, progress=False)


def test_on_epoch_figures_join_the_history():
    X, _ = _digits(64)
    gan = _tiny().fit(X, epochs=2, progress=False, on_epoch=lambda gan, epoch: {"twice": 2 * epoch})
    assert list(gan.history["twice"]) == [2, 4]


def test_cached_gan_trains_once_then_loads_the_same_model(tmp_path, monkeypatch):
    monkeypatch.setenv("VISREC_CACHE", str(tmp_path))
    X, y = _digits(64)
    calls = []

    def measure(gan, epoch):
        calls.append(epoch)
        return {"epoch_seen": epoch}

    hyper = dict(latent_dim=8, hidden=16, arch="mlp", batch_size=16, n_grid=4, seed=0, device="cpu",
                 n_classes=4, ema_decay=0.9)
    first = g.cached_gan(X, y, epochs=2, data_key="synthetic", on_epoch=measure, progress=False, **hyper)
    second = g.cached_gan(X, y, epochs=2, data_key="synthetic", on_epoch=measure, progress=False, **hyper)
    assert calls == [1, 2], "the second call loads instead of training"
    assert np.array_equal(first.sample(8, seed=3), second.sample(8, seed=3))
    assert list(second.history["epoch_seen"]) == [1, 2] and len(second.grids_) == 2
    assert np.array_equal(first.grids_[-1], second.grids_[-1])
    with pytest.raises(ValueError, match="data_key"):
        g.cached_gan(X, y, epochs=1, data_key="", **hyper)


# -- mode-seeking term, conditional latent search --------------------------------

def test_mode_seeking_adds_weight_over_image_to_noise_distance_ratio():
    G, D, opt_g, _ = _nets(n_classes=4)
    y = torch.arange(8) % 4
    y[4:] = y[:4]
    z = torch.randn(8, 8, generator=torch.Generator().manual_seed(0))
    fake = G(z, y)
    with torch.no_grad():
        ratio = ((fake[:4] - fake[4:]).abs().mean((1, 2, 3)) / (z[:4] - z[4:]).abs().mean(1)).mean().item()
    plain = g.g_step(D, torch.optim.SGD(G.parameters(), lr=0.0), G(z, y), y)
    with_term = g.g_step(D, torch.optim.SGD(G.parameters(), lr=0.0), G(z, y), y, z, mode_seeking=0.5)
    assert with_term == pytest.approx(plain + 0.5 / (ratio + 1e-5), rel=1e-5)


def test_mode_seeking_pairs_share_classes_and_enters_the_config_only_when_on():
    X, y = _digits(64)
    assert "mode_seeking" not in _tiny(n_classes=4)._config()
    gan = _tiny(n_classes=4, mode_seeking=0.3).fit(X, y, epochs=1, progress=False)
    assert gan._config()["mode_seeking"] == 0.3
    plain = _tiny(n_classes=4).fit(X, y, epochs=1, progress=False)
    assert not np.array_equal(gan.sample(4), plain.sample(4))


def test_latent_search_on_a_conditional_gan_keeps_each_candidate_class():
    X, y = _digits(64)
    gan = _tiny(n_classes=4).fit(X, y, epochs=1, progress=False)
    enc = DigitCNN(embed_dim=16).eval()
    grads = [None if p.grad is None else p.grad.clone() for p in gan.generator_.parameters()]
    res = g.latent_search(gan, enc, np.random.default_rng(0).normal(size=16), k=3, n_candidates=40, steps=3)
    assert res.labels.shape == (3,) and set(res.labels) <= {0, 1, 2, 3}
    again = gan.sample(3, labels=res.labels)  # the images are those of the returned z with these classes
    with torch.no_grad():
        redrawn = g.to_uint8(gan.generate(torch.from_numpy(res.z), torch.from_numpy(res.labels))[:, 0])
    assert np.array_equal(redrawn, res.images) and again.shape == (3, 28, 28)
    after = [p.grad for p in gan.generator_.parameters()]
    assert all((a is None and b is None) or torch.equal(a, b) for a, b in zip(grads, after)), "only z gets gradients"


def test_class_weight_scales_the_generator_class_loss():
    G, D, _, _ = _nets(n_classes=4)
    y = torch.arange(8) % 4
    z = torch.randn(8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logit, classes = D(G(z, y))
        adv = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit)).item()
        ce = F.cross_entropy(classes, y).item()
    loss = g.g_step(D, torch.optim.SGD(G.parameters(), lr=0.0), G(z, y), y, class_weight=2.5)
    assert loss == pytest.approx(adv + 2.5 * ce, rel=1e-5)
    assert "class_weight" not in _tiny(n_classes=4)._config()
    assert _tiny(n_classes=4, class_weight=2.0)._config()["class_weight"] == 2.0
