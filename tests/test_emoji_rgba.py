"""emoji_rgba: the catalog's drawings with their alpha channel (exact masks for segmentation)."""

import numpy as np
import pytest
from PIL import Image

from visrec_helpers.data import Catalog, emoji_catalog, emoji_rgba


@pytest.fixture(scope="module", params=["twemoji", "openmoji"])
def fruit(request):
    return emoji_catalog(request.param, size=48, subgroups=["food-fruit"], progress=False)


def test_rgba_composited_on_white_gives_the_catalog_images(fruit):
    rgba = emoji_rgba(fruit)
    assert rgba.shape == (len(fruit.images), 48, 48, 4) and rgba.dtype == np.uint8
    white = Image.new("RGBA", (48, 48), (255, 255, 255, 255))
    for drawing, image in zip(rgba, fruit.images):
        composed = np.asarray(Image.alpha_composite(white, Image.fromarray(drawing, "RGBA")).convert("RGB"))
        np.testing.assert_array_equal(composed, image)


def test_alpha_is_an_object_mask_with_transparent_corners(fruit):
    alpha = emoji_rgba(fruit)[..., 3]
    share = (alpha >= 128).mean(axis=(1, 2))
    assert ((share > 0.1) & (share < 0.95)).all()
    assert (alpha[:, 0, 0] == 0).all() and (alpha[:, -1, -1] == 0).all()


def test_items_select_rows_in_the_given_order(fruit):
    full = emoji_rgba(fruit)
    np.testing.assert_array_equal(emoji_rgba(fruit, items=[3, 0]), full[[3, 0]])


def test_indices_out_of_range_are_named(fruit):
    with pytest.raises(ValueError, match=r"items holds unknown item id\(s\)"):
        emoji_rgba(fruit, items=[len(fruit.images)])


def test_a_catalog_not_built_from_emoji_is_refused():
    other = Catalog("x", np.zeros((1, 8, 8, 3), np.uint8), np.zeros(1, np.int64), ["a"], None, [[]], {})
    with pytest.raises(ValueError, match="not built by emoji_catalog"):
        emoji_rgba(other)
