"""fastinfer.convert: Darknet -> ONNX, run on fastinfer's ONNX Runtime backend and compared with
OpenCV's Darknet importer (pip's cv2) on the same blobs of real photos.

Models: the real yolov3-tiny; Darknet's yolov3, yolov3-spp and yolov2-tiny cfgs and a small
yolov4-tiny-style cfg (tests/data) with seeded random weights. Random weights give random
detections, so the heads' convolutions are calibrated first: their weights are rescaled (on
OpenCV's own forward pass of a small blob) so that box, objectness and class logits have set
statistics, which gives some, but not thousands of, detections.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnx.shape_inference
import onnx.utils
import pytest

import fastinfer
from fastinfer import _core, convert
from fastinfer.runtime import backends
from helpers import edited_cfg, line_of
from random_weights import calibrate_heads, write_weights

DATA_DIR = Path(__file__).resolve().parent / "data"
MINI_CFG = DATA_DIR / "yolov4-tiny-mini.cfg"

def images_named(photos: list[Path], *stems: str) -> list[np.ndarray]:
    by_stem = {p.stem: p for p in photos}
    missing = [s for s in stems if s not in by_stem]
    if missing:
        pytest.fail(f"photos {missing} are missing from the test data's images/", pytrace=False)
    return [cv2.imread(str(by_stem[s])) for s in stems]


def make_blob(images: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    return cv2.dnn.blobFromImages(images, 1 / 255.0, size, swapRB=True, crop=False)


def opencv_forward(cfg: Path, weights: Path, blob: np.ndarray) -> tuple[list[str], list[np.ndarray]]:
    """OpenCV's output names and rows, as (batch, rows, 5 + classes) (it returns 2-D rows for batch 1)."""
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    names = list(net.getUnconnectedOutLayersNames())
    net.setInput(blob)
    outs = net.forward(names)
    return names, [o.reshape(blob.shape[0], -1, o.shape[-1]) for o in outs]


def run_onnx(path: Path, blob: np.ndarray) -> list[np.ndarray]:
    return backends.load(path, None, "onnxruntime").forward(blob)


def convert_checked(tmp_path: Path, cfg: Path, weights: Path, name: str = "model.onnx", **kwargs) -> Path:
    out = tmp_path / name
    model = convert.darknet_to_onnx(cfg, weights, out, **kwargs)
    onnx.checker.check_model(model, full_check=True)
    assert out.is_file()
    return out


def assert_rows_match(ours: list[np.ndarray], theirs: list[np.ndarray], thresh: float = 0.2) -> int:
    """Box and objectness within 1e-4; class scores within 1e-4, where a score zeroed on one side only
    must sit at the threshold (float rounding across it). Returns the number of non-zero class scores."""
    assert len(ours) == len(theirs)
    nonzero = 0
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a.dtype == np.float32
        assert a.shape == b.shape, f"output {i}: shape {a.shape}, OpenCV {b.shape}"
        np.testing.assert_allclose(a[..., :5], b[..., :5], rtol=0, atol=1e-4, err_msg=f"output {i}: box/objectness")
        ca, cb = a[..., 5:], b[..., 5:]
        flipped = (ca != 0) != (cb != 0)
        assert flipped.sum() <= max(2, ca.size // 100_000), f"output {i}: {flipped.sum()} scores zeroed on one side"
        np.testing.assert_allclose(ca[flipped] + cb[flipped], thresh, rtol=0, atol=1e-4,
                                   err_msg=f"output {i}: a score zeroed on one side only is not at the threshold")
        np.testing.assert_allclose(np.where(flipped, 0, ca), np.where(flipped, 0, cb), rtol=0, atol=1e-4,
                                   err_msg=f"output {i}: class scores")
        nonzero += int((cb != 0).sum())
    return nonzero


def assert_same_detections(ours, theirs, images, size, conf=0.25, iou=0.45) -> int:
    """fastinfer's own decode + NMS on both outputs: the same detections (count, classes, boxes within
    1e-3 px, confidences within 1e-4). Detections are paired by class and box, not by rank: two
    confidences a few ulps apart may swap places. Returns how many detections there are."""
    transforms = _core.make_blob(images, size, "stretch")[1]
    expected = _core.postprocess_darknet(theirs, transforms, size, conf, iou, False, 0)
    got = _core.postprocess_darknet(ours, transforms, size, conf, iou, False, 0)
    total = 0
    for i, ((xa, ca, ka), (xb, cb, kb)) in enumerate(zip(got, expected)):
        assert len(ca) == len(cb), f"image {i}: {len(ca)} detections, OpenCV's output gives {len(cb)}"
        np.testing.assert_array_equal(np.sort(ka), np.sort(kb), err_msg=f"image {i}: classes")
        if not len(ca):
            continue
        distance = np.abs(xa[:, None, :] - xb[None, :, :]).max(axis=2)  # px, ours x OpenCV's
        distance[ka[:, None] != kb[None, :]] = np.inf
        pairs = distance.argmin(axis=1)
        assert len(set(pairs.tolist())) == len(pairs), f"image {i}: detections do not pair up"
        np.testing.assert_allclose(xa, xb[pairs], rtol=0, atol=1e-3, err_msg=f"image {i}: boxes (px)")
        np.testing.assert_allclose(ca, cb[pairs], rtol=0, atol=1e-4, err_msg=f"image {i}: confidences")
        total += len(ca)
    return total








# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def two_photos(photos) -> list[np.ndarray]:
    return images_named(photos, "dog", "person")


# Variants of the mini cfg: scaled-YOLOv4's box coordinates; a [yolo] layer with its own NMS.
MINI_VARIANTS = {
    "mini-new-coords": [("filters=30\nactivation=linear", "filters=30\nactivation=logistic"),
                        ("scale_x_y = 1.05", "scale_x_y = 2.0\nnew_coords=1")],
    "mini-nms": [("scale_x_y = 1.05", "scale_x_y = 1.05\nnms_threshold=0.45\nthresh=0.1")],
}


@pytest.fixture(scope="module")
def random_model(tmp_path_factory, testdata, two_photos):
    """``random_model(name)``: (cfg, calibrated random weights) for one of Darknet's cfgs or a mini cfg."""
    made: dict[str, tuple[Path, Path]] = {}
    folder = tmp_path_factory.mktemp("random-weights")

    def get(name: str) -> tuple[Path, Path]:
        if name not in made:
            if name == "mini":
                cfg = MINI_CFG
            elif name in MINI_VARIANTS:
                text = MINI_CFG.read_text()
                for old, new in MINI_VARIANTS[name]:
                    assert old in text
                    text = text.replace(old, new)
                cfg = folder / f"{name}.cfg"
                cfg.write_text(text)
            else:
                cfg = testdata / "darknet-cfg" / f"{name}.cfg"
            # The core's cfg parser, which lays the weights out, does not know nms_threshold (a
            # key only OpenCV reads); the mini cfg has the same layout.
            layout = MINI_CFG if name == "mini-nms" else cfg
            weights = folder / f"{name}.weights"
            heads = write_weights(layout, weights, seed=sum(map(ord, name)))
            calibrate_heads(layout, weights, heads, make_blob(two_photos, (128, 128)))
            made[name] = cfg, weights
        return made[name]

    return get


@pytest.fixture(scope="module")
def mini(random_model) -> tuple[Path, Path]:
    return random_model("mini")


# ---------------------------------------------------------------- parity with OpenCV


def test_real_yolov3_tiny_matches_opencv(tmp_path, yolo_files, two_photos):
    path = convert_checked(tmp_path, yolo_files["cfg"], yolo_files["weights"])
    blob = make_blob(two_photos, (416, 416))
    names, theirs = opencv_forward(yolo_files["cfg"], yolo_files["weights"], blob)
    backend = backends.load(path, None, "onnxruntime")
    assert backend.output_names == names == ["yolo_16", "yolo_23"]
    ours = backend.forward(blob)
    assert [o.shape for o in ours] == [(2, 507, 85), (2, 2028, 85)]
    assert assert_rows_match(ours, theirs) > 0
    assert assert_same_detections(ours, theirs, two_photos, (416, 416)) >= 2


@pytest.mark.parametrize("name, size", [("yolov3", (320, 320)), ("yolov3-spp", (320, 320)),
                                        ("yolov2-tiny", (416, 416)), ("mini", (320, 256)),
                                        ("mini-new-coords", (320, 256)), ("mini-nms", (320, 256))])
def test_random_weights_match_opencv(tmp_path, random_model, two_photos, name, size):
    cfg, weights = random_model(name)
    path = convert_checked(tmp_path, cfg, weights, input_size=size)
    blob = make_blob(two_photos, size)
    names, theirs = opencv_forward(cfg, weights, blob)
    backend = backends.load(path, None, "onnxruntime")
    assert backend.output_names == names
    ours = backend.forward(blob)
    thresh = {"yolov2-tiny": 0.6, "mini-nms": 0.1}.get(name, 0.2)  # the cfg's thresh, else OpenCV's default
    assert assert_rows_match(ours, theirs, thresh) > 0
    assert assert_same_detections(ours, theirs, two_photos, size) > 0


def test_unfolded_batchnorm_gives_the_same_outputs(tmp_path, mini, two_photos):
    folded = convert_checked(tmp_path, *mini, "folded.onnx")
    unfolded = convert_checked(tmp_path, *mini, "unfolded.onnx", fold_batchnorm=False)
    ops = [n.op_type for n in onnx.load(str(unfolded)).graph.node]
    assert ops.count("BatchNormalization") == 13
    assert "BatchNormalization" not in [n.op_type for n in onnx.load(str(folded)).graph.node]
    blob = make_blob(two_photos, (320, 256))
    for a, b in zip(run_onnx(unfolded, blob), run_onnx(folded, blob)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    _, theirs = opencv_forward(*mini, blob)
    assert_rows_match(run_onnx(unfolded, blob), theirs)


@pytest.mark.parametrize("activation, reference", [
    ("mish", lambda x: x * np.tanh(np.logaddexp(0, x))),
    ("swish", lambda x: x / (1 + np.exp(-x))),
])
def test_activations_over_the_float_range(tmp_path, mini, activation, reference):
    """The activation subgraphs alone, on -100..100 (the parity tests see only moderate values)."""
    index = {"mish": 0, "swish": 4}[activation]
    model = convert.darknet_to_onnx(*mini, batch=1)
    path = tmp_path / f"{activation}.onnx"
    graph = onnx.utils.Extractor(onnx.shape_inference.infer_shapes(model))
    onnx.save(graph.extract_model([f"conv_{index}"], [f"{activation}_{index}"]), str(path))
    shape = (1, 16, 64 if index else 128, 80 if index else 160)
    x = np.linspace(-100, 100, int(np.prod(shape)), dtype=np.float32).reshape(shape)
    (y,) = backends.load(path, None, "onnxruntime").forward(x)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, reference(x.astype(np.float64)), rtol=1e-5, atol=1e-5)


def test_graph_is_lean(tmp_path, yolo_files):
    """Folded convolutions, one op per activation, per head one reshape in, one transpose, one reshape out."""
    model = convert.darknet_to_onnx(yolo_files["cfg"], yolo_files["weights"])
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Conv") == 13 and ops.count("LeakyRelu") == 11
    assert ops.count("Transpose") == 2 and ops.count("Reshape") == 4 and ops.count("Exp") == 2
    assert "BatchNormalization" not in ops
    assert model.opset_import[0].version == 17
    props = {p.key: p.value for p in model.metadata_props}
    assert props["fastinfer.head"] == "darknet"
    assert props["fastinfer.source"] == "yolov3-tiny.cfg"
    assert props["fastinfer.converter"] == str(convert.FORMAT_VERSION)


def test_input_size_overrides_the_cfg(tmp_path, yolo_files, two_photos):
    size = (320, 256)
    path = convert_checked(tmp_path, yolo_files["cfg"], yolo_files["weights"], input_size=size, batch=2)
    model = onnx.load(str(path))
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 3, 256, 320]
    blob = make_blob(two_photos, size)
    _, theirs = opencv_forward(yolo_files["cfg"], yolo_files["weights"], blob)
    ours = run_onnx(path, blob)
    assert [o.shape for o in ours] == [(2, 8 * 10 * 3, 85), (2, 16 * 20 * 3, 85)]
    assert_rows_match(ours, theirs)
    assert assert_same_detections(ours, theirs, two_photos, size) > 0


def test_input_size_must_fit_the_stride(yolo_files, raises_invalid):
    with raises_invalid(r"input_size 400x416 does not fit 'yolov3-tiny.cfg'.*multiples of its stride, 32"):
        convert.darknet_to_onnx(yolo_files["cfg"], yolo_files["weights"], input_size=(400, 416))


@pytest.mark.parametrize("value", [(0, 416), (416,), "416x416", (416.0, 416)])
def test_input_size_must_be_two_positive_ints(yolo_files, raises_invalid, value):
    with raises_invalid("input_size must be"):
        convert.darknet_to_onnx(yolo_files["cfg"], yolo_files["weights"], input_size=value)


# ---------------------------------------------------------------- batch


def test_dynamic_batch_runs_any_batch(tmp_path, mini, photos):
    path = convert_checked(tmp_path, *mini)
    model = onnx.load(str(path))
    assert model.graph.input[0].name == "data"
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert all(o.type.tensor_type.shape.dim[0].dim_param == "batch" for o in model.graph.output)
    images = images_named(photos, "dog", "person", "horses")
    backend = backends.load(path, None, "onnxruntime")
    together = backend.forward(make_blob(images, (320, 256)))
    assert [o.shape[0] for o in together] == [3, 3]
    for i, image in enumerate(images):
        alone = backend.forward(make_blob([image], (320, 256)))
        assert [o.shape for o in alone] == [(1,) + o.shape[1:] for o in together]
        for a, b in zip(alone, together):
            np.testing.assert_allclose(a[0], b[i], rtol=0, atol=1e-5)


def test_fixed_batch(tmp_path, mini, two_photos):
    path = convert_checked(tmp_path, *mini, batch=2)
    model = onnx.load(str(path))
    for value in [model.graph.input[0], *model.graph.output]:
        assert value.type.tensor_type.shape.dim[0].dim_value == 2
    ours = run_onnx(path, make_blob(two_photos, (320, 256)))
    assert [o.shape for o in ours] == [(2, 16 * 20 * 3, 10), (2, 32 * 40 * 3, 10)]
    with pytest.raises(fastinfer.FastInferError):
        run_onnx(path, make_blob(two_photos[:1], (320, 256)))


@pytest.mark.parametrize("batch", [0, -1, 1.5, "2", True, None])
def test_bad_batch(mini, raises_invalid, batch):
    with raises_invalid("batch must be 'dynamic' or an int >= 1"):
        convert.darknet_to_onnx(*mini, batch=batch)


# ---------------------------------------------------------------- weights files


def test_header_version_0_1_has_a_32_bit_seen(tmp_path, mini, two_photos):
    """Weights written with a 0.1 header (4-byte ``seen``) convert to the same model."""
    old = tmp_path / "old.weights"
    data = mini[1].read_bytes()
    old.write_bytes(np.array([0, 1, 0, 123456], "<i4").tobytes() + data[20:])
    assert old.stat().st_size == mini[1].stat().st_size - 4
    blob = make_blob(two_photos, (320, 256))
    ours = run_onnx(convert_checked(tmp_path, mini[0], old), blob)
    for a, b in zip(ours, run_onnx(convert_checked(tmp_path, *mini, "new.onnx"), blob)):
        np.testing.assert_array_equal(a, b)
    _, theirs = opencv_forward(mini[0], old, blob)
    assert_rows_match(ours, theirs)


@pytest.mark.parametrize("delta, word", [(-4, "truncated"), (-1, "truncated"), (4, "too long"), (100, "too long")])
def test_weights_that_do_not_fit(tmp_path, mini, delta, word):
    data = mini[1].read_bytes()
    bad = tmp_path / "bad.weights"
    bad.write_bytes(data[:delta] if delta < 0 else data + bytes(delta))
    message = (rf"Darknet weights '{re.escape(str(bad))}' do not fit cfg '.*yolov4-tiny-mini\.cfg': the cfg needs "
               rf"{(len(data) - 20) // 4} parameters \({len(data)} bytes with the 20-byte header of version 0\.2\.0\), "
               rf"the file has {len(data) + delta} bytes \({word}\)")
    with pytest.raises(fastinfer.ModelLoadError, match=message):
        convert.darknet_to_onnx(mini[0], bad)


@pytest.mark.parametrize("size", [0, 11, 15])
def test_weights_too_short_for_a_header(tmp_path, mini, size):
    bad = tmp_path / "short.weights"
    bad.write_bytes(np.array([0, 2, 0, 0], "<i4").tobytes()[:size])
    word = "too short to hold a header" if size < 12 else "do not fit"
    with pytest.raises(fastinfer.ModelLoadError, match=word):
        convert.darknet_to_onnx(mini[0], bad)


def test_transposed_weights_are_refused(tmp_path, mini):
    bad = tmp_path / "transposed.weights"
    bad.write_bytes(np.array([1001, 2, 0], "<i4").tobytes() + mini[1].read_bytes()[12:])
    with pytest.raises(fastinfer.ModelLoadError, match=r"header version 1001\.2\.0 \(transposed weights\)"):
        convert.darknet_to_onnx(mini[0], bad)


def test_missing_files(tmp_path, mini):
    with pytest.raises(fastinfer.ModelLoadError, match=r"cannot read Darknet cfg '.*nothing\.cfg'"):
        convert.darknet_to_onnx(tmp_path / "nothing.cfg", mini[1])
    with pytest.raises(fastinfer.ModelLoadError, match=r"cannot read Darknet weights '.*nothing\.weights'"):
        convert.darknet_to_onnx(mini[0], tmp_path / "nothing.weights")
    with pytest.raises(fastinfer.ModelLoadError, match=r"cannot read Darknet weights '.*nothing\.weights'"):
        convert.cached_onnx(mini[0], tmp_path / "nothing.weights")


# ---------------------------------------------------------------- cfg errors


def test_unsupported_section_names_type_layer_and_line(tmp_path, mini):
    cfg = edited_cfg(tmp_path, MINI_CFG, "# 9\n[maxpool]", "# 9\n[local]\nsize=3\n\n[maxpool]", "yolov9.cfg")
    line = line_of(cfg, "[local]")
    message = rf"yolov9\.cfg line {line}: \[local\] \(layer 9\) is not supported$"
    with pytest.raises(fastinfer.ModelLoadError, match=message):
        convert.darknet_to_onnx(cfg, mini[1])


@pytest.mark.parametrize("section", ["crop", "reorg", "connected", "gaussian_yolo"])
def test_other_unsupported_sections(tmp_path, mini, section):
    cfg = edited_cfg(tmp_path, MINI_CFG, "# 20\n[route]", f"# 20\n[{section}]\n\n[route]")
    line = line_of(cfg, f"[{section}]")
    with pytest.raises(fastinfer.ModelLoadError, match=rf"line {line}: \[{section}\] \(layer 20\) is not supported"):
        convert.darknet_to_onnx(cfg, mini[1])


def test_unsupported_activation(tmp_path, mini):
    cfg = edited_cfg(tmp_path, MINI_CFG, "activation=swish", "activation=gelu")
    line = line_of(cfg, "activation=gelu")
    with pytest.raises(fastinfer.ModelLoadError,
                       match=rf"line {line}: \[convolutional\] \(layer 4\) activation 'gelu' is not supported "
                             r"\(supported: linear, leaky, relu, logistic, mish, swish\)"):
        convert.darknet_to_onnx(cfg, mini[1])


@pytest.mark.parametrize("key, value, message", [
    ("dilation", "2", "dilation=2 is not supported"),
    ("binary", "1", "binary=1 is not supported"),
    ("xnor", "1", "xnor=1 is not supported"),
    ("stride_x", "2", "stride_x=2 is not supported"),
    ("flipped", "1", "flipped=1 is not supported"),
    ("mystery", "3", "key 'mystery' is not supported"),
    ("groups", "many", "key 'groups' must be an integer, got 'many'"),
])
def test_keys_that_change_the_maths(tmp_path, mini, key, value, message):
    cfg = edited_cfg(tmp_path, MINI_CFG, "activation=swish", f"activation=swish\n{key}={value}")
    line = line_of(cfg, f"{key}={value}")
    with pytest.raises(fastinfer.ModelLoadError, match=rf"line {line}: \[convolutional\] \(layer 4\) {message}"):
        convert.darknet_to_onnx(cfg, mini[1])


def test_harmless_keys_are_ignored(tmp_path, mini, two_photos):
    """Training-only keys, keys at their default, a key repeated with the same value, [net] keys given twice."""
    cfg = edited_cfg(tmp_path, MINI_CFG, "activation=swish",
                 "activation=swish\ndilation=1\nlearning_rate=0.5\nstopbackward=1\nfilters=16")
    cfg.write_text(cfg.read_text().replace("batch=64", "batch=64\nbatch=1"))
    cfg.write_text(cfg.read_text().replace("scale_x_y = 1.05", "scale_x_y = 1.05\ncounters_per_class=1,2,3,4,5"))
    blob = make_blob(two_photos, (320, 256))
    for a, b in zip(run_onnx(convert_checked(tmp_path, cfg, mini[1]), blob),
                    run_onnx(convert_checked(tmp_path, *mini, "plain.onnx"), blob)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("old, new, message", [
    ("layers = -1, 10", "layers = -1, 30",
     r"\[route\] \(layer 23\) layers refers to layer 30, which is not an earlier"),
    ("layers = -1, 10", "layers = -1, 8", r"\[route\] \(layer 23\) joins layers of different sizes"),
    ("from=-3", "from=-4",
     r"\[shortcut\] \(layer 12\) adds layers of different sizes: layer 8 is 80x64, expected 40x32"),
    ("from=-3", "from=-6", r"\[shortcut\] \(layer 12\) adds layer 6 \(32 channels\) to 64 channels"),
    ("filters=30\nactivation=linear\n\n# 26", "filters=33\nactivation=linear\n\n# 26",
     r"\[yolo\] \(layer 26\) expects 3 x \(5 \+ 5\) = 30 input channels, the layer before gives 33"),
    ("mask = 0,1,2", "mask = 0,1,7", r"\[yolo\] \(layer 26\) lists 6 anchors for num=6 and mask=0,1,7"),
    ("[maxpool]\nsize=2\nstride=1", "[maxpool]\nsize=2\nstride=1\nactivation=leaky",
     r"\[maxpool\] \(layer 15\) key 'activation' is not supported"),
    ("width=320", "width=0", r"\[net\] needs a positive 'width', got 0"),
    ("[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=2",
     "[convolutional]\nbatch_normalize=1\nfilters=16\nfilters=8\nsize=3\nstride=2",
     r"\[convolutional\] \(layer 0\) key 'filters' is given twice with different values: '16' \(line \d+\) and '8'"),
])
def test_cfg_errors(tmp_path, mini, old, new, message):
    cfg = edited_cfg(tmp_path, MINI_CFG, old, new)
    with pytest.raises(fastinfer.ModelLoadError, match=rf"{re.escape(str(cfg))} line \d+: {message}"):
        convert.darknet_to_onnx(cfg, mini[1])


def test_cfg_without_a_detection_head(tmp_path, mini, testdata):
    classifier = testdata / "darknet-cfg" / "darknet19.cfg"
    line = line_of(classifier, "[avgpool]")
    with pytest.raises(fastinfer.ModelLoadError, match=rf"darknet19\.cfg line {line}: \[avgpool\] \(layer 24\) is not"):
        convert.darknet_to_onnx(classifier, mini[1])
    cfg = tmp_path / "headless.cfg"
    cfg.write_text("[net]\nwidth=64\nheight=64\n[convolutional]\nfilters=4\nsize=1\n")
    with pytest.raises(fastinfer.ModelLoadError, match=r"has no \[yolo\] or \[region\] layer"):
        convert.darknet_to_onnx(cfg, mini[1])


def test_not_a_cfg(tmp_path, mini):
    with pytest.raises(fastinfer.ModelLoadError, match="contains binary data"):
        convert.darknet_to_onnx(mini[1], mini[1])
    cfg = tmp_path / "layer-first.cfg"
    cfg.write_text("[convolutional]\nfilters=4\n")
    with pytest.raises(fastinfer.ModelLoadError,
                       match=r"line 1: the first section must be \[net\], got \[convolutional\]"):
        convert.darknet_to_onnx(cfg, mini[1])


# ---------------------------------------------------------------- cache


def test_cached_onnx_converts_once(mini, fastinfer_home, two_photos):
    first = convert.cached_onnx(*mini)
    assert first.parent == fastinfer_home / "onnx" and first.suffix == ".onnx"
    assert re.fullmatch(r"[0-9a-f]{64}", first.stem)
    stamp = first.stat().st_mtime_ns
    assert convert.cached_onnx(*mini) == first
    assert first.stat().st_mtime_ns == stamp  # not converted again
    assert convert.cached_onnx(*mini, input_size=(320, 256)) == first  # the cfg's own size
    other = convert.cached_onnx(*mini, input_size=(256, 320))
    assert other != first and other.parent == first.parent
    names = {p.name for p in first.parent.iterdir()}  # other tests may have cached models there too
    assert {first.name, other.name} <= names and not [n for n in names if not n.endswith((".onnx", ".onnx.sha256"))]
    assert {first.name + ".sha256", other.name + ".sha256"} <= names  # each with its recorded hash (runtime.cache)
    assert [o.shape for o in run_onnx(other, make_blob(two_photos, (256, 320)))] == [(2, 20 * 16 * 3, 10),
                                                                                      (2, 40 * 32 * 3, 10)]
    model = onnx.load(str(first))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_cached_onnx_key_follows_the_files(tmp_path, mini):
    cfg, weights = tmp_path / "m.cfg", tmp_path / "m.weights"
    cfg.write_bytes(mini[0].read_bytes())
    weights.write_bytes(mini[1].read_bytes())
    first = convert.cached_onnx(cfg, weights, cache_dir=tmp_path / "home")
    assert first.parent == tmp_path / "home" / "onnx"
    data = bytearray(weights.read_bytes())
    data[-4:] = np.array([0.5], "<f4").tobytes()
    weights.write_bytes(bytes(data))
    assert convert.cached_onnx(cfg, weights, cache_dir=tmp_path / "home") != first
    cfg.write_text(cfg.read_text() + "\n# a comment\n")
    assert len({first, convert.cached_onnx(cfg, weights, cache_dir=tmp_path / "home")}) == 2


def test_concurrent_conversions_share_one_file(tmp_path, mini):
    """Threads converting the same model at once all get the same, complete file and leave no temporary files."""
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: convert.cached_onnx(*mini, cache_dir=tmp_path), range(4)))
    assert len(set(paths)) == 1
    onnx.checker.check_model(str(paths[0]), full_check=True)
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == [paths[0].name, paths[0].name + ".sha256"]
