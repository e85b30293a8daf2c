"""Property tests of the data loaders and splits: for any generated input, either the
documented error or an output within the documented range.

Run by `make unit` and, alone, by `make fuzz` (``FUZZ_EXAMPLES`` examples per test, default 40).
"""

import csv
import io
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from visrec_helpers import data
from visrec_helpers.data import DataError, ImageLoadError, splits

pytestmark = pytest.mark.property
BUDGET = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")), deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# Ids a hostile or careless CSV holds: leading zeros, exponents, NaN words, signs, quotes, commas.
WEIRD = ["007", "7", "1e3", "1000", "nan", "NA", "null", "-1", "-0", "+3", "1.0", "1e20",
         "100000000000000000000", "0x1", " 7", "7 ", "", " ", "a,b", 'q"t', "é", "\t", "line\nbreak"]
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6)
IDS = st.one_of(st.sampled_from(WEIRD), TEXT)


def _csv_file(folder: Path, header: list[str], rows: list[list[str]]) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path = folder / "log.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


# --- load_interactions_csv ----------------------------------------------------------------------

@BUDGET
@given(rows=st.lists(st.tuples(IDS, IDS), min_size=1, max_size=12),
       catalog=st.lists(st.sampled_from(WEIRD).map(str.strip).filter(bool) | TEXT.map(str.strip).filter(bool),
                        min_size=1, max_size=8, unique=True))
def test_csv_with_item_names_maps_exact_strings_or_refuses(rows, catalog):
    with tempfile.TemporaryDirectory() as d:
        path = _csv_file(Path(d), ["user", "item", "timestamp"], [[u, i, str(t)] for t, (u, i) in enumerate(rows)])
        valid = all(u.strip() and i.strip() in catalog for u, i in rows)
        try:
            df = data.load_interactions_csv(path, item_ids=catalog)
        except DataError as exc:
            assert not valid, f"a valid file was refused: {exc}"
            assert str(path) in str(exc)
            return
    assert valid
    row = df["timestamp"].astype(int).to_numpy()  # timestamps are the original row numbers
    users = [rows[r][0].strip() for r in row]
    assert [df.attrs["user_ids"][u] for u in df["user"]] == users
    assert df.attrs["user_ids"] == list(dict.fromkeys(u.strip() for u, _ in rows))  # first appearance
    assert [catalog[i] for i in df["item"]] == [rows[r][1].strip() for r in row]
    assert len(set(df.attrs["user_ids"])) == len(df.attrs["user_ids"]) == df["user"].max() + 1


@BUDGET
@given(items=st.lists(st.one_of(st.integers(0, 30).map(str), st.sampled_from(WEIRD)), min_size=1, max_size=10),
       n_items=st.integers(1, 25))
def test_csv_item_positions_are_digits_below_n_items_or_refused(items, n_items):
    with tempfile.TemporaryDirectory() as d:
        path = _csv_file(Path(d), ["user", "item"], [["u", i] for i in items])
        ok = [re.fullmatch(r"\+?\d+", i.strip()) is not None and int(i.strip()) < n_items for i in items]
        try:
            df = data.load_interactions_csv(path, n_items=n_items)
        except DataError as exc:
            assert not all(ok), f"valid item ids were refused: {exc}"
            return
    assert all(ok)
    assert df["item"].tolist() == [int(i.strip()) for i in items]
    assert df["item"].between(0, n_items - 1).all()


@BUDGET
@given(widths=st.lists(st.integers(1, 5), min_size=1, max_size=8))
def test_csv_ragged_rows_are_refused_with_the_first_bad_line(widths):
    rows = [[str(k) for k in range(w)] for w in widths]
    with tempfile.TemporaryDirectory() as d:
        path = _csv_file(Path(d), ["user", "item", "weight"], rows)
        bad = [n for n, w in enumerate(widths, start=2) if w != 3]
        if bad:
            with pytest.raises(DataError, match=rf"line {bad[0]} has {widths[bad[0] - 2]} field"):
                data.load_interactions_csv(path, n_items=10)
        else:
            assert len(data.load_interactions_csv(path, n_items=10)) == len(rows)


@BUDGET
@given(values=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                                 st.sampled_from(["", "abc", "1e400", "-0", "3"])), min_size=1, max_size=6))
def test_csv_weights_are_finite_numbers_or_refused(values):
    with tempfile.TemporaryDirectory() as d:
        path = _csv_file(Path(d), ["user", "item", "weight"], [["u", "1", v] for v in values])
        try:
            df = data.load_interactions_csv(path, n_items=2)
        except DataError as exc:
            assert "weight" in str(exc)
            return
    assert np.isfinite(df["weight"].to_numpy()).all() and len(df) == len(values)


# --- load_image ---------------------------------------------------------------------------------

@BUDGET
@given(arr=arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12), st.sampled_from([1, 3, 4]))),
       fmt=st.sampled_from(["PNG", "TIFF", "BMP"]))
def test_uint8_images_round_trip_exactly(arr, fmt):
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[arr.shape[2]]
    assume(not (fmt == "BMP" and mode == "RGBA"))
    buf = io.BytesIO()
    Image.fromarray(arr[..., 0] if mode == "L" else arr, mode=mode).save(buf, format=fmt)
    out = np.asarray(data.load_image(buf.getvalue()))
    assert out.shape == arr.shape[:2] + (3,) and out.dtype == np.uint8
    if mode == "L":
        assert (out == arr[..., :1]).all()
    elif mode == "RGB":
        assert (out == arr).all()
    else:  # composited on white: an opaque pixel keeps its colour, a transparent one is white
        opaque, clear = arr[..., 3] == 255, arr[..., 3] == 0
        assert (out[opaque] == arr[..., :3][opaque]).all() and (out[clear] == 255).all()


@BUDGET
@given(arr=arrays(np.float32, st.tuples(st.integers(1, 10), st.integers(1, 10)),
                  elements=st.floats(-1e6, 1e6, width=32) | st.sampled_from([np.nan, np.inf, -np.inf])))
def test_float_images_load_in_range_or_are_refused_for_non_finite_pixels(arr):
    buf = io.BytesIO()
    Image.fromarray(arr, mode="F").save(buf, format="TIFF")
    if not np.isfinite(arr).all():
        with pytest.raises(ImageLoadError, match="non-finite"):
            data.load_image(buf.getvalue())
        return
    out = np.asarray(data.load_image(buf.getvalue()))
    assert out.shape == arr.shape + (3,) and out.dtype == np.uint8
    if arr.max() > arr.min():  # the range is stretched onto 0..255
        assert out.min() == 0 and out.max() == 255


MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"GIF89a", b"BM", b"RIFF\x00\x00\x00\x00WEBP"]


@BUDGET
@given(prefix=st.sampled_from(MAGIC), body=st.binary(max_size=300))
def test_arbitrary_bytes_give_an_rgb_image_or_image_load_error(prefix, body):
    try:
        img = data.load_image(prefix + body, max_pixels=1_000_000)
    except ImageLoadError:
        return
    assert img.mode == "RGB" and img.size[0] * img.size[1] <= 1_000_000


@BUDGET
@given(names=st.lists(st.tuples(st.sampled_from(["", ".", "._", "sub/", ".hidden/", "sub/._"]),
                                st.text("abcxyz", min_size=1, max_size=4),
                                st.sampled_from([".png", ".jpg", ".txt", ".PNG"]),
                                st.booleans()),
                      min_size=1, max_size=8, unique_by=lambda t: (t[0], t[1], t[2].lower())))
def test_image_folder_loads_exactly_the_visible_readable_images(names):
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        expected = []
        for folder_prefix, stem, suffix, readable in names:
            path = root / f"{folder_prefix}{stem}{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            if readable and suffix != ".txt":
                Image.new("RGB", (5, 3), "red").save(path, format="PNG")
            else:
                path.write_bytes(b"not an image")
            rel = path.relative_to(root)
            hidden = any(part.startswith(".") for part in rel.parts)
            if not hidden and readable and suffix != ".txt":
                expected.append(rel)
        try:
            cat = data.load_image_folder(root, size=4, on_error="skip")
        except DataError:
            assert not expected
            return
        assert cat.meta["item_ids"] == [p.as_posix() for p in sorted(expected, key=lambda p: p.parts)]
        assert cat.images.shape == (len(expected), 4, 4, 3)
        assert not any(part.startswith(".") for item in cat.meta["item_ids"] for part in Path(item).parts)


# --- splits ---------------------------------------------------------------------------------------

LOGS = st.integers(1, 60).flatmap(lambda n: st.builds(
    lambda u, i, t: pd.DataFrame({"user": u, "item": i, "weight": 1.0, "timestamp": t}),
    st.lists(st.integers(0, 6), min_size=n, max_size=n),
    st.lists(st.integers(0, 9), min_size=n, max_size=n),
    st.lists(st.floats(0, 100, allow_nan=False), min_size=n, max_size=n)))


@BUDGET
@given(df=LOGS, n_test=st.integers(1, 4), min_train=st.integers(1, 3))
def test_leave_last_out_holds_new_latest_items_and_keeps_test_users_in_train(df, n_test, min_train):
    train, test = splits.leave_last_out(df, n_test=n_test, min_train=min_train)
    pairs_train, pairs_test = set(zip(train.user, train.item)), set(zip(test.user, test.item))
    assert not pairs_train & pairs_test                # the seen filter never hides a test item
    assert set(test.user) <= set(train.user)
    assert not test.duplicated(["user", "item"]).any()
    assert (train.groupby("user").size()[sorted(set(test.user))] >= min_train).all()
    for u, g in test.groupby("user"):                  # test items are among the user's last n_test events
        last = df[df.user == u].sort_values("timestamp", kind="stable").tail(n_test)
        assert set(g.item) <= set(last.item) and len(g) <= n_test
    untested = df[~df.user.isin(set(test.user))]
    assert len(train[train.user.isin(set(untested.user))]) == len(untested)  # they keep every row
    assert len(train) + train.attrs["dropped_repeats"] + len(test) <= len(df)


@BUDGET
@given(df=LOGS, fraction=st.floats(0.05, 0.95), drop_cold=st.booleans())
def test_temporal_split_never_trains_on_the_future(df, fraction, drop_cold):
    try:
        train, test = splits.temporal_split(df, test_fraction=fraction, drop_cold=drop_cold)
    except ValueError as exc:
        assert "empty train or test" in str(exc)
        return
    assert train.timestamp.max() <= test.attrs["cutoff"]
    if len(test):
        assert test.timestamp.min() > test.attrs["cutoff"]
    if drop_cold:
        assert set(test.user) <= set(train.user) and set(test.item) <= set(train.item)
    assert len(train) + len(test) + test.attrs["dropped_rows"] == len(df)


@BUDGET
@given(df=LOGS, fraction=st.floats(0.01, 1.0), min_per_user=st.integers(1, 3))
def test_subsample_keeps_the_documented_share_of_each_user(df, fraction, min_per_user):
    out = splits.subsample_interactions(df, fraction, min_per_user=min_per_user)
    size = df.groupby("user").size()
    want = np.minimum(np.maximum(np.ceil(fraction * size), min_per_user), size)
    assert out.groupby("user").size().reindex(size.index, fill_value=0).tolist() == want.astype(int).tolist()


@BUDGET
@given(users=st.lists(st.one_of(st.integers(-3, 5), st.floats(allow_nan=True), st.none()), min_size=0, max_size=6))
def test_validate_interactions_refuses_or_accepts_non_negative_integer_ids(users):
    df = pd.DataFrame({"user": users, "item": [0] * len(users)})
    try:
        data.validate_interactions(df)
    except DataError:
        return
    assert len(df) and np.issubdtype(df.user.dtype, np.integer) and (df.user >= 0).all()
