"""What the benchmark scripts share: where the data is, the photos, timing policies, markdown tables."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

try:
    import cv2
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("benchmarks: need pip's OpenCV (opencv-python-headless 4.x) for the classic peers; `make build` "
             "installs it into .venv")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(1, str(REPO / "tests"))
import testdata  # noqa: E402 - the test-data folder and its manifest

#: The test-data folder (``make testdata``): models, photos, Darknet cfgs.
DEFAULT_DATA = testdata.folder()
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def require(paths: Sequence[Path], script: str) -> None:
    """Exits naming what is missing from the test data."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        sys.exit(f"{script}: test data not found: {', '.join(missing)} (run `make testdata`; "
                 "--data DIR to point elsewhere)")


def photo_paths(data: Path) -> list[Path]:
    """The photos in ``images/`` of the test data, sorted by name."""
    folder = data / "images"
    require([folder], "benchmarks")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_photos(paths: Sequence[Path]) -> dict[str, np.ndarray]:
    """``{file name: BGR image}`` (decoded once: decoding is never timed)."""
    images = {}
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            sys.exit(f"benchmarks: cannot decode {path}")
        images[path.name] = np.ascontiguousarray(image)
    return images


@dataclass(frozen=True)
class Policy:
    """How long one figure is timed (see ``fastinfer.tools.bench.measure``)."""

    warmup: int
    min_runs: int
    min_time: float
    max_runs: int = 200

    def kwargs(self) -> dict[str, Any]:
        return {"warmup": self.warmup, "min_runs": self.min_runs, "min_time": self.min_time,
                "max_runs": max(self.max_runs, self.min_runs)}


def cell(stats: dict | None, digits: int = 2) -> str:
    """A table cell: ``median [p10-p90]`` in ms, or ``-``."""
    if not stats:
        return "-"
    return f"{stats['median']:.{digits}f} [{stats['p10']:.{digits}f}-{stats['p90']:.{digits}f}]"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
