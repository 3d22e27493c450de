"""fastinfer._core.postprocess_darknet against a numpy reference, on synthetic Darknet rows.

A Darknet row is ``cx, cy, w, h`` (fractions of the network input),
objectness, then one score per class. A row is a detection when its best class
score (the first maximum) is strictly above ``conf``; its box is mapped back to
the image with the transform (``x_net = x_img * scale_x + pad_x``), NMS runs on
the unclipped boxes, and the kept boxes are clipped to the image.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastinfer import _core
from helpers import assert_same
from reference import clip_xyxy, cv2_nms, iou_matrix

NET = (416, 320)  # width, height of the synthetic network input
CLASSES = 6


def reference_postprocess(outputs, transforms, input_size, conf, iou, class_agnostic=False, max_det=0):
    """Per image ``(xyxy, confidence, class_id)``, computed in float64 with numpy (NMS: cv2)."""
    net_w, net_h = input_size
    batch = len(transforms)
    results = []
    for b in range(batch):
        # Rows of image b: its share of each output, outputs in order.
        rows = np.concatenate([out.reshape(batch, -1, out.shape[-1])[b] for out in outputs])
        scores = rows[:, 5:]
        best = scores.argmax(axis=1)  # the first maximum
        score = scores[np.arange(len(rows)), best]
        keep = score > np.float32(conf)
        rows, best, score = rows[keep].astype(np.float64), best[keep], score[keep]
        sx, sy, px, py, image_w, image_h = transforms[b]
        cx, cy, w, h = rows[:, 0] * net_w, rows[:, 1] * net_h, rows[:, 2] * net_w, rows[:, 3] * net_h
        xyxy = np.stack([(cx - w / 2 - px) / sx, (cy - h / 2 - py) / sy,
                         (cx + w / 2 - px) / sx, (cy + h / 2 - py) / sy], axis=1)
        kept = cv2_nms(xyxy.astype(np.float32), score, best, conf=conf, iou=iou, class_agnostic=class_agnostic,
                       max_det=max_det)
        results.append((clip_xyxy(xyxy[kept], image_w, image_h), score[kept], best[kept].astype(np.int64), xyxy))
    return results



def synthetic_rows(rng: np.random.Generator, n: int, conf: float, classes: int = CLASSES) -> np.ndarray:
    """Darknet rows: background, confident rows (some jittered copies), tied maxima, scores equal to conf."""
    rows = np.zeros((n, 5 + classes), dtype=np.float32)
    rows[:, 0:2] = rng.uniform(-0.05, 1.05, size=(n, 2))  # some centres off the input: boxes to clip
    rows[:, 2:4] = rng.uniform(0.01, 0.3, size=(n, 2))
    rows[:, 4] = rng.random(n)
    rows[:, 5:] = rng.random((n, classes)) * 0.2
    hot = rng.random(n) < 0.3
    rows[hot, 5 + rng.integers(0, classes, size=int(hot.sum()))] = rng.uniform(0.2, 1.0, size=int(hot.sum()))
    # Jittered copies of confident rows: overlapping boxes for NMS.
    copies = np.flatnonzero(rng.random(n) < 0.2)
    if hot.any() and len(copies):
        source = rng.choice(np.flatnonzero(hot), size=len(copies))
        rows[copies] = rows[source]
        rows[copies, :4] += rng.normal(0, 0.02, size=(len(copies), 4)).astype(np.float32)
        rows[copies, 2:4] = np.abs(rows[copies, 2:4]) + 0.01
        rows[copies, 5:] *= rng.uniform(0.8, 1.0, size=(len(copies), 1)).astype(np.float32)
    # Tied best scores: the first of the tied classes wins.
    tied = np.flatnonzero(rng.random(n) < 0.1)
    for r in tied:
        a, b = sorted(rng.choice(classes, size=2, replace=False))
        rows[r, 5 + a] = rows[r, 5 + b] = np.float32(rng.uniform(0.4, 1.0))
        rows[r, 5:][rows[r, 5:] > rows[r, 5 + a]] = 0
    # Best score exactly equal to conf: not a detection.
    equal = np.flatnonzero(rng.random(n) < 0.05)
    rows[equal, 5:] = np.minimum(rows[equal, 5:], np.float32(conf))
    rows[equal, 5 + rng.integers(0, classes, size=len(equal))] = np.float32(conf)
    return rows


def well_conditioned(outputs, transforms, conf, iou) -> bool:
    """No IoU between candidate boxes within 1e-4 of the threshold (float32 vs float64 cannot flip NMS)."""
    for _, _, _, xyxy in reference_postprocess(outputs, transforms, NET, conf, iou):
        if len(xyxy) and np.any(np.abs(iou_matrix(xyxy) - iou) < 1e-4):
            return False
    return True


def transforms_for(sizes, mode, input_size=NET) -> np.ndarray:
    images = [np.zeros((h, w, 3), dtype=np.uint8) for w, h in sizes]
    return _core.make_blob(images, input_size, mode)[1]


IMAGE_SIZES = [(640, 480), (300, 900), (416, 320), (1352, 900), (17, 5)]


@pytest.mark.parametrize("seed", range(6))
def test_objectness_gate(seed):
    """objectness_gate=True skips rows whose objectness is not above conf (Darknet's rule).

    On rows whose class scores are objectness x probability (what OpenCV's Darknet layers and
    converted models emit) it changes nothing; on other rows it equals the reference run on the
    rows with objectness above conf.
    """
    rng = np.random.default_rng(seed)
    transforms = transforms_for([IMAGE_SIZES[seed % len(IMAGE_SIZES)]], "stretch")
    conf = float(rng.choice([0.25, 0.5, float(np.float32(rng.random()))]))
    rows = synthetic_rows(rng, 300, conf)
    rows[rng.random(300) < 0.1, 4] = np.float32(conf)  # objectness exactly at conf: gated out
    products = rows.copy()
    products[:, 5:] = np.minimum(products[:, 5:], products[:, 4:5])  # never above objectness
    for data in (rows, products):
        if not well_conditioned([data], transforms, conf, 0.45):
            continue
        gated = _core.postprocess_darknet([data], transforms, NET, conf, 0.45, objectness_gate=True)
        kept = data[data[:, 4] > np.float32(conf)]
        assert_same(gated, reference_postprocess([kept], transforms, NET, conf, 0.45), f"seed {seed}")
    if well_conditioned([products], transforms, conf, 0.45):
        plain = _core.postprocess_darknet([products], transforms, NET, conf, 0.45)
        gated = _core.postprocess_darknet([products], transforms, NET, conf, 0.45, objectness_gate=True)
        for a, b in zip(plain[0], gated[0]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layout", ["2-D", "3-D", "mixed"])
@pytest.mark.parametrize("mode", ["stretch", "crop", "letterbox"])
def test_batches_match_the_reference(mode, layout):
    rng = np.random.default_rng([["stretch", "crop", "letterbox"].index(mode), ["2-D", "3-D", "mixed"].index(layout)])
    checked = detections = attempts = 0
    while checked < 12:
        attempts += 1
        assert attempts < 100, "cannot draw well-conditioned cases"
        batch = int(rng.integers(1, 5))
        sizes = [IMAGE_SIZES[i] for i in rng.integers(0, len(IMAGE_SIZES), size=batch)]
        transforms = transforms_for(sizes, mode)
        conf = float(rng.choice([0.0, 0.25, 0.5, float(np.float32(rng.random()))]))
        iou = float(rng.choice([0.3, 0.45, 0.6]))
        per_image = [int(rng.integers(0, 60)), int(rng.integers(1, 120))]  # rows per image in each output
        shaped = []
        for i, rows in enumerate(per_image):
            data = synthetic_rows(rng, batch * rows, conf).reshape(batch, rows, 5 + CLASSES)
            three_d = layout == "3-D" or (layout == "mixed" and i == 1)
            shaped.append(data if three_d else data.reshape(batch * rows, 5 + CLASSES))
        if not well_conditioned(shaped, transforms, conf, iou):
            continue
        agnostic = bool(rng.random() < 0.3)
        max_det = int(rng.choice([0, 0, 3]))
        got = _core.postprocess_darknet(shaped, transforms, NET, conf, iou, agnostic, max_det)
        expected = reference_postprocess(shaped, transforms, NET, conf, iou, agnostic, max_det)
        assert_same(got, expected, where=f"{mode} {layout} batch {batch} conf {conf} iou {iou}")
        checked += 1
        detections += sum(len(d[1]) for d in got)
    assert detections > 20


def test_2d_and_3d_outputs_give_the_same_result():
    rng = np.random.default_rng(11)
    transforms = transforms_for([(640, 480), (200, 300), (416, 320)], "letterbox")
    data = [synthetic_rows(rng, 3 * rows, 0.25).reshape(3, rows, -1) for rows in (40, 90)]
    as_3d = _core.postprocess_darknet(data, transforms, NET, 0.25, 0.45)
    as_2d = _core.postprocess_darknet([d.reshape(-1, d.shape[-1]) for d in data], transforms, NET, 0.25, 0.45)
    assert len(as_3d) == len(as_2d) == 3
    for a, b in zip(as_3d, as_2d):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    # Each image sees only its own rows: decoding it alone gives the same.
    for i in range(3):
        alone = _core.postprocess_darknet([d[i] for d in data], transforms[i:i + 1], NET, 0.25, 0.45)
        for x, y in zip(alone[0], as_3d[i]):
            np.testing.assert_array_equal(x, y)


def test_threshold_is_strictly_above_and_argmax_takes_the_first_maximum():
    rows = np.array([
        # cx, cy, w, h, obj, class scores (4 classes)
        [0.5, 0.5, 0.2, 0.2, 0.9, 0.25, 0.1, 0.0, 0.0],  # best == conf: dropped
        [0.2, 0.2, 0.1, 0.1, 0.9, 0.0, 0.6, 0.6, 0.1],  # tie between class 1 and 2: class 1
        [0.8, 0.8, 0.1, 0.1, 0.1, 0.0, 0.0, 0.0, 0.3],  # low objectness does not matter: class 3, 0.3
        [0.8, 0.2, 0.1, 0.1, 1.0, 0.1, 0.2, 0.0, 0.0],  # below conf: dropped
    ], dtype=np.float32)
    transforms = transforms_for([(416, 320)], "stretch")  # identity mapping
    (xyxy, conf, cls), = _core.postprocess_darknet([rows], transforms, NET, 0.25, 0.45)
    assert cls.tolist() == [1, 3]
    np.testing.assert_array_equal(conf, np.float32([0.6, 0.3]))
    np.testing.assert_allclose(xyxy, [[0.15 * 416, 0.15 * 320, 0.25 * 416, 0.25 * 320],
                                      [0.75 * 416, 0.75 * 320, 0.85 * 416, 0.85 * 320]], rtol=1e-5)


@pytest.mark.parametrize("mode", ["stretch", "crop", "letterbox"])
def test_boxes_map_back_to_the_image_and_are_clipped(mode):
    image_w, image_h = 640, 360
    (transform,) = transforms_for([(image_w, image_h)], mode)
    sx, sy, px, py = transform[:4]
    # Boxes given in image pixels -> network fractions -> decoded back.
    boxes = np.array([[100, 50, 300, 200], [0, 0, 640, 360], [600, 300, 639, 359], [250, 100, 260, 300]], np.float64)
    net = boxes * [sx, sy, sx, sy] + [px, py, px, py]
    rows = np.zeros((len(boxes), 5 + CLASSES), dtype=np.float32)
    rows[:, 0] = (net[:, 0] + net[:, 2]) / 2 / NET[0]
    rows[:, 1] = (net[:, 1] + net[:, 3]) / 2 / NET[1]
    rows[:, 2] = (net[:, 2] - net[:, 0]) / NET[0]
    rows[:, 3] = (net[:, 3] - net[:, 1]) / NET[1]
    rows[np.arange(len(boxes)), 5 + np.arange(len(boxes))] = np.float32([0.9, 0.8, 0.7, 0.6])
    (xyxy, conf, cls), = _core.postprocess_darknet([rows], transform[None], NET, 0.25, 0.45, True)
    expected = clip_xyxy(boxes, image_w, image_h)  # crop cuts part of the image: still clipped to it
    assert cls.tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(xyxy, expected, rtol=1e-5, atol=1e-2)

    # The whole network input: in stretch mode the whole image; otherwise clipped to it.
    full = np.zeros((1, 5 + CLASSES), dtype=np.float32)
    full[0, :5] = [0.5, 0.5, 1.0, 1.0, 1.0]
    full[0, 5] = 0.9
    (xyxy, _, _), = _core.postprocess_darknet([full], transform[None], NET, 0.25, 0.45)
    unclipped = [(0 - px) / sx, (0 - py) / sy, (NET[0] - px) / sx, (NET[1] - py) / sy]
    np.testing.assert_allclose(xyxy[0], clip_xyxy(np.array(unclipped), image_w, image_h)[0], rtol=1e-5, atol=1e-2)
    if mode == "letterbox":  # the padding lies outside the image
        np.testing.assert_allclose(xyxy[0], [0, 0, image_w, image_h], atol=1e-2)


def test_no_rows_and_nothing_above_conf():
    transforms = transforms_for([(100, 100), (50, 80)], "stretch")
    empty = np.zeros((0, 5 + CLASSES), dtype=np.float32)
    quiet = np.zeros((2 * 10, 5 + CLASSES), dtype=np.float32)
    for outputs in ([empty], [empty, quiet]):
        results = _core.postprocess_darknet(outputs, transforms, NET, 0.25, 0.45)
        assert len(results) == 2
        for xyxy, conf, cls in results:
            assert xyxy.shape == (0, 4) and conf.shape == (0,) and cls.shape == (0,)


# ---------------------------------------------------------------- errors


def _rows(n: int = 4, length: int = 5 + CLASSES) -> np.ndarray:
    return np.zeros((n, length), dtype=np.float32)


BAD_CALLS = {
    "row length 5": (dict(outputs=[_rows(4, 5)]), r"Darknet rows need at least 6 values .* got 5"),
    "mismatched row lengths": (dict(outputs=[_rows(4, 11), _rows(4, 12)]),
                               r"outputs disagree on the row length: 11 and 12"),
    "rows not divisible by batch": (dict(outputs=[_rows(5)], transforms=np.tile([[1, 1, 0, 0, 10, 10]], (2, 1))),
                                    r"outputs\[0\] of shape \(5, 11\) does not split into 2 images"),
    "3-D batch mismatch": (dict(outputs=[np.zeros((3, 2, 11), np.float32)],
                                transforms=np.tile([[1, 1, 0, 0, 10, 10]], (2, 1))),
                           r"outputs\[0\] of shape \(3, 2, 11\) does not split into 2 images"),
    "transforms (1, 5)": (dict(transforms=np.ones((1, 5))), r"transforms must have shape \(N, 6\), got \(1, 5\)"),
    "transforms 1-D": (dict(transforms=np.ones(6)), r"transforms must have shape \(N, 6\), got \(6,\)"),
    "transforms zero scale": (dict(transforms=np.array([[0, 1, 0, 0, 10, 10]], np.float64)),
                              r"transforms rows must hold positive scales and image sizes"),
    "no outputs": (dict(outputs=[]), r"outputs is empty"),
    "4-D output": (dict(outputs=[np.zeros((1, 1, 4, 11), np.float32)]),
                   r"outputs\[0\] must be \(rows, 5\+classes\) or \(batch, rows, 5\+classes\)"),
    "float64 output": (dict(outputs=[np.zeros((4, 11))]), r"outputs\[0\] must be float32, got dtype float64"),
    "conf 2": (dict(conf=2.0), r"conf \(score threshold\) must be in \[0, 1\]"),
    "iou -1": (dict(iou=-1.0), r"iou threshold must be in \[0, 1\]"),
}


@pytest.mark.parametrize("name", BAD_CALLS, ids=str)
def test_bad_calls_raise_invalid_input_error(name, raises_invalid):
    overrides, message = BAD_CALLS[name]
    kwargs = dict(outputs=[_rows()], transforms=np.array([[1, 1, 0, 0, 10, 10]], np.float64), input_size=NET)
    kwargs.update(overrides)
    with raises_invalid(message):
        _core.postprocess_darknet(**kwargs)
