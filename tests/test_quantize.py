"""Static INT8 (QDQ) quantization: fastinfer.quantize and Detector(precision="int8")."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import fastinfer
from fastinfer import quantization


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N,4) with every box in b (M,4)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


@pytest.fixture(scope="module")
def fp32_and_int8(yolo_files, photos):
    fp32 = fastinfer.Detector(yolo_files["cfg"])
    int8 = fastinfer.Detector(yolo_files["cfg"], precision="int8")
    return fp32, int8


def test_int8_model_is_a_qdq_model_with_a_float_head(fp32_and_int8):
    fp32, int8 = fp32_and_int8
    assert int8.precision == "int8" and int8.backend.name == "onnxruntime"
    assert int8.onnx_path != fp32.onnx_path
    model = onnx.load(str(int8.onnx_path))
    onnx.checker.check_model(model)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > 10
    # The decoding tail (sigmoid, exp, grid offsets) and the last convolution
    # before each output stay in float.
    excluded = set(quantization.head_nodes(onnx.load(str(fp32.onnx_path))))
    assert excluded
    float_convs = [n for n in model.graph.node if n.op_type == "Conv" and n.name in excluded]
    assert len(float_convs) == len(model.graph.output)
    for conv in float_convs:
        weight = conv.input[1]
        producers = {o: n for n in model.graph.node for o in n.output}
        assert weight not in producers or producers[weight].op_type != "DequantizeLinear", conv.name


def test_int8_finds_the_same_objects_as_fp32(fp32_and_int8, photos):
    """Every FP32 detection with score >= 0.5 has an INT8 one of the same class with IoU >= 0.85, and back."""
    fp32, int8 = fp32_and_int8
    checked = 0
    for photo in photos:
        a, b = fp32(photo), int8(photo)
        for ref, other, what in ((a, b, "INT8 misses an FP32"), (b, a, "INT8 adds a")):
            strong = ref[ref.confidence >= 0.5]
            for box, score, cid, label in strong:
                same = other[other.class_id == cid]
                best = float(_iou(box[None], same.xyxy).max()) if len(same) else 0.0
                assert best >= 0.85, f"{photo.name}: {what} {label} {score:.2f} at {box} (best IoU {best:.2f})"
                checked += 1
    assert checked >= 10  # the photos hold plenty of confident objects


def test_int8_is_cached(fp32_and_int8, yolo_files, fastinfer_home):
    _, int8 = fp32_and_int8
    assert int8.onnx_path.is_relative_to(fastinfer_home / "int8")
    stamp = int8.onnx_path.stat().st_mtime_ns
    again = fastinfer.Detector(yolo_files["cfg"], precision="int8")
    assert again.onnx_path == int8.onnx_path and again.onnx_path.stat().st_mtime_ns == stamp


def test_quantize_writes_beside_the_model_or_to_out(fp32_and_int8, photos, tmp_path):
    fp32, _ = fp32_and_int8
    source = tmp_path / "tiny.onnx"
    source.write_bytes(fp32.onnx_path.read_bytes())
    written = fastinfer.quantize(source, photos[:2])
    assert written == tmp_path / "tiny.int8.onnx" and written.is_file()
    out = fastinfer.quantize(source, photos[:2], tmp_path / "sub" / "q.onnx")
    assert out == tmp_path / "sub" / "q.onnx"
    onnx.checker.check_model(onnx.load(str(out)))
    # Runs on fastinfer's backend and gives Darknet rows of the FP32 model's shapes.
    blob, _ = fp32.preprocess([fastinfer.read_image(photos[0])])
    rows = fastinfer.runtime.backends.load(out).forward(blob)
    assert [r.shape for r in rows] == [r.shape for r in fp32.backend.forward(blob)]


def test_quantize_errors(fp32_and_int8, tmp_path, photos, raises_invalid):
    fp32, _ = fp32_and_int8
    with pytest.raises(fastinfer.ModelLoadError, match="does not exist"):
        fastinfer.quantize(tmp_path / "missing.onnx", photos[:1])
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(fastinfer.ModelLoadError, match="cannot read ONNX model"):
        fastinfer.quantize(bad, photos[:1])
    with raises_invalid("calibration_images is empty"):
        fastinfer.quantize(fp32.onnx_path, [], tmp_path / "q.onnx")
    with raises_invalid(r"cannot open image '.*nope\.jpg'"):
        fastinfer.quantize(fp32.onnx_path, [tmp_path / "nope.jpg"], tmp_path / "q.onnx")
    with raises_invalid("int8.*ONNX Runtime"):
        fastinfer.Detector(fp32.model_path, precision="int8", backend="opencv")
    with raises_invalid("precision must be one of"):
        fastinfer.Detector(fp32.model_path, precision="fp16")
