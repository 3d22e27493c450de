"""Detection results: parallel numpy arrays, named as supervision names them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from .. import _core
from .._deprecation import rename_names
from ..errors import InvalidInputError
from ._common import JsonResult, as_uint8_image, jsonable, labels_for


@rename_names
@dataclass(frozen=True)
class Detections(JsonResult):
    """Objects found in one image.

    Attributes:
        xyxy: ``(N, 4)`` float32 boxes ``x1, y1, x2, y2`` in original-image pixels.
        confidence: ``(N,)`` float32 scores.
        class_id: ``(N,)`` int64 class indices.
        names: the model's class names, indexed by ``class_id`` (``class_names``: deprecated).
        metadata: backend, input size, timings (ms) and the like.

    Example:
        >>> import fastinfer
        >>> det = fastinfer.Detector("yolov3-tiny")
        >>> dets = det("dog.jpg")
        >>> strong = dets[dets.confidence > 0.5]
        >>> [f"{label} {score:.2f}" for label, score in zip(strong.labels, strong.confidence)]
        ['dog 0.83', 'car 0.73', 'truck 0.58']
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    names: Sequence[str] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32)
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        class_id = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise InvalidInputError(f"xyxy must have shape (N, 4), got {xyxy.shape}")
        n = len(xyxy)
        if confidence.shape != (n,):
            raise InvalidInputError(f"confidence must have shape ({n},), got {confidence.shape}")
        if class_id.shape != (n,):
            raise InvalidInputError(f"class_id must have shape ({n},), got {class_id.shape}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "class_id", class_id)
        object.__setattr__(self, "names", tuple(self.names))

    @classmethod
    def empty(cls, names: Sequence[str] = ()) -> Detections:
        """Detections with no boxes."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), names)

    @property
    def labels(self) -> list[str]:
        """The class name of each detection (the id as text when it has no name)."""
        return labels_for(self.names, self.class_id)

    def __len__(self) -> int:
        return len(self.confidence)

    def __iter__(self) -> Iterator[tuple[np.ndarray, float, int, str]]:
        """Yields ``(xyxy, confidence, class_id, label)`` per detection."""
        yield from zip(self.xyxy, self.confidence.tolist(), self.class_id.tolist(), self.labels)

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Detections:
        """Selects detections by int, slice, index array or boolean mask."""
        if isinstance(index, (int, np.integer)):
            if not -len(self) <= index < len(self):
                raise IndexError(f"detection index {index} out of range for {len(self)} detections")
            index = [int(index)]
        if isinstance(index, np.ndarray) and index.dtype == bool and index.shape != (len(self),):
            raise IndexError(f"boolean mask must have shape ({len(self)},), got {index.shape}")
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index], self.names,
                          dict(self.metadata))

    def __repr__(self) -> str:
        items = ", ".join(f"{label}:{score:.2f}" for _, score, _, label in self)
        return f"Detections({len(self)}: [{items}])"

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types, one entry per detection, plus the metadata."""
        return {
            "detections": [
                {"xyxy": [round(float(v), 2) for v in box], "confidence": round(score, 5), "class_id": cid,
                 "label": label}
                for box, score, cid, label in self
            ],
            "metadata": jsonable(self.metadata),
        }

    def draw(self, image: np.ndarray) -> np.ndarray:
        """Returns a BGR copy of ``image`` with each box and ``label:0.83`` drawn on it."""
        image = as_uint8_image(image)
        return _core.draw_detections(image, self.xyxy, self.confidence, self.class_id.astype(np.int32), self.labels)

    def to_supervision(self) -> Any:
        """The same detections as ``supervision.Detections`` (needs ``pip install supervision``)."""
        try:
            import supervision as sv
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_supervision() needs the supervision package: pip install supervision") from exc
        return sv.Detections(xyxy=self.xyxy.copy(), confidence=self.confidence.copy(), class_id=self.class_id.copy(),
                             data={"class_name": np.array(self.labels, dtype=str)})

