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
import inspect
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import _core
from ..errors import BackendUnavailableError, InvalidInputError
from ..validate import check_choice, check_count

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


def _onnxruntime(model: Path, weights: Path | None, *, threads: int | None = None, graph_optimization: str = "all",
                 providers: Sequence[str] | None = None, device_id: int = 0) -> _core.Backend:
    """ONNX Runtime from the core: an ``.onnx`` file with its session options."""
    check_choice("graph_optimization", graph_optimization, GRAPH_OPTIMIZATIONS)
    threads = check_count("threads", threads, optional=True)
    if model.suffix.lower() != ".onnx":
        raise InvalidInputError(f"the onnxruntime backend runs .onnx files, got '{model}' (convert it first)")
    load_onnxruntime()
    return _core.onnxruntime_from_file(str(model), threads or 0, 0, graph_optimization, list(providers or []),
                                       int(device_id))


def _opencv(model: Path, weights: Path | None) -> _core.Backend:
    """OpenCV's DNN module: an ``.onnx`` file, or a Darknet cfg with its weights."""
    if model.suffix.lower() == ".onnx":
        return _core.opencv_from_onnx(str(model))
    if weights is None:
        raise InvalidInputError(f"Darknet model {str(model)!r} needs a weights file")
    return _core.opencv_from_darknet(str(model), str(weights))


#: The backends by name: each loader takes the model (and Darknet weights) and its own keyword
#: options, and returns an object with ``name``, ``output_names`` and ``forward(blob) -> outputs``.
#: A new backend is one loader here (its runtime in a module of its own).
LOADERS: dict[str, Callable[..., Any]] = {"onnxruntime": _onnxruntime, "opencv": _opencv}
BACKENDS = ("auto", *LOADERS)
#: What ``"auto"`` means.
DEFAULT_BACKEND = "onnxruntime"


def load(model: Path, weights: Path | None = None, backend: str = "auto", **options: Any) -> _core.Backend:
    """Loads an ONNX file (or, on ``opencv``, a Darknet cfg + weights) on ``backend``.

    The returned object's ``forward(blob)`` takes an NCHW float32 blob and
    returns the output arrays; it releases the GIL and is safe to call from
    several threads at once.

    Args:
        model: ``.onnx`` file, or a Darknet ``.cfg`` for the opencv backend.
        weights: the Darknet weights (opencv backend).
        backend: ``"auto"``, ``"onnxruntime"`` or ``"opencv"``.
        **options: the backend's own options; ONNX Runtime's: ``threads``
            (intra-op threads, None: its default), ``graph_optimization``
            (``"disable"``, ``"basic"``, ``"extended"`` or ``"all"``),
            ``providers`` (execution providers in priority order, e.g.
            ``["CUDAExecutionProvider"]``; the CPU provider is always added
            last), ``device_id`` (the GPU for CUDA/TensorRT providers).
            Options of another backend are ignored; unknown ones are an error.
    """
    check_choice("backend", backend, BACKENDS)
    loader = LOADERS[DEFAULT_BACKEND if backend == "auto" else backend]
    known = {name for fn in LOADERS.values() for name in inspect.signature(fn).parameters}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidInputError(f"unknown backend option(s) {', '.join(unknown)}; the backends take "
                                f"{', '.join(sorted(known - {'model', 'weights'}))}")
    takes = inspect.signature(loader).parameters
    return loader(model, weights, **{k: v for k, v in options.items() if k in takes})
