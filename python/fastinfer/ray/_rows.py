"""Rows in, rows out: the part of the Ray integration that needs no Ray.

A batch of input rows (a dict of numpy columns, as Ray Data hands it to
``map_batches``) becomes images, one per row, each either decoded or carrying
the error that stopped it; task results become Arrow columns. Nothing here
imports Ray, so it is tested and reused (by the Serve app) on its own.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import FastInferError, InvalidInputError
from ..io.images import read_image

#: Input columns, in the order they are looked for: decoded pixels (what
#: ``ray.data.read_images`` gives), encoded file bytes (``read_binary_files``,
#: or any column of JPEG/PNG bytes), then paths or URIs read inside the actor.
IMAGE_COLUMN, BYTES_COLUMN, PATH_COLUMN = "image", "bytes", "path"

#: How large an encoded image may be, in bytes, before it is refused unread.
MAX_IMAGE_BYTES = 64 * 1024 * 1024

# Where encoded bytes are put for the core to decode (RAM-backed when it can).
_SCRATCH_ROOT = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


@dataclass
class Decoded:
    """One input row: its path (if any) and its BGR image, or why there is none."""

    path: str | None
    image: np.ndarray | None
    error: str | None
    decode_ms: float


def decode_bytes(data: bytes | bytearray | memoryview, *, name: str = "image") -> np.ndarray:
    """Decodes an encoded image (JPEG, PNG, ... whatever the core reads) into BGR uint8.

    The core reads files, so the bytes go through a private temporary file
    (in ``/dev/shm`` where there is one), decoded by ``fastinfer.read_image``
    with ``strict=True``: a truncated file is an error, not a grey-padded image.

    Args:
        data: the encoded file's bytes.
        name: how error messages call the input.

    Raises:
        InvalidInputError: the bytes are empty, too large, or not an
            image the core can decode.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidInputError(f"{name} must be encoded image bytes, got {type(data).__name__}")
    size = len(data)
    if size == 0:
        raise InvalidInputError(f"{name} is empty (0 bytes)")
    if size > MAX_IMAGE_BYTES:
        raise InvalidInputError(f"{name} is {size} bytes, over the limit of {MAX_IMAGE_BYTES}")
    with tempfile.NamedTemporaryFile(prefix="fastinfer-", suffix=".img", dir=_SCRATCH_ROOT) as handle:
        handle.write(data)
        handle.flush()
        try:
            return read_image(handle.name, strict=True)
        except InvalidInputError as exc:
            # The core names the temporary file; the user knows the input.
            raise InvalidInputError(
                f"cannot decode {name} ({size} bytes): not an image, or a format the core cannot read") from exc


def read_source(source: str) -> np.ndarray:
    """Reads an image from a local path, or a URI (``s3://``, ``gs://``, ...) through pyarrow's filesystems."""
    if "://" in source and not source.startswith("file://"):
        from pyarrow import fs  # a dependency of ray[data]

        filesystem, inner = fs.FileSystem.from_uri(source)
        with filesystem.open_input_stream(inner) as stream:
            return decode_bytes(stream.read(), name=source)
    path = source[len("file://"):] if source.startswith("file://") else source
    return read_image(path, strict=True)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def input_column(batch: dict[str, Any]) -> str:
    """The column the images come from: ``image``, else ``bytes``, else ``path``."""
    for column in (IMAGE_COLUMN, BYTES_COLUMN, PATH_COLUMN):
        if column in batch:
            return column
    raise InvalidInputError(
        f"rows need an '{IMAGE_COLUMN}' (pixels, as ray.data.read_images gives them), '{BYTES_COLUMN}' (encoded "
        f"files) or '{PATH_COLUMN}' column; got columns {sorted(batch)}")


def decode_batch(batch: dict[str, Any], *, rgb: bool = True) -> list[Decoded]:
    """Each row of ``batch`` as an image, or with the error that stopped it.

    Args:
        batch: columns of equal length; see :func:`input_column`.
        rgb: arrays in the ``image`` column are RGB (``ray.data.read_images``);
            False when they are already BGR.
    """
    column = input_column(batch)
    values = batch[column]
    paths = batch.get(PATH_COLUMN)
    rows = []
    for i, value in enumerate(values):
        path = _text(paths[i]) if paths is not None else None
        name = f"row {i}" if path is None else repr(path)
        start = time.perf_counter()
        image, error = None, None
        try:
            if column == IMAGE_COLUMN:
                image = _from_pixels(value, rgb=rgb, name=name)
            elif column == BYTES_COLUMN:
                image = decode_bytes(value, name=name)
            else:
                image = read_source(_text(value) or "")
        except (FastInferError, OSError, ValueError, TypeError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        rows.append(Decoded(path, image, error, (time.perf_counter() - start) * 1e3))
    return rows


def _from_pixels(value: Any, *, rgb: bool, name: str) -> np.ndarray:
    image = np.asarray(value)
    if image.dtype != np.uint8:
        raise InvalidInputError(f"{name}: image must have dtype uint8, got {image.dtype}")
    if rgb and image.ndim == 3 and image.shape[2] in (3, 4):
        order = [2, 1, 0] if image.shape[2] == 3 else [2, 1, 0, 3]
        image = image[:, :, order]
    return np.ascontiguousarray(image)


def run_isolated(task: Callable[[list[np.ndarray]], list[Any]],
                 rows: Sequence[Decoded]) -> tuple[list[Any], list[str | None], list[float]]:
    """Runs ``task`` on the decoded rows as one batch; a failing batch is retried image by image.

    Returns:
        Per row: the task's result (None where there is none), the error (None
        where there is none), and the row's share of the batch's time in ms.
    """
    results: list[Any] = [None] * len(rows)
    errors = [row.error for row in rows]
    infer_ms = [0.0] * len(rows)
    images = {i: row.image for i, row in enumerate(rows) if row.image is not None}
    good = list(images)
    if not good:
        return results, errors, infer_ms
    start = time.perf_counter()
    try:
        outputs = task(list(images.values()))
    except Exception:  # noqa: BLE001 - one bad image must not cost the batch: find it below
        outputs = None
    if outputs is not None:
        share = (time.perf_counter() - start) * 1e3 / len(good)
        for i, out in zip(good, outputs):
            results[i], infer_ms[i] = out, share
        return results, errors, infer_ms
    for i in good:
        start = time.perf_counter()
        try:
            results[i] = task([images[i]])[0]
        except Exception as exc:  # noqa: BLE001 - reported in the row's error column
            errors[i] = f"{type(exc).__name__}: {exc}"
        infer_ms[i] = (time.perf_counter() - start) * 1e3
    return results, errors, infer_ms


def class_names(task: Any) -> list[str]:
    """The class names of a task object (``names``, or the older ``class_names``)."""
    names = getattr(task, "names", None)
    if names is None:
        names = getattr(task, "class_names", None)
    return [str(n) for n in names or ()]


# --------------------------------------------------------------------------
# Result columns (plain lists; the Ray layer turns them into an Arrow table)
# --------------------------------------------------------------------------

def detection_columns(dets: Any) -> dict[str, Any]:
    """One image's ``Detections`` as row values: boxes, scores, class ids and labels."""
    if dets is None:
        return {"xyxy": [], "confidence": [], "class_id": [], "label": []}
    return {"xyxy": np.asarray(dets.xyxy, np.float32).tolist(),
            "confidence": np.asarray(dets.confidence, np.float32).tolist(),
            "class_id": np.asarray(dets.class_id, np.int64).tolist(), "label": list(dets.labels)}


def classification_columns(result: Any) -> dict[str, Any]:
    """One image's ``Classification`` (top-k) as row values."""
    if result is None:
        return {"class_id": [], "confidence": [], "label": []}
    return {"class_id": np.asarray(result.class_id, np.int64).tolist(),
            "confidence": np.asarray(result.confidence, np.float32).tolist(), "label": list(result.labels)}


def segmentation_columns(result: Any) -> dict[str, Any]:
    """One image's ``Segmentation``: the classes present, their pixel counts, and the class map.

    ``class_map`` holds the map's ``height x width`` class ids as raw
    little-endian uint16 bytes (``np.frombuffer(row["class_map"], "<u2")``).
    """
    if result is None:
        return {"class_id": [], "label": [], "pixels": [], "class_map": None, "height": None, "width": None}
    counts = np.asarray(result.pixel_counts)
    present = np.flatnonzero(counts)
    labels = list(result.labels)
    class_map = np.ascontiguousarray(result.class_map)
    return {"class_id": present.astype(np.int64).tolist(), "label": [labels[i] for i in present],
            "pixels": counts[present].astype(np.int64).tolist(),
            "class_map": class_map.astype("<u2").tobytes(),
            "height": int(class_map.shape[0]), "width": int(class_map.shape[1])}
