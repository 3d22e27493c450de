"""A model that is not a detector is refused naming what it looks like, and no confidence outside [0, 1]
ever leaves a Detector, whatever its head (issue 13)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

import efficientnet_lite
import fastinfer
from fastinfer.formats import heads

WEIGHTS = Path("models") / "efficientnet-lite0" / "efficientnet-lite0-57934424.pth"
SIZE = 64  # the test models' input: 64x64
#: Every head the Detector supports, each checked below.
ALL_HEADS = heads.HEADS


# ---------------------------------------------------------------- the wrong task


@pytest.fixture(scope="module")
def lite0_onnx(testdata, tmp_path_factory) -> Path:
    """The real EfficientNet-Lite0 (ImageNet weights), exported by fastinfer.export (dynamic batch)."""
    path = testdata / WEIGHTS
    if not path.is_file():
        pytest.fail(f"the model {path} is missing: run `make testdata`", pytrace=False)
    out = tmp_path_factory.mktemp("lite0") / "efficientnet_lite0.onnx"
    report = fastinfer.export(efficientnet_lite.load(path), torch.rand(1, 3, 224, 224), out)
    assert report.passed, str(report)
    return out


def test_a_classifier_is_not_taken_for_a_detector(lite0_onnx, testdata):
    with pytest.raises(fastinfer.ModelLoadError,
                       match=r"not a detector: \(\?, 1000\) output: a classifier \(one score per class, no boxes\); "
                             r"use fastinfer.Classifier"):
        fastinfer.Detector(lite0_onnx)
    # the same file is what a Classifier runs
    assert fastinfer.Classifier(lite0_onnx, mean=efficientnet_lite.MEAN, std=efficientnet_lite.STD)(
        testdata / "images" / "dog.jpg").confidence[0] <= 1


def test_a_segmenter_is_not_taken_for_a_detector(tmp_path):
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 21, 1)).eval()
    path = tmp_path / "segmenter.onnx"
    report = fastinfer.export(net, torch.rand(1, 3, SIZE, SIZE), path, dynamic_batch=False)
    assert report.passed, str(report)
    with pytest.raises(fastinfer.ModelLoadError,
                       match=r"\(1, 21, 64, 64\) output: a segmenter \(a score map per class\); use fastinfer.Segmenter"):
        fastinfer.Detector(path)
    segmenter = fastinfer.Segmenter(path, mean=fastinfer.IMAGENET_MEAN, std=fastinfer.IMAGENET_STD)
    assert segmenter(np.zeros((SIZE, SIZE, 3), np.uint8)).shape == (SIZE, SIZE)


@pytest.mark.parametrize("shapes, message", [
    ([[1, 1000]], r"\(1, 1000\) output: a classifier"),
    ([["batch", 10]], r"\(\?, 10\) output: a classifier"),
    ([[1, 1000, 1, 1]], r"\(1, 1000, 1, 1\) output: a classifier"),
    ([[1, 3, 80, 80]], r"\(1, 3, 80, 80\) output: a segmenter"),
    ([["b", 21, "h", "w"]], r"\(\?, 21, \?, \?\) output: a segmenter"),
])
def test_detect_head_names_the_task_a_model_looks_like(shapes, message):
    with pytest.raises(fastinfer.ModelLoadError, match=message):
        heads.detect_head(shapes, {})
    assert heads.detect_head(shapes, {heads.HEAD_KEY: "darknet"}) == "darknet"  # the metadata still decides


def test_darknet_rows_are_still_darknet():
    assert heads.detect_head([[2535, 85]], {}) == "darknet"
    assert heads.detect_head([[507, 85], [2028, 85]], {}) == "darknet"
    assert heads.other_task([[1, 84, 8400]]) is None


def test_ultralytics_classify_models_point_to_the_classifier():
    with pytest.raises(fastinfer.ModelLoadError, match=r"Ultralytics 'classify' model.*use fastinfer.Classifier"):
        heads.detect_head([[1, 1000]], {"author": "Ultralytics", "task": "classify", "stride": "1", "names": "{}"})


# ---------------------------------------------------------------- confidences stay in [0, 1]


def constant_model(path: Path, outputs: dict[str, tuple[np.ndarray, np.ndarray]], head: str) -> Path:
    """An ONNX model whose output ``name`` is ``base + slope * mean(input)``: black images give ``base``."""
    nodes = [helper.make_node("ReduceMean", ["images"], ["level"], keepdims=0)]
    inits, infos = [], []
    for name, (base, slope) in outputs.items():
        inits += [numpy_helper.from_array(base.astype(np.float32), f"{name}_base"),
                  numpy_helper.from_array(slope.astype(np.float32), f"{name}_slope")]
        nodes += [helper.make_node("Mul", [f"{name}_slope", "level"], [f"{name}_scaled"]),
                  helper.make_node("Add", [f"{name}_base", f"{name}_scaled"], [name])]
        infos.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(base.shape)))
    graph = helper.make_graph(nodes, "constant", [helper.make_tensor_value_info(
        "images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])], infos, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if head != "ssd":
        helper.set_model_props(model, {heads.HEAD_KEY: head})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


CLASSES = 3


def head_outputs(head: str, obj: float, cls: float, slope: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One prediction with objectness ``obj`` and class-1 score ``cls`` (white images add ``slope`` to both)."""
    if head == "ssd":
        loc = np.zeros((1, 4, 4))
        scores = np.zeros((1, 4, CLASSES + 2))  # background column 0, then 4 classes (not 4 columns: as loc)
        scores[0, 0, 2] = cls
        grow = np.zeros_like(scores)
        grow[0, 0, 2] = slope
        return {"loc": (loc, np.zeros_like(loc)), "scores": (scores, grow)}
    if head == "yolov8":
        out = np.zeros((1, 4 + CLASSES, 8))
        out[0, :4, 0] = [32, 32, 20, 20]
        out[0, 5, 0] = cls
        grow = np.zeros_like(out)
        grow[0, 5, 0] = slope
        return {"output0": (out, grow)}
    rows = heads.grid_cells((SIZE, SIZE)) if head == "yolox" else 12
    out = np.zeros((rows, 5 + CLASSES) if head == "darknet" else (1, rows, 5 + CLASSES))
    box = {"darknet": [0.5, 0.5, 0.3, 0.3], "yolov5": [32, 32, 20, 20], "yolox": [3.5, 3.5, 0.9, 0.9]}[head]
    row = out[0] if head == "darknet" else out[0, 0]
    row[:4] = box
    row[4], row[6] = obj, cls
    grow = np.zeros_like(out)
    grow_row = grow[0] if head == "darknet" else grow[0, 0]
    grow_row[4] = grow_row[6] = slope
    return {"output0": (out, grow)}


def detector(tmp_path: Path, head: str, obj: float, cls: float, slope: float = 0.0) -> fastinfer.Detector:
    path = constant_model(tmp_path / f"{head}.onnx", head_outputs(head, obj, cls, slope), head)
    plain = fastinfer.Preprocessing(mode="stretch", swap_rb=False)  # input = pixel / 255
    if head == "ssd":
        priors = np.array([[0.5, 0.5, 0.4, 0.4]] * 4, np.float32)
        return fastinfer.Detector(path, priors=priors, ssd=fastinfer.SSDConfig(scores="raw", background=0),
                                  preprocessing=plain, names=["a", "b", "c", "d"], conf=0.25)
    return fastinfer.Detector(path, preprocessing=plain, names=["a", "b", "c"], conf=0.25)


BLACK = np.zeros((SIZE, SIZE, 3), np.uint8)
WHITE = np.full((SIZE, SIZE, 3), 255, np.uint8)


def expected_confidence(head: str, obj: float, cls: float) -> float:
    """Each head's score: objectness x class for YOLOv5 and YOLOX rows, the class column otherwise (Darknet
    rows already hold objectness x probability, as OpenCV's layers emit them)."""
    return obj * cls if head in ("yolov5", "yolox") else cls


def test_every_head_is_checked():
    assert set(ALL_HEADS) == {"darknet", "yolov5", "yolov8", "yolox", "ssd"}


@pytest.mark.parametrize("head", ALL_HEADS)
def test_probabilities_pass_through(head, tmp_path):
    dets = detector(tmp_path, head, 0.9, 0.8)(BLACK)
    assert len(dets) == 1 and dets.class_id.tolist() == [1]
    assert dets.confidence[0] == pytest.approx(expected_confidence(head, 0.9, 0.8), abs=1e-6)


@pytest.mark.parametrize("head", ALL_HEADS)
def test_logits_are_refused_on_the_first_call(head, tmp_path):
    det = detector(tmp_path, head, 3.5, 2.0)
    with pytest.raises(fastinfer.InvalidInputError, match=r"gave scores from .* to 3\.5|gave scores from .* to 2"
                                                          r"|not probabilities in \[0, 1\]"):
        det(BLACK)


@pytest.mark.parametrize("head", ALL_HEADS)
def test_negative_scores_are_refused(head, tmp_path):
    det = detector(tmp_path, head, 0.9, -1.5)
    with pytest.raises(fastinfer.InvalidInputError, match=r"gave scores from -1\.5 to .*not probabilities"):
        det(BLACK)


@pytest.mark.parametrize("head", ALL_HEADS)
def test_no_confidence_above_one_leaves_a_detector_later_either(head, tmp_path):
    det = detector(tmp_path, head, 0.95, 0.9, slope=0.8)
    assert det(BLACK).confidence[0] == pytest.approx(expected_confidence(head, 0.95, 0.9), abs=1e-6)
    # the second image pushes the scores past 1: the returned confidences are checked on every call
    with pytest.raises(fastinfer.InvalidInputError, match=r"not probabilities in \[0, 1\]"):
        det(WHITE)


def test_the_message_says_what_to_do(tmp_path):
    with pytest.raises(fastinfer.InvalidInputError, match=r"'yolov8' head reads probabilities .* export the model "
                                                          r"with its final activation"):
        detector(tmp_path, "yolov8", 0, 4.0)(BLACK)
    with pytest.raises(fastinfer.InvalidInputError, match=r"SSDConfig\(scores='softmax'\)"):
        detector(tmp_path, "ssd", 0, 4.0)(BLACK)


def test_real_detectors_give_probabilities(yolo_files, nudenet_model, ddddocr_model, photos):
    models = [fastinfer.Detector(yolo_files["cfg"], weights=yolo_files["weights"], conf=0.01),
              fastinfer.Detector(nudenet_model, conf=0.01), fastinfer.Detector(ddddocr_model, conf=0.01)]
    for det in models:
        confidence = np.concatenate([det(photo).confidence for photo in photos])
        assert len(confidence) and ((confidence > 0) & (confidence <= 1)).all(), det
