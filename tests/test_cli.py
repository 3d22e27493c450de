"""Tests of the ``fastinfer`` command line (``fastinfer.cli.main`` and the installed entry point)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import cv2
import numpy as np
import pytest

import fastinfer
from fastinfer import cli

ZOO_LINE = "'yolov3-tiny' not found in the working directory; using model zoo entry 'yolov3-tiny'"



@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path, monkeypatch):
    """Runs each test in an empty folder, so that a model name is never a file there."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


@pytest.fixture(scope="module")
def dog(testdata) -> Path:
    return testdata / "images" / "dog.jpg"


@pytest.fixture(scope="module")
def expected(yolo_files, dog) -> fastinfer.Detections:
    """What the CLI's defaults (yolov3-tiny, conf 0.25, iou 0.45, stretch) find in dog.jpg."""
    det = fastinfer.Detector(yolo_files["cfg"], weights=yolo_files["weights"], names=yolo_files["names"])
    dets = det(dog)
    assert len(dets) >= 3, "test set-up: yolov3-tiny finds a dog, a bicycle and a car or truck in dog.jpg"
    return dets


def entry_point() -> Path:
    """The installed ``fastinfer`` script beside the running interpreter."""
    script = Path(sys.executable).parent / ("fastinfer.exe" if os.name == "nt" else "fastinfer")
    assert script.is_file(), f"the console script is not installed at {script}"
    return script


def detection_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("  ") and not line.startswith("  annotated")]


# ---------------------------------------------------------------- detect


def test_detect_prints_one_line_per_detection_and_writes_the_image(tmp_path, capsys, dog, expected, yolo_files):
    out_dir = tmp_path / "annotated"
    rc = cli.main(["detect", str(dog), "--model", str(yolo_files["cfg"]), "--out", str(out_dir)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    lines = captured.out.splitlines()
    assert lines[0].startswith(f"{dog}: {len(expected)} objects in ")
    rows = detection_lines(captured.out)
    assert len(rows) == len(expected)
    for row, (_, score, _, label) in zip(rows, expected):
        assert row.startswith(f"  {label:<16} {score:.2f}  (")
    written = out_dir / "dog.jpg"
    assert f"annotated image: {written}" in captured.out
    image = cv2.imread(str(written))
    assert image is not None, f"cv2 cannot read {written}"
    original = cv2.imread(str(dog))
    assert image.shape == original.shape
    assert np.mean(np.abs(image.astype(int) - original.astype(int)) > 40) > 0.001  # boxes were drawn


def test_detect_json_lines(tmp_path, capsys, dog, expected, yolo_files, testdata):
    eagle = testdata / "images" / "eagle.jpg"
    out_dir = tmp_path / "out"
    rc = cli.main(["detect", str(dog), str(eagle), "--model", str(yolo_files["cfg"]), "--json", "--out",
                   str(out_dir)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["image"] for r in records] == [str(dog), str(eagle)]
    first = records[0]
    assert [d["label"] for d in first["detections"]] == expected.labels
    np.testing.assert_allclose([d["confidence"] for d in first["detections"]], expected.confidence, atol=1e-4)
    np.testing.assert_allclose([d["xyxy"] for d in first["detections"]], expected.xyxy, atol=0.01)
    assert first["time_ms"] > 0
    assert first["metadata"]["image_size"] == [768, 576]
    for record in records:
        assert cv2.imread(record["annotated"]) is not None
    assert "bird" in [d["label"] for d in records[1]["detections"]]


def test_detect_thresholds(capsys, dog, expected, yolo_files):
    rc = cli.main(["detect", str(dog), "--model", str(yolo_files["cfg"]), "--json", "--conf", "0.6"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    record = json.loads(captured.out)
    assert [d["label"] for d in record["detections"]] == expected[expected.confidence > 0.6].labels


@pytest.mark.parametrize("options, backend", [(["--backend", "opencv"], "opencv"),
                                              (["--input-size", "416", "416"], "onnxruntime")])
def test_detect_backend_and_input_size(capsys, dog, expected, yolo_files, options, backend):
    rc = cli.main(["detect", str(dog), "--model", str(yolo_files["cfg"]), "--json", *options])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    record = json.loads(captured.out)
    assert record["metadata"]["backend"] == backend
    assert sorted(d["label"] for d in record["detections"]) == sorted(expected.labels)


def test_detect_onnx_model_with_head(capsys, dog, ddddocr_model):
    model = ddddocr_model
    rc = cli.main(["detect", str(dog), "--model", str(model), "--head", "yolox", "--json", "--conf", "0.1"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    record = json.loads(captured.out)
    assert record["metadata"]["head"] == "yolox"
    expected = fastinfer.Detector(model, conf=0.1)(dog)
    assert len(record["detections"]) == len(expected)


def test_bad_backend_is_a_usage_error(capsys, dog):
    with pytest.raises(SystemExit) as info:
        cli.main(["detect", str(dog), "--backend", "tensorrt"])
    assert info.value.code == 2
    assert "invalid choice: 'tensorrt'" in capsys.readouterr().err


def test_missing_image_is_an_error_without_traceback(tmp_path, capsys, dog, yolo_files):
    absent = tmp_path / "absent.jpg"
    rc = cli.main(["detect", str(absent), str(dog), "--model", str(yolo_files["cfg"])])
    captured = capsys.readouterr()
    assert rc != 0
    assert "error:" in captured.err and str(absent) in captured.err
    assert "Traceback" not in captured.err
    assert f"{dog}: " in captured.out  # the other image is still processed


def test_bad_model_is_an_error_without_traceback(tmp_path, capsys, dog):
    absent = tmp_path / "absent.cfg"
    rc = cli.main(["detect", str(dog), "--model", str(absent)])
    captured = capsys.readouterr()
    assert rc != 0
    assert captured.err.startswith("error: ") and str(absent) in captured.err
    assert "Traceback" not in captured.err


def test_bad_threshold_is_an_error(capsys, dog, yolo_files):
    rc = cli.main(["detect", str(dog), "--model", str(yolo_files["cfg"]), "--conf", "2"])
    captured = capsys.readouterr()
    assert rc != 0
    assert "conf must be in [0, 1], got 2.0" in captured.err


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["detect"])
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


# ---------------------------------------------------------------- version and zoo


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"fastinfer {fastinfer.__version__} ")
    assert fastinfer.__version__ == version("fastinfer")


def test_zoo_model_is_resolved_and_logged(tmp_path, capsys, caplog, dog, expected):
    assert os.environ.get("FASTINFER_HOME"), "conftest seeds FASTINFER_HOME with yolov3-tiny"
    with caplog.at_level(logging.INFO, logger="fastinfer"):
        rc = cli.main(["detect", str(dog), "--model", "yolov3-tiny", "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert ZOO_LINE in caplog.text
    assert [d["label"] for d in json.loads(captured.out)["detections"]] == expected.labels


# ---------------------------------------------------------------- the installed script


def test_entry_point(tmp_path, dog, expected):
    out_dir = tmp_path / "out"
    proc = subprocess.run([str(entry_point()), "detect", str(dog), "--model", "yolov3-tiny", "--out", str(out_dir)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert ZOO_LINE in proc.stderr  # logging goes to stderr
    assert "Traceback" not in proc.stderr
    assert len(detection_lines(proc.stdout)) == len(expected)
    assert cv2.imread(str(out_dir / "dog.jpg")) is not None


def test_entry_point_missing_image(tmp_path, yolo_files):
    absent = tmp_path / "absent.jpg"
    proc = subprocess.run([str(entry_point()), "detect", str(absent), "--model", str(yolo_files["cfg"])],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "error:" in proc.stderr and str(absent) in proc.stderr


def test_entry_point_version():
    proc = subprocess.run([str(entry_point()), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"fastinfer {fastinfer.__version__} ")


@pytest.mark.parametrize(("flags", "level"), [([], logging.INFO), (["-v"], logging.DEBUG), (["-vv"], logging.DEBUG)])
def test_verbose_flag_sets_fastinfer_log_level(flags, level, capsys):
    assert cli.main([*flags, "doctor", "--json"]) in (0, 1)
    assert logging.getLogger("fastinfer").level == level
    capsys.readouterr()


def test_package_logger_has_a_null_handler_and_modules_log_under_it():
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("fastinfer").handlers)
    assert fastinfer.tasks.base.log.name == "fastinfer.tasks.base"


# ---------------------------------------------------------------- --out that cannot be created (issue 17, defect 7)


def _bad_outs(tmp_path: Path) -> list[str]:
    existing = tmp_path / "a-file"
    existing.write_text("not a folder")
    return [str(existing), str(existing / "sub"), "/dev/full"]


@pytest.mark.parametrize("command", ["detect", "segment", "video"])
def test_out_that_cannot_be_created_is_an_error_without_traceback(tmp_path, capsys, dog, yolo_files, command):
    # Defect 7: an existing file, file/sub or /dev/full as --out printed a traceback and exited 1.
    for out in _bad_outs(tmp_path):
        if command == "detect":
            argv = ["detect", str(dog), "--model", str(yolo_files["cfg"]), "--out", out]
        elif command == "segment":
            argv = ["segment", str(dog), "--model", str(yolo_files["cfg"]), "--out", out]
        else:
            argv = ["detect", str(tmp_path / "clip.mp4"), "--model", str(yolo_files["cfg"]), "--out", out]
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: --out") and out in err and "Traceback" not in err, err


def test_video_out_in_an_unwritable_place_is_an_error(tmp_path, capsys, yolo_files):
    existing = tmp_path / "a-file"
    existing.write_text("not a folder")
    argv = ["detect", str(tmp_path / "clip.mp4"), "--model", str(yolo_files["cfg"]), "--out", str(existing / "v.mp4")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out") and str(existing) in err


def test_entry_point_out_is_an_existing_file(tmp_path, dog, yolo_files):
    # Defect 7, through the installed script: exit 2 and one line on stderr.
    existing = tmp_path / "a-file"
    existing.write_text("x")
    proc = subprocess.run([str(entry_point()), "detect", str(dog), "--model", str(yolo_files["cfg"]), "--out",
                           str(existing)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: --out '{existing}' exists and is not a folder"
