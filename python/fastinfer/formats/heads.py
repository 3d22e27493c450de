"""Recognising the output layout ("head") of an ONNX detector.

The native core decodes four YOLO layouts (``_core.postprocess_head``):

* ``"darknet"``: rows ``[N, 5+C]`` with the box as fractions of the input,
  objectness and class scores (OpenCV's Darknet layers, one output per layer).
* ``"yolov5"``: rows ``[B, N, 5+C]`` in input pixels with objectness;
  ``N = 3 * sum(cells)`` (three anchors per grid cell).
* ``"yolov8"`` (also YOLO11): channel-major ``[B, 4+C, N]``, no objectness.
* ``"yolox"``: rows ``[B, N, 5+C]`` relative to the grid cells;
  ``N = sum(cells)`` (one prediction per cell).

where ``cells`` is ``ceil(H/s) * ceil(W/s)`` for each stride ``s`` (8, 16, 32),
and SSD-style outputs (``_core.postprocess_ssd``, see ``fastinfer.ssd``):

* ``"ssd"``: two outputs, box regressions ``[B, N, 4]`` and class scores
  ``[B, N, K]`` against ``N`` prior boxes.

Example:
    >>> info = describe_onnx("yolov8n.onnx")
    >>> detect_head([o["shape"] for o in info["outputs"]], info["metadata"])
    'yolov8'
    >>> names_from_metadata(info["metadata"])[:2]
    ['person', 'bicycle']
"""

from __future__ import annotations

import ast
import math
import os
from typing import Any, Mapping, Sequence, Union

from ..errors import ModelLoadError
from . import onnx as onnx_format

HEADS = ("darknet", "yolov5", "yolov8", "yolox", "ssd")
DEFAULT_STRIDES = (8, 16, 32)
#: Metadata key that names the head explicitly; it wins over the shapes.
HEAD_KEY = "fastinfer.head"
#: Keys an Ultralytics export writes into the ONNX metadata.
ULTRALYTICS_KEYS = ("author", "task", "stride", "names", "imgsz")
#: Largest square input tried when the input size is unknown.
_MAX_GUESSED_SIZE = 4096

Dim = Union[int, str, None]  # a fixed size, a symbolic name, or unknown


def describe_onnx(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Inputs, outputs and metadata of an ONNX model as plain dicts (``fastinfer.formats.onnx.describe``).

    Returns:
        ``{"inputs": [...], "outputs": [...], "metadata": {...}}``; each input
        and output is ``{"name": str, "shape": list, "dtype": str}`` where a
        dimension is an int, the name of a symbolic dimension (str), or None.

    Raises:
        ModelLoadError: the file is missing, is not an ONNX model, or has no outputs.

    Example:
        >>> describe_onnx("320n.onnx")["inputs"]
        [{'name': 'images', 'shape': ['batch', 3, 'height', 'width'], 'dtype': 'float32'}]
    """
    return onnx_format.describe(path).to_dict()


def grid_cells(input_size: tuple[int, int], strides: Sequence[int] = DEFAULT_STRIDES) -> int:
    """Grid cells over all strides for an input of ``(width, height)``: sum of ``ceil(H/s) * ceil(W/s)``.

    Example:
        >>> grid_cells((640, 640))
        8400
    """
    width, height = input_size
    return sum(math.ceil(width / s) * math.ceil(height / s) for s in strides)


def _is_ultralytics(metadata: Mapping[str, str]) -> bool:
    return metadata.get("author", "").lower().startswith("ultralytics") or (
        sum(key in metadata for key in ULTRALYTICS_KEYS) >= 3)


def imgsz_from_metadata(metadata: Mapping[str, str]) -> tuple[int, int] | None:
    """Ultralytics' ``imgsz`` (``"[h, w]"``) as ``(width, height)``."""
    raw = metadata.get("imgsz")
    if not raw:
        return None
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return value[1], value[0]
    return None


def _row_head_for(rows: int, sizes: Sequence[tuple[int, int]]) -> tuple[str, tuple[int, int]] | None:
    for size in sizes:
        cells = grid_cells(size)
        if rows == cells:
            return "yolox", size
        if rows == 3 * cells:
            return "yolov5", size
    return None


def _square_sizes() -> list[tuple[int, int]]:
    step = max(DEFAULT_STRIDES)
    return [(s, s) for s in range(step, _MAX_GUESSED_SIZE + 1, step)]


def ssd_outputs(output_shapes: Sequence[Sequence[Dim]]) -> tuple[int, int] | None:
    """Which of two outputs hold an SSD's boxes ``[B, N, 4]`` and scores ``[B, N, K]``: ``(loc, scores)`` indices.

    None unless there are exactly two rank-3 outputs with the same ``N``, one
    with 4 values per row; when both have 4, the first holds the boxes.

    Example:
        >>> ssd_outputs([[1, 8732, 21], [1, 8732, 4]])
        (1, 0)
    """
    shapes = [list(s) for s in output_shapes]
    if len(shapes) != 2 or any(len(s) != 3 for s in shapes) or shapes[0][1] != shapes[1][1]:
        return None
    if shapes[0][2] == 4:
        return 0, 1
    return (1, 0) if shapes[1][2] == 4 else None


def other_task(output_shapes: Sequence[Sequence[Dim]]) -> str | None:
    """What a model whose outputs no detector head has looks like, or None when they may be a detector's.

    * one output ``(B, K)`` with ``B`` 1 or dynamic, or ``(B, K, 1, 1)``: one score per class and no
      boxes, a classifier (``fastinfer.Classifier``);
    * a first output ``(B, K, H, W)`` with ``H`` and ``W`` above 1 (or dynamic): a score map per class,
      a segmenter (``fastinfer.Segmenter``).

    Darknet rows ``(N, 5+C)`` have a fixed ``N`` above 1 (or come several outputs at a time), so they are
    not taken for a classifier.

    Example:
        >>> other_task([[1, 1000]])
        '(1, 1000) output: a classifier (one score per class, no boxes); use fastinfer.Classifier'
    """
    shapes = [list(s) for s in output_shapes]
    if not shapes:
        return None
    shape = shapes[0]
    text = "(" + ", ".join("?" if not isinstance(d, int) else str(d) for d in shape) + ")"
    classifier = f"{text} output: a classifier (one score per class, no boxes); use fastinfer.Classifier"
    if len(shapes) == 1 and len(shape) == 2 and (shape[0] == 1 or not isinstance(shape[0], int)):
        return classifier
    if len(shape) == 4:
        if len(shapes) == 1 and shape[2] == 1 and shape[3] == 1:
            return classifier
        if all(not isinstance(d, int) or d > 1 for d in shape[2:]):
            return f"{text} output: a segmenter (a score map per class); use fastinfer.Segmenter"
    return None


def detect_head(output_shapes: Sequence[Sequence[Dim]], metadata: Mapping[str, str] | None,
                num_classes: int | None = None, input_size: tuple[int, int] | None = None) -> str:
    """Which head an ONNX detector has, from its output shapes and metadata.

    Rules, in order:

    1. ``metadata["fastinfer.head"]`` names it.
    2. Two outputs ``[B, N, 4]`` and ``[B, N, K]`` are ``"ssd"`` (``N`` is
       checked against the priors by the ``Detector``).
    3. A rank-3 first output ``[B, 4+C, N]`` with fewer channels than anchors
       (or a fixed channel count and a symbolic ``N``) is ``"yolov8"``.
    4. Several row outputs sharing one row length, or 2-D rows, are
       ``"darknet"`` (one output per detection layer, as OpenCV emits them).
    5. Rows ``[B, N, 5+C]`` from an Ultralytics export (``author``, ``task``,
       ``stride``, ``names``, ``imgsz`` metadata) are ``"yolov5"``.
    6. Other rows: ``N`` equal to the grid cells over strides 8, 16, 32 is
       ``"yolox"``, three times that is ``"yolov5"``. The grid is that of
       ``input_size``, else of the metadata's ``imgsz``, else of a square
       input found from ``N``.

    Before rules 2-6, outputs that are a classifier's or a segmenter's
    (``other_task``) are an error naming the task to use.

    ``num_classes``, when given, settles the orientation (``4+C`` channels or
    ``5+C`` values per row) and must fit the shape.

    Args:
        output_shapes: each output's shape (ints, or str/None for symbolic
            dimensions), as ``describe_onnx`` gives them.
        metadata: the model's metadata (``describe_onnx(...)["metadata"]``).
        num_classes: the number of class names, if known.
        input_size: the network input as ``(width, height)``, if known.

    Returns:
        ``"darknet"``, ``"yolov5"``, ``"yolov8"``, ``"yolox"`` or ``"ssd"``.

    Raises:
        ModelLoadError: the metadata names an unknown head, the model is not a
            detector, or the layout cannot be told apart (the message says to
            pass ``head=``).

    Example:
        >>> detect_head([[1, 84, 8400]], {})
        'yolov8'
        >>> detect_head([[1, 3549, 6]], {}, input_size=(416, 416))
        'yolox'
    """
    metadata = dict(metadata or {})
    named = metadata.get(HEAD_KEY)
    if named is not None:
        head = "yolov8" if named == "yolo11" else named
        if head not in HEADS:
            raise ModelLoadError(f"metadata '{HEAD_KEY}' is '{named}', expected one of {', '.join(HEADS)}")
        return head
    shapes = [list(s) for s in output_shapes]
    if not shapes:
        raise ModelLoadError("the model has no outputs, so it is not a detector")
    if ssd_outputs(shapes) is not None:
        return "ssd"

    ultralytics = _is_ultralytics(metadata)
    task = metadata.get("task")
    if ultralytics and task not in (None, "detect"):
        use = {"classify": "; use fastinfer.Classifier"}.get(str(task), "")
        raise ModelLoadError(f"the model is an Ultralytics '{task}' model; only 'detect' models are supported{use}")
    looks = other_task(shapes)
    if looks is not None:
        raise ModelLoadError(f"the model is not a detector: {looks} (pass head= if it really is one)")

    def cannot_tell(why: str) -> ModelLoadError:
        return ModelLoadError(
            f"cannot tell the output layout of a model with output shapes {shapes}: {why}; pass "
            f"head='darknet', 'yolov5', 'yolov8' or 'yolox' (and input_size=(width, height) if it is dynamic)")

    shape = shapes[0]
    if len(shape) == 2:
        if isinstance(shape[1], int) and shape[1] >= 6:
            return "darknet"
        raise cannot_tell("2-D output without 5+classes values per row")
    if len(shape) != 3:
        raise cannot_tell(f"expected a rank-3 first output, got rank {len(shape)}")
    _, a, b = shape

    if num_classes is not None:
        if a == 4 + num_classes and b != 5 + num_classes:
            channel_major = True
        elif b == 5 + num_classes:
            channel_major = False
        else:
            raise ModelLoadError(
                f"output shape {shape} does not fit {num_classes} classes: expected [B, {4 + num_classes}, N] "
                f"(YOLOv8/YOLO11) or [B, N, {5 + num_classes}] (YOLOv5, YOLOX, Darknet)")
    elif isinstance(a, int) and isinstance(b, int):
        channel_major = a < b
    elif isinstance(a, int) or isinstance(b, int):
        channel_major = isinstance(a, int)  # the fixed dimension holds the channels
    else:
        raise cannot_tell("neither of its last two dimensions is fixed")

    if channel_major:
        if isinstance(a, int) and a < 5:
            raise cannot_tell(f"{a} channels is fewer than 4 box values + 1 class")
        return "yolov8"

    if not (isinstance(b, int) and b >= 6):
        raise cannot_tell(f"rows of {b} values are fewer than 4 box values + objectness + 1 class")
    row_outputs = [s for s in shapes if len(s) in (2, 3) and s[-1] == b]
    if len(shapes) > 1 and len(row_outputs) == len(shapes):
        return "darknet"
    if ultralytics:
        return "yolov5"
    if not isinstance(a, int):
        raise cannot_tell("its row count is dynamic, so the grid cannot be checked")
    size = input_size or imgsz_from_metadata(metadata)
    found = _row_head_for(a, [(size[0], size[1])] if size else _square_sizes())
    if found is None:
        where = f"a {size[0]}x{size[1]} input" if size else "any square input"
        raise cannot_tell(f"{a} rows is neither the grid cells of {where} over strides "
                          f"{', '.join(map(str, DEFAULT_STRIDES))} (YOLOX) nor 3 times that (YOLOv5)")
    return found[0]


def names_from_metadata(metadata: Mapping[str, str] | None) -> list[str] | None:
    """Class names from an ONNX model's metadata, or None when it has none.

    Ultralytics stores ``names`` as a Python dict literal
    (``"{0: 'person', 1: 'bicycle'}"``); a list literal is accepted too. The
    text is parsed with ``ast.literal_eval``, never evaluated.

    Args:
        metadata: the model's metadata (``describe_onnx(...)["metadata"]``).

    Returns:
        The names in class-id order, or None without a ``names`` entry.

    Raises:
        ModelLoadError: ``names`` is not a dict with keys 0..N-1 or a list.

    Example:
        >>> names_from_metadata({"names": "{0: 'person', 1: 'bicycle'}"})
        ['person', 'bicycle']
    """
    raw = (metadata or {}).get("names")
    if raw is None or not raw.strip():
        return None
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ModelLoadError(f"metadata 'names' is not a dict or list literal: {raw[:80]!r}") from exc
    if isinstance(value, dict):
        if set(value) != set(range(len(value))) or any(isinstance(k, bool) for k in value):
            raise ModelLoadError(f"metadata 'names' must map the class ids 0..{len(value) - 1} to names, got keys "
                                 f"{sorted(map(repr, value))[:10]}")
        return [str(value[i]) for i in range(len(value))]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    raise ModelLoadError(f"metadata 'names' must be a dict or list literal, got {type(value).__name__}: {raw[:80]!r}")
