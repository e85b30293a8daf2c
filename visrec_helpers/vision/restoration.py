"""Image restoration: degradations (noise, blur), denoisers, deconvolution, sharpening,
quality figures (PSNR/SSIM), and a digit classifier for measuring how noise hurts
recognition and how noise augmentation helps.

Conventions for every function here:

- An *image* is a numpy array of shape ``(H, W)`` (grayscale) or ``(H, W, 3)`` (RGB).
  ``uint8`` images are read as 0..255; float images must already lie in [0, 1].
- Every function returns ``float64`` images in [0, 1] (use ``to_uint8`` to display or
  save them), so results of different methods compare on one scale.
- A *PSF* (point-spread function) is a 2-D ``float64`` kernel with odd sides, non-negative,
  summing to 1: blurring with it keeps the mean brightness.

Wrong shapes, dtypes, NaNs, values out of range and empty images raise ``ValueError``
(or ``TypeError`` for a wrong dtype) naming the argument and the problem.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from visrec_helpers.core.arrays import to_uint8  # noqa: F401 - part of this module's API
from visrec_helpers.data import as_float_image  # noqa: F401 - part of this module's API
from visrec_helpers.vision.training import (
    ShuffledBatches,
    accuracy,  # noqa: F401 - part of this module's API
    fit,
)

# ---------------------------------------------------------------------------
# Checking images
# ---------------------------------------------------------------------------


def check_psf(psf, name: str = "psf") -> np.ndarray:
    """Validate a PSF: 2-D, odd sides, finite, non-negative, positive sum; returned normalised to sum 1."""
    k = np.asarray(psf, dtype=np.float64)
    if k.ndim != 2 or k.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D kernel, got shape {k.shape}")
    if k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        raise ValueError(f"{name} must have odd sides so it has a centre, got shape {k.shape}")
    if not np.isfinite(k).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if (k < 0).any():
        raise ValueError(f"{name} has negative entries; a blur PSF is non-negative")
    total = k.sum()
    if total <= 0:
        raise ValueError(f"{name} sums to {total}; a PSF must have positive mass")
    return k / total


def _per_channel(fn, img: np.ndarray) -> np.ndarray:
    """Apply a 2-D function to each channel of an (H, W) or (H, W, 3) image."""
    if img.ndim == 2:
        return fn(img)
    return np.stack([fn(img[..., c]) for c in range(img.shape[2])], axis=-1)


# ---------------------------------------------------------------------------
# Degradations
# ---------------------------------------------------------------------------


def add_gaussian_noise(image, sigma: float, seed: int = 0) -> np.ndarray:
    """Add i.i.d. Gaussian noise with standard deviation ``sigma`` (in [0, 1] units), then clip to [0, 1]."""
    img = as_float_image(image)
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma}")
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0.0, sigma, img.shape), 0.0, 1.0)


def add_salt_and_pepper(image, amount: float, seed: int = 0, salt_share: float = 0.5) -> np.ndarray:
    """Set a share ``amount`` of pixels to 0 or 1 (impulse noise); all channels of a pixel together."""
    img = as_float_image(image).copy()
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount must be in [0, 1], got {amount}")
    if not 0.0 <= salt_share <= 1.0:
        raise ValueError(f"salt_share must be in [0, 1], got {salt_share}")
    rng = np.random.default_rng(seed)
    hit = rng.random(img.shape[:2]) < amount
    salt = rng.random(img.shape[:2]) < salt_share
    img[hit & salt] = 1.0
    img[hit & ~salt] = 0.0
    return img


def motion_psf(length: int, angle_deg: float = 0.0) -> np.ndarray:
    """Linear motion blur: a line of ``length`` pixels at ``angle_deg`` (0 = horizontal), summing to 1.

    The kernel is ``(s, s)`` with ``s`` the smallest odd size holding the line. The segment
    is sampled densely and each sample lands in its nearest pixel, so a horizontal line of
    odd length is exactly a centred row of ``1 / length``.
    """
    if int(length) != length or length < 1:
        raise ValueError(f"length must be a positive integer, got {length}")
    length = int(length)
    size = length if length % 2 == 1 else length + 1
    psf = np.zeros((size, size))
    c = size // 2
    theta = np.deg2rad(angle_deg)
    n = 64 * length
    t = -length / 2 + (np.arange(n) + 0.5) * length / n  # midpoints of n equal pieces
    cols = np.clip(np.round(c + t * np.cos(theta)).astype(int), 0, size - 1)
    rows = np.clip(np.round(c - t * np.sin(theta)).astype(int), 0, size - 1)
    np.add.at(psf, (rows, cols), 1.0)
    return psf / psf.sum()


def defocus_psf(radius: float) -> np.ndarray:
    """Out-of-focus blur: a uniform disk of ``radius`` pixels (anti-aliased edge), summing to 1."""
    if not np.isfinite(radius) or radius <= 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    half = int(np.ceil(radius))
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    # 4x4 supersampling per pixel gives the share of each pixel inside the disk.
    offsets = (np.arange(4) + 0.5) / 4 - 0.5
    inside = np.zeros(yy.shape)
    for oy in offsets:
        for ox in offsets:
            inside += ((yy + oy) ** 2 + (xx + ox) ** 2) <= radius**2
    return inside / inside.sum()


def gaussian_psf(sigma: float, size: int | None = None) -> np.ndarray:
    """A normalised 2-D Gaussian kernel; ``size`` defaults to ``2 * ceil(3 sigma) + 1``."""
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    size = 2 * int(np.ceil(3 * sigma)) + 1 if size is None else int(size)
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd integer, got {size}")
    r = np.arange(size) - size // 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    k = np.outer(g, g)
    return k / k.sum()


def blur(image, psf, noise_sigma: float = 0.0, seed: int = 0, mode: str = "reflect") -> np.ndarray:
    """Convolve ``image`` with ``psf`` (per channel), then add Gaussian noise of ``noise_sigma``.

    ``mode`` is the border rule of ``scipy.ndimage.convolve``; ``"reflect"`` behaves like a
    camera (no wrap-around), ``"wrap"`` is the circular model that FFT deconvolution assumes.
    """
    from scipy import ndimage

    img = as_float_image(image)
    k = check_psf(psf)
    out = _per_channel(lambda ch: ndimage.convolve(ch, k, mode=mode), img)
    out = np.clip(out, 0.0, 1.0)
    return add_gaussian_noise(out, noise_sigma, seed) if noise_sigma > 0 else out


# ---------------------------------------------------------------------------
# Denoisers: all take and return float images in [0, 1]
# ---------------------------------------------------------------------------


def median_denoise(image, size: int = 3) -> np.ndarray:
    """Median filter over a ``size`` x ``size`` window per channel: removes impulse noise, keeps edges."""
    from scipy import ndimage

    if int(size) != size or size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd integer, got {size}")
    img = as_float_image(image)
    return _per_channel(lambda ch: ndimage.median_filter(ch, size=int(size), mode="reflect"), img)


def gaussian_denoise(image, sigma: float = 1.0) -> np.ndarray:
    """Gaussian low-pass filter (``sigma`` in pixels): lowers noise and blurs edges alike."""
    from skimage.filters import gaussian

    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    img = as_float_image(image)
    return gaussian(img, sigma=sigma, channel_axis=-1 if img.ndim == 3 else None, preserve_range=True)


def estimate_noise_sigma(image) -> float:
    """Estimate the Gaussian noise standard deviation (in [0, 1] units), averaged over channels.

    Immerkaer's method (1996): the 3x3 kernel ``[[1,-2,1],[-2,4,-2],[1,-2,1]]`` cancels
    smooth image content, and the mean absolute response times ``sqrt(pi/2) / 6`` estimates
    sigma. No wavelet package needed; images need at least 3x3 pixels.
    """
    from scipy import ndimage

    img = as_float_image(image)
    if min(img.shape[:2]) < 3:
        raise ValueError(f"noise estimation needs at least 3x3 pixels, got {img.shape[:2]}")
    k = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    chans = [img] if img.ndim == 2 else [img[..., c] for c in range(img.shape[2])]
    sig = [np.sqrt(np.pi / 2) / 6 * np.abs(ndimage.convolve(ch, k)[1:-1, 1:-1]).mean() for ch in chans]
    return float(np.mean(sig))


def bilateral_denoise(image, sigma_color: float | None = None, sigma_spatial: float = 2.0) -> np.ndarray:
    """Bilateral filter: averages neighbours that are both close and similar in value.

    ``sigma_color`` (in [0, 1] units) defaults to the estimated noise level: larger values
    let the filter average across edges, smaller ones leave the noise in place.
    """
    from skimage.restoration import denoise_bilateral

    img = as_float_image(image)
    if sigma_color is None:
        sigma_color = max(estimate_noise_sigma(img), 1e-3)
    return denoise_bilateral(img, sigma_color=sigma_color, sigma_spatial=sigma_spatial, mode="reflect",
                             channel_axis=-1 if img.ndim == 3 else None)


def nl_means_denoise(image, h_factor: float = 0.8, patch_size: int = 5, patch_distance: int = 6) -> np.ndarray:
    """Non-local means: averages pixels whose surrounding patches look alike.

    The filter strength is ``h = h_factor * sigma`` with ``sigma`` estimated from the image
    (the scikit-image recommendation), so it adapts to the noise level.
    """
    from skimage.restoration import denoise_nl_means

    img = as_float_image(image)
    sigma = estimate_noise_sigma(img)
    out = denoise_nl_means(img, h=h_factor * sigma, sigma=sigma, fast_mode=True, patch_size=patch_size,
                           patch_distance=patch_distance, channel_axis=-1 if img.ndim == 3 else None)
    return np.clip(out, 0.0, 1.0)


# ---------------------------------------------------------------------------
# Deconvolution and sharpening
# ---------------------------------------------------------------------------


def _padded(fn, img: np.ndarray, psf: np.ndarray) -> np.ndarray:
    """Run an FFT deconvolution on a reflect-padded copy and crop back.

    FFT deconvolution treats the image as periodic; padding by the PSF size with a
    mirror copy removes the artificial jump between opposite borders (ringing).
    """
    p = max(psf.shape)
    pad = ((p, p), (p, p)) + (((0, 0),) if img.ndim == 3 else ())
    big = np.pad(img, pad, mode="reflect")
    out = _per_channel(fn, big)
    return np.clip(out[p:-p, p:-p], 0.0, 1.0)


def wiener_filter(channel: np.ndarray, psf: np.ndarray, balance: float) -> np.ndarray:
    """Wiener deconvolution of one ``(H, W)`` float channel in the frequency domain.

    The blur is ``G = H F + N``; the Wiener estimate is ``F = conj(H) G / (|H|^2 + K)`` with
    ``K = balance``, the noise-to-signal power ratio (taken constant over frequencies). Where
    the PSF passes a frequency well (``|H|^2 >> K``) this is the inverse filter ``G / H``; where
    it passes almost nothing, ``K`` keeps the noise from being amplified. The PSF is padded to
    the image size with its centre moved to pixel (0, 0), so the result is not shifted. The
    FFT treats the image as periodic: pad the image first (``wiener_deconvolve`` does).
    """
    h, w = channel.shape
    ph, pw = psf.shape
    kernel = np.zeros((h, w))
    kernel[:ph, :pw] = psf
    kernel = np.roll(kernel, (-(ph // 2), -(pw // 2)), axis=(0, 1))  # PSF centre to (0, 0)
    H = np.fft.fft2(kernel)
    G = np.fft.fft2(channel)
    F_hat = np.conj(H) * G / (np.abs(H) ** 2 + balance)
    return np.real(np.fft.ifft2(F_hat))


def wiener_deconvolve(image, psf, balance: float = 0.02) -> np.ndarray:
    """Wiener deconvolution with a known PSF (``wiener_filter`` per channel on a mirror-padded copy).

    ``balance`` is the noise-to-signal regularisation ``K``: larger values suppress noise
    amplification and give a smoother, less sharp result.
    """
    if not np.isfinite(balance) or balance <= 0:
        raise ValueError(f"balance must be > 0, got {balance}")
    img = as_float_image(image)
    k = check_psf(psf)
    return _padded(lambda ch: wiener_filter(ch, k, balance), img, k)


def unsupervised_wiener_deconvolve(image, psf, seed: int = 0) -> np.ndarray:
    """Wiener deconvolution whose regularisation is estimated from the image (Gibbs sampler)."""
    from skimage.restoration import unsupervised_wiener

    img = as_float_image(image)
    k = check_psf(psf)
    return _padded(lambda ch: unsupervised_wiener(ch, k, clip=False, rng=seed)[0], img, k)


def richardson_lucy_deconvolve(image, psf, num_iter: int = 30) -> np.ndarray:
    """Richardson-Lucy deconvolution (iterative, keeps values non-negative); ``num_iter`` >= 1."""
    from skimage.restoration import richardson_lucy

    if int(num_iter) != num_iter or num_iter < 1:
        raise ValueError(f"num_iter must be a positive integer, got {num_iter}")
    img = as_float_image(image)
    k = check_psf(psf)
    return _padded(lambda ch: richardson_lucy(ch, k, num_iter=int(num_iter), clip=False), img, k)


def unsharp_mask(image, radius: float = 1.5, amount: float = 1.0) -> np.ndarray:
    """Unsharp masking: ``image + amount * (image - gaussian(image, radius))``, clipped to [0, 1].

    The implied kernel sums to 1, so flat regions keep their brightness; it boosts edges
    but, unlike deconvolution, does not use the PSF and cannot undo a blur.
    """
    from skimage.filters import gaussian

    if not np.isfinite(amount) or amount < 0:
        raise ValueError(f"amount must be >= 0, got {amount}")
    if not np.isfinite(radius) or radius <= 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    img = as_float_image(image)
    smooth = gaussian(img, sigma=radius, channel_axis=-1 if img.ndim == 3 else None, preserve_range=True)
    return np.clip(img + amount * (img - smooth), 0.0, 1.0)


# The kernel that circulates as a "Wiener filter" in interview answers: it sums to 13, so
# it multiplies the brightness of flat regions by 13 and is not a deconvolution at all.
NAIVE_SHARPEN_KERNEL = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=np.float64)


def apply_kernel(image, kernel, normalise: bool = False) -> np.ndarray:
    """Correlate ``image`` with ``kernel`` per channel (like ``cv2.filter2D``), clip to [0, 1].

    With ``normalise=True`` the kernel is divided by its sum first (a zero-sum kernel is refused).
    """
    from scipy import ndimage

    img = as_float_image(image)
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.size == 0 or not np.isfinite(k).all():
        raise ValueError(f"kernel must be a finite non-empty 2-D array, got shape {k.shape}")
    if normalise:
        if abs(k.sum()) < 1e-12:
            raise ValueError("kernel sums to 0 and cannot be normalised")
        k = k / k.sum()
    return np.clip(_per_channel(lambda ch: ndimage.correlate(ch, k, mode="reflect"), img), 0.0, 1.0)


# ---------------------------------------------------------------------------
# Quality figures
# ---------------------------------------------------------------------------


def psnr(reference, test) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1]: ``10 log10(1 / MSE)``; ``inf`` when equal."""
    ref, tst = as_float_image(reference, "reference"), as_float_image(test, "test")
    if ref.shape != tst.shape:
        raise ValueError(f"reference {ref.shape} and test {tst.shape} have different shapes")
    mse = float(np.mean((ref - tst) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def ssim(reference, test) -> float:
    """Structural similarity (scikit-image, 7x7 window, data range 1), averaged over channels."""
    from skimage.metrics import structural_similarity

    ref, tst = as_float_image(reference, "reference"), as_float_image(test, "test")
    if ref.shape != tst.shape:
        raise ValueError(f"reference {ref.shape} and test {tst.shape} have different shapes")
    if min(ref.shape[:2]) < 7:
        raise ValueError(f"SSIM needs images of at least 7x7 pixels, got {ref.shape[:2]}")
    return float(structural_similarity(ref, tst, data_range=1.0, channel_axis=-1 if ref.ndim == 3 else None))


def quality_table(reference, images: dict) -> pd.DataFrame:
    """PSNR and SSIM of each named image against ``reference``: columns ``name, psnr, ssim``."""
    if not images:
        raise ValueError("images is empty: give at least one named image to score")
    rows = [{"name": n, "psnr": psnr(reference, im), "ssim": ssim(reference, im)} for n, im in images.items()]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# The benchmark behind q02: every (degradation, method) pair on real photos
# ---------------------------------------------------------------------------


def degradations(noise_sigma: float = 0.1, sp_amount: float = 0.05, motion_length: int = 9,
                 motion_angle: float = 30.0, defocus_radius: float = 3.0, blur_noise: float = 0.01) -> dict:
    """The four degradations of q02 as ``name -> (function(image, seed) -> image, psf or None)``.

    Blurs carry a little Gaussian noise (``blur_noise``), as every real sensor does; this is
    what makes naive inverse filtering explode and Wiener's regularisation necessary.
    """
    mpsf, dpsf = motion_psf(motion_length, motion_angle), defocus_psf(defocus_radius)
    return {
        "gaussian_noise": (lambda im, s: add_gaussian_noise(im, noise_sigma, s), None),
        "salt_and_pepper": (lambda im, s: add_salt_and_pepper(im, sp_amount, s), None),
        "motion_blur": (lambda im, s: blur(im, mpsf, blur_noise, s), mpsf),
        "defocus_blur": (lambda im, s: blur(im, dpsf, blur_noise, s), dpsf),
    }


def restoration_methods(rl_iter: int = 30, wiener_balance: float = 0.02) -> dict:
    """Every method of q02 as ``name -> function(image, psf) -> image``.

    Denoisers ignore the PSF; deconvolvers need it and are skipped (``None`` result) when
    the degradation has no PSF. ``naive_kernel`` is the article's unnormalised kernel.
    """

    def needs_psf(fn):
        return lambda im, psf: None if psf is None else fn(im, psf)

    return {
        "median": lambda im, psf: median_denoise(im, 3),
        "gaussian": lambda im, psf: gaussian_denoise(im, 1.0),
        "bilateral": lambda im, psf: bilateral_denoise(im),
        "nl_means": lambda im, psf: nl_means_denoise(im),
        "wiener": needs_psf(lambda im, psf: wiener_deconvolve(im, psf, wiener_balance)),
        "unsupervised_wiener": needs_psf(unsupervised_wiener_deconvolve),
        "richardson_lucy": needs_psf(lambda im, psf: richardson_lucy_deconvolve(im, psf, rl_iter)),
        "unsharp_mask": lambda im, psf: unsharp_mask(im, 1.5, 1.0),
        "naive_kernel": lambda im, psf: apply_kernel(im, NAIVE_SHARPEN_KERNEL),
    }


def restoration_benchmark(photos: dict, degradation_fns: dict | None = None, methods: dict | None = None,
                          seed: int = 0, progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Score every (degradation, method) pair on every photo.

    ``photos``: ``name -> image`` (uint8 or [0, 1] float). Returns ``(table, examples)``:
    ``table`` has one row per (photo, degradation, method) with ``psnr`` and ``ssim``; the
    method ``"degraded_input"`` is the baseline (the degraded image itself). ``examples``
    maps ``(degradation, method)`` to the result on the first photo, for display.
    """
    from tqdm.auto import tqdm

    if not photos:
        raise ValueError("photos is empty: give at least one image")
    degradation_fns = degradations() if degradation_fns is None else degradation_fns
    methods = restoration_methods() if methods is None else methods
    rows, examples = [], {}
    first = next(iter(photos))
    jobs = [(p, d) for p in photos for d in degradation_fns]
    for i, (pname, dname) in enumerate(tqdm(jobs, desc="restoration", disable=not progress, leave=False)):
        clean = as_float_image(photos[pname], f"photos[{pname!r}]")
        fn, psf = degradation_fns[dname]
        degraded = fn(clean, seed + i)
        outputs = {"degraded_input": degraded}
        for mname, method in methods.items():
            out = method(degraded, psf)
            if out is not None:
                outputs[mname] = out
        for mname, out in outputs.items():
            rows.append({"photo": pname, "degradation": dname, "method": mname,
                         "psnr": psnr(clean, out), "ssim": ssim(clean, out)})
            if pname == first:
                examples[(dname, mname)] = out
        if pname == first:
            examples[(dname, "clean")] = clean
    return pd.DataFrame(rows), examples


def summarise_benchmark(table: pd.DataFrame, metric: str = "psnr") -> pd.DataFrame:
    """Mean ``metric`` over photos as a (method x degradation) table, baseline row first."""
    if metric not in ("psnr", "ssim"):
        raise ValueError(f"metric must be 'psnr' or 'ssim', got {metric!r}")
    wide = table.pivot_table(index="method", columns="degradation", values=metric, aggfunc="mean")
    order = ["degraded_input"] + [m for m in table["method"].unique() if m != "degraded_input"]
    cols = [d for d in table["degradation"].unique()]
    return wide.reindex(index=order, columns=cols)


# ---------------------------------------------------------------------------
# Recognition under noise: a small digit classifier, cached
# ---------------------------------------------------------------------------


def noisy_digits(images: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """``(n, H, W) uint8`` digits plus Gaussian noise of ``sigma`` ([0, 1] units), back as uint8."""
    arr = np.asarray(images)
    if arr.ndim != 3 or arr.size == 0:
        raise ValueError(f"images must be a non-empty (n, H, W) array, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise TypeError(f"images must be uint8 (0..255), got {arr.dtype}")
    rng = np.random.default_rng(seed)
    noisy = arr / 255.0 + rng.normal(0.0, sigma, arr.shape)
    return np.round(np.clip(noisy, 0, 1) * 255).astype(np.uint8)


def denoise_digits(images: np.ndarray, method: str = "median", **kwargs) -> np.ndarray:
    """Apply ``median``, ``gaussian`` or ``nl_means`` denoising to each ``(H, W) uint8`` digit."""
    fns = {"median": median_denoise, "gaussian": gaussian_denoise, "nl_means": nl_means_denoise}
    if method not in fns:
        raise ValueError(f"unknown method {method!r}; choose from {sorted(fns)}")
    arr = np.asarray(images)
    if arr.ndim != 3 or arr.size == 0:
        raise ValueError(f"images must be a non-empty (n, H, W) array, got shape {arr.shape}")
    return np.stack([to_uint8(fns[method](im, **kwargs)) for im in arr])


def digit_split() -> dict:
    """``training.mnist_split()``, the t01 held-out split (the parsed MNIST arrays are cached by
    ``data.load_mnist``). Keys ``X_train, y_train, X_test, y_test``: ``(n, 28, 28) uint8`` and
    ``(n,) int64``."""
    from visrec_helpers.vision.training import mnist_split

    return mnist_split()


def gaussian_noise_augment(max_sigma: float, p: float = 0.5, seed: int = 0):
    """A batch augmentation for ``train_classifier``: with probability ``p`` per image, add
    Gaussian noise of a random level in [0, ``max_sigma``] and clip to [0, 1]. The noise is
    drawn from its own generator seeded with ``seed`` (on the CPU, so results do not depend
    on the device)."""
    import torch

    from visrec_helpers.core.rng import torch_generator

    if max_sigma < 0 or not 0 <= p <= 1:
        raise ValueError(f"need max_sigma >= 0 and p in [0, 1], got {max_sigma}, {p}")
    gen = torch_generator(seed)

    def augment(xb: torch.Tensor) -> torch.Tensor:
        n = xb.shape[0]
        sig = torch.rand(n, 1, 1, 1, generator=gen) * max_sigma
        on = (torch.rand(n, 1, 1, 1, generator=gen) < p).float()
        noise = torch.randn(xb.shape, generator=gen) * sig * on
        return (xb + noise.to(xb.device, xb.dtype)).clamp(0, 1)

    return augment


def noise_augmented_step(model, batch, *, max_sigma: float, p: float, generator: torch.Generator,
                         device="cpu") -> torch.Tensor:
    """This chapter's step for ``training.fit``: noise augmentation, then the cross-entropy.

    ``batch`` is ``(x, y)`` on the CPU, ``x`` ``(b, 1, H, W)`` in [0, 1]: with probability ``p``
    per image, add Gaussian noise of a random level in ``[0, max_sigma]`` and clip to [0, 1]
    (``max_sigma = 0``: plain training). The levels, the coin flips and the noise come from
    ``generator`` (on the CPU, so the result does not depend on the device).
    """
    xb, yb = batch
    sigma = torch.rand(len(xb), 1, 1, 1, generator=generator) * max_sigma
    on = (torch.rand(len(xb), 1, 1, 1, generator=generator) < p).float()
    xb = (xb + torch.randn(xb.shape, generator=generator) * sigma * on).clamp(0, 1)
    return F.cross_entropy(model(xb.to(device)), yb.to(device))


def train_noise_augmented(model, X: torch.Tensor, y: torch.Tensor, max_sigma: float, epochs: int = 4,
                          batch_size: int = 64, lr: float = 2e-3, p: float = 0.5, seed: int = 0,
                          device: str = "cpu") -> list[float]:
    """Train ``model`` in place on images ``X`` ``(n, 1, H, W)`` in [0, 1] with Gaussian noise augmentation.

    ``training.fit`` with ``noise_augmented_step``: Adam with a one-cycle learning rate up to
    ``lr``. Batch order and noise come from one CPU generator seeded with ``seed``. Returns the
    mean loss of each epoch.
    """
    gen = torch.Generator().manual_seed(seed)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(X) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    step = functools.partial(noise_augmented_step, max_sigma=max_sigma, p=p, generator=gen, device=device)
    history = fit(model, ShuffledBatches((X, y), batch_size, gen), step, epochs=epochs, optimiser=opt,
                  scheduler=sched, seed=seed, progress=False)
    return history["train_loss"].tolist()


def noise_augmented_classifier(augment_sigma: float = 0.0, n_train: int = 4000, epochs: int = 4, seed: int = 0,
                     device: str = "auto", cache: bool = True, progress: bool = True):
    """A t01-style ``DigitCNN`` trained on the training part of ``training.mnist_split()``.

    Same network as t01 (3x3 pooled features), trained by ``train_noise_augmented`` (Adam,
    one-cycle schedule, t01's rate and batch size) without t01's geometric augmentation, so
    the only difference between two models is the noise. With ``augment_sigma > 0`` half of
    each batch gets Gaussian noise of a random level up to ``augment_sigma`` (noise
    augmentation). ``n_train`` keeps a class-balanced subset. Cached by
    ``core.cache.cached_model`` under a key of the arguments (not ``device``, ``cache``,
    ``progress``). Returns the model in eval mode on the CPU.
    """
    from visrec_helpers.core.cache import cached_model
    from visrec_helpers.core.rng import init_weights_
    from visrec_helpers.core.runtime import get_device
    from visrec_helpers.vision.models import DigitCNN
    from visrec_helpers.vision.training import T01_DEFAULTS, images_to_tensor, stratified_split

    split = digit_split()
    X, y = split["X_train"], split["y_train"]
    if not 10 <= n_train <= len(X):
        raise ValueError(f"n_train={n_train} must be between 10 and {len(X)}")
    if augment_sigma < 0:
        raise ValueError(f"augment_sigma must be >= 0, got {augment_sigma}")
    if n_train < len(y):
        keep, _ = stratified_split(y, len(y) - n_train, seed)
        X, y = X[keep], y[keep]

    def train(model):
        history = train_noise_augmented(model, images_to_tensor(X), torch.from_numpy(y), augment_sigma, epochs,
                                        T01_DEFAULTS["batch_size"], T01_DEFAULTS["lr"], seed=seed,
                                        device=get_device(device))
        return {"history": history}

    params = {"augment_sigma": augment_sigma, "n_train": n_train, "epochs": epochs, "seed": seed,
              "recipe": T01_DEFAULTS}
    model, _ = cached_model("q02_digit_cnn", params,
                            lambda: init_weights_(DigitCNN(pool_size=T01_DEFAULTS["pool_size"]), seed), train,
                            version=6, cache=cache)
    return model


def background_level(images: np.ndarray, border: int = 3) -> np.ndarray:
    """Per image, the mean of a ``border``-pixel frame, in [0, 1]: ``(n,)`` float64.

    MNIST digits are centred in a blank frame, so the frame measures the background's
    brightness; clipped noise lifts it (sigma 0.35 lifts black to about 0.14).
    """
    arr = np.asarray(images)
    if arr.ndim != 3 or arr.size == 0 or arr.dtype != np.uint8:
        raise ValueError(f"images must be a non-empty (n, H, W) uint8 array, got {arr.shape} {arr.dtype}")
    if not 1 <= border < min(arr.shape[1:]) // 2:
        raise ValueError(f"border={border} must be at least 1 and less than half the image side")
    frame = np.ones(arr.shape[1:], bool)
    frame[border:-border, border:-border] = False
    return arr[:, frame].mean(axis=1) / 255.0


def subtract_background(images: np.ndarray, border: int = 3) -> np.ndarray:
    """Black-level correction: ``(x - b) / (1 - b)`` clipped to [0, 1], ``b = background_level``; uint8 out."""
    b = background_level(images, border)[:, None, None]
    out = np.clip((np.asarray(images) / 255.0 - b) / np.maximum(1 - b, 1e-6), 0, 1)
    return np.round(out * 255).astype(np.uint8)


def resized_photos(names=("astronaut", "chelsea", "coffee"), size: int = 128) -> dict:
    """Bundled photos (``data.load_photos``), centre-cropped square and resized to ``size`` pixels.

    Returns ``name -> (size, size, 3) uint8``. Small sizes keep the CI run fast.
    """
    from PIL import Image

    from visrec_helpers.data import load_photos

    if int(size) != size or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size}")
    out = {}
    for name, arr in load_photos(list(names)).items():
        h, w = arr.shape[:2]
        s = min(h, w)
        crop = arr[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
        out[name] = np.asarray(Image.fromarray(crop).resize((int(size), int(size)), Image.Resampling.LANCZOS))
    return out
