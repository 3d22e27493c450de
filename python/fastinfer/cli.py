"""The ``fastinfer`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

from . import __version__, _core
from .backends import BACKENDS
from .detector import HEADS, PRECISIONS, Detector
from .errors import FastInferError
from .images import read_image, write_image


def _detect(args: argparse.Namespace) -> int:
    detector = Detector(args.model, conf=args.conf, iou=args.iou, letterbox=args.letterbox, backend=args.backend,
                        head=args.head, precision=args.precision, input_size=args.input_size)
    out_dir = Path(args.out) if args.out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path in args.images:
        try:
            image = read_image(path)
            start = time.perf_counter()
            dets = detector(image)
            elapsed = (time.perf_counter() - start) * 1e3
        except FastInferError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failures += 1
            continue
        written = None
        if out_dir:
            written = out_dir / (Path(path).stem + ".jpg")
            write_image(written, dets.draw(image))
        if args.json:
            record = {"image": str(path), "time_ms": round(elapsed, 2), **dets.to_dict()}
            if written:
                record["annotated"] = str(written)
            print(json.dumps(record))
            continue
        print(f"{path}: {len(dets)} objects in {elapsed:.1f} ms")
        for box, score, _, label in dets:
            x1, y1, x2, y2 = (int(round(float(v))) for v in box)
            print(f"  {label:<16} {score:.2f}  ({x1}, {y1}, {x2}, {y2})")
        if written:
            print(f"  annotated image: {written}")
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastinfer", description="Fast inference for vision models.")
    parser.add_argument("--version", action="version",
                        version=f"fastinfer {__version__} (core with OpenCV {_core.opencv_version})")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what fastinfer does")
    commands = parser.add_subparsers(dest="command", required=True)
    detect = commands.add_parser("detect", help="detect objects in images")
    detect.add_argument("images", nargs="+", help="image files")
    detect.add_argument("--model", default="yolov3-tiny", help="Darknet cfg, ONNX file or model zoo name "
                        "(default: yolov3-tiny)")
    detect.add_argument("--conf", type=float, default=0.25, help="confidence threshold (default: 0.25)")
    detect.add_argument("--iou", type=float, default=0.45, help="NMS IoU threshold (default: 0.45)")
    detect.add_argument("--letterbox", action="store_true", default=None,
                        help="keep the aspect ratio and pad (default: the model family's own choice)")
    detect.add_argument("--input-size", type=int, nargs=2, metavar=("W", "H"), help="network input size")
    detect.add_argument("--backend", choices=BACKENDS, default="auto", help="inference backend (default: auto, "
                        "ONNX Runtime)")
    detect.add_argument("--precision", choices=PRECISIONS, default="fp32", help="fp32, or int8 (ONNX Runtime, "
                        "calibrated once on Darknet's sample photos and cached)")
    detect.add_argument("--head", choices=HEADS, help="output layout of an ONNX model (default: recognised)")
    detect.add_argument("--out", metavar="DIR", help="write annotated images into DIR")
    detect.add_argument("--json", action="store_true", help="print one JSON object per image")
    detect.set_defaults(run=_detect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("fastinfer").setLevel(logging.INFO)
    try:
        return args.run(args)
    except FastInferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
