"""Hostile inputs to the loaders and the core (issue 17): each ends in a typed ``fastinfer`` error that names
the file or argument, or in a correct result, on every backend; never a signal or a raw third-party exception.

Cases that crashed the process once run in a child process (``run_isolated``), so a crash fails the test
instead of killing the run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastinfer
from fastinfer import backends, darknet
from helpers import edited_cfg

BACKENDS = ("onnxruntime", "opencv")


def run_isolated(code: str, **values: object) -> dict:
    """Runs ``code`` in a fresh interpreter with ``values`` bound (JSON); returns what it prints as JSON.

    The code sets ``result`` (a JSON-able value); an exception becomes ``{"error": class name, "message": ...}``.
    A signal or any other exit fails the test with the child's stderr.
    """
    program = textwrap.dedent("""\
        import json, sys
        import numpy as np
        import fastinfer
        from fastinfer import backends
        from pathlib import Path
        globals().update(json.loads(sys.argv[1]))
        try:
        {body}
        except Exception as exc:
            result = {{"error": type(exc).__name__, "module": type(exc).__module__, "message": str(exc)}}
        print("RESULT " + json.dumps(result))
        """).format(body=textwrap.indent(textwrap.dedent(code), "    "))
    done = subprocess.run([sys.executable, "-c", program, json.dumps(values)], capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit status {done.returncode}"
        pytest.fail(f"the child process ended with {how}\n--- stderr:\n{done.stderr[-3000:]}", pytrace=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no result printed; stdout: {done.stdout[-2000:]} stderr: {done.stderr[-2000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def assert_error(result: dict, kind: str, pattern: str) -> None:
    assert "error" in result, f"expected {kind}, got the result {result}"
    assert result["error"] == kind and result["module"] == "fastinfer", result
    assert re.search(pattern, result["message"]), f"{result['message']!r} does not match {pattern!r}"


# ---------------------------------------------------------------- Darknet cfgs: one reader for every backend


@pytest.mark.parametrize("mask", ["3,4,100000000", "3,4,6", "-1,4,5", "3,4,-100000000"])
def test_yolo_mask_out_of_range(tmp_path, yolo_files, mask):
    """Out-of-range [yolo] masks crashed OpenCV (exit 139) or read past the anchors."""
    cfg = edited_cfg(tmp_path, yolo_files["cfg"], "mask = 3,4,5", f"mask = {mask}", "yolov3-tiny.cfg")
    bad = next(v for v in mask.split(",") if not 0 <= int(v) < 6)
    message = rf"line 133: \[yolo\] mask={mask} refers to anchor {bad}, but the layer has num=6 anchors"
    with pytest.raises(fastinfer.ModelLoadError, match=re.escape(str(cfg)) + ".*" + message):
        darknet.cfg_info(cfg)
    for backend in BACKENDS:
        result = run_isolated("""
            det = fastinfer.Detector(cfg, weights=weights, backend=backend)
            result = len(det(np.zeros((64, 64, 3), np.uint8)))
            """, cfg=str(cfg), weights=str(yolo_files["weights"]), backend=backend)
        assert_error(result, "ModelLoadError", message)


NON_FINITE = [
    ("mask = 3,4,5", "mask = 3,4,5\nscale_x_y = nan", r"\[yolo\] key 'scale_x_y' must be a finite number, got 'nan'"),
    ("mask = 3,4,5", "mask = 3,4,5\nscale_x_y = inf", r"\[yolo\] key 'scale_x_y' must be a finite number, got 'inf'"),
    ("anchors = 10,14,  23,27", "anchors = nan,14,  23,27",
     r"\[yolo\] key 'anchors' must list finite numbers >= 0, got 'nan'"),
    ("anchors = 10,14,  23,27", "anchors = 10,-inf,  23,27",
     r"\[yolo\] key 'anchors' must list finite numbers >= 0, got '-inf'"),
    ("anchors = 10,14,  23,27", "anchors = 10,-14,  23,27",
     r"\[yolo\] key 'anchors' must list finite numbers >= 0, got '-14'"),
    ("mask = 3,4,5", "mask = 3,4,5\nthresh = nan", r"\[yolo\] key 'thresh' must be a finite number, got 'nan'"),
]


@pytest.mark.parametrize("old, new, message", NON_FINITE)
def test_non_finite_numbers_in_cfg(tmp_path, yolo_files, old, new, message):
    """NaN/inf in a cfg gave NaN boxes (and invalid JSON); rejected by the reader for every backend."""
    cfg = edited_cfg(tmp_path, yolo_files["cfg"], old, new, "yolov3-tiny.cfg")
    with pytest.raises(fastinfer.ModelLoadError, match=message):
        darknet.cfg_info(cfg)
    for backend in BACKENDS:
        with pytest.raises(fastinfer.ModelLoadError, match=message):
            fastinfer.Detector(cfg, weights=yolo_files["weights"], backend=backend)


def test_repeated_key_with_another_value_on_every_backend(tmp_path, yolo_files):
    """``filters=16`` then ``filters=32``: the default backend refused it, OpenCV gave 0 detections."""
    cfg = edited_cfg(tmp_path, yolo_files["cfg"], "filters=16", "filters=16\nfilters=32", "yolov3-tiny.cfg")
    message = r"\[convolutional\] key 'filters' is given twice with different values: '16' \(line \d+\) and '32'"
    with pytest.raises(fastinfer.ModelLoadError, match=message):
        darknet.cfg_info(cfg)
    for backend in BACKENDS:
        with pytest.raises(fastinfer.ModelLoadError, match=message):
            fastinfer.Detector(cfg, weights=yolo_files["weights"], backend=backend)


def test_repeated_key_with_the_same_value_is_accepted(tmp_path, yolo_files):
    cfg = edited_cfg(tmp_path, yolo_files["cfg"], "filters=16", "filters=16\nfilters=16", "yolov3-tiny.cfg")
    assert darknet.cfg_info(cfg)["parameter_count"] == darknet.cfg_info(yolo_files["cfg"])["parameter_count"]


@pytest.mark.parametrize("old, new, message", [
    ("filters=16", "filters=99999999999", r"key 'filters' must be an integer, got '99999999999'"),
    ("width=416\nheight=416", "width=100000\nheight=100000",
     r"gives an output of 16x100000x100000 values, more than the 2147483648"),
    ("[upsample]\nstride=2", "[upsample]\nstride=100000000",
     r"\[upsample\] gives an output size of 1300000000, more than fastinfer supports"),
])
def test_sizes_that_would_overflow(tmp_path, yolo_files, old, new, message):
    cfg = edited_cfg(tmp_path, yolo_files["cfg"], old, new, "yolov3-tiny.cfg")
    with pytest.raises(fastinfer.ModelLoadError, match=message):
        darknet.cfg_info(cfg)
