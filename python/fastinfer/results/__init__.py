"""Result types of the tasks: ``Detections``, ``Classification`` and ``Segmentation``.

Each holds parallel numpy arrays, the model's class ``names`` and a
``metadata`` dict (backend, input size, mode, timings, image size).
"""

from .classification import Classification
from .detections import Detections
from .segmentation import Segmentation, palette

__all__ = ["Detections", "Classification", "Segmentation", "palette"]
