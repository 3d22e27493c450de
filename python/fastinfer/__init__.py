"""fastinfer: fast inference for vision models.

A C++ core does the pre-processing, decoding and NMS; backends run the
network; this package is the small API around them::

    import fastinfer
    det = fastinfer.Detector("yolov3-tiny")
    dets = det("street.jpg")
    print(dets.to_json())

fastinfer logs through ``logging`` (one logger per module under
``"fastinfer"``); it adds no handler of its own beyond a ``NullHandler``.
"""

import importlib
import logging
from typing import Any

from . import backends as _backends
from . import models
from ._version import __version__
from .classifier import Classifier
from .coco_eval import ValResult, val
from .detections import Detections
from .detector import Detector
from .errors import BackendError, BackendUnavailableError, FastInferError, InvalidInputError, ModelLoadError
from .exporting import ExportError, ExportReport, export
from .images import load_image, read_image, write_image
from .model_info import ModelInfo, info
from .preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from .quantization import quantize
from .results import Classification, Segmentation
from .segmenter import Segmenter
from .ssd import SSDConfig, SSDPriors
from .stream import Stream, StreamWarning, VideoReader, VideoWriter
from .tasks import Task

logging.getLogger(__name__).addHandler(logging.NullHandler())

# ONNX Runtime is loaded into the core now, so an installed onnxruntime that
# is too old (or broken) is reported here rather than at the first model.
if _backends.onnxruntime_library() is not None:
    try:
        _backends.load_onnxruntime()
    except BackendUnavailableError as _exc:
        raise ImportError(f"fastinfer: {_exc}") from _exc


def __getattr__(name: str) -> Any:
    # fastinfer.convert imports the onnx package: loaded on first use only.
    if name == "convert":
        return importlib.import_module(f"{__name__}.convert")
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
