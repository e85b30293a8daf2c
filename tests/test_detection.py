"""Specification of visrec_helpers.vision.detection: scenes, detectors, IoU, matching, scores."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visrec_helpers.data import digits_catalog
from visrec_helpers.vision import detection as T


@pytest.fixture(scope="module")
def digits():
    cat = digits_catalog()  # the MNIST 5k, cached on disk after the first load
    return cat.images[-300:], cat.labels[-300:]


@pytest.fixture(scope="module")
def scenes(digits):
    return T.compose_scenes(*digits, n_scenes=6, size=128, touching=0.0, seed=3)


class PixelSumNet(torch.nn.Module):
    """A fake classifier: class = number of bright pixels mod 10 (deterministic, no training)."""

    def forward(self, x):
        n = (x > 0.5).flatten(1).sum(1).long() % 10
        return torch.nn.functional.one_hot(n, 10).float()


# --- IoU and matching -------------------------------------------------------

def test_box_iou_golden_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10], [0, 0, 5, 5]])
    np.testing.assert_allclose(T.box_iou(a, b)[0], [1.0, 50 / 150, 0.0, 25 / 100])


box = st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(1, 30), st.integers(1, 30)).map(
    lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]])


@settings(max_examples=60, deadline=None)
@given(box, box)
def test_box_iou_is_symmetric_and_bounded(a, b):
    m = T.box_iou([a], [b])[0, 0]
    assert 0.0 <= m <= 1.0
    assert np.isclose(m, T.box_iou([b], [a])[0, 0])
    assert np.isclose(T.box_iou([a], [a])[0, 0], 1.0)


def test_match_boxes_is_one_to_one_and_greedy_by_iou():
    truth = np.array([[0, 0, 10, 20], [20, 0, 30, 20]])
    pred = np.array([[1, 0, 11, 20], [0, 0, 10, 20], [20, 0, 30, 20]])
    pairs = T.match_boxes(pred, truth, 0.5)
    assert sorted(pairs) == [(1, 0), (2, 1)]  # the exact box wins over the shifted duplicate


def test_merged_box_matches_neither_digit():
    truth = np.array([[0, 0, 10, 20], [12, 0, 22, 20]])
    assert T.match_boxes(np.array([[0, 0, 22, 20]]), truth, 0.5) == []


def test_bad_boxes_raise_clear_errors():
    with pytest.raises(ValueError, match="shape"):
        T.box_iou(np.zeros((2, 3)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="x1 > x0"):
        T.box_iou([[5, 0, 5, 10]], [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="NaN"):
        T.box_iou([[0, 0, np.nan, 1]], [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="iou_threshold"):
        T.match_boxes([[0, 0, 1, 1]], [[0, 0, 1, 1]], 0.0)


# --- Scenes -----------------------------------------------------------------

def test_scenes_have_true_boxes_around_the_ink(scenes):
    for sc in scenes:
        assert sc.image.dtype == np.uint8 and sc.image.shape == (128, 128)
        assert len(sc.boxes) == len(sc.labels) >= 3
        for x0, y0, x1, y1 in sc.boxes:
            patch = sc.image[y0:y1, x0:x1]
            assert patch.max() >= 200  # a digit stroke is inside
        iou = T.box_iou(sc.boxes, sc.boxes)
        np.fill_diagonal(iou, 0)
        assert iou.max() == 0.0  # separated digits never overlap


def test_scenes_are_reproducible(digits):
    a = T.compose_scenes(*digits, n_scenes=2, seed=7)
    b = T.compose_scenes(*digits, n_scenes=2, seed=7)
    assert all((x.image == y.image).all() and (x.boxes == y.boxes).all() for x, y in zip(a, b))


def test_touching_scenes_place_digits_against_each_other(digits):
    sc = T.compose_scenes(*digits, n_scenes=10, touching=1.0, seed=1)
    assert sum(s.touching for s in sc) >= 5


def test_compose_scenes_rejects_bad_input(digits):
    X, y = digits
    with pytest.raises(ValueError, match="labels"):
        T.compose_scenes(X, y[:-1])
    with pytest.raises(ValueError, match="uint8"):
        T.compose_scenes(X.astype(np.float32), y)
    with pytest.raises(ValueError, match="touching"):
        T.compose_scenes(X, y, touching=1.5)
    with pytest.raises(ValueError, match="too small"):
        T.compose_scenes(X, y, size=40)


# --- Detectors --------------------------------------------------------------

def test_contour_detector_finds_separated_digits(scenes):
    det = T.ContourDetector()
    found = sum(len(T.match_boxes(det.detect(s.image), s.boxes)) for s in scenes)
    assert found / sum(len(s.boxes) for s in scenes) >= 0.9


def test_mser_detector_finds_separated_digits(scenes):
    det = T.MSERDetector()
    found = sum(len(T.match_boxes(det.detect(s.image), s.boxes)) for s in scenes)
    assert found / sum(len(s.boxes) for s in scenes) >= 0.85


def test_split_wide_box_cuts_two_blobs_apart():
    mask = np.zeros((20, 30), np.uint8)
    mask[2:18, 2:12] = 255  # two 10 x 16 "digits"
    mask[2:18, 13:23] = 255
    mask[9, 12] = 255  # a one-pixel bridge
    parts = T.split_wide_box(mask, (2, 2, 23, 18))
    assert len(parts) == 2
    assert parts[0][2] <= 13 and parts[1][0] >= 12


def test_split_wide_box_keeps_a_narrow_box():
    mask = np.full((20, 10), 255, np.uint8)
    assert T.split_wide_box(mask, (0, 0, 10, 20)) == [(0, 0, 10, 20)]


def test_detector_rejects_non_uint8_image():
    with pytest.raises(ValueError, match="uint8"):
        T.ContourDetector().detect(np.zeros((10, 10), np.float32))
    with pytest.raises(ValueError, match="grayscale"):
        T.MSERDetector().detect(np.zeros((10, 10, 3), np.uint8))


def test_suppress_contained_keeps_the_outer_box():
    boxes = np.array([[0, 0, 20, 20], [2, 2, 10, 10], [30, 30, 40, 40]])
    np.testing.assert_array_equal(T.suppress_contained(boxes), boxes[[0, 2]])


# --- Crops and scores -------------------------------------------------------

def test_crop_to_mnist_centres_and_sizes_the_digit():
    img = np.zeros((60, 60), np.uint8)
    img[10:50, 20:30] = 255  # a tall bar, 40 x 10
    crop = T.crop_to_mnist(img, (20, 10, 30, 50), level=128)
    ys, xs = np.nonzero(crop > 0)
    assert crop.shape == (28, 28) and crop.dtype == np.uint8
    assert ys.max() - ys.min() + 1 == 20  # longer side 20 px
    assert abs(xs.mean() - 14) <= 1 and abs(ys.mean() - 14) <= 1


def test_crop_outside_the_image_raises():
    with pytest.raises(ValueError, match="outside"):
        T.crop_to_mnist(np.zeros((10, 10), np.uint8), (5, 5, 20, 20), 10)


def test_evaluate_scenes_golden_counts(scenes):
    rec = T.SceneRecognizer(T.ContourDetector(), PixelSumNet())
    r = T.evaluate_scenes(rec, scenes)
    assert r["objects"] == sum(len(s.boxes) for s in scenes)
    assert r["precision"] == r["matched"] / r["detections"]
    assert r["recall"] == r["matched"] / r["objects"]
    assert r["end_to_end"] <= r["recall"]


def test_oracle_boxes_give_perfect_detection(scenes):
    class Oracle:
        def __init__(self):
            self.i = -1

        def detect(self, image):
            self.i += 1
            return scenes[self.i].boxes

    r = T.evaluate_scenes(T.SceneRecognizer(Oracle(), PixelSumNet()), scenes)
    assert r["precision"] == 1.0 and r["recall"] == 1.0
    assert r["end_to_end"] == pytest.approx(r["oracle_accuracy"])


def test_evaluate_scenes_rejects_empty_input():
    with pytest.raises(ValueError, match="no scenes"):
        T.evaluate_scenes(T.SceneRecognizer(T.ContourDetector(), PixelSumNet()), [])


def test_unknown_crop_preparation_raises(scenes):
    rec = T.SceneRecognizer(T.ContourDetector(), PixelSumNet(), prepare="stretch")
    with pytest.raises(ValueError, match="prepare"):
        rec.predict(scenes[0].image)
