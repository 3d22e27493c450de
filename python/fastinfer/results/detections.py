"""Detection results: parallel numpy arrays, named as supervision names them."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from .. import _core
from .._deprecation import rename_names
from ..errors import InvalidInputError
from ..formats.darknet import COCO_CATEGORY_IDS, coco_names
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

#: The columns of ``Detections.to_records()`` / ``to_pandas()``.
RECORD_COLUMNS = ("class_id", "label", "confidence", "x1", "y1", "x2", "y2")


@rename_names
@dataclass(frozen=True)
class Detections(JsonResult):
    """Objects found in one image.

    Attributes:
        xyxy: ``(N, 4)`` float32 boxes ``x1, y1, x2, y2`` in original-image pixels.
        confidence: ``(N,)`` float32 scores.
        class_id: ``(N,)`` int64 class indices.
        names: the model's class names, indexed by ``class_id`` (``class_names``: deprecated).
        metadata: backend, input size, timings (ms), the image's size and, when the task read a
            file, its ``path``.
        orig_shape: ``(height, width)`` of the original image (default: the metadata's
            ``image_size``); None when unknown.

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
    orig_shape: tuple[int, int] | None = None

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
        object.__setattr__(self, "orig_shape", check_orig_shape(self.orig_shape, self.metadata))

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
                          dict(self.metadata), self.orig_shape)

    def __repr__(self) -> str:
        """``Detections(3 boxes: dog 1, car 1, truck 1; 768x576, onnxruntime)``: counts per class, most
        frequent first, cut to about 200 characters whatever the number of boxes."""
        counts = Counter(self.labels).most_common()
        head = f"{len(self)} box{'es' if len(self) != 1 else ''}"
        return f"Detections({summary(counts, head, size_text(self.orig_shape, self.metadata), 186)})"

    # ------------------------------------------------------------ box formats

    @property
    def xywh(self) -> np.ndarray:
        """``(N, 4)`` float32 boxes as centre x, centre y, width, height in pixels."""
        x1, y1, x2, y2 = self.xyxy.T
        return np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], axis=1).astype(np.float32)

    def _image_scale(self, what: str) -> np.ndarray:
        if self.orig_shape is None:
            raise InvalidInputError(f"Detections.{what} needs the image size, which these detections do not know: "
                                    "pass orig_shape=(height, width) when making them")
        height, width = self.orig_shape
        return np.array([width, height, width, height], np.float32)

    @property
    def xyxyn(self) -> np.ndarray:
        """``(N, 4)`` float32 ``xyxy`` divided by the original image's width and height (0..1)."""
        return self.xyxy / self._image_scale("xyxyn")

    @property
    def xywhn(self) -> np.ndarray:
        """``(N, 4)`` float32 ``xywh`` divided by the original image's width and height (0..1)."""
        return self.xywh / self._image_scale("xywhn")

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

    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per detection: ``class_id``, ``label``, ``confidence``, ``x1``, ``y1``, ``x2``, ``y2``
        (Python numbers; a list of them makes a table in pandas, polars or csv)."""
        return [{"class_id": cid, "label": label, "confidence": score, "x1": box[0], "y1": box[1], "x2": box[2],
                 "y2": box[3]}
                for box, score, cid, label in zip(self.xyxy.tolist(), self.confidence.tolist(),
                                                  self.class_id.tolist(), self.labels)]

    def to_pandas(self) -> Any:
        """``to_records()`` as a ``pandas.DataFrame`` (the same columns when empty; needs ``pip install pandas``)."""
        return to_frame(self.to_records(), RECORD_COLUMNS, "Detections")

    def to_coco(self, image_id: int | str, category_ids: Sequence[int] | Mapping[int, int] | None = None
                ) -> list[dict[str, Any]]:
        """The detections in COCO's results format, as ``pycocotools``' ``loadRes`` and COCO evaluation read it.

        Args:
            image_id: the image's id in the dataset.
            category_ids: the category id of each class id (a sequence indexed by class id, or a mapping;
                classes a mapping leaves out are dropped). Default: COCO's own ids (1..90, with gaps) when
                the names are the 80 COCO names, else the class id itself.

        Returns:
            ``[{"image_id", "category_id", "bbox": [x, y, width, height], "score"}, ...]``.
        """
        if isinstance(image_id, bool) or not isinstance(image_id, (int, np.integer, str)):
            raise InvalidInputError(f"image_id must be an int or str, got {type(image_id).__name__}")
        image_id = image_id if isinstance(image_id, str) else int(image_id)
        if category_ids is None:
            mapping: Mapping[int, int] | Sequence[int] = (COCO_CATEGORY_IDS if list(self.names) == coco_names()
                                                          else range(max(len(self.names), int(self.class_id.max(
                                                              initial=-1)) + 1)))
        elif isinstance(category_ids, (Mapping, Sequence, np.ndarray)) and not isinstance(category_ids, str):
            mapping = category_ids
        else:
            raise InvalidInputError(f"category_ids must be a sequence or mapping of ints, got "
                                    f"{type(category_ids).__name__}")
        out = []
        for (x1, y1, x2, y2), score, cid in zip(self.xyxy.tolist(), self.confidence.tolist(), self.class_id.tolist()):
            if isinstance(mapping, Mapping):
                if cid not in mapping:
                    continue
                category = mapping[cid]
            elif 0 <= cid < len(mapping):
                category = mapping[cid]
            else:
                raise InvalidInputError(f"category_ids has {len(mapping)} entries but a detection has class id {cid}")
            out.append({"image_id": image_id, "category_id": int(category), "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "score": score})
        return out

    # ------------------------------------------------------------ drawing

    def label_rects(self, line_width: int | None = None) -> np.ndarray:
        """Where ``draw`` puts each label: ``(N, 4)`` int32 ``x1, y1, x2, y2`` on the original image.

        A label sits above its box when there is room, else inside its top edge; labels of less confident
        boxes move up or down off those already placed, and all stay inside the image.
        """
        if self.orig_shape is None:
            raise InvalidInputError("label_rects() needs the image size: pass orig_shape=(height, width) when "
                                    "making the detections")
        height, width = self.orig_shape
        return _core.label_rects((width, height), self.xyxy, self.confidence, self.class_id.astype(np.int32),
                                 self.labels, check_line_width(line_width))

    def draw(self, image: np.ndarray, *, line_width: int | None = None) -> np.ndarray:
        """Returns a BGR copy of ``image`` with each box and ``label:0.83`` drawn on it.

        Args:
            image: the image the detections are for (HxW, HxWx1, HxWx3 or HxWx4 uint8).
            line_width: box line width in pixels (the labels' text scales with it); None: scaled to the
                image, ``max(round((width + height) / 2 * 0.003), 2)`` as Ultralytics does.
        """
        image = as_uint8_image(image)
        return _core.draw_detections(image, self.xyxy, self.confidence, self.class_id.astype(np.int32), self.labels,
                                     check_line_width(line_width))

    def save(self, filename: str | os.PathLike[str] | None = None, *, image: ImageLike | None = None,
             line_width: int | None = None) -> str:
        """Writes the annotated image (``draw``) and returns its path.

        Args:
            filename: where to write (the extension picks the format); default ``results_<name of the
                source file>`` in the current folder.
            image: the image the detections are for (a path or array); default: the file the detector
                read (``metadata["path"]``; no image is kept in memory).
            line_width: as in ``draw``.
        """
        pixels = source_image(image, self.metadata, self.orig_shape, "Detections.save()")
        return save_drawn(self.draw(pixels, line_width=line_width), filename, self.metadata)

    # ------------------------------------------------------------ supervision

    def to_supervision(self) -> Any:
        """The same detections as ``supervision.Detections`` (needs ``pip install supervision``).

        Class names go in ``data["class_name"]``; ``metadata`` keeps this result's metadata plus ``names``
        and ``orig_shape``, so ``Detections.from_supervision`` gets everything back.
        """
        sv = _supervision("to_supervision()")
        metadata = dict(self.metadata, names=list(self.names))
        if self.orig_shape is not None:
            metadata["orig_shape"] = list(self.orig_shape)
        return sv.Detections(xyxy=self.xyxy.copy(), confidence=self.confidence.copy(), class_id=self.class_id.copy(),
                             data={"class_name": np.array(self.labels, dtype=str)}, metadata=metadata)

    @classmethod
    def from_supervision(cls, detections: Any, names: Sequence[str] | None = None) -> Detections:
        """``supervision.Detections`` as fastinfer ``Detections``.

        Args:
            detections: a ``supervision.Detections`` with ``class_id`` (``confidence`` missing: 1.0 each).
            names: the class names; default: those ``to_supervision`` stored, else the ``class_name`` data.

        Raises:
            InvalidInputError: it is not a ``supervision.Detections``, has no class ids, or names disagree.
        """
        sv = _supervision("from_supervision()")
        if not isinstance(detections, sv.Detections):
            raise InvalidInputError(f"from_supervision() needs a supervision.Detections, got "
                                    f"{type(detections).__name__}")
        n = len(detections)
        if detections.class_id is None and n:
            raise InvalidInputError("from_supervision(): the supervision.Detections has no class_id")
        class_id = np.zeros(0, np.int64) if detections.class_id is None else np.asarray(detections.class_id)
        confidence = np.ones(n, np.float32) if detections.confidence is None else detections.confidence
        metadata = dict(getattr(detections, "metadata", None) or {})
        stored = metadata.pop("names", None)
        orig_shape = metadata.pop("orig_shape", None)
        if names is None:
            names = stored
        if names is None and "class_name" in detections.data:
            by_id: dict[int, str] = {}
            for cid, name in zip(class_id.tolist(), detections.data["class_name"].tolist()):
                if by_id.setdefault(int(cid), str(name)) != str(name):
                    raise InvalidInputError(f"from_supervision(): class id {cid} is named both "
                                            f"{by_id[int(cid)]!r} and {str(name)!r}; pass names=")
            names = [by_id.get(i, str(i)) for i in range(max(by_id, default=-1) + 1)]
        return cls(np.asarray(detections.xyxy, np.float32), confidence, class_id, tuple(names or ()), metadata,
                   None if orig_shape is None else tuple(orig_shape))


def _supervision(what: str) -> Any:
    try:
        import supervision as sv
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"{what} needs the supervision package: pip install supervision") from exc
    return sv

