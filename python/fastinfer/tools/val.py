"""``fastinfer.val``: COCO-style mAP of a Detector on a COCO-format dataset.

The dataset is what COCO's own tools read: an annotations JSON (``images``,
``annotations`` with ``bbox`` as ``[x, y, w, h]``, ``categories``) and a folder
of the image files it names. The detector runs on every image; its class names
are matched to the dataset's category names (case and ``_``/space
insensitive), and the matching is the evaluation's class list. The
evaluation itself is pycocotools' ``COCOeval`` (the reference every COCO mAP
is quoted from), so the twelve numbers are COCO's; this module adds the
per-class table, precision-recall curves and a comparison of several
backend/precision configurations of one model on the same data.

Example:
    >>> import fastinfer
    >>> result = fastinfer.val("yolov3-tiny", "coco-subset/annotations.json")  # doctest: +SKIP
    >>> print(result)  # doctest: +SKIP
    >>> results = fastinfer.coco_eval.compare("yolov3-tiny", "annotations.json",
    ...                                       ["onnxruntime:fp32", "onnxruntime:int8", "opencv"])  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import BackendUnavailableError, InvalidInputError

__all__ = ["ValResult", "compare", "load_dataset", "parse_config", "val"]

#: COCOeval's twelve summary numbers, in its order.
STAT_NAMES = ("map", "map50", "map75", "map_small", "map_medium", "map_large",
              "mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large")


def _pycocotools() -> tuple[Any, Any]:
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as exc:
        raise BackendUnavailableError("fastinfer.val needs pycocotools: pip install 'fastinfer[val]' "
                                      "(or pip install pycocotools)") from exc
    return COCO, COCOeval


#: Darknet's / VOC's spellings of COCO categories.
_ALIASES = {"motorbike": "motorcycle", "aeroplane": "airplane", "sofa": "couch", "pottedplant": "potted plant",
            "diningtable": "dining table", "tvmonitor": "tv"}


def _key(name: str) -> str:
    key = " ".join(str(name).replace("_", " ").lower().split())
    return _ALIASES.get(key, key)


@dataclass(frozen=True)
class Dataset:
    """A COCO-format dataset: the parsed annotations and where its images are."""

    annotations: Path
    images: Path
    coco: Any = field(repr=False)

    @property
    def categories(self) -> dict[int, str]:
        return {int(c["id"]): str(c["name"]) for c in self.coco.dataset["categories"]}


def load_dataset(annotations: str | os.PathLike[str], images: str | os.PathLike[str] | None = None) -> Dataset:
    """Reads a COCO annotations file and checks that every image it names exists.

    Args:
        annotations: The annotations JSON.
        images: The folder of the images (``file_name`` is relative to it);
            default: ``images/`` beside the JSON if it exists, else the
            JSON's own folder.

    Raises:
        InvalidInputError: If the file is missing, not JSON, not COCO-shaped,
            or an image it names is missing.
    """
    COCO, _ = _pycocotools()
    path = Path(annotations)
    if not path.is_file():
        raise InvalidInputError(f"annotations file {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"annotations file {path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations",
                                                                                      "categories")):
        raise InvalidInputError(f"annotations file {path} is not COCO format: it needs 'images', 'annotations' and "
                                "'categories' lists")
    if not data["images"]:
        raise InvalidInputError(f"annotations file {path} lists no images")
    for number, ann in enumerate(data["annotations"]):
        box = ann.get("bbox") if isinstance(ann, dict) else None
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)
                and box[2] >= 0 and box[3] >= 0):
            raise InvalidInputError(f"annotations file {path}: annotation {number} needs 'bbox' [x, y, w, h] with "
                                    f"w, h >= 0, got {box!r}")
        ann.setdefault("area", float(box[2] * box[3]))
        ann.setdefault("iscrowd", 0)
        ann.setdefault("id", number + 1)
    if images is None:
        folder = path.parent / "images" if (path.parent / "images").is_dir() else path.parent
    else:
        folder = Path(images)
    if not folder.is_dir():
        raise InvalidInputError(f"images folder {folder} does not exist")
    absent = [img.get("file_name") for img in data["images"] if not (folder / str(img.get("file_name"))).is_file()]
    if absent:
        raise InvalidInputError(f"{len(absent)} image(s) named in {path} are not in {folder}: "
                                f"{', '.join(map(str, absent[:5]))}")
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return Dataset(path, folder, coco)


@dataclass(frozen=True)
class ClassAP:
    """One category's figures."""

    name: str
    category_id: int
    instances: int
    ap: float
    ap50: float


@dataclass
class ValResult:
    """What :func:`val` measured.

    Attributes:
        config: The configuration label (``"onnxruntime:fp32"`` and the like).
        stats: COCOeval's twelve numbers by name (``map`` is AP@[.5:.95],
            ``map50`` AP@.5, ... ``mar_100``), -1 where COCO has no instance.
        classes: Per-category AP, for the categories matched to the model.
        precision: COCOeval's precision array at area "all", 100 detections:
            ``(10 IoU thresholds, 101 recall points, categories)``.
        images: How many images were evaluated.
        detections: How many detections were scored.
        ms_per_image: Mean detector time per image (decode excluded).
        unmatched_names: The model's class names with no dataset category.
    """

    config: str
    stats: dict[str, float]
    classes: list[ClassAP]
    precision: np.ndarray
    images: int
    detections: int
    ms_per_image: float
    unmatched_names: list[str] = field(default_factory=list)

    @property
    def map(self) -> float:
        return self.stats["map"]

    @property
    def map50(self) -> float:
        return self.stats["map50"]

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "images": self.images, "detections": self.detections,
                "ms_per_image": round(self.ms_per_image, 2), "stats": dict(self.stats),
                "classes": [vars(c) for c in self.classes], "unmatched_names": list(self.unmatched_names)}

    def __str__(self) -> str:
        s = self.stats
        lines = [f"{self.config}: {self.images} images, {self.detections} detections, "
                 f"{self.ms_per_image:.1f} ms/image",
                 f"  mAP@[.5:.95] {s['map']:.3f}  mAP@.5 {s['map50']:.3f}  mAP@.75 {s['map75']:.3f}  "
                 f"AR@100 {s['mar_100']:.3f}",
                 f"  {'class':<16} {'instances':>9} {'AP':>7} {'AP50':>7}"]
        lines += [f"  {c.name:<16} {c.instances:>9} {c.ap:>7.3f} {c.ap50:>7.3f}" for c in self.classes if c.instances]
        absent = sum(1 for c in self.classes if not c.instances)
        if absent:
            lines.append(f"  ({absent} of the model's classes have no instance in the dataset)")
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Writes the precision-recall curves at IoU 0.5 (one per class, and their mean) as an image.

        Needs matplotlib (``pip install matplotlib``).
        """
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise BackendUnavailableError("ValResult.plot needs matplotlib: pip install matplotlib") from exc
        recall = np.linspace(0, 1, 101)
        figure, axes = plt.subplots(figsize=(6, 5))
        curves = []
        for k, cls in enumerate(self.classes):
            curve = self.precision[0, :, k]
            if np.all(curve < 0):
                continue
            curve = np.clip(curve, 0, None)
            curves.append(curve)
            axes.plot(recall, curve, linewidth=1, label=f"{cls.name} {cls.ap50:.3f}")
        if curves:
            axes.plot(recall, np.mean(curves, axis=0), linewidth=2.5, color="black",
                      label=f"all classes {self.stats['map50']:.3f} mAP@.5")
        axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
                 title=f"precision-recall at IoU 0.5: {self.config}")
        axes.legend(fontsize=7, loc="lower left")
        out = Path(path)
        figure.savefig(out, dpi=120, bbox_inches="tight")
        plt.close(figure)
        return out


def parse_config(spec: str) -> tuple[str, dict[str, Any]]:
    """``"onnxruntime:int8"`` -> ``("onnxruntime:int8", {"backend": "onnxruntime", "precision": "int8"})``.

    A configuration is ``BACKEND[:PRECISION]``; the precision defaults to fp32.
    """
    from ..runtime.backends import BACKENDS
    from ..tasks.detect import PRECISIONS

    backend, _, precision = str(spec).partition(":")
    precision = precision or "fp32"
    if backend not in BACKENDS or precision not in PRECISIONS:
        raise InvalidInputError(f"configuration {spec!r} is not BACKEND[:PRECISION] with BACKEND one of "
                                f"{', '.join(BACKENDS)} and PRECISION one of {', '.join(PRECISIONS)}")
    return f"{backend}:{precision}", {"backend": backend, "precision": precision}


def _category_map(names: Sequence[str], categories: dict[int, str]) -> tuple[dict[int, int], list[str]]:
    by_key = {_key(name): cid for cid, name in categories.items()}
    mapping = {index: by_key[_key(name)] for index, name in enumerate(names) if _key(name) in by_key}
    unmatched = [name for name in names if _key(name) not in by_key]
    return mapping, unmatched


def _evaluate(detector: Any, dataset: Dataset, config: str) -> ValResult:
    from ..io.images import read_image

    _, COCOeval = _pycocotools()
    categories = dataset.categories
    names = list(getattr(detector, "names", ()))
    mapping, unmatched = _category_map(names, categories)
    if not mapping:
        raise InvalidInputError(f"none of the model's {len(names)} class names "
                                f"({', '.join(names[:5])}, ...) is a category of "
                                f"{dataset.annotations} ({', '.join(list(categories.values())[:5])}, ...)")
    results: list[dict[str, Any]] = []
    elapsed = 0.0
    images = dataset.coco.dataset["images"]
    for record in images:
        image = read_image(dataset.images / str(record["file_name"]))
        start = time.perf_counter()
        dets = detector(image)
        elapsed += time.perf_counter() - start
        results.extend(dets.to_coco(record["id"], category_ids=mapping))
    evaluated = sorted(set(mapping.values()))
    counts = {cid: 0 for cid in evaluated}
    for ann in dataset.coco.dataset["annotations"]:
        if ann["category_id"] in counts and not ann.get("iscrowd", 0):
            counts[ann["category_id"]] += 1
    with contextlib.redirect_stdout(io.StringIO()):
        detections = dataset.coco.loadRes(results) if results else None
        if detections is None:
            stats = {name: 0.0 for name in STAT_NAMES}
            precision = np.zeros((10, 101, len(evaluated)))
        else:
            coco_eval = COCOeval(dataset.coco, detections, "bbox")
            coco_eval.params.catIds = evaluated
            coco_eval.evaluate()
            coco_eval.accumulate()
            coco_eval.summarize()
            stats = dict(zip(STAT_NAMES, (float(v) for v in coco_eval.stats)))
            precision = coco_eval.eval["precision"][:, :, :, 0, -1]  # area "all", maxDets 100
    classes = []
    for k, cid in enumerate(evaluated):
        curve = precision[:, :, k]
        valid = curve[curve > -1]
        ap = float(valid.mean()) if valid.size else -1.0
        at50 = curve[0][curve[0] > -1]
        classes.append(ClassAP(categories[cid], cid, counts[cid], ap, float(at50.mean()) if at50.size else -1.0))
    return ValResult(config, stats, classes, np.asarray(precision), len(images), len(results),
                     elapsed * 1e3 / len(images), unmatched)


def val(model: Any, annotations: str | os.PathLike[str], images: str | os.PathLike[str] | None = None, *,
        config: str | None = None, conf: float = 0.001, iou: float = 0.6, max_det: int = 100,
        calibration: Any = None, **detector_kwargs: Any) -> ValResult:
    """COCO mAP of a detector on a COCO-format dataset.

    Args:
        model: A :class:`fastinfer.Detector`, or what ``Detector()`` takes
            (a path or a zoo name); then ``conf``, ``iou``, ``max_det``,
            ``config`` and ``detector_kwargs`` build it. COCO's convention is
            a low confidence threshold (0.001): mAP integrates over all of them.
        annotations: The COCO annotations JSON.
        images: The images folder (see :func:`load_dataset`).
        config: ``BACKEND[:PRECISION]``, e.g. ``"onnxruntime:int8"`` or ``"opencv"``.
        calibration: INT8 calibration images (``Detector(calibration=)``), used by int8 configurations only.

    Returns:
        The figures, per-class table and PR curves (:class:`ValResult`).
    """
    from ..tasks.detect import Detector

    dataset = load_dataset(annotations, images)
    if isinstance(model, Detector):
        if config is not None or detector_kwargs or calibration is not None:
            raise InvalidInputError("config and detector keyword arguments apply when val builds the Detector; "
                                    "pass a model path or name instead of a Detector")
        return _evaluate(model, dataset, f"detector:{model.precision}")
    label, options = parse_config(config or "auto:fp32")
    if options["precision"] == "int8" and calibration is not None:
        options["calibration"] = calibration
    detector = Detector(model, conf=conf, iou=iou, max_det=max_det, **options, **detector_kwargs)
    return _evaluate(detector, dataset, label)


def compare(model: Any, annotations: str | os.PathLike[str], configs: Sequence[str],
            images: str | os.PathLike[str] | None = None, **kwargs: Any) -> list[ValResult]:
    """Runs :func:`val` once per configuration (``["onnxruntime:fp32", "onnxruntime:int8", "opencv"]``)."""
    if isinstance(configs, str) or not configs:
        raise InvalidInputError(f"configs must be a non-empty list of BACKEND[:PRECISION], got {configs!r}")
    precisions = [parse_config(spec)[1]["precision"] for spec in configs]
    if kwargs.get("calibration") is not None and "int8" not in precisions:
        raise InvalidInputError(f"calibration images are for int8 configurations; none of {', '.join(configs)} is one")
    return [val(model, annotations, images, config=spec, **kwargs) for spec in configs]


def comparison_table(results: Sequence[ValResult]) -> str:
    """A markdown table of several :class:`ValResult` side by side."""
    lines = ["| config | mAP@[.5:.95] | mAP@.5 | mAP@.75 | AR@100 | ms/image |", "|---|---|---|---|---|---|"]
    lines += [f"| {r.config} | {r.stats['map']:.3f} | {r.stats['map50']:.3f} | {r.stats['map75']:.3f} | "
              f"{r.stats['mar_100']:.3f} | {r.ms_per_image:.1f} |" for r in results]
    return "\n".join(lines)
