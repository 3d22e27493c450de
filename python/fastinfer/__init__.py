"""fastinfer: fast inference for vision models.

A C++ core does the pre-processing, decoding and NMS; backends run the
network; this package is the small API around them::

    import fastinfer
    det = fastinfer.Detector("yolov3-tiny")
    dets = det("street.jpg")
    print(dets.to_json())

fastinfer logs through ``logging`` (one logger per module under
``"fastinfer"``); it adds no handler of its own beyond a ``NullHandler``.

Layout, lowest layer first (imports point down; ``tests/test_layers.py`` checks it):
``errors``/``validate`` -> ``io`` (images, streams), ``formats`` (ONNX, Darknet, heads, SSD),
``runtime`` (backends, cache, INT8), ``models`` (zoo), ``convert`` -> ``results`` -> ``tasks``
-> ``tools`` (info, export, bench, doctor) -> ``cli``.
"""

import importlib
import importlib.abc
import importlib.machinery
import logging
import sys
import types
from typing import TYPE_CHECKING, Any

from . import _native

_native.install(sys.modules[__name__])  # before anything imports the core: it loads on first use

from . import models
from ._version import __version__
from .errors import BackendError, BackendUnavailableError, FastInferError, InvalidInputError, ModelLoadError
from .formats.ssd import SSDConfig, SSDPriors
from .io.images import ImageWarning, load_image, read_image, write_image
from .io.stream import Stream, StreamWarning
from .results import Classification, Segmentation
from .results.detections import Detections
from .runtime.quantization import quantize
from .tasks.base import Task
from .tasks.classify import Classifier
from .tasks.detect import Detector
from .tasks.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from .tasks.segment import Segmenter
from .tools.export import ExportError, ExportReport, export
from .tools.info import ModelInfo, info
from .tools.val import ValResult, val

if TYPE_CHECKING:  # the class the core defines, spelled out for type checkers (the generated stub cannot)
    import numpy as _np

    class Transforms(_np.ndarray):
        """Where each image went in the network input: the (N, 6) float64 record of ``make_blob``."""

        FIELDS: tuple[str, ...]
        scale_x: _np.ndarray
        scale_y: _np.ndarray
        pad_x: _np.ndarray
        pad_y: _np.ndarray
        image_width: _np.ndarray
        image_height: _np.ndarray
    from ._core import VideoReader, VideoWriter

logging.getLogger(__name__).addHandler(logging.NullHandler())

#: Names read from the native core when first used (the core loads then, see ``_native``).
_FROM_CORE = ("Transforms", "VideoReader", "VideoWriter")


#: Module paths of fastinfer 0.1 -> the modules that hold that code now; both import paths work.
_MOVED = {
    "detector": "tasks.detect", "classifier": "tasks.classify", "segmenter": "tasks.segment",
    "preprocessing": "tasks.preprocessing", "detections": "results.detections", "stream": "io.stream",
    "images": "io.images", "backends": "runtime.backends", "quantization": "runtime.quantization",
    "heads": "formats.heads", "ssd": "formats.ssd", "darknet": "formats.darknet", "model_info": "tools.info",
    "exporting": "tools.export", "benchmarking": "tools.bench", "doctor": "tools.doctor", "coco_eval": "tools.val",
}


_SPECS: dict[str, Any] = {}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import fastinfer.detector`` (and the other old paths) gives the module that now holds the code."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != __name__ or name not in _MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = importlib.import_module(f"{__name__}.{_MOVED[spec.name.rpartition('.')[2]]}")
        # The import system gives the module the old path's spec; exec_module puts its own back.
        _SPECS.setdefault(module.__name__, module.__spec__)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__ = _SPECS[module.__name__]  # already executed under its new name


sys.meta_path.append(_MovedModules())


def __getattr__(name: str) -> Any:
    if name in _FROM_CORE:
        return getattr(_native.load(), name)
    # fastinfer.convert imports the onnx package: loaded on first use only; old module paths likewise.
    if name == "convert" or name in _MOVED:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'fastinfer' has no attribute {name!r}")


__all__ = [
    "Detector",
    "Classifier",
    "Classification",
    "Segmenter",
    "Segmentation",
    "Task",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Detections",
    "Preprocessing",
    "Transforms",
    "SSDConfig",
    "SSDPriors",
    "FastInferError",
    "ModelLoadError",
    "InvalidInputError",
    "BackendError",
    "BackendUnavailableError",
    "load_image",
    "read_image",
    "write_image",
    "models",
    "convert",
    "quantize",
    "Stream",
    "StreamWarning",
    "ImageWarning",
    "VideoReader",
    "VideoWriter",
    "info",
    "ModelInfo",
    "export",
    "ExportReport",
    "ExportError",
    "val",
    "ValResult",
    "__version__",
]
