"""fastinfer.Classifier: ImageNet pre-processing against cv2/numpy, softmax/top-k against numpy, the real
EfficientNet-Lite0 against torch, bad input, and ``fastinfer classify``."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

import efficientnet_lite
import fastinfer
import torchvision_reference
from fastinfer import _core, cli, convert

WEIGHTS = Path("models") / "efficientnet-lite0" / "efficientnet-lite0-57934424.pth"
CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
LITE = dict(mean=efficientnet_lite.MEAN, std=efficientnet_lite.STD)  # what the weights were trained with


# ---------------------------------------------------------------- references


def reference_blob(image: np.ndarray, size: tuple[int, int], resize: int, mean, std, *, center: bool = True):
    """torchvision's Resize(resize) + CenterCrop + Normalize in numpy/cv2: (3xHxW float64, (scale_x, scale_y, left, top))."""
    h, w = image.shape[:2]
    width, height = size
    if h <= w:
        new_h, new_w = resize, int(resize * w / h)
    else:
        new_h, new_w = int(resize * h / w), resize
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top = int(round((new_h - height) / 2.0)) if center else 0
    left = int(round((new_w - width) / 2.0)) if center else 0
    rgb = resized[top:top + height, left:left + width, ::-1].astype(np.float64) / 255.0
    blob = ((rgb - np.array(mean)) / np.array(std)).transpose(2, 0, 1)
    return blob, (new_w / w, new_h / h, left, top)


def numpy_top_k(scores: np.ndarray, k: int, apply_softmax: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the k best scores (stable: ties to the lower id) and softmax(scores) there in float64, or the scores."""
    p = scores.astype(np.float64)
    if apply_softmax:
        e = np.exp(p - p.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(p, ids, axis=1)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def lite0(testdata) -> nn.Module:
    """EfficientNet-Lite0 in torch with the real ImageNet weights (loaded strictly)."""
    path = testdata / WEIGHTS
    if not path.is_file():
        pytest.fail(f"the model {path} is missing: run `make testdata`", pytrace=False)
    return efficientnet_lite.load(path)


def _export(model: nn.Module, path: Path, **kwargs) -> Path:
    report = fastinfer.export(model, torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)), path,
                              **kwargs)
    assert report.passed, str(report)
    return path


@pytest.fixture(scope="module")
def lite0_onnx(lite0, tmp_path_factory) -> Path:
    """The model exported with fastinfer.export's defaults (opset 17, dynamic batch)."""
    return _export(lite0, tmp_path_factory.mktemp("lite0") / "efficientnet-lite0.onnx")


@pytest.fixture(scope="module")
def classifier(lite0_onnx) -> fastinfer.Classifier:
    return fastinfer.Classifier(lite0_onnx, **LITE)


@pytest.fixture(scope="module")
def torch_reference(classifier, lite0, photos) -> tuple[np.ndarray, np.ndarray]:
    """The classifier's own blob of every photo (one batch) and torch's softmax of the module on it."""
    blob, _ = classifier.preprocess([fastinfer.read_image(p) for p in photos])
    with torch.no_grad():
        return blob, torch.softmax(lite0(torch.from_numpy(blob)), dim=1).numpy()


@pytest.fixture(scope="module")
def cat(testdata) -> Path:
    return testdata / "images" / "chelsea.png"


def tiny_net(classes: int, softmax: bool = False) -> nn.Module:
    torch.manual_seed(classes)
    layers = [nn.Conv2d(3, 8, 3, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, classes)]
    return nn.Sequential(*layers, *([nn.Softmax(dim=1)] if softmax else [])).eval()


# ---------------------------------------------------------------- resize_crop pre-processing


RESIZE_CROP_SIZES = [(224, 224), (256, 256), (256, 300), (300, 256), (256, 257), (256, 259), (257, 256), (259, 256),
                     (1, 1), (2, 3), (3, 2), (480, 640), (640, 480), (37, 1000), (1000, 37)]
NORMALISATIONS = {"imagenet": (fastinfer.IMAGENET_MEAN, fastinfer.IMAGENET_STD), "lite": (LITE["mean"], LITE["std"])}


@pytest.mark.parametrize("norm", NORMALISATIONS, ids=str)
@pytest.mark.parametrize("target,resize", [((224, 224), 256), ((224, 224), 224), ((160, 192), 200)],
                         ids=["224-256", "224-224", "160x192-200"])
def test_resize_crop_equals_the_cv2_reference(norm, target, resize):
    mean, std = NORMALISATIONS[norm]
    rng = np.random.default_rng([resize, *target])
    sizes = RESIZE_CROP_SIZES + [tuple(int(v) for v in hw) for hw in rng.integers(1, 700, size=(10, 2))]
    for h, w in sizes:
        image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        blob, (transform,) = _core.make_blob([image], target, "resize_crop", True, 1 / 255.0,
                                             [255.0 * m for m in mean], list(std), resize=resize)
        expected, (sx, sy, left, top) = reference_blob(image, target, resize, mean, std)
        where = f"image {w}x{h} -> resize {resize}, crop {target}"
        assert blob.shape == (1, 3, target[1], target[0]), where
        assert np.abs(blob[0] - expected).max() <= 2e-6, where
        # The record maps input pixels back to the image: x_img = (x_net - pad_x) / scale_x.
        np.testing.assert_allclose(transform, [sx, sy, -left, -top, w, h], rtol=1e-6, err_msg=where)


def test_resize_crop_offsets_round_half_to_even_as_torchvision():
    # 257 - 224 = 33 -> 16.5 -> 16; 259 - 224 = 35 -> 17.5 -> 18 (floor would give 17, half-up 17 and 18).
    for width, left in [(257, 16), (259, 18), (258, 17)]:
        image = np.zeros((256, width, 3), np.uint8)
        _, (transform,) = _core.make_blob([image], (224, 224), "resize_crop", resize=256)
        assert transform[2] == -left and int(round((width - 224) / 2.0)) == left


def test_resize_crop_top_left_and_batches():
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 256, size=hw + (3,), dtype=np.uint8) for hw in [(300, 500), (500, 300), (256, 256)]]
    blob, transforms = _core.make_blob(images, (224, 224), "resize_crop", True, 1 / 255.0, [0.0], [1.0], resize=256,
                                       center=False)
    for i, image in enumerate(images):
        expected, (sx, sy, _, _) = reference_blob(image, (224, 224), 256, (0, 0, 0), (1, 1, 1), center=False)
        assert np.abs(blob[i] - expected).max() <= 1e-6
        np.testing.assert_allclose(transforms[i], [sx, sy, 0, 0, image.shape[1], image.shape[0]], rtol=1e-6)


@pytest.mark.parametrize("kwargs,message", [
    (dict(mode="resize_crop", resize=200), r"resize_crop scales the shorter side to `resize`, which must be at least "
                                           r"the input size's larger side 224 \(input 224x160\), got 200"),
    (dict(mode="resize_crop"), r"must be at least the input size's larger side 224 .*got 0"),
    (dict(mode="crop", resize=256), r"resize is for mode 'resize_crop' only, got resize=256 with mode 'crop'"),
    (dict(mode="fill"), r"resize mode must be .*'resize_crop'"),
], ids=["resize too small", "resize missing", "resize with crop", "mode name"])
def test_resize_crop_bad_parameters(kwargs, message, raises_invalid):
    with raises_invalid(message):
        _core.make_blob([np.zeros((8, 8, 3), np.uint8)], (224, 160), **kwargs)


# ---------------------------------------------------------------- softmax and top-k


@pytest.mark.parametrize("seed", range(5))
def test_softmax_and_top_k_equal_numpy(seed):
    rng = np.random.default_rng(seed)
    rows, classes = int(rng.integers(1, 5)), int(rng.integers(2, 1200))
    logits = (rng.standard_normal((rows, classes)) * rng.uniform(0.1, 30)).astype(np.float32)
    for k in (1, 5, classes, classes + 7):
        ids, conf, applied = _core.classify(logits, top_k=k)
        e_ids, e_conf = numpy_top_k(logits, min(k, classes), apply_softmax=True)
        assert applied and ids.dtype == np.int64 and conf.dtype == np.float32
        assert ids.shape == conf.shape == (rows, min(k, classes))
        np.testing.assert_array_equal(ids, e_ids)
        np.testing.assert_allclose(conf, e_conf, rtol=1e-5, atol=1e-7)


def test_ties_go_to_the_lower_class_id():
    logits = np.array([[1.0, 3.0, 3.0, 0.0, 3.0, -2.0], [0.5] * 6], np.float32)
    ids, conf, _ = _core.classify(logits, top_k=6)
    e_ids, e_conf = numpy_top_k(logits, 6, apply_softmax=True)
    np.testing.assert_array_equal(ids, e_ids)
    assert ids[0, :3].tolist() == [1, 2, 4] and ids[1].tolist() == list(range(6))
    np.testing.assert_allclose(conf, e_conf, rtol=1e-6)


def test_top_k_larger_than_the_classes_returns_them_all_and_top_1_the_best():
    logits = np.random.default_rng(3).standard_normal((2, 4)).astype(np.float32)
    ids, conf, _ = _core.classify(logits, top_k=10)
    assert ids.shape == (2, 4) and sorted(ids[0].tolist()) == [0, 1, 2, 3]
    np.testing.assert_allclose(conf.sum(axis=1), 1.0, rtol=1e-6)
    best, best_conf, _ = _core.classify(logits, top_k=1)
    np.testing.assert_array_equal(best[:, 0], logits.argmax(axis=1))
    np.testing.assert_array_equal(best_conf[:, 0], conf[:, 0])


def test_probabilities_are_not_softmaxed_twice():
    rng = np.random.default_rng(4)
    probs = rng.dirichlet(np.ones(10), size=3).astype(np.float32)
    ids, conf, applied = _core.classify(probs, top_k=3)
    e_ids, e_conf = numpy_top_k(probs, 3, apply_softmax=False)
    assert not applied
    np.testing.assert_array_equal(ids, e_ids)
    np.testing.assert_array_equal(conf, e_conf.astype(np.float32))
    # Forced either way.
    _, forced, applied = _core.classify(probs, top_k=3, softmax=True)
    assert applied
    np.testing.assert_allclose(forced, numpy_top_k(probs, 3, apply_softmax=True)[1], rtol=1e-5)
    logits = rng.standard_normal((2, 10)).astype(np.float32)
    _, raw, applied = _core.classify(logits, top_k=2, softmax=False)
    assert not applied
    np.testing.assert_array_equal(raw, numpy_top_k(logits, 2, apply_softmax=False)[1].astype(np.float32))
    # One row of logits in the batch: softmax for all rows.
    _, _, applied = _core.classify(np.concatenate([probs, logits]), top_k=1)
    assert applied


@pytest.mark.parametrize("scores,kwargs,message", [
    (np.zeros((2, 3), np.float32), dict(top_k=0), r"top_k must be at least 1, got 0"),
    (np.array([[0.0, np.nan]], np.float32), {}, r"scores must be finite, got nan at image 0, class 1"),
    (np.array([[0.0], [np.inf]], np.float32), {}, r"scores must be finite, got inf at image 1, class 0"),
    (np.zeros((1, 3, 4), np.float32), {}, r"scores must have shape \(N, classes\) .*got \(1, 3, 4\)"),
    (np.zeros((1, 0), np.float32), {}, r"got \(1, 0\)"),
    (np.zeros((1, 3), np.float64), {}, r"scores must be float32, got dtype float64"),
], ids=["top_k 0", "nan", "inf", "3-D", "no classes", "float64"])
def test_classify_bad_input(scores, kwargs, message, raises_invalid):
    with raises_invalid(message):
        _core.classify(scores, **kwargs)


# ---------------------------------------------------------------- labels and results


def test_imagenet_classes_ship_with_the_package():
    data = resources.files("fastinfer").joinpath("data/imagenet_classes.txt")
    assert data.is_file(), "imagenet_classes.txt is not installed with the package"
    assert "site-packages" in str(data) or "dist-packages" in str(data)
    names = data.read_text(encoding="utf-8").splitlines()
    assert len(names) == 1000 and all(n.strip() == n and n for n in names)
    assert (names[0], names[281], names[285], names[999]) == ("tench", "tabby", "Egyptian cat", "toilet tissue")


def test_classification_result():
    result = fastinfer.Classification([2, 0], [0.7, 0.2], ("a", "b", "c"), {"backend": "x"})
    assert result.labels == ["c", "a"] and result.top == ("c", pytest.approx(0.7)) and len(result) == 2
    assert [(cid, label) for cid, _, label in result] == [(2, "c"), (0, "a")]
    assert result.to_dict() == {"classes": [{"class_id": 2, "label": "c", "confidence": 0.7},
                                            {"class_id": 0, "label": "a", "confidence": 0.2}],
                                "metadata": {"backend": "x"}}
    assert json.loads(result.to_json()) == result.to_dict()
    image = np.full((120, 200, 3), 90, np.uint8)
    drawn = result.draw(image)
    assert drawn.shape == image.shape and np.all(image == 90), "draw must not change its input"
    changed = np.argwhere(np.any(drawn != image, axis=2))
    assert len(changed) and changed[:, 0].max() < 60 and changed[:, 1].min() < 10, "the label sits at the top left"
    empty = fastinfer.Classification([], [])
    np.testing.assert_array_equal(empty.draw(image), image)
    with pytest.raises(IndexError, match="holds no classes"):
        empty.top
    with pytest.raises(fastinfer.InvalidInputError, match=r"class_id and confidence must both have shape \(k,\), "
                                                          r"got \(2,\) and \(3,\)"):
        fastinfer.Classification([1, 2], [0.1, 0.2, 0.3])


# ---------------------------------------------------------------- the real model


def test_torch_module_loads_the_weights_strictly_and_pads_like_tensorflow(lite0):
    # TensorFlow "SAME": output ceil(i / s), padding max((ceil(i / s) - 1) * s + k - i, 0), the odd pixel after.
    for size in (224, 112, 56, 28, 14, 7):
        for kernel, stride in ((3, 1), (5, 1), (3, 2), (5, 2)):
            if stride == 2 and size % 2:
                continue
            total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
            assert efficientnet_lite.same_padding(kernel, stride) == (total // 2, total - total // 2)
    assert len(lite0._blocks) == 16 and lite0._fc.out_features == 1000


def test_classifier_probabilities_equal_torch_on_the_same_blob(classifier, torch_reference, photos):
    worst = 0.0
    for photo, expected in zip(photos, torch_reference[1]):
        result = classifier(photo, top_k=1000)
        assert result.metadata["softmax_applied"] and sorted(result.class_id.tolist()) == list(range(1000))
        assert np.all(np.diff(result.confidence) <= 0), "best first"
        worst = max(worst, float(np.abs(result.confidence - expected[result.class_id]).max()))
        assert result.class_id[0] == expected.argmax(), photo.name
    assert worst <= 1e-4, f"max |fastinfer - torch| = {worst}"


def grey_levels(blob: np.ndarray, expected: np.ndarray, std) -> np.ndarray:
    """|blob - expected| per value in pixel steps (1/255 before normalisation)."""
    return np.abs(blob - expected) * np.asarray(std, np.float32)[:, None, None] * 255


def test_blob_is_torchvisions_on_every_photo(classifier, lite0_onnx, photos):
    """Resize(256) + CenterCrop(224) + ToTensor + Normalize on the PIL image: the same values (float rounding
    aside), where OpenCV's resize without antialiasing (resample="cv2") is off by several grey levels."""
    assert classifier.resample == "pil"
    on_cv2 = fastinfer.Classifier(lite0_onnx, resample="cv2", **LITE)
    for photo in photos:
        image = fastinfer.read_image(photo)
        expected = torchvision_reference.blob(photo, 256, (224, 224), **LITE)
        blob, _ = classifier.preprocess([image])
        assert grey_levels(blob[0], expected, LITE["std"]).max() <= 1e-3, photo.name
        assert grey_levels(on_cv2.preprocess([image])[0][0], expected, LITE["std"]).max() > 1, photo.name


def test_top_1_and_probabilities_equal_torch_on_the_torchvision_pipeline(classifier, lite0, photos):
    blob = np.stack([torchvision_reference.blob(p, 256, (224, 224), **LITE) for p in photos])
    with torch.no_grad():
        expected = torch.softmax(lite0(torch.from_numpy(blob)), dim=1).numpy()
    results = classifier([fastinfer.read_image(p) for p in photos], top_k=1000)
    for photo, result, probabilities in zip(photos, results, expected):
        assert result.metadata["resample"] == "pil"
        assert result.class_id[0] == probabilities.argmax(), photo.name
        np.testing.assert_allclose(result.confidence, probabilities[result.class_id], atol=1e-3, err_msg=photo.name)


def test_the_cat_is_a_cat(classifier, cat):
    result = classifier(cat)
    assert result.class_id[0] in CAT_CLASSES, result
    assert result.labels[0] in ("tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat")
    assert len(result) == 5 and result.names == tuple(fastinfer.tasks.classify.imagenet_classes())
    image = fastinfer.read_image(cat)
    h, w = image.shape[:2]
    _, (transform,) = classifier.preprocess([image])
    # The region the network saw: the input's corners mapped back to the image, centred.
    x1, y1, x2, y2 = result.metadata["crop_xyxy"]
    np.testing.assert_allclose([x1, y1, x2, y2], [-transform[2] / transform[0], -transform[3] / transform[1],
                                                  (224 - transform[2]) / transform[0],
                                                  (224 - transform[3]) / transform[1]], atol=0.01)
    # Centred, and 224 of the 256 pixels of the shorter side (the height here).
    assert h < w and x1 + x2 == pytest.approx(w, abs=1.0) and y1 + y2 == pytest.approx(h, abs=0.01)
    assert y2 - y1 == pytest.approx(h * 224 / 256, abs=0.01)


def test_a_list_is_a_batch_and_returns_a_list(classifier, photos):
    images = [fastinfer.read_image(p) for p in photos[:4]]
    results = classifier(images, top_k=3)
    assert isinstance(results, list) and len(results) == 4 and results[0].metadata["timings"]["batch"] == 4
    for image, batched in zip(images, results):
        single = classifier(image, top_k=3)
        np.testing.assert_array_equal(batched.class_id, single.class_id)
        np.testing.assert_allclose(batched.confidence, single.confidence, atol=1e-5)
    assert classifier([]) == []


def test_documented_normalisation_and_padding_fit_the_weights_best(lite0, photos, torch_reference, classifier):
    """127/128 with TensorFlow's SAME padding gives clearly more confident answers than the usual
    ImageNet mean/std or PyTorch's symmetric padding: the facts the module and docs state."""
    symmetric = copy.deepcopy(lite0)
    for m in symmetric.modules():
        if isinstance(m, efficientnet_lite.SameConv2d) and m.extra:
            m.extra, m.padding = 0, (m.kernel_size[0] // 2,) * 2
    images = [fastinfer.read_image(p) for p in photos]

    def mean_top1(model, mean, std) -> float:
        blob, _ = _core.make_blob(images, (224, 224), "resize_crop", True, 1 / 255.0, [255.0 * m for m in mean],
                                  list(std), resize=256, resample=classifier.resample)
        with torch.no_grad():
            return float(torch.softmax(model(torch.from_numpy(blob)), dim=1).max(dim=1).values.mean())

    documented = float(torch_reference[1].max(axis=1).mean())
    imagenet = mean_top1(lite0, fastinfer.IMAGENET_MEAN, fastinfer.IMAGENET_STD)
    padded = mean_top1(symmetric, LITE["mean"], LITE["std"])
    # On torchvision's (PIL) pipeline: 0.412 against 0.329 and 0.376 mean top-1 probability over the photos.
    assert documented > imagenet + 0.05 and documented > padded + 0.03, (documented, imagenet, padded)


def test_opencv_backend_agrees_with_torch(lite0, tmp_path_factory, photos, cat, torch_reference):
    # OpenCV 4.6's importer reads Clip (ReLU6) bounds only as attributes: opset 10 and older.
    path = _export(lite0, tmp_path_factory.mktemp("lite0-opset10") / "efficientnet-lite0.onnx", opset=10)
    on_opencv = fastinfer.Classifier(path, backend="opencv", **LITE)
    assert on_opencv.backend.name.lower().startswith("opencv")
    results = on_opencv(list(photos), top_k=5)
    assert results[photos.index(cat)].class_id[0] in CAT_CLASSES
    for photo, result, expected in zip(photos, results, torch_reference[1]):
        assert result.class_id[0] == expected.argmax(), photo.name
        np.testing.assert_allclose(result.confidence, expected[result.class_id], atol=1e-4, err_msg=photo.name)


# ---------------------------------------------------------------- labels, softmax in the model, bad input


def test_labels_default_generic_file_and_list(tmp_path, lite0_onnx):
    seven = _export(tiny_net(7), tmp_path / "seven.onnx")
    assert fastinfer.Classifier(seven).names == tuple(f"class{i}" for i in range(7))
    names = [f"thing {i}" for i in range(7)]
    (tmp_path / "labels.txt").write_text("\n".join(names) + "\n")
    from_file = fastinfer.Classifier(seven, names=tmp_path / "labels.txt")
    assert from_file.names == tuple(names)
    result = fastinfer.Classifier(seven, names=names)(np.zeros((40, 30, 3), np.uint8), top_k=2)
    assert result.labels == [names[i] for i in result.class_id]


def test_a_model_that_applies_softmax_is_not_softmaxed_again(tmp_path):
    net = tiny_net(6, softmax=True)
    path = _export(net, tmp_path / "softmax.onnx")
    clf = fastinfer.Classifier(path)
    image = np.random.default_rng(0).integers(0, 256, size=(50, 70, 3), dtype=np.uint8)
    result = clf(image, top_k=6)
    with torch.no_grad():
        expected = net(torch.from_numpy(clf.preprocess([image])[0]))[0].numpy()
    assert not result.metadata["softmax_applied"]
    np.testing.assert_allclose(result.confidence, expected[result.class_id], atol=1e-6)
    forced = fastinfer.Classifier(path, softmax=True)(image, top_k=6)
    assert forced.metadata["softmax_applied"] and forced.confidence.max() < result.confidence.max()


def test_detectors_are_refused_naming_their_output_shape(nudenet_model, yolo_files, tmp_path):
    with pytest.raises(fastinfer.ModelLoadError, match=r"320n.onnx' has output shape \(batch, 22, \?\); a Classifier "
                                                       r"needs \(N, classes\) class scores \(is it a detector\?\)"):
        fastinfer.Classifier(nudenet_model)
    yolo = tmp_path / "yolov3-tiny.onnx"
    convert.darknet_to_onnx(yolo_files["cfg"], yolo_files["weights"], yolo)
    with pytest.raises(fastinfer.ModelLoadError, match=r"has output shape \(batch, 507, 85\); a Classifier needs"):
        fastinfer.Classifier(yolo)
    with pytest.raises(fastinfer.ModelLoadError, match=r"a Classifier runs ONNX models, got '.*yolov3-tiny.cfg'"):
        fastinfer.Classifier(yolo_files["cfg"])


@pytest.mark.parametrize("kwargs,message", [
    (dict(names=["a"] * 999), r"names has 999 names but the model has 1000 classes"),
    (dict(mean=(0.5, 0.5)), r"mean must have 1 or 3 values \(one per input channel\), got 2"),
    (dict(std=(0.5,) * 4), r"std must have 1 or 3 values \(one per input channel\), got 4"),
    (dict(std=(0.5, 0.0, 0.5)), r"std values must be finite and non-zero"),
    (dict(resize=200), r"resize .* must be an int of at least 224, the input size's larger side, got 200"),
    (dict(input_size=256, resize=288), r"takes 224x224 images but input_size is 256x256: pass input_size=\(224, 224\)"),
    (dict(softmax="yes"), r"softmax must be None, True or False, got 'yes'"),
    (dict(resample="bilinear"), r"resample must be one of cv2, pil; got 'bilinear'"),
    (dict(backend="tensorrt"), r"backend must be one of auto, onnxruntime, opencv, torch; got 'tensorrt'"),
], ids=["labels length", "mean length", "std length", "std zero", "resize", "input size", "softmax", "resample",
        "backend"])
def test_bad_arguments(lite0_onnx, kwargs, message, raises_invalid):
    with raises_invalid(message):
        fastinfer.Classifier(lite0_onnx, **kwargs)


@pytest.mark.parametrize("top_k", [0, -1, 2.5, True])
def test_bad_top_k(classifier, cat, top_k, raises_invalid):
    with raises_invalid(r"top_k must be an int >= 1, got"):
        classifier(cat, top_k=top_k)


# ---------------------------------------------------------------- fastinfer classify


def lite_args(model: Path) -> list[str]:
    return ["--model", str(model), "--mean", *map(str, LITE["mean"]), "--std", *map(str, LITE["std"])]


def test_cli_classify_summary_and_json(lite0_onnx, classifier, cat, testdata, capsys):
    dog = testdata / "images" / "dog.jpg"
    assert cli.main(["classify", str(cat), str(dog), *lite_args(lite0_onnx), "--top-k", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = classifier(cat, top_k=3)
    assert lines[0].startswith(f"{cat}: {expected.labels[0]} ({expected.confidence[0]:.3f}) in ")
    assert lines[1] == f"  {expected.confidence[0]:.4f}  {expected.labels[0]} ({expected.class_id[0]})"
    assert len(lines) == 2 * 4 and lines[4].startswith(f"{dog}: ")

    assert cli.main(["classify", str(cat), str(dog), *lite_args(lite0_onnx), "--json", "--top-k", "2"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["source"], r["frame"]) for r in records] == [(str(cat), None), (str(dog), None)]
    assert [c["class_id"] for c in records[0]["classes"]] == expected.class_id[:2].tolist()
    assert records[0]["classes"][0]["confidence"] == pytest.approx(float(expected.confidence[0]), abs=1e-6)


def test_cli_classify_errors(lite0_onnx, nudenet_model, cat, tmp_path, capsys):
    assert cli.main(["classify", str(cat), "--model", str(nudenet_model)]) == 2
    assert "a Classifier needs (N, classes)" in capsys.readouterr().err
    (tmp_path / "three.txt").write_text("a\nb\nc\n")
    assert cli.main(["classify", str(cat), "--model", str(lite0_onnx), "--names", str(tmp_path / "three.txt")]) == 2
    assert "names has 3 names but the model has 1000 classes" in capsys.readouterr().err
    missing = tmp_path / "missing.png"
    assert cli.main(["classify", str(missing), str(cat), "--model", str(lite0_onnx)]) == 1
    captured = capsys.readouterr()
    assert "error:" in captured.err and str(missing) in captured.err and captured.out.startswith(f"{cat}: ")
