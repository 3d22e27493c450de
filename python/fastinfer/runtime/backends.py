"""Loading a model on an inference backend.

Backends:
    ``onnxruntime``: ONNX Runtime through its C API, from the C++ core. The
        core loads the library that the installed ``onnxruntime`` wheel ships,
        so any version at least as new as the headers it was built with works.
        Darknet models run on it after conversion to ONNX (cached).
    ``opencv``: OpenCV's DNN module (Darknet cfg/weights or ONNX).
    ``auto``: ``onnxruntime``.
"""

from __future__ import annotations

import glob
import importlib.util
import os
from pathlib import Path
from typing import Any, Sequence

from .. import _core
from ..errors import BackendUnavailableError, InvalidInputError

BACKENDS = ("auto", "onnxruntime", "opencv")
GRAPH_OPTIMIZATIONS = ("disable", "basic", "extended", "all")
LIBRARY_ENV = "FASTINFER_ONNXRUNTIME_LIB"


def onnxruntime_library() -> str | None:
    """Path of the libonnxruntime shipped by the installed onnxruntime wheel (None if not installed).

    ``$FASTINFER_ONNXRUNTIME_LIB`` overrides it. The package is located, not
    imported.
    """
    override = os.environ.get(LIBRARY_ENV)
    if override:
        return override
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(glob.glob(os.path.join(folder, "capi", "libonnxruntime.so*")))
        if found:
            return found[-1]
    return None


def load_onnxruntime() -> None:
    """Loads ONNX Runtime into the core once; raises BackendUnavailableError if it cannot."""
    if _core.ort_loaded():
        return
    library = onnxruntime_library()
    if library is None:
        raise BackendUnavailableError("the onnxruntime backend needs the onnxruntime package: pip install onnxruntime")
    _core.ort_load(library)


def onnxruntime_info() -> dict[str, Any]:
    """Version and execution providers of the loaded ONNX Runtime."""
    load_onnxruntime()
    return {"version": _core.ort_version(), "api_version": _core.ort_api_version(),
            "library": onnxruntime_library(), "providers": _core.ort_available_providers()}


def load(model: Path, weights: Path | None = None, backend: str = "auto", *, threads: int | None = None,
         graph_optimization: str = "all", providers: Sequence[str] | None = None,
         device_id: int = 0) -> _core.Backend:
    """Loads an ONNX file (or, on ``opencv``, a Darknet cfg + weights) on ``backend``.

    The returned object's ``forward(blob)`` takes an NCHW float32 blob and
    returns the output arrays; it releases the GIL and is safe to call from
    several threads at once.

    Args:
        model: ``.onnx`` file, or a Darknet ``.cfg`` for the opencv backend.
        weights: the Darknet weights (opencv backend).
        backend: ``"auto"``, ``"onnxruntime"`` or ``"opencv"``.
        threads: ONNX Runtime intra-op threads (None: its default).
        graph_optimization: ``"disable"``, ``"basic"``, ``"extended"`` or ``"all"``.
        providers: ONNX Runtime execution providers in priority order, e.g.
            ``["CUDAExecutionProvider"]``; the CPU provider is always added last.
        device_id: the GPU for CUDA/TensorRT providers.
    """
    if backend not in BACKENDS:
        raise InvalidInputError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if graph_optimization not in GRAPH_OPTIMIZATIONS:
        raise InvalidInputError(
            f"graph_optimization must be one of {', '.join(GRAPH_OPTIMIZATIONS)}; got {graph_optimization!r}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise InvalidInputError(f"threads must be None or an int >= 1, got {threads!r}")
    is_onnx = model.suffix.lower() == ".onnx"
    if backend == "opencv":
        if is_onnx:
            return _core.opencv_from_onnx(str(model))
        if weights is None:
            raise InvalidInputError(f"Darknet model {str(model)!r} needs a weights file")
        return _core.opencv_from_darknet(str(model), str(weights))
    if not is_onnx:
        raise InvalidInputError(f"the onnxruntime backend runs .onnx files, got '{model}' (convert it first)")
    load_onnxruntime()
    return _core.onnxruntime_from_file(str(model), threads or 0, 0, graph_optimization, list(providers or []),
                                       int(device_id))
