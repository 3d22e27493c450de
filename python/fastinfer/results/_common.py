"""What the result classes share: JSON output, class labels, image checks, saving, records and reprs."""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..io.images import load_image, write_image
from ..validate import check_int, check_optional_int, check_path


class JsonResult:
    """``to_json`` for a result class that has ``to_dict``."""

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - every result defines it
        raise NotImplementedError

    def to_json(self, **kwargs: Any) -> str:
        """``to_dict()`` as a JSON string; keyword arguments go to ``json.dumps``."""
        return json.dumps(self.to_dict(), **kwargs)


def labels_for(names: Sequence[str], class_id: np.ndarray) -> list[str]:
    """The name of each class id (the id as text when it has no name)."""
    return [names[i] if 0 <= i < len(names) else str(i) for i in class_id.tolist()]


def as_uint8_image(image: Any) -> np.ndarray:
    """``image`` as a C-contiguous numpy array (the core checks dtype and channels)."""
    if not isinstance(image, np.ndarray):
        raise InvalidInputError(f"image must be a numpy array, got {type(image).__name__}")
    return np.ascontiguousarray(image)


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and arrays turned into Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def check_line_width(value: Any) -> int | None:
    """``line_width``: None (scaled to the image) or a positive int of pixels."""
    return check_optional_int("line_width", value, hint=" (pixels; None scales it to the image)")


def check_orig_shape(value: Any, metadata: dict[str, Any]) -> tuple[int, int] | None:
    """The original image's ``(height, width)``: ``value``, else the metadata's ``image_size`` (width, height)."""
    if value is None:
        size = metadata.get("image_size")
        if size is None:
            return None
        value = (size[1], size[0])
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise InvalidInputError(f"orig_shape must be the image's (height, width), got {value!r}")
    return check_int("orig_shape[0] (height)", value[0]), check_int("orig_shape[1] (width)", value[1])


def summary(counts: Sequence[tuple[str, int | str]], head: str, tail: str, limit: int = 200) -> str:
    """``head: name x3, other x1, ...; tail`` cut to about ``limit`` characters (``+k more`` names the rest)."""
    parts: list[str] = []
    used = len(head) + len(tail) + 4
    for i, (name, count) in enumerate(counts):
        name = name if len(name) <= 24 else name[:21] + "..."
        part = f"{name} {count}"
        rest = len(counts) - i - 1
        if used + len(part) + 2 + (len(f", +{rest} more") if rest else 0) > limit:
            parts.append(f"+{len(counts) - i} more")
            break
        parts.append(part)
        used += len(part) + 2
    body = f"{head}: {', '.join(parts)}" if parts else head
    return f"{body}; {tail}" if tail else body


def size_text(orig_shape: tuple[int, int] | None, metadata: dict[str, Any]) -> str:
    """``768x576, onnxruntime``: the image size and backend, where known."""
    bits = [f"{orig_shape[1]}x{orig_shape[0]}"] if orig_shape else []
    if metadata.get("backend"):
        bits.append(str(metadata["backend"]))
    return ", ".join(bits)


def source_image(image: Any, metadata: dict[str, Any], orig_shape: tuple[int, int] | None, what: str) -> np.ndarray:
    """The image a result was computed on: ``image`` (a path or array), else the file the task read
    (``metadata["path"]``); its size must be ``orig_shape``."""
    if image is None:
        image = metadata.get("path")
        if image is None:
            raise InvalidInputError(f"{what} needs the image: this result was computed on an array, not a file; "
                                    "pass image=")
    pixels = load_image(image)
    if orig_shape is not None and pixels.shape[:2] != tuple(orig_shape):
        raise InvalidInputError(f"image is {pixels.shape[1]}x{pixels.shape[0]} but the result is for a "
                                f"{orig_shape[1]}x{orig_shape[0]} image")
    return pixels


def save_drawn(drawn: np.ndarray, filename: Any, metadata: dict[str, Any], prefix: str = "results_") -> str:
    """Writes ``drawn``; the default file name is ``results_<source name>`` in the current folder."""
    if filename is None:
        path = metadata.get("path")
        if path is None:
            raise InvalidInputError("save() needs filename= for a result computed on an array (no source file)")
        filename = prefix + os.path.basename(str(path))
    target = check_path("filename", filename)
    write_image(target, drawn)
    return target


def to_frame(records: list[dict[str, Any]], columns: Sequence[str], what: str) -> Any:
    """``records`` as a ``pandas.DataFrame`` with ``columns`` (also when empty)."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(f"{what}.to_pandas() needs pandas: pip install pandas") from exc
    return pd.DataFrame.from_records(records, columns=list(columns))
