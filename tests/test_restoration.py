"""Specification of visrec_helpers.vision.restoration on small synthetic images with known answers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visrec_helpers.vision import restoration as R


def smooth_image(n=48, seed=0):
    """A smooth random grayscale image in [0.2, 0.8] (band-limited, so deconvolution is well posed)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.random((n, n)), 3)
    img = (img - img.min()) / (img.max() - img.min())
    return 0.2 + 0.6 * img


# --- input checking -------------------------------------------------------

def test_uint8_is_scaled_to_unit_range():
    out = R.as_float_image(np.array([[0, 255]], dtype=np.uint8))
    assert out.dtype == np.float64 and out.tolist() == [[0.0, 1.0]]


@pytest.mark.parametrize("bad, match", [
    (np.zeros((0, 4)), "empty"),
    (np.zeros((4, 4, 2)), "shape"),
    (np.zeros((2, 4, 4, 3)), "shape"),
    (np.full((4, 4), np.nan), "NaN"),
    (np.full((4, 4), 2.0), r"\[0, 1\]"),
])
def test_bad_images_raise_value_error(bad, match):
    with pytest.raises(ValueError, match=match):
        R.as_float_image(bad)


def test_int16_image_is_refused_with_its_dtype():
    with pytest.raises(TypeError, match="int16"):
        R.as_float_image(np.zeros((4, 4), dtype=np.int16))


@pytest.mark.parametrize("psf, match", [
    (np.ones((2, 3)), "odd"), (-np.ones((3, 3)), "negative"), (np.zeros((3, 3)), "positive"),
    (np.ones(3), "2-D"),
])
def test_bad_psf_raises(psf, match):
    with pytest.raises(ValueError, match=match):
        R.check_psf(psf)


# --- degradations ---------------------------------------------------------

@pytest.mark.parametrize("psf", [R.motion_psf(9, 30), R.motion_psf(4, 0), R.defocus_psf(2.5), R.gaussian_psf(1.2)])
def test_psfs_are_normalised_odd_and_non_negative(psf):
    assert psf.shape[0] % 2 == 1 and psf.shape[1] % 2 == 1
    assert (psf >= 0).all() and psf.sum() == pytest.approx(1.0)


def test_horizontal_motion_psf_is_a_centred_row():
    psf = R.motion_psf(5, 0)
    assert psf.shape == (5, 5)
    assert psf[2].sum() == pytest.approx(1.0)


def test_defocus_psf_is_round():
    psf = R.defocus_psf(3)
    np.testing.assert_allclose(psf, psf.T, atol=1e-12)
    np.testing.assert_allclose(psf, psf[::-1], atol=1e-12)
    assert psf[0, 0] == 0.0 and psf[3, 3] == psf.max()


def test_blur_keeps_mean_brightness_of_a_flat_image():
    out = R.blur(np.full((20, 20), 0.4), R.motion_psf(7, 45))
    np.testing.assert_allclose(out, 0.4, atol=1e-12)


def test_gaussian_noise_has_requested_sigma():
    out = R.add_gaussian_noise(np.full((200, 200), 0.5), 0.05, seed=1)
    assert np.std(out - 0.5) == pytest.approx(0.05, rel=0.05)


def test_salt_and_pepper_hits_requested_share():
    out = R.add_salt_and_pepper(np.full((200, 200, 3), 0.5), 0.1, seed=2)
    hit = (out != 0.5).any(axis=2)
    assert hit.mean() == pytest.approx(0.1, abs=0.01)
    assert set(np.unique(out[hit])) <= {0.0, 1.0}


def test_noise_is_reproducible_with_a_seed():
    img = smooth_image(16)
    np.testing.assert_array_equal(R.add_gaussian_noise(img, 0.1, 3), R.add_gaussian_noise(img, 0.1, 3))


# --- denoisers and deconvolution -------------------------------------------

def test_median_removes_isolated_impulses_exactly():
    img = np.full((9, 9), 0.5)
    noisy = img.copy()
    noisy[2, 2], noisy[6, 5] = 1.0, 0.0
    np.testing.assert_allclose(R.median_denoise(noisy, 3), img)


def test_median_rejects_even_window():
    with pytest.raises(ValueError, match="odd"):
        R.median_denoise(np.zeros((5, 5)), 4)


def test_noise_estimate_is_close_to_truth():
    noisy = R.add_gaussian_noise(smooth_image(96), 0.05, seed=4)
    assert R.estimate_noise_sigma(noisy) == pytest.approx(0.05, rel=0.15)


@pytest.mark.parametrize("denoise", [R.median_denoise, R.gaussian_denoise, R.bilateral_denoise, R.nl_means_denoise])
def test_denoisers_raise_psnr_on_gaussian_noise(denoise):
    clean = smooth_image(48)
    noisy = R.add_gaussian_noise(clean, 0.08, seed=5)
    assert R.psnr(clean, denoise(noisy)) > R.psnr(clean, noisy) + 1.0


def test_wiener_deconvolution_recovers_a_blurred_delta():
    delta = np.zeros((33, 33))
    delta[16, 16] = 1.0
    psf = R.defocus_psf(2)
    blurred = R.blur(delta, psf, mode="wrap")
    restored = R.wiener_deconvolve(blurred, psf, balance=1e-4)
    assert np.unravel_index(restored.argmax(), restored.shape) == (16, 16)
    assert restored[16, 16] > 5 * blurred[16, 16]


def test_richardson_lucy_recovers_a_blurred_delta():
    delta = np.zeros((33, 33))
    delta[16, 16] = 1.0
    psf = R.motion_psf(5, 0)
    restored = R.richardson_lucy_deconvolve(R.blur(delta, psf, mode="wrap"), psf, num_iter=200)
    assert np.unravel_index(restored.argmax(), restored.shape) == (16, 16)
    assert restored[16, 16] > 0.5


@pytest.mark.parametrize("deconvolve", [R.wiener_deconvolve, R.unsupervised_wiener_deconvolve,
                                        R.richardson_lucy_deconvolve])
def test_deconvolution_beats_the_blurred_input(deconvolve):
    clean = np.full((48, 48), 0.2)
    clean[8:20, 10:30], clean[26:40, 6:18], clean[24:44, 30:42] = 0.8, 0.6, 0.9  # sharp edges
    psf = R.gaussian_psf(1.5)
    blurred = R.blur(clean, psf, noise_sigma=0.002, seed=1)
    assert R.psnr(clean, deconvolve(blurred, psf)) > R.psnr(clean, blurred) + 1.0


def test_colour_images_keep_their_shape_through_every_method():
    img = np.stack([smooth_image(24, s) for s in range(3)], axis=-1)
    psf = R.defocus_psf(1.5)
    for name, method in R.restoration_methods(rl_iter=3).items():
        out = method(img, psf)
        assert out.shape == img.shape, name
        assert out.min() >= 0 and out.max() <= 1, name


def test_unsharp_mask_keeps_flat_regions_and_naive_kernel_does_not():
    flat = np.full((16, 16), 0.05)
    np.testing.assert_allclose(R.unsharp_mask(flat), 0.05, atol=1e-9)
    np.testing.assert_allclose(R.apply_kernel(flat, R.NAIVE_SHARPEN_KERNEL), 0.65, atol=1e-9)  # 13 x 0.05
    np.testing.assert_allclose(R.apply_kernel(flat, R.NAIVE_SHARPEN_KERNEL, normalise=True), 0.05, atol=1e-9)


# --- quality figures --------------------------------------------------------

def test_psnr_golden_value():
    a = np.zeros((4, 4))
    b = np.full((4, 4), 0.1)  # MSE = 0.01 -> 20 dB
    assert R.psnr(a, b) == pytest.approx(20.0)
    assert R.psnr(a, a) == float("inf")


def test_ssim_is_one_for_identical_images_and_lower_for_noise():
    img = smooth_image(32)
    assert R.ssim(img, img) == pytest.approx(1.0)
    assert R.ssim(img, R.add_gaussian_noise(img, 0.2)) < 0.8


def test_quality_shape_mismatch_raises():
    with pytest.raises(ValueError, match="different shapes"):
        R.psnr(np.zeros((8, 8)), np.zeros((8, 9)))


@settings(max_examples=20, deadline=None)
@given(st.floats(0.01, 0.3), st.integers(0, 1000))
def test_more_noise_never_raises_psnr(sigma, seed):
    img = np.full((24, 24), 0.5)
    assert R.psnr(img, R.add_gaussian_noise(img, sigma, seed)) >= R.psnr(img, R.add_gaussian_noise(img, sigma * 2, seed))


def test_benchmark_table_has_every_pair_and_a_baseline():
    photos = {"a": (np.stack([smooth_image(24, s) for s in range(3)], -1) * 255).astype(np.uint8)}
    table, examples = R.restoration_benchmark(photos, methods={"median": R.restoration_methods()["median"]},
                                              progress=False)
    assert set(table["degradation"]) == set(R.degradations())
    assert set(table["method"]) == {"degraded_input", "median"}
    assert len(table) == 8
    wide = R.summarise_benchmark(table)
    assert list(wide.index) == ["degraded_input", "median"]
    with pytest.raises(ValueError, match="empty"):
        R.restoration_benchmark({})


def test_noisy_digits_checks_dtype():
    with pytest.raises(TypeError, match="uint8"):
        R.noisy_digits(np.zeros((2, 8, 8)), 0.1)


def test_noise_augment_keeps_range_and_shape():
    import torch

    aug = R.gaussian_noise_augment(0.5, p=1.0)
    x = torch.full((8, 1, 6, 6), 0.5)
    out = aug(x)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert (out != x).any()


# --- the digit classifier pieces (on a tiny fake split, cache in a temp folder) -----------

def fake_split(n_train=320, n_test=20):
    def make(n):
        y = np.arange(n) % 10
        X = np.zeros((n, 28, 28), np.uint8)
        for i, c in enumerate(y):  # class c = a bright bar in row band c
            X[i, 2 + 2 * c : 4 + 2 * c, 4:24] = 255
        return X, y.astype(np.int64)

    Xtr, ytr = make(n_train)
    Xte, yte = make(n_test)
    return {"X_train": Xtr, "y_train": ytr, "X_test": Xte, "y_test": yte}


def test_noise_augmented_classifier_learns_trains_once_and_reloads(tmp_path, monkeypatch):
    monkeypatch.setenv("VISREC_CACHE", str(tmp_path))
    monkeypatch.setattr(R, "digit_split", fake_split)
    m1 = R.noise_augmented_classifier(0.3, n_train=320, epochs=6, progress=False, device="cpu")
    assert list(tmp_path.glob("models/q02_digit_cnn-*.pt"))
    m2 = R.noise_augmented_classifier(0.3, n_train=320, epochs=6, progress=False, device="cpu")
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch_equal(v1, v2), k
    split = fake_split()
    assert R.accuracy(m1, split["X_test"], split["y_test"], device="cpu") >= 0.8
    with pytest.raises(ValueError, match="n_train"):
        R.noise_augmented_classifier(0.0, n_train=5, progress=False)


def torch_equal(a, b):
    import torch

    return torch.equal(a, b)


def test_denoise_digits_removes_impulses_and_checks_method():
    d = np.zeros((2, 9, 9), np.uint8)
    d[:, 4, 4] = 255
    assert R.denoise_digits(d, "median").max() == 0
    with pytest.raises(ValueError, match="unknown method"):
        R.denoise_digits(d, "wavelet")


def test_accuracy_checks_lengths():
    with pytest.raises(ValueError, match="labels"):
        R.accuracy(None, np.zeros((3, 28, 28), np.uint8), np.zeros(2))


def test_resized_photos_are_square_uint8():
    out = R.resized_photos(["coins"], size=32)
    assert out["coins"].shape == (32, 32, 3) and out["coins"].dtype == np.uint8
    with pytest.raises(ValueError, match="size"):
        R.resized_photos(["coins"], size=4)


def test_quality_table_scores_each_named_image():
    ref = smooth_image(16)
    table = R.quality_table(ref, {"same": ref, "noisy": R.add_gaussian_noise(ref, 0.1)})
    assert list(table["name"]) == ["same", "noisy"]
    assert table["psnr"].iloc[0] == float("inf") and table["ssim"].iloc[0] == pytest.approx(1.0)
    assert table["psnr"].iloc[1] < 25
    with pytest.raises(ValueError, match="empty"):
        R.quality_table(ref, {})


def test_to_uint8_rounds_and_keeps_uint8():
    np.testing.assert_array_equal(R.to_uint8(np.array([[0.0, 0.5, 1.0]])), [[0, 128, 255]])
    img = np.array([[3, 250]], np.uint8)
    np.testing.assert_array_equal(R.to_uint8(img), img)


def test_wiener_filter_inverts_a_circular_blur_whose_response_has_no_zeros():
    rng = np.random.default_rng(0)
    x = rng.random((24, 30))
    psf = R.gaussian_psf(0.7)
    blurred = R.blur(x, psf, mode="wrap")
    np.testing.assert_allclose(R.wiener_filter(blurred, psf, 1e-12), x, atol=1e-6)


def test_wiener_filter_with_a_large_balance_shrinks_towards_zero():
    x = np.full((16, 16), 0.5)
    psf = R.gaussian_psf(1.0)
    # flat image: only the zero frequency, where H = 1, so the gain is 1 / (1 + K)
    np.testing.assert_allclose(R.wiener_filter(x, psf, 1.0), 0.25, atol=1e-12)


def test_train_noise_augmented_is_reproducible_and_lowers_the_loss():
    import torch

    from visrec_helpers.core.rng import init_weights_

    X = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = (X.mean((1, 2, 3)) > 0.5).long()

    def run():
        model = init_weights_(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2)), 0)
        return R.train_noise_augmented(model, X, y, max_sigma=0.3, epochs=8, batch_size=16, lr=0.02, seed=1)

    h1, h2 = run(), run()
    assert h1 == h2 and len(h1) == 8 and h1[-1] < h1[0]


def test_train_noise_augmented_equals_the_hand_written_loop():
    """Through training.fit and noise_augmented_step, the weights of the plain loop it replaced:
    one generator for the batch order and the noise, Adam, one-cycle per batch."""
    import torch
    import torch.nn.functional as F

    from visrec_helpers.core.rng import init_weights_

    X = torch.rand(70, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = (X.mean((1, 2, 3)) > 0.5).long()
    got, want = (init_weights_(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2)), 0) for _ in "ab")
    history = R.train_noise_augmented(got, X, y, max_sigma=0.3, epochs=3, batch_size=16, lr=0.02, seed=1)
    gen = torch.Generator().manual_seed(1)
    opt = torch.optim.Adam(want.parameters(), lr=0.02, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.02, total_steps=3 * 5)
    losses = []
    for _ in range(3):
        total = 0.0
        for idx in torch.randperm(len(X), generator=gen).split(16):
            xb = X[idx]
            sigma = torch.rand(len(xb), 1, 1, 1, generator=gen) * 0.3
            on = (torch.rand(len(xb), 1, 1, 1, generator=gen) < 0.5).float()
            xb = (xb + torch.randn(xb.shape, generator=gen) * sigma * on).clamp(0, 1)
            loss = F.cross_entropy(want(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        losses.append(total / len(X))
    assert all(torch.equal(p, q) for p, q in zip(got.parameters(), want.parameters()))
    assert history == losses


def test_background_level_reads_the_frame_and_subtract_background_restores_black():
    img = np.full((2, 28, 28), 40, np.uint8)
    img[:, 10:18, 10:18] = 240
    np.testing.assert_allclose(R.background_level(img), 40 / 255)
    out = R.subtract_background(img)
    assert out[:, 0, 0].tolist() == [0, 0] and out[0, 12, 12] == round(255 * 200 / 215)
    with pytest.raises(ValueError, match="border"):
        R.background_level(img, border=20)
