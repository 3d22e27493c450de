"""The tasks: ``Detector``, ``Classifier`` and ``Segmenter`` on one base (``Task``) with one ``Preprocessing``.

A new task is one module here: a ``Task`` subclass with ``postprocess``,
``make_result`` (and ``check_options``/``metadata_extra`` when it has
options or metadata of its own), plus its result class in ``results/``.
"""

from .base import Run, Task, read_names, run
from .classify import Classifier
from .detect import Detector
from .preprocessing import IMAGENET_MEAN, IMAGENET_STD, PRESETS, Preprocessing
from .segment import Segmenter

__all__ = ["Task", "Run", "run", "read_names", "Detector", "Classifier", "Segmenter", "Preprocessing", "PRESETS",
           "IMAGENET_MEAN", "IMAGENET_STD"]
