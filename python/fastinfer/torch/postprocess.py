"""The confidence filter on the device: only candidate rows come back to the host.

The core decodes and suppresses (``postprocess_darknet``, ``postprocess_head``);
a row that cannot pass its confidence threshold contributes nothing there, so
handing the core only the rows that can gives the same detections while the
GPU reads the thousands of rows and the host copies a few. YOLOX's rows are
grid-relative (their index is their cell), so they go to the host whole, as
do SSD outputs.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..errors import InvalidInputError

#: Heads whose rows can be filtered on the device.
FILTERED_HEADS = ("darknet", "yolov5", "yolov8")


def _score_darknet(rows: torch.Tensor, conf: float, objectness_gate: bool) -> torch.Tensor:
    best = rows[..., 5:].amax(dim=-1)
    keep = best > conf
    if objectness_gate:
        keep &= rows[..., 4] > conf
    return keep


def select_candidates(outputs: Sequence[torch.Tensor], head: str, conf: float, *,
                      objectness_gate: bool = False) -> list[list[np.ndarray]]:
    """Per image, the host arrays of the rows that can pass ``conf``, shaped as the core expects one image's outputs.

    Args:
        outputs: the model's outputs on the device, batch first.
        head: ``"darknet"`` (rows ``(B, R, 5 + C)``, one or several outputs),
            ``"yolov5"`` (``(B, R, 5 + C)``, score = objectness x class) or
            ``"yolov8"`` (``(B, 4 + C, R)``); other heads come back whole.
        conf: the confidence threshold.
        objectness_gate: Darknet rows only: also require objectness > conf.

    Returns:
        ``result[i]`` is image ``i``'s outputs with batch size 1 (float32).
    """
    if not outputs:
        raise InvalidInputError("select_candidates needs at least one output")
    batch = int(outputs[0].shape[0])
    if head not in FILTERED_HEADS:
        host = [t.detach().float().cpu().numpy() for t in outputs]
        return [[h[i:i + 1] for h in host] for i in range(batch)]
    per_image: list[list[np.ndarray]] = [[] for _ in range(batch)]
    for out in outputs:
        out = out.detach()
        if head == "yolov8":
            if out.ndim != 3:
                raise InvalidInputError(f"a YOLOv8 output must be (B, 4 + C, N), got {tuple(out.shape)}")
            keep = out[:, 4:, :].amax(dim=1) > conf  # (B, N)
        else:
            rows = out.reshape(batch, -1, out.shape[-1])
            if rows.shape[-1] < 6:
                raise InvalidInputError(f"rows of {rows.shape[-1]} values cannot be {head} rows (at least 6)")
            if head == "yolov5":
                keep = rows[..., 4] * rows[..., 5:].amax(dim=-1) > conf
            else:
                keep = _score_darknet(rows, conf, objectness_gate)
        for i in range(batch):
            if head == "yolov8":
                picked = out[i][:, keep[i]].unsqueeze(0)
            else:
                picked = out.reshape(batch, -1, out.shape[-1])[i][keep[i]].unsqueeze(0)
            per_image[i].append(picked.float().cpu().numpy())
    return per_image
