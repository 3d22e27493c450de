"""YOLO head decoding (``_core.postprocess_head``), the preprocessing the heads' packages use, and head recognition.

* Decoding against the numpy reference in ``reference.py`` for each head
  (``yolov5``, ``yolov8``, ``yolox``, ``darknet``) on synthetic outputs:
  thresholds at the edges, batches, class-agnostic NMS, ``max_det``; every
  malformed shape raises.
* The real models against their own packages: NudeNet 3.4.2's
  ``NudeDetector`` (YOLOv8n, dynamic H/W, run at 320, 416 and 640) and
  ddddocr 1.6.1's detector (YOLOX), on every sample photo, through
  ``_core.make_blob`` + the ONNX Runtime backend + ``_core.postprocess_head``.
* ``fastinfer.formats.heads``: ``describe_onnx``, ``detect_head``, ``names_from_metadata``.

The packages are installed without their dependencies (``pip install --no-deps
nudenet==3.4.2 ddddocr==1.6.1``); at import they need only numpy, onnxruntime,
opencv-python-headless and Pillow.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import cv2
import numpy as np
import pytest

import fastinfer
from fastinfer import _core
from fastinfer.formats import heads
from fastinfer.runtime import backends
from helpers import assert_same
from reference import clip_xyxy, iou_matrix, postprocess_head_reference, ultralytics_letterbox, yolox_grid

NET = (96, 64)  # width, height of the synthetic network input; YOLOX grid: 12x8 + 6x4 + 3x2 = 126 cells
CLASSES = 5
HEADS = ("yolov5", "yolov8", "yolox", "darknet")

# ---------------------------------------------------------------- synthetic outputs


def synthetic_output(rng: np.random.Generator, head: str, n: int, conf: float, input_size=NET,
                     classes: int = CLASSES) -> np.ndarray:
    """One image's output in the head's layout.

    Background, confident anchors, overlapping copies, tied classes, scores and
    objectness exactly at ``conf``.

    Class probabilities stay in [0, 1], as the heads' sigmoids give them.
    """
    width, height = input_size
    if head == "yolox":
        n = len(yolox_grid(input_size))
    rows = np.zeros((n, 5 + classes), dtype=np.float32)
    if head == "yolox":  # offsets in cells, log sizes: boxes of 0.3 to 6 cells, neighbours overlap
        rows[:, 0:2] = rng.uniform(-1.0, 2.0, size=(n, 2))
        rows[:, 2:4] = np.log(rng.uniform(0.3, 6.0, size=(n, 2)))
    else:
        rows[:, 0:2] = rng.uniform(-0.05, 1.05, size=(n, 2))  # some centres off the input: boxes to clip
        rows[:, 2:4] = rng.uniform(0.01, 0.3, size=(n, 2))
        if head != "darknet":
            rows[:, 0:4] *= np.float32([width, height, width, height])
    rows[:, 4] = rng.random(n)
    rows[:, 5:] = rng.random((n, classes)) * 0.2
    hot = np.flatnonzero(rng.random(n) < 0.3)
    rows[hot, 4] = rng.uniform(0.5, 1.0, size=len(hot))
    rows[hot, 5 + rng.integers(0, classes, size=len(hot))] = rng.uniform(0.2, 1.0, size=len(hot))
    # Jittered copies of confident anchors: overlapping boxes for NMS.
    copies = np.flatnonzero(rng.random(n) < 0.2)
    if len(hot) and len(copies) and head != "yolox":
        rows[copies] = rows[rng.choice(hot, size=len(copies))]
        jitter = rng.normal(0, 0.02, size=(len(copies), 4)) * (1 if head == "darknet" else min(width, height))
        rows[copies, :4] += jitter.astype(np.float32)
        rows[copies, 2:4] = np.abs(rows[copies, 2:4]) + 0.01
        rows[copies, 5:] *= rng.uniform(0.8, 1.0, size=(len(copies), 1)).astype(np.float32)
    # Tied best class scores: the first of the tied classes wins.
    for r in np.flatnonzero(rng.random(n) < 0.1):
        a, b = sorted(rng.choice(classes, size=2, replace=False))
        rows[r, 5 + a] = rows[r, 5 + b] = np.float32(rng.uniform(0.4, 1.0))
        rows[r, 5:][rows[r, 5:] > rows[r, 5 + a]] = 0
    c = np.float32(conf)
    # Scores exactly at conf: not detections. (obj = 1 keeps obj * cls == cls.)
    at_conf = np.flatnonzero(rng.random(n) < 0.05)
    rows[at_conf, 4] = 1.0
    rows[at_conf, 5:] = np.minimum(rows[at_conf, 5:], c)
    rows[at_conf, 5 + rng.integers(0, classes, size=len(at_conf))] = c
    # Objectness exactly at conf (class 1.0): not a detection; one ulp above: a detection scoring obj.
    edge = np.flatnonzero(rng.random(n) < 0.05)
    rows[edge, 5:] = 0
    rows[edge, 5 + rng.integers(0, classes, size=len(edge))] = 1.0
    rows[edge, 4] = np.where(rng.random(len(edge)) < 0.5, c, np.nextafter(c, np.float32(2)))
    if head == "yolov8":
        return np.ascontiguousarray(np.delete(rows, 4, axis=1).T)
    return rows


def transforms_for(sizes, mode="letterbox", input_size=NET, **options) -> np.ndarray:
    images = [np.zeros((h, w, 3), dtype=np.uint8) for w, h in sizes]
    return _core.make_blob(images, input_size, mode, **options)[1]


def well_conditioned(output, transforms, head, conf, iou, input_size=NET) -> bool:
    """No IoU between candidates within 1e-4 of the threshold (float32 vs float64 cannot flip NMS)."""
    for *_, xyxy in postprocess_head_reference(output, transforms, input_size, head, conf, iou):
        if len(xyxy) and np.any(np.abs(iou_matrix(xyxy) - iou) < 1e-4):
            return False
    return True



IMAGE_SIZES = [(640, 480), (300, 900), (96, 64), (1352, 900), (17, 5)]
BLOB_OPTIONS = [("stretch", {}), ("letterbox", {}), ("letterbox", dict(center=False, sizing="floor")),
                ("pad_resize", dict(center=False, pad_value=0)), ("crop", {})]


# ---------------------------------------------------------------- decoding vs the reference


@pytest.mark.parametrize("head", HEADS)
def test_batches_match_the_reference(head):
    rng = np.random.default_rng(HEADS.index(head))
    checked = detections = suppressed = attempts = 0
    while checked < 16:
        attempts += 1
        assert attempts < 200, "cannot draw well-conditioned cases"
        batch = int(rng.integers(1, 5))
        sizes = [IMAGE_SIZES[i] for i in rng.integers(0, len(IMAGE_SIZES), size=batch)]
        mode, options = BLOB_OPTIONS[int(rng.integers(0, len(BLOB_OPTIONS)))]
        transforms = transforms_for(sizes, mode, **options)
        conf = float(rng.choice([0.0, 0.25, 0.5, float(np.float32(rng.random()))]))
        iou = float(rng.choice([0.3, 0.45, 0.6]))
        n = int(rng.integers(1, 150))
        output = np.stack([synthetic_output(rng, head, n, conf) for _ in range(batch)])
        if not well_conditioned(output, transforms, head, conf, iou):
            continue
        agnostic = bool(rng.random() < 0.3)
        max_det = int(rng.choice([0, 0, 3]))
        got = _core.postprocess_head(output, transforms, NET, head, conf, iou, agnostic, max_det)
        expected = postprocess_head_reference(output, transforms, NET, head, conf, iou, agnostic, max_det)
        assert_same(got, expected, where=f"{head} {mode} {options} batch {batch} conf {conf} iou {iou}")
        checked += 1
        detections += sum(len(d[1]) for d in got)
        suppressed += sum(len(e[3]) - len(e[1]) for e in expected)
    assert detections > 50 and suppressed > 50


@pytest.mark.parametrize("head", HEADS)
def test_2d_output_is_one_image_and_images_are_independent(head):
    rng = np.random.default_rng(20 + HEADS.index(head))
    transforms = transforms_for([(640, 480), (200, 300), (96, 64)])
    output = np.stack([synthetic_output(rng, head, 80, 0.25) for _ in range(3)])
    together = _core.postprocess_head(output, transforms, NET, head)
    assert len(together) == 3
    for i in range(3):
        for alone in (_core.postprocess_head(output[i], transforms[i:i + 1], NET, head),
                      _core.postprocess_head(output[i:i + 1], transforms[i:i + 1], NET, head)):
            assert len(alone) == 1
            for x, y in zip(alone[0], together[i]):
                np.testing.assert_array_equal(x, y)


def test_scores_thresholds_and_ties_by_hand():
    transforms = transforms_for([NET], "stretch")  # identity mapping
    c = np.float32(0.25)
    # yolov5 rows: cx, cy, w, h (pixels), obj, 3 classes.
    rows = np.array([
        [10, 10, 4, 4, 1.0, c, 0.1, 0.0],         # obj * cls == conf: dropped
        [20, 20, 4, 4, 0.5, 0.0, 0.8, 0.8],       # 0.4, tie between classes 1 and 2: class 1
        [30, 30, 4, 4, c, 1.0, 0.0, 0.0],         # objectness at conf: dropped
        [40, 40, 4, 4, 0.9, 0.2, 0.0, 0.3],       # 0.27: class 2
        [50, 50, 4, 4, 0.2, 2.0, 0.0, 0.0],       # obj not above conf: skipped although obj * cls = 0.4
    ], dtype=np.float32)
    (xyxy, conf, cls), = _core.postprocess_head(rows, transforms, NET, "yolov5", 0.25, 0.45)
    assert cls.tolist() == [1, 2]
    np.testing.assert_array_equal(conf, [np.float32(0.5) * np.float32(0.8), np.float32(0.9) * np.float32(0.3)])
    np.testing.assert_allclose(xyxy, [[18, 18, 22, 22], [38, 38, 42, 42]], rtol=1e-6)
    # yolov8: the same boxes channel-major, no objectness: the class score itself.
    planes = np.ascontiguousarray(np.delete(rows, 4, axis=1).T)
    (xyxy, conf, cls), = _core.postprocess_head(planes, transforms, NET, "yolov8", 0.25, 0.45)
    # Row 0's best (class 0) is exactly conf: dropped; rows 4, 2, 1 (tie: class 1) and 3 by score.
    assert cls.tolist() == [0, 0, 1, 2]
    np.testing.assert_array_equal(conf, np.float32([2.0, 1.0, 0.8, 0.3]))


def test_yolox_grid_by_hand():
    # Strides 8, 16, 32 over 96x64: rows 0-95 (12x8 cells), 96-119 (6x4), 120-125 (3x2).
    rows = np.zeros((126, 6), np.float32)
    rows[96 + 2 * 6 + 3] = [0.5, 0.5, np.log(2.0), np.log(2.0), 0.9, 1.0]  # stride 16, cell (3, 2)
    rows[5] = [0.0, 0.0, 0.0, 0.0, 0.8, 1.0]                                # stride 8, cell (5, 0)
    rows[125] = [1.0, -0.5, np.log(0.5), 0.0, 0.7, 1.0]                     # stride 32, cell (2, 1)
    transforms = transforms_for([NET], "stretch")
    (xyxy, conf, _), = _core.postprocess_head(rows, transforms, NET, "yolox", 0.25, 0.45)
    np.testing.assert_allclose(conf, np.float32([0.9, 0.8, 0.7]))
    unclipped = np.array([[40, 24, 72, 56], [36, -4, 44, 4], [88, 0, 104, 32]])
    np.testing.assert_allclose(xyxy, clip_xyxy(unclipped, *NET), atol=1e-4)  # cut at the 96x64 image's edges
    expected = postprocess_head_reference(rows, transforms, NET, "yolox")[0]
    np.testing.assert_allclose(expected[3], unclipped[[1, 0, 2]], atol=1e-4)  # candidates in row order


def test_yolox_grid_rounds_up_for_sizes_not_divisible_by_the_strides():
    size = (100, 60)  # ceil: 13x8 + 7x4 + 4x2 = 140 cells, as the network's strided convolutions give
    assert heads.grid_cells(size) == 140 == len(yolox_grid(size))
    rows = np.zeros((140, 6), np.float32)
    rows[139] = [0.5, 0.5, 0.0, 0.0, 0.9, 1.0]  # stride 32, cell (3, 1)
    transforms = transforms_for([(1000, 600)], "stretch", input_size=size)  # scale 0.1
    (xyxy, _, _), = _core.postprocess_head(rows, transforms, size, "yolox", 0.25, 0.45)
    # Centre (112, 48), 32x32 in the 100x60 input: (960, 320)-(1280, 640) in the image, clipped to 1000x600.
    np.testing.assert_allclose(xyxy, [[960, 320, 1000, 600]], rtol=1e-5)


def test_custom_strides():
    strides = (16, 32, 64)
    rows = np.zeros((6 * 4 + 3 * 2 + 2 * 1, 6), np.float32)
    rows[-1] = [0.5, 0.5, 0.0, 0.0, 0.9, 1.0]  # stride 64, cell (1, 0)
    transforms = transforms_for([NET], "stretch")
    (xyxy, _, _), = _core.postprocess_head(rows, transforms, NET, "yolox", strides=strides)
    np.testing.assert_allclose(xyxy, [[64, 0, 96, 64]], atol=1e-4)
    expected = postprocess_head_reference(rows, transforms, NET, "yolox", strides=strides)
    np.testing.assert_allclose(xyxy, expected[0][0], atol=1e-4)


def test_max_det_and_class_agnostic():
    # Three overlapping boxes of two classes, and one apart.
    rows = np.array([
        [30, 30, 20, 20, 1.0, 0.9, 0.0],
        [31, 31, 20, 20, 1.0, 0.0, 0.8],
        [32, 30, 20, 20, 1.0, 0.7, 0.0],
        [80, 50, 10, 10, 1.0, 0.0, 0.6],
    ], np.float32)
    transforms = transforms_for([NET], "stretch")
    per_class = _core.postprocess_head(rows, transforms, NET, "yolov5")[0]
    assert per_class[2].tolist() == [0, 1, 1]
    agnostic = _core.postprocess_head(rows, transforms, NET, "yolov5", class_agnostic=True)[0]
    assert agnostic[2].tolist() == [0, 1] and agnostic[1].tolist() == [np.float32(0.9), np.float32(0.6)]
    capped = _core.postprocess_head(rows, transforms, NET, "yolov5", max_det=2)[0]
    np.testing.assert_array_equal(capped[1], per_class[1][:2])


@pytest.mark.parametrize("head", HEADS)
def test_nothing_above_conf_and_no_anchors(head):
    transforms = transforms_for([(100, 100), (50, 80)])
    quiet = np.zeros((2, 5, 126) if head == "yolov8" else (2, 126, 6), np.float32)
    outputs = [quiet]
    if head != "yolox":
        outputs.append(np.zeros((2, 5, 0) if head == "yolov8" else (2, 0, 6), np.float32))
    for output in outputs:
        results = _core.postprocess_head(output, transforms, NET, head)
        assert len(results) == 2
        for xyxy, conf, cls in results:
            assert xyxy.shape == (0, 4) and conf.shape == (0,) and cls.shape == (0,)


def test_yolo11_is_yolov8():
    rng = np.random.default_rng(3)
    output = synthetic_output(rng, "yolov8", 100, 0.25)
    transforms = transforms_for([(640, 480)])
    for a, b in zip(_core.postprocess_head(output, transforms, NET, "yolo11")[0],
                    _core.postprocess_head(output, transforms, NET, "yolov8")[0]):
        np.testing.assert_array_equal(a, b)


def _t(batch: int = 1) -> np.ndarray:
    return np.tile(np.array([[1, 1, 0, 0, 96, 64]], np.float64), (batch, 1))


BAD_CALLS = {
    "yolov8 4 channels": (dict(head="yolov8", output=np.zeros((1, 4, 10), np.float32)),
                          r"yolov8 output needs at least 5 channels \(4 box \+ 1 class\), got 4"),
    "yolov5 rows of 5": (dict(head="yolov5", output=np.zeros((1, 10, 5), np.float32)),
                         r"yolov5 output needs at least 6 values per row .*, got 5"),
    "yolox rows of 5": (dict(head="yolox", output=np.zeros((1, 126, 5), np.float32)),
                        r"yolox output needs at least 6 values per row .*, got 5"),
    "darknet rows of 5": (dict(head="darknet", output=np.zeros((1, 10, 5), np.float32)),
                          r"darknet output needs at least 6 values per row .*, got 5"),
    "yolox rows != grid": (dict(head="yolox", output=np.zeros((1, 125, 6), np.float32)),
                           r"yolox output for a 96x64 input with strides 8, 16, 32 must have 126 rows "
                           r"\(sum of ceil\(H/s\) \* ceil\(W/s\)\), got 125"),
    "yolox transposed": (dict(head="yolox", output=np.zeros((1, 6, 126), np.float32)),
                         r"must have 126 rows .* got 6"),
    "batch mismatch": (dict(output=np.zeros((2, 10, 8), np.float32)),
                       r"output of shape \(2, 10, 8\) holds 2 image\(s\) but transforms has 1 rows"),
    "2-D for two images": (dict(output=np.zeros((10, 8), np.float32), transforms=_t(2)),
                           r"output of shape \(10, 8\) holds 1 image\(s\) but transforms has 2 rows"),
    "4-D output": (dict(output=np.zeros((1, 1, 10, 8), np.float32)),
                   r"output must be \(batch, rows, 5\+classes\) \(or 2-D for one image\), got \(1, 1, 10, 8\)"),
    "4-D yolov8 output": (dict(head="yolov8", output=np.zeros((1, 1, 8, 10), np.float32)),
                          r"output must be \(batch, 4\+classes, anchors\)"),
    "1-D output": (dict(output=np.zeros(8, np.float32)), r"output must be .* got \(8,\)"),
    "float64 output": (dict(output=np.zeros((1, 10, 8))), r"output must be float32, got dtype float64"),
    "non-contiguous": (dict(output=np.zeros((1, 10, 16), np.float32)[:, :, ::2]), r"output must be C-contiguous"),
    "not an array": (dict(output="rows"), r"output must be float32"),
    "unknown head": (dict(head="yolov9"), r"head must be 'darknet', 'yolov5', 'yolov8' \(or 'yolo11'\) or 'yolox', "
                                          r"got 'yolov9'"),
    "no strides": (dict(head="yolox", strides=[]), r"yolox needs at least one stride, got none"),
    "zero stride": (dict(head="yolox", strides=[8, 0, 32]), r"strides must be positive, got 8, 0, 32"),
    "input size 0": (dict(input_size=(0, 64)), r"input size must be positive, got 0x64"),
    "transforms (1, 5)": (dict(transforms=np.ones((1, 5))), r"transforms must have shape \(N, 6\) with N >= 1, "
                                                            r"got \(1, 5\)"),
    "no transforms": (dict(transforms=np.ones((0, 6))), r"transforms must have shape \(N, 6\) with N >= 1"),
    "transforms zero scale": (dict(transforms=np.array([[0, 1, 0, 0, 10, 10]], np.float64)),
                              r"transforms rows must hold positive scales and image sizes"),
    "conf 2": (dict(conf=2.0), r"conf \(score threshold\) must be in \[0, 1\]"),
    "iou -1": (dict(iou=-1.0), r"iou threshold must be in \[0, 1\]"),
    "max_det -1": (dict(max_det=-1), r"max_det must be >= 0"),
}


@pytest.mark.parametrize("name", BAD_CALLS, ids=str)
def test_bad_calls_raise_invalid_input_error(name, raises_invalid):
    overrides, message = BAD_CALLS[name]
    kwargs = dict(output=np.zeros((1, 10, 8), np.float32), transforms=_t(), input_size=NET, head="yolov5")
    kwargs.update(overrides)
    with raises_invalid(message):
        _core.postprocess_head(**kwargs)


# ---------------------------------------------------------------- preprocessing options


def pad_resize_reference(image: np.ndarray, size: tuple[int, int], center: bool, pad: int) -> tuple[np.ndarray, float]:
    """cv2: pad to the input's aspect ratio (smallest canvas), then ``cv2.resize`` bilinear; scale 1, BGR."""
    h, w = image.shape[:2]
    cw = max(w, -(-h * size[0] // size[1]))
    ch = max(h, -(-w * size[1] // size[0]))
    left, top = ((cw - w) // 2, (ch - h) // 2) if center else (0, 0)
    canvas = cv2.copyMakeBorder(image, top, ch - h - top, left, cw - w - left, cv2.BORDER_CONSTANT,
                                value=(pad, pad, pad))
    if canvas.shape[:2] != (size[1], size[0]):
        canvas = cv2.resize(canvas, size, interpolation=cv2.INTER_LINEAR)
    return canvas.transpose(2, 0, 1).astype(np.float32), (left * size[0] / cw, top * size[1] / ch, cw, ch)


SIZES = [(1, 1), (3, 7), (13, 31), (416, 416), (200, 320), (415, 417), (900, 601), (2, 60), (50, 3)]


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("target", [(320, 320), (416, 256), (33, 17)])
def test_pad_resize_pads_first_then_stretches(target, center):
    rng = np.random.default_rng(7)
    for h, w in SIZES:
        image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        expected, (pad_x, pad_y, cw, ch) = pad_resize_reference(image, target, center, 7)
        blob, (t,) = _core.make_blob(image, target, "pad_resize", False, 1.0, [0], [1], 7, center=center)
        np.testing.assert_array_equal(blob[0], expected, err_msg=f"{w}x{h} -> {target}")
        np.testing.assert_allclose(t, [target[0] / cw, target[1] / ch, pad_x, pad_y, w, h], rtol=1e-6)


def test_pad_resize_differs_from_letterbox_at_the_image_edge():
    # NudeNet pads then resizes, so the resize blends the image's last row with the padding: 80x39 -> an 80x80
    # canvas -> 64x64 (x0.8): input row 31 samples canvas rows 38 (image) and 39 (padding).
    image = np.full((39, 80, 3), 200, np.uint8)
    pad_resize, _ = _core.make_blob(image, (64, 64), "pad_resize", False, 1.0, [0], [1], 0, center=False)
    letterbox, _ = _core.make_blob(image, (64, 64), "letterbox", False, 1.0, [0], [1], 0, center=False,
                                   sizing="floor")
    assert 0 < pad_resize[0, 0, 31, 0] < 200
    assert (pad_resize[0, :, :31] == 200).all() and (pad_resize[0, :, 32:] == 0).all()
    assert (letterbox[0, :, :31] == 200).all() and (letterbox[0, :, 31:] == 0).all()


def letterbox_size(w: int, h: int, target: tuple[int, int], sizing: str) -> tuple[int, int]:
    """The resized image's size: Darknet's integer arithmetic, or one ratio with int() / round()."""
    if sizing == "darknet":
        if target[0] / w < target[1] / h:
            return target[0], max(h * target[0] // w, 1)
        return max(w * target[1] // h, 1), target[1]
    r = min(target[1] / h, target[0] / w)
    size = (int(w * r), int(h * r)) if sizing == "floor" else (int(round(w * r)), int(round(h * r)))
    return max(size[0], 1), max(size[1], 1)


@pytest.mark.parametrize("sizing", ["darknet", "floor", "round"])
@pytest.mark.parametrize("target", [(416, 416), (320, 192)])
def test_letterbox_at_the_top_left_holds_the_same_pixels(target, sizing):
    rng = np.random.default_rng(8)
    for h, w in SIZES:
        image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        centred, (tc,) = _core.make_blob(image, target, "letterbox", False, 1.0, [0], [1], 114, sizing=sizing)
        blob, (t,) = _core.make_blob(image, target, "letterbox", False, 1.0, [0], [1], 114, center=False,
                                     sizing=sizing)
        nw, nh = letterbox_size(w, h, target, sizing)
        px, py = (target[0] - nw) // 2, (target[1] - nh) // 2
        where = f"{w}x{h} -> {target}"
        np.testing.assert_array_equal(tc[2:4], [px, py], err_msg=where)
        np.testing.assert_array_equal(t[2:4], [0, 0], err_msg=where)
        np.testing.assert_array_equal(t[:2], tc[:2], err_msg=where)
        if sizing == "darknet":
            np.testing.assert_allclose(t[:2], [nw / w, nh / h], rtol=1e-6, err_msg=where)
        else:
            np.testing.assert_allclose(t[:2], [min(target[0] / w, target[1] / h)] * 2, rtol=1e-6, err_msg=where)
        np.testing.assert_array_equal(blob[0, :, :nh, :nw], centred[0, :, py:py + nh, px:px + nw], err_msg=where)
        padding = np.ones(blob.shape[2:], bool)
        padding[:nh, :nw] = False
        assert (blob[0][:, padding] == 114).all(), where


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("target", [(640, 640), (320, 192), (33, 17)])
def test_round_sizing_is_ultralytics_letterbox(target, center):
    rng = np.random.default_rng(9)
    for h, w in SIZES:
        image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        expected = ultralytics_letterbox(image, target, center=center)
        blob, (t,) = _core.make_blob(image, target, "letterbox", False, 1.0, [0], [1], 114, center=center,
                                     sizing="round")
        np.testing.assert_array_equal(blob[0], expected.transpose(2, 0, 1), err_msg=f"{w}x{h} -> {target}")
        r = min(target[0] / w, target[1] / h)
        np.testing.assert_allclose(t[:2], [r, r], rtol=1e-6)


def test_crop_at_the_top_left():
    rng = np.random.default_rng(10)
    image = rng.integers(0, 256, size=(300, 500, 3), dtype=np.uint8)
    blob, (t,) = _core.make_blob(image, (96, 64), "crop", False, 1.0, [0], [1], center=False)
    factor = max(96 / 500, 64 / 300)
    resized = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(blob[0], resized[:64, :96].transpose(2, 0, 1))
    assert t[2] == 0 and t[3] == 0


BAD_BLOBS = {
    "pad_resize with 127.5": (dict(mode="pad_resize"),
                              r"pad_resize pads the uint8 image before resizing: pad value must be an integer in "
                              r"\[0, 255\], got 127.5"),
    "pad_resize with 300": (dict(mode="pad_resize", pad_value=300), r"must be an integer in \[0, 255\], got 300"),
    "bad sizing": (dict(mode="letterbox", sizing="ceil"),
                   r"letterbox sizing must be 'darknet', 'floor' or 'round', got 'ceil'"),
    "bad mode": (dict(mode="fill"), r"resize mode must be .* got 'fill' \(or 'pad_resize'"),
}


@pytest.mark.parametrize("name", BAD_BLOBS, ids=str)
def test_bad_blob_options_raise_invalid_input_error(name, raises_invalid):
    overrides, message = BAD_BLOBS[name]
    kwargs = dict(images=[np.zeros((8, 8, 3), np.uint8)], size=(32, 32))
    kwargs.update(overrides)
    with raises_invalid(message):
        _core.make_blob(**kwargs)


# ---------------------------------------------------------------- the real models and their packages

NUDENET_SIZES = (320, 416, 640)
#: NudeNet 3.4.2's _read_image: cv2.imread (BGR); cvtColor(COLOR_RGBA2BGR), which on a 3-channel image swaps
#: B and R; copyMakeBorder at the bottom/right to a square of the longer side, value 0; then
#: blobFromImage(1/255, size, swapRB=True), which resizes bilinearly and swaps back: the model sees BGR.
NUDENET_BLOB = dict(mode="pad_resize", swap_rb=False, scale=1 / 255, mean=[0.0], std=[1.0], pad_value=0,
                    center=False)
#: ddddocr 1.6.1's preproc: r = min(416/h, 416/w), cv2.resize to (int(w*r), int(h*r)) bilinear, placed at the
#: top-left of a 114 canvas; BGR, 0-255 (no scaling).
DDDDOCR_BLOB = dict(mode="letterbox", swap_rb=False, scale=1.0, mean=[0.0], std=[1.0], pad_value=114,
                    center=False, sizing="floor")
DDDDOCR_SIZE = (416, 416)
INSTALL_HINT = "pip install --no-deps nudenet==3.4.2 ddddocr==1.6.1"


def _package(name: str, version: str):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        pytest.fail(f"the reference package {name}=={version} is not installed ({exc}): {INSTALL_HINT}",
                    pytrace=False)
    from importlib.metadata import version as installed

    assert installed(name) == version, f"{name} {installed(name)} is installed; these tests compare with {version}"
    return module


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def nudenet(nudenet_model):
    module = _package("nudenet", "3.4.2")
    packaged = Path(module.__file__).parent / "320n.onnx"
    assert _sha256(packaged) == _sha256(nudenet_model), f"{packaged} differs from {nudenet_model}"
    return module


@pytest.fixture(scope="module")
def ddddocr_engine(ddddocr_model):
    """ddddocr's detector; it loads common_det.onnx from its own folder, which must be the test data's file."""
    module = _package("ddddocr", "1.6.1")
    packaged = Path(module.__file__).parent / "common_det.onnx"
    assert _sha256(packaged) == _sha256(ddddocr_model), f"{packaged} differs from {ddddocr_model}"
    return module.DdddOcr(det=True, ocr=False, show_ad=False)


@pytest.fixture(scope="module")
def nudenet_backend(nudenet_model):
    return backends.load(nudenet_model, None, "onnxruntime")


@pytest.fixture(scope="module")
def ddddocr_backend(ddddocr_model):
    return backends.load(ddddocr_model, None, "onnxruntime")


MARGIN = 4096.0


def unclipped(transforms: np.ndarray, margin: float = MARGIN) -> np.ndarray:
    """Transforms that move every image ``margin`` pixels right and down inside a larger image.

    Decoding with them and subtracting ``margin`` gives the boxes before
    clipping (for packages that clip in their own way).
    """
    shifted = np.array(transforms, dtype=np.float64)
    shifted[:, 2] -= margin * shifted[:, 0]
    shifted[:, 3] -= margin * shifted[:, 1]
    shifted[:, 4:] += 2 * margin
    return shifted


def decode_both(output, transforms, input_size, head, **kwargs):
    """(clipped result, unclipped boxes) of one image."""
    (xyxy, conf, cls), = _core.postprocess_head(output, transforms, input_size, head, **kwargs)
    (raw, raw_conf, raw_cls), = _core.postprocess_head(output, unclipped(transforms), input_size, head, **kwargs)
    np.testing.assert_array_equal(conf, raw_conf)
    np.testing.assert_array_equal(cls, raw_cls)
    raw = raw.astype(np.float64) - MARGIN
    w, h = transforms[0, 4:]
    np.testing.assert_allclose(xyxy, clip_xyxy(raw, w, h), atol=2e-3)
    return xyxy, conf, cls, raw


def assert_truncated(ours: np.ndarray, theirs: np.ndarray, what: str):
    """The package's int() of a non-negative value: ours - theirs in [0, 1), with float slack."""
    diff = np.asarray(ours, np.float64) - np.asarray(theirs, np.float64)
    assert ((diff > -2e-3) & (diff < 1 + 2e-3)).all(), f"{what}: ours {ours}, package {theirs}"


@pytest.mark.parametrize("size", NUDENET_SIZES)
def test_nudenet_detector_equals_fastinfer(size, photos, nudenet, nudenet_model, nudenet_backend):
    """NudeDetector(...).detect(path) at each inference resolution vs make_blob + ORT + postprocess_head.

    NudeNet keeps class scores >= 0.2, then cv2.dnn.NMSBoxes(score 0.25, IoU 0.45) over all classes at once:
    conf=0.25, class_agnostic=True. It clips before NMS in its own way (x = clip(x1), w = min(w, W - x):
    a box cut at the left keeps its width) and returns int() of x, y, w, h; that is applied to the unclipped
    boxes here. The dynamic-H/W model runs at each size with a different number of anchors.
    """
    detector = nudenet.NudeDetector(model_path=str(nudenet_model), inference_resolution=size)
    labels = heads.names_from_metadata(heads.describe_onnx(nudenet_model)["metadata"])
    found = 0
    for path in photos:
        image = fastinfer.read_image(path)
        assert (image == cv2.imread(str(path))).all(), f"{path.name}: fastinfer and cv2 decode it differently"
        expected = detector.detect(str(path))
        blob, transforms = _core.make_blob(image, (size, size), **NUDENET_BLOB)
        output = nudenet_backend.forward(blob)[0]
        assert output.shape == (1, 22, heads.grid_cells((size, size)))
        xyxy, conf, cls, raw = decode_both(output, transforms, (size, size), "yolov8", conf=0.25, iou=0.45,
                                           class_agnostic=True)
        where = f"{path.name} at {size}"
        assert len(conf) == len(expected), f"{where}: {len(conf)} detections, NudeNet {len(expected)}: {expected}"
        order = sorted(range(len(expected)), key=lambda i: -expected[i]["score"])
        for k, i in enumerate(order):
            det = expected[i]
            assert labels[cls[k]] == det["class"], where
            assert abs(float(conf[k]) - det["score"]) <= 1e-4, where
            height, width = image.shape[:2]
            x = min(max(raw[k, 0], 0), width)
            y = min(max(raw[k, 1], 0), height)
            w = min(raw[k, 2] - raw[k, 0], width - x)
            h = min(raw[k, 3] - raw[k, 1], height - y)
            assert_truncated([x, y, w, h], det["box"], f"{where} box {k}")
            if raw[k, 0] >= 0 and raw[k, 1] >= 0:  # no left/top cut: the package's box is ours, truncated
                x1, y1, x2, y2 = xyxy[k]
                assert_truncated([x1, y1, x2 - x1, y2 - y1], det["box"], f"{where} box {k}")
        found += len(expected)
    assert found >= 2, f"NudeNet found only {found} objects in the photos at {size}: the comparison says little"


def test_ddddocr_detection_equals_fastinfer(photos, ddddocr_engine, ddddocr_backend):
    """DdddOcr(det=True).detection(bytes) vs make_blob + ORT + postprocess_head("yolox").

    ddddocr scores obj * cls, keeps scores above 0.1, runs its own NMS (IoU 0.45, with the +1 pixel area
    convention) and returns int() of the clipped x1, y1, x2, y2 without scores; the scores and unclipped boxes
    are read from its multiclass_nms here.
    """
    engine = ddddocr_engine.detection_engine
    captured = []
    original = engine.multiclass_nms

    def capture(*args, **kwargs):
        result = original(*args, **kwargs)
        captured.append(result)
        return result

    engine.multiclass_nms = capture
    found = 0
    try:
        for path in photos:
            image = fastinfer.read_image(path)
            captured.clear()
            boxes = ddddocr_engine.detection(path.read_bytes())
            assert (image == cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)).all()
            blob, transforms = _core.make_blob(image, DDDDOCR_SIZE, **DDDDOCR_BLOB)
            output = ddddocr_backend.forward(blob)[0]
            xyxy, conf, cls, raw = decode_both(output, transforms, DDDDOCR_SIZE, "yolox", conf=0.1, iou=0.45,
                                               class_agnostic=True)
            where = path.name
            assert len(conf) == len(boxes), f"{where}: {len(conf)} detections, ddddocr {len(boxes)}: {boxes}"
            if not boxes:
                continue
            (pred,) = captured
            order = np.argsort(-pred[:, 4], kind="stable")
            np.testing.assert_allclose(conf, pred[order, 4], atol=1e-4, err_msg=where)
            assert (cls == 0).all() and (pred[:, 5] == 0).all()
            ious = np.diag(iou_matrix(np.concatenate([raw, pred[order, :4]]))[: len(raw), len(raw):])
            assert (ious >= 0.99).all(), f"{where}: IoU {ious}"
            assert_truncated(xyxy, np.asarray(boxes)[order], where)
            found += len(boxes)
    finally:
        engine.multiclass_nms = original
    assert found >= 5, f"ddddocr found only {found} objects in the photos: the comparison says little"


@pytest.mark.parametrize("size", NUDENET_SIZES)
def test_nudenet_blob_is_the_packages(size, photos, nudenet):
    for path in photos:
        expected, x_ratio, y_ratio, x_pad, y_pad, w, h = nudenet.nudenet._read_image(str(path), size)
        blob, (t,) = _core.make_blob(fastinfer.read_image(path), (size, size), **NUDENET_BLOB)
        np.testing.assert_array_equal(blob, expected, err_msg=path.name)
        # NudeNet maps back with (W + x_pad) / size: the transform's scale is its inverse, no offset.
        np.testing.assert_allclose(t, [size / (w + x_pad), size / (h + y_pad), 0, 0, w, h], rtol=1e-6)


def test_ddddocr_blob_is_the_packages(photos, ddddocr_engine):
    engine = ddddocr_engine.detection_engine
    rng = np.random.default_rng(12)
    images = [fastinfer.read_image(p) for p in photos]
    images += [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for h, w in SIZES]
    for image in images:
        expected, ratio = engine.preproc(image, (DDDDOCR_SIZE[1], DDDDOCR_SIZE[0]))
        blob, (t,) = _core.make_blob(image, DDDDOCR_SIZE, **DDDDOCR_BLOB)
        np.testing.assert_array_equal(blob[0], expected, err_msg=str(image.shape))
        assert t[0] == t[1] == np.float32(ratio) and t[2] == t[3] == 0


# ---------------------------------------------------------------- recognising heads


def test_describe_onnx_on_the_real_models(nudenet_model, ddddocr_model):
    nude = heads.describe_onnx(nudenet_model)
    assert nude["inputs"] == [{"name": "images", "shape": ["batch", 3, "height", "width"], "dtype": "float32"}]
    (out,) = nude["outputs"]
    assert out["name"] == "output0" and out["shape"][:2] == ["batch", 22] and isinstance(out["shape"][2], str)
    assert nude["metadata"]["author"] == "Ultralytics" and nude["metadata"]["task"] == "detect"
    dddd = heads.describe_onnx(ddddocr_model)
    assert dddd["inputs"] == [{"name": "images", "shape": [1, 3, 416, 416], "dtype": "float32"}]
    assert [o["shape"] for o in dddd["outputs"]] == [[1, 3549, 6]] and dddd["metadata"] == {}


def test_describe_onnx_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.onnx"
    with pytest.raises(fastinfer.ModelLoadError, match=r"ONNX model '.*missing\.onnx' does not exist"):
        heads.describe_onnx(missing)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff\xfe not a protobuf \x00\x01" * 10)
    with pytest.raises(fastinfer.ModelLoadError, match=r"cannot read ONNX model '.*garbage\.onnx'"):
        heads.describe_onnx(garbage)


def test_detect_head_on_the_real_models(nudenet_model, ddddocr_model):
    for path, expected in ((nudenet_model, "yolov8"), (ddddocr_model, "yolox")):
        info = heads.describe_onnx(path)
        shapes = [o["shape"] for o in info["outputs"]]
        assert heads.detect_head(shapes, info["metadata"]) == expected
        assert heads.detect_head(shapes, info["metadata"], input_size=(416, 416)) == expected
    info = heads.describe_onnx(nudenet_model)
    assert heads.detect_head([o["shape"] for o in info["outputs"]], info["metadata"], num_classes=18) == "yolov8"
    info = heads.describe_onnx(ddddocr_model)
    assert heads.detect_head([o["shape"] for o in info["outputs"]], info["metadata"], num_classes=1) == "yolox"


def test_names_from_nudenets_metadata_are_the_packages_labels(nudenet_model, nudenet):
    names = heads.names_from_metadata(heads.describe_onnx(nudenet_model)["metadata"])
    assert names == list(vars(nudenet.nudenet)["__labels"])
    assert heads.names_from_metadata(heads.describe_onnx(nudenet_model.parent.parent / "yolox-ddddocr" /
                                                         "common_det.onnx")["metadata"]) is None


ULTRALYTICS = {"author": "Ultralytics", "task": "detect", "stride": "32", "names": "{0: 'a', 1: 'b'}",
               "imgsz": "[640, 640]"}
DETECTED = {
    "yolov8 640": ([[1, 84, 8400]], {}, {}, "yolov8"),
    "yolov8 with classes": ([[1, 84, 8400]], {}, dict(num_classes=80), "yolov8"),
    "yolov8 dynamic": ([["batch", 84, "anchors"]], {}, {}, "yolov8"),
    "yolov8 dynamic, no batch name": ([[None, 6, None]], {}, {}, "yolov8"),
    "yolov8 one class": ([[1, 5, 2100]], {}, {}, "yolov8"),
    "yolov5 640 square guess": ([[1, 25200, 85]], {}, {}, "yolov5"),
    "yolov5 640 given": ([[1, 25200, 85]], {}, dict(input_size=(640, 640)), "yolov5"),
    "yolov5 640x384": ([[1, 3 * 5040, 85]], {}, dict(input_size=(640, 384)), "yolov5"),
    "yolov5 ultralytics metadata": ([[1, 1000, 7]], ULTRALYTICS, {}, "yolov5"),
    "yolov5 ultralytics dynamic": ([["batch", "anchors", 7]], ULTRALYTICS, {}, "yolov5"),
    "yolov8 ultralytics metadata": ([[1, 6, 8400]], ULTRALYTICS, {}, "yolov8"),
    "yolox 640": ([[1, 8400, 85]], {}, {}, "yolox"),
    "yolox 416 one class": ([[1, 3549, 6]], {}, dict(input_size=(416, 416)), "yolox"),
    "yolox imgsz metadata": ([[1, 5040, 85]], {"imgsz": "[384, 640]"}, {}, "yolox"),
    "darknet 2-D": ([[2535, 85]], {}, {}, "darknet"),
    "darknet per layer": ([[507, 85], [2028, 85]], {}, {}, "darknet"),
    "darknet per layer 3-D": ([[1, 507, 85], [1, 2028, 85]], {}, {}, "darknet"),
    "metadata names the head": ([[1, 25200, 85]], {"fastinfer.head": "yolox"}, {}, "yolox"),
    "metadata yolo11": ([[1, 84, 8400]], {"fastinfer.head": "yolo11"}, {}, "yolov8"),
    "metadata darknet": ([[1, 2535, 85]], {"fastinfer.head": "darknet"}, {}, "darknet"),
}


@pytest.mark.parametrize("name", DETECTED, ids=str)
def test_detect_head_on_synthetic_shapes(name):
    shapes, metadata, kwargs, expected = DETECTED[name]
    assert heads.detect_head(shapes, metadata, **kwargs) == expected


UNDETECTABLE = {
    "unknown head in metadata": ([[1, 84, 8400]], {"fastinfer.head": "retinanet"}, {},
                                 r"metadata 'fastinfer.head' is 'retinanet', expected one of darknet, yolov5, yolov8, yolox, ssd"),
    "no outputs": ([], {}, {}, r"the model has no outputs"),
    "segmentation": ([[1, 116, 8400], [1, 32, 160, 160]], dict(ULTRALYTICS, task="segment"), {},
                     r"Ultralytics 'segment' model; only 'detect' models are supported"),
    "rows match no grid": ([[1, 1234, 85]], {}, {},
                           r"1234 rows is neither the grid cells of any square input .* pass head='darknet', "
                           r"'yolov5', 'yolov8' or 'yolox'"),
    "rows match no grid of the given size": ([[1, 8400, 85]], {}, dict(input_size=(416, 416)),
                                             r"8400 rows is neither the grid cells of a 416x416 input"),
    "dynamic rows": ([["batch", "anchors", 85]], {}, {}, r"its row count is dynamic.* pass head="),
    "all dynamic": ([["b", "c", "n"]], {}, {}, r"neither of its last two dimensions is fixed"),
    "rank 4": ([[1, 3, 1, 80]], {}, {}, r"expected a rank-3 first output, got rank 4"),
    "a segmenter": ([[1, 3, 80, 80]], {}, {}, r"not a detector: \(1, 3, 80, 80\) output: a segmenter .*"
                                               r"use fastinfer.Segmenter"),
    "a classifier": ([[1, 1000]], {}, {}, r"not a detector: \(1, 1000\) output: a classifier .*"
                                          r"use fastinfer.Classifier"),
    "classes do not fit": ([[1, 84, 8400]], {}, dict(num_classes=3),
                           r"output shape \[1, 84, 8400\] does not fit 3 classes: expected \[B, 7, N\] .* "
                           r"or \[B, N, 8\]"),
    "too few channels": ([[1, 4, 8400]], {}, {}, r"4 channels is fewer than 4 box values \+ 1 class"),
    "short rows": ([[1, 8400, 5]], {}, {}, r"rows of 5 values are fewer than"),
}


@pytest.mark.parametrize("name", UNDETECTABLE, ids=str)
def test_detect_head_says_when_it_cannot_tell(name):
    shapes, metadata, kwargs, message = UNDETECTABLE[name]
    with pytest.raises(fastinfer.ModelLoadError, match=message):
        heads.detect_head(shapes, metadata, **kwargs)


def test_names_from_metadata():
    assert heads.names_from_metadata({"names": "{0: 'person', 1: 'bicycle'}"}) == ["person", "bicycle"]
    assert heads.names_from_metadata({"names": "{1: 'b', 0: 'a'}"}) == ["a", "b"]
    assert heads.names_from_metadata({"names": "['a', 'b']"}) == ["a", "b"]
    assert heads.names_from_metadata({}) is None and heads.names_from_metadata(None) is None
    assert heads.names_from_metadata({"names": " "}) is None
    for bad, message in (("__import__('os').system('false')", r"not a dict or list literal"),
                         ("{0: 'a', 2: 'c'}", r"must map the class ids 0\.\.1 to names"),
                         ("{'a': 0}", r"must map the class ids 0\.\.0 to names"),
                         ("42", r"must be a dict or list literal, got int")):
        with pytest.raises(fastinfer.ModelLoadError, match=message):
            heads.names_from_metadata({"names": bad})


# ---------------------------------------------------------------- fastinfer.Detector end to end

NUDENET_PREPROCESSING = fastinfer.Preprocessing(mode="pad_resize", swap_rb=False, pad_value=0, center=False)


@pytest.mark.parametrize("size", [None, 416])
def test_detector_on_nudenets_yolov8(size, photos, nudenet, nudenet_model, nudenet_backend):
    """Detector(onnx) finds the head, names and input size itself and equals the package-checked pipeline.

    The model has a dynamic H/W: without input_size it runs at the size in its metadata (imgsz, 320).
    """
    det = fastinfer.Detector(nudenet_model, input_size=size, preprocessing=NUDENET_PREPROCESSING,
                             class_agnostic=True)
    side = size or 320
    assert det.head == "yolov8" and det.input_size == (side, side) and det.backend.name == "onnxruntime"
    package = nudenet.NudeDetector(model_path=str(nudenet_model), inference_resolution=side)
    assert list(det.names) == heads.names_from_metadata(heads.describe_onnx(nudenet_model)["metadata"])
    for path in photos:
        dets = det(path)
        blob, transforms = _core.make_blob(fastinfer.read_image(path), (side, side), **NUDENET_BLOB)
        (xyxy, conf, cls), = _core.postprocess_head(nudenet_backend.forward(blob)[0], transforms, (side, side),
                                                    "yolov8", 0.25, 0.45, True)
        np.testing.assert_array_equal(dets.xyxy, xyxy, err_msg=path.name)
        np.testing.assert_array_equal(dets.confidence, conf, err_msg=path.name)
        expected = sorted(package.detect(str(path)), key=lambda d: -d["score"])
        assert dets.labels == [d["class"] for d in expected], path.name
        np.testing.assert_allclose(dets.confidence, [d["score"] for d in expected], atol=1e-4, err_msg=path.name)


def test_detector_on_ddddocrs_yolox(photos, ddddocr_engine, ddddocr_model):
    """The YOLOX preset is ddddocr's own pre-processing; boxes agree with its int() boxes."""
    det = fastinfer.Detector(ddddocr_model, conf=0.1, class_agnostic=True)
    assert det.head == "yolox" and det.input_size == DDDDOCR_SIZE and det.names == ("class0",)
    found = 0
    for path in photos:
        dets = det(path)
        boxes = np.asarray(ddddocr_engine.detection(path.read_bytes()), np.float64).reshape(-1, 4)
        assert len(dets) == len(boxes), path.name
        for box in dets.xyxy.astype(np.float64):
            best = np.abs(boxes - box).max(axis=1).min()
            assert best < 1 + 2e-3, f"{path.name}: {box} not in ddddocr's {boxes}"
        found += len(dets)
    assert found >= 5


def test_detector_head_override_and_errors(nudenet_model, ddddocr_model, yolo_files, raises_invalid):
    forced = fastinfer.Detector(ddddocr_model, head="yolox", names=["text"])
    assert forced.names == ("text",)
    with raises_invalid("head must be one of"):
        fastinfer.Detector(ddddocr_model, head="yolov9")
    with raises_invalid("Darknet cfg has the 'darknet' head"):
        fastinfer.Detector(yolo_files["cfg"], head="yolox")
    with raises_invalid("weights= is for Darknet models"):
        fastinfer.Detector(nudenet_model, weights=yolo_files["weights"])
    with raises_invalid("preprocessing mode must be one of"):
        fastinfer.Preprocessing(mode="squash")
    with raises_invalid("preprocessing must be a fastinfer.Preprocessing"):
        fastinfer.Detector(nudenet_model, preprocessing={"mode": "letterbox"})
