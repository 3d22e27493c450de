"""What the command line draws: the progress line of a stream and the inference-time banner."""

from __future__ import annotations

import sys
import time
from typing import TextIO

import numpy as np

from .. import _core


def draw_inference_time(image: np.ndarray, milliseconds: float) -> np.ndarray:
    """A copy of ``image`` with ``Inference time: 12.34 ms`` at the top left, as OpenCV's DNN demos draw it."""
    return _core.draw_banner(np.ascontiguousarray(image), f"Inference time: {milliseconds:.2f} ms")


# ------------------------------------------------------------------ progress


class ProgressBar:
    """A one-line progress report (``120/300 frames  24.8 fps  ETA 0:07``), redrawn in place.

    Args:
        total: the number of steps, if known (then a bar and ETA are shown).
        file: where to write; default ``sys.stderr``.
        unit: what a step is called.
        interval: the least time in seconds between redraws.

    Example:
        >>> with ProgressBar(300) as bar:
        ...     for _ in range(300):
        ...         bar.update()
    """

    def __init__(self, total: int | None = None, *, file: TextIO | None = None, unit: str = "frames",
                 interval: float = 0.1) -> None:
        self.total, self.unit, self.interval = total, unit, interval
        self.file = file if file is not None else sys.stderr
        self.count = 0
        self._start = time.perf_counter()
        self._drawn = -float("inf")  # when, and at which count, the line was last drawn
        self._drawn_count = -1
        self._width = 0

    def update(self, n: int = 1) -> None:
        self.count += n
        now = time.perf_counter()
        if now - self._drawn >= self.interval or self.count == self.total:
            self._draw(now)

    def _draw(self, now: float) -> None:
        self._drawn, self._drawn_count = now, self.count
        elapsed = now - self._start
        rate = self.count / elapsed if elapsed > 0 else 0.0
        text = self.format(self.count, self.total, rate, self.unit)
        self.file.write("\r" + text.ljust(self._width))
        self.file.flush()
        self._width = len(text)

    @staticmethod
    def format(count: int, total: int | None, rate: float, unit: str = "frames") -> str:
        """The line for ``count`` of ``total`` steps at ``rate`` per second."""
        if not total:
            return f"{count} {unit}  {rate:.1f} fps"
        width = 20
        filled = min(width, width * count // total)
        eta = int(round((total - count) / rate)) if rate > 0 and count <= total else 0
        return (f"[{'#' * filled}{'.' * (width - filled)}] {count}/{total} {unit}  {rate:.1f} fps  "
                f"ETA {eta // 60}:{eta % 60:02d}")

    def close(self) -> None:
        """Draws the final state and ends the line."""
        if self._drawn_count != self.count:
            self._draw(time.perf_counter())
        self.file.write("\n")
        self.file.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
