"""The one rule for images given to an encoder (``data.as_image_batch``): every encoder reads what
``load_image`` reads, scaled the same way.

Regressions of issue 28: the pretrained encoder clipped 16-bit and float PIL images (an all-white or
all-black picture) instead of scaling them as ``load_image`` does, and read an ``(H, W, 1)`` array as
``H`` images. Property tests check the rule without the backbone; a few regression tests run it.
"""

import io
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from visrec_helpers.data import ImageLoadError, as_image_batch, load_image, load_photos
from visrec_helpers.vision import features, pretrained
from visrec_helpers.vision.models import DigitCNN

pytestmark = pytest.mark.property
BUDGET = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "25")), deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow])
PHOTO = load_photos(["coffee"])["coffee"][100:196, 150:246]  # (96, 96, 3) uint8


@pytest.fixture(scope="module")
def encoder():
    return pretrained.pretrained_encoder(device="cpu", input_size=64, fast=False)


def _cos(a, b):
    return float((a * b).sum())


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="TIFF" if img.mode in ("F", "I") else "PNG")
    return buf.getvalue()


# --- regressions of the examples (a few real forward passes) ------------------------------

def test_a_16bit_pil_image_embeds_like_its_8bit_original_not_white(encoder):
    grey8 = PHOTO[..., 1]
    grey16 = Image.fromarray(grey8.astype(np.uint16) * 257)  # mode I;16, full 16-bit range
    assert grey16.mode == "I;16"
    e8, e16, white = encoder.embed([grey8, grey16, np.full_like(grey8, 255)])
    assert _cos(e8, e16) > 0.99 > _cos(e16, white)
    np.testing.assert_allclose(e16, encoder.embed(load_image(_png(grey16)))[0], atol=1e-5)


def test_a_float_pil_image_is_scaled_like_load_image_not_clipped_to_black(encoder):
    grey = PHOTO[..., 0].astype(np.float32) / 255.0
    img = Image.fromarray(grey)  # mode F, values in [0, 1]
    assert img.mode == "F"
    got, black = encoder.embed([img, np.zeros(grey.shape, np.uint8)])
    np.testing.assert_allclose(got, encoder.embed(load_image(_png(img)))[0], atol=1e-5)
    assert _cos(got, black) < 0.9


def test_an_hw1_array_is_one_grey_image_for_every_encoder(encoder):
    grey = PHOTO[..., 1]
    assert encoder.embed(grey[..., None]).shape == (1, 1280)
    np.testing.assert_allclose(encoder.embed(grey[..., None]), encoder.embed(grey), atol=1e-6)
    assert features.embed(features.HANDCRAFTED["colour histogram"], grey[..., None]).shape == (1, 64)
    digits = DigitCNN(embed_dim=8).eval()
    digit = np.zeros((28, 28, 1), np.uint8)
    assert features.embed(digits, digit, device="cpu").shape == (1, 8)


def test_a_float_batch_embeds_as_its_uint8_version(encoder):
    x = PHOTO[None].astype(np.float64) / 255.0
    np.testing.assert_allclose(encoder.embed(x), encoder.embed(PHOTO[None]), atol=1e-6)


def test_a_path_embeds_as_load_image_reads_it(encoder, tmp_path):
    path = tmp_path / "p.png"
    Image.fromarray(PHOTO).save(path)
    np.testing.assert_allclose(encoder.embed(path), encoder.embed(PHOTO), atol=1e-6)
    with pytest.raises(ImageLoadError, match="missing.png: file does not exist"):
        encoder.embed(tmp_path / "missing.png")


def test_a_nan_float_pil_image_is_refused_naming_the_argument():
    img = Image.fromarray(np.array([[0.0, np.nan]], np.float32))
    with pytest.raises(ValueError, match=r"images\[1\]: float image holds 1 non-finite"):
        as_image_batch([PHOTO, img])


def test_handcrafted_features_read_one_image_as_one_row_and_dark_uint8_as_dark():
    assert features.raw_pixels(PHOTO).shape == (1, 96 * 96 * 3)
    dark = np.ones((1, 4, 4, 3), np.uint8)  # pixel value 1 of 255, not "1.0 = white"
    assert features.raw_pixels(dark).max() == pytest.approx(1 / 255)


@pytest.mark.parametrize("bad, error, words", [
    (np.full((4, 4), 1.5), ValueError, "float pixels must lie in [0, 1]"),
    (np.full((4, 4), np.nan), ValueError, "NaN"),
    (np.zeros((4, 4), np.int32), TypeError, "dtype int32"),
    (np.zeros((2, 4, 4, 2), np.uint8), ValueError, "2 channels"),
    (np.zeros((4,), np.uint8), ValueError, "shape (4,)"),
    ([np.zeros((5, 5, 3), np.uint8), np.zeros((2, 5, 5), np.uint8)], ValueError, "images[1] has shape"),
    (Image.new("L", (0, 3)), ValueError, "zero-size"),
    ({"a": 1}, TypeError, "images is a dict"),
])
def test_bad_inputs_raise_errors_naming_the_argument(bad, error, words):
    with pytest.raises(error) as info:
        as_image_batch(bad)
    assert words in str(info.value)


def test_features_embed_needs_one_size_and_says_so():
    with pytest.raises(ValueError, match="different sizes"):
        features.embed(features.HANDCRAFTED["raw pixels"], [PHOTO, PHOTO[:50]])


# --- the rule, as properties (no backbone) ------------------------------------------------------------

SIDE = st.integers(5, 12)  # 1, 3 or 4 pixels wide would read as channels in a 3-D array


@BUDGET
@given(data=st.data(), n=st.integers(1, 3), h=SIDE, w=SIDE, c=st.sampled_from([None, 1, 3, 4]))
def test_property_a_uint8_batch_keeps_its_pixels_in_grey_or_rgb(data, n, h, w, c):
    shape = (n, h, w) if c is None else (n, h, w, c)
    x = data.draw(arrays(np.uint8, shape))
    out = as_image_batch(x)
    assert out.dtype == np.uint8 and out.shape == ((n, h, w) if c in (None, 1) else (n, h, w, 3))
    if c in (None, 1, 3):
        np.testing.assert_array_equal(out, x.reshape(out.shape))
    else:  # RGBA: composited on white exactly as load_image composites a PIL image
        for i in range(n):
            np.testing.assert_array_equal(out[i], np.asarray(load_image(_png(Image.fromarray(x[i], "RGBA")))))
    for i in range(n):  # one image alone is the batch of one
        np.testing.assert_array_equal(as_image_batch(x[i]), out[i : i + 1])


@BUDGET
@given(x=arrays(np.float64, st.tuples(st.integers(1, 2), SIDE, SIDE, st.just(3)), elements=st.floats(0, 1)))
def test_property_float_pixels_are_uint8_times_255_rounded(x):
    np.testing.assert_array_equal(as_image_batch(x), np.rint(x * 255).astype(np.uint8))
    np.testing.assert_array_equal(as_image_batch(x > 0.5), (x > 0.5).astype(np.uint8) * 255)


def _pil(mode: str, grey: np.ndarray) -> Image.Image:
    if mode == "I;16":
        return Image.fromarray(grey.astype(np.uint16) * 200)
    if mode == "F":
        return Image.fromarray(grey.astype(np.float32) / 7.0)
    if mode in ("RGB", "RGBA"):
        stack = [grey, 255 - grey, grey // 2] + ([grey] if mode == "RGBA" else [])
        return Image.fromarray(np.stack(stack, axis=-1), mode)
    return Image.fromarray(grey).convert(mode)


@BUDGET
@given(grey=arrays(np.uint8, st.tuples(SIDE, SIDE)),
       mode=st.sampled_from(["L", "1", "P", "LA", "RGB", "RGBA", "I;16", "I", "F"]))
def test_property_a_pil_image_reads_as_load_image_reads_its_file(grey, mode):
    img = _pil(mode, grey)
    got = as_image_batch(img)[0]
    want = np.asarray(load_image(_png(img)))
    np.testing.assert_array_equal(got if got.ndim == 3 else np.stack([got] * 3, axis=-1), want)
    assert got.ndim == (2 if mode in ("L", "1", "I;16", "I", "F") else 3)


@BUDGET
@given(x=arrays(np.uint8, st.tuples(st.integers(1, 3), SIDE, SIDE, st.just(3))))
def test_property_the_pretrained_input_is_the_same_for_arrays_pil_and_floats(x):
    size = 32
    want = pretrained.to_backbone_input(as_image_batch(x), size)
    as_pil = pretrained.to_backbone_input(as_image_batch([Image.fromarray(a) for a in x]), size)
    as_float = pretrained.to_backbone_input(as_image_batch(x / 255.0), size)
    assert torch.equal(want, as_pil) and torch.equal(want, as_float)
    assert want.shape == (len(x), 3, size, size)


@BUDGET
@given(x=arrays(np.uint8, st.tuples(st.integers(1, 3), SIDE, SIDE, st.just(3))))
def test_property_handcrafted_features_read_floats_and_uint8_alike(x):
    for name in ("raw pixels", "colour histogram"):
        enc = features.HANDCRAFTED[name]
        np.testing.assert_allclose(features.embed(enc, x / 255.0), features.embed(enc, x), atol=1e-6)
        np.testing.assert_allclose(features.embed(enc, list(x)), features.embed(enc, x), atol=1e-6)
