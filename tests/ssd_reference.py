"""A reference SSD, written for the tests from the SSD paper and torchvision's conventions.

* :func:`reference_priors`: prior boxes computed per feature map at once
  (a grid of centres times the cell's box shapes), in float64.
* :func:`reference_postprocess`: SSD's post-processing in torch: decode
  with the centre-size variances, softmax/sigmoid/raw scores, every (prior,
  class) above the threshold, boxes mapped back to the image and clipped
  (those left empty, entirely outside the image, dropped), greedy NMS per
  class (torchvision's ``nms`` rule, written out: visit by score, drop the
  boxes whose IoU with a kept one is above the threshold), then the top
  ``max_det`` by score.
* :class:`TinySSD`: a small SSD-style network (3 feature maps, ``loc`` and
  ``conf`` heads) with seeded random weights.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn


def reference_priors(feature_maps: Sequence[int], image_size: float, steps: Sequence[float] | None,
                     scales: Sequence[float], aspect_ratios: Sequence[Sequence[float]], *,
                     large: bool = True, clip: bool = True) -> np.ndarray:
    """``(N, 4)`` float32 ``cx, cy, w, h``: map ``k``'s small square has side ``scales[k]``,
    its large one ``sqrt(scales[k] * scales[k + 1])``, then each ratio ``a`` gives
    ``(s * sqrt(a), s / sqrt(a))`` and its transpose; centres ``(j + 0.5) * step / image_size``."""
    out = []
    for k, f in enumerate(feature_maps):
        s = scales[k]
        shapes = [[s, s]] + ([[math.sqrt(s * scales[k + 1])] * 2] if large else [])
        for a in aspect_ratios[k]:
            r = math.sqrt(a)
            shapes += [[s * r, s / r], [s / r, s * r]]
        shapes = np.array(shapes)
        step = (steps[k] if steps is not None else image_size / f) / image_size
        ys, xs = np.meshgrid(np.arange(f), np.arange(f), indexing="ij")
        centres = (np.stack([xs, ys], axis=-1).reshape(-1, 2) + 0.5) * step  # row-major cells
        grid = np.concatenate([np.repeat(centres, len(shapes), axis=0), np.tile(shapes, (f * f, 1))], axis=1)
        out.append(grid)
    priors = np.concatenate(out)
    return (priors.clip(0, 1) if clip else priors).astype(np.float32)


def scores_of(logits: torch.Tensor, mode: str) -> torch.Tensor:
    """Class probabilities in float64, rounded to float32 once."""
    if mode == "softmax":
        return torch.softmax(logits.double(), dim=-1).float()
    if mode == "sigmoid":
        return torch.sigmoid(logits.double()).float()
    return logits.float()


def box_iou(box: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """IoU of one ``x1, y1, x2, y2`` box with each of ``boxes`` (float32, as torchvision computes it)."""
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    w = (torch.minimum(box[2], boxes[:, 2]) - torch.maximum(box[0], boxes[:, 0])).clamp(min=0)
    h = (torch.minimum(box[3], boxes[:, 3]) - torch.maximum(box[1], boxes[:, 1])).clamp(min=0)
    inter = w * h
    return inter / (area + areas - inter)


def greedy_nms(boxes: torch.Tensor, scores: torch.Tensor, iou: float) -> list[int]:
    """Indices kept: by descending score (ties: lower index first), each drops the later boxes overlapping it."""
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    dropped = torch.zeros(len(scores), dtype=torch.bool)
    kept = []
    for i in order:
        if dropped[i]:
            continue
        kept.append(i)
        dropped |= box_iou(boxes[i], boxes) > iou
    return kept


def reference_postprocess(loc: np.ndarray, logits: np.ndarray, priors: np.ndarray, transform: Sequence[float],
                          input_size: tuple[int, int], *, conf: float, iou: float, max_det: int = 200,
                          variances=(0.1, 0.2), scores: str = "softmax", background: int | None = 0,
                          class_agnostic: bool = False, multi_label: bool = True
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's ``(N, 4)`` loc and ``(N, K)`` scores -> ``(xyxy float32, confidence float32, class_id int64)``.

    ``transform`` is a ``make_blob`` row: ``scale_x, scale_y, pad_x, pad_y, width, height``
    (``x_input = x_image * scale_x + pad_x``).
    """
    loc_t, priors_t = torch.from_numpy(np.asarray(loc)), torch.from_numpy(np.asarray(priors))
    v0, v1 = (torch.tensor(v, dtype=torch.float32) for v in variances)
    centre = priors_t[:, :2] + loc_t[:, :2] * v0 * priors_t[:, 2:]
    size = priors_t[:, 2:] * torch.exp(loc_t[:, 2:] * v1)
    corners = torch.cat([centre - size / 2, centre + size / 2], dim=1)
    sx, sy, px, py, width, height = (float(v) for v in transform)
    net = torch.tensor(input_size * 2, dtype=torch.float32)
    scale, pad = torch.tensor([sx, sy, sx, sy]), torch.tensor([px, py, px, py])
    boxes = ((corners * net - pad) / scale).float()
    boxes = torch.minimum(boxes.clamp(min=0), torch.tensor([width, height, width, height], dtype=torch.float32))

    probs = scores_of(torch.from_numpy(np.asarray(logits)), scores)
    columns = [c for c in range(probs.shape[1]) if c != background]
    class_of = {c: (c - 1 if background is not None and c > background else c) for c in columns}
    # Candidates in prior-major order: every (prior, class) above conf.
    mask = probs > torch.tensor(conf, dtype=torch.float32)
    if background is not None:
        mask[:, background] = False
    if not multi_label:  # each prior's best non-background class only (the first of equal best)
        masked = probs.clone()
        if background is not None:
            masked[:, background] = -1
        mask &= torch.nn.functional.one_hot(masked.argmax(dim=1), probs.shape[1]).bool()
    # A box the clipping leaves empty (entirely outside the image) is no detection.
    mask &= ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]))[:, None]
    rows, cols = torch.nonzero(mask, as_tuple=True)
    cand_boxes, cand_scores = boxes[rows], probs[rows, cols]
    cand_class = torch.tensor([class_of[int(c)] for c in cols], dtype=torch.int64)
    kept: list[int] = []
    groups = [torch.arange(len(rows))] if class_agnostic else [
        torch.nonzero(cand_class == c).flatten() for c in torch.unique(cand_class)]
    for members in groups:
        kept += [int(members[k]) for k in greedy_nms(cand_boxes[members], cand_scores[members], iou)]
    kept.sort(key=lambda i: (-float(cand_scores[i]), i))
    kept = kept[:max_det] if max_det > 0 else kept
    index = torch.tensor(kept, dtype=torch.int64)
    return (cand_boxes[index].numpy().reshape(-1, 4), cand_scores[index].numpy(), cand_class[index].numpy())


class TinySSD(nn.Module):
    """An SSD-style network: a strided stem, 3 feature maps, a ``loc`` and a ``conf`` conv head on each.

    Outputs ``(B, N, 4)`` and ``(B, N, K)``, priors ordered cell by cell
    (row-major), then box shape, as SSD's heads lay them out.
    """

    def __init__(self, boxes_per_cell: Sequence[int], columns: int, width: int = 24):
        super().__init__()

        def down(cin: int, cout: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.ReLU())

        self.columns = columns
        self.stem = nn.Sequential(down(3, 16), down(16, width), down(width, width))  # /8
        self.extras = nn.ModuleList([down(width, width), down(width, width)])  # /16, /32
        self.loc = nn.ModuleList(nn.Conv2d(width, n * 4, 3, padding=1) for n in boxes_per_cell)
        self.conf = nn.ModuleList(nn.Conv2d(width, n * columns, 3, padding=1) for n in boxes_per_cell)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = [self.stem(x)]
        for extra in self.extras:
            maps.append(extra(maps[-1]))
        return maps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = x.shape[0]
        maps = self.features(x)
        loc = torch.cat([h(f).permute(0, 2, 3, 1).reshape(b, -1, 4) for h, f in zip(self.loc, maps)], dim=1)
        conf = torch.cat([h(f).permute(0, 2, 3, 1).reshape(b, -1, self.columns) for h, f in zip(self.conf, maps)],
                         dim=1)
        return loc, conf

    @torch.no_grad()
    def calibrate(self, blob: torch.Tensor, *, loc_std: float, conf_std: float, shifts: Sequence[float]) -> None:
        """Rescales the heads on a real blob: loc outputs ~N(0, loc_std), score column ``c`` ~N(shifts[c],
        conf_std), so that some, not most, priors detect."""
        maps = self.features(blob)
        for heads, std in ((self.loc, loc_std), (self.conf, conf_std)):
            for head, feature in zip(heads, maps):
                out = head(feature).transpose(0, 1).reshape(head.out_channels, -1)
                head.weight /= out.std(dim=1).clamp(min=1e-6)[:, None, None, None] / std
                head.bias.zero_()
                head.bias -= head(feature).transpose(0, 1).reshape(head.out_channels, -1).mean(dim=1)
        for head in self.conf:
            head.bias += torch.tensor(shifts, dtype=torch.float32).repeat(head.out_channels // self.columns)
