"""yolov3-tiny in fastinfer against Debian's ``darknet detect``: printed percentages, before and after.

Usage: ``python benchmarks/bench_darknet_exact.py [--thresh 0.5 0.25] [--out FILE.md]``

For every photo Debian's darknet package ships (the test data's jpgs) and each
``-thresh``, ``darknet detect`` runs on the test data's yolov3-tiny cfg and
weights, and its ``name: NN%`` lines are compared with fastinfer's
``multi_label=True`` detections at ``conf=thresh`` printed the same way
(``%.0f`` of ``score * 100`` in float), with

* ``letterbox=True``: the cv2-style letterbox (``cv::resize`` on uint8), the
  state before Darknet-exact mode;
* ``letterbox="darknet"``: Darknet's own letterbox and resize.

Lines are paired by class, best percentage with best percentage; a line
without a partner counts as unequal. ``equal`` is the number of identical
lines of darknet's, ``max diff`` the largest difference in percentage points
over the pairs (``-`` when none). Then the speed of the two blobs (median of
20 ``make_blob`` calls per photo), as a ratio.
"""

from __future__ import annotations

import argparse
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import fastinfer
from fastinfer import _core

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, require  # noqa: E402

LINE = re.compile(r"^(.+): (\d+)%$", re.MULTILINE)


def darknet_lines(darknet: str, cfg: Path, weights: Path, image: Path, thresh: float) -> list[tuple[str, int]]:
    with tempfile.TemporaryDirectory() as cwd:  # darknet writes its annotated image into the working folder
        out = subprocess.run([darknet, "detect", str(cfg), str(weights), str(image), "-thresh", str(thresh),
                              "-out", "predictions"], cwd=cwd, capture_output=True, text=True, timeout=300,
                             check=True).stdout
    return [(m.group(1), int(m.group(2))) for m in LINE.finditer(out)]


def fastinfer_lines(det: fastinfer.Detector, image: Path) -> list[tuple[str, int]]:
    dets = det(image)
    return [(label, int(f"{np.float32(score) * np.float32(100):.0f}"))
            for label, score in zip(dets.labels, dets.confidence)]


def compare(got: list[tuple[str, int]], expected: list[tuple[str, int]]) -> tuple[int, int | None]:
    """(lines of ``expected`` equal in ``got``, the largest difference of the class-paired percentages)."""
    by_class: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for name, pct in got:
        by_class[name][0].append(pct)
    for name, pct in expected:
        by_class[name][1].append(pct)
    equal, worst = 0, None
    for a, b in by_class.values():
        a.sort(reverse=True)
        b.sort(reverse=True)
        for x, y in zip(a, b):
            equal += x == y
            worst = abs(x - y) if worst is None else max(worst, abs(x - y))
    return equal, worst


def blob_ms(image: np.ndarray, mode: str) -> float:
    times = []
    for _ in range(20):
        start = time.perf_counter()
        _core.make_blob([image], (416, 416), mode)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def cpu_name() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thresh", type=float, nargs="+", default=[0.5, 0.25])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    args = parser.parse_args()
    darknet = shutil.which("darknet")
    if darknet is None:
        sys.exit("Debian's darknet binary is not installed (apt-get install darknet)")
    model = args.data / "models" / "yolov3-tiny"
    cfg, weights = model / "yolov3-tiny.cfg", model / "yolov3-tiny.weights"
    photos = sorted((args.data / "images").glob("*.jpg"))
    require([cfg, weights, *photos], "bench_darknet_exact.py")

    rows = ["| photo | thresh | darknet lines | cv2 letterbox: equal | max diff (points) | "
            "darknet letterbox: equal | max diff (points) |", "|---|---|---|---|---|---|---|"]
    totals = {"cv2": [0, 0], "darknet": [0, 0]}
    for thresh in args.thresh:
        before = fastinfer.Detector(cfg, letterbox=True, multi_label=True, conf=thresh, iou=0.45)
        after = fastinfer.Detector(cfg, letterbox="darknet", multi_label=True, conf=thresh, iou=0.45)
        for photo in photos:
            expected = darknet_lines(darknet, cfg, weights, photo, thresh)
            cells = []
            for key, det in (("cv2", before), ("darknet", after)):
                equal, worst = compare(fastinfer_lines(det, photo), expected)
                totals[key][0] += equal
                totals[key][1] = max(totals[key][1], worst or 0)
                cells += [f"{equal}/{len(expected)}", "-" if worst is None else str(worst)]
            rows.append(f"| {photo.name} | {thresh} | {len(expected)} | " + " | ".join(cells) + " |")
            print(rows[-1], flush=True)
    lines = sum(int(r.split("|")[3]) for r in rows[2:])
    rows.append(f"| all | | {lines} | {totals['cv2'][0]}/{lines} | {totals['cv2'][1]} | "
                f"{totals['darknet'][0]}/{lines} | {totals['darknet'][1]} |")

    ratios = []
    for photo in photos:
        image = fastinfer.read_image(photo)
        ratios.append(blob_ms(image, "darknet_letterbox") / blob_ms(image, "letterbox"))
    speed = (f"Blob time, darknet_letterbox / cv2 letterbox at 416x416 (median of 20 per photo): "
             f"{min(ratios):.1f}x to {max(ratios):.1f}x ({cpu_name()})")
    text = "\n".join(rows) + "\n\n" + speed + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
