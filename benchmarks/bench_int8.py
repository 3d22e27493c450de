"""INT8 against FP32: what each quantization recipe keeps of FP32's detections, and how much faster it runs.

What it measures, for yolov3-tiny (real weights, 416x416) on ONNX Runtime, per
recipe of ``fastinfer.quantization.RECIPES`` (each calibrated on the photos
that ship with fastinfer, the default of ``precision="int8"``):

* recall of FP32's detections: the share of FP32's detections (conf 0.25, and
  separately those with score >= 0.5) that INT8 also finds, same class and IoU
  >= 0.5, on the test data's photos (``images/``: Darknet's 7 sample photos
  and 4 of scikit-image's) and on the frames of a clip made from them; "extra"
  counts INT8 detections (score >= 0.5) that match no FP32 one;
* speed: the forward pass alone (the blob of ``dog.jpg``) and end to end
  (``det(image)``), FP32 and INT8 timed alternately in the same run (3 rounds
  of ``fastinfer.tools.bench.measure`` each, the median of the round medians);
  the ratio is FP32 ms / INT8 ms (above 1: INT8 is faster).

The clip: the test data has no video, so one is made deterministically from
the photos with camera-like motion: per photo, ``--frames / 11`` 640x480
frames of a window that pans across the photo and zooms in (from 90% to 60%
of its shorter side), written as MPEG-4 with pip's cv2 into a temporary
folder and decoded back with fastinfer's ``VideoReader`` (so the frames carry
real compression artefacts).

The figures go to ``benchmarks/results/<machine>/int8.json`` and ``int8.md``
with the CPU's model and the flags that matter (``fastinfer.runtime.cpu_features``).

Usage:
    .venv/bin/python benchmarks/bench_int8.py [--frames 300] [--recipes full float-activations ...] [--quick]
        [--data DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_DATA, REPO, cv2, photo_paths, require, table  # noqa: E402

import fastinfer  # noqa: E402
from fastinfer import benchmarking  # noqa: E402
from fastinfer.runtime import cpu_features, quantization  # noqa: E402

SIZE = (640, 480)
FPS = 25.0
IOU_MATCH = 0.5
STRONG = 0.5


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def found(ref: Any, other: Any) -> np.ndarray:
    """For each detection of ``ref``: whether ``other`` has one of the same class with IoU >= 0.5."""
    hit = np.zeros(len(ref), bool)
    for i in range(len(ref)):
        same = other.xyxy[other.class_id == ref.class_id[i]]
        hit[i] = len(same) > 0 and float(iou(ref.xyxy[i:i + 1], same).max()) >= IOU_MATCH
    return hit


def agreement(fp32: list, int8: list) -> dict:
    """Recall of FP32's detections (all, and score >= 0.5) and INT8's unmatched strong detections."""
    total = strong_total = hit = strong_hit = extra = 0
    for a, b in zip(fp32, int8):
        h = found(a, b)
        strong = a.confidence >= STRONG
        total += len(a)
        hit += int(h.sum())
        strong_total += int(strong.sum())
        strong_hit += int(h[strong].sum())
        b_strong = b[b.confidence >= STRONG]
        extra += int((~found(b_strong, a)).sum())
    return {"fp32_detections": total, "recall": hit / total if total else 1.0,
            "fp32_strong": strong_total, "recall_strong": strong_hit / strong_total if strong_total else 1.0,
            "int8_extra_strong": extra}


def make_clip(path: Path, photos: list[Path], frames: int) -> Path:
    """A deterministic clip with camera-like motion: per photo, a window panning across it and zooming in."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    if not writer.isOpened():
        sys.exit(f"bench_int8: cv2 cannot write {path}")
    per = max(2, frames // len(photos))
    written = 0
    for k, photo in enumerate(photos):
        image = cv2.imread(str(photo))
        h, w = image.shape[:2]
        for i in range(per if k < len(photos) - 1 else frames - written):
            t = i / max(1, per - 1)
            side = min(h, w * SIZE[1] / SIZE[0]) * (0.9 - 0.3 * t)  # window height; 4:3
            ww, wh = side * SIZE[0] / SIZE[1], side
            ww = min(ww, w)
            direction = 1 if k % 2 == 0 else -1  # alternate pans left-to-right and right-to-left
            cx = w / 2 + direction * (t - 0.5) * (w - ww)
            cy = h / 2 + 0.25 * np.sin(np.pi * t) * (h - wh)
            x0, y0 = cx - ww / 2, cy - wh / 2
            m = np.array([[SIZE[0] / ww, 0, -x0 * SIZE[0] / ww], [0, SIZE[1] / wh, -y0 * SIZE[1] / wh]])
            writer.write(cv2.warpAffine(image, m, SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
            written += 1
    writer.release()
    return path


def read_frames(path: Path) -> list[np.ndarray]:
    reader = fastinfer.VideoReader(str(path))
    frames = []
    while (frame := reader.read()) is not None:
        frames.append(frame)
    reader.close()
    return frames


def timed(fp32: Any, int8: Any, blob: np.ndarray, image: np.ndarray, rounds: int, policy: dict) -> dict:
    """Forward and end-to-end medians (ms) of both detectors, alternated round by round."""
    runs: dict[str, list[float]] = {"fp32_forward": [], "int8_forward": [], "fp32_end_to_end": [],
                                    "int8_end_to_end": []}
    for _ in range(rounds):
        for label, det in (("fp32", fp32), ("int8", int8)):
            forward = benchmarking.measure(lambda d=det: d.backend.forward(blob), **policy)
            runs[f"{label}_forward"].append(forward.median)
            runs[f"{label}_end_to_end"].append(benchmarking.measure(lambda d=det: d(image), **policy).median)
    out: dict[str, Any] = {k: round(statistics.median(v), 3) for k, v in runs.items()}
    out["forward_ratio"] = round(out["fp32_forward"] / out["int8_forward"], 3)
    out["end_to_end_ratio"] = round(out["fp32_end_to_end"] / out["int8_end_to_end"], 3)
    out["rounds"] = {k: [round(x, 3) for x in v] for k, v in runs.items()}
    return out


def scales_digest(path: Path) -> str:
    """SHA-256 of a QDQ model's quantization scales: equal digests mean equal calibration results."""
    import onnx
    from onnx import numpy_helper

    digest = hashlib.sha256()
    for init in sorted(onnx.load(str(path)).graph.initializer, key=lambda i: i.name):
        if init.name.endswith("_scale"):
            digest.update(init.name.encode() + numpy_helper.to_array(init).tobytes())
    return digest.hexdigest()


def run(data: Path, recipes: list[str], frames: int, quick: bool, write: Any = None) -> dict:
    model = data / "models" / "yolov3-tiny"
    cfg, weights = model / "yolov3-tiny.cfg", model / "yolov3-tiny.weights"
    require([cfg, weights], "bench_int8")
    photos = photo_paths(data)
    features = cpu_features()
    policy = {"warmup": 3, "min_runs": 10, "min_time": 0.3 if quick else 0.5}
    rounds = 1 if quick else 3
    fp32 = fastinfer.Detector(str(cfg), str(weights))
    images = [fastinfer.read_image(p) for p in photos]
    dog = fastinfer.read_image(next(p for p in photos if p.name == "dog.jpg"))
    blob, _ = fp32.preprocess([dog])
    result: dict[str, Any] = {
        "date": benchmarking.machine()["date"], "machine": benchmarking.machine(), "cpu": features.to_dict(),
        "versions": benchmarking.versions(), "model": "yolov3-tiny 416x416", "photos": [p.name for p in photos],
        "calibration": [p.name for p in quantization.default_calibration_images()],
        "default_recipe": quantization.default_recipe(features).name, "quick": quick, "recipes": {}}
    with tempfile.TemporaryDirectory(prefix="fastinfer-bench-int8-") as tmp:
        clip = read_frames(make_clip(Path(tmp) / "clip.mp4", photos, frames))
        result["frames"] = len(clip)
        ref_photos = [fp32(im) for im in images]
        ref_frames = [fp32(f) for f in clip]
        print(f"# INT8 recipes on {features.model} ({', '.join(features.int8_dot_product) or 'no int8 dot product'}); "
              f"{len(photos)} photos, {len(clip)} frames; FP32 finds {sum(map(len, ref_photos))} and "
              f"{sum(map(len, ref_frames))} objects")
        for name in recipes:
            recipe = quantization.RECIPES[name]
            t = time.perf_counter()
            path = quantization.quantize(fp32.onnx_path, None, Path(tmp) / f"{name}.onnx", preprocess=fp32._one_blob,
                                         recipe=recipe)
            quantize_s = time.perf_counter() - t
            # The FP32 detector's own pipeline with the INT8 model on its backend.
            int8 = fastinfer.Detector(str(cfg), str(weights))
            int8.load_backend(path, None, "onnxruntime")
            entry = {"recipe": {k: v for k, v in vars(recipe).items()}, "quantize_s": round(quantize_s, 1),
                     "photos": agreement(ref_photos, [int8(im) for im in images]),
                     "frames": agreement(ref_frames, [int8(f) for f in clip]),
                     "speed": timed(fp32, int8, blob, dog, rounds, policy), "scales_sha256": scales_digest(path)}
            same = [n for n, e in result["recipes"].items() if e.get("scales_sha256") == entry["scales_sha256"]]
            if same:
                entry["same_scales_as"] = same[0]
            result["recipes"][name] = entry
            p, f, s = entry["photos"], entry["frames"], entry["speed"]
            print(f"{name:18s} recall photos {p['recall']:.3f} (>=0.5: {p['recall_strong']:.3f}, extra "
                  f"{p['int8_extra_strong']}) frames {f['recall']:.3f} (>=0.5: {f['recall_strong']:.3f}, extra "
                  f"{f['int8_extra_strong']}) | forward {s['fp32_forward']:.1f} -> {s['int8_forward']:.1f} ms "
                  f"({s['forward_ratio']:.2f}x) end to end {s['fp32_end_to_end']:.1f} -> {s['int8_end_to_end']:.1f} ms "
                  f"({s['end_to_end_ratio']:.2f}x)", flush=True)
            if write is not None:  # after each recipe, so an interrupted run keeps what it measured
                result["loadavg"] = [round(x, 2) for x in os.getloadavg()]
                write(result)
    result["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    return result


def markdown(result: dict) -> str:
    cpu = result["cpu"]
    m = result["machine"]
    lines = [f"# INT8 against FP32: yolov3-tiny, recipe by recipe ({result['date']})\n",
             f"Machine: {cpu['model']}, {m['usable_cores']} usable cores ({cpu['arch']}); flags: "
             f"{' '.join(cpu['flags'])}; int8 dot product: {', '.join(cpu['int8_dot_product']) or 'none'}.  ",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()) + ".  ",
             f"Calibration: the {len(result['calibration'])} photos shipped with fastinfer "
             f"({', '.join(result['calibration'])}). Evaluation: {len(result['photos'])} photos of the test data and "
             f"{result['frames']} frames of a clip made from them (pans and zooms, MPEG-4). Default recipe on this "
             f"CPU: `{result['default_recipe']}`.\n",
             "Recall: FP32's detections (conf 0.25; and those with score >= 0.5) that INT8 also finds, same class, "
             "IoU >= 0.5. Extra: INT8 detections with score >= 0.5 that match no FP32 one. Speed: ms, FP32 -> INT8, "
             "ratio FP32 / INT8 (above 1: INT8 faster), forward on dog.jpg's blob and end to end on dog.jpg, both "
             "timed alternately in the same run.\n"]
    rows = []
    for name, e in result["recipes"].items():
        p, f, s = e["photos"], e["frames"], e["speed"]
        rows.append([f"`{name}`", f"{p['recall']:.3f} / {p['recall_strong']:.3f} / {p['int8_extra_strong']}",
                     f"{f['recall']:.3f} / {f['recall_strong']:.3f} / {f['int8_extra_strong']}",
                     f"{s['fp32_forward']:.1f} -> {s['int8_forward']:.1f} ({s['forward_ratio']:.2f}x)",
                     f"{s['fp32_end_to_end']:.1f} -> {s['int8_end_to_end']:.1f} ({s['end_to_end_ratio']:.2f}x)"])
    first = next(iter(result["recipes"].values()))
    lines.append(table(["recipe", f"photos: recall / >=0.5 / extra (FP32: {first['photos']['fp32_detections']})",
                        f"frames: recall / >=0.5 / extra (FP32: {first['frames']['fp32_detections']})",
                        "forward ms", "end to end ms"], rows))
    lines.append("\nRecipes (`fastinfer.quantization.RECIPES`):\n")
    for name, e in result["recipes"].items():
        r = e["recipe"]
        lines.append(f"- `{name}`: {', '.join(r['op_types'])}; weights "
                     f"{'per channel' if r['per_channel'] else 'per tensor'}, {'7' if r['reduce_range'] else '8'}-bit; "
                     f"{r['calibration']} calibration; float: "
                     + (", ".join(x for x, on in (("output convolutions", r["float_head"]),
                                                  ("first convolution", r["float_first"])) if on) or "decoding only"))
    for name, e in result["recipes"].items():
        if e.get("same_scales_as"):
            why = (": ONNX Runtime's `quantize_static` runs entropy calibration with 128 histogram bins for 128 "
                   "quantized bins (it does not pass its bin options on), which leaves the full range as the only "
                   "candidate threshold" if e["recipe"]["calibration"] == "entropy" else "")
            lines.append(f"\n`{name}` gave exactly the scales of `{e['same_scales_as']}` (the same model){why}.")
    lines.append(f"\nLoad average at the end: {' '.join(map(str, result['loadavg']))} (a shared machine: speed figures "
                 "vary between runs; the ratios come from alternated timings).\n\n"
                 "Generated by `benchmarks/bench_int8.py`.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--recipes", nargs="+", choices=list(quantization.RECIPES), default=list(quantization.RECIPES))
    parser.add_argument("--quick", action="store_true", help="one timing round, fewer runs; 33 frames")
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/<machine> "
                        "(--quick: benchmarks/out/quick)")
    args = parser.parse_args(argv)
    frames = 33 if args.quick else args.frames
    out = args.out or REPO / "benchmarks" / ("out/quick" if args.quick else "results") / benchmarking.machine_slug()
    out.mkdir(parents=True, exist_ok=True)

    def write(result: dict) -> None:
        (out / "int8.json").write_text(json.dumps(result, indent=1) + "\n")
        (out / "int8.md").write_text(markdown(result))

    write(run(args.data.resolve(), args.recipes, frames, args.quick, write))
    print(f"wrote {out}/int8.md and int8.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
