"""fastinfer.ray without a cluster: the import contract, decoding rows, and one actor's batch called in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import fastinfer
import fastinfer.ray
from fastinfer.ray import _rows


def _run(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _objects(items: list) -> np.ndarray:
    """A 1-D object column, as Ray Data hands over images of different sizes."""
    column = np.empty(len(items), dtype=object)
    column[:] = items
    return column


def test_import_fastinfer_does_not_import_ray():
    result = _run("import json, sys, fastinfer, fastinfer.cli\n"
                  "loaded = sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.'))\n"
                  "print(json.dumps({'ray': loaded}))")
    assert result == {"ray": []}


def test_fastinfer_ray_without_ray_names_the_extra():
    # A finder that reports Ray as absent, as on a machine without it.
    code = """
import importlib.abc, json, sys
class NoRay(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoRay())
import fastinfer
try:
    import fastinfer.ray
except fastinfer.BackendUnavailableError as exc:
    print(json.dumps({"type": type(exc).__name__, "message": str(exc)}))
else:
    print(json.dumps({"type": None}))
"""
    result = _run(code)
    assert result["type"] == "BackendUnavailableError"
    assert "pip install fastinfer[ray]" in result["message"]


def test_decode_bytes_equals_read_image(photos):
    for path in photos[:4]:
        np.testing.assert_array_equal(fastinfer.ray.decode_bytes(path.read_bytes()), fastinfer.read_image(path))


@pytest.mark.parametrize(("data", "match"), [
    (b"", r"row 3 is empty \(0 bytes\)"),
    (b"\xff\xd8\xff not a jpeg", r"cannot decode row 3 \(14 bytes\): not an image"),
    ("a string", r"row 3 must be encoded image bytes, got str"),
])
def test_decode_bytes_refuses_what_is_not_an_image(raises_invalid, data, match):
    with raises_invalid(match):
        fastinfer.ray.decode_bytes(data, name="row 3")


def test_decode_bytes_refuses_oversized_input(raises_invalid, monkeypatch):
    monkeypatch.setattr(_rows, "MAX_IMAGE_BYTES", 10)
    with raises_invalid(r"image is 11 bytes, over the limit of 10"):
        fastinfer.ray.decode_bytes(b"x" * 11)


def test_decode_batch_reads_pixels_bytes_and_paths(photos, tmp_path):
    bgr = [fastinfer.read_image(p) for p in photos[:3]]
    rgb = _objects([image[:, :, ::-1].copy() for image in bgr])
    paths = np.array([str(p) for p in photos[:3]])
    for batch, options in [({"image": rgb, "path": paths}, {}),
                           ({"image": _objects(bgr)}, {"rgb": False}),
                           ({"bytes": np.array([p.read_bytes() for p in photos[:3]], dtype=object), "path": paths}, {}),
                           ({"path": paths}, {})]:
        rows = _rows.decode_batch(batch, **options)
        assert [r.error for r in rows] == [None] * 3
        for row, expected in zip(rows, bgr):
            np.testing.assert_array_equal(row.image, expected)
        if "path" in batch:
            assert [r.path for r in rows] == list(paths)


def test_decode_batch_reports_each_bad_row(photos, tmp_path):
    missing = tmp_path / "missing.jpg"
    rows = _rows.decode_batch({"path": np.array([str(photos[0]), str(missing)])})
    assert rows[0].error is None and rows[0].image is not None
    assert rows[1].image is None and "missing.jpg" in rows[1].error and rows[1].error.startswith("InvalidInputError")
    column = np.empty(1, dtype=object)
    column[0] = np.zeros((4, 4, 3), np.float32)
    rows = _rows.decode_batch({"image": column})
    assert "image must have dtype uint8, got float32" in rows[0].error


def test_decode_batch_needs_an_image_column(raises_invalid):
    with raises_invalid(r"rows need an 'image' .* 'bytes' .* or 'path' column; got columns \['id', 'url'\]"):
        _rows.decode_batch({"url": np.array(["x"]), "id": np.array([1])})


def test_batch_detector_rows_equal_the_detector(photos, tmp_path):
    """One actor's callable, run in this process: same detections as Detector, a bad row kept with its error."""
    actor = fastinfer.ray.BatchDetector("yolov3-tiny", threads=1)
    reference = fastinfer.Detector("yolov3-tiny", threads=1)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    paths = [str(p) for p in photos] + [str(bad)]
    table = actor({"bytes": np.array([Path(p).read_bytes() for p in paths], dtype=object), "path": np.array(paths)})
    assert isinstance(table, pa.Table)
    assert table.schema == fastinfer.ray.schema("detect")
    rows = table.to_pylist()
    assert [r["path"] for r in rows] == paths
    expected = reference([fastinfer.read_image(p) for p in paths[:-1]])
    for row, dets in zip(rows, expected):
        assert row["error"] is None
        np.testing.assert_allclose(np.array(row["xyxy"], np.float32).reshape(-1, 4), dets.xyxy, atol=1e-4)
        np.testing.assert_allclose(row["confidence"], dets.confidence, atol=1e-6)
        assert row["class_id"] == dets.class_id.tolist() and row["label"] == dets.labels
    assert sum(len(r["label"]) for r in rows) > 10
    assert rows[-1]["label"] == [] and rows[-1]["xyxy"] == []
    assert rows[-1]["error"].startswith(f"InvalidInputError: cannot decode {str(bad)!r} (14 bytes)")


def test_detect_checks_its_arguments(raises_invalid):
    """The arguments are checked before the dataset, so no Ray is needed here."""
    with raises_invalid(r"ds must be a ray.data.Dataset, got list"):
        fastinfer.ray.detect([], "yolov3-tiny")
    ds: list = []
    with raises_invalid(r"batch_size must be an int >= 1, got 0"):
        fastinfer.ray.detect(ds, batch_size=0)
    with raises_invalid(r"concurrency must have min <= initial <= max, got \(2, 4, 1\)"):
        fastinfer.ray.detect(ds, concurrency=(2, 4, 1))
    with raises_invalid(r"concurrency must be an int, \(min, max\) or \(min, max, initial\), got \(1,\)"):
        fastinfer.ray.detect(ds, concurrency=(1,))
    with raises_invalid(r"num_gpus must be a number >= 0, got -1"):
        fastinfer.ray.detect(ds, num_gpus=-1)
    with raises_invalid(r"top_k must be an int >= 1, got 0"):
        fastinfer.ray.classify(ds, "model.onnx", top_k=0)


def test_truncated_jpeg_is_an_error_not_a_grey_image(photos, raises_invalid):
    """Rows are decoded strictly: half a JPEG is an error row, not a picture padded with grey."""
    data = next(p for p in photos if p.suffix == ".jpg").read_bytes()
    with raises_invalid(r"cannot decode row 7 \(\d+ bytes\)"):
        fastinfer.ray.decode_bytes(data[: len(data) // 2], name="row 7")
    rows = _rows.decode_batch({"bytes": _objects([data[: len(data) // 2], data])})
    assert rows[0].image is None and rows[0].error.startswith("InvalidInputError: cannot decode row 0")
    assert rows[1].error is None
