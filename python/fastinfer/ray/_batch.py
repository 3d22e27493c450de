"""Batch inference on Ray Data: one model per actor, Arrow columns out."""

from __future__ import annotations

import contextlib
import fcntl
from typing import Any, Callable, Iterator, Union

import numpy as np
import pyarrow as pa
import ray

from ..errors import InvalidInputError
from ..runtime import cache
from ..tasks.classify import Classifier
from ..tasks.detect import Detector
from ..tasks.segment import Segmenter
from . import _rows

#: Actors: a fixed number, ``(min, max)`` or ``(min, max, initial)``.
Concurrency = Union[int, tuple[int, int], tuple[int, int, int]]

#: Columns every result table has, whatever the task.
COMMON_SCHEMA = [
    ("path", pa.string()),
    ("error", pa.string()),
    ("decode_ms", pa.float64()),
    ("infer_ms", pa.float64()),
    ("node_id", pa.string()),
]

_SCHEMAS = {
    "detect": [("xyxy", pa.list_(pa.list_(pa.float32(), 4))), ("confidence", pa.list_(pa.float32())),
               ("class_id", pa.list_(pa.int64())), ("label", pa.list_(pa.string()))],
    "classify": [("class_id", pa.list_(pa.int64())), ("confidence", pa.list_(pa.float32())),
                 ("label", pa.list_(pa.string()))],
    "segment": [("class_id", pa.list_(pa.int64())), ("label", pa.list_(pa.string())),
                ("pixels", pa.list_(pa.int64())), ("class_map", pa.binary()), ("height", pa.int32()),
                ("width", pa.int32())],
}


def schema(task: str) -> pa.Schema:
    """The Arrow schema of a ``task``'s result rows (``detect``, ``classify`` or ``segment``)."""
    return pa.schema(_SCHEMAS[task] + COMMON_SCHEMA)


def actor_cpus() -> int:
    """The CPUs Ray gave the current worker (1 outside an actor or when it asked for none)."""
    cpus = 0
    if ray.is_initialized():
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 0)
    return max(1, int(round(cpus)))


def actor_providers() -> list[str] | None:
    """ONNX Runtime's CUDA provider when Ray gave the worker a GPU and ORT has it; None otherwise."""
    gpus = ray.get_runtime_context().get_accelerator_ids().get("GPU", []) if ray.is_initialized() else []
    if not gpus:
        return None
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        # Ray sets CUDA_VISIBLE_DEVICES, so the given GPU is device 0 here.
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return None


@contextlib.contextmanager
def node_lock() -> Iterator[None]:
    """Holds a file lock in fastinfer's cache home, so the actors of one node fetch and convert a model once.

    The first actor downloads (and converts) into the node's cache; the
    others wait here and then find the files verified in place.
    """
    folder = cache.home()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".ray-load.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _TaskActor:
    """One fastinfer task in one Ray actor: loaded once, then called with batches of rows.

    Subclasses name the task class and turn its results into columns.
    """

    task_name = ""

    def __init__(self, model: Any, *, rgb: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("threads", actor_cpus())
        if kwargs.get("providers") is None:
            providers = actor_providers()
            if providers is not None:
                kwargs["providers"] = providers
            else:
                kwargs.pop("providers", None)
        self.rgb = bool(rgb)
        with node_lock():
            self.task = self._load(model, **kwargs)
        self.node_id = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None

    def _load(self, model: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _columns(self, result: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _call(self, images: list[np.ndarray]) -> list[Any]:
        return self.task(images)

    def __call__(self, batch: dict[str, Any]) -> pa.Table:
        """Runs the task on a batch of rows; returns one result row per input row, errors included."""
        rows = _rows.decode_batch(batch, rgb=self.rgb)
        results, errors, infer_ms = _rows.run_isolated(self._call, rows)
        table: dict[str, list[Any]] = {name: [] for name, _ in _SCHEMAS[self.task_name] + COMMON_SCHEMA}
        for row, result, error, ms in zip(rows, results, errors, infer_ms):
            for name, value in self._columns(result).items():
                table[name].append(value)
            table["path"].append(row.path)
            table["error"].append(error)
            table["decode_ms"].append(row.decode_ms)
            table["infer_ms"].append(ms)
            table["node_id"].append(self.node_id)
        return pa.Table.from_pydict(table, schema=schema(self.task_name))


class BatchDetector(_TaskActor):
    """A ``fastinfer.Detector`` for ``Dataset.map_batches``, one per actor.

    Args:
        model: what ``fastinfer.Detector`` takes: a zoo name, a cfg or an ONNX
            path (present on every node).
        rgb: arrays in the ``image`` column are RGB (as ``ray.data.read_images``
            gives them); False when they are BGR.
        **kwargs: ``fastinfer.Detector`` arguments (``conf``, ``iou``,
            ``input_size``, ...). ``threads`` defaults to the actor's CPUs;
            ``providers`` to CUDA when the actor has a GPU.

    Example:
        >>> ds = ray.data.read_binary_files("photos/", include_paths=True)
        >>> out = ds.map_batches(BatchDetector, fn_constructor_args=("yolov3-tiny",), batch_size=16,
        ...                      compute=ray.data.ActorPoolStrategy(size=2), num_cpus=1, batch_format="numpy")
    """

    task_name = "detect"

    def _load(self, model: Any, **kwargs: Any) -> Any:
        return Detector(model, **kwargs)

    def _columns(self, result: Any) -> dict[str, Any]:
        return _rows.detection_columns(result)


class BatchClassifier(_TaskActor):
    """A ``fastinfer.Classifier`` for ``Dataset.map_batches``, one per actor.

    Args:
        model: an ONNX classifier path (present on every node).
        top_k: classes kept per image.
        rgb: as for ``BatchDetector``.
        **kwargs: ``fastinfer.Classifier`` arguments.
    """

    task_name = "classify"

    def __init__(self, model: Any, *, top_k: int = 5, rgb: bool = True, **kwargs: Any) -> None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise InvalidInputError(f"top_k must be an int >= 1, got {top_k!r}")
        self.top_k = top_k
        super().__init__(model, rgb=rgb, **kwargs)

    def _load(self, model: Any, **kwargs: Any) -> Any:
        return Classifier(model, **kwargs)

    def _call(self, images: list[np.ndarray]) -> list[Any]:
        return self.task(images, top_k=self.top_k)

    def _columns(self, result: Any) -> dict[str, Any]:
        return _rows.classification_columns(result)


class BatchSegmenter(_TaskActor):
    """A ``fastinfer.Segmenter`` for ``Dataset.map_batches``, one per actor.

    Args:
        model: an ONNX segmentation model path (present on every node).
        rgb: as for ``BatchDetector``.
        **kwargs: ``fastinfer.Segmenter`` arguments.
    """

    task_name = "segment"

    def _load(self, model: Any, **kwargs: Any) -> Any:
        return Segmenter(model, **kwargs)

    def _columns(self, result: Any) -> dict[str, Any]:
        return _rows.segmentation_columns(result)


def _check_positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be an int >= 1, got {value!r}")
    return value


def _check_resources(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InvalidInputError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


def _check_fits(actors: int, num_cpus: float, num_gpus: float, concurrency: Concurrency) -> None:
    """A pool the connected cluster can never hold would wait for its actors forever: refused instead."""
    if not ray.is_initialized():
        return  # Ray Data starts a local Ray when the job runs; it is sized to this machine then
    total = ray.cluster_resources()
    for resource, each in (("CPU", num_cpus), ("GPU", num_gpus)):
        have = float(total.get(resource, 0.0))
        if actors * each > have:
            what = "num_cpus" if resource == "CPU" else "num_gpus"
            raise InvalidInputError(
                f"concurrency={concurrency!r} starts {actors} actors of {what}={each:g}, "
                f"{actors * each:g} {resource}s, but the Ray cluster has {have:g}: the job would wait for them "
                f"forever. Start fewer actors, or an autoscaling pool such as concurrency=(1, {actors})")


def _map(actor: Callable[..., Any], ds: Any, model: Any, *, batch_size: int, concurrency: Concurrency,
         num_cpus: float, num_gpus: float, constructor: dict[str, Any]) -> Any:
    _check_positive("batch_size", batch_size)
    if isinstance(concurrency, tuple):
        if len(concurrency) not in (2, 3):
            raise InvalidInputError(f"concurrency must be an int, (min, max) or (min, max, initial), got "
                                    f"{concurrency!r}")
        sizes = [_check_positive("concurrency", c) for c in concurrency]
        low, high, initial = sizes[0], sizes[1], sizes[2] if len(sizes) == 3 else sizes[0]
        if not low <= initial <= high:
            raise InvalidInputError(f"concurrency must have min <= initial <= max, got {concurrency!r}")
        pool = ray.data.ActorPoolStrategy(min_size=low, max_size=high, initial_size=initial)
    else:
        low = initial = _check_positive("concurrency", concurrency)
        pool = ray.data.ActorPoolStrategy(size=low)
    num_cpus = _check_resources("num_cpus", num_cpus)
    num_gpus = _check_resources("num_gpus", num_gpus)
    _check_fits(initial, num_cpus, num_gpus, concurrency)
    if not isinstance(ds, ray.data.Dataset):
        raise InvalidInputError(f"ds must be a ray.data.Dataset, got {type(ds).__name__}")
    return ds.map_batches(actor, fn_constructor_args=(model,), fn_constructor_kwargs=constructor,
                          batch_size=batch_size, compute=pool, num_cpus=num_cpus, num_gpus=num_gpus,
                          batch_format="numpy", zero_copy_batch=True)


def detect(ds: Any, model: Any = "yolov3-tiny", *, batch_size: int = 16, concurrency: Concurrency = 1,
           num_cpus: float = 1, num_gpus: float = 0, rgb: bool = True, **kwargs: Any) -> Any:
    """Detects objects in every image of a Ray Dataset.

    Each actor loads one ``fastinfer.Detector`` once (zoo files are fetched
    into each node's cache once) and runs it on batches of rows; ONNX
    Runtime's intra-op threads equal the actor's ``num_cpus``.

    Args:
        ds: rows with an ``image`` column (``ray.data.read_images(...,
            include_paths=True)``), a ``bytes`` column of encoded files
            (``ray.data.read_binary_files(..., include_paths=True)``: the
            object store then carries compressed bytes, decoded in the actor),
            or a ``path`` column of paths/URIs read in the actor.
        model: what ``fastinfer.Detector`` takes (a zoo name, or a path present
            on every node).
        batch_size: rows per call of the model.
        concurrency: actors; ``(min, max)`` for an autoscaling pool, ``(min, max, initial)`` to start it
            at ``initial``.
        num_cpus: CPUs per actor (and ONNX Runtime threads).
        num_gpus: GPUs per actor; with one, ONNX Runtime runs on CUDA where it can.
        rgb: arrays in the ``image`` column are RGB (False: BGR).
        **kwargs: ``fastinfer.Detector`` arguments (``conf``, ``iou``, ...).

    Returns:
        A lazy ``ray.data.Dataset`` with one row per input row: ``xyxy``
        (list of ``[x1, y1, x2, y2]``), ``confidence``, ``class_id``,
        ``label``, ``path``, ``error`` (None, or why this row has no
        result), ``decode_ms``, ``infer_ms`` (the row's share of its batch)
        and ``node_id``. Row order is Ray Data's.

    Raises:
        InvalidInputError: an argument is out of range.

    Example:
        >>> ds = ray.data.read_binary_files("photos/", include_paths=True)
        >>> fastinfer.ray.detect(ds, "yolov3-tiny", concurrency=2).write_parquet("out/")
    """
    return _map(BatchDetector, ds, model, batch_size=batch_size, concurrency=concurrency, num_cpus=num_cpus,
                num_gpus=num_gpus, constructor=dict(kwargs, rgb=rgb))


def classify(ds: Any, model: Any, *, top_k: int = 5, batch_size: int = 16, concurrency: Concurrency = 1,
             num_cpus: float = 1, num_gpus: float = 0, rgb: bool = True, **kwargs: Any) -> Any:
    """Classifies every image of a Ray Dataset (see :func:`detect` for the inputs and arguments).

    Returns:
        A ``ray.data.Dataset``: ``class_id``, ``confidence`` and ``label`` of
        the ``top_k`` best classes, then ``path``, ``error``, ``decode_ms``,
        ``infer_ms`` and ``node_id``.
    """
    _check_positive("top_k", top_k)
    return _map(BatchClassifier, ds, model, batch_size=batch_size, concurrency=concurrency, num_cpus=num_cpus,
                num_gpus=num_gpus, constructor=dict(kwargs, rgb=rgb, top_k=top_k))


def segment(ds: Any, model: Any, *, batch_size: int = 4, concurrency: Concurrency = 1,
            num_cpus: float = 1, num_gpus: float = 0, rgb: bool = True, **kwargs: Any) -> Any:
    """Segments every image of a Ray Dataset (see :func:`detect` for the inputs and arguments).

    Returns:
        A ``ray.data.Dataset``: ``class_id``, ``label`` and ``pixels`` of the
        classes present, ``class_map`` (``height x width`` uint16 class ids as
        raw little-endian bytes), ``height``, ``width``, then ``path``,
        ``error``, ``decode_ms``, ``infer_ms`` and ``node_id``.
    """
    return _map(BatchSegmenter, ds, model, batch_size=batch_size, concurrency=concurrency, num_cpus=num_cpus,
                num_gpus=num_gpus, constructor=dict(kwargs, rgb=rgb))
