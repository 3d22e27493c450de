"""fastinfer._core.make_blob against cv2.dnn.blobFromImage and Darknet's letterbox."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import fastinfer
from fastinfer import _core

# (scale, mean, std): mean/std in output channel order, as cv2 takes them.
SETTINGS = {
    "darknet": (1 / 255.0, (0.0,), (1.0,)),
    "minus-one-to-one": (1 / 127.5, (127.5,), (1.0,)),
    "imagenet-mean": (1.0, (123.675, 116.28, 103.53), (1.0,)),
    "caffe-0.017": (0.017, (103.94, 116.78, 123.68), (1.0,)),
}
TARGETS = [(416, 416), (320, 192), (17, 33)]

# Image sizes (height, width): 1x1, tiny, odd, elongated, equal to and larger than the targets.
FIXED_SIZES = [(1, 1), (1, 2), (2, 1), (2, 3), (3, 7), (5, 5), (13, 31), (416, 416), (192, 320), (33, 17),
               (415, 417), (417, 415), (600, 900), (900, 601), (2, 60), (50, 3)]
# Very elongated images: cheap for stretch and letterbox, not for crop (which would scale 1x1000 to 416000x416).
ELONGATED_SIZES = [(1, 1000), (1000, 3), (1, 416), (416, 1)]


def image_sizes(seed: int, count: int = 14) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    return FIXED_SIZES + [(int(h), int(w)) for h, w in rng.integers(1, 700, size=(count, 2))]


def random_image(rng: np.random.Generator, height: int, width: int, channels: int = 3) -> np.ndarray:
    shape = (height, width) if channels == 0 else (height, width, channels)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def triple(values) -> tuple[float, float, float]:
    values = tuple(float(v) for v in values)
    return values * 3 if len(values) == 1 else values


def normalise(pixels: np.ndarray, swap_rb: bool, scale: float, mean, std) -> np.ndarray:
    """HxWx3 BGR uint8 -> 3xHxW float32: (px - mean) * (scale / std), all in float32, per output channel."""
    rgb = pixels[:, :, ::-1] if swap_rb else pixels
    mean32 = np.array(triple(mean), dtype=np.float32).reshape(3, 1, 1)
    factor32 = np.array([scale / s for s in triple(std)], dtype=np.float32).reshape(3, 1, 1)
    return (rgb.transpose(2, 0, 1).astype(np.float32) - mean32) * factor32


def darknet_letterbox_size(image_w: int, image_h: int, w: int, h: int) -> tuple[int, int]:
    """Darknet's letterbox_image new size. (A result of 0 is kept at 1 pixel: Darknet would make an empty image.)"""
    if w / image_w < h / image_h:
        new_w, new_h = w, (image_h * w) // image_w
    else:
        new_h, new_w = h, (image_w * h) // image_h
    return max(new_w, 1), max(new_h, 1)


# ---------------------------------------------------------------- stretch and crop vs cv2


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t[0]}x{t[1]}")
@pytest.mark.parametrize("setting", SETTINGS, ids=str)
def test_stretch_and_crop_equal_blob_from_image(setting, target):
    scale, mean, std = SETTINGS[setting]
    rng = np.random.default_rng([list(SETTINGS).index(setting), *target])
    checked = 0
    for height, width in image_sizes(seed=sum(target)):
        image = random_image(rng, height, width)
        for mode in ("stretch", "crop"):
            for swap_rb in (False, True):
                expected = cv2.dnn.blobFromImage(image, scale, target, triple(mean), swapRB=swap_rb,
                                                 crop=mode == "crop")
                blob, transforms = _core.make_blob([image], target, mode, swap_rb, scale, list(mean), list(std))
                assert blob.dtype == np.float32 and blob.shape == (1, 3, target[1], target[0])
                assert transforms.dtype == np.float64 and transforms.shape == (1, 6)
                diff = float(np.abs(blob - expected).max())
                assert diff <= 1e-6, f"{mode} swapRB={swap_rb} image {width}x{height} -> {target}: max diff {diff}"
                checked += 1
    for height, width in ELONGATED_SIZES:
        image = random_image(rng, height, width)
        expected = cv2.dnn.blobFromImage(image, scale, target, triple(mean), swapRB=True, crop=False)
        blob, _ = _core.make_blob([image], target, "stretch", True, scale, list(mean), list(std))
        assert np.abs(blob - expected).max() <= 1e-6, f"stretch image {width}x{height} -> {target}"
        checked += 1
    assert checked == len(image_sizes(0)) * 4 + len(ELONGATED_SIZES)


def test_defaults_are_darknet_stretch_and_a_single_array_is_a_batch_of_one():
    image = random_image(np.random.default_rng(1), 37, 58)
    expected = cv2.dnn.blobFromImage(image, 1 / 255.0, (64, 48), swapRB=True, crop=False)
    blob, transforms = _core.make_blob(image, (64, 48))
    assert np.abs(blob - expected).max() <= 1e-6
    np.testing.assert_allclose(transforms, [[64 / 58, 48 / 37, 0, 0, 58, 37]], rtol=1e-6)


@pytest.mark.parametrize("mode", ["stretch", "crop"])
def test_std_equals_blob_from_image_with_params(mode):
    rng = np.random.default_rng(2)
    mean, std, scale = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375), 1 / 255.0
    for height, width in [(1, 1), (7, 3), (123, 77), (416, 416), (500, 700)]:
        image = random_image(rng, height, width)
        for swap_rb in (False, True):
            params = cv2.dnn.Image2BlobParams(
                scalefactor=tuple(scale / s for s in std), size=(96, 64), mean=mean, swapRB=swap_rb,
                ddepth=cv2.CV_32F, datalayout=cv2.dnn.DNN_LAYOUT_NCHW,
                mode=cv2.dnn.DNN_PMODE_CROP_CENTER if mode == "crop" else cv2.dnn.DNN_PMODE_NULL)
            expected = cv2.dnn.blobFromImageWithParams(image, params)
            blob, _ = _core.make_blob([image], (96, 64), mode, swap_rb, scale, list(mean), list(std))
            assert expected.shape == blob.shape == (1, 3, 64, 96)
            assert np.abs(blob - expected).max() <= 1e-6, (height, width, swap_rb)


@pytest.mark.parametrize("mode", ["stretch", "crop", "letterbox"])
def test_batch_of_different_sizes_equals_per_image_blobs(mode):
    rng = np.random.default_rng(3)
    images = [random_image(rng, h, w) for h, w in [(1, 1), (480, 640), (33, 17), (416, 416), (701, 299), (5, 900)]]
    settings = dict(swap_rb=True, scale=1 / 127.5, mean=[127.5], std=[1.0])
    blob, transforms = _core.make_blob(images, (160, 128), mode, **settings)
    assert blob.shape == (len(images), 3, 128, 160) and transforms.shape == (len(images), 6)
    for i, image in enumerate(images):
        single, single_transform = _core.make_blob([image], (160, 128), mode, **settings)
        np.testing.assert_array_equal(blob[i], single[0])
        np.testing.assert_array_equal(transforms[i], single_transform[0])
        assert transforms[i, 4:].tolist() == [image.shape[1], image.shape[0]]


@pytest.mark.parametrize("mode", ["stretch", "crop", "letterbox"])
def test_grayscale_and_bgra_equal_the_blob_of_the_bgr_conversion(mode):
    rng = np.random.default_rng(4)
    for height, width in [(1, 1), (31, 45), (300, 200)]:
        gray = random_image(rng, height, width, channels=0)
        bgra = random_image(rng, height, width, channels=4)
        cases = [
            (gray, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)),
            (gray[:, :, None].copy(), cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)),
            (bgra, cv2.cvtColor(bgra, cv2.COLOR_BGRA2BGR)),
        ]
        for image, bgr in cases:
            blob, transforms = _core.make_blob([image], (64, 64), mode, True, 0.017, [103.94, 116.78, 123.68])
            expected, expected_transforms = _core.make_blob([bgr], (64, 64), mode, True, 0.017,
                                                            [103.94, 116.78, 123.68])
            np.testing.assert_array_equal(blob, expected)
            np.testing.assert_array_equal(transforms, expected_transforms)
            if mode != "letterbox":
                reference = cv2.dnn.blobFromImage(bgr, 0.017, (64, 64), (103.94, 116.78, 123.68), swapRB=True,
                                                  crop=mode == "crop")
                assert np.abs(blob - reference).max() <= 1e-6


def test_crop_and_stretch_transforms_map_image_points_into_the_input():
    image = random_image(np.random.default_rng(5), 300, 500)
    _, (stretch,) = _core.make_blob([image], (416, 208), "stretch")
    np.testing.assert_allclose(stretch, [416 / 500, 208 / 300, 0, 0, 500, 300], rtol=1e-6)
    # crop: factor max(416/500, 416/300) = 416/300, resized to 693x416, cut at x = (693 - 416) // 2 = 138.
    _, (crop,) = _core.make_blob([image], (416, 416), "crop")
    np.testing.assert_allclose(crop, [416 / 300, 416 / 300, -138, 0, 500, 300], rtol=1e-6)


# ---------------------------------------------------------------- letterbox (Darknet)


LETTERBOX_CASES = [
    # (pad_value, scale, mean, std)
    (127.5, 1 / 255.0, (0.0,), (1.0,)),
    (0.0, 1 / 127.5, (127.5,), (1.0,)),
    (114.0, 1.0, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
]


@pytest.mark.parametrize("target", [(416, 416), (320, 192), (17, 33)], ids=lambda t: f"{t[0]}x{t[1]}")
@pytest.mark.parametrize("case", range(len(LETTERBOX_CASES)))
def test_letterbox_follows_darknet(case, target):
    pad_value, scale, mean, std = LETTERBOX_CASES[case]
    width, height = target
    rng = np.random.default_rng(100 + case)
    pad32 = ((np.float32(pad_value) - np.array(triple(mean), np.float32))
             * np.array([scale / s for s in triple(std)], np.float32))
    for image_h, image_w in image_sizes(seed=case, count=10) + ELONGATED_SIZES:
        image = random_image(rng, image_h, image_w)
        for swap_rb in (False, True):
            blob, transforms = _core.make_blob([image], target, "letterbox", swap_rb, scale, list(mean), list(std),
                                               pad_value)
            new_w, new_h = darknet_letterbox_size(image_w, image_h, width, height)
            x0, y0 = (width - new_w) // 2, (height - new_h) // 2
            where = f"image {image_w}x{image_h} -> {width}x{height}, placed {new_w}x{new_h} at ({x0}, {y0})"

            # The image area: cv2.resize to the Darknet size, normalised.
            resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
            area = blob[0, :, y0:y0 + new_h, x0:x0 + new_w]
            assert np.abs(area - normalise(resized, swap_rb, scale, mean, std)).max() <= 1e-6, where

            # Everything else is padding, exactly (pad_value - mean) * scale / std.
            mask = np.ones((height, width), dtype=bool)
            mask[y0:y0 + new_h, x0:x0 + new_w] = False
            for c in range(3):  # mean and std are in output channel order, whatever swap_rb
                assert np.all(blob[0, c][mask] == pad32[c]), where

            # transforms: x_net = x_img * scale_x + pad_x maps the image corners onto the placed rectangle.
            sx, sy, px, py, tw, th = transforms[0]
            assert (tw, th) == (image_w, image_h)
            assert (px, py) == (x0, y0), where
            np.testing.assert_allclose([image_w * sx + px, image_h * sy + py], [x0 + new_w, y0 + new_h],
                                       rtol=0, atol=1e-3, err_msg=where)
            np.testing.assert_allclose([sx, sy], [new_w / image_w, new_h / image_h], rtol=1e-6, err_msg=where)


def test_letterbox_default_padding_is_half_grey():
    image = np.full((100, 200, 3), 255, dtype=np.uint8)
    blob, (transform,) = _core.make_blob([image], (416, 416), "letterbox")
    # new size 416x208 at (0, 104): rows 0..103 and 312..415 are padding, 127.5 / 255 = 0.5.
    assert np.all(blob[0, :, :104] == np.float32(0.5)) and np.all(blob[0, :, 312:] == np.float32(0.5))
    assert np.all(blob[0, :, 104:312] == np.float32(1.0))
    np.testing.assert_allclose(transform, [416 / 200, 208 / 100, 0, 104, 200, 100], rtol=1e-6)


# ---------------------------------------------------------------- bad input


def _good() -> np.ndarray:
    return np.zeros((8, 8, 3), dtype=np.uint8)


BAD_INPUTS = {
    "float image": (dict(images=[np.zeros((8, 8, 3), np.float32)]), r"images\[0\] must be a uint8 image, got dtype float32"),
    "two channels": (dict(images=[np.zeros((8, 8, 2), np.uint8)]), r"must have 1, 3 or 4 channels, got shape \(8, 8, 2\)"),
    "five dims": (dict(images=[np.zeros((1, 2, 3, 4, 5), np.uint8)]), r"must be HxW or HxWxC, got shape \(1, 2, 3, 4, 5\)"),
    "empty list": (dict(images=[]), r"images is an empty list"),
    "zero-size image": (dict(images=[np.zeros((0, 8, 3), np.uint8)]), r"images\[0\] is empty, shape \(0, 8, 3\)"),
    "zero-width image": (dict(images=[np.zeros((8, 0), np.uint8)]), r"is empty"),
    "non-contiguous": (dict(images=[np.zeros((8, 16, 3), np.uint8)[:, ::2]]), r"must be C-contiguous"),
    "not an array": (dict(images=[[[0, 0, 0]]]), r"images\[0\] must be a numpy array"),
    "bad mode": (dict(mode="fill"), r"resize mode must be 'stretch', 'crop' or 'letterbox', got 'fill'"),
    "mean of length 2": (dict(mean=[1.0, 2.0]), r"mean must have 1 or 3 values, got 2"),
    "std zero": (dict(std=[1.0, 0.0, 1.0]), r"std values must be finite and non-zero"),
    "std nan": (dict(std=[float("nan")]), r"std values must be finite and non-zero"),
    "scale zero": (dict(scale=0.0), r"scale factor must be finite and non-zero"),
    "size 0": (dict(size=(0, 416)), r"input size must be positive, got 0x416"),
    "negative size": (dict(size=(416, -1)), r"input size must be positive, got 416x-1"),
}


@pytest.mark.parametrize("name", BAD_INPUTS, ids=str)
def test_bad_inputs_raise_invalid_input_error(name, raises_invalid):
    overrides, message = BAD_INPUTS[name]
    kwargs = dict(images=[_good()], size=(32, 32), mode="stretch")
    kwargs.update(overrides)
    with raises_invalid(message):
        _core.make_blob(**kwargs)


def test_transforms_are_a_named_array():
    """The record of where each image went is ``fastinfer.Transforms``: the (N, 6) array, with named columns."""
    images = [np.zeros((37, 58, 3), np.uint8), np.zeros((10, 20), np.uint8)]
    _, transforms = _core.make_blob(images, (64, 48), "letterbox")
    assert isinstance(transforms, fastinfer.Transforms) and isinstance(transforms, np.ndarray)
    assert transforms.shape == (2, 6) and transforms.dtype == np.float64
    for i, name in enumerate(fastinfer.Transforms.FIELDS):
        np.testing.assert_array_equal(getattr(transforms, name), np.asarray(transforms)[:, i])
    assert transforms[1].image_width == 20 and transforms[1].image_height == 10
    assert transforms.image_width.tolist() == [58, 20]
    # x_input = x_image * scale_x + pad_x: the image's right edge lands at the input's right edge here.
    assert transforms[0].scale_x * 58 + transforms[0].pad_x == pytest.approx(64, abs=1)
