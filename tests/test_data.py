"""Specification of the data layer: safe image loading, catalogs, simulator, user files."""

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from visrec_helpers import data
from visrec_helpers.data import DataError, ImageLoadError


def _png_bytes(img: Image.Image, fmt="PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


# --- load_image: good inputs -------------------------------------------------

@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "CMYK", "1", "LA", "I;16"])
def test_load_image_converts_every_mode_to_rgb(tmp_path, mode):
    img = Image.new(mode, (7, 5))
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I;16") else "x.png")
    img.save(path)
    out = data.load_image(path)
    assert out.mode == "RGB" and out.size == (7, 5)


def test_load_image_16bit_keeps_contrast(tmp_path):
    arr = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    out = np.asarray(data.load_image(path))[..., 0]
    assert out[0, 0] == 0 and out[0, 1] == 255 and 120 < out[1, 0] < 135


def test_load_image_composites_transparency_on_white():
    img = Image.new("RGBA", (2, 2), (255, 0, 0, 0))
    out = np.asarray(data.load_image(_png_bytes(img)))
    assert (out == 255).all()


def test_load_image_applies_exif_orientation():
    img = Image.new("RGB", (6, 3))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    assert data.load_image(buf.getvalue()).size == (3, 6)


def test_load_image_reads_file_objects():
    buf = io.BytesIO(_png_bytes(Image.new("L", (4, 4), 9)))
    assert data.load_image(buf).size == (4, 4)


# --- load_image: every failure names the source and the reason ----------------

def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match=r"nope\.png: file does not exist"):
        data.load_image(tmp_path / "nope.png")


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(ImageLoadError, match="is a folder"):
        data.load_image(tmp_path)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageLoadError, match=r"empty\.jpg: file is empty"):
        data.load_image(p)


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("hello, I am text")
    with pytest.raises(ImageLoadError, match=r"notes\.png: not an image"):
        data.load_image(p)


def test_truncated_file(tmp_path):
    rng = np.random.default_rng(0)
    full = _png_bytes(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), "JPEG")
    p = tmp_path / "cut.jpg"
    p.write_bytes(full[: len(full) // 2])
    with pytest.raises(ImageLoadError, match=r"cut\.jpg: truncated"):
        data.load_image(p)


def test_too_large_is_refused_before_decoding(tmp_path):
    p = tmp_path / "big.png"
    Image.new("L", (300, 300)).save(p)
    with pytest.raises(ImageLoadError, match="too large"):
        data.load_image(p, max_pixels=10_000)


def test_empty_bytes_and_wrong_type():
    with pytest.raises(ImageLoadError, match="empty"):
        data.load_image(b"")
    with pytest.raises(ImageLoadError, match="expected a path"):
        data.load_image(12345)


def test_image_load_error_is_a_value_error():
    assert issubclass(ImageLoadError, ValueError)


# --- bundled data and catalogs -----------------------------------------------

def test_mnist_and_digits_shapes():
    X, y = data.load_mnist()
    assert X.shape == (5000, 28, 28) and X.dtype == np.uint8
    assert np.bincount(y).tolist() == [500] * 10
    X8, y8 = data.load_digits_8x8()
    assert X8.shape == (1797, 8, 8) and X8.max() == 255


def test_digits_catalog_is_deterministic_with_tags():
    a = data.digits_catalog(cache=False)
    b = data.digits_catalog()
    assert np.array_equal(a.images, b.images) and a.tags == b.tags
    assert len(a) == 5000 and a.attributes.shape[0] == 5000
    assert all(t[0] == data.DIGIT_NAMES[c] for t, c in zip(a.tags, a.labels))
    assert {"thick", "thin", "left-slant", "right-slant"} <= set(a.tag_vocabulary())


def test_digits_catalog_prefix_is_class_balanced():
    cat = data.digits_catalog(n_items=200)
    assert np.bincount(cat.labels).tolist() == [20] * 10


def test_digit_attributes_measure_thickness():
    thin = np.zeros((1, 28, 28), np.uint8)
    thin[0, 4:24, 13:15] = 255
    thick = np.zeros((1, 28, 28), np.uint8)
    thick[0, 4:24, 11:17] = 255
    a = data.digit_attributes(np.concatenate([thin, thick]))
    assert a.loc[1, "thickness"] > 2 * a.loc[0, "thickness"]
    assert a.loc[0, "height"] == 20 and a.loc[1, "width"] == 6


def test_photo_catalog_shapes_tags_and_determinism():
    a = data.photo_catalog(patch=32, per_photo=3, photos=["chelsea", "coins"], cache=False)
    b = data.photo_catalog(patch=32, per_photo=3, photos=["chelsea", "coins"], cache=False)
    assert a.images.shape == (6, 32, 32, 3) and a.images.dtype == np.uint8
    assert np.array_equal(a.images, b.images)
    assert a.tags[0] == data.PHOTO_TAGS["chelsea"] and a.label_names == ["chelsea", "coins"]


def test_unknown_photo_name():
    with pytest.raises(KeyError, match="unknown photo"):
        data.load_photos(["lily"])


# --- simulated interactions --------------------------------------------------

@pytest.fixture(scope="module")
def simulated():
    cat = data.digits_catalog(n_items=1000)
    df, truth = data.simulate_interactions(cat, n_users=60, events_per_user=20, seed=3)
    return cat, df, truth


def test_simulator_table_shape(simulated):
    cat, df, truth = simulated
    assert list(df.columns) == ["user", "item", "weight", "timestamp"]
    assert len(df) == 60 * 20 and truth.utility.shape == (60, 1000)
    assert not df.duplicated(["user", "item"]).any()
    assert (df.groupby("user")["timestamp"].diff().dropna() > 0).all()


def test_simulated_items_follow_the_true_utility(simulated):
    cat, df, truth = simulated
    chosen = truth.utility[df["user"], df["item"]].mean()
    assert chosen > truth.utility.mean() + 1.0


def test_simulated_users_view_their_interest_classes(simulated):
    cat, df, truth = simulated
    share = np.mean([cat.labels[i] in {c for c, _, _ in truth.interests[u]} for u, i in zip(df["user"], df["item"])])
    assert share > 0.8


def test_likes_are_high_utility(simulated):
    cat, df, truth = simulated
    u = truth.utility[df["user"], df["item"]]
    assert u[df["weight"] == 3].mean() > u[df["weight"] == 1].mean()


def test_simulator_is_seeded(simulated):
    cat, df, _ = simulated
    df2, _ = data.simulate_interactions(cat, n_users=60, events_per_user=20, seed=3)
    pd.testing.assert_frame_equal(df, df2)


def test_simulator_rejects_impossible_sizes():
    cat = data.digits_catalog(n_items=20)
    with pytest.raises(ValueError, match="exceeds the catalog"):
        data.simulate_interactions(cat, n_users=2, events_per_user=21)


# --- user files ----------------------------------------------------------------

def test_interactions_csv_round_trip(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("user,item,weight,timestamp\nann,3,1,10\nbob,1,3,5\nann,0,1,2\n")
    df = data.load_interactions_csv(p, n_items=4)
    assert df["user"].tolist() == [0, 0, 1] and df["item"].tolist() == [0, 3, 1]
    assert df.attrs["user_ids"] == ["ann", "bob"]


def test_interactions_csv_with_item_names(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("user,item\n1,cats/a.png\n1,b.png\n")
    df = data.load_interactions_csv(p, item_ids=["b.png", "cats/a.png"])
    assert df["item"].tolist() == [1, 0] and (df["weight"] == 1).all()


@pytest.mark.parametrize("text, message", [
    ("", "file is empty"),
    ("user,item\n", "no rows"),
    ("user,thing\n1,2\n", r"missing required column\(s\) \['item'\]"),
    ("user,item\n1,99\n", r"unknown item ids \[99\]"),
    ("user,item,weight\n1,2,abc\n", "weight"),
    ("user,item\n1,\n", "empty user or item on line"),
])
def test_interactions_csv_errors(tmp_path, text, message):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DataError, match=message):
        data.load_interactions_csv(p, n_items=10)


def test_interactions_csv_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.load_interactions_csv(tmp_path / "none.csv")


def test_image_folder(tmp_path):
    (tmp_path / "cats").mkdir()
    Image.new("RGB", (40, 30), "orange").save(tmp_path / "cats" / "fat_cat.png")
    Image.new("L", (10, 10)).save(tmp_path / "plain.jpg")
    cat = data.load_image_folder(tmp_path, size=16)
    assert cat.images.shape == (2, 16, 16, 3)
    assert cat.label_names == ["cats", "unlabelled"] and cat.tags[0] == ["cats", "fat", "cat"]
    assert cat.meta["item_ids"] == ["cats/fat_cat.png", "plain.jpg"]


def test_image_folder_bad_file_raises_or_skips(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(ImageLoadError, match="broken.png"):
        data.load_image_folder(tmp_path)
    cat = data.load_image_folder(tmp_path, on_error="skip")
    assert len(cat) == 1 and "broken.png" in cat.meta["skipped"][0]


def test_image_folder_empty(tmp_path):
    with pytest.raises(DataError, match="no image files"):
        data.load_image_folder(tmp_path)


def test_interactions_to_csr_sums_duplicates():
    df = pd.DataFrame({"user": [0, 0, 1], "item": [2, 2, 0], "weight": [1.0, 2.0, 1.0], "timestamp": [1, 2, 3]})
    m = data.interactions_to_csr(df, n_items=3)
    assert m.shape == (2, 3) and m[0, 2] == 3.0


def test_validate_interactions_rejects_nan_and_negative():
    with pytest.raises(DataError, match="missing values"):
        data.validate_interactions(pd.DataFrame({"user": [0, np.nan], "item": [1, 2]}))
    with pytest.raises(DataError, match="negative"):
        data.validate_interactions(pd.DataFrame({"user": [0, -1], "item": [1, 2]}))
