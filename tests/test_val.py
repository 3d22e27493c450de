"""fastinfer.val: COCO mAP of a Detector on a COCO-format set, held to pycocotools run on the same detections."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import fastinfer
from fastinfer.tools import val as coco_eval

SAMPLE = Path(__file__).resolve().parent / "data" / "coco-sample.json"


@pytest.fixture(scope="module")
def images(testdata: Path) -> Path:
    return testdata / "images"


@pytest.fixture(scope="module")
def detector(yolo_files) -> fastinfer.Detector:
    return fastinfer.Detector(yolo_files["cfg"], conf=0.001, iou=0.6, max_det=100)


@pytest.fixture(scope="module")
def result(detector, images) -> coco_eval.ValResult:
    return fastinfer.val(detector, SAMPLE, images)


def pycocotools_stats(detector: fastinfer.Detector, images: Path) -> np.ndarray:
    """The peer: the same detections written as COCO results JSON and scored by pycocotools alone."""
    data = json.loads(SAMPLE.read_text())
    official = {c["name"]: c["id"] for c in data["categories"]}
    darknet_spelling = {"motorbike": "motorcycle", "aeroplane": "airplane", "sofa": "couch",
                        "pottedplant": "potted plant", "diningtable": "dining table", "tvmonitor": "tv"}
    rows = []
    for record in data["images"]:
        dets = detector(str(images / record["file_name"]))
        for (x1, y1, x2, y2), score, label in zip(dets.xyxy.tolist(), dets.confidence.tolist(), dets.labels):
            rows.append({"image_id": record["id"], "category_id": official[darknet_spelling.get(label, label)],
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "score": score})
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(SAMPLE))
        evaluation = COCOeval(truth, truth.loadRes(rows), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats


def test_val_equals_pycocotools_on_the_same_detections(result, detector, images):
    expected = pycocotools_stats(detector, images)
    assert [result.stats[name] for name in coco_eval.STAT_NAMES] == pytest.approx(expected.tolist(), abs=1e-12)
    assert result.images == 5
    assert 0.2 < result.map < result.map50 <= 1.0


def test_per_class_table_averages_to_the_map(result):
    scored = [c for c in result.classes if c.instances]
    assert {c.name for c in scored} == {"person", "bicycle", "motorcycle", "truck", "dog", "horse", "zebra",
                                        "giraffe", "kite"}
    assert sum(c.instances for c in scored) == 25
    assert np.mean([c.ap for c in scored]) == pytest.approx(result.map, abs=1e-9)
    assert np.mean([c.ap50 for c in scored]) == pytest.approx(result.map50, abs=1e-9)
    text = str(result)
    assert "mAP@[.5:.95]" in text and "giraffe" in text and "toothbrush" not in text


def test_result_to_dict_is_json(result):
    data = json.loads(json.dumps(result.to_dict()))
    assert data["stats"]["map50"] == pytest.approx(result.map50)
    assert len(data["classes"]) == 80


def test_precision_recall_plot(result, tmp_path):
    out = result.plot(tmp_path / "pr.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_backends_on_the_same_data(yolo_files, images):
    results = coco_eval.compare(yolo_files["cfg"], SAMPLE, ["onnxruntime:fp32", "opencv"], images)
    assert [r.config for r in results] == ["onnxruntime:fp32", "opencv:fp32"]
    assert results[0].map50 == pytest.approx(results[1].map50, abs=0.02)
    table = coco_eval.comparison_table(results)
    assert table.count("\n") == 3 and "opencv:fp32" in table


def test_bad_inputs(tmp_path, images, ddddocr_model, raises_invalid):
    with raises_invalid("annotations file .*missing.json does not exist"):
        fastinfer.val("yolov3-tiny", tmp_path / "missing.json", images)
    (tmp_path / "bad.json").write_text('{"images": []}')
    with raises_invalid("is not COCO format"):
        fastinfer.val("yolov3-tiny", tmp_path / "bad.json", images)
    with raises_invalid(r"5 image\(s\) named in .* are not in"):
        fastinfer.val("yolov3-tiny", SAMPLE, tmp_path)
    with raises_invalid("configuration 'tensorrt' is not BACKEND"):
        fastinfer.val("yolov3-tiny", SAMPLE, images, config="tensorrt")
    with raises_invalid("none of the model's 1 class names"):
        fastinfer.val(ddddocr_model, SAMPLE, images)


def test_cli_val(images, tmp_path, capsys):
    from fastinfer import cli

    assert cli.main(["val", "yolov3-tiny", "--data", str(SAMPLE), "--images", str(images), "--plot",
                     str(tmp_path / "pr.png")]) == 0
    out = capsys.readouterr().out
    assert "mAP@[.5:.95]" in out and "precision-recall plot" in out
    assert (tmp_path / "pr.png").is_file()
    assert cli.main(["val", "yolov3-tiny", "--data", str(tmp_path / "none.json")]) == 2
    assert "annotations file" in capsys.readouterr().err
