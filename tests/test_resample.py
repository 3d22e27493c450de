"""resample="pil": the core's antialiased bilinear resize against PIL itself (the peer torchvision uses on PIL
images), in every blob mode that resizes, up and down, odd and tiny sizes, grey and BGRA images; the names."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import fastinfer
import torchvision_reference
from fastinfer import _core


def pil_resized(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``Image.resize((width, height), BILINEAR)`` of a uint8 array (channels as they are: the filter is per channel)."""
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def core_pixels(images, size, mode="stretch", pad_value=0.0, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """The core's resized pixels: a blob without swapRB or normalisation, back to (N, h, w, 3), and the transforms."""
    blob, transforms = _core.make_blob(list(images), size, mode, False, 1.0, [0.0], [1.0], pad_value, resample="pil",
                                       **kwargs)
    assert np.array_equal(blob, np.round(blob)), "pixel values must stay integers"
    return blob.transpose(0, 2, 3, 1).astype(np.uint8), transforms


# (h, w) -> (h, w): down, up, mixed, one axis only, tiny, extreme ratios, both sides of Pillow 13's pass order.
STRETCH_CASES = [((300, 451), (256, 384)), ((576, 768), (256, 341)), ((500, 500), (256, 256)), ((1, 1), (256, 256)),
                 ((1, 1), (1, 1)), ((2, 3), (7, 5)), ((3, 2), (1, 1)), ((1, 1000), (3, 9)), ((1000, 1), (9, 3)),
                 ((1000, 37), (256, 9)), ((37, 1000), (9, 256)), ((185, 25), (46, 10)), ((50, 60), (20, 25)),
                 ((100, 120), (100, 33)), ((100, 120), (17, 120)), ((41, 41), (300, 299)), ((39, 9), (25, 74)),
                 ((40, 40), (20, 30)), ((40, 40), (20, 31)), ((40, 40), (21, 30)), ((1080, 1920), (256, 455))]


@pytest.mark.parametrize("source,target", STRETCH_CASES, ids=[f"{a[1]}x{a[0]}-{b[1]}x{b[0]}" for a, b in STRETCH_CASES])
def test_stretch_equals_pil(source, target):
    rng = np.random.default_rng([*source, *target])
    image = rng.integers(0, 256, size=(*source, 3), dtype=np.uint8)
    (pixels,), (transform,) = core_pixels([image], target[::-1])
    np.testing.assert_array_equal(pixels, pil_resized(image, target[1], target[0]))
    assert transform[:2].tolist() == pytest.approx([target[1] / source[1], target[0] / source[0]], rel=1e-6)


def test_random_sizes_equal_pil():
    rng = np.random.default_rng(2026)
    for _ in range(40):
        (h, w), (oh, ow) = rng.integers(1, 400, size=(2, 2)).tolist()
        image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        (pixels,), _ = core_pixels([image], (ow, oh))
        np.testing.assert_array_equal(pixels, pil_resized(image, ow, oh), err_msg=f"{w}x{h} -> {ow}x{oh}")


def test_grey_and_bgra_images_resize_like_pil_l_and_rgb():
    rng = np.random.default_rng(5)
    grey = rng.integers(0, 256, size=(97, 131), dtype=np.uint8)
    bgra = rng.integers(0, 256, size=(97, 131, 4), dtype=np.uint8)
    (from_grey, from_bgra), _ = core_pixels([grey, bgra], (50, 61))
    expected = pil_resized(grey, 50, 61)
    for c in range(3):
        np.testing.assert_array_equal(from_grey[..., c], expected)
    # The alpha channel is dropped (as to_bgr does), as torchvision users' .convert("RGB") drops it.
    np.testing.assert_array_equal(from_bgra, pil_resized(np.ascontiguousarray(bgra[..., :3]), 50, 61))


RESIZE_CROP_SIZES = [(1, 1), (2, 3), (3, 2), (224, 224), (256, 256), (256, 257), (257, 256), (259, 300),
                     (37, 1000), (1000, 37), (480, 640), (1080, 1920), (2000, 1500)]


@pytest.mark.parametrize("target,resize", [((224, 224), 256), ((224, 224), 224), ((160, 192), 200)],
                         ids=["224-256", "224-224", "160x192-200"])
def test_resize_crop_equals_torchvision_on_pil(target, resize):
    rng = np.random.default_rng([resize, *target])
    for h, w in RESIZE_CROP_SIZES:
        image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        (pixels,), (transform,) = core_pixels([image], target, "resize_crop", resize=resize)
        expected = torchvision_reference.resize_crop(Image.fromarray(image), resize, target)
        np.testing.assert_array_equal(pixels, expected, err_msg=f"{w}x{h}")
        rw, rh = torchvision_reference.resized_size(w, h, resize)
        assert transform[:2].tolist() == pytest.approx([rw / w, rh / h], rel=1e-6)


def test_letterbox_places_pils_resize():
    rng = np.random.default_rng(9)
    for h, w in [(375, 500), (500, 375), (33, 700), (320, 416)]:
        image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        (pixels,), _ = core_pixels([image], (416, 320), "letterbox", pad_value=0.0)
        # Darknet's letterbox sizes: the limiting side fills the input, the other in integers.
        new_w, new_h = (416, h * 416 // w) if 416 / w < 320 / h else (w * 320 // h, 320)
        left, top = (416 - new_w) // 2, (320 - new_h) // 2
        np.testing.assert_array_equal(pixels[top:top + new_h, left:left + new_w], pil_resized(image, new_w, new_h))
        assert pixels.sum() == pixels[top:top + new_h, left:left + new_w].sum(), "the padding stays 0"


def test_a_detector_can_ask_for_it(yolo_files, testdata):
    preprocessing = fastinfer.tasks.PRESETS["darknet"].replace(resample="pil")
    det = fastinfer.Detector(yolo_files["cfg"], preprocessing=preprocessing)
    image = fastinfer.read_image(testdata / "images" / "dog.jpg")
    blob, _ = det.preprocess([image])
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    expected = pil_resized(rgb, *det.input_size).astype(np.float32) / np.float32(255)
    assert np.abs(blob[0].transpose(1, 2, 0) - expected).max() <= 1e-6
    assert det.preprocessing.resample == "pil" and fastinfer.tasks.PRESETS["darknet"].resample == "cv2"


def test_names(raises_invalid):
    image = np.zeros((8, 8, 3), np.uint8)
    with raises_invalid(r"resample must be 'cv2' \(OpenCV's bilinear resize\) or 'pil' \(PIL's and torchvision's "
                        r"antialiased bilinear resize\), got 'bilinear'"):
        _core.make_blob([image], (4, 4), resample="bilinear")
    with raises_invalid(r"preprocessing resample must be one of cv2, pil; got 'antialias'"):
        fastinfer.Preprocessing(resample="antialias")
    assert fastinfer.Preprocessing().resample == "cv2"
    assert fastinfer.tasks.preprocessing.imagenet().resample == "pil"
    assert fastinfer.Preprocessing(resample="pil").core_args()["resample"] == "pil"
