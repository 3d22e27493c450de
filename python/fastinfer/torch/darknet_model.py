"""Darknet cfg + weights as a ``torch.nn.Module`` whose outputs are the converted ONNX model's rows.

``darknet(cfg, weights)`` reads the cfg and weights through the same reader
and plan as :mod:`fastinfer.convert` (every layer type the converter takes:
convolutional with groups and any of its activations, maxpool, upsample,
route with groups, shortcut, dropout, yolo and region), folds batch
normalisation the same way, and decodes each head into the same rows: ``(B,
h * w * anchors, 5 + classes)`` per head, ``x, y, w, h`` relative to the
input, objectness, then class scores (objectness x probability, zero at or
below the head's ``thresh``), in the converter's order. The module is
scriptable (``torch.jit.script``) and exportable (``torch.export``).

Example:
    >>> from fastinfer.torch import darknet
    >>> model = darknet("yolov3-tiny.cfg", "yolov3-tiny.weights").eval()  # doctest: +SKIP
    >>> rows = model(torch.rand(1, 3, 416, 416))  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Optional

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .. import convert

__all__ = ["DarknetModule", "darknet"]

PathLike = str | os.PathLike[str]


class _Activation(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "leaky":
            return F.leaky_relu(x, convert._LEAKY_SLOPE)
        if self.kind == "relu":
            return F.relu(x)
        if self.kind == "logistic":
            return torch.sigmoid(x)
        if self.kind == "swish":
            return x * torch.sigmoid(x)
        if self.kind == "mish":
            return x * torch.tanh(F.softplus(x))
        return x


class _Conv(nn.Module):
    def __init__(self, p: dict[str, Any], take: Any) -> None:
        super().__init__()
        f, k = p["filters"], p["size"]
        bias = take(f).astype(np.float64)
        if p["bn"]:  # Darknet's order: biases (BN's beta), scales, rolling mean, rolling variance, weights
            gamma, mean, var = (take(f).astype(np.float64) for _ in range(3))
        weight = take(f * p["in_channels"] // p["groups"] * k * k).reshape(f, -1, k, k).astype(np.float64)
        if p["bn"]:  # folded as the converter folds it
            scale = gamma / np.sqrt(var + convert._BN_EPSILON)
            weight = weight * scale[:, None, None, None]
            bias = bias - mean * scale
        self.conv = nn.Conv2d(p["in_channels"], f, k, stride=p["stride"], padding=p["padding"], groups=p["groups"],
                              bias=True)
        with torch.no_grad():
            self.conv.weight.copy_(torch.from_numpy(weight.astype(np.float32)))
            self.conv.bias.copy_(torch.from_numpy(bias.astype(np.float32)))  # type: ignore[union-attr]
        self.act = _Activation(p["activation"])

    def forward(self, x: torch.Tensor, outs: List[torch.Tensor], rows: List[torch.Tensor]) -> torch.Tensor:
        return self.act(self.conv(x))


class _MaxPool(nn.Module):
    def __init__(self, p: dict[str, Any]) -> None:
        super().__init__()
        self.size, self.stride = p["size"], p["stride"]
        self.begin, self.end = p["padding"] // 2, p["padding"] - p["padding"] // 2

    def forward(self, x: torch.Tensor, outs: List[torch.Tensor], rows: List[torch.Tensor]) -> torch.Tensor:
        if self.begin or self.end:
            x = F.pad(x, [self.begin, self.end, self.begin, self.end], value=float("-inf"))
        return F.max_pool2d(x, self.size, self.stride)


class _Upsample(nn.Module):
    def __init__(self, p: dict[str, Any]) -> None:
        super().__init__()
        self.stride = int(p["stride"])

    def forward(self, x: torch.Tensor, outs: List[torch.Tensor], rows: List[torch.Tensor]) -> torch.Tensor:
        return x.repeat_interleave(self.stride, dim=2).repeat_interleave(self.stride, dim=3)


class _Route(nn.Module):
    def __init__(self, p: dict[str, Any], channels: List[int]) -> None:
        super().__init__()
        self.refs: List[int] = list(p["refs"])
        self.groups, self.group_id = p["groups"], p["group_id"]
        self.steps: List[int] = [channels[r] // self.groups for r in self.refs]

    def forward(self, x: torch.Tensor, outs: List[torch.Tensor], rows: List[torch.Tensor]) -> torch.Tensor:
        parts: List[torch.Tensor] = []
        for r, step in zip(self.refs, self.steps):
            part = outs[r]
            if self.groups > 1:
                part = part[:, self.group_id * step:(self.group_id + 1) * step]
            parts.append(part)
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


class _Shortcut(nn.Module):
    def __init__(self, p: dict[str, Any]) -> None:
        super().__init__()
        self.refs: List[int] = list(p["refs"])
        self.act = _Activation(p["activation"])

    def forward(self, x: torch.Tensor, outs: List[torch.Tensor], rows: List[torch.Tensor]) -> torch.Tensor:
        for r in self.refs:
            x = x + outs[r]
        return self.act(x)


class _Identity(nn.Module):
    def forward(self, x: torch.Tensor, outs: List[torch.Tensor], rows: List[torch.Tensor]) -> torch.Tensor:
        return x


class _Head(nn.Module):
    """A [yolo] or [region] layer: appends its decoded rows and passes its input on (as Darknet does)."""

    def __init__(self, p: dict[str, Any], region: bool, height: int, width: int, net_size: tuple[int, int]) -> None:
        super().__init__()
        a, c = len(p["anchors"]), p["classes"]
        # OpenCV's region layer (and so the converted graph) suppresses per class inside the head, keeping only
        # the class scores that survive; a [yolo] layer may ask for it with nms_threshold.
        self.nms = float(p.get("nms", 0.0))
        self.a, self.c, self.h, self.w = a, c, height, width
        self.region = region
        s = 1.0 if region else float(p["scale_x_y"])
        self.new_coords = (not region) and p["new_coords"] == 1
        self.classfix = bool(region and p.get("classfix", 0) == -1)
        self.thresh = float(p["thresh"])
        cells = np.array([width, height], np.float64).reshape(1, 1, 2, 1, 1)
        gx = np.broadcast_to(np.arange(width, dtype=np.float64)[None, :], (height, width))
        gy = np.broadcast_to(np.arange(height, dtype=np.float64)[:, None], (height, width))
        grid = np.stack([gx, gy])[None, None]
        anchors = np.array(p["anchors"], np.float64).reshape(1, a, 2, 1, 1)
        norm = cells if region else np.array(net_size, np.float64).reshape(1, 1, 2, 1, 1)
        if self.new_coords:
            anchors = anchors * 4
        self.register_buffer("xy_scale", torch.from_numpy((s / cells).astype(np.float32)), persistent=False)
        self.register_buffer("grid", torch.from_numpy(((grid + 0.5 - 0.5 * s) / cells).astype(np.float32)),
                             persistent=False)
        self.register_buffer("anchors", torch.from_numpy((anchors / norm).astype(np.float32)), persistent=False)

    def forward(self, x: torch.Tensor, outs: List[torch.Tensor], rows: List[torch.Tensor]) -> torch.Tensor:
        x5 = x.reshape(-1, self.a, 5 + self.c, self.h, self.w)
        xy, wh, obj, cls = x5[:, :, 0:2], x5[:, :, 2:4], x5[:, :, 4:5], x5[:, :, 5:]
        v = xy if self.new_coords else torch.sigmoid(xy)
        xy = v * self.xy_scale + self.grid
        wh = (wh * wh if self.new_coords else torch.exp(wh)) * self.anchors
        if not self.new_coords:
            obj = torch.sigmoid(obj)
        if self.region:
            cls = torch.softmax(cls, dim=2)
        elif not self.new_coords:
            cls = torch.sigmoid(cls)
        scale = obj
        if self.classfix:
            scale = torch.where(obj < 0.5, torch.zeros_like(obj), obj)
        cls = cls * scale
        cls = torch.where(cls > self.thresh, cls, torch.zeros_like(cls))
        out = torch.cat([xy, wh, obj, cls], dim=2).permute(0, 3, 4, 1, 2)
        out = out.reshape(-1, self.h * self.w * self.a, 5 + self.c)
        if self.nms > 0:
            out = torch.cat([out[:, :, :5], out[:, :, 5:] * _nms_mask(out, self.thresh, self.nms)], dim=2)
        rows.append(out)
        return x


def _nms_mask(rows: torch.Tensor, score_threshold: float, iou_threshold: float) -> torch.Tensor:
    """1 where a class score survives greedy per-class NMS (ONNX NonMaxSuppression, centre-point boxes), else 0.

    Eager and TorchScript only: its loops depend on the data, which torch.export cannot capture.
    """
    mask = torch.zeros_like(rows[:, :, 5:])
    for b in range(rows.shape[0]):
        box = rows[b, :, :4]
        x1, y1 = box[:, 0] - box[:, 2] / 2, box[:, 1] - box[:, 3] / 2
        x2, y2 = box[:, 0] + box[:, 2] / 2, box[:, 1] + box[:, 3] / 2
        area = (x2 - x1) * (y2 - y1)
        for c in range(rows.shape[2] - 5):
            scores = rows[b, :, 5 + c]
            candidates = torch.nonzero(scores > score_threshold).flatten()
            if candidates.numel() == 0:
                continue
            order = candidates[torch.argsort(scores[candidates], descending=True, stable=True)]
            w = torch.clamp(torch.minimum(x2[order][:, None], x2[order][None, :]) -
                            torch.maximum(x1[order][:, None], x1[order][None, :]), min=0)
            h = torch.clamp(torch.minimum(y2[order][:, None], y2[order][None, :]) -
                            torch.maximum(y1[order][:, None], y1[order][None, :]), min=0)
            inter = w * h
            union = area[order][:, None] + area[order][None, :] - inter
            over = inter > iou_threshold * union
            suppressed = torch.zeros(order.numel(), dtype=torch.bool, device=rows.device)
            for i in range(order.numel()):
                if not bool(suppressed[i]):
                    mask[b, order[i], c] = 1.0
                    suppressed = suppressed | over[i]
        # (a kept box never suppresses itself: it is marked kept before its row is applied)
    return mask


class DarknetModule(nn.Module):
    """A Darknet network; ``forward(x)`` returns the heads' rows, one ``(B, N, 5 + C)`` tensor per head.

    Attributes:
        input_size: ``(width, height)`` it was built for (its grids are fixed).
        channels: input channels.
    """

    def __init__(self, layers: List[nn.Module], input_size: tuple[int, int], channels: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.input_size = input_size
        self.channels = channels

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        outs: List[torch.Tensor] = []
        rows: List[torch.Tensor] = []
        for layer in self.layers:
            x = layer(x, outs, rows)
            outs.append(x)
        return rows


def darknet(cfg: PathLike, weights: Optional[PathLike] = None, *,
            input_size: Optional[tuple[int, int]] = None) -> DarknetModule:
    """Builds the torch module of a Darknet cfg, with its weights (seeded-random-free: weights are required).

    Args:
        cfg: the ``.cfg`` file.
        weights: the ``.weights`` file (default: the cfg's stem with ``.weights`` beside it).
        input_size: ``(width, height)``; default: the cfg's ``[net]`` size. A
            multiple of the network's stride.

    Raises:
        ModelLoadError: the cfg or weights cannot be used (the converter's
            messages: file, line, section and layer).
    """
    cfg_path = Path(cfg)
    weights_path = Path(weights) if weights is not None else cfg_path.with_suffix(".weights")
    plan, params = convert.read_network(cfg_path, weights_path, input_size)
    offset = 0

    def take(count: int) -> np.ndarray:
        nonlocal offset
        values = params[offset:offset + count]
        offset += count
        return values

    modules: List[nn.Module] = []
    channels = [layer.channels for layer in plan.layers]
    for layer in plan.layers:
        t, p = layer.type, layer.params
        if t == "convolutional":
            modules.append(_Conv(p, take))
        elif t == "maxpool":
            modules.append(_MaxPool(p))
        elif t == "upsample":
            modules.append(_Upsample(p))
        elif t == "route":
            modules.append(_Route(p, channels))
        elif t == "shortcut":
            modules.append(_Shortcut(p))
        elif t in ("yolo", "region"):
            modules.append(_Head(p, t == "region", layer.height, layer.width, (plan.width, plan.height)))
        else:  # dropout: the identity at inference
            modules.append(_Identity())
    if offset != params.size:  # the plan counted every parameter; a mismatch is a bug here
        raise RuntimeError(f"darknet module used {offset} of {params.size} parameters")
    return DarknetModule(modules, (plan.width, plan.height), plan.channels).eval()
