"""What the task classes share: argument checks, labels, and the timed preprocess -> backend -> postprocess run.

``Detector``, ``Classifier`` and ``Segmenter`` each supply their own
``preprocess`` (the core's blob), ``backend`` and post-processing; ``run``
strings them together the same way for all of them: one image or a list (one
batch), timings per stage, results in the input's order.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Generic, Sequence, TypeVar, Union

import numpy as np

from . import darknet
from .errors import InvalidInputError
from .images import ImageLike, load_image

Size = Union[int, Sequence[int]]
Labels = Union[str, os.PathLike, Sequence[str]]
R = TypeVar("R")


def check_choice(name: str, value: str, allowed: Sequence[str]) -> str:
    """``value`` if it is one of ``allowed``, else an ``InvalidInputError`` naming ``name``."""
    if value not in allowed:
        raise InvalidInputError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def check_size(value: Size, name: str = "input_size") -> tuple[int, int]:
    """An int or ``(width, height)`` as a positive ``(width, height)``."""
    values = [value] * 2 if isinstance(value, (int, np.integer)) else list(value)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise InvalidInputError(f"{name} must be an int or (width, height), got {value!r}")
    w, h = (int(v) for v in values)
    if w <= 0 or h <= 0:
        raise InvalidInputError(f"{name} must be positive, got {w}x{h}")
    return w, h


def read_labels(labels: Labels | None) -> list[str] | None:
    """Class names from a file (one per line) or a sequence; None stays None."""
    if labels is None:
        return None
    if isinstance(labels, (str, os.PathLike)):
        return darknet.read_names(labels)
    return [str(n) for n in labels]


@dataclass
class Run(Generic[R]):
    """One call of a task: the decoded images, the post-processing's result and the timings."""

    single: bool
    images: list[np.ndarray]
    outputs: list[np.ndarray]
    transforms: np.ndarray
    result: R
    timings: dict[str, float]

    def image_size(self, i: int) -> list[int]:
        """``[width, height]`` of image ``i``."""
        return [self.images[i].shape[1], self.images[i].shape[0]]

    def unwrap(self, items: list[Any]) -> Any:
        """One item for one image in, the list for a list in."""
        return items[0] if self.single else items


def run(task: Any, source: ImageLike | Sequence[ImageLike],
        postprocess: Callable[[list[np.ndarray], np.ndarray], R]) -> Run[R] | None:
    """Loads ``source`` (an image or a list: one batch), then ``task.preprocess``,
    ``task.backend.forward`` and ``postprocess(outputs, transforms)``, timed.

    Returns None for an empty list.
    """
    single = not isinstance(source, (list, tuple))
    sources = [source] if single else list(source)
    if not sources:
        return None
    t0 = time.perf_counter()
    images = [load_image(s, name="image" if single else f"images[{i}]") for i, s in enumerate(sources)]
    t1 = time.perf_counter()
    blob, transforms = task.preprocess(images)
    t2 = time.perf_counter()
    outputs = task.backend.forward(blob)
    t3 = time.perf_counter()
    result = postprocess(outputs, transforms)
    t4 = time.perf_counter()
    timings = {"load_ms": (t1 - t0) * 1e3, "preprocess_ms": (t2 - t1) * 1e3, "forward_ms": (t3 - t2) * 1e3,
               "postprocess_ms": (t4 - t3) * 1e3, "total_ms": (t4 - t0) * 1e3, "batch": len(images)}
    return Run(single, images, outputs, transforms, result, timings)
