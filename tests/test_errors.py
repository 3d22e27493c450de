"""Every bad input is a clear Python exception, never a crash.

Each case checks the class (always a ``fastinfer.FastInferError``) and that the
message names the file or argument and says what is wrong. Errors raised in the
C++ core must arrive as the public classes of ``fastinfer``.
"""

from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

import fastinfer
from fastinfer import darknet
from helpers import edited_cfg, line_of
from testdata import folder as data_folder

# ---------------------------------------------------------------- helpers

# "layer [detection] is not supported", "[shortcut] ... is not supported", ...
UNSUPPORTED_LAYER = re.compile(r"\[\w+\].*\bnot supported\b")

# A one-class YOLO head on a 1x1 convolution: 18 biases + 3 * 18 weights.
SMALL_CFG = """\
[net]
width=32
height=32
channels=3

[convolutional]
filters=18
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1,2
anchors=10,14, 23,27, 37,58
classes=1
num=3
"""
SMALL_PARAMS = 18 + 3 * 18


def weights_bytes(version: tuple[int, int, int], n_params: int, seed: int = 0) -> bytes:
    """A Darknet weights file: header (32-bit ``seen`` before 0.2, 64-bit after) + float32 parameters."""
    major, minor, revision = version
    wide = (major * 10 + minor) >= 2
    header = struct.pack("<3i", major, minor, revision) + struct.pack("<Q" if wide else "<I", 12345)
    body = (np.random.default_rng(seed).standard_normal(n_params) * 0.1).astype("<f4").tobytes()
    return header + body








def at(path: Path, line: int) -> str:
    """A regex fragment matching where the Darknet reader says an error is: ``<path> line <n>:``."""
    return re.escape(f"{path} line {line}:")


def in_msg(path: Path) -> str:
    """A regex fragment matching ``path`` as messages quote it."""
    return re.escape(f"'{path}'")


@pytest.fixture(scope="module")
def detector(yolo_files):
    return fastinfer.Detector(yolo_files["cfg"], weights=yolo_files["weights"], names=yolo_files["names"])


@pytest.fixture(scope="module")
def real_weights(yolo_files) -> bytes:
    return yolo_files["weights"].read_bytes()


@pytest.fixture
def image() -> np.ndarray:
    return np.full((48, 64, 3), 127, np.uint8)


# ---------------------------------------------------------------- hierarchy


def test_hierarchy():
    for cls in (fastinfer.ModelLoadError, fastinfer.InvalidInputError, fastinfer.BackendError):
        assert issubclass(cls, fastinfer.FastInferError)
    assert issubclass(fastinfer.InvalidInputError, ValueError)
    assert issubclass(fastinfer.FastInferError, Exception)
    assert not issubclass(fastinfer.ModelLoadError, ValueError)


def _raise_core_model_load_error(tmp_path: Path) -> None:
    darknet.cfg_info(tmp_path / "absent.cfg")


def _raise_core_invalid_input_error(tmp_path: Path) -> None:
    fastinfer.read_image(tmp_path / "absent.jpg")


def _raise_core_backend_error(tmp_path: Path, yolo_files) -> None:
    # 40 is not a multiple of yolov3-tiny's stride 32: OpenCV DNN cannot concat the route.
    det = fastinfer.Detector(yolo_files["cfg"], weights=yolo_files["weights"], input_size=40, backend="opencv")
    det(np.zeros((40, 40, 3), np.uint8))


def _raise_core_ort_error(tmp_path: Path, yolo_files) -> None:
    # The converted model has a fixed 416x416 input: the ONNX Runtime backend refuses 40x40.
    det = fastinfer.Detector(yolo_files["cfg"])
    det.backend.forward(np.zeros((1, 3, 40, 40), np.float32))


@pytest.mark.parametrize(
    "make_error, expected",
    [
        (lambda tmp, files: _raise_core_model_load_error(tmp), "ModelLoadError"),
        (lambda tmp, files: _raise_core_invalid_input_error(tmp), "InvalidInputError"),
        (lambda tmp, files: _raise_core_backend_error(tmp, files), "BackendError"),
        (lambda tmp, files: _raise_core_ort_error(tmp, files), "InvalidInputError"),
    ],
    ids=["ModelLoadError", "InvalidInputError", "BackendError", "InvalidInputError-onnxruntime"],
)
def test_core_errors_are_the_public_classes(tmp_path, yolo_files, make_error, expected):
    """An error raised in C++ is an instance of the ``fastinfer`` class of the same name."""
    public = getattr(fastinfer, expected)
    with pytest.raises(Exception) as info:
        make_error(tmp_path, yolo_files)
    raised = type(info.value)
    assert raised.__name__ == expected
    assert isinstance(info.value, public), (
        f"the core raised {raised.__module__}.{raised.__qualname__}, which is not fastinfer.{expected} "
        f"(MRO: {[c.__module__ + '.' + c.__qualname__ for c in raised.__mro__]}); "
        f"`except fastinfer.{expected}` does not catch it")
    assert isinstance(info.value, fastinfer.FastInferError)
    if expected == "InvalidInputError":
        assert isinstance(info.value, ValueError)


# ---------------------------------------------------------------- model files


def test_missing_cfg(tmp_path):
    absent = tmp_path / "absent.cfg"
    with pytest.raises(fastinfer.ModelLoadError, match=re.escape(f"model file '{absent}' does not exist")):
        fastinfer.Detector(absent)


def test_missing_cfg_cfg_info(tmp_path):
    absent = tmp_path / "absent.cfg"
    with pytest.raises(fastinfer.ModelLoadError, match=f"cannot read Darknet cfg {in_msg(absent)}"):
        darknet.cfg_info(absent)


def test_missing_weights_lists_looked_for_files(tmp_path, yolo_files):
    cfg = tmp_path / "yolov3-tiny.cfg"
    shutil.copyfile(yolo_files["cfg"], cfg)
    pattern = (f"no weights found for Darknet cfg {in_msg(cfg)}: looked for "
               f"{in_msg(tmp_path / 'yolov3-tiny.weights')}, {in_msg(tmp_path / 'yolov3_tiny.weights')}")
    with pytest.raises(fastinfer.ModelLoadError, match=pattern):
        fastinfer.Detector(cfg)


def test_missing_explicit_weights(tmp_path, yolo_files):
    absent = tmp_path / "absent.weights"
    with pytest.raises(fastinfer.ModelLoadError, match=f"weights file {in_msg(absent)} does not exist"):
        fastinfer.Detector(yolo_files["cfg"], weights=absent)


@pytest.mark.parametrize("delta, word", [(-1000, "truncated"), (-4, "truncated"), (4, "too long"), (1000, "too long")])
def test_weights_of_wrong_size(tmp_path, yolo_files, real_weights, delta, word):
    weights = tmp_path / "bad.weights"
    weights.write_bytes(real_weights[:delta] if delta < 0 else real_weights + b"\0" * delta)
    size = len(real_weights) + delta
    pattern = (f"Darknet weights {in_msg(weights)} do not fit cfg .*yolov3-tiny.cfg'.* 8858734 parameters "
               f"\\({len(real_weights)} bytes with the 20-byte header of version 0\\.2\\.0\\), "
               f"the file has {size} bytes \\({word}\\)")
    with pytest.raises(fastinfer.ModelLoadError, match=pattern):
        fastinfer.Detector(yolo_files["cfg"], weights=weights, names=yolo_files["names"])


@pytest.mark.parametrize("size", [0, 7, 15])
def test_weights_too_short_for_a_header(tmp_path, yolo_files, size):
    weights = tmp_path / "stub.weights"
    weights.write_bytes(b"\0" * size)
    with pytest.raises(fastinfer.ModelLoadError, match=f"{in_msg(weights)} .*(too short|truncated)"):
        fastinfer.Detector(yolo_files["cfg"], weights=weights)


# ---------------------------------------------------------------- cfg syntax and meaning


def _load(cfg: Path, yolo_files) -> None:
    fastinfer.Detector(cfg, weights=yolo_files["weights"], names=yolo_files["names"])


def test_cfg_unknown_section(tmp_path, yolo_files):
    cfg = edited_cfg(tmp_path, yolo_files["cfg"], "[maxpool]", "[bogus]")
    line = line_of(cfg, "[bogus]")
    with pytest.raises(fastinfer.ModelLoadError, match=f"{at(cfg, line)} \\[bogus\\] \\(layer 1\\) is not supported"):
        _load(cfg, yolo_files)


def test_cfg_conv_without_filters(tmp_path, yolo_files):
    cfg = edited_cfg(tmp_path, yolo_files["cfg"], "filters=16\n", "")
    line = line_of(cfg, "[convolutional]")
    with pytest.raises(fastinfer.ModelLoadError,
                       match=f"{at(cfg, line)} \\[convolutional\\] \\(layer 0\\) is missing the required key 'filters'"):
        _load(cfg, yolo_files)


def test_cfg_net_without_width(tmp_path, yolo_files):
    cfg = edited_cfg(tmp_path, yolo_files["cfg"], "width=416\n", "")
    with pytest.raises(fastinfer.ModelLoadError,
                       match=f"{at(cfg, 1)} \\[net\\] is missing the required key 'width'"):
        _load(cfg, yolo_files)


def test_cfg_unsupported_activation(tmp_path, yolo_files):
    cfg = edited_cfg(tmp_path, yolo_files["cfg"], "activation=leaky", "activation=gelu")
    line = line_of(cfg, "activation=gelu")
    with pytest.raises(fastinfer.ModelLoadError,
                       match=f"{at(cfg, line)} .*activation 'gelu' is not supported"):
        _load(cfg, yolo_files)


@pytest.mark.parametrize("value", ["sixteen", "16.5", "0x10", ""])
def test_cfg_non_integer_value(tmp_path, yolo_files, value):
    cfg = edited_cfg(tmp_path, yolo_files["cfg"], "filters=16", f"filters={value}")
    line = line_of(cfg, f"filters={value}")
    with pytest.raises(fastinfer.ModelLoadError,
                       match=f"{at(cfg, line)} .*'filters' must be an integer, got '{re.escape(value)}'"):
        _load(cfg, yolo_files)


def test_cfg_route_to_a_later_layer(tmp_path, yolo_files):
    cfg = edited_cfg(tmp_path, yolo_files["cfg"], "layers = -4", "layers = 40")
    line = line_of(cfg, "layers = 40")
    with pytest.raises(fastinfer.ModelLoadError,
                       match=f"{at(cfg, line)} \\[route\\] \\(layer \\d+\\) layers refers to layer 40, which is not an earlier"):
        _load(cfg, yolo_files)


def test_cfg_yolo_channels_mismatch(tmp_path, yolo_files):
    cfg = edited_cfg(tmp_path, yolo_files["cfg"], "filters=255", "filters=254")
    with pytest.raises(fastinfer.ModelLoadError, match=r"\[yolo\] \(layer \d+\) expects 3 x \(5 \+ 80\) = 255 input channels"):
        _load(cfg, yolo_files)


def test_cfg_that_is_binary(tmp_path, yolo_files, real_weights):
    cfg = tmp_path / "binary.cfg"
    cfg.write_bytes(real_weights[:4096])
    with pytest.raises(fastinfer.ModelLoadError, match=in_msg(cfg)):
        darknet.cfg_info(cfg)


def test_names_file_with_wrong_count(tmp_path, yolo_files):
    names = tmp_path / "short.names"
    names.write_text("\n".join(yolo_files["names"].read_text().split("\n")[:79]))
    with pytest.raises(fastinfer.ModelLoadError,
                       match=f"class names from {re.escape(str(names))} list 79 names, but .* has 80 classes"):
        fastinfer.Detector(yolo_files["cfg"], weights=yolo_files["weights"], names=names)


def test_names_list_with_wrong_count(yolo_files):
    with pytest.raises(fastinfer.ModelLoadError, match="list 2 names, but .* has 80 classes"):
        fastinfer.Detector(yolo_files["cfg"], weights=yolo_files["weights"], names=["a", "b"])


def test_empty_names_file(tmp_path, yolo_files):
    names = tmp_path / "empty.names"
    names.write_text("\n\n")
    with pytest.raises(fastinfer.ModelLoadError, match=f"class names file {in_msg(names)} has no names"):
        fastinfer.Detector(yolo_files["cfg"], weights=yolo_files["weights"], names=names)


# ---------------------------------------------------------------- the shipped Darknet cfgs


def _darknet_cfgs() -> list[Path]:
    return sorted((data_folder() / "darknet-cfg").glob("*.cfg"))


@pytest.mark.parametrize("cfg", _darknet_cfgs(), ids=lambda p: p.name)
def test_every_darknet_cfg_parses_or_names_an_unsupported_layer(cfg):
    try:
        info = darknet.cfg_info(cfg)
    except Exception as exc:  # noqa: BLE001 - the class is what is checked
        problems = []
        if not isinstance(exc, fastinfer.ModelLoadError):
            problems.append(f"raised {type(exc).__module__}.{type(exc).__qualname__}, not fastinfer.ModelLoadError")
        if not UNSUPPORTED_LAYER.search(str(exc)):
            problems.append("the message does not name an unsupported layer")
        if str(cfg) not in str(exc):
            problems.append("the message does not name the file")
        assert not problems, f"{cfg.name}: {'; '.join(problems)}: {exc}"
    else:
        assert info["width"] > 0 and info["height"] > 0 and info["channels"] > 0
        assert info["parameter_count"] > 0
        assert len(info["layers"]) > 0
        assert all(min(layer["shape"]) > 0 for layer in info["layers"])


def test_darknet_cfg_folder_is_there(testdata):
    assert len(_darknet_cfgs()) >= 5, "the test data's darknet-cfg/ holds Darknet's cfg files"


def test_yolov1_detection_layer_is_unsupported(testdata):
    cfg = testdata / "darknet-cfg" / "yolov1-tiny.cfg"
    line = line_of(cfg, "[detection]")
    with pytest.raises(fastinfer.ModelLoadError,
                       match=f"{at(cfg, line)} \\[detection\\] \\(layer \\d+\\) is not supported"):
        darknet.cfg_info(cfg)


# ---------------------------------------------------------------- weights headers


def test_parameter_count_matches_real_weights(yolo_files):
    """Header 0.2.0: three int32 + a 64-bit ``seen`` = 20 bytes."""
    info = darknet.cfg_info(yolo_files["cfg"])
    size = yolo_files["weights"].stat().st_size
    assert (size - 20) % 4 == 0
    assert info["parameter_count"] == (size - 20) // 4
    assert (info["width"], info["height"], info["num_classes"]) == (416, 416, 80)


def test_header_0_1_0_with_32_bit_seen_is_accepted(tmp_path):
    cfg = tmp_path / "small.cfg"
    cfg.write_text(SMALL_CFG)
    assert darknet.cfg_info(cfg)["parameter_count"] == SMALL_PARAMS
    weights = tmp_path / "small.weights"
    data = weights_bytes((0, 1, 0), SMALL_PARAMS)
    assert len(data) == 16 + 4 * SMALL_PARAMS
    weights.write_bytes(data)

    det = fastinfer.Detector(cfg, weights=weights, names=["thing"])
    assert det.input_size == (32, 32)
    dets = det(np.random.default_rng(1).integers(0, 256, (40, 50, 3), dtype=np.uint8), conf=0.0)
    assert isinstance(dets, fastinfer.Detections)
    assert set(dets.labels) <= {"thing"}
    assert np.all((dets.confidence >= 0) & (dets.confidence <= 1))


def test_header_size_follows_the_version(tmp_path):
    """The same parameters behind a 0.2.0 header need 4 more bytes; behind 0.1.0, 4 extra are too many."""
    cfg = tmp_path / "small.cfg"
    cfg.write_text(SMALL_CFG)
    wide = tmp_path / "wide.weights"
    wide.write_bytes(weights_bytes((0, 2, 0), SMALL_PARAMS))
    fastinfer.Detector(cfg, weights=wide, names=["thing"])  # 20-byte header: fits

    relabelled = tmp_path / "relabelled.weights"  # 0.2.0 header on a 16-byte-header file
    relabelled.write_bytes(struct.pack("<3i", 0, 2, 0) + weights_bytes((0, 1, 0), SMALL_PARAMS)[12:])
    with pytest.raises(fastinfer.ModelLoadError, match="20-byte header of version 0.2.0.*\\(truncated\\)"):
        fastinfer.Detector(cfg, weights=relabelled, names=["thing"])

    padded = tmp_path / "padded.weights"
    padded.write_bytes(weights_bytes((0, 1, 0), SMALL_PARAMS) + b"\0" * 4)
    with pytest.raises(fastinfer.ModelLoadError, match="16-byte header of version 0.1.0.*\\(too long\\)"):
        fastinfer.Detector(cfg, weights=padded, names=["thing"])


# ---------------------------------------------------------------- image files


def test_empty_image_file(tmp_path, detector):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(fastinfer.InvalidInputError, match=f"image file {in_msg(path)} is empty"):
        detector(path)


def test_text_file_as_image(tmp_path, detector):
    path = tmp_path / "notes.jpg"
    path.write_text("not a picture\n")
    with pytest.raises(fastinfer.InvalidInputError, match=f"cannot decode image {in_msg(path)}: not an image"):
        detector(path)


def test_missing_image(tmp_path, detector):
    path = tmp_path / "absent.jpg"
    with pytest.raises(fastinfer.InvalidInputError, match=f"cannot open image {in_msg(path)}"):
        detector(str(path))


def test_missing_image_read_image(tmp_path):
    path = tmp_path / "absent.png"
    with pytest.raises(fastinfer.InvalidInputError, match=f"cannot open image {in_msg(path)}"):
        fastinfer.read_image(path)


# ---------------------------------------------------------------- arrays


@pytest.mark.parametrize(
    "array, pattern",
    [
        (np.zeros((10, 10, 3), np.float32), r"image must have dtype uint8, got float32 with shape \(10, 10, 3\)"),
        (np.zeros((10, 10, 3), np.int64), r"image must have dtype uint8, got int64 with shape \(10, 10, 3\)"),
        (np.zeros(10, np.uint8), r"image must be HxW, HxWx1, HxWx3 or HxWx4, got shape \(10,\)"),
        (np.zeros((1, 10, 10, 3), np.uint8), r"image must be .*, got shape \(1, 10, 10, 3\)"),
        (np.zeros((10, 10, 2), np.uint8), r"image must be .*, got shape \(10, 10, 2\)"),
        (np.zeros((10, 10, 5), np.uint8), r"image must be .*, got shape \(10, 10, 5\)"),
        (np.zeros((0, 10, 3), np.uint8), r"image is empty, shape \(0, 10, 3\)"),
        (np.zeros((10, 0), np.uint8), r"image is empty, shape \(10, 0\)"),
    ],
    ids=["float32", "int64", "1-D", "4-D", "2-channels", "5-channels", "0x10x3", "10x0"],
)
def test_bad_arrays(detector, array, pattern):
    with pytest.raises(fastinfer.InvalidInputError, match=pattern):
        detector(array)


def test_bad_array_in_a_batch_is_named(detector, image):
    with pytest.raises(fastinfer.InvalidInputError, match=r"images\[1\] must have dtype uint8, got float64"):
        detector([image, image.astype(np.float64)])


@pytest.mark.parametrize("source, type_name", [(5, "int"), (None, "NoneType"), (3.5, "float"), (b"dog.jpg", "bytes")])
def test_not_a_path_or_array(detector, source, type_name):
    with pytest.raises(fastinfer.InvalidInputError, match=f"image must be a path or a numpy array, got {type_name}"):
        detector(source)


def test_not_a_path_or_array_in_a_batch(detector, image):
    with pytest.raises(fastinfer.InvalidInputError, match=r"images\[1\] must be a path or a numpy array, got int"):
        detector([image, 7])


def test_bad_array_is_also_a_value_error(detector):
    with pytest.raises(ValueError, match="dtype uint8"):
        detector(np.zeros((4, 4, 3), np.float32))


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize("name", ["conf", "iou"])
@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_threshold_out_of_range_in_constructor(yolo_files, name, value):
    with pytest.raises(fastinfer.InvalidInputError, match=f"{name} must be in \\[0, 1\\], got {value}"):
        fastinfer.Detector(yolo_files["cfg"], **{name: value})


@pytest.mark.parametrize("name", ["conf", "iou"])
@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_threshold_out_of_range_per_call(detector, image, name, value):
    with pytest.raises(fastinfer.InvalidInputError, match=f"{name} must be in \\[0, 1\\], got {value}"):
        detector(image, **{name: value})


@pytest.mark.parametrize(
    "size, pattern",
    [
        (0, r"input_size must be positive, got 0x0"),
        (-32, r"input_size must be positive, got -32x-32"),
        ((416, 0), r"input_size must be positive, got 416x0"),
        ((1, 2, 3), r"input_size must be an int or \(width, height\), got \(1, 2, 3\)"),
        ((416,), r"input_size must be an int or \(width, height\), got \(416,\)"),
    ],
    ids=["0", "negative", "zero-height", "three-values", "one-value"],
)
def test_bad_input_size(yolo_files, size, pattern):
    with pytest.raises(fastinfer.InvalidInputError, match=pattern):
        fastinfer.Detector(yolo_files["cfg"], input_size=size)


@pytest.mark.parametrize("backend", ["cuda", "", "OpenCV "])
def test_bad_backend(yolo_files, backend):
    with pytest.raises(fastinfer.InvalidInputError,
                       match=f"backend must be one of auto, onnxruntime, opencv, torch; got {re.escape(repr(backend))}"):
        fastinfer.Detector(yolo_files["cfg"], backend=backend)


@pytest.mark.parametrize("max_det", [0, -1])
def test_bad_max_det(yolo_files, max_det):
    with pytest.raises(fastinfer.InvalidInputError, match=rf"max_det must be None or an int in \[1, 100000\], got {max_det}"):
        fastinfer.Detector(yolo_files["cfg"], max_det=max_det)


def test_unknown_model_format(tmp_path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"\0" * 16)
    with pytest.raises(fastinfer.ModelLoadError, match=f"cannot tell the format of model {in_msg(model)}"):
        fastinfer.Detector(model)


def test_unknown_model_name():
    with pytest.raises(fastinfer.ModelLoadError,
                       match="model file 'no-such-model' does not exist and is not a model zoo name .*yolov3-tiny"):
        fastinfer.Detector("no-such-model")
