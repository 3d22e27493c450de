"""Every task on backend="torch" (CPU here): the same results as ONNX Runtime on the same model.

``device_pipeline=True`` runs, on the CPU, the code path a GPU takes: the uint8
images to the device, the blob built there with torch ops, the confidence
filter there, candidates to the host for the core's decoding and NMS.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import efficientnet_lite
import fastinfer
from fastinfer.torch import darknet
from fastinfer.torch.backend import save_torchscript
from ssd_reference import TinySSD
from test_segmenter import make_net as make_deeplab
from test_ssd import COLUMNS, CONF, INPUT, SHIFTS, TINY, TINY_BOXES_PER_CELL

WEIGHTS = "models/efficientnet-lite0/efficientnet-lite0-57934424.pth"


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def assert_same_detections(got: fastinfer.Detections, want: fastinfer.Detections, where: str,
                           score_tolerance: float = 1e-3) -> None:
    assert len(got) == len(want), f"{where}: {got} vs {want}"
    if not len(want):
        return
    np.testing.assert_array_equal(got.class_id, want.class_id, err_msg=where)
    assert np.all(np.diag(box_iou(got.xyxy, want.xyxy)) >= 0.99), where
    assert np.abs(got.confidence - want.confidence).max() <= score_tolerance, where


@pytest.fixture(scope="module")
def onnx_detector(yolo_files) -> fastinfer.Detector:
    return fastinfer.Detector(yolo_files["cfg"])


@pytest.mark.parametrize("pipeline", [False, True], ids=["host-blob", "device-pipeline"])
def test_darknet_cfg_on_torch_equals_onnxruntime_on_every_photo(yolo_files, photos, onnx_detector, pipeline):
    det = fastinfer.Detector(yolo_files["cfg"], backend="torch", backend_options={"device_pipeline": pipeline})
    assert det.backend.name == "torch" and det.names == onnx_detector.names
    for photo in photos:
        assert_same_detections(det(photo), onnx_detector(photo), photo.name)
    batch = det(photos[:4])
    for photo, got in zip(photos, batch):
        assert_same_detections(got, onnx_detector(photo), f"batch {photo.name}")
    assert batch[0].metadata["backend"] == "torch"


def test_torchscript_and_export_programs_as_detectors(yolo_files, photos, onnx_detector, tmp_path):
    module = darknet(yolo_files["cfg"], yolo_files["weights"])
    example = torch.rand(2, 3, 416, 416)  # batch 2: torch.export specialises a batch of 1
    script = save_torchscript(module, example, tmp_path / "yolov3-tiny.pt")
    torch.export.save(torch.export.export(module, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},)),
                      str(tmp_path / "yolov3-tiny.pt2"))
    for model in (module, script, tmp_path / "yolov3-tiny.pt2"):
        det = fastinfer.Detector(model, backend="torch", input_size=416 if model is not module else None,
                                 names=yolo_files["names"])
        assert det.head == "darknet"
        for photo in photos[:3]:
            assert_same_detections(det(photo), onnx_detector(photo), f"{model}: {photo.name}")


@pytest.fixture(scope="module")
def tiny_ssd(photos):
    import cv2

    images = [cv2.imread(str(p)) for p in photos]
    blob = np.concatenate([cv2.dnn.blobFromImage(im, 1.0, (INPUT, INPUT), (104, 117, 123), swapRB=False) for im in images])
    torch.manual_seed(2024)
    net = TinySSD(TINY_BOXES_PER_CELL, COLUMNS)
    net.calibrate(torch.from_numpy(blob), loc_std=0.5, conf_std=2.0, shifts=SHIFTS["softmax"])
    return net.eval()


def test_ssd_module_on_torch_equals_its_onnx_export(tiny_ssd, photos, tmp_path):
    path = tmp_path / "ssd.onnx"
    fastinfer.export(tiny_ssd, torch.rand(1, 3, INPUT, INPUT), path, output_names=("loc", "conf"))
    kwargs = dict(priors=fastinfer.SSDPriors(**TINY), conf=CONF)
    onnx_det = fastinfer.Detector(path, **kwargs)
    for pipeline in (False, True):
        det = fastinfer.Detector(tiny_ssd, backend="torch", input_size=INPUT,
                                 backend_options={"device_pipeline": pipeline}, **kwargs)
        assert det.head == "ssd"
        for photo in photos:
            assert_same_detections(det(photo), onnx_det(photo), f"ssd {photo.name}", score_tolerance=1e-4)


def test_classifier_on_torch_equals_onnxruntime(testdata, photos, tmp_path):
    net = efficientnet_lite.load(testdata / WEIGHTS)
    path = tmp_path / "lite0.onnx"
    fastinfer.export(net, torch.rand(1, 3, 224, 224), path)
    kwargs = dict(mean=(127 / 255,) * 3, std=(128 / 255,) * 3)
    ort = fastinfer.Classifier(path, **kwargs)
    for pipeline in (False, True):
        clf = fastinfer.Classifier(net, backend="torch", backend_options={"device_pipeline": pipeline}, **kwargs)
        assert clf.names == ort.names
        for photo in photos:
            got, want = clf(photo), ort(photo)
            assert got.class_id[0] == want.class_id[0], photo.name
            assert abs(got.confidence[0] - want.confidence[0]) <= 1e-3, photo.name


def test_segmenter_on_torch_equals_onnxruntime(photos, tmp_path):
    net = make_deeplab()
    path = tmp_path / "deeplab.onnx"
    fastinfer.export(net, torch.rand(1, 3, 128, 160), path)
    kwargs = dict(mean=fastinfer.IMAGENET_MEAN, std=fastinfer.IMAGENET_STD)
    ort = fastinfer.Segmenter(path, **kwargs)
    seg = fastinfer.Segmenter(net, backend="torch", input_size=(160, 128), **kwargs)
    for photo in photos[:4]:
        got, want = seg(photo).class_map, ort(photo).class_map
        assert (got != want).mean() < 1e-3, photo.name  # near-ties of the scores only


def test_stream_on_torch_equals_calls(yolo_files, photos):
    det = fastinfer.Detector(yolo_files["cfg"], backend="torch", backend_options={"device_pipeline": True})
    streamed = [dets for _, _, dets in det.stream([str(p) for p in photos[:5]], batch_size=2)]
    for photo, got in zip(photos[:5], streamed):
        assert_same_detections(got, det(photo), f"stream {photo.name}", score_tolerance=0)


def test_bad_torch_arguments(yolo_files, nudenet_model, tiny_ssd, raises_invalid):
    with raises_invalid("backend='torch' runs TorchScript files, torch.export programs"):
        fastinfer.Detector(nudenet_model, backend="torch")
    with raises_invalid("torch modules run with backend='torch'"):
        fastinfer.Detector(tiny_ssd)
    with raises_invalid("a torch program does not declare its input size"):
        fastinfer.Detector(tiny_ssd, backend="torch", priors=fastinfer.SSDPriors(**TINY))
    with raises_invalid("precision='int8' runs on ONNX Runtime"):
        fastinfer.Detector(yolo_files["cfg"], backend="torch", precision="int8")
    with raises_invalid("device='cuda:0' is for backend='torch'"):
        fastinfer.Detector(yolo_files["cfg"], device="cuda:0")
    with raises_invalid("half=True runs FP16 on CUDA"):
        fastinfer.Detector(yolo_files["cfg"], backend="torch", half=True)
    with raises_invalid("a torch program does not declare its input size"):
        fastinfer.Segmenter(make_deeplab(), backend="torch", mean=fastinfer.IMAGENET_MEAN, std=fastinfer.IMAGENET_STD)


def test_gpu_benchmark_script_smoke_run_on_the_cpu(testdata, tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu" / "run.sh"
    result = subprocess.run(["bash", str(script), "--device", "cpu", "--quick", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=600, check=False,
                            env={**os.environ, "PYTHON": sys.executable, "FASTINFER_GPU_BUNDLE": str(tmp_path / "none")})
    assert result.returncode == 0, result.stderr[-2000:]
    (folder,) = tmp_path.glob("*-torch-cpu")
    figures = json.loads((folder / "gpu.json").read_text())["figures"]
    assert {f["kind"] for f in figures} == {"forward", "fastinfer", "python"}
    assert "| yolov3-tiny | 320 | 1 | fastinfer | fp32 |" in (folder / "gpu.md").read_text()
