"""Darknet-exact mode and ``multi_label``.

* ``mode="darknet_letterbox"`` (``Detector(letterbox="darknet")``): the blob
  equals, to the bit, a numpy transcription of Darknet's ``letterbox_image``
  (bytes / 255 in double rounded to float, the two-pass bilinear
  ``resize_image`` in float32, 0.5 grey, centred) on every sample photo and on
  odd, tiny, up- and down-scaled images.
* The real yolov3-tiny against Debian's ``darknet detect`` on every photo
  Debian ships, at ``-thresh`` 0.5 and 0.25: the same printed lines
  (``name: NN%``, rounded as printf's ``%.0f``), grouped into the same boxes.
* ``multi_label=True`` for every head (Darknet rows, YOLOv5, YOLOv8, YOLOX) against
  the numpy reference on synthetic outputs and on the real models' raw
  outputs; SSD's ``multi_label=False`` against the torch reference.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

import fastinfer
from fastinfer import _core, cli
from helpers import assert_same
from reference import iou_matrix, postprocess_head_reference
from ssd_reference import reference_postprocess
from test_heads import NET, synthetic_output, transforms_for

DARKNET = shutil.which("darknet")
needs_darknet = pytest.mark.skipif(DARKNET is None, reason="Debian's darknet binary is not installed "
                                   "(apt-get install darknet; `make test` installs it)")
THRESHOLDS = (0.5, 0.25)
LINE = re.compile(r"^(.+): (\d+)%$", re.MULTILINE)

f32 = np.float32


# ---------------------------------------------------------------- Darknet's letterbox, transcribed


def darknet_resize_reference(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Darknet's ``resize_image`` on an ``(h, w, 3)`` float32 image, every operation in float32."""
    ih, iw = image.shape[:2]
    if (iw, ih) == (width, height):
        return image
    part = np.empty((ih, width, 3), f32)
    x_scale = f32(iw - 1) / f32(width - 1) if width > 1 else f32(0)
    for c in range(width):
        if c == width - 1 or iw == 1:
            part[:, c] = image[:, iw - 1]
            continue
        sx = f32(c) * x_scale
        ix = int(sx)
        dx = sx - f32(ix)
        part[:, c] = (f32(1) - dx) * image[:, ix] + dx * image[:, ix + 1]
    out = np.empty((height, width, 3), f32)
    y_scale = f32(ih - 1) / f32(height - 1) if height > 1 else f32(0)
    for r in range(height):
        sy = f32(r) * y_scale
        iy = int(sy)
        dy = sy - f32(iy)
        out[r] = (f32(1) - dy) * part[iy]
        if r == height - 1 or ih == 1:
            continue  # Darknet adds nothing on its last row
        out[r] = out[r] + dy * part[iy + 1]
    return out


def darknet_letterbox_reference(bgr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Darknet's ``letterbox_image`` of a BGR uint8 image: the ``(3, H, W)`` RGB float32 network input."""
    W, H = size
    ih, iw = bgr.shape[:2]
    if W / iw < H / ih:  # Darknet compares the float ratios, then sizes in integers
        new_w, new_h = W, ih * W // iw
    else:
        new_w, new_h = iw * H // ih, H
    new_w, new_h = max(new_w, 1), max(new_h, 1)  # where Darknet's image would be empty, fastinfer keeps one pixel
    rgb = (bgr[..., ::-1] / 255.0).astype(f32)  # byte / 255. in double, stored as float
    resized = darknet_resize_reference(rgb, new_w, new_h)
    canvas = np.full((H, W, 3), 0.5, f32)
    ox, oy = (W - new_w) // 2, (H - new_h) // 2
    canvas[oy:oy + new_h, ox:ox + new_w] = resized
    return canvas.transpose(2, 0, 1)


SIZES = [(416, 416), (320, 192), (33, 17)]


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_blob_is_darknets_letterbox_on_every_photo(photos, size):
    for path in photos:
        image = fastinfer.read_image(path)
        blob, transforms = _core.make_blob([image], size, "darknet_letterbox")
        expected = darknet_letterbox_reference(image, size)
        np.testing.assert_array_equal(blob[0], expected, err_msg=f"{path.name} at {size}")
        ih, iw = image.shape[:2]
        sx, sy, px, py, w, h = transforms[0]
        new_w, new_h = round(sx * iw), round(sy * ih)
        assert (w, h) == (iw, ih) and (px, py) == ((size[0] - new_w) // 2, (size[1] - new_h) // 2)


@pytest.mark.parametrize("image_size", [(1, 1), (1, 9), (9, 1), (3, 500), (500, 3), (17, 23), (640, 480), (416, 416),
                                        (100, 50)], ids=str)
def test_blob_is_darknets_letterbox_on_odd_sizes(image_size):
    rng = np.random.default_rng(sum(image_size))
    w, h = image_size
    image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    for size in SIZES:
        blob, _ = _core.make_blob([image, image], size, "darknet_letterbox")
        expected = darknet_letterbox_reference(image, size)
        np.testing.assert_array_equal(blob[0], expected, err_msg=f"{image_size} -> {size}")
        np.testing.assert_array_equal(blob[1], expected)


def test_blob_options_grey_and_bgra(photos):
    image = fastinfer.read_image(photos[0])
    size = (320, 192)
    plain = darknet_letterbox_reference(image, size)
    # Grey and BGRA images are their BGR conversions.
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    for other, bgr in ((grey, cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)), (bgra, image)):
        blob, _ = _core.make_blob([other], size, "darknet_letterbox")
        np.testing.assert_array_equal(blob[0], darknet_letterbox_reference(bgr, size))
    # BGR order, top-left placement and mean/std apply on top of Darknet's values.
    prep = fastinfer.Preprocessing(mode="darknet_letterbox", swap_rb=False, center=False, mean=(0.5, 0.25, 0.0),
                                   std=(0.5, 0.5, 2.0))
    blob, transforms = prep.blob([image], size)
    ih, iw = image.shape[:2]
    new_w, new_h = round(transforms[0][0] * iw), round(transforms[0][1] * ih)
    assert tuple(transforms[0][2:4]) == (0, 0)
    centred = (size[0] - new_w) // 2, (size[1] - new_h) // 2
    values = plain[::-1, centred[1]:centred[1] + new_h, centred[0]:centred[0] + new_w]
    mean, std = np.float32([0.5, 0.25, 0.0])[:, None, None], np.float32([0.5, 0.5, 2.0])[:, None, None]
    np.testing.assert_allclose(blob[0, :, :new_h, :new_w], (values - mean) / std, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(blob[0, :, new_h:, :], ((0.5 - mean) / std + np.zeros_like(blob[0, :, new_h:, :])),
                               rtol=1e-6)


def test_darknet_letterbox_is_not_cv2s_letterbox(photos):
    image = fastinfer.read_image(photos[0])
    darknet, t1 = _core.make_blob([image], (416, 416), "darknet_letterbox")
    cv2_style, t2 = _core.make_blob([image], (416, 416), "letterbox")
    np.testing.assert_array_equal(t1, t2)  # the same placement ...
    difference = np.abs(darknet - cv2_style)
    assert difference.max() > 1 / 255  # ... other pixels (another resampling, no uint8 rounding)


# ---------------------------------------------------------------- against `darknet detect`


def darknet_detect(yolo_files: dict[str, Path], image: Path, thresh: float, cwd: Path) -> list[tuple[str, int]]:
    """The ``name: NN%`` lines ``darknet detect`` prints, in order (``-out`` keeps it from opening a window)."""
    assert DARKNET is not None
    run = subprocess.run([DARKNET, "detect", str(yolo_files["cfg"]), str(yolo_files["weights"]), str(image),
                          "-thresh", str(thresh), "-out", "predictions"], cwd=cwd, capture_output=True, text=True,
                         timeout=300, check=True)
    assert "Predicted in" in run.stdout, run.stdout + run.stderr
    return [(m.group(1), int(m.group(2))) for m in LINE.finditer(run.stdout)]


def percent(score: float) -> int:
    """Darknet's ``printf("%.0f%%", prob * 100)``: the float product, rounded half to even on its exact value."""
    return int(f"{f32(score) * f32(100):.0f}")


def boxes_of(dets: fastinfer.Detections) -> list[tuple[tuple[str, int], ...]]:
    """The detections grouped by box (multi-label detections of one box share its coordinates), each group's
    lines in class order, as Darknet prints one box's classes."""
    groups: dict[tuple[float, ...], list[tuple[int, str, int]]] = {}
    for i in range(len(dets)):
        key = tuple(float(v) for v in dets.xyxy[i])
        groups.setdefault(key, []).append((int(dets.class_id[i]), dets.labels[i], percent(dets.confidence[i])))
    return [tuple((name, pct) for _, name, pct in sorted(g)) for g in groups.values()]


def split_into(lines: list[tuple[str, int]], groups: list[tuple[tuple[str, int], ...]]) -> bool:
    """Whether ``lines`` is the concatenation of all ``groups`` in some order (Darknet's box order is qsort's)."""
    if not lines:
        return not groups
    for k, group in enumerate(groups):
        if tuple(lines[:len(group)]) == group and split_into(lines[len(group):], groups[:k] + groups[k + 1:]):
            return True
    return False


@pytest.fixture(scope="session")
def darknet_photos(photos) -> list[Path]:
    """The photos Debian's darknet package ships (the test data's jpgs)."""
    shipped = [p for p in photos if p.suffix == ".jpg"]
    assert len(shipped) == 7, shipped
    return shipped


@needs_darknet
@pytest.mark.parametrize("thresh", THRESHOLDS)
def test_yolov3_tiny_prints_what_darknet_detect_prints(yolo_files, darknet_photos, thresh, tmp_path):
    det = fastinfer.Detector(yolo_files["cfg"], letterbox="darknet", multi_label=True, conf=thresh, iou=0.45)
    assert det.preprocessing.mode == "darknet_letterbox"
    compared = multi = 0
    for photo in darknet_photos:
        expected = darknet_detect(yolo_files, photo, thresh, tmp_path)
        dets = det(photo)
        groups = boxes_of(dets)
        got = [line for g in groups for line in g]
        assert Counter(got) == Counter(expected), f"{photo.name} at -thresh {thresh}: {got} vs darknet {expected}"
        assert split_into(expected, groups), f"{photo.name}: darknet's {expected} are not the boxes {groups}"
        compared += len(expected)
        multi += sum(len(g) > 1 for g in groups)
    assert compared >= 15 and multi >= 1  # dog.jpg: car 52% and truck 55% for one box


@needs_darknet
def test_cli_darknet_letterbox_and_multi_label(yolo_files, darknet_photos, tmp_path, capsys):
    dog = next(p for p in darknet_photos if p.name == "dog.jpg")
    expected = darknet_detect(yolo_files, dog, 0.5, tmp_path)
    rc = cli.main(["detect", str(dog), "--model", str(yolo_files["cfg"]), "--conf", "0.5", "--darknet-letterbox",
                   "--multi-label", "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    record = json.loads(captured.out.splitlines()[0])
    got = [(d["label"], percent(d["confidence"])) for d in record["detections"]]
    assert Counter(got) == Counter(expected)


# ---------------------------------------------------------------- multi_label, every head


HEADS = ("yolov5", "yolov8", "yolox", "darknet")


def conditioned(candidates: np.ndarray, iou: float) -> bool:
    """No IoU between candidates within 1e-4 of the threshold, so float32 vs float64 cannot flip NMS."""
    return not (len(candidates) and np.any(np.abs(iou_matrix(candidates) - iou) < 1e-4))


@pytest.mark.parametrize("head", HEADS)
def test_multi_label_matches_the_reference(head):
    rng = np.random.default_rng(100 + HEADS.index(head))
    checked = shared = attempts = 0
    while checked < 12:
        attempts += 1
        assert attempts < 200, "cannot draw well-conditioned cases"
        batch = int(rng.integers(1, 4))
        sizes = [(640, 480), (300, 900), (96, 64)][:batch]
        transforms = transforms_for(sizes, "letterbox")
        conf = float(rng.choice([0.0, 0.1, 0.25]))
        iou = float(rng.choice([0.3, 0.45, 0.6]))
        n = int(rng.integers(1, 120))
        output = np.stack([synthetic_output(rng, head, n, conf) for _ in range(batch)])
        expected = postprocess_head_reference(output, transforms, NET, head, conf, iou, multi_label=True)
        if not all(conditioned(e[3], iou) for e in expected):
            continue
        agnostic = bool(rng.random() < 0.25)
        if agnostic:
            expected = postprocess_head_reference(output, transforms, NET, head, conf, iou, True, multi_label=True)
        got = _core.postprocess_head(output, transforms, NET, head, conf, iou, agnostic, 0, multi_label=True)
        assert_same(got, expected, where=f"{head} conf {conf} iou {iou} agnostic {agnostic}")
        if head == "darknet":  # the Darknet decoder proper gives the same
            rows = _core.postprocess_darknet([output], transforms, NET, conf, iou, agnostic, 0, multi_label=True)
            assert_same(rows, expected, where=f"postprocess_darknet conf {conf}")
        for xyxy, _, cls in got:
            _, counts = np.unique(xyxy, axis=0, return_counts=True)
            shared += int(np.sum(counts > 1))
        checked += 1
    assert shared > 10  # boxes reported with several classes


def test_multi_label_false_is_the_default(photos, yolo_files):
    det = fastinfer.Detector(yolo_files["cfg"], conf=0.1)
    multi = fastinfer.Detector(yolo_files["cfg"], conf=0.1, multi_label=True)
    single = fastinfer.Detector(yolo_files["cfg"], conf=0.1, multi_label=False)
    for photo in photos[:4]:
        a, b, c = det(photo), multi(photo), single(photo)
        np.testing.assert_array_equal(a.confidence, c.confidence)
        np.testing.assert_array_equal(a.class_id, c.class_id)
        np.testing.assert_array_equal(a.xyxy, c.xyxy)
        assert len(b) >= len(a)


@pytest.mark.parametrize("model", ["yolov3-tiny", "nudenet"])
def test_multi_label_on_real_outputs(model, yolo_files, nudenet_model, photos):
    """The real models' raw outputs, decoded by the numpy reference with every class above conf."""
    if model == "nudenet":
        det = fastinfer.Detector(nudenet_model, input_size=320, conf=0.05, multi_label=True)
    else:
        det = fastinfer.Detector(yolo_files["cfg"], letterbox="darknet", conf=0.25, multi_label=True)
    several = 0
    for photo in photos:
        image = fastinfer.read_image(photo)
        blob, transforms = det.preprocess([image])
        outputs = det.forward(blob)
        output = np.concatenate(outputs, axis=1) if det.head == "darknet" else outputs[0]
        expected = postprocess_head_reference(output, transforms, det.input_size, det.head, det.conf, det.iou,
                                              multi_label=True)
        if not conditioned(expected[0][3], det.iou):
            continue
        got = det.postprocess(outputs, transforms)
        assert_same(got, expected, where=f"{model} {photo.name}")
        _, counts = np.unique(got[0][0], axis=0, return_counts=True)
        several += int(np.sum(counts > 1))
    assert several >= 1


@pytest.mark.parametrize("scores", ["softmax", "sigmoid", "raw"])
def test_ssd_multi_label_false_keeps_each_priors_best_class(scores):
    rng = np.random.default_rng(7)
    n, columns = 300, 6
    priors = np.concatenate([rng.uniform(0, 1, (n, 2)), rng.uniform(0.05, 0.5, (n, 2))], axis=1).astype(np.float32)
    loc = rng.normal(0, 1, (n, 4)).astype(np.float32)
    logits = (rng.dirichlet(np.full(columns, 0.5), size=n) if scores == "raw"
              else rng.normal(0, 2, (n, columns))).astype(np.float32)
    transform = np.array([[0.5, 0.5, 0, 37.5, 600, 450]])
    conf = 0.1 if scores != "sigmoid" else 0.5
    for multi_label in (True, False):
        got = _core.postprocess_ssd(loc, logits, priors, transform, (300, 300), conf, 0.45, False, 0, scores=scores,
                                    multi_label=multi_label)[0]
        expected = reference_postprocess(loc, logits, priors, transform[0], (300, 300), conf=conf, iou=0.45,
                                         max_det=0, scores=scores, multi_label=multi_label)
        np.testing.assert_array_equal(got[2], expected[2])
        np.testing.assert_array_equal(got[1], expected[1])
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-3)
        _, counts = np.unique(got[0], axis=0, return_counts=True)
        assert (counts.max() > 1) == multi_label


# ---------------------------------------------------------------- bad options


def test_bad_options_are_typed_errors(yolo_files, raises_invalid):
    with raises_invalid("letterbox must be None, True, False or 'darknet', got 'opencv'"):
        fastinfer.Detector(yolo_files["cfg"], letterbox="opencv")
    with raises_invalid("multi_label must be True or False, got 'yes'"):
        fastinfer.Detector(yolo_files["cfg"], multi_label="yes")
    with raises_invalid("'darknet_letterbox' sizes the image as Darknet does: sizing must be 'darknet', got 'round'"):
        fastinfer.Preprocessing(mode="darknet_letterbox", sizing="round")
    with raises_invalid("sizing must be 'darknet', got 'floor'"):
        _core.make_blob([np.zeros((4, 4, 3), np.uint8)], (8, 8), "darknet_letterbox", sizing="floor")


def test_torch_device_blob_refuses_darknet_letterbox(raises_invalid):
    from fastinfer.torch import make_blob  # torch is a test dependency

    with raises_invalid("'darknet_letterbox' .* is built by the core on the host"):
        make_blob([np.zeros((4, 4, 3), np.uint8)], (8, 8), mode="darknet_letterbox")


def test_torch_backend_runs_both_options(yolo_files, darknet_photos):
    """The torch backend takes the core's Darknet blob and decodes multi-label as ONNX Runtime does."""
    options = dict(letterbox="darknet", multi_label=True, conf=0.25)
    ort = fastinfer.Detector(yolo_files["cfg"], **options)
    torch_det = fastinfer.Detector(yolo_files["cfg"], backend="torch", **options)
    for photo in darknet_photos[:3]:
        a, b = ort(photo), torch_det(photo)
        assert Counter(zip(a.labels, map(percent, a.confidence))) == Counter(zip(b.labels, map(percent, b.confidence)))
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-4)
