"""The contract every task shares: ``Task``, the base of ``Detector``, ``Classifier`` and ``Segmenter``.

The base owns what is the same for every task, written once:

* pre-processing: one ``Preprocessing`` (``preprocess``);
* the network: a backend behind one interface (``forward``);
* the timed run over one image or a list (one batch), with per-stage
  timings and the metadata every result carries (``__call__``, ``run``);
* streaming over videos, cameras, folders and lists (``stream``).

A task adds only its decoding and its result type: ``postprocess(outputs,
transforms, **options)`` turns the network's outputs into one decoded item
per image, and ``make_result(decoded, metadata, transform)`` wraps one item
in the task's result class. Per-call options (a detector's ``conf``, a
classifier's ``top_k``) are checked by ``check_options``.

Adding a task is one module: a ``Task`` subclass with those three methods and
``metadata_extra`` for its own metadata keys.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Mapping, Sequence, TypeVar, Union, overload

import numpy as np

from ..errors import InvalidInputError, ModelLoadError
from ..formats import darknet
from ..formats import onnx as onnx_format
from ..io.images import ImageLike, load_image
from ..runtime import backends
from ..validate import Size, check_choice, check_size
from .preprocessing import Preprocessing

if TYPE_CHECKING:  # pragma: no cover
    from .. import _core
    from ..io.stream import Source, Stream

__all__ = ["Task", "Run", "run", "read_names", "check_choice", "check_size", "Size", "Names"]

log = logging.getLogger(__name__)

Names = Union[str, "os.PathLike[str]", Sequence[str]]
R = TypeVar("R")


def read_names(names: Names | None) -> list[str] | None:
    """Class names from a file (one per line) or a sequence; None stays None."""
    if names is None:
        return None
    if isinstance(names, (str, os.PathLike)):
        return darknet.read_names(names)
    return [str(n) for n in names]


#: Deprecated name of ``read_names``.
read_labels = read_names


@dataclass
class Run(Generic[R]):
    """One call of a task: the decoded images, the outputs, the results and the timings."""

    single: bool
    images: list[np.ndarray]
    outputs: list[np.ndarray]
    transforms: np.ndarray
    results: list[R]
    timings: dict[str, float]

    def unwrap(self) -> R | list[R]:
        """One result for one image in, the list for a list in."""
        return self.results[0] if self.single else self.results


class Task(Generic[R]):
    """The base of every task: pre-processing, the timed run, metadata, batching and streaming.

    Subclasses set ``model_path``, ``input_size``, ``preprocessing``,
    ``backend`` and ``names`` in their constructor and implement
    ``postprocess`` and ``make_result`` (and ``check_options`` when calls
    take options).
    """

    #: The task's verb, as the CLI and metadata name it.
    task: ClassVar[str] = ""
    model_path: Path
    input_size: tuple[int, int]
    preprocessing: Preprocessing
    backend: _core.Backend
    #: The class names, indexed by class id (None where a model does not tell them).
    names: tuple[str, ...] | None

    # ---------------------------------------------------------------- what a task implements

    def postprocess(self, outputs: Sequence[np.ndarray], transforms: np.ndarray) -> list[Any]:
        """The network's outputs for a batch -> one decoded item per image, in original-image coordinates.

        A task with per-call options takes them as keyword-only arguments here
        and in ``check_options``.
        """
        raise NotImplementedError

    def make_result(self, decoded: Any, metadata: dict[str, Any], transform: np.ndarray) -> R:
        """One image's decoded item and metadata -> the task's result object."""
        raise NotImplementedError

    def check_options(self) -> dict[str, Any]:
        """Checks per-call options (e.g. ``conf``) and returns them for ``postprocess``; the base takes none."""
        return {}

    def metadata_extra(self) -> dict[str, Any]:
        """Task-specific metadata keys every result of this task carries."""
        return {}

    # ---------------------------------------------------------------- shared by every task

    def load_backend(self, model: Any, weights: Path | None, backend: str,
                     backend_options: Mapping[str, Any] | None = None, **options: Any) -> None:
        """Sets ``self.backend``: ``model`` on ``backend`` with the task's backend arguments
        (``threads=``, ``providers=``, ``device=``, ...), updated by ``backend_options`` (any backend's own options)."""
        merged = dict(options)
        merged.update(backend_options or {})
        self.backend = backends.load(model, weights, backend, **merged)

    def describe_torch(self, model: Any, input_size: tuple[int, int], backend_options: Mapping[str, Any] | None,
                       **options: Any) -> onnx_format.OnnxDescription:
        """Loads a torch program (TorchScript, ``.pt2`` or an ``nn.Module``) on the torch backend and describes
        it as an ONNX file is described: its output shapes from one forward pass of zeros at ``input_size``."""
        self.load_backend(model, None, "torch", backend_options, **options)
        torch_backend: Any = self.backend  # a fastinfer.torch.TorchBackend
        description: onnx_format.OnnxDescription = torch_backend.describe(input_size)
        return description

    def open_model(self, model: Any, backend: str, backend_options: Mapping[str, Any] | None,
                   input_size: Size | None, **options: Any) -> tuple[onnx_format.OnnxDescription, bool]:
        """What a model declares, for a task that runs ONNX files or (``backend="torch"``) torch programs.

        Returns:
            The description, and whether the backend is loaded already (a
            torch program is loaded to be described: one forward pass of
            zeros at ``input_size`` gives its output shapes).
        """
        is_path = isinstance(model, (str, os.PathLike))
        suffix = Path(model).suffix.lower() if is_path else ""
        if backend == "torch" and suffix != ".onnx":
            if input_size is None:
                raise InvalidInputError("a torch program does not declare its input size: pass "
                                        "input_size=(width, height)")
            return self.describe_torch(model, check_size(input_size), backend_options, **options), True
        if not is_path:
            raise InvalidInputError(f"model must be a file path, got {type(model).__name__} (torch modules run "
                                    "with backend='torch')")
        path = Path(model)
        if not path.is_file():
            zoo = self.zoo_model(model)
            if zoo is None:
                raise ModelLoadError(f"model file '{path}' does not exist")
            path, suffix = zoo, zoo.suffix.lower()
        if suffix != ".onnx":
            raise ModelLoadError(f"a {type(self).__name__} runs ONNX models, got '{path}' (TorchScript and "
                                 "torch.export .pt2 programs run with backend='torch')")
        if backend == "torch":
            raise InvalidInputError(f"backend='torch' runs torch programs; ONNX model '{path}' runs on "
                                    "'onnxruntime' or 'opencv'")
        return onnx_format.describe(path), False

    def zoo_model(self, model: Any) -> Path | None:
        """The fetched file of the model zoo entry ``model`` names, when it is not a file; ``None`` when it is
        no zoo name. A zoo model of another task is an ``InvalidInputError`` naming the class that runs it."""
        if not isinstance(model, (str, os.PathLike)) or Path(model).is_file():
            return None
        from .. import models

        name = models.find(os.fspath(model))
        if name is None:
            return None
        task = models.task_of(name)
        if task != self.task:
            runner = {"detect": "Detector", "classify": "Classifier", "segment": "Segmenter"}[task]
            raise InvalidInputError(f"model zoo entry '{name}' is a {task} model: use fastinfer.{runner}('{name}'), "
                                    f"not fastinfer.{type(self).__name__}")
        return models.fetch(name).model

    #: Whether ``postprocess`` takes the backend's device tensors as they are (the torch backend on a
    #: GPU); other tasks get them as host arrays.
    device_outputs: ClassVar[bool] = False

    @property
    def mode(self) -> str:
        """How images are fitted to the input (``Preprocessing.mode``)."""
        return self.preprocessing.mode

    def preprocess(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """BGR images -> (NCHW float32 blob, per-image transforms).

        A backend on a GPU that builds the blob on its device (the torch
        backend on CUDA) gets the uint8 images there and builds it there.
        """
        # INT8 calibration pre-processes before the backend is loaded: no backend yet means a host blob.
        # Darknet's own letterbox is the core's (float, bit-exact) on the host; its blob goes to the device whole.
        if getattr(getattr(self, "backend", None), "device_blob", False) and \
                self.preprocessing.mode != "darknet_letterbox":
            return self.backend.make_blob(images, self.input_size, self.preprocessing.core_args())  # type: ignore
        return self.preprocessing.blob(images, self.input_size)

    def forward(self, blob: np.ndarray) -> list[np.ndarray]:
        """Runs the network on a blob (the GIL is released; safe from several threads)."""
        outputs = self.backend.forward(blob)
        if not self.device_outputs and outputs and not isinstance(outputs[0], np.ndarray):
            outputs = [o.detach().float().cpu().numpy() for o in outputs]  # device tensors to the host
        return outputs

    def metadata(self) -> dict[str, Any]:
        """What every result of this task records: backend, input size, mode and the task's own keys."""
        return {"backend": self.backend.name, "input_size": list(self.input_size), "mode": self.preprocessing.mode,
                **self.metadata_extra()}

    def results(self, decoded: Sequence[Any], transforms: np.ndarray, images: Sequence[np.ndarray],
                timings: Sequence[dict[str, float]], extras: Sequence[dict[str, Any]] | None = None) -> list[R]:
        """Wraps decoded items in result objects with their metadata (image size, timings, ``extras``)."""
        base = self.metadata()
        out = []
        for i, (item, image) in enumerate(zip(decoded, images)):
            meta = dict(base, timings=timings[i], image_size=[int(image.shape[1]), int(image.shape[0])])
            if extras is not None:
                meta.update(extras[i])
            out.append(self.make_result(item, meta, transforms[i]))
        return out

    @overload
    def __call__(self, source: ImageLike, **options: Any) -> R: ...

    @overload
    def __call__(self, source: list[Any] | tuple[Any, ...], **options: Any) -> list[R]: ...

    def __call__(self, source: Any, **options: Any) -> Any:
        """Runs the task on one image (path or BGR array) or a list of them (one batch).

        Returns:
            One result for one image, a list of them (in order) for a list.
        """
        done = run(self, source, **options)
        return [] if done is None else done.unwrap()

    def stream(self, source: Source, *, batch_size: int = 1, workers: int | None = None,
               **options: Any) -> Stream[R]:
        """Runs the task on every frame of a video, camera, folder or list of images, as a pipeline.

        Decoding, pre-processing and inference run on their own threads (see
        ``fastinfer.stream``); results equal calling the task on each frame
        (each batch of ``batch_size`` frames) in turn. Unreadable images in a
        folder or pattern are skipped with a ``fastinfer.StreamWarning``.

        Args:
            source: a video file, a camera index, a folder of images (sorted by
                name), a glob pattern of images (``"photos/*.jpg"``, sorted),
                or a list of image paths or BGR arrays.
            batch_size: frames per network call.
            workers: inference threads (None: 1). With several, give the
                task ``threads=`` so that together they fit the cores.
            **options: the task's per-call options (e.g. a detector's ``conf``).

        Returns:
            An iterator of ``(frame_index, frame, result)`` in frame order;
            leaving a ``for`` loop over it (``break`` included, with or
            without a variable holding the stream) stops and joins its threads.

        Raises:
            InvalidInputError: the video or camera cannot be opened, or a frame
                cannot be used (the message names the frame).

        Example:
            >>> det = fastinfer.Detector("yolov3-tiny")
            >>> for index, frame, dets in det.stream("street.mp4"):
            ...     print(index, len(dets))
        """
        from ..io.stream import Stream

        return Stream(self, source, batch_size=batch_size, workers=workers, options=_check_options(self, options))


def _check_options(task: Task[Any], options: dict[str, Any]) -> dict[str, Any]:
    """``task.check_options(**options)``, with an ``InvalidInputError`` for options the task does not take."""
    params = inspect.signature(task.check_options).parameters
    unknown = [name for name in options if name not in params]
    if unknown:
        takes = ", ".join(params) or "no options"
        raise InvalidInputError(f"{type(task).__name__} takes {takes}; got {', '.join(unknown)}")
    return task.check_options(**options)


def run(task: Task[R], source: ImageLike | Sequence[ImageLike], **options: Any) -> Run[R] | None:
    """Loads ``source`` (an image or a list: one batch), then ``task.preprocess``, ``task.forward``,
    ``task.postprocess`` and ``task.results``, timed per stage.

    Returns None for an empty list.
    """
    checked = _check_options(task, options)
    single = not isinstance(source, (list, tuple))
    sources: list[Any] = [source] if single else list(source)  # type: ignore[arg-type]
    if not sources:
        return None
    t0 = time.perf_counter()
    images = [load_image(s, name="image" if single else f"images[{i}]", bgr=False) for i, s in enumerate(sources)]
    t1 = time.perf_counter()
    blob, transforms = task.preprocess(images)
    t2 = time.perf_counter()
    outputs = task.forward(blob)
    t3 = time.perf_counter()
    decoded = task.postprocess(outputs, transforms, **checked)
    t4 = time.perf_counter()
    timings = {"load_ms": (t1 - t0) * 1e3, "preprocess_ms": (t2 - t1) * 1e3, "forward_ms": (t3 - t2) * 1e3,
               "postprocess_ms": (t4 - t3) * 1e3, "total_ms": (t4 - t0) * 1e3, "batch": len(images)}
    # The file each image came from, for results' save() (which re-reads it instead of keeping the pixels).
    paths = [{"path": os.fspath(s)} if isinstance(s, (str, os.PathLike)) else {} for s in sources]
    results = task.results(decoded, transforms, images, [dict(timings) for _ in images], paths)
    return Run(single, images, outputs, transforms, results, timings)
