"""GPU section: YOLO on the torch backend, forward alone and end to end, against the pure-Python GPU path.

Usage::

    python benchmarks/bench_gpu.py [--device cuda] [--quick] [--data DIR] [--out DIR]

What it measures (median, p10 and p90 of wall-clock ms per call, the device
synchronised inside each timed call), for yolov3-tiny (its real weights) and
yolov3 (Darknet's cfg, seeded random weights: ``tests/random_weights.py``) at
416 and 640, batch 1, 8 and 32:

* ``forward``: the torch module (``fastinfer.torch.darknet``) on a blob
  already on the device, FP32, FP16, and FP16 replayed from a CUDA graph;
* ``fastinfer``: ``Detector(cfg, backend="torch", device=..., half=...,
  cuda_graph=...)`` called on BGR images in host memory, to ``Detections``:
  upload of the uint8 pixels, the blob on the device, the forward pass, the
  confidence filter on the device and the core's decoding and NMS of the
  candidates;
* ``python``: what a user writes by hand: ``cv2.dnn.blobFromImages`` on the
  CPU, the same torch module on the device (FP32), the rows back to numpy, a
  vectorised numpy decode and torchvision's ``batched_nms`` (OpenCV's
  ``NMSBoxesBatched`` where torchvision is missing; the table says which).

Ratios printed last: FP16 / FP32 throughput at batch 32 (forward and end to
end), fastinfer end to end / its own forward at batch 1, and the pure-Python
path / fastinfer end to end at batch 1. Results go to
``<out>/<device name>/gpu.md`` and ``gpu.json`` with the device, CPU, versions
and date. ``--device cpu --quick`` is the smoke run CI does (small sizes, few
runs): it proves the script before a GPU machine spends time on it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(1, str(HERE.parent / "tests"))

import torch  # noqa: E402

import fastinfer  # noqa: E402
from fastinfer import _core  # noqa: E402
from fastinfer.tools import bench as benchmarking  # noqa: E402
from fastinfer.torch import TorchBackend  # noqa: E402
from fastinfer.torch import darknet  # noqa: E402

CONF, IOU = 0.25, 0.45


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device, quick: bool) -> dict[str, float]:
    def call() -> None:
        fn()
        sync(device)

    runs = dict(warmup=2, min_runs=3, min_time=0.0, max_runs=5) if quick else dict(warmup=10, min_runs=30,
                                                                                   min_time=1.0, max_runs=300)
    stats = benchmarking.measure(call, **runs)
    return {"median": stats.median, "p10": stats.p10, "p90": stats.p90, "runs": stats.runs}


def python_path(module: torch.nn.Module, device: torch.device, images: list[np.ndarray], size: int,
                nms: Callable) -> Callable[[], list]:
    """The hand-written GPU pipeline: cv2 blob on the CPU, torch forward, numpy decode, NMS per image."""
    import cv2

    def run() -> list:
        blob = cv2.dnn.blobFromImages(images, 1 / 255.0, (size, size), swapRB=True, crop=False)
        with torch.inference_mode():
            outputs = [o.cpu().numpy() for o in module(torch.from_numpy(blob).to(device))]
        rows = np.concatenate(outputs, axis=1)
        results = []
        for i, image in enumerate(images):
            h, w = image.shape[:2]
            r = rows[i]
            scores = r[:, 5:]
            class_id = scores.argmax(axis=1)
            confidence = scores[np.arange(len(r)), class_id]
            keep = (r[:, 4] > CONF) & (confidence > CONF)
            r, class_id, confidence = r[keep], class_id[keep], confidence[keep]
            boxes = np.stack([(r[:, 0] - r[:, 2] / 2) * w, (r[:, 1] - r[:, 3] / 2) * h,
                              (r[:, 0] + r[:, 2] / 2) * w, (r[:, 1] + r[:, 3] / 2) * h], axis=1)
            results.append(nms(boxes, confidence, class_id))
        return results

    return run


def pick_nms() -> tuple[str, Callable]:
    try:
        import torchvision

        def tv(boxes, scores, classes):
            keep = torchvision.ops.batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                                               torch.from_numpy(classes), IOU)
            return boxes[keep.numpy()]

        return "torchvision.ops.batched_nms", tv
    except Exception:  # noqa: BLE001 - torchvision missing or built for another torch
        import cv2

        def cv(boxes, scores, classes):
            xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
            keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), classes.tolist(), CONF, IOU)
            return boxes[np.asarray(keep, dtype=int).reshape(-1)]

        return "cv2.dnn.NMSBoxesBatched", cv


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return "-".join(name.lower().replace("nvidia", "").split())
    return benchmarking.machine_slug() + "-torch-cpu"


def models(data: Path, work: Path, quick: bool) -> dict[str, tuple[Path, Path]]:
    tiny = data / "models" / "yolov3-tiny"
    found = {"yolov3-tiny": (tiny / "yolov3-tiny.cfg", tiny / "yolov3-tiny.weights")}
    if not quick:
        from random_weights import write_random_weights

        cfg = data / "darknet-cfg" / "yolov3.cfg"
        photos = [fastinfer.read_image(p) for p in sorted((data / "images").glob("*.jpg"))[:2]]
        blob, _ = _core.make_blob(photos, (128, 128), "stretch", True, 1 / 255, [0.0] * 3, [1.0] * 3, 127.5)
        found["yolov3"] = (cfg, write_random_weights(cfg, work / "yolov3.weights", seed=3, blob=blob))
    missing = [str(p) for pair in found.values() for p in pair if not p.is_file()]
    if missing:
        sys.exit(f"bench_gpu: missing {', '.join(missing)} (make testdata, or --data DIR)")
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    sizes = [320] if args.quick else [416, 640]
    batches = [1, 2] if args.quick else [1, 8, 32]
    photos = [fastinfer.read_image(p) for p in sorted((args.data / "images").glob("*.jpg"))]
    nms_name, nms = pick_nms()
    figures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fastinfer-gpu-") as tmp:
        for name, (cfg, weights) in models(args.data, Path(tmp), args.quick).items():
            for size in sizes:
                module = darknet(cfg, weights, input_size=(size, size)).to(device)
                variants = [("fp32", False, False)] + ([("fp16", True, False), ("fp16+graph", True, True)]
                                                       if cuda else [])
                for batch in batches:
                    images = [photos[i % len(photos)] for i in range(batch)]
                    x = torch.rand(batch, 3, size, size, device=device)

                    def add(kind: str, precision: str, stats: dict[str, float]) -> None:
                        figures.append({"model": name, "size": size, "batch": batch, "kind": kind,
                                        "precision": precision, **stats})
                        print(f"{name} {size} b{batch} {kind:<9} {precision:<10} {stats['median']:9.3f} ms "
                              f"[{stats['p10']:.3f}-{stats['p90']:.3f}]", flush=True)

                    for precision, half, graph in variants:
                        program = module if not half else darknet(cfg, weights, input_size=(size, size))
                        backend = TorchBackend(program, device=device, half=half, cuda_graph=graph)
                        add("forward", precision, timed(lambda b=backend: b.forward_tensor(x), device, args.quick))
                        det = fastinfer.Detector(cfg, weights=weights, input_size=(size, size), backend="torch",
                                                 device=str(device), half=half, conf=CONF, iou=IOU,
                                                 backend_options={"cuda_graph": graph})
                        add("fastinfer", precision, timed(lambda d=det: d(images), device, args.quick))
                    add("python", "fp32", timed(python_path(module, device, images, size, nms), device, args.quick))
    return {"device": str(device), "device_name": torch.cuda.get_device_name(device) if cuda else "cpu",
            "cpu": benchmarking.cpu_model(), "nms_peer": nms_name, "quick": args.quick, "figures": figures,
            "versions": {"torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
                         "fastinfer": fastinfer.__version__},
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def ratios(result: dict[str, Any]) -> dict[str, float]:
    table = {(f["model"], f["size"], f["batch"], f["kind"], f["precision"]): f["median"] for f in result["figures"]}
    out: dict[str, float] = {}
    for (model, size, batch, kind, precision), ms in table.items():
        if precision == "fp16" and kind in ("forward", "fastinfer") and batch == max(b for (_, _, b, _, _) in table):
            fp32 = table.get((model, size, batch, kind, "fp32"))
            if fp32:
                out[f"{model}@{size} b{batch} {kind}: FP16 / FP32 throughput"] = fp32 / ms
        if kind == "fastinfer" and batch == 1:
            forward = table.get((model, size, batch, "forward", precision))
            if forward:
                out[f"{model}@{size} b1 {precision}: end to end / forward"] = ms / forward
            python = table.get((model, size, batch, "python", "fp32"))
            if python and precision == "fp32":
                out[f"{model}@{size} b1: pure-Python path / fastinfer (FP32)"] = python / ms
    return out


def markdown(result: dict[str, Any], found: dict[str, float]) -> str:
    lines = [f"# GPU benchmark: {result['device_name']} ({result['device']})", "",
             f"CPU {result['cpu']}; torch {result['versions']['torch']} (CUDA {result['versions']['cuda']}); "
             f"{result['date']}; pure-Python NMS: {result['nms_peer']}" + ("; QUICK SMOKE RUN" if result["quick"]
                                                                          else ""), "",
             "| model | size | batch | pipeline | precision | ms per call, median [p10-p90] |", "|---|---|---|---|---|---|"]
    lines += [f"| {f['model']} | {f['size']} | {f['batch']} | {f['kind']} | {f['precision']} | "
              f"{f['median']:.3f} [{f['p10']:.3f}-{f['p90']:.3f}] |" for f in result["figures"]]
    lines += ["", "| ratio | value |", "|---|---|"] + [f"| {k} | {v:.2f} |" for k, v in found.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(1, str(HERE))
    from common import DEFAULT_DATA

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default: cuda)")
    parser.add_argument("--quick", action="store_true", help="small sizes and few runs: the CPU smoke run")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="test-data folder (make testdata)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results folder (default: "
                        "benchmarks/results)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = run(args)
    found = ratios(result)
    folder = args.out / device_name(torch.device(args.device))
    folder.mkdir(parents=True, exist_ok=True)
    result["ratios"] = found
    (folder / "gpu.json").write_text(json.dumps(result, indent=1) + "\n")
    (folder / "gpu.md").write_text(markdown(result, found))
    for key, value in found.items():
        print(f"{key}: {value:.2f}")
    print(f"bench_gpu: wrote {folder / 'gpu.md'} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
