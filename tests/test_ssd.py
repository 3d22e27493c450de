"""SSD-style models: prior boxes, ``_core.postprocess_ssd`` and ``fastinfer.Detector(head="ssd")``.

* ``fastinfer.SSDPriors`` against the priors computed independently in
  ``ssd_reference.py`` (SSD300: 8732 priors; SSDLite320 from min/max scales);
  ``fastinfer.formats.ssd.load_priors`` from arrays, ``.npy`` and text files.
* ``_core.postprocess_ssd`` against the torch reference on synthetic outputs:
  softmax, sigmoid and raw scores, background first, last or absent,
  letterbox transforms, class-agnostic NMS, ``max_det``, scores at ``conf``.
* A small SSD-style network with seeded random weights (3 feature maps, loc
  and conf heads), exported with ``fastinfer.export``, run by
  ``fastinfer.Detector`` on the sample photos: identical detections to the
  reference post-processing of the same outputs (same order, same scores and
  classes, boxes to float tolerance), softmax and sigmoid, priors generated
  or given as an array, ``.npy`` or text file, one image or a batch.
* Every validation path, with ``match=``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

import fastinfer
from fastinfer import _core
from fastinfer.formats import heads
from fastinfer.formats.ssd import load_priors
from ssd_reference import TinySSD, reference_postprocess, reference_priors

INPUT = 128  # the tiny network's (square) input
TINY = dict(feature_maps=(16, 8, 4), image_size=INPUT, steps=(8, 16, 32), min_sizes=(16, 40, 72),
            max_sizes=(40, 72, 104), aspect_ratios=((2,), (2, 3), (2,)))
TINY_BOXES_PER_CELL = (4, 6, 4)  # 1 + 1 + 2 * ratios
CLASSES = 5
COLUMNS = CLASSES + 1  # background column 0
SSD_MEAN = (104.0, 117.0, 123.0)
# Head calibration per score mode: the background column high (softmax) or
# the class columns low (sigmoid), so a conf of 0.5 keeps some, not most, priors.
SHIFTS = {"softmax": [4.0] + [0.0] * CLASSES, "sigmoid": [0.0] + [-4.0] * CLASSES}
CONF = 0.5
BOX_TOLERANCE = dict(rtol=1e-5, atol=1e-3)  # pixels; same float32 formula, other operation order


def tiny_reference_priors() -> np.ndarray:
    scales = [s / INPUT for s in TINY["min_sizes"]] + [TINY["max_sizes"][-1] / INPUT]
    return reference_priors(TINY["feature_maps"], INPUT, TINY["steps"], scales, TINY["aspect_ratios"])


def assert_same_detections(got, expected, where: str) -> None:
    xyxy, conf, cls = got
    e_xyxy, e_conf, e_cls = expected
    assert xyxy.dtype == np.float32 and conf.dtype == np.float32 and cls.dtype == np.int64, where
    assert len(conf) == len(e_conf), f"{where}: {len(conf)} detections, expected {len(e_conf)}"
    np.testing.assert_array_equal(cls, e_cls, err_msg=where)
    np.testing.assert_array_equal(conf, e_conf, err_msg=where)
    np.testing.assert_allclose(xyxy, e_xyxy, err_msg=where, **BOX_TOLERANCE)


# ---------------------------------------------------------------- priors


def test_ssd300_priors_match_an_independent_computation():
    generated = fastinfer.SSDPriors().generate()
    scales = [s / 300 for s in (30, 60, 111, 162, 213, 264, 315)]
    expected = reference_priors((38, 19, 10, 5, 3, 1), 300, (8, 16, 32, 64, 100, 300), scales,
                                ((2,), (2, 3), (2, 3), (2, 3), (2,), (2,)))
    assert generated.shape == expected.shape == (8732, 4)
    assert generated.dtype == np.float32 and generated.flags.c_contiguous
    assert fastinfer.SSDPriors().count == 8732
    np.testing.assert_allclose(generated, expected, rtol=0, atol=1e-7)
    assert generated.min() >= 0 and generated.max() <= 1  # clipped: the last map's large square is 1.05 wide
    unclipped = fastinfer.SSDPriors(clip=False).generate()
    assert unclipped.max() > 1
    np.testing.assert_allclose(unclipped, reference_priors((38, 19, 10, 5, 3, 1), 300, (8, 16, 32, 64, 100, 300),
                                                           scales, ((2,), (2, 3), (2, 3), (2, 3), (2,), (2,)),
                                                           clip=False), rtol=0, atol=1e-7)


def test_ssdlite_priors_from_min_and_max_scales():
    maps = (20, 10, 5, 3, 2, 1)
    priors = fastinfer.SSDPriors.from_scales(maps, 0.2, 0.95, image_size=320)
    scales = [0.2 + (0.95 - 0.2) * k / 5 for k in range(6)] + [1.0]
    expected = reference_priors(maps, 320, None, scales, [(2, 3)] * 6)
    assert priors.count == len(expected) == 3234
    np.testing.assert_allclose(priors.generate(), expected, rtol=0, atol=1e-6)


def test_priors_without_large_squares_and_tiny_config():
    config = fastinfer.SSDPriors(**dict(TINY, max_sizes=None))
    scales = [s / INPUT for s in TINY["min_sizes"]]
    expected = reference_priors(TINY["feature_maps"], INPUT, TINY["steps"], scales, TINY["aspect_ratios"],
                                large=False)
    assert config.count == len(expected) == 16 * 16 * 3 + 8 * 8 * 5 + 4 * 4 * 3
    np.testing.assert_allclose(config.generate(), expected, rtol=0, atol=1e-7)
    np.testing.assert_allclose(fastinfer.SSDPriors(**TINY).generate(), tiny_reference_priors(), rtol=0, atol=1e-7)


def test_load_priors_from_arrays_and_files(tmp_path):
    priors = tiny_reference_priors()
    np.save(tmp_path / "priors.npy", priors)
    np.savetxt(tmp_path / "priors.txt", priors, fmt="%.9g")
    np.savetxt(tmp_path / "priors.csv", priors, fmt="%.9g", delimiter=",")
    for source in (priors, priors.astype(np.float64), priors.tolist(), tmp_path / "priors.npy",
                   str(tmp_path / "priors.txt"), tmp_path / "priors.csv"):
        loaded = load_priors(source)
        assert loaded.dtype == np.float32 and loaded.flags.c_contiguous
        np.testing.assert_array_equal(loaded, priors)
    np.testing.assert_array_equal(load_priors(fastinfer.SSDPriors(**TINY)), fastinfer.SSDPriors(**TINY).generate())


# ---------------------------------------------------------------- core decoding on synthetic outputs


def synthetic(rng: np.random.Generator, n: int, columns: int, mode: str, background: int | None):
    """Priors spread over the input, loc offsets, scores with background-heavy rows and exact ties to ``CONF``."""
    priors = np.concatenate([rng.uniform(0.0, 1.0, (n, 2)), rng.uniform(0.05, 0.6, (n, 2))], axis=1)
    loc = rng.normal(0, 1.0, (n, 4))
    if mode == "raw":
        logits = rng.dirichlet(np.full(columns, 0.3), size=n)
        logits[rng.random(n) < 0.05, -1] = CONF  # exactly at the threshold: not a detection
    else:
        logits = rng.normal(0, 2.5, (n, columns))
        if background is not None and mode == "softmax":
            logits[:, background] += 2.0
        if mode == "sigmoid":
            logits -= 1.0
    # Duplicated priors with the same scores: overlapping boxes and tied scores for NMS.
    twins = rng.choice(n, size=n // 10, replace=False)
    priors[twins[1:]], logits[twins[1:]] = priors[twins[:-1]], logits[twins[:-1]]
    return priors.astype(np.float32), loc.astype(np.float32), logits.astype(np.float32)


CASES = {
    "softmax bg 0": dict(scores="softmax", background=0),
    "softmax bg last": dict(scores="softmax", background=6),
    "softmax bg middle, agnostic": dict(scores="softmax", background=3, class_agnostic=True),
    "sigmoid bg 0": dict(scores="sigmoid", background=0),
    "sigmoid no bg": dict(scores="sigmoid", background=None),
    "raw bg 0, max_det 7": dict(scores="raw", background=0, max_det=7),
    "softmax variances, iou 0.3": dict(scores="softmax", background=0, variances=(0.2, 0.1), iou=0.3),
}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("case", CASES, ids=str)
def test_postprocess_ssd_matches_the_reference(case, seed):
    options = dict(CASES[case])
    rng = np.random.default_rng(seed)
    columns, n, batch = 7, 400, 2
    outputs = [synthetic(rng, n, columns, options["scores"], options["background"]) for _ in range(batch)]
    priors = outputs[0][0]
    loc = np.stack([o[1] for o in outputs])
    logits = np.stack([o[2] for o in outputs])
    # A stretch and a letterbox (padding on y) of two image sizes.
    transforms = np.array([[300 / 640, 300 / 480, 0, 0, 640, 480], [0.5, 0.5, 0, 37.5, 600, 450]])
    iou = options.pop("iou", 0.45)
    max_det = options.pop("max_det", 200)
    agnostic = options.pop("class_agnostic", False)
    variances = options.pop("variances", (0.1, 0.2))
    got = _core.postprocess_ssd(loc, logits, priors, transforms, (300, 300), CONF, iou, agnostic, max_det,
                                variances=variances, **options)
    for b in range(batch):
        expected = reference_postprocess(loc[b], logits[b], priors, transforms[b], (300, 300), conf=CONF, iou=iou,
                                         max_det=max_det, variances=variances, class_agnostic=agnostic, **options)
        assert len(expected[1]) > 0, "test set-up: no detections"
        assert_same_detections(got[b], expected, f"{case}, seed {seed}, image {b}")
        assert got[b][2].max() < columns - (options["background"] is not None)
    # One image as 2-D arrays gives the same.
    single = _core.postprocess_ssd(loc[1], logits[1], priors, transforms[1:], (300, 300), CONF, iou, agnostic,
                                   max_det, variances=variances, **options)
    for a, b in zip(single[0], got[1]):
        np.testing.assert_array_equal(a, b)


def test_postprocess_ssd_thresholds_and_top_k():
    rng = np.random.default_rng(7)
    priors, loc, logits = synthetic(rng, 2000, 4, "softmax", 0)
    transforms = np.array([[1.0, 1.0, 0, 0, 300, 300]])
    every = reference_postprocess(loc, logits, priors, transforms[0], (300, 300), conf=0.0, iou=1.0, max_det=0)
    assert len(every[1]) == 2000 * 3  # conf 0, no suppression: every (prior, class) pair
    assert_same_detections(_core.postprocess_ssd(loc, logits, priors, transforms, (300, 300), 0.0, 1.0, False, 0)[0],
                           every, "conf 0, iou 1")
    for max_det in (1, 200, 5999):
        got = _core.postprocess_ssd(loc, logits, priors, transforms, (300, 300), 0.0, 1.0, False, max_det)[0]
        assert_same_detections(got, tuple(a[:max_det] for a in every), f"max_det {max_det}")
    nothing = _core.postprocess_ssd(loc, logits, priors, transforms, (300, 300), 1.0, 0.45, False, 0)[0]
    assert [a.shape for a in nothing] == [(0, 4), (0,), (0,)]


@pytest.mark.parametrize("max_det", [1, 100, 2000])
def test_postprocess_ssd_top_k_among_suppressed_candidates(max_det):
    """The 3000 best candidates are one box over and over; the rest are spread out and score lower."""
    rng = np.random.default_rng(11)
    same, spread = 3000, 2000
    priors = np.concatenate([np.tile([0.5, 0.5, 0.3, 0.3], (same, 1)),
                             np.concatenate([rng.uniform(0, 1, (spread, 2)), rng.uniform(0.01, 0.05, (spread, 2))], 1)])
    loc = np.concatenate([rng.normal(0, 0.01, (same, 4)), np.zeros((spread, 4))])
    logits = np.zeros((same + spread, 3))
    logits[:same, 1] = rng.uniform(3.0, 4.0, same)
    logits[same:, 1] = -10.0
    logits[same:, 2] = rng.uniform(0.0, 2.9, spread)
    priors, loc, logits = (a.astype(np.float32) for a in (priors, loc, logits))
    transforms = np.array([[1.0, 1.0, 0, 0, 300, 300]])
    got = _core.postprocess_ssd(loc, logits, priors, transforms, (300, 300), 0.3, 0.45, False, max_det)[0]
    expected = reference_postprocess(loc, logits, priors, transforms[0], (300, 300), conf=0.3, iou=0.45,
                                     max_det=max_det)
    assert_same_detections(got, expected, f"max_det {max_det}")
    assert (got[2] == 0).sum() == 1  # the repeated box once
    assert len(got[1]) == max_det if max_det <= 100 else 100 < len(got[1]) < max_det


# ---------------------------------------------------------------- the tiny SSD, exported, on the photos


@pytest.fixture(scope="module")
def images(photos) -> list[np.ndarray]:
    loaded = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in photos]
    assert all(im is not None for im in loaded)
    return loaded


@pytest.fixture(scope="module")
def calibration_blob(images) -> np.ndarray:
    """The SSD300 pre-processing as ``cv2.dnn`` writes it: stretch, BGR, minus the mean."""
    return np.concatenate([cv2.dnn.blobFromImage(im, 1.0, (INPUT, INPUT), SSD_MEAN, swapRB=False) for im in images])


@pytest.fixture(scope="module", params=["softmax", "sigmoid"])
def tiny_ssd(request, tmp_path_factory, calibration_blob):
    """``(mode, net, onnx path)``: the tiny SSD with seeded weights, calibrated for ``mode``, exported."""
    mode = request.param
    torch.manual_seed(2024)
    net = TinySSD(TINY_BOXES_PER_CELL, COLUMNS)
    net.calibrate(torch.from_numpy(calibration_blob), loc_std=0.5, conf_std=2.0, shifts=SHIFTS[mode])
    path = tmp_path_factory.mktemp(f"ssd-{mode}") / "tiny_ssd.onnx"
    fastinfer.export(net.eval(), torch.from_numpy(calibration_blob[:1]), path, output_names=("loc", "conf"))
    return mode, net, path


def priors_source(kind: str, tmp_path):
    if kind == "generated":
        return fastinfer.SSDPriors(**TINY)
    priors = tiny_reference_priors()
    if kind == "array":
        return priors
    if kind == "npy":
        np.save(tmp_path / "priors.npy", priors)
        return tmp_path / "priors.npy"
    np.savetxt(tmp_path / "priors.txt", priors, fmt="%.9g")
    return tmp_path / "priors.txt"


@pytest.mark.parametrize("kind", ["generated", "array", "npy", "txt"])
def test_detector_matches_the_reference_on_the_photos(tiny_ssd, kind, tmp_path, images, photos, calibration_blob):
    mode, net, path = tiny_ssd
    det = fastinfer.Detector(path, priors=priors_source(kind, tmp_path), ssd=fastinfer.SSDConfig(scores=mode),
                             conf=CONF)
    assert det.head == "ssd" and det.input_size == (INPUT, INPUT) and len(det.names) == CLASSES
    assert det.max_det == 200 and det.names == tuple(f"class{i}" for i in range(CLASSES))
    priors = tiny_reference_priors()
    counts = []
    for image, photo in zip(images, photos):
        blob, transforms = det.preprocess([image])
        h, w = image.shape[:2]
        np.testing.assert_allclose(transforms, [[INPUT / w, INPUT / h, 0, 0, w, h]], rtol=1e-6)
        loc, logits = det.backend.forward(blob)
        expected = reference_postprocess(loc[0], logits[0], priors, transforms[0], (INPUT, INPUT), conf=CONF,
                                         iou=det.iou, scores=mode)
        dets = det(image)
        assert_same_detections((dets.xyxy, dets.confidence, dets.class_id), expected, f"{mode} {kind} {photo.name}")
        assert dets.metadata["head"] == "ssd"
        counts.append(len(dets))
    assert sum(counts) > 100 and min(counts) > 0, counts  # the calibration gives detections on every photo
    assert max(counts) == 200  # and some photos reach SSD's top-k


def test_detector_batch_and_pipeline(tiny_ssd, images, calibration_blob):
    mode, net, path = tiny_ssd
    det = fastinfer.Detector(path, head="ssd", priors=fastinfer.SSDPriors(**TINY),
                             ssd=fastinfer.SSDConfig(scores=mode), conf=CONF, max_det=50,
                             names=[f"thing{i}" for i in range(CLASSES)])
    blob, transforms = det.preprocess(images)
    np.testing.assert_allclose(blob, calibration_blob, atol=1e-4)  # the SSD preset is cv2's SSD300 blob
    loc, logits = det.backend.forward(blob)
    with torch.no_grad():
        torch_loc, torch_logits = net(torch.from_numpy(blob))
    np.testing.assert_allclose(loc, torch_loc.numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(logits, torch_logits.numpy(), rtol=1e-3, atol=1e-4)
    batch = det(images)
    priors = tiny_reference_priors()
    suppressed = 0
    for b, dets in enumerate(batch):
        expected = reference_postprocess(loc[b], logits[b], priors, transforms[b], (INPUT, INPUT), conf=CONF,
                                         iou=det.iou, scores=mode, max_det=50)
        assert_same_detections((dets.xyxy, dets.confidence, dets.class_id), expected, f"{mode} batch image {b}")
        assert list(dets.labels) == [f"thing{c}" for c in dets.class_id]
        every = reference_postprocess(loc[b], logits[b], priors, transforms[b], (INPUT, INPUT), conf=CONF, iou=1.0,
                                      scores=mode, max_det=0)
        suppressed += len(every[1]) - len(reference_postprocess(loc[b], logits[b], priors, transforms[b],
                                                                (INPUT, INPUT), conf=CONF, iou=det.iou,
                                                                scores=mode, max_det=0)[1])
    assert suppressed > 0  # NMS has work to do
    agnostic = fastinfer.Detector(path, priors=fastinfer.SSDPriors(**TINY), ssd=fastinfer.SSDConfig(scores=mode),
                                  conf=CONF, class_agnostic=True, max_det=None)
    dets = agnostic(images[0])
    expected = reference_postprocess(loc[0], logits[0], priors, transforms[0], (INPUT, INPUT), conf=CONF,
                                     iou=agnostic.iou, scores=mode, class_agnostic=True)
    assert_same_detections((dets.xyxy, dets.confidence, dets.class_id), expected, f"{mode} class-agnostic")


def test_detector_on_the_opencv_backend(tiny_ssd, images, photos):
    """OpenCV orders the outputs its own way (conf before loc): they are taken by name."""
    mode, _, path = tiny_ssd
    det = fastinfer.Detector(path, priors=tiny_reference_priors(), ssd=fastinfer.SSDConfig(scores=mode), conf=CONF,
                             backend="opencv")
    for image, photo in list(zip(images, photos))[:3]:
        blob, transforms = det.preprocess([image])
        outputs = dict(zip(det.backend.output_names, det.backend.forward(blob)))
        expected = reference_postprocess(outputs["loc"][0], outputs["conf"][0], tiny_reference_priors(),
                                         transforms[0], (INPUT, INPUT), conf=CONF, iou=det.iou, scores=mode)
        dets = det(image)
        assert_same_detections((dets.xyxy, dets.confidence, dets.class_id), expected, f"opencv {mode} {photo.name}")


def test_detect_head_recognises_ssd_outputs():
    assert heads.detect_head([[1, 8732, 4], [1, 8732, 21]], {}) == "ssd"
    assert heads.detect_head([["batch", 8732, 21], ["batch", 8732, 4]], {}) == "ssd"
    assert heads.ssd_outputs([["batch", 8732, 21], ["batch", 8732, 4]]) == (1, 0)
    assert heads.ssd_outputs([[1, 3000, 4], [1, 3000, 4]]) == (0, 1)  # 3 classes: the first holds the boxes
    assert heads.detect_head([[1, 84, 8400]], {heads.HEAD_KEY: "ssd"}) == "ssd"
    assert heads.ssd_outputs([[1, 8732, 4], [1, 8000, 21]]) is None
    assert heads.ssd_outputs([[1, 8732, 4]]) is None
    assert "ssd" in fastinfer.tasks.detect.HEADS and fastinfer.tasks.PRESETS["ssd"] == fastinfer.Preprocessing(
        swap_rb=False, mean=tuple(m / 255 for m in SSD_MEAN), std=1 / 255)


# ---------------------------------------------------------------- bad input


def onnx_with_outputs(path, shapes) -> str:
    """An ONNX file whose outputs have ``shapes`` (constants; the head checks happen before it runs)."""
    import onnx
    from onnx import TensorProto, helper

    nodes, outputs = [], []
    for i, shape in enumerate(shapes):
        value = helper.make_tensor(f"v{i}", TensorProto.FLOAT, shape, np.zeros(shape, np.float32).ravel().tolist())
        nodes.append(helper.make_node("Constant", [], [f"out{i}"], value=value))
        outputs.append(helper.make_tensor_value_info(f"out{i}", TensorProto.FLOAT, shape))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
                              outputs)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_detector_rejects_a_wrong_prior_count(tiny_ssd, raises_invalid):
    _, _, path = tiny_ssd
    with raises_invalid(r"predicts 1472 boxes but there are 8732 priors \(the default SSD300 priors: pass priors=\)"):
        fastinfer.Detector(path)
    with raises_invalid(r"predicts 1472 boxes but there are 100 priors; they must be equal"):
        fastinfer.Detector(path, priors=np.full((100, 4), 0.5, np.float32))


def test_detector_rejects_bad_ssd_settings(tiny_ssd, raises_invalid, nudenet_model, tmp_path):
    _, _, path = tiny_ssd
    priors = fastinfer.SSDPriors(**TINY)
    with raises_invalid(r"background index 6 is out of range for 6 score columns \(0\.\.5\)"):
        fastinfer.Detector(path, priors=priors, ssd=fastinfer.SSDConfig(background=6))
    with raises_invalid(r"3 class names for an SSD with 5 classes \(6 score columns, background column 0\)"):
        fastinfer.Detector(path, priors=priors, names=["a", "b", "c"])
    with raises_invalid(r"ssd must be a fastinfer.SSDConfig, got dict"):
        fastinfer.Detector(path, priors=priors, ssd={"scores": "sigmoid"})
    with raises_invalid(r"priors must have shape \(N, 4\) \(cx, cy, w, h\) with N >= 1, got \(1472, 5\)"):
        fastinfer.Detector(path, priors=np.zeros((1472, 5), np.float32))
    with raises_invalid(r"priors= and ssd= are for SSD models \(head='ssd'\); model .* has the 'yolov8' head"):
        fastinfer.Detector(nudenet_model, priors=priors)
    with raises_invalid(r"priors= and ssd= are for SSD models"):
        fastinfer.Detector(nudenet_model, ssd=fastinfer.SSDConfig())
    disagree = onnx_with_outputs(str(tmp_path / "disagree.onnx"), [[1, 1472, 4], [1, 1400, 6]])
    with pytest.raises(fastinfer.ModelLoadError, match=r"an SSD model needs two outputs \(B, N, 4\) and \(B, N, "
                       r"classes\) with the same N; model .* has outputs of shapes \[\[1, 1472, 4\], \[1, 1400, 6\]\]"):
        fastinfer.Detector(disagree, head="ssd", input_size=INPUT, priors=priors)


SSD_CONFIG_ERRORS = {
    "zero variance": (dict(variances=(0.1, 0.0)), r"variances must be finite and > 0, got \(0\.1, 0\.0\)"),
    "nan variance": (dict(variances=(math.nan, 0.2)), r"variances must be finite and > 0, got \(nan, 0\.2\)"),
    "one variance": (dict(variances=(0.1,)), r"variances must be two values \(centre, size\), got \(0\.1,\)"),
    "scores": (dict(scores="tanh"), r"scores must be one of softmax, sigmoid, raw \(or None: raw\); got 'tanh'"),
    "negative background": (dict(background=-1), r"background must be a score column >= 0 or None, got -1"),
    "bool background": (dict(background=True), r"background must be a score column >= 0 or None, got True"),
}


@pytest.mark.parametrize("name", SSD_CONFIG_ERRORS, ids=str)
def test_ssd_config_rejects(name, raises_invalid):
    kwargs, message = SSD_CONFIG_ERRORS[name]
    with raises_invalid(message):
        fastinfer.SSDConfig(**kwargs)


def test_ssd_config_defaults_and_raw_alias():
    assert fastinfer.SSDConfig() == fastinfer.SSDConfig(variances=(0.1, 0.2), scores="softmax", background=0)
    assert fastinfer.SSDConfig(scores=None).scores == "raw"
    assert fastinfer.SSDConfig(background=None).num_classes(4) == 4
    assert fastinfer.SSDConfig(background=3).num_classes(4) == 3


PRIOR_ERRORS = {
    "not 2-D": (np.zeros(8, np.float32), r"priors must have shape \(N, 4\) \(cx, cy, w, h\) with N >= 1, got \(8,\)"),
    "3 columns": (np.zeros((8, 3)), r"priors must have shape \(N, 4\) .* got \(8, 3\)"),
    "empty": (np.zeros((0, 4)), r"priors must have shape \(N, 4\) .* got \(0, 4\)"),
    "text": (np.array([["a", "b", "c", "d"]]), r"priors must hold real numbers, got dtype <U1"),
    "zero width": (np.array([[0.5, 0.5, 0.0, 0.1]]), r"priors must be finite with widths and heights > 0"),
    "nan": (np.array([[0.5, np.nan, 0.1, 0.1]]), r"priors must be finite with widths and heights > 0"),
}


@pytest.mark.parametrize("name", PRIOR_ERRORS, ids=str)
def test_load_priors_rejects(name, raises_invalid):
    value, message = PRIOR_ERRORS[name]
    with raises_invalid(message):
        load_priors(value)


def test_load_priors_file_errors(tmp_path, raises_invalid):
    with pytest.raises(fastinfer.ModelLoadError, match=r"priors file '.*absent\.npy' does not exist"):
        load_priors(tmp_path / "absent.npy")
    (tmp_path / "bad.txt").write_text("0.5 0.5 0.1\n0.5 0.5\n")
    with pytest.raises(fastinfer.ModelLoadError, match=r"cannot read priors file '.*bad\.txt'"):
        load_priors(tmp_path / "bad.txt")
    np.savetxt(tmp_path / "three.txt", np.full((5, 3), 0.5))
    with raises_invalid(r"priors file '.*three\.txt' must have shape \(N, 4\) .* got \(5, 3\)"):
        load_priors(tmp_path / "three.txt")


PRIORS_CONFIG_ERRORS = {
    "no maps": (dict(feature_maps=()), r"feature_maps must be one or more sizes >= 1, got \(\)"),
    "zero map": (dict(feature_maps=(38, 0, 10, 5, 3, 1)), r"feature_maps must be one or more sizes >= 1"),
    "steps count": (dict(steps=(8, 16)), r"steps needs one entry per feature map \(6\), got 2: \(8, 16\)"),
    "min_sizes count": (dict(min_sizes=(30,)), r"min_sizes needs one entry per feature map \(6\), got 1"),
    "ratios count": (dict(aspect_ratios=((2,),)), r"aspect_ratios needs one entry per feature map \(6\), got 1"),
    "negative size": (dict(min_sizes=(30, 60, -1, 162, 213, 264)), r"min_sizes must be finite and > 0"),
    "zero ratio": (dict(aspect_ratios=((2,), (2, 0), (2, 3), (2, 3), (2,), (2,))),
                   r"aspect_ratios must be finite and > 0, got \(2, 0\)"),
    "image size": (dict(image_size=0), r"image_size must be a size in pixels > 0, got 0"),
}


@pytest.mark.parametrize("name", PRIORS_CONFIG_ERRORS, ids=str)
def test_ssd_priors_reject(name, raises_invalid):
    kwargs, message = PRIORS_CONFIG_ERRORS[name]
    with raises_invalid(message):
        fastinfer.SSDPriors(**kwargs)


def core_args(n=10, columns=3, batch=1):
    rng = np.random.default_rng(0)
    priors, loc, logits = synthetic(rng, n, columns, "softmax", 0)
    return dict(loc=np.stack([loc] * batch), logits=np.stack([logits] * batch), priors=priors,
                transforms=np.array([[1.0, 1.0, 0, 0, 300, 300]] * batch), input_size=(300, 300))


CORE_ERRORS = {
    "prior count": (dict(priors=np.full((12, 4), 0.5, np.float32)),
                    r"the model gives 10 boxes but there are 12 priors; they must be equal"),
    "priors shape": (dict(priors=np.full((10, 5), 0.5, np.float32)), r"priors must have shape \(N, 4\) \(cx, cy, w, "
                     r"h\), got \(10, 5\)"),
    "priors dtype": (dict(priors=np.full((10, 4), 0.5)), r"priors must be float32, got dtype float64"),
    "rows disagree": (dict(logits=np.zeros((1, 9, 3), np.float32)),
                      r"loc and logits disagree: shapes \(1, 10, 4\) and \(1, 9, 3\) must have the same batch and box"),
    "batch disagrees": (dict(logits=np.zeros((2, 10, 3), np.float32)), r"loc and logits disagree"),
    "rank disagrees": (dict(logits=np.zeros((10, 3), np.float32)), r"loc and logits disagree"),
    "loc width": (dict(loc=np.zeros((1, 10, 5), np.float32)),
                  r"loc must hold 4 values per box, got shape \(1, 10, 5\)"),
    "loc rank": (dict(loc=np.zeros(40, np.float32)), r"loc must be \(batch, boxes, 4\) \(or 2-D for one image\), got "
                 r"\(40,\)"),
    "transforms": (dict(transforms=np.array([[1.0, 1.0, 0, 0, 300, 300]] * 2)),
                   r"loc of shape \(1, 10, 4\) holds 1 image\(s\) but transforms has 2 rows"),
    "background range": (dict(background=3), r"background index 3 is out of range for 3 score columns \(0\.\.2\)"),
    "background negative": (dict(background=-2), r"background must be a score column >= 0 or None, got -2"),
    "only background": (dict(logits=np.zeros((1, 10, 1), np.float32)),
                        r"scores need at least one class column besides the background, got 1 column"),
    "variances": (dict(variances=(0.1, -0.2)),
                  r"variances must be two finite values > 0, got \(0\.100000, -0\.200000\)"),
    "scores": (dict(scores="tanh"), r"scores must be 'softmax', 'sigmoid' or 'raw', got 'tanh'"),
    "conf": (dict(conf=1.5), r"conf \(score threshold\) must be in \[0, 1\], got 1\.5"),
}


@pytest.mark.parametrize("name", CORE_ERRORS, ids=str)
def test_postprocess_ssd_rejects(name, raises_invalid):
    changes, message = CORE_ERRORS[name]
    args = core_args()
    args.update(changes)
    with raises_invalid(message):
        _core.postprocess_ssd(**args)
