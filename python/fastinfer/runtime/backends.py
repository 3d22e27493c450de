"""Loading a model on an inference backend.

Backends:
    ``onnxruntime``: ONNX Runtime through its C API, from the C++ core. The
        core loads the library that the installed ``onnxruntime`` wheel ships,
        so any version at least as new as the headers it was built with works.
        Darknet models run on it after conversion to ONNX (cached).
    ``opencv``: OpenCV's DNN module (Darknet cfg/weights or ONNX).
    ``torch``: PyTorch on the CPU or CUDA (``fastinfer.torch``): TorchScript
        files, ``torch.export`` programs, ``nn.Module`` objects; the tasks
        build Darknet cfgs as torch modules for it.
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
from ..validate import check_choice, check_providers, check_threads

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
    threads = check_threads("threads", threads)  # issue 17, defects 6 and 11
    providers = check_providers(providers)
    if model.suffix.lower() != ".onnx":
        raise InvalidInputError(f"the onnxruntime backend runs .onnx files, got '{model}' (convert it first)")
    load_onnxruntime()
    return _core.onnxruntime_from_file(str(model), threads or 0, 0, graph_optimization, providers,
                                       int(device_id))


def _opencv(model: Path, weights: Path | None) -> _core.Backend:
    """OpenCV's DNN module: an ``.onnx`` file, or a Darknet cfg with its weights."""
    if model.suffix.lower() == ".onnx":
        return _core.opencv_from_onnx(str(model))
    if weights is None:
        raise InvalidInputError(f"Darknet model {str(model)!r} needs a weights file")
    return _core.opencv_from_darknet(str(model), str(weights))


def _torch(model: Any, weights: Path | None, *, device: str = "cpu", half: bool = False, cuda_graph: bool = False,
           compile: bool = False, device_pipeline: bool | None = None) -> Any:
    """PyTorch (``fastinfer.torch``): a TorchScript file, a ``torch.export`` program (``.pt2``) or an
    ``nn.Module``, on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``), FP16 with ``half``, replayed
    from CUDA graphs with ``cuda_graph``, ``torch.compile``d with ``compile``."""
    if weights is not None:
        raise InvalidInputError("the torch backend runs a torch program or module; Darknet weights are read by "
                                "fastinfer.torch.darknet (the tasks do this for a .cfg)")
    from .. import torch as fastinfer_torch  # BackendUnavailableError naming the pip command without torch

    return fastinfer_torch.TorchBackend(model, device=device, half=half, cuda_graph=cuda_graph, compile=compile,
                                        device_pipeline=device_pipeline)


#: The backends by name: each loader takes the model (and Darknet weights) and its own keyword
#: options, and returns an object with ``name``, ``output_names`` and ``forward(blob) -> outputs``.
#: A new backend is one loader here (its runtime in a module of its own).
LOADERS: dict[str, Callable[..., Any]] = {"onnxruntime": _onnxruntime, "opencv": _opencv, "torch": _torch}
#: Options only the torch backend understands, refused elsewhere rather than ignored (half=True on ONNX
#: Runtime would silently run FP32).
TORCH_ONLY = {"device": "cpu", "half": False, "cuda_graph": False, "compile": False, "device_pipeline": None}
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
    name = DEFAULT_BACKEND if backend == "auto" else backend
    loader = LOADERS[name]
    if name != "torch":
        given = [f"{k}={options[k]!r}" for k, default in TORCH_ONLY.items() if options.get(k) not in (None, default)]
        if given:
            raise InvalidInputError(f"{', '.join(given)} is for backend='torch'; the {name} backend runs on the CPU "
                                    "(ONNX Runtime takes GPUs through providers=[\"CUDAExecutionProvider\"])")
        options = {k: v for k, v in options.items() if k not in TORCH_ONLY}
    known = {param for fn in LOADERS.values() for param in inspect.signature(fn).parameters}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidInputError(f"unknown backend option(s) {', '.join(unknown)}; the backends take "
                                f"{', '.join(sorted(known - {'model', 'weights'}))}")
    takes = inspect.signature(loader).parameters
    return loader(model, weights, **{k: v for k, v in options.items() if k in takes and v is not None})
