"""Specification of the click-to-recommend app (without a browser; see test_browser.py)."""

import io

import numpy as np
import pytest
from PIL import Image

from visrec_helpers.serving.widgets import BrowsingApp, thumbnail_png


def _catalog(n=60, d=8, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = np.arange(n) % 3
    centers = rng.normal(size=(3, d))
    v = (centers[labels] + 0.1 * rng.normal(size=(n, d))).astype(np.float32)
    return images, v / np.linalg.norm(v, axis=1, keepdims=True), labels


def test_thumbnail_is_a_png_of_the_requested_width():
    png = thumbnail_png(np.zeros((28, 28), dtype=np.uint8), size=56)
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.size == (56, 56)
    assert Image.open(io.BytesIO(thumbnail_png(np.zeros((10, 20, 3), dtype=np.uint8), 40))).size == (40, 20)


def test_thumbnail_rejects_bad_images():
    with pytest.raises(ValueError, match="uint8"):
        thumbnail_png(np.zeros((4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="non-empty"):
        thumbnail_png(np.zeros((4,), dtype=np.uint8))


def test_app_builds_grid_and_cold_start_row():
    images, v, labels = _catalog()
    app = BrowsingApp(images, v, labels=labels, n_grid=12, k=5)
    assert len(app.grid.children) == 12
    assert len(app.rec_row.children) == 5
    assert "visrec-app" in app.widget._dom_classes
    assert "cold start" in app.rec_ids_label.value


def test_clicking_a_view_button_updates_profile_row_and_latency():
    images, v, labels = _catalog()
    app = BrowsingApp(images, v, labels=labels, n_grid=12, k=5)
    before = app.rec_ids_.tolist()
    item = int(app.grid_items_[0])
    button = app.grid.children[0].children[-1]
    assert "visrec-view" in button._dom_classes
    button.click()  # fires the same handler as a click in the browser
    assert app.clicks_ == [item]
    assert app.rec_ids_.tolist() != before
    assert item not in app.rec_ids_
    # recommendations follow the clicked item's class (the vectors cluster by class)
    assert (labels[app.rec_ids_] == labels[item]).all()
    assert "ms" in app.latency_label.value and "1 click" in app.latency_label.value
    assert ", ".join(map(str, app.rec_ids_)) in app.rec_ids_label.value


def test_app_rejects_mismatched_inputs_and_unknown_items():
    images, v, _ = _catalog()
    with pytest.raises(ValueError, match="one vector per image"):
        BrowsingApp(images, v[:10])
    with pytest.raises(ValueError, match="n_grid"):
        BrowsingApp(images, v, n_grid=0)
    with pytest.raises(ValueError, match="k="):
        BrowsingApp(images, v, k=len(images))
    app = BrowsingApp(images, v, n_grid=6, k=3)
    with pytest.raises(ValueError, match="unknown item"):
        app.click(len(images))


def test_user_provided_labels_are_escaped_before_they_reach_html():
    images, v, _ = _catalog(n=12)
    labels = np.array(['<script>alert("x")</script>', "a & b", "<b>bold</b>"] * 4)
    app = BrowsingApp(images, v, labels=labels, n_grid=12, k=3)
    captions = [tile.children[1].value for tile in app.grid.children]
    assert any("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in c for c in captions)
    assert any("a &amp; b" in c for c in captions)
    assert not any("<script>" in c or "<b>bold" in c for c in captions)
    app.click(int(app.grid_items_[0]))
    assert all("<script>" not in tile.children[1].value for tile in app.rec_row.children)


# --- the diversity option -------------------------------------------------------

def _distinct_labels(app, labels):
    return len(set(labels[app.rec_ids_].tolist()))


def test_diversity_zero_keeps_the_nearest_items_and_one_spreads_the_row_over_the_candidates():
    images, v, labels = _catalog()
    app = BrowsingApp(images, v, labels=labels, n_grid=12, k=6)
    for item in np.flatnonzero(labels == 0)[:3]:
        app.click(int(item))
    nearest = app.rec_ids_.copy()
    assert set(labels[nearest].tolist()) == {0}  # six nearest unseen items: all of the viewed class
    app.set_diversity(1.0)  # candidates: the 24 nearest = 17 unseen of class 0 and 7 of the next class
    assert _distinct_labels(app, labels) == 2 and app.diversity_slider.value == 1.0
    assert not set(app.rec_ids_.tolist()) & set(app.clicks_)
    assert app.set_diversity(0.0).tolist() == nearest.tolist()


def test_diversity_applies_to_the_next_click_and_is_validated():
    from visrec_helpers.serving.widgets import recommend_row

    images, v, labels = _catalog()
    app = BrowsingApp(images, v, labels=labels, n_grid=12, k=6, diversity=1.0)
    app.click(int(np.flatnonzero(labels == 1)[0]))
    assert _distinct_labels(app, labels) >= 2 and "diversity 1.0" in app.rec_ids_label.value
    with pytest.raises(ValueError, match="diversity"):
        app.set_diversity(1.5)
    with pytest.raises(ValueError, match="diversity"):
        BrowsingApp(images, v, diversity=-0.1)
    with pytest.raises(ValueError, match="diversity"):
        recommend_row(app.server_, app.user, 6, diversity=2.0)


def test_diversity_before_any_click_keeps_the_cold_start_row():
    images, v, labels = _catalog()
    app = BrowsingApp(images, v, n_grid=12, k=5)
    cold = app.rec_ids_.copy()
    assert app.set_diversity(0.5).tolist() == cold.tolist()


def _html_values(widget):
    """Every HTML string the app's widget tree will render (HTML widgets' values), depth first."""
    out = []
    if type(widget).__name__ in ("HTML", "HTMLMath"):
        out.append(widget.value)
    for child in getattr(widget, "children", ()):
        out.extend(_html_values(child))
    return out


def test_no_html_in_the_whole_app_carries_a_script_name_unescaped():
    images, v, _ = _catalog(n=12)
    names = np.array(["<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "x' onmouseover='y"] * 4)
    app = BrowsingApp(images, v, labels=names, n_grid=12, k=3)
    app.click(int(app.grid_items_[0]))
    app.set_diversity(0.5)
    values = _html_values(app.widget)
    assert len(values) >= 12 + 3 + 3  # grid captions, row captions, the fixed labels
    joined = "\n".join(values)
    assert "<script" not in joined and "<img" not in joined and "' onmouseover='" not in joined
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in joined and "&lt;img src=x onerror=alert(2)&gt;" in joined


def test_a_refused_click_changes_nothing_and_later_clicks_still_work():
    from visrec_helpers.search.index import IndexInputError

    images, v, _ = _catalog(n=8)
    app = BrowsingApp(images, v, n_grid=8, k=7)
    app.click(0)
    row, clock, profile = app.rec_ids_.copy(), app._clock, app.store_.raw(0).copy()
    with pytest.raises(IndexInputError, match="fewer than k left"):
        app.click(1)  # only 6 unseen would be left for a row of 7: refused before anything changes
    assert app.clicks_ == [0] and app._clock == clock and app.rec_ids_.tolist() == row.tolist()
    np.testing.assert_array_equal(app.store_.raw(0), profile)
    assert app.store_.seen(0) == {0}
    for bad in (1.7, True, -1):
        with pytest.raises(ValueError, match="unknown item"):
            app.click(bad)
    assert app.click(0).tolist() == row.tolist()  # a repeat view keeps 7 unseen: served as before
