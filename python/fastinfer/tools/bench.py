"""Timing: a warm-up, then runs until a minimum count and time; medians and percentiles.

``measure`` and ``measure_stages`` are the timing helper of both
``fastinfer bench`` (``benchmark``, one model stage by stage) and the
benchmark suite in the source tree (``benchmarks/suite.py``). Nothing here
imports cv2 or torch.

Example:
    >>> from fastinfer import benchmarking
    >>> stats = benchmarking.measure(lambda: sum(range(10_000)), min_runs=20, min_time=0.1)
    >>> stats.median > 0 and stats.runs >= 20
    True
    >>> result = benchmarking.benchmark("yolov3-tiny", batch=1, min_runs=5)
    >>> print(result.summary())
"""

from __future__ import annotations

import datetime
import gc
import math
import os
import platform
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from .. import _core
from .._version import __version__
from ..errors import InvalidInputError
from ..formats import onnx as onnx_format
from ..tasks.base import Task
from ..validate import check_choice, check_count, check_size, is_int

#: The stages of one call, as ``benchmark`` and the suite report them.
STAGES = ("pre", "forward", "post", "e2e")
TASKS = ("detect", "classify")
WARMUP = 2
MIN_RUNS = 10
MIN_TIME_S = 1.0
MAX_RUNS = 1000
#: The image timed when none is given: seeded noise of this (width, height).
SYNTHETIC_SIZE = (640, 480)


@dataclass(frozen=True)
class Stats:
    """Milliseconds of repeated runs: median, 10th and 90th percentiles (inclusive, as numpy's default).

    Attributes:
        median: median in ms.
        p10: 10th percentile in ms.
        p90: 90th percentile in ms.
        runs: timed runs.
        warmup: untimed runs before them.
    """

    median: float
    p10: float
    p90: float
    runs: int
    warmup: int = 0

    def scaled(self, factor: float) -> Stats:
        """The same figures times ``factor`` (e.g. ``1 / batch`` for per-image ms)."""
        return Stats(self.median * factor, self.p10 * factor, self.p90 * factor, self.runs, self.warmup)

    def to_dict(self) -> dict[str, Any]:
        return {"median": self.median, "p10": self.p10, "p90": self.p90, "runs": self.runs, "warmup": self.warmup}

    def __str__(self) -> str:
        return f"{self.median:.2f} ms [{self.p10:.2f}, {self.p90:.2f}]"


def summarize(samples_ms: Sequence[float], warmup: int = 0) -> Stats:
    """``Stats`` of samples in ms (one sample: all three figures equal it)."""
    ms = [float(s) for s in samples_ms]
    if not ms:
        raise InvalidInputError("summarize needs at least one sample, got none")
    if len(ms) == 1:
        return Stats(ms[0], ms[0], ms[0], 1, warmup)
    deciles = statistics.quantiles(ms, n=10, method="inclusive")
    return Stats(statistics.median(ms), deciles[0], deciles[-1], len(ms), warmup)


def _check_policy(warmup: int, min_runs: int, min_time: float, max_runs: int) -> None:
    check_count("warmup", warmup, minimum=0)
    check_count("min_runs", min_runs)
    if not is_int(max_runs) or max_runs < min_runs:
        raise InvalidInputError(f"max_runs must be an int >= min_runs ({min_runs}), got {max_runs!r}")
    if not isinstance(min_time, (int, float)) or isinstance(min_time, bool) or not math.isfinite(min_time) \
            or min_time < 0:
        raise InvalidInputError(f"min_time must be a finite number of seconds >= 0, got {min_time!r}")


def _runs(fn: Callable[[], Any], warmup: int, min_runs: int, min_time: float,
          max_runs: int) -> Iterator[tuple[float, Any]]:
    """Calls ``fn`` ``warmup`` times, then yields ``(seconds, result)`` until both ``min_runs`` and
    ``min_time`` are reached or ``max_runs`` is; the garbage collector is off while timing."""
    _check_policy(warmup, min_runs, min_time, max_runs)
    for _ in range(warmup):
        fn()
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        runs = 0
        while runs < max_runs and (runs < min_runs or time.perf_counter() - started < min_time):
            t0 = time.perf_counter()
            result = fn()
            yield time.perf_counter() - t0, result
            runs += 1
    finally:
        if enabled:
            gc.enable()


def measure(fn: Callable[[], Any], *, warmup: int = WARMUP, min_runs: int = MIN_RUNS, min_time: float = MIN_TIME_S,
            max_runs: int = MAX_RUNS) -> Stats:
    """Times ``fn()``: ``warmup`` untimed calls, then timed calls until at least ``min_runs`` calls and
    ``min_time`` seconds, at most ``max_runs`` calls.

    Example:
        >>> measure(lambda: time.sleep(0.01), warmup=1, min_runs=5, min_time=0).median  # ~10.1 ms
    """
    samples = [seconds * 1e3 for seconds, _ in _runs(fn, warmup, min_runs, min_time, max_runs)]
    return summarize(samples, warmup)


def measure_stages(fn: Callable[[], Mapping[str, float]], *, warmup: int = WARMUP, min_runs: int = MIN_RUNS,
                   min_time: float = MIN_TIME_S, max_runs: int = MAX_RUNS) -> dict[str, Stats]:
    """Like ``measure`` for a ``fn`` that times its own stages: it returns ``{stage: seconds}`` per call.

    Example:
        >>> def call():
        ...     t0 = time.perf_counter(); blob = prepare(); t1 = time.perf_counter(); run(blob)
        ...     return {"pre": t1 - t0, "forward": time.perf_counter() - t1}
        >>> stages = measure_stages(call, min_runs=20)   # {"pre": Stats, "forward": Stats}
    """
    samples: dict[str, list[float]] = {}
    for _, stages in _runs(fn, warmup, min_runs, min_time, max_runs):
        for stage, seconds in stages.items():
            samples.setdefault(stage, []).append(seconds * 1e3)
    return {stage: summarize(ms, warmup) for stage, ms in samples.items()}


# ------------------------------------------------------------------ the machine


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask; else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def machine_slug() -> str:
    """A folder name for this machine: the CPU model and usable cores, e.g. ``amd-epyc-7b13-2cores``."""
    name = re.sub(r"\((r|tm)\)|\bcpu\b|\bprocessor\b|@.*$", " ", cpu_model().lower())
    words = re.sub(r"[^a-z0-9]+", "-", name).strip("-") or "unknown-cpu"
    return f"{words}-{usable_cores()}cores"


def machine() -> dict[str, Any]:
    """CPU model, core counts, platform and the date: what a timing needs beside it."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "usable_cores": usable_cores(),
            "platform": platform.platform(), "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}


def versions() -> dict[str, str]:
    """Versions of Python, numpy, fastinfer and the OpenCV and ONNX Runtime its core runs."""
    return {"python": platform.python_version(), "numpy": np.__version__, "fastinfer": __version__,
            "core_opencv": _core.opencv_version, "core_onnxruntime": _core.ort_version()}


# ------------------------------------------------------------------ one model


@dataclass(frozen=True)
class BenchResult:
    """``benchmark``'s figures: ms per image for each stage, and the set-up that produced them.

    Attributes:
        model: the model as given.
        task: ``"detect"`` or ``"classify"``.
        backend: the backend that ran it.
        precision: ``"fp32"`` or ``"int8"``.
        input_size: the network input ``(width, height)``.
        batch: images per call; the figures are per image (call time / batch).
        image: the timed image (a path, or the synthetic image's description).
        stages: ``{"pre", "forward", "post", "e2e"}`` -> ``Stats``. ``pre``,
            ``forward`` and ``post`` come from calls of the stages one after
            the other, ``e2e`` from separate calls of the public API.
    """

    model: str
    task: str
    backend: str
    precision: str
    input_size: tuple[int, int]
    batch: int
    image: str
    stages: dict[str, Stats] = field(default_factory=dict)

    @property
    def e2e_over_forward(self) -> float:
        """End to end / forward alone: what the pre- and post-processing and the API add to the network."""
        return self.stages["e2e"].median / self.stages["forward"].median

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "task": self.task, "backend": self.backend, "precision": self.precision,
                "input_size": list(self.input_size), "batch": self.batch, "image": self.image,
                "unit": "ms per image", "stages": {s: v.to_dict() for s, v in self.stages.items()},
                "e2e_over_forward": self.e2e_over_forward, "images_per_s": 1e3 / self.stages["e2e"].median,
                "machine": machine(), "versions": versions()}

    def summary(self) -> str:
        w, h = self.input_size
        e2e = self.stages["e2e"]
        lines = [f"{self.model}: {self.task}, {self.backend} {self.precision}, {w}x{h}, batch {self.batch}, "
                 f"image {self.image}",
                 f"ms per image, median [p10, p90] of {e2e.runs} runs after {e2e.warmup} warm-up "
                 f"({cpu_model()}, {usable_cores()} cores)"]
        lines += [f"  {stage:<8} {self.stages[stage].median:9.2f}  [{self.stages[stage].p10:.2f}, "
                  f"{self.stages[stage].p90:.2f}]" for stage in STAGES]
        lines.append(f"  end to end / forward alone: {self.e2e_over_forward:.2f}x; "
                     f"{1e3 / e2e.median:.1f} images/s")
        return "\n".join(lines)


def _input_size(value: int | Sequence[int] | None) -> tuple[int, int] | None:
    if value is None:
        return None
    values: list[int] = [value] * 2 if is_int(value) else list(value)  # type: ignore[list-item, arg-type]
    return check_size(values * 2 if len(values) == 1 else values)


def _classifier(model: str, input_size: tuple[int, int] | None, backend: str, precision: str):
    from ..tasks.classify import Classifier

    if precision != "fp32":
        raise InvalidInputError(f"precision {precision!r} is not available for classifiers; use 'fp32'")
    if input_size is None:
        path = Path(model)
        fixed = onnx_format.describe(path).inputs[0].image_size() if path.suffix.lower() == ".onnx" and \
            path.is_file() else None
        input_size = fixed or (224, 224)
    # The usual evaluation crop: the shorter side resized to input / 0.875 (256 for 224).
    return Classifier(model, input_size=input_size, resize=max(input_size) * 8 // 7, backend=backend)


def benchmark(model: str | os.PathLike[str], *, task: str = "detect", input_size: int | Sequence[int] | None = None,
              batch: int = 1, image: str | os.PathLike[str] | None = None, backend: str = "auto",
              precision: str = "fp32", calibration: Any = None, warmup: int = WARMUP, min_runs: int = MIN_RUNS,
              min_time: float = MIN_TIME_S, max_runs: int = MAX_RUNS) -> BenchResult:
    """Times one model stage by stage: pre-processing, forward, post-processing, and end to end.

    A batch is ``batch`` copies of one image. ``pre``, ``forward`` and
    ``post`` are timed by calling the task's ``preprocess``,
    ``backend.forward`` and ``postprocess`` one after the other; ``e2e`` by
    separate calls of the task object itself (``det(images)``), so it includes
    building the results. Each figure is per image: call time / ``batch``.

    Args:
        model: what ``fastinfer.Detector`` (task ``"detect"``) or
            ``fastinfer.Classifier`` (``"classify"``, an ONNX classifier) loads.
        task: ``"detect"`` or ``"classify"``.
        input_size: the network input, an int or ``(width, height)``. Default:
            the model's own (a classifier with a dynamic size: 224); a
            classifier resizes the shorter side to ``input / 0.875`` and crops.
        batch: images per call.
        image: the image to time (a path); default: seeded noise of
            ``SYNTHETIC_SIZE`` (a detector then finds little or nothing, so
            post-processing is at its cheapest).
        backend: ``"auto"``, ``"onnxruntime"`` or ``"opencv"``.
        precision: ``"fp32"`` or ``"int8"`` (detectors on ONNX Runtime).
        calibration: INT8 calibration images (``Detector(calibration=)``).
        warmup, min_runs, min_time, max_runs: see ``measure``.

    Returns:
        A ``BenchResult``.

    Raises:
        InvalidInputError: a bad argument.
        ModelLoadError: the model cannot be loaded for ``task``.

    Example:
        >>> result = fastinfer.benchmarking.benchmark("yolov3-tiny", batch=8)
        >>> result.stages["e2e"].median, result.e2e_over_forward
        (21.4, 1.04)
    """
    check_choice("task", task, TASKS)
    batch = check_count("batch", batch)  # type: ignore[assignment]
    _check_policy(warmup, min_runs, min_time, max_runs)
    size = _input_size(input_size)
    if image is None:
        w, h = SYNTHETIC_SIZE
        picture = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        described = f"synthetic {w}x{h} noise"
    else:
        from ..io.images import read_image

        picture, described = read_image(image), str(image)
    images = [picture] * int(batch)

    runner: Task[Any]
    if task == "detect":
        from ..tasks.detect import Detector

        runner = Detector(model, input_size=size, backend=backend, precision=precision, calibration=calibration)
    else:
        runner = _classifier(os.fspath(model), size, backend, precision)

    def stages() -> dict[str, float]:
        t0 = time.perf_counter()
        blob, transforms = runner.preprocess(images)
        t1 = time.perf_counter()
        outputs = runner.forward(blob)
        t2 = time.perf_counter()
        runner.postprocess(outputs, transforms)
        return {"pre": t1 - t0, "forward": t2 - t1, "post": time.perf_counter() - t2}

    policy: dict[str, Any] = dict(warmup=warmup, min_runs=min_runs, min_time=min_time, max_runs=max_runs)
    timed = measure_stages(stages, **policy)
    timed["e2e"] = measure(lambda: runner(images), **policy)
    per_image = {stage: timed[stage].scaled(1 / batch) for stage in STAGES}
    return BenchResult(os.fspath(model), task, runner.backend.name, precision, runner.input_size, int(batch),
                       described, per_image)
