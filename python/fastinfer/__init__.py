"""fastinfer: fast inference for vision models.

A C++ core does the pre-processing, decoding and NMS; backends run the
network; this package is the small API around them::

    import fastinfer
    det = fastinfer.Detector("yolov3-tiny")
    dets = det("street.jpg")
    print(dets.to_json())
"""

from importlib.metadata import PackageNotFoundError, version

from . import backends as _backends
from . import convert, models
from .coco_eval import ValResult, val
from .classifier import IMAGENET_MEAN, IMAGENET_STD, Classification, Classifier
from .detections import Detections
from .detector import Detector, Preprocessing
from .errors import BackendError, BackendUnavailableError, FastInferError, InvalidInputError, ModelLoadError
from .exporting import ExportError, ExportReport, export
from .images import load_image, read_image, write_image
from .model_info import ModelInfo, info
from .quantization import quantize
from .segmenter import Segmentation, Segmenter
from .ssd import SSDConfig, SSDPriors
from .stream import StreamWarning, VideoReader, VideoWriter

# ONNX Runtime is loaded into the core now, so an installed onnxruntime that
# is too old (or broken) is reported here rather than at the first model.
if _backends.onnxruntime_library() is not None:
    try:
        _backends.load_onnxruntime()
    except BackendUnavailableError as _exc:
        raise ImportError(f"fastinfer: {_exc}") from _exc

try:
    __version__ = version("fastinfer")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "Detector",
    "Classifier",
    "Classification",
    "Segmenter",
    "Segmentation",
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
