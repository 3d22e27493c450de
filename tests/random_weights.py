"""Seeded random Darknet weights for cfgs whose trained weights are not available.

Used by the tests and the benchmarks. Random weights give random detections,
so the convolutions feeding the detection layers are calibrated: rescaled (on
OpenCV's own forward pass of a blob of real photos, pip's cv2) so that box,
objectness and class logits have set statistics, which gives some, but not
thousands of, detections.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fastinfer import _core

# Target (mean, std) of the head convolutions' raw outputs: x/y, w/h, objectness, classes.
YOLO_TARGETS = ((0.0, 1.0), (0.0, 0.5), (-4.0, 1.5), (0.0, 1.5))
# [region] (YOLOv2) zeroes class scores up to its thresh (0.6 in the cfgs): confident softmax.
REGION_TARGETS = ((0.0, 1.0), (0.0, 0.5), (0.0, 2.0), (0.0, 5.0))


HEADER = np.array([0, 2, 0], "<i4").tobytes() + np.array([123456], "<i8").tobytes()  # version 0.2.0, 64-bit seen


def write_weights(cfg: Path, path: Path, seed: int) -> dict:
    """Writes seeded random weights that fit ``cfg``; returns ``{head layer: (offset, filters, fan_in)}``.

    BN: gammas ~1, small betas and means, variances ~1; convolution weights ~N(0, 1/fan_in), so
    activations stay bounded. The offset (in floats, after the header) is where the weights of the
    convolution feeding each [yolo]/[region] layer start (its biases are just before them).
    """
    info = _core.darknet_cfg_info(str(cfg))
    rng = np.random.default_rng(seed)
    chunks: list[np.ndarray] = []
    offset = 0
    heads = {}
    in_channels = info["channels"]
    for i, layer in enumerate(info["layers"]):
        options = layer["options"]
        if layer["type"] == "convolutional":
            filters, size = int(options["filters"]), int(options.get("size", 1))
            fan_in = in_channels // int(options.get("groups", 1)) * size * size
            if int(options.get("batch_normalize", 0)):
                bn = [rng.normal(0, 0.1, filters), rng.uniform(0.8, 1.2, filters), rng.normal(0, 0.1, filters),
                      rng.uniform(0.5, 1.5, filters)]
            else:
                bn = [rng.normal(0, 0.2, filters)]
            chunks += [b.astype(np.float32) for b in bn]
            offset += sum(len(b) for b in bn)
            if i + 1 < len(info["layers"]) and info["layers"][i + 1]["type"] in ("yolo", "region"):
                heads[i + 1] = (offset, filters, fan_in)
            weights = rng.standard_normal(filters * fan_in, dtype=np.float32) * np.float32(np.sqrt(1 / fan_in))
            chunks.append(weights)
            offset += weights.size
        in_channels = layer["shape"][0]
    with open(path, "wb") as handle:
        handle.write(HEADER)
        for chunk in chunks:
            handle.write(chunk.astype("<f4").tobytes())
    return heads


def calibrate_heads(cfg: Path, weights: Path, heads: dict, blob: np.ndarray) -> None:
    """Rescales each head convolution so that its outputs on ``blob`` (OpenCV's forward) have the target statistics."""
    info = _core.darknet_cfg_info(str(cfg))
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    net.setInput(blob)
    raw = net.forward([f"conv_{h - 1}" for h in heads])
    params = np.fromfile(weights, "<f4", offset=len(HEADER))
    for (h, (offset, filters, fan_in)), out in zip(heads.items(), raw):
        layer = info["layers"][h]
        classes = int(layer["options"]["classes"])
        targets = REGION_TARGETS if layer["type"] == "region" else YOLO_TARGETS
        out = out.reshape(out.shape[0], -1, 5 + classes, *out.shape[2:])
        bias = params[offset - filters:offset].reshape(-1, 5 + classes)
        weights_view = params[offset:offset + filters * fan_in].reshape(-1, 5 + classes, fan_in)
        for part, (mean, std) in zip((slice(0, 2), slice(2, 4), slice(4, 5), slice(5, None)), targets):
            values = out[:, :, part]
            gain = std / max(float(values.std()), 1e-6)
            bias[:, part] = (bias[:, part] - values.mean()) * gain + mean
            weights_view[:, part] *= gain
    with open(weights, "r+b") as handle:
        handle.seek(len(HEADER))
        handle.write(params.astype("<f4").tobytes())




def write_random_weights(cfg: Path, path: Path, seed: int, blob: np.ndarray | None = None) -> Path:
    """Seeded random weights for ``cfg`` at ``path``; with ``blob``, detection heads calibrated on it."""
    heads = write_weights(cfg, path, seed)
    if blob is not None:
        calibrate_heads(cfg, path, heads, blob)
    return path
