"""Any task over a video, a camera, a folder or a list of images, as a pipeline of threads.

Decoding, pre-processing and inference run on their own threads, joined by
bounded queues, so that one frame is decoded while another is pre-processed
and a third goes through the network; post-processing runs on the thread that
iterates. Every stage spends its time in the C++ core with the GIL released.

    decode --[frames]--> pre-process --[blobs]--> inference (x workers) --[outputs]--> caller: post-process

Results are those of calling the task on each frame (or on each batch of
``batch_size`` consecutive frames) one after another, in the same order.
"""

from __future__ import annotations

import glob
import itertools
import logging
import os
import queue
import threading
import time
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generator, Generic, Iterator, Sequence, TypeVar, Union

import numpy as np

from .. import _core
from ..errors import FastInferError, InvalidInputError
from ..validate import check_int, check_path, check_threads
from .images import ImageLike, load_image

if TYPE_CHECKING:  # pragma: no cover
    from ..tasks.base import Task

log = logging.getLogger(__name__)
R = TypeVar("R")
T = TypeVar("T")

if TYPE_CHECKING:  # pragma: no cover
    VideoReader = _core.VideoReader
    VideoWriter = _core.VideoWriter


def __getattr__(name: str) -> Any:
    if name in ("VideoReader", "VideoWriter"):  # the core's classes; it loads on first use
        return getattr(_core, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: File suffixes read as images in folders (OpenCV imgcodecs' formats).
IMAGE_SUFFIXES = (".bmp", ".dib", ".jpg", ".jpeg", ".jpe", ".jp2", ".png", ".webp", ".pbm", ".pgm", ".ppm", ".pxm",
                  ".pnm", ".sr", ".ras", ".tif", ".tiff", ".exr", ".hdr", ".pic")
#: File suffixes the command line treats as videos.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".3gp")

Source = Union[str, "os.PathLike[str]", int, Sequence[ImageLike]]
THREAD_PREFIX = "fastinfer-stream"
_POLL_S = 0.05  # how often a blocked stage looks at the stop flag
_JOIN_S = 5.0
MAX_BATCH = 4096  # frames per network call
MAX_CAMERA = 2**31 - 1


class StreamWarning(UserWarning):
    """A file or frame of a stream was skipped (unreadable image in a folder, truncated video)."""


def is_video_path(source: Any) -> bool:
    """Whether a path names a video file by its suffix (``.mp4``, ``.avi``, ...)."""
    return isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() in VIDEO_SUFFIXES


# ------------------------------------------------------------------ items passed down the pipeline


@dataclass
class _Frame:
    index: int
    image: np.ndarray
    path: str | None
    decode_ms: float


@dataclass
class _Skip:
    index: int
    message: str


@dataclass
class _Failed:
    index: int
    error: BaseException


@dataclass
class _Batch:
    frames: list[_Frame]
    blob: np.ndarray
    transforms: np.ndarray
    preprocess_ms: float
    outputs: list[np.ndarray] | None = None
    forward_ms: float = 0.0


_END = object()


# ------------------------------------------------------------------ sources


@dataclass
class _Source:
    name: str
    total: int | None
    fps: float | None
    frames: Callable[[], Iterator[_Frame | _Skip | _Failed]]
    close: Callable[[], None]


def _timed(load: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, float]:
    start = time.perf_counter()
    image = load(*args, **kwargs)
    return image, (time.perf_counter() - start) * 1e3


def _video_source(reader: _core.VideoReader) -> _Source:
    def frames() -> Iterator[_Frame | _Skip | _Failed]:
        for index in itertools.count():
            try:
                image, ms = _timed(reader.read)
            except FastInferError as exc:
                yield _Failed(index, exc)
                return
            if image is None:
                if 0 < reader.frame_count and index < reader.frame_count:
                    yield _Skip(index, f"{reader.name} ended after {index} of its {reader.frame_count} frames: "
                                       f"frame {index} is corrupt or the file is truncated")
                return
            yield _Frame(index, image, None, ms)

    total = reader.frame_count if reader.frame_count > 0 else None
    return _Source(reader.name, total, reader.fps or None, frames, reader.close)


def _folder_source(folder: Path) -> _Source:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise InvalidInputError(f"folder '{folder}' holds no image files ({', '.join(IMAGE_SUFFIXES[:6])}, ...)")
    return _files_source(f"folder '{folder}'", paths)


def _glob_source(pattern: str) -> _Source:
    paths = sorted(Path(p) for p in glob.glob(pattern, recursive=True)
                   if Path(p).suffix.lower() in IMAGE_SUFFIXES and Path(p).is_file())
    if not paths:
        raise InvalidInputError(f"pattern '{pattern}' matches no image files ({', '.join(IMAGE_SUFFIXES[:6])}, ...)")
    return _files_source(f"pattern '{pattern}'", paths)


def _files_source(name: str, paths: Sequence[Path]) -> _Source:
    """Image files read in turn; one that cannot be read is skipped with a ``StreamWarning``."""

    def frames() -> Iterator[_Frame | _Skip]:
        for index, path in enumerate(paths):
            try:
                image, ms = _timed(_core.imread, str(path))
            except InvalidInputError as exc:
                yield _Skip(index, f"skipped image {index} of {name}: {exc}")
                continue
            yield _Frame(index, image, str(path), ms)

    return _Source(name, len(paths), None, frames, lambda: None)


def _list_source(items: Sequence[ImageLike]) -> _Source:
    def frames() -> Iterator[_Frame | _Failed]:
        for index, item in enumerate(items):
            try:
                image, ms = _timed(load_image, item, name=f"source[{index}]")
            except FastInferError as exc:
                yield _Failed(index, exc)
                return
            path = os.fspath(item) if isinstance(item, (str, os.PathLike)) else None
            yield _Frame(index, image, path, ms)

    return _Source(f"a list of {len(items)} images", len(items), None, frames, lambda: None)


def open_source(source: Source) -> _Source:
    """A video file, camera index, folder, glob pattern, image file or list of images, opened for reading.

    A string that is not an existing path but holds ``*``, ``?`` or ``[``
    is a glob pattern (``**`` goes into subfolders); its image files are read
    in sorted order, as a folder's are.

    Raises:
        InvalidInputError: the video or camera cannot be opened, the folder
            or pattern holds no images, or ``source`` is none of these.
    """
    if isinstance(source, (int, np.integer)) and not isinstance(source, bool):
        # Defect 9 of issue 17: an index OpenCV cannot take is named, not a pybind11 TypeError.
        return _video_source(_core.VideoReader(check_int("source (a camera index)", source, low=0, high=MAX_CAMERA)))
    if isinstance(source, (str, os.PathLike)):
        path = Path(check_path("source", source))
        if not path.exists() and glob.has_magic(os.fspath(path)):
            return _glob_source(os.fspath(path))
        if path.is_dir():
            return _folder_source(path)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return _list_source([path])
        return _video_source(_core.VideoReader(os.fspath(path)))
    if isinstance(source, (list, tuple)):
        return _list_source(list(source))
    raise InvalidInputError("source must be a video file, a camera index, a folder, a glob pattern, or a list of "
                            f"image paths or arrays; got {type(source).__name__}")


# ------------------------------------------------------------------ the pipeline


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Puts ``item``, waiting while the queue is full; False once stopped."""
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            pass
    return False


def _get(q: queue.Queue, stop: threading.Event) -> Any:
    """The next item, waiting while the queue is empty; ``_END`` once stopped."""
    while not stop.is_set():
        try:
            return q.get(timeout=_POLL_S)
        except queue.Empty:
            pass
    return _END


class Stream(Generic[R]):
    """Iterator of ``(frame_index, frame, result)`` from a task's ``stream()`` (``Detector.stream`` and the others).

    Iterate it once. Leaving a ``for`` loop over it in any way (its end,
    ``break``, an exception, Ctrl-C) stops and joins its threads, whether or
    not a variable still holds the stream; so do ``close()``, the end of a
    ``with`` block, and the stream being garbage-collected. Only ``next()``
    called by hand leaves the threads running (ready with the next frames)
    until one of those happens.

    Attributes:
        name: how messages name the source (``"'clip.mp4'"``, ``"camera 0"``, ...).
        total: the number of frames or files, when known.
        fps: the video's frame rate, when it has one.

    Example:
        >>> det = fastinfer.Detector("yolov3-tiny", threads=1)
        >>> with det.stream("street.mp4", workers=2) as stream:
        ...     for index, frame, dets in stream:
        ...         print(f"{index}/{stream.total}: {len(dets)} objects")
    """

    def __init__(self, task: Task[R], source: Source, *, batch_size: int = 1, workers: int | None = None,
                 options: dict[str, Any] | None = None) -> None:
        batch_size = check_int("batch_size", batch_size, high=MAX_BATCH)
        workers = check_threads("workers", workers)  # issue 17, defect 6: bounded like threads=
        src = open_source(source)
        self.name, self.total, self.fps = src.name, src.total, src.fps
        self._close_source = src.close
        # The generator does not hold `self`, so dropping the stream closes it at once; the finalizer makes
        # sure of it (and closes a source never iterated) even if something keeps the generator alive.
        pipeline = _Pipeline(task, src, int(batch_size), int(workers or 1), options or {})
        self._iterator: Generator[tuple[int, np.ndarray, R], None, None] = pipeline.results()
        self._finalizer = weakref.finalize(self, _close_all, self._iterator, src.close)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, R]]:
        """A loop's own iterator: when the loop is left (``break``, an exception, its end), the loop drops it and
        the stream is closed, whether or not the caller still holds the stream (issue 17, defect 14)."""
        return self._loop()

    def _loop(self) -> Iterator[tuple[int, np.ndarray, R]]:
        try:
            yield from self._iterator
        finally:
            self.close()

    def __next__(self) -> tuple[int, np.ndarray, R]:
        return next(self._iterator)

    def close(self) -> None:
        """Stops the threads, waits for them and closes the source (also done when the loop ends or breaks)."""
        self._finalizer()

    def __enter__(self) -> Stream[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Pipeline(Generic[R]):
    """The threads and queues behind one ``Stream``; ``results()`` is run by the caller."""

    def __init__(self, task: Task[R], src: _Source, batch_size: int, workers: int, options: dict[str, Any]) -> None:
        self.task, self.src, self.batch_size, self.workers, self.options = task, src, batch_size, workers, options
        self.stop = threading.Event()
        self.frames_q: queue.Queue = queue.Queue(maxsize=2 * batch_size)  # single frames
        self.blobs_q: queue.Queue = queue.Queue(maxsize=2)  # (seq, batch), in order
        self.outputs_q: queue.Queue = queue.Queue(maxsize=2 * workers)  # (seq, batch), any order
        self.threads = [threading.Thread(target=self._decode, name=f"{THREAD_PREFIX}-decode", daemon=True),
                        threading.Thread(target=self._preprocess, name=f"{THREAD_PREFIX}-preprocess", daemon=True)]
        self.threads += [threading.Thread(target=self._infer, name=f"{THREAD_PREFIX}-infer-{i}", daemon=True)
                         for i in range(workers)]

    def _decode(self) -> None:
        try:
            for item in self.src.frames():
                if not _put(self.frames_q, item, self.stop):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            _put(self.frames_q, _Failed(-1, exc), self.stop)
        finally:
            self.src.close()
            _put(self.frames_q, _END, self.stop)

    def _preprocess(self) -> None:
        seq = itertools.count()
        pending: list[_Frame] = []

        def flush() -> bool:
            if not pending:
                return True
            start = time.perf_counter()
            try:
                blob, transforms = self.task.preprocess([f.image for f in pending])
                batch: Any = _Batch(list(pending), blob, transforms, (time.perf_counter() - start) * 1e3)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                batch = _Failed(pending[0].index, exc)
            pending.clear()
            return _put(self.blobs_q, (next(seq), batch), self.stop)

        while True:
            item = _get(self.frames_q, self.stop)
            if isinstance(item, _Frame):
                pending.append(item)
                if len(pending) < self.batch_size or flush():
                    continue
                return
            # A skipped frame, a failure or the end: send what is pending first, to keep the order.
            if not flush():
                return
            if item is not _END:
                if not _put(self.blobs_q, (next(seq), item), self.stop):
                    return
                continue
            end = next(seq)
            for _ in range(self.workers):  # one end marker per inference thread
                if not _put(self.blobs_q, (end, _END), self.stop):
                    return
            return

    def _infer(self) -> None:
        while True:
            got = _get(self.blobs_q, self.stop)
            if got is _END:  # stopped
                return
            seq, item = got
            if isinstance(item, _Batch):
                start = time.perf_counter()
                try:
                    item.outputs = self.task.forward(item.blob)
                    item.forward_ms = (time.perf_counter() - start) * 1e3
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    item = _Failed(item.frames[0].index, exc)
            if not _put(self.outputs_q, (seq, item), self.stop) or item is _END:
                return

    def results(self) -> Generator[tuple[int, np.ndarray, R], None, None]:
        """Starts the threads and yields each frame's detections in order; stops the threads when left."""
        try:
            for thread in self.threads:
                thread.start()
            ready: dict[int, Any] = {}  # outputs that arrived before their turn
            for seq in itertools.count():
                while seq not in ready:
                    got_seq, item = self._next_output()
                    ready[got_seq] = item
                item = ready.pop(seq)
                if item is _END:
                    return
                if isinstance(item, _Skip):
                    warnings.warn(item.message, StreamWarning, stacklevel=3)
                elif isinstance(item, _Failed):
                    raise _with_index(item.error, item.index, self.src.name)
                else:
                    yield from self._results(item)
        finally:
            self.close()

    def _next_output(self) -> tuple[int, Any]:
        while True:
            try:
                return self.outputs_q.get(timeout=0.5)
            except queue.Empty:
                if not any(t.is_alive() for t in self.threads) and self.outputs_q.empty():  # pragma: no cover
                    raise RuntimeError("the stream's threads ended without finishing the stream") from None

    def _results(self, batch: _Batch) -> Iterator[tuple[int, np.ndarray, R]]:
        start = time.perf_counter()
        try:
            decoded = self.task.postprocess(batch.outputs or [], batch.transforms, **self.options)
        except FastInferError as exc:
            raise _with_index(exc, batch.frames[0].index, self.src.name) from exc
        post_ms = (time.perf_counter() - start) * 1e3
        timings = [{"decode_ms": f.decode_ms, "preprocess_ms": batch.preprocess_ms, "forward_ms": batch.forward_ms,
                    "postprocess_ms": post_ms, "batch": len(batch.frames)} for f in batch.frames]
        extras = [{"frame": f.index, **({"path": f.path} if f.path is not None else {})} for f in batch.frames]
        images = [f.image for f in batch.frames]
        results = self.task.results(decoded, batch.transforms, images, timings, extras)
        for frame, result in zip(batch.frames, results):
            yield frame.index, frame.image, result

    def close(self) -> None:
        """Sets the stop flag, empties the queues and joins the threads."""
        self.stop.set()
        for q in (self.frames_q, self.blobs_q, self.outputs_q):
            _drain(q)
        deadline = time.monotonic() + _JOIN_S
        for thread in self.threads:
            if thread.ident is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self.threads if t.is_alive()]
        if alive:  # pragma: no cover - a stage stuck in a long call (e.g. a camera read)
            log.warning("stream threads still running after %.0f s: %s", _JOIN_S, ", ".join(alive))


def _close_all(iterator: Generator[Any, None, None], close_source: Callable[[], None]) -> None:
    iterator.close()  # the pipeline's `finally`: stop flag, drained queues, joined threads
    close_source()  # when never iterated, no thread has closed it


def _drain(q: queue.Queue) -> None:
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass


def _with_index(error: BaseException, index: int, name: str) -> BaseException:
    """``error`` of the same type with the frame index in front of its message (a note when it cannot be)."""
    where = f"{name}: " if index < 0 else f"frame {index} of {name}: "
    if isinstance(error, FastInferError):
        wrapped = type(error)(where + str(error))
        wrapped.__cause__ = error
        return wrapped
    error.add_note(where.rstrip(": "))
    return error


#: Deprecated name of ``Stream`` (the stream of ``Detector.stream``).
DetectionStream = Stream
