"""``import fastinfer`` stays light: torch, cv2 and matplotlib are installed here but never imported by it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "cv2", "matplotlib")


@pytest.mark.parametrize("module", ["fastinfer", "fastinfer.cli", "fastinfer.tools.doctor"])
def test_import_loads_neither_torch_nor_cv2(module):
    code = (f"import importlib.util, json, sys; import {module}; "
            f"print(json.dumps({{'loaded': sorted(m for m in {HEAVY!r} if m in sys.modules), "
            f"'installed': sorted(m for m in {HEAVY!r} if importlib.util.find_spec(m))}}))")
    result = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                       text=True).stdout)
    assert result["installed"] == sorted(HEAVY), "the test environment should have every heavy module to catch"
    assert result["loaded"] == [], f"import {module} imported {result['loaded']}"


def _fresh(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                          timeout=120).stdout


def test_import_loads_no_native_code_until_first_use():
    """The core (OpenCV's few hundred libraries, ONNX Runtime) loads on the first call that needs it."""
    code = ("import json, fastinfer\n"
            "def native():\n"
            "    maps = open('/proc/self/maps').read()\n"
            "    return sorted({n for n in ('libopencv_core', 'libonnxruntime', '_core.') if n in maps})\n"
            "before = native()\n"
            "import numpy as np\n"
            "det_type = fastinfer.Detections  # attributes of the package itself load nothing\n"
            "blob, _ = fastinfer.Preprocessing().blob([np.zeros((8, 8, 3), np.uint8)], (32, 32))\n"
            "print(json.dumps({'before': before, 'loaded': fastinfer._native.loaded(), 'after': native(),\n"
            "                  'shape': list(blob.shape)}))")
    result = json.loads(_fresh(code))
    assert result["before"] == [], f"import fastinfer mapped {result['before']}"
    assert result["loaded"] and "libopencv_core" in result["after"], result
    assert result["shape"] == [1, 3, 32, 32]


def test_core_errors_are_the_package_classes():
    """Errors raised in C++ are fastinfer.errors' classes, whether the core loaded first or not."""
    import fastinfer
    from fastinfer import _core, errors

    with pytest.raises(errors.InvalidInputError) as info:
        _core.imread("/nonexistent/fastinfer/photo.jpg")
    assert type(info.value) is fastinfer.InvalidInputError or isinstance(info.value, fastinfer.FastInferError)
    for name in ("FastInferError", "ModelLoadError", "InvalidInputError", "BackendError", "BackendUnavailableError",
                 "ImageWarning"):
        assert getattr(_core, name) is getattr(errors, name) is getattr(fastinfer, name)
    assert issubclass(fastinfer.InvalidInputError, ValueError)
    from fastinfer.io import images
    assert images.DEFAULT_MAX_IMAGE_PIXELS == _core.DEFAULT_MAX_IMAGE_PIXELS


def test_import_time_in_fresh_interpreters():
    """Measured, not asserted (speed is the benchmarks' job): the median of 5 fresh interpreters, beside numpy's."""
    def median(code: str) -> float:
        times = sorted(float(_fresh("import time; t = time.perf_counter(); " + code
                                    + "; print(time.perf_counter() - t)")) for _ in range(5))
        return times[len(times) // 2]

    numpy_s = median("import numpy")
    fastinfer_s = median("import fastinfer")
    print(f"\nimport fastinfer: {fastinfer_s * 1e3:.0f} ms (median of 5 fresh interpreters); "
          f"import numpy alone: {numpy_s * 1e3:.0f} ms")
    assert fastinfer_s > 0
