"""What the result classes share: JSON output, class labels and image checks."""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError


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
