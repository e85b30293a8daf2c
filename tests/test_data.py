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


# --- the interaction-weight policy ---------------------------------------------------

def test_interaction_weights_follow_the_one_policy_and_never_make_a_skip_positive():
    log = pd.DataFrame({"user": [0, 0, 1], "item": [0, 1, 2], "event": ["like", "skip", "view"]})
    np.testing.assert_array_equal(data.interaction_weights(log), [3.0, 0.0, 1.0])
    np.testing.assert_array_equal(data.interaction_weights(log, policy="signed"), [3.0, -0.5, 1.0])
    np.testing.assert_array_equal(data.interaction_weights(["view", "like"]), [1.0, 3.0])
    events = log.rename(columns={"event": "kind"})  # a serving.realtime event table
    np.testing.assert_array_equal(data.interaction_weights(events), [3.0, 0.0, 1.0])
    for table in data.WEIGHT_POLICIES.values():
        assert set(table) == set(data.EVENTS) and table["skip"] <= 0 < table["view"] < table["like"]


def test_a_skip_weighted_by_the_policy_is_dropped_from_the_training_matrix():
    from visrec_helpers.recsys.base import check_user_items

    log = pd.DataFrame({"user": [0, 0, 1], "item": [0, 1, 2], "event": ["like", "skip", "view"]})
    X = check_user_items(data.interactions_to_csr(log.assign(weight=data.interaction_weights(log))))
    assert X[0, 1] == 0 and X.nnz == 2


@pytest.mark.parametrize("events, policy, error, match", [
    (["like", "click"], "default", DataError, r"unknown event name\(s\) \['click'\]"),
    (["like", None], "default", DataError, "unknown event name"),
    (pd.DataFrame({"user": [0], "item": [0]}), "default", DataError, "no 'event' or 'kind' column"),
    ("like", "default", DataError, "the string 'like'"),
    (["like"], "generous", ValueError, "policy must be one of"),
])
def test_interaction_weights_refuse_unknown_events_and_policies(events, policy, error, match):
    with pytest.raises(error, match=match):
        data.interaction_weights(events, policy=policy)


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


# --- CSV ids are exact strings; ragged rows and duplicated columns are refused ----------------

def _write(tmp_path, text, name="log.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_users_007_and_7_stay_two_users(tmp_path):
    df = data.load_interactions_csv(_write(tmp_path, "user,item\n007,1\n7,2\n"), n_items=5)
    assert df["user"].tolist() == [0, 1]
    assert df.attrs["user_ids"] == ["007", "7"]


def test_csv_items_1000_and_1e3_stay_two_items(tmp_path):
    df = data.load_interactions_csv(_write(tmp_path, "user,item\nu,1e3\nu,1000\n"), item_ids=["1000", "1e3"])
    assert df["item"].tolist() == [1, 0]


def test_csv_item_positions_must_be_written_in_digits(tmp_path):
    with pytest.raises(DataError, match=r"whole numbers .* '1e3' \(line 3\)"):
        data.load_interactions_csv(_write(tmp_path, "user,item\nu,1000\nu,1e3\n"), n_items=2000)


def test_csv_huge_item_id_is_out_of_range_not_negative(tmp_path):
    with pytest.raises(DataError, match=r"unknown item ids \[100000000000000000000\] on line\(s\) \[2\]"):
        data.load_interactions_csv(_write(tmp_path, "user,item\nu,100000000000000000000\n"), n_items=10)
    with pytest.raises(DataError, match="too large for an item position"):
        data.load_interactions_csv(_write(tmp_path, "user,item\nu,100000000000000000000\n"))
    with pytest.raises(DataError, match="'1e20' \\(line 2\\)"):
        data.load_interactions_csv(_write(tmp_path, "user,item\nu,1e20\n"), n_items=10)


@pytest.mark.parametrize("text, line", [
    ("user,item\n1,2,3\n", 2),          # first data row: pandas would shift it into an index column
    ("user,item\n1,2\n\n1,3,4\n", 4),   # blank lines count in the line number
    ("user,item,weight\n1,2\n", 2),     # fewer fields than the header
])
def test_csv_ragged_row_is_refused_with_its_line(tmp_path, text, line):
    with pytest.raises(DataError, match=rf"line {line} has \d field\(s\) but the header has"):
        data.load_interactions_csv(_write(tmp_path, text), n_items=10)


def test_csv_duplicated_column_is_refused_by_name(tmp_path):
    with pytest.raises(DataError, match=r"duplicated column name\(s\) \['user'\]"):
        data.load_interactions_csv(_write(tmp_path, "user,User ,item\n1,2,3\n"), n_items=10)


def test_csv_bad_weight_names_value_and_line(tmp_path):
    with pytest.raises(DataError, match=r"column 'weight' must hold finite numbers; got 'inf' \(line 3\)"):
        data.load_interactions_csv(_write(tmp_path, "user,item,weight\n1,2,1\n1,3,inf\n"), n_items=10)


def test_csv_duplicated_item_ids_are_refused(tmp_path):
    with pytest.raises(DataError, match=r"item_ids holds duplicated ids \['a.png'\]"):
        data.load_interactions_csv(_write(tmp_path, "user,item\n1,a.png\n"), item_ids=["a.png", "b.png", "a.png"])


def test_csv_header_spaces_bom_and_blank_lines_are_tolerated(tmp_path):
    p = tmp_path / "log.csv"
    p.write_bytes("\ufeffUser , Item\n\n a , 3 \n".encode())
    df = data.load_interactions_csv(p, n_items=4)
    assert df["item"].tolist() == [3] and df.attrs["user_ids"] == ["a"]


def test_csv_not_utf8_is_a_data_error(tmp_path):
    p = tmp_path / "log.csv"
    p.write_bytes(b"user,item\n\xff\xfe,1\n")
    with pytest.raises(DataError, match="not UTF-8"):
        data.load_interactions_csv(p, n_items=4)


def test_csv_bad_n_items_is_named():
    with pytest.raises(DataError, match="n_items must be a positive integer, got 0"):
        data.load_interactions_csv("whatever.csv", n_items=0)


# --- image folders: hidden files, links, non-finite pixels ----------------------------------

def test_image_folder_skips_hidden_files_and_resource_forks(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / ".ipynb_checkpoints" / "a-checkpoint.png")
    cat = data.load_image_folder(tmp_path, size=8)
    assert cat.meta["item_ids"] == ["a.png"]
    assert cat.meta["hidden"] == [".DS_Store", "._a.png", ".ipynb_checkpoints"]


def test_image_folder_follows_a_linked_subfolder(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Image.new("RGB", (8, 8)).save(elsewhere / "dog.png")
    root = tmp_path / "root"
    root.mkdir()
    Image.new("RGB", (8, 8)).save(root / "a.png")
    (root / "dogs").symlink_to(elsewhere, target_is_directory=True)
    cat = data.load_image_folder(root, size=8)
    assert cat.meta["item_ids"] == ["a.png", "dogs/dog.png"]
    assert cat.label_names == ["dogs", "unlabelled"]
    assert cat.meta["links"] == [f"dogs -> {elsewhere.resolve()}"]


def test_image_folder_reports_a_link_loop_instead_of_looping(tmp_path):
    (tmp_path / "cats").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "cats" / "c.png")
    (tmp_path / "cats" / "again").symlink_to(tmp_path, target_is_directory=True)
    with pytest.warns(UserWarning, match="not followed"):
        cat = data.load_image_folder(tmp_path, size=8)
    assert cat.meta["item_ids"] == ["cats/c.png"]
    assert cat.meta["links_not_followed"][0].startswith("cats/again ->")


def test_image_folder_broken_link_is_an_error_not_silence(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "gone.png").symlink_to(tmp_path / "deleted.png")
    with pytest.raises(ImageLoadError, match="gone.png: broken link"):
        data.load_image_folder(tmp_path)
    cat = data.load_image_folder(tmp_path, on_error="skip")
    assert len(cat) == 1 and "broken link" in cat.meta["skipped"][0]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float_tiff_with_non_finite_pixels_is_refused(tmp_path, bad):
    arr = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    arr[1, 2] = bad
    p = tmp_path / "x.tif"
    Image.fromarray(arr, mode="F").save(p)
    with pytest.raises(ImageLoadError, match=r"x\.tif: float image holds 1 non-finite pixel"):
        data.load_image(p)


def test_float_tiff_keeps_its_contrast(tmp_path):
    arr = np.array([[0.0, 0.5], [1.0, 0.25]], dtype=np.float32)
    p = tmp_path / "x.tif"
    Image.fromarray(arr, mode="F").save(p)
    out = np.asarray(data.load_image(p))[..., 0]
    assert out.tolist() == [[0, 128], [255, 64]]


@pytest.mark.parametrize("kwargs, message", [
    ({"size": 0}, "size must be a positive integer"),
    ({"size": 2.5}, "size must be a positive integer"),
    ({"max_pixels": -1}, "max_pixels must be a positive integer"),
])
def test_image_folder_bad_arguments_are_named(tmp_path, kwargs, message):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match=message):
        data.load_image_folder(tmp_path, **kwargs)
