"""The cache layer (``fastinfer.runtime.cache``): derived files verified against the hash recorded at write time.

Regression tests of defect 3 of issue 17: a converted ONNX model or an INT8
model under ``FASTINFER_HOME`` with flipped bytes, truncated or empty was used
as it was (0 detections instead of 4, or "Protobuf parsing failed" forever).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

import fastinfer
from fastinfer import convert
from fastinfer.runtime import cache


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTINFER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def dog(testdata):
    return testdata / "images" / "dog.jpg"


def flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


DAMAGE = {"flipped": flip, "truncated": lambda b: b[: len(b) // 2], "empty": lambda b: b""}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_onnx_conversion_is_rebuilt_with_a_warning(home, yolo_files, dog, caplog, damage):
    # Defect 3: the cached conversion was reused whatever its bytes.
    args = dict(model=yolo_files["cfg"], weights=yolo_files["weights"], names=yolo_files["names"])
    first = fastinfer.Detector(**args)
    want = first(dog)
    path = first.onnx_path
    assert path.parent == home / "onnx" and path.with_name(path.name + ".sha256").is_file()
    good = path.read_bytes()
    path.write_bytes(DAMAGE[damage](good))
    with caplog.at_level(logging.WARNING, logger="fastinfer"):
        again = fastinfer.Detector(**args)
    assert again.onnx_path == path and path.read_bytes() == good
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(path) in w and "building it again" in w for w in warnings), warnings
    got = again(dog)
    assert len(got) == len(want) == 4 and got.labels == want.labels


def test_missing_or_unparsable_hash_record_rebuilds(home, yolo_files, caplog):
    path = convert.cached_onnx(yolo_files["cfg"], yolo_files["weights"])
    record = path.with_name(path.name + ".sha256")
    for content in (None, "not a hash\n", ""):
        if content is None:
            record.unlink()
        else:
            record.write_text(content)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="fastinfer"):
            assert convert.cached_onnx(yolo_files["cfg"], yolo_files["weights"]) == path
        assert any(str(path) in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
        assert cache.verify(path) is None


def test_intact_cache_is_reused_without_a_warning(home, yolo_files, caplog):
    path = convert.cached_onnx(yolo_files["cfg"], yolo_files["weights"])
    stamp = path.stat().st_mtime_ns
    with caplog.at_level(logging.WARNING, logger="fastinfer"):
        assert convert.cached_onnx(yolo_files["cfg"], yolo_files["weights"]) == path
    assert path.stat().st_mtime_ns == stamp and not caplog.records


@pytest.mark.parametrize("damage", ["flipped", "empty"])
def test_damaged_int8_model_is_rebuilt(home, yolo_files, dog, caplog, damage):
    # Defect 3: a damaged INT8 file gave other classes, or failed every later Detector().
    args = dict(model=yolo_files["cfg"], weights=yolo_files["weights"], names=yolo_files["names"], precision="int8",
                calibration=[dog])
    first = fastinfer.Detector(**args)
    want = first(dog)
    path = first.onnx_path
    assert path.parent == home / "int8"
    good_hash = cache.sha256_file(path)
    path.write_bytes(DAMAGE[damage](path.read_bytes()))
    with caplog.at_level(logging.WARNING, logger="fastinfer"):
        again = fastinfer.Detector(**args)
    assert cache.sha256_file(path) == good_hash
    assert any(str(path) in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    got = again(dog)
    assert got.labels == want.labels


def test_partial_file_of_a_killed_writer_is_removed(home, yolo_files, tmp_path):
    # A writer killed mid-write leaves a partial file named with its pid; the next cached() removes it.
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    dead_pid = int(child.stdout)
    folder = home / "onnx"
    folder.mkdir(parents=True)
    mine = cache.partial_path(folder / "x.onnx")
    stale = mine.with_name(mine.name.replace(f".{os.getpid()}@", f".{dead_pid}@"))
    stale.write_bytes(b"half")
    mine.write_bytes(b"in progress")  # a live process's partial file stays
    convert.cached_onnx(yolo_files["cfg"], yolo_files["weights"])
    assert not stale.exists() and mine.exists()
