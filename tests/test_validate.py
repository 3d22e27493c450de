"""The shared argument checks (``fastinfer.validate``) as the public entry points apply them.

Regression tests of issue 17's argument defects: each names its defect number.
Every bad argument ends in a ``fastinfer`` error naming the argument, never a
raw ``TypeError``/``IndexError``/``MemoryError`` or a setting silently misread.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import fastinfer
from fastinfer import validate


@pytest.fixture(scope="module")
def cfg_args(yolo_files):
    return dict(model=yolo_files["cfg"], weights=yolo_files["weights"], names=yolo_files["names"])


@pytest.fixture(scope="module")
def detector(cfg_args):
    return fastinfer.Detector(**cfg_args)


@pytest.fixture(scope="module")
def dog(testdata):
    return fastinfer.read_image(testdata / "images" / "dog.jpg")


# ---------------------------------------------------------------- defect 6: thread counts are bounded


@pytest.mark.parametrize("threads", [10_000, 500 * (os.cpu_count() or 1)])
def test_threads_above_the_limit_are_refused_at_once(cfg_args, raises_invalid, threads):
    # Defect 6: threads=10000 did not finish constructing in 300 s.
    limit = validate.max_threads()
    with raises_invalid(rf"threads must be None or an int in \[1, {limit}\] \(4 x the \d+ cores of this machine\), "
                        rf"got {threads}"):
        fastinfer.Detector(**cfg_args, threads=threads)


def test_threads_at_the_limit_are_accepted(cfg_args):
    # Defect 6: the bound is 4 x the cores, not lower.
    det = fastinfer.Detector(**cfg_args, threads=validate.max_threads())
    assert det.backend.name == "onnxruntime"


def test_stream_workers_are_bounded(detector, dog, raises_invalid):
    # Defect 6: the stream's inference threads follow the same limit.
    with raises_invalid(r"workers must be None or an int in \[1, \d+\]"):
        detector.stream([dog], workers=validate.max_threads() + 1)


# ---------------------------------------------------------------- defect 9: fastinfer errors, not raw Python ones


def test_huge_max_det_is_refused_at_construction(cfg_args, raises_invalid):
    # Defect 9: max_det=10**12 was accepted, then every call raised pybind11's TypeError.
    with raises_invalid(r"max_det must be None or an int in \[1, 100000\], got 1000000000000"):
        fastinfer.Detector(**cfg_args, max_det=10**12)


def test_conf_none_is_named(cfg_args, detector, dog, raises_invalid):
    # Defect 9: conf=None was float()'s TypeError.
    with raises_invalid(r"conf must be a number in \[0, 1\], got None"):
        fastinfer.Detector(**cfg_args, conf=None)
    with raises_invalid(r"iou must be a number in \[0, 1\], got 'high'"):
        detector(dog, iou="high")


def test_model_none_is_named(raises_invalid):
    # Defect 9: Detector(None) was pathlib's TypeError.
    with raises_invalid(r"model must be a file path or a model zoo name, got NoneType"):
        fastinfer.Detector(None)


def test_read_image_none_is_named(raises_invalid):
    # Defect 9: read_image(None) was os.fspath's TypeError.
    with raises_invalid(r"path must be a path \(str or os.PathLike\), got NoneType"):
        fastinfer.read_image(None)


def test_surrogate_escaped_path_is_named(detector, raises_invalid):
    # Defect 9: a path with a surrogate escape (an undecodable file name) was pybind11's TypeError.
    with raises_invalid(r"path '\\udcff.jpg' is not a valid UTF-8 path"):
        fastinfer.read_image("\udcff.jpg")
    with raises_invalid(r"image '\\udcff.jpg' is not a valid UTF-8 path"):
        detector("\udcff.jpg")
    with raises_invalid(r"source '\\udcff.mp4' is not a valid UTF-8 path"):
        detector.stream("\udcff.mp4")


def test_huge_camera_index_is_named(detector, raises_invalid):
    # Defect 9: det.stream(10**12) was pybind11's TypeError.
    with raises_invalid(r"source \(a camera index\) must be an int in \[0, 2147483647\], got 1000000000000"):
        detector.stream(10**12)


def _onnx_file(path, graph) -> str:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def test_onnx_model_without_inputs(tmp_path):
    # Defect 9: an ONNX model with no inputs was an IndexError.
    value = helper.make_tensor("c", TensorProto.FLOAT, [1, 84, 10], np.zeros(840, np.float32))
    node = helper.make_node("Constant", [], ["out"], value=value)
    graph = helper.make_graph([node], "g", [], [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 84, 10])])
    path = _onnx_file(tmp_path / "no_inputs.onnx", graph)
    with pytest.raises(fastinfer.ModelLoadError, match=r"no_inputs.onnx' has no inputs"):
        fastinfer.Detector(path, input_size=64)


def test_onnx_output_without_shape(tmp_path):
    # Defect 9: an output without a shape was an IndexError when the names were to be read from it.
    node = helper.make_node("Identity", ["images"], ["out"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)])
    path = _onnx_file(tmp_path / "no_shape.onnx", graph)
    with pytest.raises(fastinfer.ModelLoadError, match=r"cannot tell the number of classes from output shape \[\]"):
        fastinfer.Detector(path, head="yolov8")


def test_huge_input_size_is_refused(cfg_args, raises_invalid):
    # Defect 9: input_size=(2**31, 2**31) was numpy's MemoryError in the constructor.
    with raises_invalid(r"input_size must be at most 16384 pixels a side, got 2147483648x2147483648"):
        fastinfer.Detector(**cfg_args, input_size=(2**31, 2**31))


def test_cfg_with_a_huge_input_is_refused_at_construction(tmp_path, yolo_files, raises_invalid):
    # Defect 9: a cfg with width=height=100000 constructed, then every call was a MemoryError.
    text = yolo_files["cfg"].read_text()
    cfg = tmp_path / "huge.cfg"
    cfg.write_text(text.replace("width=416", "width=100000").replace("height=416", "height=100000"))
    # The core's cfg reader refuses it first, for every backend: its first layer would not fit in memory.
    for backend in ("auto", "opencv"):
        with pytest.raises(fastinfer.ModelLoadError, match=r"huge.cfg line \d+: \[convolutional\] \(layer 0\) gives an "
                                                           r"output of 16x100000x100000 values"):
            fastinfer.Detector(cfg, weights=yolo_files["weights"], names=yolo_files["names"], backend=backend)


# ---------------------------------------------------------------- defect 11: the messages say what is wrong


def test_numpy_integers_are_integers(cfg_args, dog):
    # Defect 11: max_det=np.int64(5) and threads=np.int64(2) were rejected as "not >= 1".
    det = fastinfer.Detector(**cfg_args, max_det=np.int64(2), threads=np.int64(2))
    assert det.max_det == 2 and type(det.max_det) is int
    assert len(det(dog)) == 2


def test_provider_as_one_string(cfg_args):
    # Defect 11: providers="CPUExecutionProvider" said "provider 'C' is not available".
    det = fastinfer.Detector(**cfg_args, providers="CPUExecutionProvider")
    assert det.backend.name == "onnxruntime"


def test_provider_list_of_non_strings(cfg_args, raises_invalid):
    with raises_invalid(r"providers must be a list of provider names \(str\), got \[1\]"):
        fastinfer.Detector(**cfg_args, providers=[1])


def test_weights_that_are_a_directory(tmp_path, yolo_files, raises_invalid):
    # Defect 11: weights= a directory said the file "does not exist".
    with raises_invalid(rf"weights '{tmp_path}' is a directory, not a weights file"):
        fastinfer.Detector(yolo_files["cfg"], weights=tmp_path)


@pytest.mark.parametrize("value", ["no", 0, None, "False"])
def test_class_agnostic_must_be_a_bool(cfg_args, raises_invalid, value):
    # Defect 11: class_agnostic='no' turned class-agnostic NMS on.
    with raises_invalid(rf"class_agnostic must be True or False, got {value!r}"):
        fastinfer.Detector(**cfg_args, class_agnostic=value)


# ---------------------------------------------------------------- defect 12: class names against a dynamic output


@pytest.fixture(scope="module")
def nudenet_dynamic(nudenet_model, tmp_path_factory):
    """NudeNet's real 18-class YOLOv8 model with its output's channel count declared symbolic, as some exports do."""
    model = onnx.load(str(nudenet_model))
    dim = model.graph.output[0].type.tensor_type.shape.dim[1]
    dim.Clear()
    dim.dim_param = "channels"
    path = tmp_path_factory.mktemp("dynamic") / "320n-dynamic.onnx"
    onnx.save(model, str(path))
    return path


def test_wrong_name_count_for_a_fixed_output_at_load(nudenet_model, raises_invalid):
    # Defect 12: with head= given, 5 names for NudeNet's 18-class head were not checked at all.
    with raises_invalid(r"predicts 18 classes \(output shape \['batch', 22, .*\], head 'yolov8'\) but 5 class "
                        r"names were given"):
        fastinfer.Detector(nudenet_model, names=list("abcde"), head="yolov8", input_size=320)


def test_wrong_name_count_for_a_dynamic_output_at_the_first_call(nudenet_dynamic, testdata, raises_invalid):
    # Defect 12: 5 names for an 18-class head whose output is dynamic were accepted and labels became '16', '12'.
    det = fastinfer.Detector(nudenet_dynamic, names=list("abcde"), head="yolov8", input_size=320)
    with raises_invalid(r"predicts 18 classes \(output shape \[1, 22, 2100\], head 'yolov8'\) but 5 class names "
                        r"were given; pass names= with 18 names"):
        det(testdata / "images" / "person.jpg")


def test_right_name_count_for_a_dynamic_output(nudenet_model, nudenet_dynamic, testdata):
    names = [f"n{i}" for i in range(18)]
    image = testdata / "images" / "person.jpg"
    got = fastinfer.Detector(nudenet_dynamic, names=names, head="yolov8", input_size=320)(image)
    want = fastinfer.Detector(nudenet_model, names=names, head="yolov8", input_size=320)(image)
    assert got.labels == want.labels and np.array_equal(got.class_id, want.class_id)
