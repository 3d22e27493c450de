"""Classification results: the top classes of one image."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from .. import _core
from .._deprecation import rename_names
from ..errors import InvalidInputError
from ..io.images import ImageLike
from ._common import (
    JsonResult,
    as_uint8_image,
    check_line_width,
    check_orig_shape,
    jsonable,
    labels_for,
    save_drawn,
    size_text,
    source_image,
    summary,
    to_frame,
)

#: The columns of ``Classification.to_records()`` / ``to_pandas()``.
RECORD_COLUMNS = ("rank", "class_id", "label", "confidence")


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
            of the image the model saw (``crop_xyxy``), timings (ms), the image's size and, when the
            task read a file, its ``path``.
        orig_shape: ``(height, width)`` of the original image (default: the metadata's
            ``image_size``); None when unknown.

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
    orig_shape: tuple[int, int] | None = None

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
        object.__setattr__(self, "orig_shape", check_orig_shape(self.orig_shape, self.metadata))

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
        """``Classification(top 3: tiger cat 0.41, tabby 0.30, Egyptian cat 0.12; 451x300, onnxruntime)``, cut to
        about 200 characters."""
        items = [(label, f"{score:.3f}") for _, score, label in self]
        return f"Classification({summary(items, f'top {len(self)}', size_text(self.orig_shape, self.metadata), 182)})"

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types: one entry per class, best first, plus the metadata."""
        return {
            "classes": [{"class_id": cid, "label": label, "confidence": round(score, 6)} for cid, score, label in self],
            "metadata": jsonable(self.metadata),
        }

    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per class, best first: ``rank`` (0 = best), ``class_id``, ``label``, ``confidence``."""
        return [{"rank": rank, "class_id": cid, "label": label, "confidence": score}
                for rank, (cid, score, label) in enumerate(self)]

    def to_pandas(self) -> Any:
        """``to_records()`` as a ``pandas.DataFrame`` (needs ``pip install pandas``)."""
        return to_frame(self.to_records(), RECORD_COLUMNS, "Classification")

    def draw(self, image: np.ndarray, *, line_width: int | None = None) -> np.ndarray:
        """Returns a BGR copy of ``image`` with the best ``label: 0.83`` written at the top left.

        ``line_width``: the text's scale in pixels of stroke (None: scaled to the image, as ``Detections.draw``).
        """
        image = as_uint8_image(image)
        line_width = check_line_width(line_width)
        if not len(self):
            return np.array(_core.to_bgr(image))
        label, score = self.top
        return _core.draw_banner(image, f"{label}: {score:.2f}", line_width)

    def save(self, filename: str | os.PathLike[str] | None = None, *, image: ImageLike | None = None,
             line_width: int | None = None) -> str:
        """Writes the annotated image (``draw``) and returns its path: ``filename``, default ``results_<name of
        the source file>``; ``image`` default: the file the classifier read (``metadata["path"]``)."""
        pixels = source_image(image, self.metadata, self.orig_shape, "Classification.save()")
        return save_drawn(self.draw(pixels, line_width=line_width), filename, self.metadata)
