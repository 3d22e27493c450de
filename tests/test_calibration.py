"""INT8 calibration images: the set that ships with fastinfer, and what calibration= / --calibration take."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import fastinfer
from fastinfer import cli, quantization

PACKAGE = Path(fastinfer.__file__).resolve().parent


def test_default_set_ships_in_the_package_and_needs_no_debian_package():
    photos = quantization.default_calibration_images()
    assert len(photos) >= 6
    readme = (PACKAGE / "data" / "calibration" / "README.md").read_text(encoding="utf-8")
    for photo in photos:
        # Inside the installed package: nothing read from Debian's /usr/share/darknet.
        assert photo.resolve().parent == PACKAGE / "data" / "calibration", photo
        assert photo.stat().st_size <= 64 * 1024
        image = fastinfer.read_image(photo, strict=True)
        assert max(image.shape[:2]) <= 320 and image.shape[2] == 3
        # The README records each photo's source, original SHA-256 and licence.
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{photo.name}`")), None)
        assert row is not None, f"{photo.name} is not in the calibration README"
        assert re.search(r"\b[0-9a-f]{64}\b", row) and ("CC0" in row or "public domain" in row), row
    assert quantization.resolve_calibration(None) == photos


def test_calibration_takes_folders_globs_paths_arrays_and_lists(photos, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    picked = [p for p in photos if p.name in ("astronaut.png", "dog.jpg", "eagle.jpg")]
    for photo in picked:
        shutil.copy(photo, folder / photo.name)
    (folder / "notes.txt").write_text("not an image")
    expected = sorted(folder / p.name for p in picked)
    assert quantization.resolve_calibration(folder) == expected
    assert quantization.resolve_calibration(str(folder)) == expected
    assert quantization.resolve_calibration(str(folder / "*.jpg")) == sorted(p for p in expected if p.suffix == ".jpg")
    assert quantization.resolve_calibration(photos[0]) == [photos[0]]
    array = fastinfer.read_image(photos[0])
    items = quantization.resolve_calibration([array, folder, photos[1]])
    assert items[0] is array and items[1:] == [*expected, photos[1]]
    images = quantization.load_calibration(items)
    assert len(images) == 5 and np.array_equal(images[0], array)
    np.testing.assert_array_equal(images[1], fastinfer.read_image(expected[0]))


def test_calibration_errors_name_the_argument_and_the_file(tmp_path, raises_invalid, photos):
    with raises_invalid(r"calibration: the pattern '.*nothing-\*\.jpg' matches no image files"):
        quantization.resolve_calibration(str(tmp_path / "nothing-*.jpg"))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with raises_invalid(r"calibration: folder '.*empty' holds no images"):
        quantization.resolve_calibration(empty)
    with raises_invalid(r"calibration\[1\]: '.*missing\.jpg' does not exist"):
        quantization.resolve_calibration([photos[0], tmp_path / "missing.jpg"])
    with raises_invalid("calibration is empty"):
        quantization.resolve_calibration([])
    with raises_invalid(r"calibration\[0\] must be a path or a numpy image, got int"):
        quantization.resolve_calibration([3])
    with raises_invalid("calibration must be a folder, a glob, an image path"):
        quantization.resolve_calibration(3.5)  # type: ignore[arg-type]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.jpg").write_bytes(photos[0].read_bytes())
    (broken / "b.jpg").write_bytes(b"\xff\xd8\xff not really a JPEG")
    with raises_invalid(r"calibration: .*b\.jpg"):
        quantization.load_calibration(quantization.resolve_calibration(broken))
    truncated = broken / "c.jpg"
    truncated.write_bytes(photos[0].read_bytes()[:2000])
    (broken / "b.jpg").unlink()
    with raises_invalid(r"calibration: .*c\.jpg"):
        quantization.load_calibration(quantization.resolve_calibration(broken))


def test_detector_calibration_argument(yolo_files, tmp_path, raises_invalid, photos):
    with raises_invalid("calibration= is for precision='int8'"):
        fastinfer.Detector(yolo_files["cfg"], calibration=photos[:1])
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n and nothing else")
    with raises_invalid(r"calibration: .*x\.png"):
        fastinfer.Detector(yolo_files["cfg"], precision="int8", calibration=broken)
    with pytest.warns(DeprecationWarning, match="calibration_images= is deprecated; use calibration="):
        with raises_invalid("calibration is empty"):
            fastinfer.Detector(yolo_files["cfg"], precision="int8", calibration_images=[])


def test_cli_calibration_folder_and_glob(yolo_files, photos, tmp_path, capsys, fastinfer_home):
    folder = tmp_path / "calib"
    folder.mkdir()
    for photo in photos:
        if photo.name in ("eagle.jpg", "horses.jpg"):
            shutil.copy(photo, folder / photo.name)
    dog = next(p for p in photos if p.name == "dog.jpg")
    want = fastinfer.Detector(yolo_files["cfg"], precision="int8", calibration=sorted(folder.iterdir()))(dog)
    for spec in (str(folder), str(folder / "*")):
        rc = cli.main(["detect", str(dog), "--model", str(yolo_files["cfg"]), "--precision", "int8",
                       "--calibration", spec, "--json"])
        captured = capsys.readouterr()
        assert rc == 0, captured.err
        record = json.loads(captured.out.splitlines()[0])
        assert [d["label"] for d in record["detections"]] == list(want.labels)
        np.testing.assert_allclose([d["xyxy"] for d in record["detections"]], want.xyxy, atol=0.01)
    rc = cli.main(["detect", str(dog), "--model", str(yolo_files["cfg"]), "--precision", "int8", "--calibration",
                   str(tmp_path / "none-*.png")])
    captured = capsys.readouterr()
    assert rc == 2 and re.search(r"error: calibration: the pattern '.*none-\*\.png' matches no image files",
                                 captured.err), captured.err
    rc = cli.main(["detect", str(dog), "--model", str(yolo_files["cfg"]), "--calibration", str(folder)])
    assert rc == 2 and "calibration= is for precision='int8'" in capsys.readouterr().err
    rc = cli.main(["bench", str(yolo_files["cfg"]), "--precision", "int8", "--calibration", str(folder / "*.jpg"),
                   "--runs", "1", "--min-time", "0", "--warmup", "0", "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert json.loads(captured.out)["precision"] == "int8"


def test_val_takes_calibration_for_int8_configurations_only(yolo_files, raises_invalid):
    from fastinfer.tools import val as coco_eval

    with raises_invalid("calibration images are for int8 configurations; none of onnxruntime:fp32, opencv is one"):
        coco_eval.compare(yolo_files["cfg"], "unused.json", ["onnxruntime:fp32", "opencv"], calibration="frames/")


def test_recipes_are_checked(raises_invalid):
    with raises_invalid("Recipe calibration must be one of minmax, percentile, entropy, got 'kl'"):
        quantization.Recipe("mine", calibration="kl")
    with raises_invalid("Recipe op_types must be a non-empty tuple"):
        quantization.Recipe("mine", op_types=())
    with raises_invalid("recipe must be a fastinfer.quantization.Recipe or one of float-activations, full, "):
        quantization.resolve_recipe("fastest")
    assert quantization.resolve_recipe("full-7bit") is quantization.RECIPES["full-7bit"]
