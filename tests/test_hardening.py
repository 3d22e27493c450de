"""Hostile inputs to the loaders and the core (issue 17): each ends in a typed ``fastinfer`` error that names
the file or argument, or in a correct result, on every backend; never a signal or a raw third-party exception.

Cases that crashed the process once run in a child process (``run_isolated``), so a crash fails the test
instead of killing the run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import fastinfer
from fastinfer import backends, darknet
from helpers import edited_cfg

BACKENDS = ("onnxruntime", "opencv")


def run_isolated(code: str, **values: object) -> dict:
    """Runs ``code`` in a fresh interpreter with ``values`` bound (JSON); returns what it prints as JSON.

    The code sets ``result`` (a JSON-able value); an exception becomes ``{"error": class name, "message": ...}``.
    A signal or any other exit fails the test with the child's stderr.
    """
    program = textwrap.dedent("""\
        import json, sys
        import numpy as np
        import fastinfer
        from fastinfer import backends
        from pathlib import Path
        globals().update(json.loads(sys.argv[1]))
        try:
        {body}
        except Exception as exc:
            result = {{"error": type(exc).__name__, "module": type(exc).__module__, "message": str(exc)}}
        print("RESULT " + json.dumps(result))
        """).format(body=textwrap.indent(textwrap.dedent(code), "    "))
    done = subprocess.run([sys.executable, "-c", program, json.dumps(values)], capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit status {done.returncode}"
        pytest.fail(f"the child process ended with {how}\n--- stderr:\n{done.stderr[-3000:]}", pytrace=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no result printed; stdout: {done.stdout[-2000:]} stderr: {done.stderr[-2000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def assert_error(result: dict, kind: str, pattern: str) -> None:
    assert "error" in result, f"expected {kind}, got the result {result}"
    assert result["error"] == kind and result["module"] == "fastinfer", result
    assert re.search(pattern, result["message"]), f"{result['message']!r} does not match {pattern!r}"


# ---------------------------------------------------------------- Darknet cfgs: one reader for every backend


@pytest.mark.parametrize("mask", ["3,4,100000000", "3,4,6", "-1,4,5", "3,4,-100000000"])
def test_yolo_mask_out_of_range(tmp_path, yolo_files, mask):
    """Out-of-range [yolo] masks crashed OpenCV (exit 139) or read past the anchors."""
    cfg = edited_cfg(tmp_path, yolo_files["cfg"], "mask = 3,4,5", f"mask = {mask}", "yolov3-tiny.cfg")
    message = rf"line 134: \[yolo\] \(layer 16\) lists 6 anchors for num=6 and mask={mask}"
    with pytest.raises(fastinfer.ModelLoadError, match=re.escape(str(cfg)) + ".*" + message):
        darknet.cfg_info(cfg)
    for backend in BACKENDS:
        result = run_isolated("""
            det = fastinfer.Detector(cfg, weights=weights, backend=backend)
            result = len(det(np.zeros((64, 64, 3), np.uint8)))
            """, cfg=str(cfg), weights=str(yolo_files["weights"]), backend=backend)
        assert_error(result, "ModelLoadError", message)


NON_FINITE = [
    ("mask = 3,4,5", "mask = 3,4,5\nscale_x_y = nan", r"\[yolo\] \(layer 16\) key 'scale_x_y' must be a finite number, got 'nan'"),
    ("mask = 3,4,5", "mask = 3,4,5\nscale_x_y = inf", r"\[yolo\] \(layer 16\) key 'scale_x_y' must be a finite number, got 'inf'"),
    ("anchors = 10,14,  23,27", "anchors = nan,14,  23,27",
     r"\[yolo\] \(layer 16\) key 'anchors' must list finite numbers >= 0, got 'nan'"),
    ("anchors = 10,14,  23,27", "anchors = 10,-inf,  23,27",
     r"\[yolo\] \(layer 16\) key 'anchors' must list finite numbers >= 0, got '-inf'"),
    ("anchors = 10,14,  23,27", "anchors = 10,-14,  23,27",
     r"\[yolo\] \(layer 16\) key 'anchors' must list finite numbers >= 0, got '-14'"),
    ("mask = 3,4,5", "mask = 3,4,5\nscale_x_y = 0x10",
     r"\[yolo\] \(layer 16\) key 'scale_x_y' must be a finite number, got '0x10'"),
    ("mask = 3,4,5", "mask = 3,4,5\nthresh = nan", r"\[yolo\] \(layer 16\) key 'thresh' must be a finite number, got 'nan'"),
]


@pytest.mark.parametrize("old, new, message", NON_FINITE)
def test_non_finite_numbers_in_cfg(tmp_path, yolo_files, old, new, message):
    """NaN/inf in a cfg gave NaN boxes (and invalid JSON); rejected by the reader for every backend."""
    cfg = edited_cfg(tmp_path, yolo_files["cfg"], old, new, "yolov3-tiny.cfg")
    with pytest.raises(fastinfer.ModelLoadError, match=message):
        darknet.cfg_info(cfg)
    for backend in BACKENDS:
        with pytest.raises(fastinfer.ModelLoadError, match=message):
            fastinfer.Detector(cfg, weights=yolo_files["weights"], backend=backend)


def test_repeated_key_with_another_value_on_every_backend(tmp_path, yolo_files):
    """``filters=16`` then ``filters=32``: the default backend refused it, OpenCV gave 0 detections."""
    cfg = edited_cfg(tmp_path, yolo_files["cfg"], "filters=16", "filters=16\nfilters=32", "yolov3-tiny.cfg")
    message = r"\[convolutional\] \(layer 0\) key 'filters' is given twice with different values: '16' \(line \d+\) and '32'"
    with pytest.raises(fastinfer.ModelLoadError, match=message):
        darknet.cfg_info(cfg)
    for backend in BACKENDS:
        with pytest.raises(fastinfer.ModelLoadError, match=message):
            fastinfer.Detector(cfg, weights=yolo_files["weights"], backend=backend)


def test_repeated_key_with_the_same_value_is_accepted(tmp_path, yolo_files):
    cfg = edited_cfg(tmp_path, yolo_files["cfg"], "filters=16", "filters=16\nfilters=16", "yolov3-tiny.cfg")
    assert darknet.cfg_info(cfg)["parameter_count"] == darknet.cfg_info(yolo_files["cfg"])["parameter_count"]


@pytest.mark.parametrize("old, new, message", [
    ("filters=16", "filters=99999999999", r"key 'filters' must be an integer, got '99999999999'"),
    ("width=416\nheight=416", "width=100000\nheight=100000",
     r"gives an output of 16x100000x100000 values, more than the 2147483648"),
    ("[upsample]\nstride=2", "[upsample]\nstride=100000000",
     r"\[upsample\] \(layer 19\) gives an output size of 1300000000, more than fastinfer supports"),
])
def test_sizes_that_would_overflow(tmp_path, yolo_files, old, new, message):
    cfg = edited_cfg(tmp_path, yolo_files["cfg"], old, new, "yolov3-tiny.cfg")
    with pytest.raises(fastinfer.ModelLoadError, match=message):
        darknet.cfg_info(cfg)


# ---------------------------------------------------------------- ONNX models: one check for every backend


def small_onnx(path: Path, *, inputs=(("images", TensorProto.FLOAT, [1, 3, 32, 32]),), opset: int = 17) -> Path:
    """A one-Conv model over the given inputs (the first one feeds the Conv)."""
    channels = inputs[0][2][1]
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, channels, 1, 1], np.ones(4 * channels, np.float32))
    conv = helper.make_node("Conv", [inputs[0][0], "w"], ["out"], kernel_shape=[1, 1])
    graph = helper.make_graph(
        [conv], "small",
        [helper.make_tensor_value_info(name, dtype, shape) for name, dtype, shape in inputs],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, 32, 32])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind, make, message", [
    ("int8", dict(inputs=(("images", TensorProto.INT8, [1, 3, 32, 32]),)),
     r"input 'images' must be a 4-D float32 NCHW tensor, got 4-D int8"),
    ("uint8", dict(inputs=(("images", TensorProto.UINT8, [1, 3, 32, 32]),)),
     r"input 'images' must be a 4-D float32 NCHW tensor, got 4-D uint8"),
    ("float16", dict(inputs=(("images", TensorProto.FLOAT16, [1, 3, 32, 32]),)),
     r"input 'images' must be a 4-D float32 NCHW tensor, got 4-D float16"),
    ("opset-99", dict(opset=99), r"uses opset 99 of the default domain; fastinfer runs opsets 1 to \d+"),
    ("two-inputs", dict(inputs=(("images", TensorProto.FLOAT, [1, 3, 32, 32]),
                                ("extra", TensorProto.FLOAT, [1, 3, 32, 32]))),
     r"has 2 inputs \('images', 'extra'\); fastinfer runs models with one image input"),
])
def test_onnx_inputs_are_checked_on_every_backend(tmp_path, backend, kind, make, message):
    path = small_onnx(tmp_path / f"{kind}.onnx", **make)
    with pytest.raises(fastinfer.ModelLoadError, match=re.escape(f"ONNX model '{path}'") + ".*" + message):
        backends.load(path, None, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_channel_model_is_refused_at_the_call(tmp_path, backend):
    """A 1-channel ONNX model gave 0 detections on OpenCV (ONNX Runtime raised): both check the blob's shape."""
    path = small_onnx(tmp_path / "grey.onnx", inputs=(("images", TensorProto.FLOAT, [1, 1, 32, 32]),))
    net = backends.load(path, None, backend)
    with pytest.raises(fastinfer.InvalidInputError,
                       match=re.escape(f"ONNX model '{path}' expects input 1x1x32x32, got 1x3x32x32")):
        net.forward(np.zeros((1, 3, 32, 32), np.float32))


def test_a_good_small_onnx_model_loads_on_every_backend(tmp_path):
    path = small_onnx(tmp_path / "good.onnx")
    blob = np.random.default_rng(0).random((1, 3, 32, 32), np.float32)
    outs = [backends.load(path, None, backend).forward(blob)[0] for backend in BACKENDS]
    np.testing.assert_allclose(outs[0], np.repeat(blob.sum(axis=1, keepdims=True), 4, axis=1), rtol=1e-5)
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5)


@pytest.fixture(scope="module")
def external_model(tmp_path_factory, nudenet_model) -> Path:
    """NudeNet's YOLOv8 with its weights in an external file ``320n.data`` beside it."""
    folder = tmp_path_factory.mktemp("external")
    model = onnx.load(nudenet_model)
    onnx.save(model, folder / "320n.onnx", save_as_external_data=True, location="320n.data")
    return folder / "320n.onnx"


def copy_external(external_model: Path, folder: Path, data: bytes | None, location: str = "320n.data") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model = onnx.load(external_model, load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(model, folder / "model.onnx")
    if data is not None:
        (folder / location).parent.mkdir(parents=True, exist_ok=True)
        (folder / location).write_bytes(data)
    return folder / "model.onnx"


def test_external_data_valid(external_model, nudenet_model, photos):
    """Valid external data: ONNX Runtime runs it as the single-file model; OpenCV says it cannot (it crashed
    with SIGFPE, exit 136)."""
    image = fastinfer.read_image(photos[0])
    single = fastinfer.Detector(nudenet_model)(image)
    external = fastinfer.Detector(external_model)(image)
    np.testing.assert_array_equal(external.xyxy, single.xyxy)
    result = run_isolated("result = len(fastinfer.Detector(model, backend='opencv')(np.zeros((64, 64, 3), np.uint8)))",
                          model=str(external_model))
    assert_error(result, "ModelLoadError",
                 r"keeps \d+ tensors in external data files \(first: '320n.data'\), which OpenCV DNN cannot read; "
                 r"use backend='onnxruntime'")


def test_external_data_every_tensor(tmp_path):
    """Every tensor external (bias too): OpenCV 4.6 died of SIGFPE (exit 136) loading it."""
    model = onnx.load(small_onnx(tmp_path / "inline.onnx"))
    weight = onnx.numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3, 1, 1), "w")
    model.graph.initializer[0].CopyFrom(weight)
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.ones(4, np.float32), "b"))
    model.graph.node[0].input.append("b")
    onnx.save(model, tmp_path / "all.onnx", save_as_external_data=True, location="all.data", size_threshold=0)
    blob = np.ones((1, 3, 32, 32), np.float32)
    out = backends.load(tmp_path / "all.onnx", None, "onnxruntime").forward(blob)[0]
    np.testing.assert_array_equal(out[0, :, 0, 0], [4, 13, 22, 31])
    result = run_isolated("result = backends.load(Path(model), None, 'opencv').forward(np.ones((1, 3, 32, 32), "
                          "np.float32))[0].tolist()", model=str(tmp_path / "all.onnx"))
    assert_error(result, "ModelLoadError", r"keeps 2 tensors in external data files \(first: 'all.data'\)")


@pytest.mark.parametrize("case", ["missing", "truncated", "outside", "absolute"])
def test_external_data_broken(tmp_path, external_model, case):
    data = (external_model.parent / "320n.data").read_bytes()
    if case == "missing":
        path, message = copy_external(external_model, tmp_path / "m", None), r"which does not exist"
    elif case == "truncated":
        path = copy_external(external_model, tmp_path / "m", data[: len(data) // 2])
        message = r"but that file has \d+ bytes \(truncated\?\)"
    elif case == "outside":
        (tmp_path / "320n.data").write_bytes(data)
        path = copy_external(external_model, tmp_path / "m", None, location="../320n.data")
        message = r"'\.\./320n\.data', which is outside the model's folder"
    else:
        path = copy_external(external_model, tmp_path / "m", None, location=str(external_model.parent / "320n.data"))
        message = r"which is not a file name relative to the model's folder"
    for backend in BACKENDS:
        result = run_isolated("result = len(fastinfer.Detector(model, backend=backend)(np.zeros((64, 64, 3), "
                              "np.uint8)))", model=str(path), backend=backend)
        assert_error(result, "ModelLoadError", re.escape(f"ONNX model '{path}'") + ".*" + message)


@pytest.mark.parametrize("content, message", [
    (b"", r"is empty"),
    (b"\x08", r"cannot be read: a number runs past the end of the file"),
    (b"\x3a\xff\xff\xff\x0f", r"cannot be read: a field runs past the end of its message"),
    (b"not an onnx model at all", r"cannot be read: "),
])
@pytest.mark.parametrize("backend", BACKENDS)
def test_not_onnx(tmp_path, backend, content, message):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(fastinfer.ModelLoadError, match=re.escape(f"ONNX model '{path}' ") + message):
        backends.load(path, None, backend)


# ---------------------------------------------------------------- images


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A small PNG whose header declares width x height (its data is one compressed row of zeros, repeated)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    rows = zlib.compress(b"\0" * 64, 9)  # far too little data: decoding must not be attempted
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


def test_image_pixel_budget(tmp_path, monkeypatch, raises_invalid):
    """A small PNG claiming 30000x30000 decoded to a 5.4 GB peak; it is refused from its header."""
    path = png_claiming(tmp_path / "huge.png", 30000, 30000)
    with raises_invalid(re.escape(f"image '{path}' is 30000x30000 (900000000 pixels), more than the limit of "
                                  f"{2**28} pixels")):
        fastinfer.read_image(path)
    with raises_invalid("more than the limit"):
        fastinfer.Detector("yolov3-tiny")(path)
    monkeypatch.setattr(fastinfer.images, "MAX_IMAGE_PIXELS", 100)
    small = tmp_path / "small.png"
    fastinfer.write_image(small, np.zeros((20, 10, 3), np.uint8))
    with raises_invalid(r"is 10x20 \(200 pixels\), more than the limit of 100 pixels"):
        fastinfer.read_image(small)
    monkeypatch.setattr(fastinfer.images, "MAX_IMAGE_PIXELS", 200)
    assert fastinfer.read_image(small).shape == (20, 10, 3)


def test_truncated_jpeg_warns_or_raises(tmp_path, photos, raises_invalid):
    """Half of dog.jpg gave 2 objects instead of 4 with only libjpeg's line on stderr."""
    dog = next(p for p in photos if p.name == "dog.jpg")
    half = tmp_path / "half.jpg"
    half.write_bytes(dog.read_bytes()[: dog.stat().st_size // 2])
    with pytest.warns(fastinfer.ImageWarning, match=re.escape(f"image '{half}' is truncated")):
        image = fastinfer.read_image(half)
    assert image.shape == fastinfer.read_image(dog).shape
    with raises_invalid(re.escape(f"image '{half}' is truncated")):
        fastinfer.read_image(half, strict=True)
    with pytest.warns(fastinfer.ImageWarning, match="half.jpg' is truncated"):
        fastinfer.Detector("yolov3-tiny")(half)


def test_complete_images_do_not_warn(photos):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for photo in photos:
            assert fastinfer.read_image(photo, strict=True).ndim == 3


def test_array_too_large_for_opencv(raises_invalid):
    """np.zeros((1, 2**31 + 8)) gave BackendError with OpenCV's assertion text."""
    wide = np.zeros((1, 2**31 + 8), np.uint8)  # untouched pages: no memory is used
    with raises_invalid(r"images\[0\] is too large: shape \(1, 2147483656\); images may have at most"):
        fastinfer.Detector("yolov3-tiny")(wide)


def test_grey_array_is_not_copied_at_full_size():
    """A 2.2 GB grey array peaked at 14.9 GB: it was turned into BGR at full size before resizing."""
    result = run_isolated("""
        import resource
        det = fastinfer.Detector("yolov3-tiny")
        det(np.zeros((64, 64, 3), np.uint8))
        grey = np.full((10000, 10000), 7, np.uint8)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        dets = det(grey)
        result = [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before, grey.nbytes, len(dets)]
        """)
    growth, size, _ = result
    assert growth < size / 4, f"the peak grew by {growth / 1e6:.0f} MB for a {size / 1e6:.0f} MB grey image"


def test_grey_and_bgra_give_the_bgr_result(photos):
    det = fastinfer.Detector("yolov3-tiny")
    bgr = fastinfer.read_image(next(p for p in photos if p.name == "dog.jpg"))
    grey = bgr.mean(axis=2).astype(np.uint8)
    expected = det(np.repeat(grey[:, :, None], 3, axis=2))
    for image in (grey, grey[:, :, None]):
        got = det(image)
        np.testing.assert_array_equal(got.xyxy, expected.xyxy)
        np.testing.assert_array_equal(got.class_id, expected.class_id)
    bgra = np.concatenate([bgr, np.full(bgr.shape[:2] + (1,), 9, np.uint8)], axis=2)
    np.testing.assert_array_equal(det(bgra).xyxy, det(bgr).xyxy)


def test_non_finite_weights(tmp_path, yolo_files):
    """All-NaN weights gave 0 detections and no sign of a problem."""
    data = bytearray(yolo_files["weights"].read_bytes())
    header = 20
    nan = np.full((len(data) - header) // 4, np.nan, "<f4").tobytes()
    weights = tmp_path / "nan.weights"
    weights.write_bytes(bytes(data[:header]) + nan)
    message = re.escape(f"Darknet weights '{weights}' hold {len(nan) // 4} NaN or infinite values")
    for backend in BACKENDS:
        with pytest.raises(fastinfer.ModelLoadError, match=message):
            fastinfer.Detector(yolo_files["cfg"], weights=weights, backend=backend)
    one = bytearray(data)
    one[header + 4 * 1000: header + 4 * 1001] = np.array([np.inf], "<f4").tobytes()
    weights.write_bytes(bytes(one))
    with pytest.raises(fastinfer.ModelLoadError, match=r"hold 1 NaN or infinite values .*the first is parameter 1000"):
        darknet.resolve(yolo_files["cfg"], weights, None)


def test_runtime_messages_with_invalid_utf8(tmp_path, nudenet_model):
    """A damaged node name reached Python as UnicodeDecodeError through ONNX Runtime's message (found by fuzzing)."""
    data = nudenet_model.read_bytes()
    at = data.index(b"\x22\x04Conv")  # NodeProto.op_type, 4 bytes: the same length keeps the file well-formed
    data = data[:at + 2] + b"Co\x80v" + data[at + 6:]
    path = tmp_path / "damaged.onnx"
    path.write_bytes(data)
    for backend in BACKENDS:
        with pytest.raises(fastinfer.ModelLoadError, match=r"(?s)could not (load|read) .*Co\ufffdv"):
            backends.load(path, None, backend)


def test_node_reading_an_undefined_value(tmp_path, nudenet_model):
    """A node input naming no value (one flipped byte in a name) crashed OpenCV's importer (SIGSEGV; make fuzz,
    seed 4242 cases 546 and 636): the core's ONNX check refuses it for every backend."""
    model = onnx.load(nudenet_model)
    node = next(n for n in model.graph.node if n.op_type == "Mul")
    node.input[0] = node.input[0].replace("conv", "conr")
    path = tmp_path / "dangling.onnx"
    onnx.save(model, path)
    for backend in BACKENDS:
        result = run_isolated("result = len(backends.load(Path(model), None, backend).forward(np.zeros((1, 3, 320, 320), "
                              "np.float32)))", model=str(path), backend=backend)
        assert_error(result, "ModelLoadError", re.escape(f"ONNX model '{path}' cannot be read: node '{node.name}' "
                                                         f"reads '{node.input[0]}', which no graph input"))
