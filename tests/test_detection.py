"""Specification of visrec_helpers.vision.detection: scenes with exact boxes, IoU, NMS, the
centre-heatmap head (targets, loss, training step, decoding), classical proposals and the scores."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visrec_helpers.vision import detection as D


def _disc(side: int, colour=(200, 30, 30)) -> np.ndarray:
    """An RGBA drawing: an opaque disc on a transparent square."""
    yy, xx = np.mgrid[:side, :side]
    inside = (yy - side / 2 + 0.5) ** 2 + (xx - side / 2 + 0.5) ** 2 <= (side / 2 - 2) ** 2
    out = np.zeros((side, side, 4), np.uint8)
    out[inside] = (*colour, 255)
    return out


@pytest.fixture(scope="module")
def drawings():
    return np.stack([_disc(40, (200, 30, 30)), _disc(40, (30, 30, 200))]), np.array([0, 1])


@pytest.fixture(scope="module")
def photos():
    rng = np.random.default_rng(0)
    return {"noise": rng.integers(90, 160, (120, 150, 3)).astype(np.uint8)}


# scenes

def test_paste_object_returns_the_alpha_box_and_composites():
    canvas = np.zeros((50, 50, 3), np.uint8)
    drawing = np.zeros((10, 10, 4), np.uint8)
    drawing[2:7, 3:9] = (255, 255, 255, 255)
    box = D.paste_object(canvas, drawing, 20, 30)
    assert box == (23, 32, 29, 37)
    assert canvas[32:37, 23:29].min() == 255 and canvas.sum() == 255 * 3 * 30


def test_paste_object_outside_the_canvas_raises():
    with pytest.raises(ValueError, match="does not fit"):
        D.paste_object(np.zeros((20, 20, 3), np.uint8), _disc(10), 15, 0)


def test_scenes_hold_exact_boxes_inside_the_image(drawings, photos):
    scenes = D.compose_detection_scenes(*drawings, photos, n_scenes=6, size=96, n_objects=(2, 4), sizes=(16, 40),
                                        seed=1)
    assert len(scenes) == 6
    for sc in scenes:
        assert sc.image.shape == (96, 96, 3) and sc.image.dtype == np.uint8
        assert len(sc.boxes) == len(sc.labels) == len(sc.items) >= 1
        assert (sc.boxes[:, :2] >= 0).all() and (sc.boxes[:, 2:] <= 96).all()
        assert set(sc.labels) <= {0, 1} and sc.photo == "noise"


def test_without_overlap_boxes_never_intersect(drawings, photos):
    for sc in D.compose_detection_scenes(*drawings, photos, n_scenes=8, size=96, sizes=(16, 30), overlap=0.0, seed=2):
        iou = D.box_iou(sc.boxes, sc.boxes)
        assert np.allclose(iou[~np.eye(len(iou), dtype=bool)], 0)


def test_with_overlap_some_boxes_overlap_but_never_more_than_iou_0_4(drawings, photos):
    scenes = D.compose_detection_scenes(*drawings, photos, n_scenes=20, size=96, n_objects=(3, 4), sizes=(16, 30),
                                        overlap=1.0, seed=3)
    off = [D.box_iou(s.boxes, s.boxes)[~np.eye(len(s.boxes), dtype=bool)] for s in scenes]
    all_iou = np.concatenate(off)
    assert all_iou.max() <= 0.4 + 1e-9 and (all_iou > 0.05).any()


def test_scenes_are_reproducible_with_a_seed(drawings, photos):
    a = D.compose_detection_scenes(*drawings, photos, n_scenes=2, size=96, sizes=(16, 30), seed=5)
    b = D.compose_detection_scenes(*drawings, photos, n_scenes=2, size=96, sizes=(16, 30), seed=5)
    assert all(np.array_equal(x.image, y.image) and np.array_equal(x.boxes, y.boxes) for x, y in zip(a, b))


@pytest.mark.parametrize("kwargs, match", [({"sizes": (4, 30)}, "sizes"), ({"overlap": 1.5}, "overlap"),
                                           ({"n_objects": (3, 2)}, "n_objects")])
def test_bad_scene_arguments_raise(drawings, photos, kwargs, match):
    with pytest.raises(ValueError, match=match):
        D.compose_detection_scenes(*drawings, photos, n_scenes=1, size=96, **{"sizes": (16, 30), **kwargs})


# IoU and NMS

def test_iou_golden_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10], [2, 2, 4, 4]])
    np.testing.assert_allclose(D.box_iou(a, b)[0], [1.0, 50 / 150, 0.0, 4 / 100])


def test_bad_boxes_raise():
    with pytest.raises(ValueError, match="x1 > x0"):
        D.box_iou([[5, 0, 5, 10]], [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="shape"):
        D.box_iou([[0, 0, 1]], [[0, 0, 1, 1]])


boxes_st = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(1, 20), st.integers(1, 20)),
                    min_size=1, max_size=8).map(lambda r: np.array([[x, y, x + w, y + h] for x, y, w, h in r]))


@settings(max_examples=50, deadline=None)
@given(boxes_st, boxes_st)
def test_iou_is_symmetric_and_in_unit_range(a, b):
    m = D.box_iou(a, b)
    assert np.allclose(m, D.box_iou(b, a).T) and (m >= 0).all() and (m <= 1 + 1e-12).all()


def test_nms_keeps_the_best_of_overlapping_boxes_and_distant_ones():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [30, 30, 40, 40]])
    assert D.nms(boxes, [0.8, 0.9, 0.5], 0.5).tolist() == [1, 2]
    assert D.nms(boxes, [0.8, 0.9, 0.5], 0.9).tolist() == [1, 0, 2]


@settings(max_examples=40, deadline=None)
@given(boxes_st, st.floats(0.05, 0.95))
def test_nms_leaves_no_pair_above_the_threshold(boxes, t):
    scores = np.linspace(1, 0, len(boxes))
    kept = D.nms(boxes, scores, t)
    iou = D.box_iou(boxes[kept], boxes[kept])
    assert (iou[~np.eye(len(kept), dtype=bool)] <= t).all() and kept[0] == 0


# the learned detector

def test_centre_targets_peak_at_the_centre_with_log_size():
    t = D.centre_targets([np.array([[16, 16, 48, 32]])], grid=8, stride=8)
    assert t["heat"].shape == (1, 1, 8, 8) and t["mask"].sum() == 1
    i, j = 3, 4  # centre (32, 24) px -> cell (row 3, col 4)
    assert t["heat"][0, 0, i, j] == 1 and t["mask"][0, 0, i, j] == 1
    np.testing.assert_allclose(t["size"][0, :, i, j], [np.log(4), np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(t["offset"][0, :, i, j], [0.0, 0.0], atol=1e-6)


def test_decode_inverts_the_targets():
    boxes = np.array([[10, 20, 42, 44], [60, 8, 76, 40]])
    t = D.centre_targets([boxes], grid=12, stride=8)
    logits = torch.logit(t["heat"].clamp(1e-4, 1 - 1e-4))
    (got, scores), = D.decode_centres((logits, t["size"], t["offset"]), stride=8, min_score=0.9)
    assert len(got) == 2
    assert D.box_iou(got, boxes).max(axis=1).min() > 0.99


def test_loss_is_lower_for_the_right_heatmap_than_for_a_shifted_one():
    t = D.centre_targets([np.array([[16, 16, 48, 48]])], grid=8, stride=8)
    right = torch.logit(t["heat"].clamp(1e-3, 1 - 1e-3))
    wrong = right.roll(3, dims=-1)
    assert D.centre_loss((right, t["size"], t["offset"]), t) < D.centre_loss((wrong, t["size"], t["offset"]), t)


def test_training_steps_lower_the_loss_on_a_fixed_batch():
    torch_gen = torch.Generator().manual_seed(0)
    feats = torch.randn(4, 8, 8, 8, generator=torch_gen)
    boxes = [np.array([[8 * k, 8, 8 * k + 24, 32]]) for k in range(4)]
    feats[torch.arange(4), 0] += torch.stack([D.centre_targets([b], 8, 8)["heat"][0, 0] for b in boxes]) * 3
    from visrec_helpers.core.rng import init_weights_

    model = init_weights_(D.CentreNet(8, hidden=16), 0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    targets = D.centre_targets(boxes, 8, 8)
    losses = [D.detector_train_step(model, opt, feats, targets) for _ in range(40)]
    assert losses[-1] < 0.5 * losses[0]


def test_fit_centrenet_is_reproducible_and_checks_lengths():
    from visrec_helpers.core.rng import init_weights_

    feats = torch.randn(6, 8, 6, 6, generator=torch.Generator().manual_seed(1))
    boxes = [np.array([[4, 4, 20, 20]])] * 6
    h1 = D.fit_centrenet(init_weights_(D.CentreNet(8, 8), 0), feats, boxes, epochs=2, batch_size=4, progress=False)
    h2 = D.fit_centrenet(init_weights_(D.CentreNet(8, 8), 0), feats, boxes, epochs=2, batch_size=4, progress=False)
    assert h1 == h2 and len(h1) == 2
    with pytest.raises(ValueError, match="box lists"):
        D.fit_centrenet(D.CentreNet(8, 8), feats, boxes[:3], progress=False)


# classical proposals and crops

def test_segment_proposals_find_a_coloured_disc_on_grey():
    img = np.full((96, 96, 3), 128, np.uint8)
    box = D.paste_object(img, _disc(32), 40, 20)
    boxes, scores = D.segment_proposals(img)
    assert len(boxes) >= 1 and np.all(np.diff(scores) <= 0)
    assert D.box_iou(boxes[:1], [box])[0, 0] > 0.7


def test_crop_boxes_adds_margin_and_stays_inside():
    img = np.zeros((50, 60, 3), np.uint8)
    crops = D.crop_boxes(img, np.array([[10, 10, 30, 20], [55, 45, 60, 50]]), margin=0.1)
    assert crops[0].shape == (12, 24, 3)
    assert crops[1].shape[0] >= 4 and crops[1].shape[1] >= 4


# scores

def test_match_boxes_is_one_to_one():
    truth = np.array([[0, 0, 10, 20], [12, 0, 22, 20]])
    assert D.match_boxes(np.array([[0, 0, 22, 20]]), truth, 0.5) == []
    assert D.match_boxes(truth[::-1], truth, 0.5) == [(0, 1), (1, 0)]


def test_match_detections_visits_in_score_order_and_counts_duplicates_as_false():
    truth = np.array([[0, 0, 10, 10]])
    dets = np.array([[0, 0, 10, 10], [0, 0, 9, 10]])
    assert D.match_detections(dets, [0.2, 0.9], truth).tolist() == [False, True]


def test_average_precision_golden_values():
    assert D.average_precision([0.9, 0.8], [True, True], 2) == 1.0
    assert D.average_precision([0.9, 0.8], [False, True], 2) == pytest.approx(0.25)
    # hits at ranks 1 and 3 of 3 true objects: 1/3 * 1 + 1/3 * 2/3
    assert D.average_precision([0.9, 0.8, 0.7], [True, False, True], 3) == pytest.approx(1 / 3 + 2 / 9)
    assert D.average_precision([], [], 3) == 0.0
    with pytest.raises(ValueError, match="n_true"):
        D.average_precision([0.5], [True], 0)


def test_detection_report_of_perfect_detections_is_one_with_intervals():
    scenes = [D.DetectionScene(np.zeros((40, 40, 3), np.uint8), np.array([[0, 0, 10, 10], [20, 20, 30, 30]]),
                               np.array([0, 1]), np.array([0, 1])) for _ in range(3)]
    dets = [(s.boxes.astype(float), np.array([0.9, 0.8]), s.labels) for s in scenes]
    rep = D.detection_report(dets, scenes, threshold=0.5, n_classes=2, n_boot=20)
    for k in ("precision", "recall", "AP", "mAP"):
        assert rep[k].estimate == 1.0 and rep[k].low == rep[k].high == 1.0
    wrong = [(b, s, 1 - lab) for b, s, lab in dets]
    rep = D.detection_report(wrong, scenes, threshold=0.5, n_classes=2, n_boot=20)
    assert rep["AP"].estimate == 1.0 and rep["mAP"].estimate == 0.0


def test_best_f1_threshold_separates_hits_from_misses():
    scenes = [D.DetectionScene(np.zeros((40, 40, 3), np.uint8), np.array([[0, 0, 10, 10]]), np.array([0]),
                               np.array([0]))]
    dets = [(np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float), np.array([0.7, 0.3]))]
    assert D.best_f1_threshold(dets, scenes) == 0.7
