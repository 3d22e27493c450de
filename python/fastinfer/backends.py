"""Loading a model on an inference backend."""

from __future__ import annotations

from pathlib import Path

from . import _core
from .errors import InvalidInputError

BACKENDS = ("auto", "opencv")


def load(model: Path, weights: Path | None, backend: str = "auto") -> _core.Backend:
    """Loads a Darknet cfg (+ weights) or an ONNX file on ``backend``.

    The returned object's ``forward(blob)`` takes an NCHW float32 blob and
    returns the output arrays; it releases the GIL and is safe to call from
    several threads.
    """
    if backend not in BACKENDS:
        raise InvalidInputError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if model.suffix.lower() == ".onnx":
        return _core.opencv_from_onnx(str(model))
    if weights is None:
        raise InvalidInputError(f"Darknet model {str(model)!r} needs a weights file")
    return _core.opencv_from_darknet(str(model), str(weights))
