"""Classification results: the top classes of one image."""

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
class Classification(JsonResult):
    """The top classes of one image, best first.

    Attributes:
        class_id: ``(k,)`` int64 class indices.
        confidence: ``(k,)`` float32 probabilities (softmax of the model's
            output, or the output itself when the model applies softmax).
        names: the model's class names, indexed by ``class_id`` (``class_names``: deprecated).
        metadata: backend, input size, whether softmax was applied, the part
            of the image the model saw (``crop_xyxy``), timings (ms).

    Example:
        >>> clf = fastinfer.Classifier("efficientnet-lite0.onnx", mean=(127 / 255,) * 3, std=(128 / 255,) * 3)
        >>> result = clf("cat.png", top_k=3)
        >>> result.top
        ('tiger cat', 0.41)
        >>> annotated = result.draw(fastinfer.read_image("cat.png"))
    """

    class_id: np.ndarray
    confidence: np.ndarray
    names: Sequence[str] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        """The class name of each entry (the id as text when it has no name)."""
        return labels_for(self.names, self.class_id)

    def __post_init__(self) -> None:
        class_id = np.asarray(self.class_id, dtype=np.int64)
        confidence = np.asarray(self.confidence, dtype=np.float32)
        if class_id.ndim != 1 or confidence.shape != class_id.shape:
            raise InvalidInputError(f"class_id and confidence must both have shape (k,), got {class_id.shape} and "
                                    f"{confidence.shape}")
        object.__setattr__(self, "class_id", class_id)
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "names", tuple(self.names))

    @property
    def top(self) -> tuple[str, float]:
        """``(label, confidence)`` of the best class."""
        if not len(self):
            raise IndexError("this Classification holds no classes")
        return self.labels[0], float(self.confidence[0])

    def __len__(self) -> int:
        return len(self.class_id)

    def __iter__(self) -> Iterator[tuple[int, float, str]]:
        """Yields ``(class_id, confidence, label)``, best first."""
        yield from zip(self.class_id.tolist(), self.confidence.tolist(), self.labels)

    def __repr__(self) -> str:
        items = ", ".join(f"{label}:{score:.3f}" for _, score, label in self)
        return f"Classification([{items}])"

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types: one entry per class, best first, plus the metadata."""
        return {
            "classes": [{"class_id": cid, "label": label, "confidence": round(score, 6)} for cid, score, label in self],
            "metadata": jsonable(self.metadata),
        }

    def draw(self, image: np.ndarray) -> np.ndarray:
        """Returns a BGR copy of ``image`` with the best ``label: 0.83`` written at the top left."""
        image = as_uint8_image(image)
        if not len(self):
            return np.array(_core.to_bgr(image))
        label, score = self.top
        return _core.draw_banner(image, f"{label}: {score:.2f}")
