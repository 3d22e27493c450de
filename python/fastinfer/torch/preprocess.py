"""The core's blob, built with torch ops on the model's device.

Each image goes to the device once, as uint8 (from pinned host memory, without
blocking); resizing, letterboxing, cropping, swapRB and the scale/mean/std
normalisation happen there. The geometry is the core's (``cpp/src/preprocess.cpp``):
the same resized sizes, offsets, crops and transforms, computed with the same
integer and float32 arithmetic, so boxes map back through the core's
post-processing unchanged. Resampling is OpenCV's ``INTER_LINEAR`` for
uint8 images (half-pixel centres, clamped at the borders, no antialiasing),
emulated in its fixed-point arithmetic (see :func:`resize_bilinear`), so the
blob is the core's but for rare one-grey-level differences; or, with
``resample="pil"``, PIL's antialiased bilinear filter in the core's (and PIL's)
integer arithmetic (see :func:`resize_pil`), which gives the core's pixels
exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import InvalidInputError

MODES = ("stretch", "crop", "letterbox", "pad_resize", "resize_crop")
SIZINGS = ("darknet", "floor", "round")
RESAMPLES = ("cv2", "pil")


@dataclass(frozen=True)
class Geometry:
    """Where one image goes in the network input (the core's ``Placement``).

    Attributes:
        canvas: ``pad_resize`` only: ``(width, height, left, top)`` of the padded canvas.
        resized: ``(width, height)`` the image (or canvas) is resized to.
        scale: ``crop`` mode only: ``(x, y)`` source pixels per output pixel as OpenCV takes them from
            ``fx, fy`` (elsewhere None: from the sizes).
        crop: ``(x, y)`` cut from the resized image (crop modes).
        size: ``(width, height)`` of the pixels placed in the input.
        offset: ``(x, y)`` where they go.
        transform: the core's transform row: scale_x, scale_y, pad_x, pad_y, width, height.
    """

    canvas: tuple[int, int, int, int] | None
    resized: tuple[int, int]
    scale: tuple[float, float] | None
    crop: tuple[int, int]
    size: tuple[int, int]
    offset: tuple[int, int]
    transform: tuple[float, float, float, float, float, float]


def _f32(value: float) -> float:
    return float(np.float32(value))


def _div32(a: int, b: int) -> float:
    """``static_cast<float>(a) / b`` in C++: a float32 division."""
    return float(np.float32(a) / np.float32(b))


def blob_geometry(image_size: tuple[int, int], input_size: tuple[int, int], mode: str = "stretch", *,
                  center: bool = True, sizing: str = "darknet", resize: int = 0) -> Geometry:
    """The core's placement of an ``image_size`` (w, h) image in an ``input_size`` (w, h) input."""
    if mode == "darknet_letterbox":
        raise InvalidInputError("mode 'darknet_letterbox' (Darknet's own float resize) is built by the core on the "
                                "host (fastinfer._core.make_blob); the tasks upload that blob to the device")
    if mode not in MODES:
        raise InvalidInputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if sizing not in SIZINGS:
        raise InvalidInputError(f"sizing must be one of {', '.join(SIZINGS)}, got {sizing!r}")
    iw, ih = (int(v) for v in image_size)
    W, H = (int(v) for v in input_size)
    if min(iw, ih, W, H) <= 0:
        raise InvalidInputError(f"image and input sizes must be positive, got {iw}x{ih} and {W}x{H}")
    canvas = None
    crop = (0, 0)
    offset = (0, 0)
    if mode == "stretch":
        resized, scale = (W, H), None
        t = (_div32(W, iw), _div32(H, ih), 0.0, 0.0)
    elif mode == "crop":
        if (iw, ih) != (W, H):
            factor = max(_div32(W, iw), _div32(H, ih))
            resized = (int(round(iw * factor)), int(round(ih * factor)))  # cv::resize's dsize from fx, fy
            scale = (1.0 / factor, 1.0 / factor)
        else:
            factor, resized, scale = 1.0, (iw, ih), None
        crop = ((resized[0] - W) // 2, (resized[1] - H) // 2) if center else (0, 0)
        t = (factor, factor, _f32(-crop[0]), _f32(-crop[1]))
    elif mode == "resize_crop":
        if resize < max(W, H):
            raise InvalidInputError(f"resize_crop needs resize >= {max(W, H)} (the input's larger side), got {resize}")
        portrait = ih > iw
        short_side, long_side = (iw, ih) if portrait else (ih, iw)
        scaled_long = int(float(resize * long_side) / short_side)
        rw, rh = (resize, scaled_long) if portrait else (scaled_long, resize)
        resized, scale = (rw, rh), None
        crop = (int(round((rw - W) / 2.0)), int(round((rh - H) / 2.0))) if center else (0, 0)
        t = (_div32(rw, iw), _div32(rh, ih), _f32(-crop[0]), _f32(-crop[1]))
    elif mode == "letterbox":
        new_w, new_h = W, H
        if sizing == "darknet":
            if np.float32(W) / np.float32(iw) < np.float32(H) / np.float32(ih):
                new_h = (ih * W) // iw
            else:
                new_w = (iw * H) // ih
            new_w, new_h = max(new_w, 1), max(new_h, 1)
            sx, sy = _div32(new_w, iw), _div32(new_h, ih)
        else:
            r = min(H / ih, W / iw)
            new_w = int(iw * r) if sizing == "floor" else int(round(iw * r))
            new_h = int(ih * r) if sizing == "floor" else int(round(ih * r))
            new_w, new_h = min(max(new_w, 1), W), min(max(new_h, 1), H)
            sx = sy = _f32(r)
        resized, scale = (new_w, new_h), None
        offset = ((W - new_w) // 2, (H - new_h) // 2) if center else (0, 0)
        t = (sx, sy, _f32(offset[0]), _f32(offset[1]))
    else:  # pad_resize
        canvas_w = max(iw, (ih * W + H - 1) // H)
        canvas_h = max(ih, (iw * H + W - 1) // W)
        left, top = ((canvas_w - iw) // 2, (canvas_h - ih) // 2) if center else (0, 0)
        canvas = (canvas_w, canvas_h, left, top)
        resized, scale = (W, H), None
        sx, sy = _div32(W, canvas_w), _div32(H, canvas_h)
        t = (sx, sy, float(np.float32(left) * np.float32(sx)), float(np.float32(top) * np.float32(sy)))
    size = (min(resized[0] - crop[0], W), min(resized[1] - crop[1], H)) if mode in ("crop", "resize_crop") else resized
    return Geometry(canvas, resized, scale, crop, size, offset, (*t, float(iw), float(ih)))


def _taps(out_len: int, in_len: int, device: torch.device,
          scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """OpenCV's INTER_LINEAR taps along one axis for uint8 images: (index0, index1, weight0, weight1).

    The source coordinate of output ``d`` is ``(d + 0.5) * in / out - 0.5`` in
    float32, clamped at the borders; the two weights are rounded to 11 bits
    (``INTER_RESIZE_COEF_SCALE`` = 2048) each, as OpenCV rounds them.
    """
    scale = 1.0 / (out_len / in_len) if scale is None else scale
    d = np.arange(out_len)
    f = ((d + 0.5) * scale - 0.5).astype(np.float32)
    i0 = np.floor(f).astype(np.int64)
    f = (f - i0.astype(np.float32)).astype(np.float32)
    low, high = i0 < 0, i0 >= in_len - 1
    f[low | high] = 0
    i0 = np.clip(i0, 0, in_len - 1)
    i1 = np.minimum(i0 + 1, in_len - 1)
    w0 = np.round((np.float32(1) - f) * np.float32(2048))
    w1 = np.round(f * np.float32(2048))
    index = [torch.from_numpy(v).to(device) for v in (i0, i1)]
    weight = [torch.from_numpy(v.astype(np.int32)).to(device) for v in (w0, w1)]
    return index[0], index[1], weight[0], weight[1]


def resize_bilinear(image: torch.Tensor, size: tuple[int, int],
                    scale: tuple[float, float] | None = None) -> torch.Tensor:
    """``(C, h, w)`` uint8 image resized to ``size`` (w, h) as ``cv::resize(INTER_LINEAR)`` computes it.

    OpenCV resizes 8-bit images in fixed point: each row with 11-bit weights
    into integers, then the two rows with 11-bit weights and a shift of 22
    bits. Its vectorised vertical pass (the 128-bit one) shifts in three steps
    (4, 16, 2 bits); the row's tail past the last full vector is computed
    with one rounded shift. Emulated here in int32 on the device; on the
    sample photos it gives OpenCV's pixels but for about 2 in 10,000 values,
    which differ by one grey level.
    """
    out_w, out_h = size
    channels, in_h, in_w = image.shape
    if (out_w, out_h) == (in_w, in_h) and scale is None:
        return image
    x0, x1, a0, a1 = _taps(out_w, in_w, image.device, None if scale is None else scale[0])
    y0, y1, b0, b1 = _taps(out_h, in_h, image.device, None if scale is None else scale[1])
    pixels = image.to(torch.int32)
    rows = pixels[:, :, x0] * a0 + pixels[:, :, x1] * a1  # (C, in_h, out_w): 8 bits x 11 bits
    r0, r1 = rows[:, y0, :], rows[:, y1, :]
    vector = (((r0 >> 4) * b0[:, None]) >> 16) + (((r1 >> 4) * b1[:, None]) >> 16)
    vector = (vector + 2) >> 2
    scalar = (r0 * b0[:, None] + r1 * b1[:, None] + (1 << 21)) >> 22
    # Which interleaved (x, channel) positions of a row the vector loops cover: 16 bytes at a time, then
    # 8 lanes at a time while more than 8 remain.
    width = out_w * channels
    covered = (width // 16) * 16
    while covered < width - 8:
        covered += 8
    position = torch.arange(out_w, device=image.device)[None, None, :] * channels + \
        torch.arange(channels, device=image.device)[:, None, None]
    out = torch.where(position < covered, vector, scalar)
    return out.clamp_(0, 255).to(torch.uint8)


_WEIGHT_BITS = 22  # PIL's fixed point for 8-bit images, the core's too (cpp/src/resample.cpp)


def _pil_taps(in_len: int, out_len: int) -> tuple[np.ndarray, np.ndarray]:
    """PIL's antialiased bilinear taps along one axis: (first source pixel (out,), fixed-point weights (out, K)).

    The arithmetic, in float64 and in this order, is the core's: output pixel
    ``i`` is centred on ``(i + 0.5) * in / out``; the triangle is stretched by
    ``max(in / out, 1)``; the taps are the pixels within that support
    (bounds truncated, clamped to the image), normalised to sum to 1 and
    rounded to 22-bit integers. Weights past a pixel's taps are 0.
    """
    scale = in_len / out_len
    support = max(scale, 1.0)
    inverse = 1.0 / support
    width = int(math.ceil(support)) * 2 + 1
    center = (np.arange(out_len) + 0.5) * scale
    first = np.maximum(np.trunc(center - support + 0.5).astype(np.int64), 0)
    last = np.minimum(np.trunc(center + support + 0.5).astype(np.int64), in_len)
    count = np.minimum(last - first, width)
    k = np.arange(width)
    w = np.maximum(1.0 - np.abs((((k[None, :] + first[:, None]).astype(np.float64) - center[:, None]) + 0.5) * inverse),
                   0.0)
    w[k[None, :] >= count[:, None]] = 0.0
    total = np.zeros(out_len)
    for j in range(width):  # summed tap by tap, as the core does (numpy's sum pairs them)
        total += w[:, j]
    w = w / np.where(total != 0.0, total, 1.0)[:, None]
    return first, np.trunc(0.5 + w * (1 << _WEIGHT_BITS)).astype(np.int32)


def _pil_pass(pixels: torch.Tensor, out_len: int, dim: int) -> torch.Tensor:
    """One PIL pass along ``dim`` (1: rows, 2: columns) of a ``(C, h, w)`` int32 tensor of uint8 values."""
    in_len = pixels.shape[dim]
    first, weights = _pil_taps(in_len, out_len)
    index = torch.from_numpy(np.minimum(first[:, None] + np.arange(weights.shape[1])[None, :], in_len - 1))
    index, weight = index.to(pixels.device), torch.from_numpy(weights).to(pixels.device)
    shape = (1, -1, 1) if dim == 1 else (1, 1, -1)
    total = torch.full((), 1 << (_WEIGHT_BITS - 1), dtype=torch.int32, device=pixels.device)
    for k in range(weight.shape[1]):
        total = total + pixels.index_select(dim, index[:, k]) * weight[:, k].view(shape)
    return (total >> _WEIGHT_BITS).clamp_(0, 255)


def resize_pil(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(C, h, w)`` uint8 image resized to ``size`` (w, h) with PIL's antialiased bilinear filter.

    The core's ``resample="pil"`` (and PIL's ``Image.resize(size, BILINEAR)``)
    in int32 on the device: each axis that changes size is one pass with
    22-bit weights, rounded and clipped to uint8 before the next; columns
    first unless the row pass removes more than twice as many rows as the
    column pass removes columns (Pillow 13's order).
    """
    out_w, out_h = size
    _, in_h, in_w = image.shape
    if (out_w, out_h) == (in_w, in_h):
        return image
    pixels = image.to(torch.int32)
    along_x, along_y = out_w != in_w, out_h != in_h
    if along_x and along_y and out_h < in_h and in_h - out_h > 2 * (in_w - out_w):
        pixels = _pil_pass(_pil_pass(pixels, out_h, 1), out_w, 2)
    else:
        if along_x:
            pixels = _pil_pass(pixels, out_w, 2)
        if along_y:
            pixels = _pil_pass(pixels, out_h, 1)
    return pixels.to(torch.uint8)


def upload(images: Sequence[np.ndarray], device: torch.device) -> list[torch.Tensor]:
    """BGR uint8 ``(h, w, 3)`` arrays -> ``(3, h, w)`` uint8 tensors on ``device`` (pinned, asynchronous on CUDA)."""
    tensors = []
    for i, image in enumerate(images):
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise InvalidInputError(f"images[{i}] must be an (h, w, 3) uint8 BGR array, got "
                                    f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}")
        host = torch.from_numpy(np.ascontiguousarray(image))
        if device.type == "cuda":
            host = host.pin_memory()
        tensors.append(host.to(device, non_blocking=True).permute(2, 0, 1))
    return tensors


def make_blob(images: Sequence[np.ndarray] | Sequence[torch.Tensor], input_size: tuple[int, int], *,
              device: str | torch.device = "cpu", mode: str = "stretch", swap_rb: bool = True,
              scale: float = 1.0 / 255.0, mean: Sequence[float] = (0.0, 0.0, 0.0),
              std: Sequence[float] = (1.0, 1.0, 1.0), pad_value: float = 127.5, center: bool = True,
              sizing: str = "darknet", resize: int = 0, resample: str = "cv2", dtype: torch.dtype = torch.float32
              ) -> tuple[torch.Tensor, np.ndarray]:
    """BGR uint8 images -> (NCHW blob on ``device``, the core's ``(N, 6)`` transforms).

    The arguments mean what they mean for ``fastinfer._core.make_blob``
    (``mean`` in pixel units, after swapRB; ``out = (px - mean) * scale / std``).
    Images may already be ``(3, h, w)`` uint8 tensors on the device.
    """
    if resample not in RESAMPLES:
        raise InvalidInputError(f"resample must be one of {', '.join(RESAMPLES)}, got {resample!r}")
    device = torch.device(device)
    W, H = (int(v) for v in input_size)
    if len(mean) != 3 or len(std) != 3 or any(float(s) == 0 for s in std):
        raise InvalidInputError(f"mean and std need 3 values, std non-zero; got {tuple(mean)} and {tuple(std)}")
    if not math.isfinite(scale) or scale == 0:
        raise InvalidInputError(f"scale must be finite and non-zero, got {scale}")
    tensors = [t.to(device) if isinstance(t, torch.Tensor) else t for t in images]
    pixels = [t if isinstance(t, torch.Tensor) else None for t in tensors]
    host = [i for i, t in enumerate(pixels) if t is None]
    for i, t in zip(host, upload([images[i] for i in host], device)):  # type: ignore[misc]
        pixels[i] = t
    order = [2, 1, 0] if swap_rb else [0, 1, 2]
    mean32 = torch.tensor([np.float32(m) for m in mean], dtype=torch.float32, device=device)
    factor = torch.tensor([np.float32(scale / float(s)) for s in std], dtype=torch.float32, device=device)
    pad = (torch.tensor(np.float32(pad_value), device=device) - mean32) * factor
    blob = torch.empty((len(pixels), 3, H, W), dtype=torch.float32, device=device)
    transforms = np.zeros((len(pixels), 6), dtype=np.float64)
    for n, image in enumerate(pixels):
        assert image is not None
        ih, iw = image.shape[-2:]
        g = blob_geometry((iw, ih), (W, H), mode, center=center, sizing=sizing, resize=resize)
        transforms[n] = g.transform
        source = image
        if g.canvas is not None:
            cw, ch, left, top = g.canvas
            canvas = torch.full((3, ch, cw), int(pad_value), dtype=torch.uint8, device=device)
            canvas[:, top:top + ih, left:left + iw] = source
            source = canvas
        if resample == "pil":
            resized = resize_pil(source, g.resized)
        else:
            resized = resize_bilinear(source, g.resized, g.scale)
        cx, cy = g.crop
        w, h = g.size
        placed = resized[order, cy:cy + h, cx:cx + w].float()
        values = (placed - mean32[:, None, None]) * factor[:, None, None]
        if (w, h) != (W, H):
            blob[n] = pad[:, None, None]
        ox, oy = g.offset
        blob[n, :, oy:oy + h, ox:ox + w] = values
    return blob.to(dtype), transforms


def preprocessing_kwargs(preprocessing: Any) -> dict[str, Any]:
    """``make_blob`` keyword arguments from a ``fastinfer.Preprocessing``-like object (its field names)."""
    keys = ("mode", "swap_rb", "scale", "mean", "std", "pad_value", "center", "sizing", "resize", "resample")
    return {key: getattr(preprocessing, key) for key in keys if hasattr(preprocessing, key)}
