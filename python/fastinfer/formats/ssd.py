"""SSD-style detectors: prior (default) boxes and the decoding settings.

An SSD model predicts, for each of ``N`` prior boxes, 4 box regressions
(``loc``, ``(B, N, 4)``) and ``K`` class scores (``(B, N, K)``, a background
column plus one per class). The priors are ``(N, 4)`` float32 rows ``cx, cy,
w, h`` normalised to the network input, as in the original SSD; they come
from a file, an array, or :class:`SSDPriors` (the usual SSD300/SSDLite
parameters). The native core decodes (:class:`SSDConfig`), thresholds, maps
the boxes back to the image, clips them and runs NMS per class.

Example:
    >>> priors = fastinfer.SSDPriors().generate()  # SSD300
    >>> priors.shape
    (8732, 4)
    >>> det = fastinfer.Detector("ssd300.onnx", head="ssd", priors=priors,
    ...                          ssd=fastinfer.SSDConfig(scores="softmax", background=0))
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from ..errors import InvalidInputError, ModelLoadError

#: How class scores become probabilities.
SCORES = ("softmax", "sigmoid", "raw")
#: SSD's usual top-k: detections kept per image when ``max_det`` is not given.
DEFAULT_MAX_DET = 200

PriorsLike = Union["SSDPriors", np.ndarray, str, os.PathLike]


def _positive(name: str, values: Sequence[float]) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if not all(math.isfinite(v) and v > 0 for v in out):
        raise InvalidInputError(f"{name} must be finite and > 0, got {tuple(values)}")
    return out


@dataclass(frozen=True)
class SSDPriors:
    """The prior boxes of an SSD, from the usual parameters (defaults: SSD300, 8732 priors).

    For feature map ``k`` of size ``f`` and each cell ``(i, j)`` (row-major),
    the centre is ``((j + 0.5) * step / image_size, (i + 0.5) * step /
    image_size)``; the boxes at a cell are, in order: a square of side ``s =
    min_sizes[k] / image_size``, a square of side ``sqrt(s * max_sizes[k] /
    image_size)`` (when ``max_sizes`` is given), then for each aspect ratio
    ``a``: ``(s * sqrt(a), s / sqrt(a))`` and ``(s / sqrt(a), s * sqrt(a))``.
    ``clip`` limits the values to [0, 1]. These are the original SSD's
    priors (Caffe's PriorBox, ssd.pytorch), and torchvision's
    ``DefaultBoxGenerator`` with ``scales = min_sizes / image_size``.

    Attributes:
        feature_maps: each feature map's size (square maps).
        image_size: the (square) network input, pixels.
        steps: each map's cell size in input pixels; None: ``image_size / f``.
        min_sizes: each map's small square side, pixels.
        max_sizes: each map's large square side, pixels (None: no large square).
        aspect_ratios: each map's aspect ratios besides 1.
        clip: clip the priors to [0, 1].

    Example:
        >>> fastinfer.SSDPriors().generate().shape
        (8732, 4)
        >>> fastinfer.SSDPriors.from_scales((20, 10, 5, 3, 2, 1), 0.2, 0.95, image_size=320).count
        3234
    """

    feature_maps: tuple[int, ...] = (38, 19, 10, 5, 3, 1)
    image_size: int = 300
    steps: Optional[tuple[float, ...]] = (8, 16, 32, 64, 100, 300)
    min_sizes: tuple[float, ...] = (30, 60, 111, 162, 213, 264)
    max_sizes: Optional[tuple[float, ...]] = (60, 111, 162, 213, 264, 315)
    aspect_ratios: tuple[tuple[float, ...], ...] = ((2,), (2, 3), (2, 3), (2, 3), (2,), (2,))
    clip: bool = True

    def __post_init__(self) -> None:
        maps = len(self.feature_maps)
        if maps == 0 or not all(isinstance(f, (int, np.integer)) and not isinstance(f, bool) and f > 0
                                for f in self.feature_maps):
            raise InvalidInputError(f"feature_maps must be one or more sizes >= 1, got {self.feature_maps}")
        if isinstance(self.image_size, bool) or not (isinstance(self.image_size, (int, float, np.number))
                                                     and math.isfinite(self.image_size) and self.image_size > 0):
            raise InvalidInputError(f"image_size must be a size in pixels > 0, got {self.image_size!r}")
        lists = {"min_sizes": self.min_sizes, "aspect_ratios": self.aspect_ratios}
        if self.steps is not None:
            lists["steps"] = self.steps
        if self.max_sizes is not None:
            lists["max_sizes"] = self.max_sizes
        for name, values in lists.items():
            if len(values) != maps:
                raise InvalidInputError(f"{name} needs one entry per feature map ({maps}), got {len(values)}: "
                                        f"{tuple(values)}")
        for name in ("steps", "min_sizes", "max_sizes"):
            if lists.get(name) is not None:
                _positive(name, lists[name])  # type: ignore[arg-type]
        for ratios in self.aspect_ratios:
            _positive("aspect_ratios", ratios)

    @classmethod
    def from_scales(cls, feature_maps: Sequence[int], min_scale: float, max_scale: float, *,
                    aspect_ratios: Sequence[Sequence[float]] | None = None, image_size: int = 300,
                    steps: Sequence[float] | None = None, clip: bool = True) -> SSDPriors:
        """Priors whose scales grow linearly from ``min_scale`` to ``max_scale`` (SSD paper, SSDLite).

        Map ``k`` of ``m`` has scale ``s_k = min + (max - min) * k / (m - 1)``
        and its large square ``sqrt(s_k * s_{k+1})`` with ``s_m = 1``, as
        torchvision's ``DefaultBoxGenerator(min_ratio, max_ratio)``.

        Args:
            feature_maps: each feature map's size.
            min_scale: the first map's scale (fraction of the input).
            max_scale: the last map's scale.
            aspect_ratios: each map's aspect ratios besides 1; default ``(2, 3)`` everywhere (SSDLite).
            image_size: the (square) network input, pixels.
            steps: each map's cell size in pixels; None: ``image_size / f``.
            clip: clip the priors to [0, 1].

        Example:
            >>> fastinfer.SSDPriors.from_scales((20, 10, 5, 3, 2, 1), 0.2, 0.95, image_size=320).count  # SSDLite320
            3234
        """
        maps = len(feature_maps)
        scales = [min_scale + (max_scale - min_scale) * k / max(maps - 1, 1) for k in range(maps)] + [1.0]
        sizes = [s * image_size for s in scales]
        ratios = aspect_ratios if aspect_ratios is not None else [(2, 3)] * maps
        return cls(feature_maps=tuple(feature_maps), image_size=image_size,
                   steps=None if steps is None else tuple(steps), min_sizes=tuple(sizes[:-1]),
                   max_sizes=tuple(sizes[1:]), aspect_ratios=tuple(tuple(r) for r in ratios), clip=clip)

    @property
    def count(self) -> int:
        """The number of priors."""
        per_cell = [1 + (self.max_sizes is not None) + 2 * len(r) for r in self.aspect_ratios]
        return sum(f * f * n for f, n in zip(self.feature_maps, per_cell))

    def generate(self) -> np.ndarray:
        """The ``(count, 4)`` float32 priors ``cx, cy, w, h``, normalised to the input."""
        size = float(self.image_size)
        rows: list[list[float]] = []
        for k, f in enumerate(self.feature_maps):
            cells = size / self.steps[k] if self.steps is not None else float(f)
            s = self.min_sizes[k] / size
            shapes = [(s, s)]
            if self.max_sizes is not None:
                large = math.sqrt(s * (self.max_sizes[k] / size))
                shapes.append((large, large))
            for a in self.aspect_ratios[k]:
                shapes += [(s * math.sqrt(a), s / math.sqrt(a)), (s / math.sqrt(a), s * math.sqrt(a))]
            for i, j in itertools.product(range(f), repeat=2):
                cx, cy = (j + 0.5) / cells, (i + 0.5) / cells
                rows.extend([cx, cy, w, h] for w, h in shapes)
        priors = np.array(rows, dtype=np.float64)
        if self.clip:
            np.clip(priors, 0.0, 1.0, out=priors)
        return priors.astype(np.float32)


@dataclass(frozen=True)
class SSDConfig:
    """How an SSD's outputs are decoded.

    Attributes:
        variances: the centre-size encoding's variances ``(centre, size)``:
            ``cx = p_cx + l_x * v0 * p_w``, ``w = p_w * exp(l_w * v1)``.
        scores: ``"softmax"`` over all score columns (logits, the default),
            ``"sigmoid"`` per column (logits), or ``"raw"`` (the model already
            outputs probabilities; ``None`` means the same).
        background: the background score column (never a detection; class ids
            skip it), or None when the model has none.

    Example:
        >>> fastinfer.SSDConfig(scores="sigmoid", background=None)
        SSDConfig(variances=(0.1, 0.2), scores='sigmoid', background=None)
    """

    variances: tuple[float, float] = (0.1, 0.2)
    scores: Optional[str] = "softmax"
    background: Optional[int] = 0

    def __post_init__(self) -> None:
        if len(self.variances) != 2:
            raise InvalidInputError(f"variances must be two values (centre, size), got {self.variances!r}")
        object.__setattr__(self, "variances", _positive("variances", self.variances))
        if self.scores is None:
            object.__setattr__(self, "scores", "raw")
        if self.scores not in SCORES:
            raise InvalidInputError(f"scores must be one of {', '.join(SCORES)} (or None: raw); got {self.scores!r}")
        bg = self.background
        if bg is not None and (isinstance(bg, bool) or not isinstance(bg, (int, np.integer)) or bg < 0):
            raise InvalidInputError(f"background must be a score column >= 0 or None, got {bg!r}")

    def num_classes(self, columns: int) -> int:
        """The classes of a model with ``columns`` score columns; checks the background column is one of them."""
        if self.background is not None and not 0 <= self.background < columns:
            raise InvalidInputError(f"background index {self.background} is out of range for {columns} score "
                                    f"columns (0..{columns - 1})")
        classes = columns - (self.background is not None)
        if classes < 1:
            raise InvalidInputError(f"an SSD needs at least one class besides the background, got {columns} score "
                                    "column(s)")
        return classes


def load_priors(source: PriorsLike) -> np.ndarray:
    """Priors as a ``(N, 4)`` float32 C-contiguous array ``cx, cy, w, h`` (normalised).

    Args:
        source: an :class:`SSDPriors`, an array, or a file: ``.npy`` or text
            (``numpy.loadtxt``: 4 numbers a line, whitespace or commas).

    Raises:
        ModelLoadError: the file is missing or unreadable.
        InvalidInputError: the priors are not ``(N, 4)`` finite numbers with
            positive widths and heights.

    Example:
        >>> load_priors("priors.npy").shape
        (8732, 4)
    """
    if isinstance(source, SSDPriors):
        return source.generate()
    where = "priors"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        where = f"priors file '{path}'"
        if not path.is_file():
            raise ModelLoadError(f"{where} does not exist")
        try:
            if path.suffix.lower() == ".npy":
                array = np.load(path, allow_pickle=False)
            else:
                array = np.loadtxt(path, dtype=np.float64, delimiter="," if "," in path.read_text()[:4096] else None,
                                   ndmin=2)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot read {where}: {exc}") from exc
    else:
        array = np.asarray(source)
    if array.ndim != 2 or array.shape[1] != 4 or array.shape[0] == 0:
        raise InvalidInputError(f"{where} must have shape (N, 4) (cx, cy, w, h) with N >= 1, got {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise InvalidInputError(f"{where} must hold real numbers, got dtype {array.dtype}")
    priors = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(priors).all() or not (priors[:, 2:] > 0).all():
        raise InvalidInputError(f"{where} must be finite with widths and heights > 0")
    return priors

