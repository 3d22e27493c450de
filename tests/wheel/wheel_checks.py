"""Checks of the installed wheel, beside test_detector.py (run_wheel_tests.py copies this file as test_wheel.py).

They run in a fresh virtual environment that has never seen the source tree,
with the system's copies of the libraries the source build loads hidden, and
compare the wheel with the source build's results that run_wheel_tests.py
recorded (``FASTINFER_WHEEL_REFERENCE``).
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from elftools.elf.elffile import ELFFile

import fastinfer
from fastinfer import _core

REFERENCE = Path(os.environ["FASTINFER_WHEEL_REFERENCE"])
HIDDEN = [Path(line) for line in Path(os.environ["FASTINFER_WHEEL_HIDDEN"]).read_text().splitlines()]
PACKAGE = Path(fastinfer.__file__).resolve().parent
LIBS = PACKAGE.parent / "fastinfer.libs"
# What a manylinux wheel may take from the system (auditwheel's policy).
MANYLINUX_SYSTEM = {
    "libc.so.6", "libm.so.6", "libmvec.so.1", "libdl.so.2", "librt.so.1", "libpthread.so.0", "libutil.so.1",
    "libnsl.so.1", "libanl.so.1", "libresolv.so.2", "ld-linux-x86-64.so.2", "libstdc++.so.6", "libgcc_s.so.1",
    "libatomic.so.1", "libz.so.1", "libexpat.so.1", "libX11.so.6", "libXext.so.6", "libXrender.so.1",
    "libICE.so.6", "libSM.so.6", "libGL.so.1", "libgobject-2.0.so.0", "libgthread-2.0.so.0", "libglib-2.0.so.0",
}


@pytest.fixture(scope="module")
def reference() -> tuple[dict[str, np.ndarray], dict]:
    with np.load(REFERENCE) as arrays:
        return dict(arrays), json.loads(REFERENCE.with_suffix(".json").read_text())


def needed(path: Path) -> list[str]:
    with open(path, "rb") as file:
        dynamic = ELFFile(file).get_section_by_name(".dynamic")
        return [tag.needed for tag in dynamic.iter_tags() if tag.entry.d_tag == "DT_NEEDED"]


def test_fastinfer_is_the_installed_wheel():
    site = Path(sys.prefix).resolve() / "lib"
    assert site in PACKAGE.parents, f"fastinfer imported from {PACKAGE}, not from this venv"
    assert not (PACKAGE.parent / "CMakeLists.txt").exists() and not Path("CMakeLists.txt").exists()
    assert Path(_core.__file__).resolve().parent == PACKAGE
    assert LIBS.is_dir() and any(LIBS.glob("libopencv_core*.so*")), f"no bundled OpenCV in {LIBS}"


def test_every_library_resolves_inside_the_wheel():
    # auditwheel's rule, checked independently: each library the extension or a bundled library needs is
    # bundled or one the manylinux policy lets it expect from the system.
    bundled = {path.name for path in LIBS.iterdir()}
    for path in [Path(_core.__file__), *LIBS.iterdir()]:
        outside = [name for name in needed(path) if name not in bundled and name not in MANYLINUX_SYSTEM]
        assert not outside, f"{path.name} needs {outside}, neither bundled nor allowed from the system"
    ldd = subprocess.run(["ldd", _core.__file__], check=True, capture_output=True, text=True).stdout
    assert "not found" not in ldd, ldd
    resolved = dict(re.findall(r"^\s*(\S+) => (/\S+)", ldd, re.MULTILINE))
    opencv = {name: path for name, path in resolved.items() if name.startswith("libopencv_")}
    assert opencv and all(Path(path).resolve().parent == LIBS.resolve() for path in opencv.values()), opencv
    for name, path in resolved.items():
        if name in bundled:
            assert Path(path).resolve().parent == LIBS.resolve(), f"{name} resolved to {path}"


def test_the_system_opencv_is_unreachable():
    assert any(path.name.startswith("libopencv_core") for path in HIDDEN), "the system OpenCV was not hidden"
    for path in HIDDEN:
        with pytest.raises(OSError):
            ctypes.CDLL(str(path))


def test_import_loads_neither_torch_nor_cv2():
    code = "import json, sys; import fastinfer; print(json.dumps(sorted(m for m in ('torch', 'cv2') if m in " \
           "sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == []


@pytest.mark.parametrize("backend", ["auto", "opencv"])
def test_detections_equal_the_source_build(backend, yolo_files, photos, reference):
    arrays, _ = reference
    detector = fastinfer.Detector(yolo_files["cfg"], backend=backend)
    found = 0
    for photo in photos:
        dets = detector(photo)
        for field in ("xyxy", "confidence", "class_id"):
            np.testing.assert_array_equal(getattr(dets, field), arrays[f"{backend}/{photo.name}/{field}"],
                                          err_msg=f"{backend} {photo.name} {field}")
        found += len(dets)
    assert found > 0


def failure(call, path) -> str | None:
    try:
        call(path)
    except fastinfer.FastInferError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def test_stood_in_readers_fail_as_in_the_source_build(reference):
    # The wheel stands in for GDAL and GDCM (scripts/repair_wheel.py): NITF and DICOM files fail to decode,
    # as these (invalid) ones do in the source build, with the same error.
    _, info = reference
    assert len(info["errors"]) == 2 and all(info["errors"].values()), info["errors"]
    for path, expected in info["errors"].items():
        assert failure(fastinfer.read_image, path) == expected


def test_video_frames_equal_the_source_build(reference):
    arrays, info = reference
    assert hasattr(_core, "VideoReader") == info["has_video"]
    if info["has_video"]:  # the source build reads video (OpenCV videoio): so must the wheel
        with _core.VideoReader(info["video"]["path"]) as reader:
            frames = []
            while (frame := reader.read()) is not None:
                frames.append(frame)
            assert reader.backend == info["video"]["backend"]
        np.testing.assert_array_equal(np.stack(frames), arrays["video/frames"])
        for path, expected in info["video"]["errors"].items():
            assert expected and failure(_core.VideoReader, path) == expected


def test_doctor_reports_the_bundled_opencv():
    out = subprocess.run([Path(sys.executable).parent / "fastinfer", "doctor", "--json"], capture_output=True,
                         text=True)
    info = json.loads(out.stdout)
    assert out.returncode == 0, info["problems"]
    assert info["core"]["version"] == info["fastinfer"]["version"] == fastinfer.__version__
    assert Path(info["opencv"]["library"]).resolve().parent == LIBS.resolve()


def test_the_default_calibration_photos_are_in_the_wheel():
    # precision="int8" calibrates on them when no images are given: no Debian package needed.
    from fastinfer import quantization

    photos = quantization.default_calibration_images()
    assert len(photos) >= 6 and all(p.resolve().parent == PACKAGE / "data" / "calibration" for p in photos)
    assert (PACKAGE / "data" / "calibration" / "README.md").is_file()
    assert all(fastinfer.read_image(p, strict=True).shape[2] == 3 for p in photos)
