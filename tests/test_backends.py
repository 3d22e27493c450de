"""The backends against their own Python packages: ONNX Runtime from the C++ core
against the onnxruntime module, OpenCV DNN against pip's cv2."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
import pytest

import fastinfer
from fastinfer import _core
from fastinfer.runtime import backends


def reference_run(path: Path, blob: np.ndarray) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: blob})


def test_core_loads_the_wheels_library():
    info = backends.onnxruntime_info()
    assert info["version"] == onnxruntime.__version__
    assert "capi" in Path(info["library"]).parts
    assert "CPUExecutionProvider" in info["providers"]
    assert info["api_version"] >= 1


@pytest.mark.parametrize("size", [(320, 320), (256, 416), (640, 480)])
def test_onnxruntime_forward_equals_onnxruntime_python(nudenet_model, size):
    rng = np.random.default_rng(sum(size))
    blob = rng.random((2, 3, size[1], size[0]), dtype=np.float32)
    backend = backends.load(nudenet_model, backend="onnxruntime")
    (ours,) = backend.forward(blob)
    (ref,) = reference_run(nudenet_model, blob)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5)


def test_onnxruntime_reports_model_io_and_metadata(nudenet_model):
    info = backends.load(nudenet_model).info
    assert info["inputs"] == [{"name": "images", "shape": ["batch", 3, "height", "width"], "type": "float32"}]
    assert info["outputs"][0]["name"] == "output0"
    assert info["outputs"][0]["shape"][:2] == ["batch", 22]
    assert "FACE_FEMALE" in info["metadata"]["names"]
    assert info["providers"] == ["CPUExecutionProvider"]


def test_outputs_are_not_reused_between_calls(ddddocr_model):
    backend = backends.load(ddddocr_model)
    rng = np.random.default_rng(1)
    first = backend.forward(rng.random((1, 3, 416, 416), dtype=np.float32))[0]
    kept = first.copy()
    backend.forward(rng.random((1, 3, 416, 416), dtype=np.float32))
    np.testing.assert_array_equal(first, kept)


def test_onnxruntime_and_opencv_agree(ddddocr_model):
    blob = np.random.default_rng(2).random((1, 3, 416, 416), dtype=np.float32)
    ort_out = backends.load(ddddocr_model, backend="onnxruntime").forward(blob)[0]
    cv_out = backends.load(ddddocr_model, backend="opencv").forward(blob)[0]
    net = cv2.dnn.readNetFromONNX(str(ddddocr_model))
    net.setInput(blob)
    np.testing.assert_allclose(ort_out, reference_run(ddddocr_model, blob)[0], rtol=0, atol=1e-5)
    np.testing.assert_allclose(cv_out, net.forward(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(ort_out, cv_out, rtol=0, atol=1e-4)


def test_concurrent_forward_matches_serial(nudenet_model):
    backend = backends.load(nudenet_model, threads=1)
    rng = np.random.default_rng(3)
    blobs = [rng.random((1, 3, 320, 320), dtype=np.float32) for _ in range(8)]
    serial = [backend.forward(b)[0] for b in blobs]
    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(lambda b: backend.forward(b)[0], blobs * 3))
    for i, out in enumerate(parallel):
        np.testing.assert_array_equal(out, serial[i % 8])


def test_forward_releases_the_gil(nudenet_model):
    backend = backends.load(nudenet_model, threads=1)
    blob = np.random.default_rng(4).random((4, 3, 320, 320), dtype=np.float32)
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(1)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        for _ in range(3):
            backend.forward(blob)
    finally:
        done.set()
        counter.join()
    # With the GIL held for the whole forward, the counter would barely run.
    assert len(ticks) > 1000


@pytest.mark.parametrize("level", ["disable", "basic", "extended", "all"])
def test_graph_optimization_levels_give_the_same_outputs(ddddocr_model, level):
    blob = np.random.default_rng(5).random((1, 3, 416, 416), dtype=np.float32)
    out = backends.load(ddddocr_model, graph_optimization=level).forward(blob)[0]
    np.testing.assert_allclose(out, reference_run(ddddocr_model, blob)[0], rtol=0, atol=1e-4)


def test_wrong_input_shape_is_an_error(ddddocr_model):
    backend = backends.load(ddddocr_model)
    with pytest.raises(fastinfer.InvalidInputError, match=r"expects input 1x3x416x416, got 2x3x416x416"):
        backend.forward(np.zeros((2, 3, 416, 416), np.float32))
    with pytest.raises(fastinfer.InvalidInputError, match=r"expects input 1x3x416x416, got 1x3x320x320"):
        backend.forward(np.zeros((1, 3, 320, 320), np.float32))
    with pytest.raises(fastinfer.InvalidInputError, match=r"blob must be float32, got dtype float64"):
        backend.forward(np.zeros((1, 3, 416, 416)))
    with pytest.raises(fastinfer.InvalidInputError, match=r"blob must have 4 dimensions"):
        backend.forward(np.zeros((3, 416, 416), np.float32))


def test_bad_model_files_are_model_load_errors(tmp_path):
    text = tmp_path / "notes.onnx"
    text.write_text("not a model")
    with pytest.raises(fastinfer.ModelLoadError, match=r"ONNX model '.*notes\.onnx' cannot be read: .*not ONNX"):
        backends.load(text)
    with pytest.raises(fastinfer.ModelLoadError, match=r"cannot open ONNX model '.*missing\.onnx'"):
        backends.load(tmp_path / "missing.onnx")


def test_bad_options_are_clear_errors(ddddocr_model):
    with pytest.raises(fastinfer.BackendUnavailableError,
                       match=r"execution provider 'CUDAExecutionProvider' is not available .*CPUExecutionProvider"):
        backends.load(ddddocr_model, providers=["CUDAExecutionProvider"])
    with pytest.raises(fastinfer.InvalidInputError, match=r"graph_optimization must be one of"):
        backends.load(ddddocr_model, graph_optimization="max")
    # Issue 17, defect 6: the message gives the bound, 4 x the cores.
    with pytest.raises(fastinfer.InvalidInputError,
                       match=r"threads must be None or an int in \[1, \d+\] \(4 x the \d+ cores of this machine\), got 0"):
        backends.load(ddddocr_model, threads=0)
    with pytest.raises(fastinfer.InvalidInputError, match=r"backend must be one of"):
        backends.load(ddddocr_model, backend="tensorrt")


def _load_model_with(library: str, model) -> subprocess.CompletedProcess:
    """``import fastinfer`` (which loads no native code), then a model on ONNX Runtime loaded from ``library``."""
    env = dict(os.environ, FASTINFER_ONNXRUNTIME_LIB=library)
    code = "import sys, fastinfer; print('imported', flush=True); fastinfer.Detector(sys.argv[1])"
    return subprocess.run([sys.executable, "-c", code, str(model)], env=env, capture_output=True, text=True,
                          timeout=120)


def test_first_model_fails_clearly_when_the_library_cannot_load(tmp_path, ddddocr_model):
    bogus = tmp_path / "libonnxruntime.so.1"
    bogus.write_bytes(b"\x7fELF not really")
    result = _load_model_with(str(bogus), ddddocr_model)
    assert result.returncode != 0
    assert result.stdout.startswith("imported")
    assert "fastinfer.BackendUnavailableError: cannot load ONNX Runtime from" in result.stderr


def test_first_model_fails_clearly_when_onnxruntime_is_too_old(tmp_path, ddddocr_model):
    """An onnxruntime release older than the headers' API version is refused when a model first needs it."""
    api = _core.ort_api_version()
    old = f"1.{api - 1}.*"
    download = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--disable-pip-version-check",
         "-q", "-d", str(tmp_path), f"onnxruntime=={old}"], capture_output=True, text=True, timeout=600)
    assert download.returncode == 0, download.stderr
    (wheel,) = tmp_path.glob("onnxruntime-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        member = next(n for n in archive.namelist() if "/capi/libonnxruntime.so" in n)
        library = tmp_path / Path(member).name
        library.write_bytes(archive.read(member))
    result = _load_model_with(str(library), ddddocr_model)
    assert result.returncode != 0
    assert "fastinfer.BackendUnavailableError" in result.stderr
    assert f"is older than fastinfer needs: it was built against ONNX Runtime API version {api}" in result.stderr
    assert "pip install 'onnxruntime>=1." in result.stderr
