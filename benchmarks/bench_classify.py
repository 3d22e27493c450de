"""Classification section of the suite: ResNet18 and MobileNetV3-Small, ms against input size.

Run it through ``benchmarks/suite.py --sections classification``.

What it measures:
    Median wall-clock milliseconds per call (``time.perf_counter``) of the two
    networks of ``nets.py`` (seeded random weights: speed does not depend on
    the values) at square inputs of 32 to 1024 pixels, batch 1 and 16, as the
    well-known ResNet18 / MobileNetV3-Small speed tables do, on five paths:

    * ``torch``: the module in eval mode under ``torch.no_grad()``, torch
      threads = usable cores, on a seeded NCHW float32 tensor;
    * ``ort-fixed``: the onnxruntime Python package on an export with fixed
      axes (one file per size and batch);
    * ``ort-dynamic``: the same on one export whose batch, height and width
      are dynamic;
    * ``fastinfer``: ``fastinfer.Classifier(fixed export, input_size=s,
      resize=s)`` end to end on BGR images of exactly s x s pixels (so
      pre-processing is a plain conversion to the normalised blob), top-5 and
      the result objects included: ``clf(image)`` / ``clf(list_of_16)``;
    * ``fastinfer-forward``: that classifier's forward alone,
      ``clf.backend.forward(blob)``.

    Both ONNX Runtime paths and fastinfer run with intra-op threads = usable
    cores. Every export goes through ``fastinfer.export``, which checks the
    ONNX file against torch on ONNX Runtime (its report must pass).

    Each figure: one untimed call, then, when that call took over a second,
    at least 3 timed runs, else a warm-up run and at least 5 runs and 2 s.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import onnxruntime as ort
import torch

import fastinfer
import nets
from common import Policy, cell, table
from fastinfer.tools import bench as benchmarking

SIZES = (32, 64, 128, 256, 512, 640, 768, 1024)
QUICK_SIZES = (32, 128)
BATCHES = (1, 16)
PATHS = ("torch", "ort-fixed", "ort-dynamic", "fastinfer", "fastinfer-forward")
LABELS = {"torch": "torch (eval, no_grad)", "ort-fixed": "ORT Python, fixed axes",
          "ort-dynamic": "ORT Python, dynamic axes", "fastinfer": "fastinfer end to end",
          "fastinfer-forward": "fastinfer forward alone"}
SLOW_S = 1.0  # a first call slower than this gets the short policy


def timed(fn: Callable[[], Any], quick: bool) -> dict:
    """One untimed call, then ``measure`` with a policy fitted to its cost (see the module docstring)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    if quick:
        policy = Policy(0, 2, 0.0)
    elif first > SLOW_S:
        policy = Policy(0, 3, 0.0)
    else:
        policy = Policy(1, 5, 2.0)
    stats = benchmarking.measure(fn, **policy.kwargs())
    return dataclasses.replace(stats, warmup=stats.warmup + 1).to_dict()


def session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export(model: torch.nn.Module, example: torch.Tensor, path: Path, dynamic: bool) -> dict:
    """``fastinfer.export`` and its parity verdict (reported, not fatal: it is a speed table)."""
    report = fastinfer.export(model, example, path, dynamic_batch=dynamic, dynamic_hw=dynamic, check=False)
    if not report.passed:
        print(f"  WARNING: {path.name} does not match torch within fastinfer.export's tolerance:\n{report}")
    return {"passed": report.passed, "max_abs_error": max(c.max_abs for c in report.checks),
            "trials": len(report.checks)}


def bench_net(name: str, sizes: Sequence[int], threads: int, quick: bool, tmp: Path) -> dict:
    model = nets.build(name, seed=0)
    params = sum(p.numel() for p in model.parameters())
    generator = torch.Generator().manual_seed(0)
    dynamic_path = tmp / f"{name}-dynamic.onnx"
    dynamic_check = export(model, torch.rand(1, 3, 224, 224, generator=generator), dynamic_path, dynamic=True)
    dynamic = session(dynamic_path, threads)
    print(f"\n## classification: {name} ({params / 1e6:.2f} M parameters, seeded random weights)")
    report: dict[str, Any] = {"parameters": params, "dynamic_export": dynamic_check, "batches": {}}
    for batch in BATCHES:
        rows: dict[str, dict] = {}
        for size in sizes:
            x = torch.rand(batch, 3, size, size, generator=generator)
            blob = x.numpy()
            fixed_path = tmp / f"{name}-{size}-b{batch}.onnx"
            fixed_check = export(model, x, fixed_path, dynamic=False)
            fixed = session(fixed_path, threads)
            clf = fastinfer.Classifier(fixed_path, input_size=size, resize=size, threads=threads)
            rng = np.random.default_rng(size)
            images = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(batch)]
            source = images[0] if batch == 1 else images
            fi_blob, _ = clf.preprocess(images)
            input_name = fixed.get_inputs()[0].name

            def run_torch():
                with torch.no_grad():
                    return model(x)

            figures = {
                "torch": timed(run_torch, quick),
                "ort-fixed": timed(lambda: fixed.run(None, {input_name: blob}), quick),
                "ort-dynamic": timed(lambda: dynamic.run(None, {input_name: blob}), quick),
                "fastinfer": timed(lambda: clf(source), quick),
                "fastinfer-forward": timed(lambda: clf.backend.forward(fi_blob), quick),
            }
            rows[str(size)] = {"figures": figures, "fixed_export": fixed_check}
            print(f"  batch {batch:2d} {size:4d}px  " + "  ".join(f"{p} {figures[p]['median']:.2f}" for p in PATHS))
            fixed_path.unlink()
        report["batches"][str(batch)] = rows
    return report


def run(data: Path, *, quick: bool, networks: Sequence[str] = nets.NETS) -> dict:
    """Times both networks on every path; returns the section's figures (JSON-able)."""
    threads = benchmarking.usable_cores()
    torch.set_num_threads(threads)
    sizes = QUICK_SIZES if quick else SIZES
    print(f"classification: torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime "
          f"{ort.__version__} and fastinfer at {threads} intra-op threads; sizes {', '.join(map(str, sizes))}")
    section: dict[str, Any] = {"settings": {"sizes": sizes, "batches": BATCHES, "threads": threads,
                                            "torch": torch.__version__, "onnxruntime_python": ort.__version__,
                                            "unit": "ms per call (a whole batch)", "quick": quick},
                               "networks": {}}
    with tempfile.TemporaryDirectory(prefix="fastinfer-bench-classify-") as tmp:
        for name in networks:
            section["networks"][name] = bench_net(name, sizes, threads, quick, Path(tmp))
    return section


def markdown(section: dict) -> str:
    s = section["settings"]
    parts = ["## Classification: ms per call against input size\n",
             f"Median [p10-p90] ms per call (the whole batch), seeded random weights, {s['threads']} threads on "
             "every path. torch and ONNX Runtime time the network on a ready tensor; `fastinfer` is "
             "`Classifier(...)(image)` end to end from BGR images of the input size (pre-processing, forward, "
             "softmax, top-5, results), `fastinfer forward` its `backend.forward(blob)` alone. Every ONNX file "
             "is checked against torch by `fastinfer.export` (see the line under each network)."]
    for name, net in section["networks"].items():
        for batch, rows in net["batches"].items():
            parts.append(f"\n### {name}, batch {batch}\n")
            body = []
            for size, row in rows.items():
                f = row["figures"]
                ratio = f["fastinfer"]["median"] / f["ort-fixed"]["median"]
                body.append([f"{size}x{size}"] + [cell(f[p]) for p in PATHS] + [f"{ratio:.2f}x"])
            parts.append(table(["input"] + [LABELS[p] for p in PATHS] + ["fastinfer e2e / ORT fixed"], body))
        checks = [net["dynamic_export"]] + [row["fixed_export"] for rows in net["batches"].values()
                                            for row in rows.values()]
        failed = sum(not c["passed"] for c in checks)
        parts.append(f"\nExports of {name}: {len(checks)} files (one dynamic, the rest fixed), "
                     f"{len(checks) - failed} passed `fastinfer.export`'s parity check against torch"
                     f"{f', {failed} FAILED' if failed else ''}; max abs error "
                     f"{max(c['max_abs_error'] for c in checks):.1e}.")
    return "\n".join(parts) + "\n"


def plots(section: dict, out: Path, plt) -> list[Path]:
    """One plot per network and batch: ms against input size, one line per path, log-scale axes."""
    written = []
    for name, net in section["networks"].items():
        for batch, rows in net["batches"].items():
            sizes = [int(s) for s in rows]
            fig, ax = plt.subplots(figsize=(8, 5))
            for p in PATHS:
                ax.plot(sizes, [rows[str(s)]["figures"][p]["median"] for s in sizes], marker="o", label=LABELS[p])
            ax.set_xscale("log", base=2)
            ax.set_xticks(sizes, [str(s) for s in sizes])
            ax.set_yscale("log")
            ax.set_xlabel("input size (pixels, square)")
            ax.set_ylabel(f"ms per call of {batch} image{'s' if int(batch) > 1 else ''} (median, log scale)")
            ax.set_title(f"{name}, batch {batch}")
            ax.grid(which="both", alpha=0.3)
            ax.legend()
            fig.tight_layout()
            path = out / f"classification_{name}_batch{batch}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
    return written


if __name__ == "__main__":
    import suite

    sys.exit(suite.main(["--sections", "classification", *sys.argv[1:]]))
