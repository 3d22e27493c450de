"""Tests of the ``fastinfer`` command line (``fastinfer.cli.main`` and the installed entry point)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
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
    assert [(r["source"], r["frame"]) for r in records] == [(str(dog), None), (str(eagle), None)]
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
    assert ZOO_LINE not in caplog.text  # an INFO note: the command shows it with -v only
    with caplog.at_level(logging.INFO, logger="fastinfer"):
        rc = cli.main(["-v", "detect", str(dog), "--model", "yolov3-tiny", "--json"])
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
    assert proc.stderr == ""  # the zoo's note is INFO: shown with -v only (below)
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


@pytest.mark.parametrize(("flags", "level"), [([], logging.WARNING), (["-v"], logging.INFO), (["-vv"], logging.DEBUG),
                                             (["-q"], logging.ERROR)])
def test_verbose_and_quiet_flags_set_fastinfer_log_level(flags, level, capsys):
    # Before the command or after it: both work.
    for argv in ([*flags, "doctor", "--json"], ["doctor", *flags, "--json"]):
        assert cli.main(argv) in (0, 1)
        assert logging.getLogger("fastinfer").level == level, argv
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


# ---------------------------------------------------------------- issue 13: on a par with `yolo predict`


def _cli_json(capsys, argv: list[str], status: int = 0) -> list[dict]:
    rc = cli.main(argv)
    captured = capsys.readouterr()
    assert rc == status, captured.err
    return [json.loads(line) for line in captured.out.splitlines()]


def _same_detections(record: dict, dets: fastinfer.Detections, where: str = "") -> None:
    assert [d["label"] for d in record["detections"]] == dets.labels, where
    np.testing.assert_allclose([d["xyxy"] for d in record["detections"]], dets.xyxy.reshape(-1, 4), atol=0.01,
                               err_msg=where)


@pytest.fixture(scope="module")
def detector(yolo_files) -> fastinfer.Detector:
    return fastinfer.Detector(yolo_files["cfg"])


def test_detect_folders_and_globs_keep_names_and_extensions(tmp_path, capsys, testdata, yolo_files, detector):
    # The issue: `detect DIR` failed ("cannot decode image"), two inputs named dog.jpg overwrote one output, and
    # .png inputs were written as .jpg.
    images = testdata / "images"
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    shutil.copy(images / "dog.jpg", first / "dog.jpg")
    shutil.copy(images / "coffee.png", first / "coffee.png")
    shutil.copy(images / "eagle.jpg", second / "dog.jpg")  # same name, another photo
    out = tmp_path / "out"
    records = _cli_json(capsys, ["detect", str(first), str(second / "*.jpg"), str(images / "dog.jpg"), "--model",
                                 str(yolo_files["cfg"]), "--out", str(out), "--json"])
    sources = [first / "coffee.png", first / "dog.jpg", second / "dog.jpg", images / "dog.jpg"]
    assert [(r["source"], r["frame"]) for r in records] == [(str(p), None) for p in sources]
    assert [r["annotated"] for r in records] == [str(out / n) for n in ("coffee.png", "dog.jpg", "dog_2.jpg",
                                                                        "dog_3.jpg")]
    assert sorted(p.name for p in out.iterdir()) == ["coffee.png", "dog.jpg", "dog_2.jpg", "dog_3.jpg"]
    assert (out / "coffee.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # a PNG stays a PNG, lossless
    for record, source in zip(records, sources):
        dets = detector(source)
        _same_detections(record, dets, str(source))
        drawn = dets.draw(fastinfer.read_image(source))
        written = cv2.imread(record["annotated"])
        assert written.shape == drawn.shape
        if source.suffix == ".png":
            np.testing.assert_array_equal(written, drawn)
        else:  # JPEG: close to this photo's drawing, far from the other dog.jpg's
            assert np.abs(written.astype(int) - drawn).mean() < 3, record["annotated"]


def test_detect_folder_with_an_unreadable_file(tmp_path, capsys, testdata, yolo_files):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(testdata / "images" / "dog.jpg", folder / "a.jpg")
    (folder / "b.jpg").write_bytes(b"not a jpeg")
    shutil.copy(testdata / "images" / "kite.jpg", folder / "c.jpg")
    rc = cli.main(["detect", str(folder), "--model", str(yolo_files["cfg"])])
    captured = capsys.readouterr()
    assert rc == 1  # an input failed; the others were still processed
    assert [line.split(":")[0] for line in captured.out.splitlines() if not line.startswith(" ")] == [
        str(folder / "a.jpg"), str(folder / "c.jpg")]
    assert captured.err.startswith(f"error: skipped image 1 of folder '{folder}'") and "b.jpg" in captured.err
    assert "Warning" not in captured.err


def test_detect_pattern_without_matches(tmp_path, capsys, yolo_files):
    rc = cli.main(["detect", str(tmp_path / "*.jpg"), "--model", str(yolo_files["cfg"])])
    assert rc == 1
    assert capsys.readouterr().err == f"error: pattern '{tmp_path / '*.jpg'}' matches no image files (.bmp, .dib, " \
                                      ".jpg, .jpeg, .jpe, .jp2, ...)\n"


def test_one_object_two_objects(capsys, dog, yolo_files):
    rc = cli.main(["detect", str(dog), "--model", str(yolo_files["cfg"]), "--max-det", "1"])
    out = capsys.readouterr().out
    assert rc == 0 and out.startswith(f"{dog}: 1 object in ")
    assert cli.main(["detect", str(dog), "--model", str(yolo_files["cfg"]), "--max-det", "2"]) == 0
    assert capsys.readouterr().out.startswith(f"{dog}: 2 objects in ")


def test_classes_are_dropped_before_nms_and_max_det(yolo_files, dog, detector):
    # Reference: the candidate rows of the network, decoded in numpy, filtered to the classes, then
    # cv2.dnn.NMSBoxes (reference.postprocess_head_reference); Ultralytics filters classes the same way.
    from reference import postprocess_head_reference

    image = fastinfer.read_image(dog)
    blob, transforms = detector.preprocess([image])
    rows = np.concatenate([o.reshape(-1, o.shape[-1]) for o in detector.forward(blob)])
    truck, car = detector.names.index("truck"), detector.names.index("car")
    everything = postprocess_head_reference(rows, transforms, detector.input_size, "darknet", conf=0.25, iou=0.3,
                                            class_agnostic=True)[0]
    assert truck not in everything[2].tolist(), "test set-up: one NMS over all classes suppresses dog.jpg's truck"
    for classes, agnostic, max_det in [(["truck"], True, None), ([truck, car], False, 1), ([car, "dog"], True, 1)]:
        ids = [detector.names.index(c) if isinstance(c, str) else c for c in classes]
        keep = np.isin(rows[:, 5:].argmax(axis=1), ids)
        xyxy, conf, cls, _ = postprocess_head_reference(rows[keep], transforms, detector.input_size, "darknet",
                                                        conf=0.25, iou=0.3, class_agnostic=agnostic,
                                                        max_det=max_det or 0)[0]
        assert len(cls) >= 1
        got = fastinfer.Detector(yolo_files["cfg"], iou=0.3, classes=classes, class_agnostic=agnostic,
                                 max_det=max_det)(dog)
        assert got.class_id.tolist() == cls.tolist(), classes
        np.testing.assert_allclose(got.xyxy, xyxy, atol=0.01)
        np.testing.assert_allclose(got.confidence, conf, atol=1e-6)


def test_cli_classes_max_det_agnostic_nms(capsys, dog, yolo_files):
    argv = ["detect", str(dog), "--model", str(yolo_files["cfg"]), "--json", "--iou", "0.3"]
    for flags, kwargs in [(["--classes", "truck", "--agnostic-nms"], {"classes": ["truck"], "class_agnostic": True}),
                          (["--classes", "2", "16", "--max-det", "1"], {"classes": [2, 16], "max_det": 1}),
                          (["--agnostic-nms"], {"class_agnostic": True})]:
        [record] = _cli_json(capsys, [*argv, *flags])
        _same_detections(record, fastinfer.Detector(yolo_files["cfg"], iou=0.3, **kwargs)(dog), " ".join(flags))
    [record] = _cli_json(capsys, [*argv, "--classes", "truck", "--agnostic-nms"])
    assert [d["label"] for d in record["detections"]] == ["truck"]  # kept: the car that suppresses it is dropped first
    [record] = _cli_json(capsys, [*argv, "--agnostic-nms"])
    assert "truck" not in [d["label"] for d in record["detections"]]
    rc = cli.main([*argv, "--classes", "zebra", "unicorn"])
    assert rc == 2
    assert capsys.readouterr().err.startswith("error: classes: 'unicorn' is neither a class id in [0, 79] nor a class "
                                              "name of model")


def test_save_txt_is_read_by_supervision(tmp_path, capsys, testdata, yolo_files, detector):
    # supervision's own YOLO reader (DetectionDataset.from_yolo's) reads the labels back into the boxes.
    from supervision.dataset.formats.yolo import load_yolo_annotations

    sources = [testdata / "images" / "dog.jpg", testdata / "images" / "motorcycle_left.png"]
    out = tmp_path / "out"
    records = _cli_json(capsys, ["detect", *map(str, sources), "--model", str(yolo_files["cfg"]), "--out", str(out),
                                 "--save-txt", "--save-conf", "--json"])
    assert [r["labels"] for r in records] == [str(out / "labels" / "dog.txt"),
                                              str(out / "labels" / "motorcycle_left.txt")]
    yaml_path = tmp_path / "data.yaml"
    yaml_path.write_text("names:\n" + "".join(f"  - {json.dumps(n)}\n" for n in detector.names))
    _, _, annotations = load_yolo_annotations(str(out), str(out / "labels"), str(yaml_path))
    for source in sources:
        dets = detector(source)
        assert len(dets) >= 1
        read = annotations[str(out / source.name)]
        np.testing.assert_array_equal(read.class_id, dets.class_id)
        np.testing.assert_allclose(read.xyxy, dets.xyxy, atol=0.01)
        confidence = [float(line.split()[5]) for line in (out / "labels" / (source.stem + ".txt")).read_text()
                      .splitlines()]
        np.testing.assert_allclose(confidence, dets.confidence, rtol=1e-5)
    assert cli.main(["detect", str(sources[0]), "--model", str(yolo_files["cfg"]), "--save-txt"]) == 2
    assert "--save-txt writes into the labels/ folder of --out DIR: give --out" in capsys.readouterr().err


def test_names_flag_labels_a_one_class_model(tmp_path, capsys, dog, ddddocr_model):
    # The issue: the YOLOX text detector labelled everything "class0".
    argv = ["detect", str(dog), "--model", str(ddddocr_model), "--conf", "0.1", "--json"]
    [plain] = _cli_json(capsys, argv)
    assert plain["detections"] and {d["label"] for d in plain["detections"]} == {"class0"}
    [named] = _cli_json(capsys, [*argv, "--names", "text"])
    assert [d["label"] for d in named["detections"]] == ["text"] * len(plain["detections"])
    names_file = tmp_path / "ocr.names"
    names_file.write_text("word\n")
    [from_file] = _cli_json(capsys, [*argv, "--names", str(names_file)])
    assert {d["label"] for d in from_file["detections"]} == {"word"}
    assert cli.main([*argv, "--names", str(tmp_path / "absent.names")]) == 2
    assert f"--names: the names file '{tmp_path / 'absent.names'}' does not exist" in capsys.readouterr().err


def test_input_size_has_one_grammar_everywhere(capsys, yolo_files, dog):
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    taking = {name for name, sub in commands.items() if "--input-size" in sub._option_string_actions}
    assert taking == {"detect", "classify", "segment", "info", "bench"}
    for name in taking:
        action = commands[name]._option_string_actions["--input-size"]
        assert type(action) is cli._InputSizeAction and action.nargs == "+", name
    cfg = str(yolo_files["cfg"])
    [square] = _cli_json(capsys, ["detect", str(dog), "--model", cfg, "--json", "--input-size", "320"])
    [pair] = _cli_json(capsys, ["detect", str(dog), "--model", cfg, "--json", "--input-size", "320", "320"])
    assert square["metadata"]["input_size"] == pair["metadata"]["input_size"] == [320, 320]
    assert square["detections"] == pair["detections"]
    [info_square] = _cli_json(capsys, ["info", cfg, "--json", "--input-size", "320"])
    [info_pair] = _cli_json(capsys, ["info", cfg, "--json", "--input-size", "320", "320"])
    assert info_square == info_pair
    with pytest.raises(SystemExit) as exc:
        cli.main(["info", cfg, "--input-size", "1", "2", "3"])
    assert exc.value.code == 2
    assert "argument --input-size: takes one value (a square) or two (W H), got 3" in capsys.readouterr().err


def test_zoo_names_in_every_command_that_takes_a_model(capsys, yolo_files, fastinfer_home):
    [by_name] = _cli_json(capsys, ["info", "yolov3-tiny", "--json"])
    [by_path] = _cli_json(capsys, ["info", str(yolo_files["cfg"]), "--json"])
    by_name.pop("path")
    by_path.pop("path")
    assert by_name == by_path and by_name["flops"] == 5_564_961_792  # `darknet ops`' figure (README)
    bench = _cli_json(capsys, ["bench", "yolov3-tiny", "--json", "--runs", "1", "--min-time", "0", "--warmup", "0"])
    assert bench[0]["task"] == "detect"
    for command in ("classify", "segment"):  # the name is found; the zoo's detector is named as no classifier
        assert cli.main([command, str(yolo_files["cfg"].parent / "x.jpg"), "--model", "yolov3-tiny"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "yolov3-tiny" in err and "Traceback" not in err, err


def test_json_schema_is_the_same_for_images_and_video_frames(tmp_path, capsys, photos, yolo_files):
    video = tmp_path / "clip.avi"
    size = (320, 240)
    writer = fastinfer.VideoWriter(str(video), 5.0, size)
    for photo in photos[:3]:
        writer.write(cv2.resize(cv2.imread(str(photo)), size))
    writer.close()
    out = tmp_path / "out"
    records = _cli_json(capsys, ["detect", str(photos[0]), str(video), "--model", str(yolo_files["cfg"]), "--out",
                                 str(out), "--save-txt", "--json"])
    image, frames = records[0], records[1:]
    assert len(frames) == 3 and [r["frame"] for r in frames] == [0, 1, 2]
    assert all(list(r) == list(image) for r in frames)
    assert list(image)[:3] == ["source", "frame", "time_ms"]
    assert image["frame"] is None and frames[0]["source"] == str(video)
    assert {r["annotated"] for r in frames} == {str(out / "clip.avi")}  # an .avi stays an .avi
    assert [r["labels"] for r in frames] == [str(out / "labels" / f"clip_{i}.txt") for i in range(3)]
    assert all(Path(r["labels"]).is_file() for r in records)
    rc = cli.main(["detect", str(photos[0]), str(video), "--model", str(yolo_files["cfg"]), "--out", str(out)])
    lines = capsys.readouterr().out.splitlines()
    assert rc == 0 and any(line.startswith(f"{video}: 3 frames, ") for line in lines)


def test_device_runs_on_the_torch_backend(capsys, dog, yolo_files, detector):
    argv = ["detect", str(dog), "--model", str(yolo_files["cfg"]), "--json"]
    [record] = _cli_json(capsys, [*argv, "--device", "cpu"])
    assert record["metadata"]["backend"] == "torch"
    expected = detector(dog)
    assert [d["label"] for d in record["detections"]] == expected.labels
    np.testing.assert_allclose([d["xyxy"] for d in record["detections"]], expected.xyxy, atol=0.05)
    np.testing.assert_allclose([d["confidence"] for d in record["detections"]], expected.confidence, atol=1e-3)
    assert cli.main([*argv, "--device", "cpu", "--backend", "opencv"]) == 2
    assert "--device and --half are options of the torch backend, not --backend opencv" in capsys.readouterr().err
    assert cli.main([*argv, "--half"]) == 2
    assert "half=True runs FP16 on CUDA" in capsys.readouterr().err


# ---------------------------------------------------------------- what the shell sees


def _run(*argv: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(entry_point()), *argv], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})}, **kwargs)


def test_quiet_and_verbose(tmp_path, dog):
    verbose = _run("-v", "detect", str(dog), "--model", "yolov3-tiny", cwd=tmp_path)
    assert verbose.returncode == 0 and ZOO_LINE in verbose.stderr
    after = _run("detect", str(dog), "-v", "--model", "yolov3-tiny", cwd=tmp_path)
    assert after.returncode == 0 and ZOO_LINE in after.stderr
    broken = tmp_path / "broken.jpg"
    broken.write_bytes((dog.read_bytes())[:20000])  # truncated: decoded with a warning
    loud = _run("detect", str(broken), "--model", "yolov3-tiny", cwd=tmp_path)
    assert loud.returncode == 0 and loud.stderr.startswith("warning: ") and str(broken) in loud.stderr, loud.stderr
    quiet = _run("-q", "detect", str(broken), str(tmp_path / "absent.jpg"), "--model", "yolov3-tiny", cwd=tmp_path)
    assert quiet.returncode == 1
    assert quiet.stderr.splitlines() == [f"error: cannot open image '{tmp_path / 'absent.jpg'}'"], \
        quiet.stderr


def test_camera_error_without_opencv_log_lines(yolo_files):
    # The issue: OpenCV's [ WARN]/[ERROR] lines from probing its capture backends came before the real message.
    # This machine has no camera 9.
    proc = _run("detect", "9", "--model", str(yolo_files["cfg"]))
    assert proc.returncode == 1
    assert proc.stderr == "error: cannot open camera 9: no such device, or it is busy\n"
    # OpenCV does log those lines (it is the core that keeps them out), and $OPENCV_LOG_LEVEL still shows them.
    shown = _run("detect", "9", "--model", str(yolo_files["cfg"]), env={"OPENCV_LOG_LEVEL": "WARNING"})
    assert shown.returncode == 1
    assert "[ WARN" in shown.stderr and shown.stderr.endswith("error: cannot open camera 9: no such device, or it is "
                                                              "busy\n")


def test_broken_pipe_ends_quietly(yolo_files):
    # `fastinfer info ... | head -1`: the reader goes away; the command ends like a Unix tool, no traceback.
    proc = subprocess.Popen([str(entry_point()), "info", str(yolo_files["cfg"]), "--layers"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command writes anything
    _, err = proc.communicate(timeout=120)
    assert err == b"" and proc.returncode == cli.EXIT_BROKEN_PIPE


def test_export_without_torch_names_the_extra(tmp_path):
    code = ("import sys; sys.modules['torch'] = None\n"  # `import torch` raises ImportError, as without torch
            "from fastinfer import cli\n"
            "sys.exit(cli.main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "export", "torchvision.models:resnet18", "--shape", "1", "3",
                           "32", "32", "--out", str(tmp_path / "m.onnx")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == ("error: fastinfer.export needs torch and onnx (torch is missing): pip install "
                           "fastinfer[export]\n")


def test_line_width(tmp_path, capsys, testdata, yolo_files, detector):
    photo = testdata / "images" / "motorcycle_left.png"  # PNG: the written file holds the drawn pixels exactly
    dets = detector(photo)
    assert len(dets) >= 1
    image = fastinfer.read_image(photo)
    for width in ("1", "6"):
        [record] = _cli_json(capsys, ["detect", str(photo), "--model", str(yolo_files["cfg"]), "--json",
                                      "--out", str(tmp_path / width), "--line-width", width])
        np.testing.assert_array_equal(cv2.imread(record["annotated"]), dets.draw(image, line_width=int(width)))
    assert not np.array_equal(cv2.imread(str(tmp_path / "1" / photo.name)), cv2.imread(str(tmp_path / "6" /
                                                                                           photo.name)))
    assert cli.main(["detect", str(photo), "--model", str(yolo_files["cfg"]), "--line-width", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: --line-width must be")
