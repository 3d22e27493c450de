"""Classification pre-processing against torchvision's pipeline, before (resample="cv2") and after ("pil").

Usage:
    .venv/bin/python benchmarks/bench_resample.py [--data DIR] [--out DIR] [--quick]

What it measures, on the 11 sample photos of the test data and the real
EfficientNet-Lite0 (its ImageNet weights, exported with ``fastinfer.export``):

* the blob of ``fastinfer.Classifier`` (resize 256, crop 224) against
  torchvision's eval transforms on the PIL image (``Resize(256)``,
  ``CenterCrop(224)``, ``ToTensor``, ``Normalize``; written out with PIL in
  ``tests/torchvision_reference.py``): mean |difference| per photo in
  ImageNet-normalised units (mean/std ``IMAGENET_MEAN``/``IMAGENET_STD``), and
  the largest difference in grey levels (pixel steps of 1/255);
* the classifier's top-1 class and probability (mean 127/255, std 128/255, as
  the weights were trained) against the torch module fed torchvision's blob:
  how many top-1 classes agree, and the largest top-1 probability difference;
* speed: the core's PIL-exact resize against ``cv2.resize`` (INTER_LINEAR and
  INTER_AREA) and PIL's own ``Image.resize`` on a 1920x1080 photo and on
  Darknet's 768x576 dog photo, to the short side 256 (the whole image, through
  ``make_blob(mode="stretch")``, so both fastinfer figures include the float
  blob) and as the classifier uses it (``resize_crop`` 256 -> 224, which
  resamples the crop only). Medians of repeated runs
  (``fastinfer.tools.bench.measure``), OpenCV with its default threads.

Writes ``resample.md`` and ``resample.json`` to ``--out`` (default
``benchmarks/results/<machine>``) and prints the table and the ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from common import DEFAULT_DATA, REPO, cv2, photo_paths, require, table
from PIL import Image

import efficientnet_lite  # noqa: E402 - tests/ is on the path (common)
import fastinfer  # noqa: E402
import torchvision_reference  # noqa: E402
from fastinfer import _core  # noqa: E402
from fastinfer.tools import bench as benchmarking  # noqa: E402

WEIGHTS = Path("models") / "efficientnet-lite0" / "efficientnet-lite0-57934424.pth"
LITE = dict(mean=efficientnet_lite.MEAN, std=efficientnet_lite.STD)
RESAMPLES = ("cv2", "pil")


def accuracy(data: Path, photos: list[Path]) -> dict[str, Any]:
    """Blob differences and top-1 agreement against torchvision's pipeline, per resample mode."""
    images = [fastinfer.read_image(p) for p in photos]
    module = efficientnet_lite.load(data / WEIGHTS)
    reference = np.stack([torchvision_reference.blob(p, 256, (224, 224), **LITE) for p in photos])
    with torch.no_grad():
        expected = torch.softmax(module(torch.from_numpy(reference)), dim=1).numpy()
    imagenet = np.stack([torchvision_reference.blob(p) for p in photos])  # ImageNet mean/std
    std = np.asarray(fastinfer.IMAGENET_STD, np.float32)[:, None, None]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        onnx = Path(folder) / "efficientnet-lite0.onnx"
        report = fastinfer.export(module, torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)),
                                  onnx)
        if not report.passed:
            sys.exit(f"bench_resample: the export failed its check: {report}")
        for resample in RESAMPLES:
            norm = fastinfer.tasks.preprocessing.imagenet(224, 256, resample=resample)
            blob, _ = norm.blob(images, (224, 224))
            diff = np.abs(blob - imagenet)
            clf = fastinfer.Classifier(onnx, resample=resample, **LITE)
            results = clf(images, top_k=1000)
            rows = []
            for i, (photo, result) in enumerate(zip(photos, results)):
                top, p = int(result.class_id[0]), float(result.confidence[0])
                ref_top = int(expected[i].argmax())
                rows.append({"photo": photo.name, "blob_mean_abs_diff": float(diff[i].mean()),
                             "blob_max_grey_levels": float((diff[i] * std * 255).max()),
                             "top1": top, "torch_top1": ref_top, "top1_prob": p,
                             "torch_top1_prob": float(expected[i, ref_top]),
                             "top1_prob_diff": abs(p - float(expected[i, top]))})
            out[resample] = {"photos": rows, "top1_agree": sum(r["top1"] == r["torch_top1"] for r in rows),
                             "max_top1_prob_diff": max(abs(r["top1_prob"] - r["torch_top1_prob"]) for r in rows),
                             "prob_diff_over_0.01": sum(abs(r["top1_prob"] - r["torch_top1_prob"]) > 0.01
                                                        for r in rows)}
    return out


def time_paths(image: np.ndarray, policy: dict[str, Any]) -> dict[str, Any]:
    """Median ms of each resize path on one BGR image, to the short side 256."""
    h, w = image.shape[:2]
    rw, rh = torchvision_reference.resized_size(w, h, 256)
    pil = Image.fromarray(np.ascontiguousarray(image[:, :, ::-1]))

    def blob(mode: str, resample: str, size: tuple[int, int], **kw: Any) -> Callable[[], Any]:
        return lambda: _core.make_blob([image], size, mode, True, 1 / 255.0, [0.0], [1.0], resample=resample, **kw)

    paths = {
        "cv2.resize INTER_LINEAR": lambda: cv2.resize(image, (rw, rh), interpolation=cv2.INTER_LINEAR),
        "cv2.resize INTER_AREA": lambda: cv2.resize(image, (rw, rh), interpolation=cv2.INTER_AREA),
        "PIL Image.resize BILINEAR": lambda: pil.resize((rw, rh), Image.BILINEAR),
        "make_blob stretch, cv2": blob("stretch", "cv2", (rw, rh)),
        "make_blob stretch, pil": blob("stretch", "pil", (rw, rh)),
        "make_blob resize_crop 224, cv2": blob("resize_crop", "cv2", (224, 224), resize=256),
        "make_blob resize_crop 224, pil": blob("resize_crop", "pil", (224, 224), resize=256),
    }
    return {"to": f"{rw}x{rh}", "ms": {k: benchmarking.measure(fn, **policy).median for k, fn in paths.items()}}


def speed(photos: list[Path], quick: bool) -> dict[str, Any]:
    """Median ms of each resize path on a 1080p and a small photo."""
    policy = dict(warmup=1, min_runs=5, min_time=0.2) if quick else dict(warmup=3, min_runs=20, min_time=1.0)
    kite = cv2.imread(str(next(p for p in photos if p.name == "kite.jpg")))
    small = cv2.imread(str(next(p for p in photos if p.name == "dog.jpg")))
    return {"1920x1080 (kite.jpg upscaled)": time_paths(cv2.resize(kite, (1920, 1080), interpolation=cv2.INTER_CUBIC),
                                                        policy),
            "768x576 (dog.jpg)": time_paths(small, policy)}


def report(acc: dict[str, Any], fast: dict[str, Any], machine: dict[str, Any]) -> str:
    lines = ["# Classification pre-processing against torchvision's pipeline\n",
             f"{machine['cpu']}, {machine['cores']} cores, {machine['date']}\n",
             "## Blob and top-1 against torchvision (Resize(256) + CenterCrop(224) on the PIL image)\n",
             "Blob: mean |difference| in ImageNet-normalised units, and the largest in grey levels (1/255). "
             "Top-1: EfficientNet-Lite0 (mean 127/255, std 128/255) through fastinfer.Classifier against torch "
             "on torchvision's blob.\n"]
    rows = []
    for i, photo in enumerate(acc["cv2"]["photos"]):
        a, b = photo, acc["pil"]["photos"][i]
        rows.append([a["photo"], f"{a['blob_mean_abs_diff']:.4f}", f"{a['blob_max_grey_levels']:.1f}",
                     f"{b['blob_mean_abs_diff']:.2e}", f"{b['blob_max_grey_levels']:.4f}",
                     f"{a['torch_top1']} ({a['torch_top1_prob']:.3f})", f"{a['top1']} ({a['top1_prob']:.3f})",
                     f"{b['top1']} ({b['top1_prob']:.3f})"])
    lines.append(table(["photo", "cv2: mean diff", "cv2: max grey", "pil: mean diff", "pil: max grey",
                        "torch top-1 (p)", "cv2 top-1 (p)", "pil top-1 (p)"], rows))
    for r in RESAMPLES:
        lines.append(f"\n{r}: top-1 equal on {acc[r]['top1_agree']} of {len(acc[r]['photos'])} photos, top-1 "
                     f"probability off by more than 0.01 on {acc[r]['prob_diff_over_0.01']}, at most "
                     f"{acc[r]['max_top1_prob_diff']:.2e}")
    lines.append("\n## Speed (median ms)\n")
    for name, entry in fast.items():
        ms = entry["ms"]
        base = ms["cv2.resize INTER_LINEAR"]
        lines.append(f"### {name} -> {entry['to']}\n")
        lines.append(table(["path", "ms", "/ cv2.resize INTER_LINEAR"],
                           [[k, f"{v:.3f}", f"{v / base:.2f}"] for k, v in ms.items()]))
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--quick", action="store_true", help="short timing runs")
    args = parser.parse_args()
    require([args.data / WEIGHTS], "bench_resample")
    photos = photo_paths(args.data)
    machine = benchmarking.machine()
    acc = accuracy(args.data, photos)
    fast = speed(photos, args.quick)
    text = report(acc, fast, machine)
    print(text)
    out = args.out or (REPO / "benchmarks" / "results" / benchmarking.machine_slug())
    out.mkdir(parents=True, exist_ok=True)
    (out / "resample.md").write_text(text)
    (out / "resample.json").write_text(json.dumps({"machine": machine, "accuracy": acc, "speed": fast}, indent=1))
    for name, entry in fast.items():
        ms = entry["ms"]
        print(f"{name}: pil resize / cv2.resize INTER_LINEAR = "
              f"{ms['make_blob stretch, pil'] / ms['cv2.resize INTER_LINEAR']:.2f}, / PIL Image.resize = "
              f"{ms['make_blob stretch, pil'] / ms['PIL Image.resize BILINEAR']:.2f}; resize_crop pil / cv2 = "
              f"{ms['make_blob resize_crop 224, pil'] / ms['make_blob resize_crop 224, cv2']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
