"""fastinfer: fast inference for vision models.

A C++ core does the pre-processing, decoding and NMS; backends run the
network; this package is the small API around them::

    import fastinfer
    det = fastinfer.Detector("yolov3-tiny")
    dets = det("street.jpg")
    print(dets.to_json())
"""

from importlib.metadata import PackageNotFoundError, version

from . import models
from .detections import Detections
from .detector import Detector
from .errors import BackendError, FastInferError, InvalidInputError, ModelLoadError
from .images import load_image, read_image, write_image

try:
    __version__ = version("fastinfer")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "Detector",
    "Detections",
    "FastInferError",
    "ModelLoadError",
    "InvalidInputError",
    "BackendError",
    "load_image",
    "read_image",
    "write_image",
    "models",
    "__version__",
]
