"""fastinfer.Detector on the real yolov3-tiny weights and photos, against the classic OpenCV demo."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

import fastinfer
from fastinfer import _core
from reference import ReferenceYolo, clip_xyxy, iou_matrix

# The demo truncates centre and size to ints (cx, w >= 0: floor), then the
# corner left = int(center_x - width / 2). So its integer box minus the exact
# box is within [-1.5, 0.5] px for x1/y1 and [-2, 0.5] px for x2/y2 (clipping
# keeps these bounds), so a 1 px bound holds only for the exact boxes,
# which are compared within 0.25 px (the forwards of two OpenCV builds differ
# by ~1e-6; 0.25 px leaves room for 1e-4).
INT_BOX_LOW = np.array([-1.5, -1.5, -2.0, -2.0]) - 0.01
INT_BOX_HIGH = np.array([0.5, 0.5, 0.5, 0.5]) + 0.01
EXACT_BOX_TOLERANCE = 0.25
SCORE_TOLERANCE = 1e-4


@pytest.fixture(scope="module", params=["auto", "opencv"])
def detector(request, yolo_files) -> fastinfer.Detector:
    """The detector on each backend: ``auto`` (ONNX Runtime on the converted model) and ``opencv``."""
    det = fastinfer.Detector(yolo_files["cfg"], backend=request.param)
    assert det.backend.name == ("onnxruntime" if request.param == "auto" else "opencv")
    return det


@pytest.fixture(scope="module")
def reference(yolo_files) -> ReferenceYolo:
    return ReferenceYolo(yolo_files["cfg"], yolo_files["weights"])


@pytest.fixture(scope="module")
def class_names(yolo_files) -> list[str]:
    return [line.strip() for line in yolo_files["names"].read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def images(photos) -> dict[str, np.ndarray]:
    loaded = {}
    for path in photos:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert image is not None, f"cv2 cannot read {path}"
        loaded[path.name] = image
    return loaded


@pytest.fixture(scope="module")
def serial_results(detector, photos) -> dict[str, fastinfer.Detections]:
    """Detections of each photo, one call per photo (file paths, read by fastinfer)."""
    return {path.name: detector(path) for path in photos}


def match(dets: fastinfer.Detections, ref, ref_boxes: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (fastinfer index, reference index): same class, best IoU, greedy by reference score."""
    ious = iou_matrix(np.concatenate([dets.xyxy.astype(np.float64), ref_boxes]))
    pairs, used = [], set()
    for j in np.argsort(-ref.confidence, kind="stable"):
        candidates = [i for i in range(len(dets)) if i not in used and dets.class_id[i] == ref.class_id[j]]
        assert candidates, f"reference detection {j} (class {ref.class_id[j]}) has no fastinfer counterpart"
        best = max(candidates, key=lambda i: ious[i, len(dets) + j])
        assert ious[best, len(dets) + j] > 0.5, f"reference detection {j}: best IoU {ious[best, len(dets) + j]}"
        used.add(best)
        pairs.append((best, int(j)))
    return pairs


def assert_same_detections(a: fastinfer.Detections, b: fastinfer.Detections, where: str) -> None:
    np.testing.assert_array_equal(a.class_id, b.class_id, err_msg=where)
    np.testing.assert_array_equal(a.confidence, b.confidence, err_msg=where)
    np.testing.assert_array_equal(a.xyxy, b.xyxy, err_msg=where)


# ---------------------------------------------------------------- parity with the classic demo


def test_every_photo_equals_the_reference_pipeline(detector, reference, images, serial_results, class_names):
    found = 0
    for name, image in images.items():
        height, width = image.shape[:2]
        ref = reference.detect(image)
        dets = serial_results[name]
        where = f"{name}: fastinfer {dets!r}, reference {len(ref)} boxes of classes {ref.class_id.tolist()}"

        # The detector's blob is the demo's blob.
        blob, transforms = detector.preprocess([image])
        assert np.abs(blob - reference.blob(image)).max() <= 1e-6, name
        np.testing.assert_allclose(transforms[0, 4:], [width, height])

        assert len(dets) == len(ref), where
        assert sorted(dets.class_id.tolist()) == sorted(ref.class_id.tolist()), where
        assert dets.labels == [class_names[c] for c in dets.class_id], where
        assert dets.metadata["image_size"] == [width, height]
        int_boxes = ref.clipped_xyxy(width, height)
        exact_boxes = ref.clipped_xyxy(width, height, exact=True)
        for i, j in match(dets, ref, exact_boxes):
            box = dets.xyxy[i].astype(np.float64)
            assert np.all((box >= 0) & (box <= [width, height, width, height])), f"{where}: {box} not clipped"
            delta = int_boxes[j] - box
            assert np.all((delta >= INT_BOX_LOW) & (delta <= INT_BOX_HIGH)), f"{where}: {box} vs demo {int_boxes[j]}"
            assert np.abs(box - exact_boxes[j]).max() <= EXACT_BOX_TOLERANCE, f"{where}: {box} vs {exact_boxes[j]}"
            assert abs(float(dets.confidence[i]) - float(ref.confidence[j])) <= SCORE_TOLERANCE, where
        found += len(dets)
    assert found > 0


def test_dog_photo_has_dog_bicycle_and_car(reference, images, serial_results, class_names):
    ref = reference.detect(images["dog.jpg"])
    ref_labels = {class_names[c] for c in ref.class_id}
    assert {"dog", "bicycle", "car"} <= ref_labels, ref_labels
    dets = serial_results["dog.jpg"]
    assert set(dets.labels) == ref_labels
    for label in ("dog", "bicycle", "car"):
        mine = max(s for s, lab in zip(dets.confidence.tolist(), dets.labels) if lab == label)
        theirs = max(float(s) for s, c in zip(ref.confidence, ref.class_id) if class_names[c] == label)
        assert abs(mine - theirs) <= SCORE_TOLERANCE, label


def test_arrays_and_paths_give_the_same_detections(detector, images, serial_results):
    for name, image in images.items():
        assert_same_detections(detector(image), serial_results[name], name)


# ---------------------------------------------------------------- batching and threads


def test_a_batch_equals_one_image_at_a_time(detector, photos, serial_results):
    batch = detector(list(photos))
    assert isinstance(batch, list) and len(batch) == len(photos)
    for path, dets in zip(photos, batch):
        assert dets.metadata["timings"]["batch"] == len(photos)
        assert_same_detections(dets, serial_results[path.name], path.name)
    assert detector([]) == []


def test_concurrent_calls_equal_serial_calls(detector, images, serial_results):
    jobs = [name for name in images for _ in range(3)]
    random.Random(0).shuffle(jobs)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda name: (name, detector(images[name])), jobs))
    assert len(results) == len(jobs)
    for name, dets in results:
        assert_same_detections(dets, serial_results[name], f"{name} (threaded)")


# ---------------------------------------------------------------- letterbox


def test_letterbox_finds_the_dog_bicycle_and_car(yolo_files, images, serial_results):
    letterboxed = fastinfer.Detector(yolo_files["cfg"], letterbox=True)
    assert letterboxed.mode == "letterbox"
    image = images["dog.jpg"]
    dets = letterboxed(image)
    assert dets.metadata["mode"] == "letterbox"
    assert {"dog", "bicycle", "car"} <= set(dets.labels), dets
    # Each of them lies where the stretched input found it.
    stretched = serial_results["dog.jpg"]
    for label in ("dog", "bicycle", "car"):
        a = dets[[i for i, lab in enumerate(dets.labels) if lab == label]]
        b = stretched[[i for i, lab in enumerate(stretched.labels) if lab == label]]
        overlaps = iou_matrix(np.concatenate([a.xyxy, b.xyxy]))[: len(a), len(a):]
        assert overlaps.max() > 0.5, (label, a.xyxy, b.xyxy)
    height, width = image.shape[:2]
    np.testing.assert_array_equal(dets.xyxy, clip_xyxy(dets.xyxy, width, height).astype(np.float32))


# ---------------------------------------------------------------- backends


def test_backend_forward_equals_cv2_forward(detector, reference, images):
    blob = cv2.dnn.blobFromImages([images["dog.jpg"], images["kite.jpg"]], 1 / 255.0, (416, 416), swapRB=True,
                                  crop=False)
    for data in (blob[:1].copy(), blob):
        mine = detector.backend.forward(data)
        theirs = reference.forward(data)
        assert list(detector.backend.output_names) == list(reference.output_names)
        assert len(mine) == len(theirs) == len(reference.output_names)
        for name, a, b in zip(reference.output_names, mine, theirs):
            # OpenCV drops the batch axis of a batch of one; the converted model keeps it.
            if detector.backend.name == "onnxruntime" and len(data) == 1:
                assert a.shape == (1, *b.shape), (name, a.shape, b.shape)
                a = a[0]
            assert a.dtype == np.float32 and a.shape == b.shape, (name, a.shape, b.shape)
            assert np.abs(a - b).max() <= 1e-4, (name, float(np.abs(a - b).max()))


def test_opencv_backend_loads_onnx(ddddocr_model):
    model = ddddocr_model
    backend = _core.opencv_from_onnx(str(model))
    net = cv2.dnn.readNetFromONNX(str(model))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    blob = (np.random.default_rng(0).random((1, 3, 416, 416)) * 255).astype(np.float32)
    mine = backend.forward(blob)
    net.setInput(blob)
    names = net.getUnconnectedOutLayersNames()
    theirs = net.forward(names)
    assert list(backend.output_names) == list(names)
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs):
        assert a.shape == b.shape == (1, 3549, 6)
        assert np.abs(a - b).max() <= 1e-4


def test_zoo_name_uses_the_seeded_cache(fastinfer_home, detector, images, serial_results):
    by_name = fastinfer.Detector("yolov3-tiny", backend="opencv" if detector.backend.name == "opencv" else "auto")
    assert by_name.model_path.is_relative_to(fastinfer_home)
    assert_same_detections(by_name(images["dog.jpg"]), serial_results["dog.jpg"], "dog.jpg via the zoo name")


def test_both_backends_give_the_same_detections(yolo_files, images):
    """ONNX Runtime on the converted model and OpenCV on the cfg: same objects, boxes within 0.01 px."""
    on_ort = fastinfer.Detector(yolo_files["cfg"])
    on_opencv = fastinfer.Detector(yolo_files["cfg"], backend="opencv")
    assert on_ort.onnx_path is not None and on_opencv.onnx_path is None
    for name, image in images.items():
        a, b = on_ort(image), on_opencv(image)
        assert len(a) == len(b), name
        for i, j in match(a, b, b.xyxy.astype(np.float64)):
            assert np.abs(a.xyxy[i] - b.xyxy[j]).max() <= 0.01, name
            assert abs(float(a.confidence[i]) - float(b.confidence[j])) <= SCORE_TOLERANCE, name


@pytest.mark.parametrize("size", [(320, 320), (608, 416)])
def test_other_input_sizes_agree_across_backends(yolo_files, images, size):
    on_ort = fastinfer.Detector(yolo_files["cfg"], input_size=size)
    on_opencv = fastinfer.Detector(yolo_files["cfg"], input_size=size, backend="opencv")
    assert on_ort.input_size == size
    a, b = on_ort(images["dog.jpg"]), on_opencv(images["dog.jpg"])
    assert len(a) == len(b) > 0
    for i, j in match(a, b, b.xyxy.astype(np.float64)):
        assert np.abs(a.xyxy[i] - b.xyxy[j]).max() <= 0.01
