"""fastinfer._core.nms against cv2.dnn.NMSBoxes and a numpy NMS written from the definition."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from fastinfer import _core
from reference import cv2_nms, numpy_nms

# Thresholds worth hitting exactly: the edges, the usual default and dyadic
# values (exact in float32, so an IoU equal to them stays equal after rounding).
IOU_THRESHOLDS = [0.0, 0.25, 0.45, 0.5, 0.75, 1.0]
CONF_THRESHOLDS = [0.0, 0.25, 0.5, 0.75, 1.0]
TIED_SCORES = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 0.3, 0.9], dtype=np.float32)


def check(boxes, scores, class_ids=None, **kwargs) -> np.ndarray:
    """Runs fastinfer's NMS, asserts it equals cv2's and the numpy reference's; returns the indices."""
    got = _core.nms(boxes, scores, class_ids, **kwargs)
    assert isinstance(got, np.ndarray) and got.dtype == np.int64 and got.ndim == 1
    expected = cv2_nms(boxes, scores, class_ids, **kwargs)
    assert got.tolist() == expected.tolist(), f"fastinfer {got.tolist()} != cv2 {expected.tolist()} ({kwargs})"
    from_definition = numpy_nms(boxes, scores, class_ids, **kwargs)
    assert got.tolist() == from_definition.tolist(), (
        f"fastinfer {got.tolist()} != numpy reference {from_definition.tolist()} ({kwargs})")
    return got


# ---------------------------------------------------------------- random cases


def random_boxes(rng: np.random.Generator, n: int, family: str) -> np.ndarray:
    if family == "float":  # continuous boxes, some of them without area
        xy = rng.uniform(-50, 400, size=(n, 2))
        wh = rng.uniform(0, 150, size=(n, 2)) * (rng.random((n, 2)) > 0.05)
        return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    if family == "grid":  # small integer grid: identical boxes, exact IoUs, touching and zero-area boxes
        xy = rng.integers(0, 8, size=(n, 2))
        wh = rng.integers(0, 5, size=(n, 2))
        return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    if family == "duplicates":  # a few distinct boxes, each repeated
        distinct = random_boxes(rng, max(1, n // 4), "float")
        return distinct[rng.integers(0, len(distinct), size=n)]
    if family == "clustered":  # jittered copies of a few boxes: many IoUs near any threshold
        centres = random_boxes(rng, max(1, n // 5), "float")
        jitter = rng.normal(0, 4, size=(n, 4)).astype(np.float32)
        boxes = centres[rng.integers(0, len(centres), size=n)] + jitter
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
        return boxes
    raise AssertionError(family)


FAMILIES = ["float", "grid", "duplicates", "clustered"]
CASES_PER_FAMILY = 300


@pytest.mark.parametrize("family", FAMILIES)
def test_random_cases_match_cv2_and_definition(family):
    rng = np.random.default_rng(FAMILIES.index(family) + 1)
    counts = {"class-aware": 0, "class-agnostic": 0, "kept": 0, "suppressed": 0}
    for case in range(CASES_PER_FAMILY):
        n = int(rng.integers(1, 48))
        boxes = random_boxes(rng, n, family)
        if rng.random() < 0.5:
            scores = TIED_SCORES[rng.integers(0, len(TIED_SCORES), size=n)]  # ties, and scores equal to conf
        else:
            scores = rng.random(n).astype(np.float32)
        if rng.random() < 0.6:
            iou = float(rng.choice(IOU_THRESHOLDS))
        else:
            iou = int(rng.integers(0, 1025)) / 1024  # dyadic: exact in float32
        conf = float(rng.choice(CONF_THRESHOLDS)) if rng.random() < 0.7 else float(np.float32(rng.random()))
        class_ids = None if rng.random() < 0.2 else rng.integers(-1, int(rng.integers(1, 5)), size=n)
        if class_ids is not None and rng.random() < 0.5:
            class_ids = class_ids.astype(np.int32)
        agnostic = bool(rng.random() < 0.3)
        max_det = int(rng.choice([0, 0, 0, 1, 2, 5, 100]))
        kept = check(boxes, scores, class_ids, conf=conf, iou=iou, class_agnostic=agnostic, max_det=max_det)
        counts["class-aware" if class_ids is not None and not agnostic else "class-agnostic"] += 1
        counts["kept"] += len(kept)
        candidates = int((scores > np.float32(conf)).sum())
        counts["suppressed"] += len(kept) < (min(candidates, max_det) if max_det else candidates)
    assert counts["class-aware"] > 100 and counts["class-agnostic"] > 50, counts
    assert counts["kept"] > CASES_PER_FAMILY and counts["suppressed"] > 30, counts


def test_random_cases_total_at_least_1000():
    assert len(FAMILIES) * CASES_PER_FAMILY >= 1000


# ---------------------------------------------------------------- exact thresholds


def exact_iou(a, b) -> Fraction:
    a = [Fraction(int(v)) for v in a]
    b = [Fraction(int(v)) for v in b]
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = iw * ih if iw > 0 and ih > 0 else Fraction(0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


# Integer box pairs whose IoU is exactly the given value.
EXACT_PAIRS = {
    0.5: [([0, 0, 3, 1], [1, 0, 4, 1]), ([0, 0, 2, 2], [0, 0, 2, 1]), ([0, 0, 4, 4], [0, 0, 4, 2]),
          ([10, 20, 16, 26], [10, 20, 16, 23])],
    0.25: [([0, 0, 5, 1], [3, 0, 8, 1]), ([0, 0, 4, 4], [0, 0, 1, 4]), ([0, 0, 2, 2], [1, 0, 4, 2])],
    0.75: [([0, 0, 4, 1], [0, 0, 3, 1]), ([0, 0, 7, 2], [1, 0, 8, 2]), ([0, 0, 4, 4], [0, 0, 4, 3])],
    0.45: [([0, 0, 20, 1], [0, 0, 9, 1])],  # 9/20: not exact in binary, still "not above 0.45"
}


@pytest.mark.parametrize("threshold", sorted(EXACT_PAIRS))
def test_iou_exactly_at_the_threshold_keeps_both(threshold):
    rng = np.random.default_rng(int(threshold * 100))
    for a, b in EXACT_PAIRS[threshold]:
        assert exact_iou(a, b) == Fraction(threshold).limit_denominator(100)
        for _ in range(25):
            # Integer scale and shift keep the IoU exact.
            k = int(rng.integers(1, 50))
            dx, dy = (int(v) for v in rng.integers(-500, 500, size=2))
            boxes = (np.array([a, b], dtype=np.float64) * k + [dx, dy, dx, dy]).astype(np.float32)
            scores = np.array([0.9, 0.8], dtype=np.float32)
            for order in ([0, 1], [1, 0]):
                kept = check(boxes[order], scores, iou=threshold)
                assert kept.tolist() == [0, 1], (a, b, k)
                kept = check(boxes[order], scores, iou=threshold - 1 / 1024)
                assert kept.tolist() == [0], (a, b, k)


# ---------------------------------------------------------------- special cases


def test_equal_scores_keep_input_order():
    boxes = np.array([[0, 0, 10, 10], [100, 0, 110, 10], [0, 0, 10, 10], [200, 0, 210, 10], [1, 1, 11, 11]],
                     dtype=np.float32)
    scores = np.full(5, 0.5, dtype=np.float32)
    # Ties are visited in input order: box 0 suppresses 2 (identical) and 4 (IoU 81/119).
    assert check(boxes, scores, iou=0.45).tolist() == [0, 1, 3]
    # Reversed input: box 4 (index 0) comes first now and wins.
    assert check(boxes[::-1].copy(), scores, iou=0.45).tolist() == [0, 1, 3]
    # With classes, merged results are in score order, then index order.
    class_ids = np.array([1, 0, 1, 2, 0])
    assert check(boxes, scores, class_ids, iou=0.45).tolist() == [0, 1, 3, 4]


def test_identical_boxes_keep_the_best_and_first():
    boxes = np.tile(np.array([[5, 5, 50, 40]], dtype=np.float32), (6, 1))
    scores = np.array([0.3, 0.9, 0.9, 0.1, 0.95, 0.95], dtype=np.float32)
    assert check(boxes, scores, iou=0.45).tolist() == [4]
    assert check(boxes, scores, iou=1.0).tolist() == [4, 5, 1, 2, 0, 3]  # IoU 1 is not above 1
    assert check(boxes, scores, iou=0.99).tolist() == [4]


def test_zero_area_boxes():
    # Two zero-area boxes overlap fully (OpenCV: the Jaccard distance of empty boxes is 0) ...
    boxes = np.array([[5, 5, 5, 5], [7, 7, 7, 7], [0, 0, 10, 0], [0, 0, 10, 10]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], dtype=np.float32)
    assert check(boxes, scores, iou=0.5).tolist() == [0, 3]
    assert check(boxes, scores, iou=1.0).tolist() == [0, 1, 2, 3]
    # ... while a zero-area box and a box with area do not overlap.
    assert check(boxes[[3, 0]], scores[:2], iou=0.0).tolist() == [0, 1]


def test_scores_equal_to_conf_are_dropped():
    boxes = np.array([[0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5], [6, 6, 7, 7]], dtype=np.float32)
    scores = np.array([0.25, 0.5, 0.2500001, 1.0], dtype=np.float32)
    assert check(boxes, scores, conf=0.25).tolist() == [3, 1, 2]
    assert check(boxes, scores, conf=0.5).tolist() == [3]
    conf = float(np.float32(0.3))  # a score equal to the float32 threshold is dropped too
    assert check(boxes, np.float32([0.3, 0.31, 0.29, 0.3]), conf=conf).tolist() == [1]


def test_threshold_edges():
    boxes = np.array([[0, 0, 10, 10], [10, 0, 20, 10], [9, 0, 19, 10], [0, 0, 10, 10]], dtype=np.float32)
    scores = np.array([1.0, 0.0, 0.7, 0.5], dtype=np.float32)
    # conf 0: a score of 0 is not above it.
    assert check(boxes, scores, conf=0.0, iou=1.0).tolist() == [0, 2, 3]
    # conf 1: nothing is above it, not even a score of 1.
    assert check(boxes, scores, conf=1.0, iou=1.0).tolist() == []
    # iou 0: any overlap suppresses; boxes that only touch (IoU 0) survive.
    assert check(boxes, scores, conf=0.0, iou=0.0).tolist() == [0]
    assert check(boxes[:2], np.float32([0.9, 0.8]), iou=0.0).tolist() == [0, 1]
    # iou 1: nothing is suppressed.
    assert check(boxes, np.float32([0.9, 0.8, 0.7, 0.6]), iou=1.0).tolist() == [0, 1, 2, 3]


def test_class_aware_and_class_agnostic():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], dtype=np.float32)
    scores = np.array([0.6, 0.9, 0.8, 0.7], dtype=np.float32)
    class_ids = np.array([0, 1, 0, 1], dtype=np.int64)
    assert check(boxes, scores, class_ids).tolist() == [1, 2, 3]
    assert check(boxes, scores, class_ids, class_agnostic=True).tolist() == [1, 3]
    assert check(boxes, scores).tolist() == [1, 3]  # no class ids: one NMS over all boxes


def test_max_det_truncates_after_merging():
    rng = np.random.default_rng(7)
    xy = np.stack([np.arange(40) * 10.0, rng.uniform(0, 100, size=40)], axis=1)
    boxes = np.concatenate([xy, xy + 5], axis=1).astype(np.float32)  # side by side: nothing suppressed
    scores = rng.random(40).astype(np.float32)
    class_ids = rng.integers(0, 3, size=40)
    everything = check(boxes, scores, class_ids)
    assert len(everything) == 40 and np.all(np.diff(scores[everything]) <= 0)
    for max_det in (1, 2, 7, 39, 40, 41):
        kept = check(boxes, scores, class_ids, max_det=max_det)
        assert kept.tolist() == everything[:max_det].tolist()


def test_empty_input():
    for class_ids in (None, np.zeros(0, dtype=np.int64)):
        kept = _core.nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), class_ids)
        assert kept.dtype == np.int64 and kept.shape == (0,)
    # Nothing above conf is empty too.
    assert check(np.float32([[0, 0, 1, 1]]), np.float32([0.1]), conf=0.5).tolist() == []


def test_accepts_float64_and_lists():
    boxes = [[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [30.0, 30.0, 40.0, 40.0]]
    scores = [0.5, 0.9, 0.7]
    assert _core.nms(np.array(boxes), np.array(scores), [3, 3, 3]).tolist() == [1, 2]
    assert _core.nms(boxes, scores).tolist() == check(np.float32(boxes), np.float32(scores)).tolist()


# ---------------------------------------------------------------- validation


def _boxes(n: int = 3) -> np.ndarray:
    return np.tile(np.float32([[0, 0, 1, 1]]), (n, 1))


BAD_ARGUMENTS = {
    "iou 1.5": (dict(iou=1.5), r"iou threshold must be in \[0, 1\], got 1\.5"),
    "iou negative": (dict(iou=-0.01), r"iou threshold must be in \[0, 1\]"),
    "iou nan": (dict(iou=float("nan")), r"iou threshold must be in \[0, 1\]"),
    "conf -0.1": (dict(conf=-0.1), r"conf \(score threshold\) must be in \[0, 1\], got -0\.1"),
    "conf 1.1": (dict(conf=1.1), r"conf \(score threshold\) must be in \[0, 1\]"),
    "max_det negative": (dict(max_det=-1), r"max_det must be >= 0"),
    "boxes (N, 5)": (dict(boxes=np.zeros((3, 5), np.float32)), r"boxes must be \(N, 4\) and scores \(N,\), got \(3, 5\)"),
    "boxes 1-D": (dict(boxes=np.zeros(12, np.float32)), r"boxes must be \(N, 4\) and scores \(N,\), got \(12,\)"),
    "scores too short": (dict(scores=np.zeros(2, np.float32)), r"boxes must be \(N, 4\) and scores \(N,\).*\(2,\)"),
    "scores 2-D": (dict(scores=np.zeros((3, 1), np.float32)), r"boxes must be \(N, 4\) and scores \(N,\)"),
    "class_ids too long": (dict(class_ids=np.zeros(4, np.int64)), r"class_ids must be \(N,\) like scores, got \(4,\)"),
    "class_ids 2-D": (dict(class_ids=np.zeros((3, 1), np.int64)), r"class_ids must be \(N,\) like scores"),
}


@pytest.mark.parametrize("name", BAD_ARGUMENTS, ids=str)
def test_bad_arguments_raise_invalid_input_error(name, raises_invalid):
    overrides, message = BAD_ARGUMENTS[name]
    kwargs = dict(boxes=_boxes(), scores=np.float32([0.5, 0.6, 0.7]))
    kwargs.update(overrides)
    with raises_invalid(message):
        _core.nms(**kwargs)
