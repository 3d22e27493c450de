"""The task contract: one ``Task`` base, one ``Preprocessing`` with one unit convention, one name for class
names, ``stream()`` for every task, and the deprecated names that keep working with a warning.

Models are built here with ``onnx.helper`` (a 1x1 convolution), so the classifier and the segmenter are
known exactly: their outputs are computed again in numpy from the blob.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import fastinfer
from fastinfer.tasks import Task

SIZE = 32  # the models' fixed input: SIZE x SIZE
CLASSES = 4
WEIGHTS = np.random.default_rng(7).normal(size=(CLASSES, 3, 1, 1)).astype(np.float32)


def conv_model(path, pooled: bool) -> None:
    """A 1x1 convolution to CLASSES channels: class scores per pixel, or averaged to (N, CLASSES)."""
    nodes = [helper.make_node("Conv", ["input", "w"], ["scores"], kernel_shape=[1, 1])]
    out_shape = ["batch", CLASSES, SIZE, SIZE]
    if pooled:
        nodes += [helper.make_node("GlobalAveragePool", ["scores"], ["pooled"]),
                  helper.make_node("Flatten", ["pooled"], ["logits"])]
        out_shape = ["batch", CLASSES]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits" if pooled else "scores", TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(WEIGHTS, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tasks")
    conv_model(folder / "classifier.onnx", pooled=True)
    conv_model(folder / "segmenter.onnx", pooled=False)
    return folder


@pytest.fixture(scope="module")
def frames(photos):
    return [fastinfer.read_image(p) for p in photos[:3]]


def tasks(models, yolo_files):
    names = [f"n{i}" for i in range(CLASSES)]
    return {
        "detect": fastinfer.Detector(yolo_files["cfg"], weights=yolo_files["weights"]),
        "classify": fastinfer.Classifier(models / "classifier.onnx", names=names, input_size=SIZE, resize=SIZE),
        "segment": fastinfer.Segmenter(models / "segmenter.onnx", mean=0.5, std=0.25, names=names),
    }


def test_every_task_is_a_task_with_one_postprocess_signature(models, yolo_files):
    for name, task in tasks(models, yolo_files).items():
        assert isinstance(task, Task) and task.task == name
        params = list(inspect.signature(task.postprocess).parameters.values())
        assert [p.name for p in params[:2]] == ["outputs", "transforms"]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[2:])
        assert isinstance(task.preprocessing, fastinfer.Preprocessing)
        assert task.names is not None and len(task.names) > 0


@pytest.mark.parametrize("kind", ["detect", "classify", "segment"])
def test_stream_equals_calls_for_every_task(models, yolo_files, frames, kind):
    task = tasks(models, yolo_files)[kind]
    streamed = list(task.stream(frames))
    assert [index for index, _, _ in streamed] == list(range(len(frames)))
    for (_, frame, got), image in zip(streamed, frames):
        want = task(image)
        assert frame is not None and got.names == want.names
        assert got.metadata["image_size"] == want.metadata["image_size"]
        assert got.metadata["mode"] == want.metadata["mode"] and "frame" in got.metadata
        drop_metadata = lambda r: {k: v for k, v in r.to_dict().items() if k != "metadata"}  # noqa: E731
        assert drop_metadata(got) == drop_metadata(want)


def test_stream_takes_the_tasks_options(models, yolo_files, frames, raises_invalid):
    found = tasks(models, yolo_files)
    (_, _, top2), = found["classify"].stream(frames[:1], top_k=2)
    assert len(top2) == 2
    (_, _, strict), = found["detect"].stream(frames[:1], conf=0.9)
    assert (strict.confidence > 0.9).all()
    with raises_invalid(r"top_k must be an int >= 1, got 0"):
        found["classify"].stream(frames, top_k=0)
    with raises_invalid(r"Segmenter takes no options; got conf"):
        found["segment"].stream(frames, conf=0.5)


def test_mean_and_std_are_in_pixel_over_255_units(models, frames):
    """The network sees (pixel / 255 - mean) / std, RGB: checked through the segmenter's 1x1 convolution."""
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    seg = fastinfer.Segmenter(models / "segmenter.onnx", mean=mean, std=std)
    image = np.ascontiguousarray(frames[0][:SIZE, :SIZE])
    blob, _ = seg.preprocess([image])
    rgb = image[:, :, ::-1].astype(np.float32) / 255
    expected = ((rgb - np.float32(mean)) / np.float32(std)).transpose(2, 0, 1)
    np.testing.assert_allclose(blob[0], expected, rtol=1e-5, atol=1e-5)
    scores = np.einsum("kc,chw->khw", WEIGHTS[:, :, 0, 0], expected)
    np.testing.assert_array_equal(seg(image).class_map, scores.argmax(0))
    same = fastinfer.Preprocessing(mean=mean, std=std)
    np.testing.assert_array_equal(same.blob([image], (SIZE, SIZE))[0], blob)


def test_raw_pixel_presets_stay_exact(frames):
    """YOLOX (raw 0-255) and SSD (raw minus 104, 117, 123) in the new units give the pixel values exactly."""
    image = np.ascontiguousarray(frames[0][:SIZE, :SIZE])
    raw = fastinfer.Preprocessing(swap_rb=False, std=1 / 255).blob([image], (SIZE, SIZE))[0]
    np.testing.assert_array_equal(raw[0], image.transpose(2, 0, 1).astype(np.float32))
    ssd = fastinfer.tasks.PRESETS["ssd"].blob([image], (SIZE, SIZE))[0]
    np.testing.assert_array_equal(ssd[0], image.transpose(2, 0, 1) - np.float32([104, 117, 123])[:, None, None])


def test_deprecated_scale_is_converted_with_a_warning(models, frames):
    image = np.ascontiguousarray(frames[0][:SIZE, :SIZE])
    with pytest.warns(DeprecationWarning, match=r"Preprocessing\(scale=...\) with mean in raw pixels is deprecated"):
        old = fastinfer.Preprocessing(scale=1.0, swap_rb=False, mean=(104.0, 117.0, 123.0))
    assert old == fastinfer.tasks.PRESETS["ssd"] and old.scale is None
    with pytest.warns(DeprecationWarning, match=r"Segmenter\(scale=...\) is deprecated"):
        seg_old = fastinfer.Segmenter(models / "segmenter.onnx", mean=0.5, std=0.25, scale=1 / 127.5)
    seg_new = fastinfer.Segmenter(models / "segmenter.onnx", mean=0.5 / 2, std=0.25 / 2)
    np.testing.assert_allclose(seg_old.preprocess([image])[0], seg_new.preprocess([image])[0], rtol=1e-6)


def test_renamed_names_warn_and_still_work(models, yolo_files, frames):
    names = [f"n{i}" for i in range(CLASSES)]
    with pytest.warns(DeprecationWarning, match=r"labels= is deprecated; use names="):
        clf = fastinfer.Classifier(models / "classifier.onnx", labels=names, input_size=SIZE, resize=SIZE)
    with pytest.warns(DeprecationWarning, match=r"Classifier.class_names is deprecated; use Classifier.names"):
        assert clf.class_names == tuple(names)
    with pytest.warns(DeprecationWarning, match=r"labels= is deprecated; use names="):
        seg = fastinfer.Segmenter(models / "segmenter.onnx", mean=0.5, std=0.25, labels=names)
    with pytest.warns(DeprecationWarning, match=r"Segmenter.class_names is deprecated"):
        assert seg.class_names == tuple(names)
    result = seg(frames[0])
    with pytest.warns(DeprecationWarning, match=r"Segmentation.labels is deprecated; use Segmentation.names"):
        assert result.labels == list(result.names) == names
    with pytest.warns(DeprecationWarning, match=r"Segmentation.class_names is deprecated"):
        assert result.class_names == tuple(names)
    with pytest.warns(DeprecationWarning, match=r"class_names= is deprecated; use names="):
        dets = fastinfer.Detections(np.zeros((1, 4)), [0.5], [1], class_names=["a", "b"])
    with pytest.warns(DeprecationWarning, match=r"Detections.class_names is deprecated; use Detections.names"):
        assert dets.class_names == ("a", "b")
    assert dets.labels == ["b"]
    with pytest.warns(DeprecationWarning, match=r"Classification.class_names is deprecated"):
        assert clf(frames[0]).class_names == tuple(names)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert clf(frames[0]).names == tuple(names) and fastinfer.Detections.empty(["a"]).names == ("a",)


def test_old_and_new_name_together_are_refused(models, raises_invalid):
    with raises_invalid(r"pass names= only: labels= is its deprecated name"):
        fastinfer.Classifier(models / "classifier.onnx", labels=["a"], names=["a"])


def test_backend_options_reach_the_backend_and_unknown_ones_are_refused(models, raises_invalid):
    path = models / "classifier.onnx"
    clf = fastinfer.Classifier(path, input_size=SIZE, resize=SIZE, backend_options={"graph_optimization": "basic"})
    assert clf.backend.name == "onnxruntime"
    with raises_invalid(r"graph_optimization must be one of disable, basic, extended, all; got 'fast'"):
        fastinfer.Classifier(path, input_size=SIZE, resize=SIZE, backend_options={"graph_optimization": "fast"})
    with raises_invalid(r"unknown backend option\(s\) devcie; the backends take compile, cuda_graph, device, device_id, device_pipeline, graph_optimization"):
        fastinfer.Segmenter(models / "segmenter.onnx", mean=0.5, std=0.25, backend_options={"devcie": 1})
    opencv = fastinfer.Segmenter(models / "segmenter.onnx", mean=0.5, std=0.25, backend="opencv", threads=1)
    assert opencv.backend.name == "opencv"  # ONNX Runtime's options do not concern OpenCV
