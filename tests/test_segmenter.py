"""Semantic segmentation: ``fastinfer.Segmenter``, ``Segmentation``, ``_core.segment`` and ``fastinfer segment``.

* A small DeepLabV3-style network written here (strided conv backbone, ASPP:
  1x1 + 3x3 dilated at rates 6/12/18 + image pooling, 1x1 projection, 21-class
  classifier; scores at 1/8 of the input, not upsampled in the model), random
  seeded weights, exported with ``fastinfer.export``. On every sample photo,
  stretched and letterboxed, and on a batch, the class map equals torch's:
  the module run on fastinfer's own blob, its scores cut to the image's cells,
  ``F.interpolate(mode="bilinear", align_corners=False)`` to the photo's size,
  argmax. Pixels whose two best interpolated scores are within ``TIE`` of
  each other may differ (both answers are right up to float rounding); there
  must be few of them.
* The same for models that output scores at the input resolution and
  ``(N, h, w)`` class maps (torch's ``nearest-exact``).
* ``_core.segment`` on synthetic scores against torch: up- and
  down-sampling, fractional letterbox padding, more than 256 classes (int32).
* ``Segmentation``: areas, masks, the VOC palette (against the classic loop),
  overlays (against ``cv2.addWeighted``), ``to_dict``.
* Every validation path with ``pytest.raises(..., match=...)``.
"""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fastinfer
from fastinfer import _core, cli
from fastinfer.results import palette

CLASSES = 21
STRIDE = 8
SCORE_GAIN = 4.0  # wider gaps between the classes, so float rounding rarely decides
#: Two interpolated scores closer than this are a tie: either class is right.
TIE = 1e-4
#: Of the pixels, at most this share may be such ties.
MAX_TIE_SHARE = 1e-3
MEAN = fastinfer.IMAGENET_MEAN
STD = fastinfer.IMAGENET_STD


def conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    pad = dilation * (kernel // 2)
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, pad, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU())


class ImagePooling(nn.Module):
    """ASPP's image-level branch: global average, 1x1 conv, spread back over the feature map."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = conv_bn(cin, cout, kernel=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.conv(F.adaptive_avg_pool2d(x, 1))
        return pooled.expand(-1, -1, x.shape[2], x.shape[3])


class TinyDeepLab(nn.Module):
    """DeepLabV3 in miniature: scores at 1/8 of the input (``upsample=False``) or at the input size."""

    def __init__(self, classes: int = CLASSES, width: int = 16, upsample: bool = False, argmax: bool = False) -> None:
        super().__init__()
        self.backbone = nn.Sequential(conv_bn(3, width, stride=2), conv_bn(width, 2 * width, stride=2),
                                      conv_bn(2 * width, 2 * width, stride=2), conv_bn(2 * width, 2 * width))
        c = 2 * width
        self.aspp = nn.ModuleList([conv_bn(c, width, kernel=1), conv_bn(c, width, dilation=6),
                                   conv_bn(c, width, dilation=12), conv_bn(c, width, dilation=18),
                                   ImagePooling(c, width)])
        self.project = conv_bn(5 * width, width, kernel=1)
        self.classifier = nn.Conv2d(width, classes, 1)
        self.upsample = upsample
        self.argmax = argmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)
        scores = self.classifier(self.project(torch.cat([branch(features) for branch in self.aspp], dim=1)))
        if self.upsample:
            scores = F.interpolate(scores, size=x.shape[2:], mode="bilinear", align_corners=False)
        if self.argmax:
            return scores.argmax(1).float()
        return scores


def make_net(seed: int = 0, **kwargs) -> TinyDeepLab:
    torch.manual_seed(seed)
    net = TinyDeepLab(**kwargs).eval()
    with torch.no_grad():
        # torch's default init shrinks the signal layer by layer, leaving one
        # class nearly everywhere: He init keeps the photos' content in the
        # scores, and larger class weights let it pick among several classes.
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        net.classifier.weight.mul_(SCORE_GAIN)
        net.classifier.bias.zero_()
    return net


def export_net(net: nn.Module, path, input_size: tuple[int, int]):
    w, h = input_size
    fastinfer.export(net, torch.rand(1, 3, h, w), path)
    return path


@pytest.fixture(scope="module")
def deeplab():
    return make_net()


@pytest.fixture(scope="module")
def deeplab_onnx(tmp_path_factory, deeplab):
    return export_net(deeplab, tmp_path_factory.mktemp("seg") / "deeplab.onnx", (160, 128))


def image_cells(transform: np.ndarray, input_size: tuple[int, int], grid: tuple[int, int]) -> tuple[int, ...]:
    """The rule of segment.hpp: the image's rectangle scaled to the grid, each edge rounded to the nearest cell."""
    sx, sy, px, py, iw, ih = (float(v) for v in transform)
    (W, H), (gw, gh) = input_size, grid
    cell = lambda v, n: min(max(math.floor(v + 0.5), 0), n)  # noqa: E731
    x0 = min(cell(px * gw / W, gw), gw - 1)
    y0 = min(cell(py * gh / H, gh), gh - 1)
    x1 = max(cell((px + iw * sx) * gw / W, gw), x0 + 1)
    y1 = max(cell((py + ih * sy) * gh / H, gh), y0 + 1)
    return x0, y0, x1, y1


def reference_scores(scores: torch.Tensor, transform: np.ndarray, input_size: tuple[int, int]) -> torch.Tensor:
    """One image's (C, h, w) scores cut to its cells and resized to its size as torch does: (C, H, W)."""
    x0, y0, x1, y1 = image_cells(transform, input_size, (scores.shape[2], scores.shape[1]))
    size = (int(transform[5]), int(transform[4]))
    return F.interpolate(scores[None, :, y0:y1, x0:x1], size=size, mode="bilinear", align_corners=False)[0]


def assert_matches_argmax(class_map: np.ndarray, scores: torch.Tensor, where: str) -> int:
    """``class_map`` equals the argmax of the (C, H, W) ``scores`` except at ties; returns the number of ties."""
    expected = scores.argmax(0).numpy()
    top2 = scores.topk(2, dim=0).values
    tie = ((top2[0] - top2[1]) < TIE).numpy()
    assert class_map.shape == expected.shape, where
    differ = class_map != expected
    assert not np.any(differ & ~tie), (
        f"{where}: {int(np.sum(differ & ~tie))} pixels differ from torch's argmax away from ties, "
        f"first at {np.argwhere(differ & ~tie)[:3].tolist()}")
    assert tie.sum() <= max(MAX_TIE_SHARE * tie.size, 5), f"{where}: {int(tie.sum())} tied pixels of {tie.size}"
    return int(differ.sum())


def check_against_torch(net, segmenter: fastinfer.Segmenter, paths, where: str) -> list[fastinfer.Segmentation]:
    images = [fastinfer.read_image(p) for p in paths]
    blob, transforms = segmenter.preprocess(images)
    with torch.no_grad():
        scores = net(torch.from_numpy(blob))
    results = segmenter(images)
    for result, image, s, t, path in zip(results, images, scores, transforms, paths):
        assert result.class_map.shape == image.shape[:2]
        assert result.class_map.dtype == np.uint8
        assert_matches_argmax(result.class_map, reference_scores(s, t, segmenter.input_size), f"{where} {path.name}")
    return results


# ---------------------------------------------------------------- the model end to end


@pytest.mark.parametrize("letterbox", [False, True], ids=["stretch", "letterbox"])
def test_class_map_matches_torch_on_photos(deeplab, deeplab_onnx, photos, letterbox):
    segmenter = fastinfer.Segmenter(deeplab_onnx, input_size=(160, 128), mean=MEAN, std=STD, letterbox=letterbox)
    present = set()
    for path in photos:
        (result,) = check_against_torch(deeplab, segmenter, [path], "letterbox" if letterbox else "stretch")
        present.update(a["class_id"] for a in result.areas())
        assert result.metadata["image_size"] == [result.shape[1], result.shape[0]]
        assert result.metadata["output_shape"] == [1, CLASSES, 128 // STRIDE, 160 // STRIDE]
    assert len(present) >= 5, f"test set-up: the scaled classifier should give several classes, got {present}"


def test_batch_matches_torch_and_single_images(deeplab, deeplab_onnx, photos):
    segmenter = fastinfer.Segmenter(deeplab_onnx, input_size=(160, 128), mean=MEAN, std=STD, letterbox=True)
    batch = photos[:4]
    results = check_against_torch(deeplab, segmenter, batch, "batch")
    assert [r.metadata["timings"]["batch"] for r in results] == [4] * 4
    for path, result in zip(batch, results):
        np.testing.assert_array_equal(result.class_map, segmenter(path).class_map, err_msg=path.name)


def test_fractional_letterbox_padding(tmp_path, photos):
    """A square input: a landscape photo's padding is not a whole number of cells (rounded to the nearest)."""
    net = make_net(seed=1)
    segmenter = fastinfer.Segmenter(export_net(net, tmp_path / "square.onnx", (152, 152)), input_size=152, mean=MEAN,
                                    std=STD, letterbox=True)
    path = next(p for p in photos if p.name == "kite.jpg")
    _, transforms = segmenter.preprocess([fastinfer.read_image(path)])
    assert (transforms[0, 3] / STRIDE) % 1 not in (0.0, 0.5), "test set-up: the padding should be a fraction of a cell"
    check_against_torch(net, segmenter, [path], "fractional padding")


def test_scores_at_input_resolution(tmp_path, photos):
    net = make_net(seed=2, upsample=True)
    segmenter = fastinfer.Segmenter(export_net(net, tmp_path / "full.onnx", (96, 64)), input_size=(96, 64), mean=MEAN,
                                    std=STD, letterbox=True)
    check_against_torch(net, segmenter, photos[:3], "input resolution")


def test_class_map_output_is_resized_by_nearest(tmp_path, photos):
    """A model that takes the argmax itself: (N, h, w) ids, resized as torch's nearest-exact."""
    scores_net = make_net(seed=3)
    map_net = make_net(seed=3, argmax=True)
    segmenter = fastinfer.Segmenter(export_net(map_net, tmp_path / "argmax.onnx", (160, 128)), input_size=(160, 128),
                                    mean=MEAN, std=STD, letterbox=True, names=[f"c{i}" for i in range(CLASSES)])
    images = [fastinfer.read_image(p) for p in photos[:3]]
    blob, transforms = segmenter.preprocess(images)
    with torch.no_grad():
        scores = scores_net(torch.from_numpy(blob))
    top2 = scores.topk(2, dim=1).values
    cell_ties = (top2[:, 0] - top2[:, 1]) < TIE
    for result, s, ties, t in zip(segmenter(images), scores, cell_ties, transforms):
        x0, y0, x1, y1 = image_cells(t, (160, 128), (s.shape[2], s.shape[1]))
        size = (int(t[5]), int(t[4]))
        crop = s.argmax(0)[None, None, y0:y1, x0:x1].float()
        expected = F.interpolate(crop, size=size, mode="nearest-exact")[0, 0].numpy()
        tied = F.interpolate(ties[None, None, y0:y1, x0:x1].float(), size=size, mode="nearest-exact")[0, 0].numpy()
        differ = result.class_map != expected
        assert not np.any(differ & (tied == 0)), f"{int(np.sum(differ & (tied == 0)))} pixels differ"
        assert result.names == tuple(f"c{i}" for i in range(CLASSES))


# ---------------------------------------------------------------- _core.segment on synthetic scores


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("case", [
    # input (W, H), grid (w, h), image (w, h), mode
    ((64, 48), (8, 6), (100, 70), "stretch"),
    ((96, 64), (24, 16), (33, 57), "letterbox"),     # downsampling along x, fractional padding
    ((120, 120), (15, 15), (641, 427), "letterbox"),
    ((80, 80), (80, 80), (37, 200), "letterbox"),     # scores at input resolution
    ((64, 64), (16, 16), (300, 200), "pad_resize"),
], ids=["stretch", "down", "letterbox", "full", "pad_resize"])
def test_core_segment_matches_torch(case, seed):
    (W, H), (gw, gh), (iw, ih), mode = case
    rng = np.random.default_rng(seed)
    _, transforms = _core.make_blob(np.zeros((ih, iw, 3), np.uint8), (W, H), mode, pad_value=0)
    scores = rng.normal(0.0, 3.0, size=(1, CLASSES, gh, gw)).astype(np.float32)
    scores[0, :, : gh // 2] = np.sort(scores[0, :, : gh // 2], axis=2)  # smooth regions beside noisy ones
    (class_map,) = _core.segment(scores, transforms, (W, H))
    assert class_map.dtype == np.uint8 and not class_map.flags.owndata  # handed over without a copy
    assert_matches_argmax(class_map, reference_scores(torch.from_numpy(scores[0]), transforms[0], (W, H)), str(case))


def test_core_segment_more_than_256_classes_gives_int32():
    rng = np.random.default_rng(0)
    _, transforms = _core.make_blob(np.zeros((50, 70, 3), np.uint8), (32, 32), "letterbox")
    scores = rng.normal(size=(1, 300, 8, 8)).astype(np.float32)
    (class_map,) = _core.segment(scores, transforms, (32, 32))
    assert class_map.dtype == np.int32 and class_map.max() > 255
    assert_matches_argmax(class_map, reference_scores(torch.from_numpy(scores[0]), transforms[0], (32, 32)), "300")


def test_core_segment_ties_go_to_the_lowest_class():
    _, transforms = _core.make_blob(np.zeros((40, 40, 3), np.uint8), (16, 16), "stretch")
    scores = np.zeros((1, 5, 4, 4), np.float32)
    scores[0, 3] = scores[0, 1] = 2.0
    (class_map,) = _core.segment(scores, transforms, (16, 16))
    assert np.all(class_map == 1)


@pytest.mark.parametrize("image_size", [(40, 30), (451, 300), (773, 512), (31, 7), (1352, 900)])
def test_core_class_map_is_torchs_nearest_exact(image_size):
    iw, ih = image_size
    _, transforms = _core.make_blob(np.zeros((ih, iw, 3), np.uint8), (112, 80), "letterbox")
    ids = np.random.default_rng(iw).integers(0, 20, size=(1, 10, 14)).astype(np.float32)
    (class_map,) = _core.segment(ids, transforms, (112, 80))
    assert class_map.dtype == np.uint8
    x0, y0, x1, y1 = image_cells(transforms[0], (112, 80), (14, 10))
    crop = torch.from_numpy(ids)[None, :, y0:y1, x0:x1]
    np.testing.assert_array_equal(class_map, F.interpolate(crop, size=(ih, iw), mode="nearest-exact")[0, 0].numpy())


def test_core_class_map_past_255_gives_int32():
    _, transforms = _core.make_blob(np.zeros((30, 40, 3), np.uint8), (16, 16), "stretch")
    ids = np.arange(16, dtype=np.float32).reshape(1, 4, 4) * 20  # up to 300
    (class_map,) = _core.segment(ids, transforms, (16, 16))
    assert class_map.dtype == np.int32
    expected = F.interpolate(torch.from_numpy(ids)[None], size=(30, 40), mode="nearest-exact")[0, 0].numpy()
    np.testing.assert_array_equal(class_map, expected)


# ---------------------------------------------------------------- Segmentation


def voc_palette_reference(n: int) -> np.ndarray:
    """The classic PASCAL VOC colour map loop (bitget / shift by 3)."""
    out = np.zeros((n, 3), np.uint8)
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out[i] = (r, g, b)
    return out


def test_palette_is_the_voc_colour_map():
    np.testing.assert_array_equal(palette(256), voc_palette_reference(256))
    assert len({tuple(c) for c in palette(4096).tolist()}) == 4096


def test_areas_masks_and_dict():
    rng = np.random.default_rng(0)
    class_map = rng.choice(np.array([0, 2, 5], np.uint8), size=(30, 40), p=[0.5, 0.3, 0.2])
    names = [f"n{i}" for i in range(6)]
    seg = fastinfer.Segmentation(class_map, names, {"backend": "test"})
    expected = {i: int(np.sum(class_map == i)) for i in range(6)}
    assert seg.pixel_counts.tolist() == [expected[i] for i in range(6)]
    np.testing.assert_allclose(seg.fractions.sum(), 1.0)
    areas = seg.areas()
    assert [a["class_id"] for a in areas] == sorted((i for i in expected if expected[i]), key=lambda i: -expected[i])
    assert all(a["pixels"] == expected[a["class_id"]] and a["label"] == names[a["class_id"]] for a in areas)
    assert all(a["fraction"] == pytest.approx(a["pixels"] / class_map.size) for a in areas)
    np.testing.assert_array_equal(seg.mask("n2"), class_map == 2)
    np.testing.assert_array_equal(seg.mask(5), class_map == 5)
    record = json.loads(seg.to_json())
    assert (record["width"], record["height"]) == (40, 30)
    assert [a["class_id"] for a in record["areas"]] == [a["class_id"] for a in areas]
    assert record["metadata"] == {"backend": "test"}
    unnamed = fastinfer.Segmentation(class_map)
    assert unnamed.num_classes == 6 and unnamed.names[5] == "class5"


@pytest.mark.parametrize("alpha", [0.0, 0.35, 1.0])
def test_overlay_blends_palette_colours(photos, alpha):
    image = fastinfer.read_image(photos[0])
    rng = np.random.default_rng(1)
    class_map = rng.integers(0, CLASSES, size=image.shape[:2], dtype=np.uint8)
    seg = fastinfer.Segmentation(class_map, [f"c{i}" for i in range(CLASSES)])
    colours = np.ascontiguousarray(voc_palette_reference(CLASSES)[:, ::-1][class_map])  # BGR
    expected = cv2.addWeighted(image, 1.0 - alpha, colours, alpha, 0.0)
    got = seg.overlay(image, alpha)
    assert got.dtype == np.uint8 and got.shape == image.shape
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


# ---------------------------------------------------------------- the command line


def test_cli_segment_json_and_overlays(deeplab_onnx, photos, tmp_path, capsys):
    paths = photos[:2]
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"thing{i}\n" for i in range(CLASSES)))
    out = tmp_path / "overlays"
    argv = ["segment", *map(str, paths), "--model", str(deeplab_onnx), "--input-size", "160", "128", "--names",
            str(labels), "--letterbox", "--out", str(out), "--alpha", "0.6"]
    assert cli.main([*argv, "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    segmenter = fastinfer.Segmenter(deeplab_onnx, input_size=(160, 128), mean=MEAN, std=STD, names=labels,
                                    letterbox=True)
    assert len(records) == len(paths)
    for record, path in zip(records, paths):
        seg = segmenter(path)
        assert (record["source"], record["frame"]) == (str(path), None)
        assert record["areas"] == seg.to_dict()["areas"]
        np.testing.assert_array_equal(fastinfer.read_image(record["overlay"]),
                                      seg.overlay(fastinfer.read_image(path), 0.6))
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    first = segmenter(paths[0]).areas()[0]
    assert f"{paths[0]}: " in text and first["label"] in text and f"{first['pixels']:,} px" in text


def test_cli_segment_rejects_alpha(deeplab_onnx, photos, capsys):
    argv = ["segment", str(photos[0]), "--model", str(deeplab_onnx), "--input-size", "160", "128", "--alpha", "1.5"]
    assert cli.main(argv) == 2
    assert "--alpha must be in [0, 1], got 1.5" in capsys.readouterr().err


# ---------------------------------------------------------------- bad input


def test_detector_model_is_rejected_naming_its_output_shape(nudenet_model, photos, raises_invalid):
    segmenter = fastinfer.Segmenter(nudenet_model, input_size=320, mean=0.0, std=1.0)
    with raises_invalid(r"model output of shape \(1, 22, 2100\) is not a segmentation output for a 320x320 input"):
        segmenter(photos[0])


def test_classifier_model_is_rejected(tmp_path):
    net = nn.Sequential(nn.Conv2d(3, 4, 3, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    path = tmp_path / "classifier.onnx"
    fastinfer.export(net.eval(), torch.rand(1, 3, 32, 32), path)
    with pytest.raises(fastinfer.ModelLoadError, match=r"output shape \('batch', 10\); a Segmenter needs"):
        fastinfer.Segmenter(path, input_size=32, mean=MEAN, std=STD)


@pytest.mark.parametrize(("shape", "match"), [
    ((1, 1000), r"model output of shape \(1, 1000\) is not a segmentation output"),
    ((1, 1000, 1, 1), r"\(1, 1000, 1, 1\) has a 1x1 grid \(a classifier's scores\?\)"),
    ((1, 1, 8, 8), r"\(1, 1, 8, 8\) has 1 class channel\(s\)"),
    ((1, 5, 4, 8), r"\(1, 5, 4, 8\) is not a segmentation output for a 32x32 input.*got h:w 4:8"),
    ((2, 5, 8, 8), r"output of shape \(2, 5, 8, 8\) holds 2 image\(s\) but transforms has 1 rows"),
])
def test_core_rejects_output_shapes(shape, match, raises_invalid):
    _, transforms = _core.make_blob(np.zeros((20, 20, 3), np.uint8), (32, 32))
    with raises_invalid(match):
        _core.segment(np.zeros(shape, np.float32), transforms, (32, 32))


def test_core_rejects_bad_class_maps_and_crop_transforms(raises_invalid):
    _, transforms = _core.make_blob(np.zeros((20, 20, 3), np.uint8), (32, 32))
    with raises_invalid(r"class map value 1.5 at \(row 0, column 0\) is not a class id"):
        _core.segment(np.full((1, 8, 8), 1.5, np.float32), transforms, (32, 32))
    with raises_invalid(r"class map value 7 .* expected a whole number in \[0, 4\)"):
        _core.segment(np.full((1, 8, 8), 7, np.float32), transforms, (32, 32), num_classes=4)
    with raises_invalid("output must be float32, got dtype float64"):
        _core.segment(np.zeros((1, 3, 8, 8)), transforms, (32, 32))
    _, cropped = _core.make_blob(np.zeros((20, 60, 3), np.uint8), (32, 32), "crop")
    with raises_invalid(r"does not lie inside the 32x32 network input .* not crop"):
        _core.segment(np.zeros((1, 3, 8, 8), np.float32), cropped, (32, 32))


def test_labels_of_the_wrong_length(deeplab_onnx, tmp_path, raises_invalid):
    with raises_invalid(r"names has 20 names but model '.*deeplab.onnx' outputs 21 classes"):
        fastinfer.Segmenter(deeplab_onnx, input_size=(160, 128), mean=MEAN, std=STD, names=["x"] * 20)


def test_labels_of_the_wrong_length_for_a_dynamic_class_count(tmp_path, photos, raises_invalid):
    """No fixed class count in the file: the labels are checked against the output at run time."""
    import onnx

    path = export_net(make_net(), tmp_path / "dynamic.onnx", (64, 64))
    model = onnx.load(path)
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_param = "classes"
    onnx.save(model, path)
    segmenter = fastinfer.Segmenter(path, input_size=64, mean=MEAN, std=STD, names=["x"] * 22)
    with raises_invalid(r"model output of shape \(1, 21, 8, 8\) has 21 classes but there are 22 names"):
        segmenter(photos[0])


@pytest.mark.parametrize("name", ["mean", "std"])
def test_mean_and_std_of_the_wrong_length(deeplab_onnx, name, raises_invalid):
    values = {"mean": MEAN, "std": STD, name: (0.5, 0.5)}
    with raises_invalid(rf"{name} must have 1 or 3 values \(one per input channel\), got 2: \(0.5, 0.5\)"):
        fastinfer.Segmenter(deeplab_onnx, input_size=(160, 128), **values)


def test_std_of_zero(deeplab_onnx, raises_invalid):
    with raises_invalid(r"std values must be finite and non-zero, got \(0.2, 0.0, 0.2\)"):
        fastinfer.Segmenter(deeplab_onnx, input_size=(160, 128), mean=MEAN, std=(0.2, 0.0, 0.2))


@pytest.mark.parametrize("alpha", [-0.1, 1.01])
def test_overlay_alpha_outside_unit_range(alpha, raises_invalid):
    seg = fastinfer.Segmentation(np.zeros((4, 4), np.uint8), ["a"])
    with raises_invalid(rf"alpha must be in \[0, 1\], got {alpha}"):
        seg.overlay(np.zeros((4, 4, 3), np.uint8), alpha)


def test_segmentation_checks(raises_invalid):
    seg = fastinfer.Segmentation(np.zeros((4, 4), np.uint8), ["a"])
    with raises_invalid(r"image is 5x4 but the segmentation is 4x4"):
        seg.overlay(np.zeros((4, 5, 3), np.uint8))
    with raises_invalid(r"no class named 'b'; the classes are a"):
        seg.mask("b")
    with raises_invalid(r"class_map holds class id 3 but there are 1 class names"):
        fastinfer.Segmentation(np.full((2, 2), 3, np.uint8), ["a"])
    with raises_invalid(r"class_map must be an \(H, W\) integer array, got float32 with shape \(2, 2\)"):
        fastinfer.Segmentation(np.zeros((2, 2), np.float32))
    with raises_invalid(r"class_map holds negative class ids \(down to -1\)"):
        fastinfer.Segmentation(np.full((2, 2), -1, np.int32))


def test_model_file_checks(tmp_path, yolo_files):
    with pytest.raises(fastinfer.ModelLoadError, match=r"model file '.*missing.onnx' does not exist"):
        fastinfer.Segmenter(tmp_path / "missing.onnx", input_size=64, mean=MEAN, std=STD)
    with pytest.raises(fastinfer.ModelLoadError, match=r"a Segmenter runs ONNX models, got '.*yolov3-tiny.cfg'"):
        fastinfer.Segmenter(yolo_files["cfg"], input_size=64, mean=MEAN, std=STD)
