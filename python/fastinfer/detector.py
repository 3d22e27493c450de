"""Object detection: preprocess -> backend -> postprocess."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Sequence, Union, overload

import numpy as np

from . import _core, backends, darknet, models
from .detections import Detections
from .errors import InvalidInputError, ModelLoadError
from .images import ImageLike, load_image

log = logging.getLogger("fastinfer")

Size = Union[int, Sequence[int]]


def _check_unit(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"{name} must be in [0, 1], got {value}")
    return value


def _size(value: Size) -> tuple[int, int]:
    values = [value] * 2 if isinstance(value, (int, np.integer)) else list(value)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise InvalidInputError(f"input_size must be an int or (width, height), got {value!r}")
    w, h = (int(v) for v in values)
    if w <= 0 or h <= 0:
        raise InvalidInputError(f"input_size must be positive, got {w}x{h}")
    return w, h


class Detector:
    """A YOLO-style object detector.

    Args:
        model: a Darknet ``.cfg`` path (the ``.weights`` with the same stem
            beside it is used), an ONNX file whose outputs are Darknet-style
            rows, or a model zoo name such as ``"yolov3-tiny"``.
        weights: the Darknet weights file, when it is not beside the cfg.
        names: class names: a ``.names`` file or a list. Default: a
            ``*.names`` file beside the cfg, else the 80 COCO names.
        input_size: network input, an int or ``(width, height)``. Default:
            the cfg's ``[net] width/height``.
        conf: keep detections whose best class score is above this.
        iou: NMS overlap threshold.
        letterbox: keep the aspect ratio and pad (Darknet's letterbox) instead
            of stretching the image to the input size.
        backend: ``"auto"`` or ``"opencv"``.
        class_agnostic: one NMS over all classes instead of one per class.
        max_det: keep at most this many detections per image (None: all).

    Example:
        >>> det = fastinfer.Detector("yolov3-tiny")
        >>> dets = det("dog.jpg")
        >>> annotated = dets.draw(fastinfer.read_image("dog.jpg"))
    """

    def __init__(self, model: str | os.PathLike[str], weights: str | os.PathLike[str] | None = None,
                 names: str | os.PathLike[str] | Sequence[str] | None = None, *, input_size: Size | None = None,
                 conf: float = 0.25, iou: float = 0.45, letterbox: bool = False, backend: str = "auto",
                 class_agnostic: bool = False, max_det: int | None = None) -> None:
        self.conf = _check_unit("conf", conf)
        self.iou = _check_unit("iou", iou)
        if max_det is not None and max_det < 1:
            raise InvalidInputError(f"max_det must be None or >= 1, got {max_det}")
        self.max_det = max_det
        self.class_agnostic = bool(class_agnostic)
        self.mode = "letterbox" if letterbox else "stretch"
        # The classic Darknet demo: 1/255, RGB order, no mean.
        self.scale, self.swap_rb, self.mean, self.std = 1.0 / 255.0, True, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)

        path = Path(model)
        if not path.is_file():
            zoo = models.resolve(os.fspath(model))
            if zoo is None:
                raise ModelLoadError(f"model file '{model}' does not exist and is not a model zoo name "
                                     f"(available: {', '.join(models.available())})")
            path, weights = zoo.cfg, weights if weights is not None else zoo.weights
            names = names if names is not None else zoo.names
        suffix = path.suffix.lower()
        if suffix == ".onnx":
            self.names = tuple(darknet.read_names(names)) if isinstance(names, (str, os.PathLike)) else tuple(
                names or darknet.coco_names())
            if input_size is None:
                raise InvalidInputError(f"input_size is required for ONNX model '{path}'")
            self.input_size = _size(input_size)
            self.model_path, self.weights_path = path, None
        elif suffix == ".cfg":
            resolved = darknet.resolve(path, weights, names)
            self.names = resolved.names
            self.input_size = _size(input_size) if input_size is not None else resolved.input_size
            self.model_path, self.weights_path = resolved.cfg, resolved.weights
            log.debug("class names from %s", resolved.names_source)
        else:
            raise ModelLoadError(f"cannot tell the format of model '{path}': expected a Darknet .cfg or an .onnx file")
        if suffix == ".cfg" and backend == "auto":
            backend = "opencv"
        self.backend = backends.load(self.model_path, self.weights_path, backend)

    def __repr__(self) -> str:
        w, h = self.input_size
        return (f"Detector(model='{self.model_path}', backend='{self.backend.name}', input_size={w}x{h}, "
                f"classes={len(self.names)}, conf={self.conf}, iou={self.iou}, mode='{self.mode}')")

    def preprocess(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """BGR images -> (NCHW float32 blob, per-image transforms)."""
        return _core.make_blob(list(images), self.input_size, self.mode, self.swap_rb, self.scale, list(self.mean),
                               list(self.std))

    def postprocess(self, outputs: Sequence[np.ndarray], transforms: np.ndarray, *, conf: float | None = None,
                    iou: float | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Darknet rows -> per image ``(xyxy, confidence, class_id)`` in original-image pixels."""
        conf = self.conf if conf is None else _check_unit("conf", conf)
        iou = self.iou if iou is None else _check_unit("iou", iou)
        expected = 5 + len(self.names)
        for out in outputs:
            if out.shape[-1] != expected:
                raise InvalidInputError(
                    f"model output of shape {out.shape} does not hold Darknet rows for {len(self.names)} classes "
                    f"(expected a last dimension of {expected})")
        return _core.postprocess_darknet(list(outputs), transforms, self.input_size, conf, iou, self.class_agnostic,
                                         self.max_det or 0)

    @overload
    def __call__(self, source: ImageLike, *, conf: float | None = ..., iou: float | None = ...) -> Detections: ...

    @overload
    def __call__(self, source: Sequence[ImageLike], *, conf: float | None = ...,
                 iou: float | None = ...) -> list[Detections]: ...

    def __call__(self, source, *, conf=None, iou=None):
        """Detects objects in one image (path or BGR array) or a list of them (one batch).

        Returns:
            ``Detections`` for one image, a list of them for a list.
        """
        single = not isinstance(source, (list, tuple))
        sources = [source] if single else list(source)
        if not sources:
            return []
        t0 = time.perf_counter()
        images = [load_image(s, name="image" if single else f"images[{i}]") for i, s in enumerate(sources)]
        t1 = time.perf_counter()
        blob, transforms = self.preprocess(images)
        t2 = time.perf_counter()
        outputs = self.backend.forward(blob)
        t3 = time.perf_counter()
        results = self.postprocess(outputs, transforms, conf=conf, iou=iou)
        t4 = time.perf_counter()
        timings = {"load_ms": (t1 - t0) * 1e3, "preprocess_ms": (t2 - t1) * 1e3, "forward_ms": (t3 - t2) * 1e3,
                   "postprocess_ms": (t4 - t3) * 1e3, "total_ms": (t4 - t0) * 1e3, "batch": len(images)}
        meta = {"backend": self.backend.name, "input_size": list(self.input_size), "mode": self.mode,
                "timings": timings}
        dets = [Detections(xyxy, score, cid, self.names, dict(meta, image_size=[img.shape[1], img.shape[0]]))
                for (xyxy, score, cid), img in zip(results, images)]
        return dets[0] if single else dets
