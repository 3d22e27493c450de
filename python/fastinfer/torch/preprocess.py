"""The core's blob, built with torch ops on the model's device.

Each image goes to the device once, as uint8 (from pinned host memory, without
blocking); resizing, letterboxing, cropping, swapRB and the scale/mean/std
normalisation happen there. The geometry is the core's (``cpp/src/preprocess.cpp``):
the same resized sizes, offsets, crops and transforms, computed with the same
integer and float32 arithmetic, so boxes map back through the core's
post-processing unchanged. Resampling is bilinear with OpenCV's
``INTER_LINEAR`` source coordinates (half-pixel centres, clamped at the
borders, no antialiasing) in float, rounded to uint8 like OpenCV; OpenCV's
11-bit fixed-point weights make the two differ by at most one grey level.
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


@dataclass(frozen=True)
class Geometry:
    """Where one image goes in the network input (the core's ``Placement``).

    Attributes:
        canvas: ``pad_resize`` only: ``(width, height, left, top)`` of the padded canvas.
        resized: ``(width, height)`` the image (or canvas) is resized to.
        scale: ``(x, y)`` inverse resampling scales (source pixels per output pixel).
        crop: ``(x, y)`` cut from the resized image (crop modes).
        size: ``(width, height)`` of the pixels placed in the input.
        offset: ``(x, y)`` where they go.
        transform: the core's transform row: scale_x, scale_y, pad_x, pad_y, width, height.
    """

    canvas: tuple[int, int, int, int] | None
    resized: tuple[int, int]
    scale: tuple[float, float]
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
        resized, scale = (W, H), (iw / W, ih / H)
        t = (_div32(W, iw), _div32(H, ih), 0.0, 0.0)
    elif mode == "crop":
        if (iw, ih) != (W, H):
            factor = max(_div32(W, iw), _div32(H, ih))
            resized = (int(round(iw * factor)), int(round(ih * factor)))  # cv::resize's dsize from fx, fy
            scale = (1.0 / factor, 1.0 / factor)
        else:
            factor, resized, scale = 1.0, (iw, ih), (1.0, 1.0)
        crop = ((resized[0] - W) // 2, (resized[1] - H) // 2) if center else (0, 0)
        t = (factor, factor, _f32(-crop[0]), _f32(-crop[1]))
    elif mode == "resize_crop":
        if resize < max(W, H):
            raise InvalidInputError(f"resize_crop needs resize >= {max(W, H)} (the input's larger side), got {resize}")
        portrait = ih > iw
        short_side, long_side = (iw, ih) if portrait else (ih, iw)
        scaled_long = int(float(resize * long_side) / short_side)
        rw, rh = (resize, scaled_long) if portrait else (scaled_long, resize)
        resized, scale = (rw, rh), (iw / rw, ih / rh)
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
        resized, scale = (new_w, new_h), (iw / new_w, ih / new_h)
        offset = ((W - new_w) // 2, (H - new_h) // 2) if center else (0, 0)
        t = (sx, sy, _f32(offset[0]), _f32(offset[1]))
    else:  # pad_resize
        canvas_w = max(iw, (ih * W + H - 1) // H)
        canvas_h = max(ih, (iw * H + W - 1) // W)
        left, top = ((canvas_w - iw) // 2, (canvas_h - ih) // 2) if center else (0, 0)
        canvas = (canvas_w, canvas_h, left, top)
        resized, scale = (W, H), (canvas_w / W, canvas_h / H)
        sx, sy = _div32(W, canvas_w), _div32(H, canvas_h)
        t = (sx, sy, float(np.float32(left) * np.float32(sx)), float(np.float32(top) * np.float32(sy)))
    size = (min(resized[0] - crop[0], W), min(resized[1] - crop[1], H)) if mode in ("crop", "resize_crop") else resized
    return Geometry(canvas, resized, scale, crop, size, offset, (*t, float(iw), float(ih)))


def _axis(out_len: int, in_len: int, scale: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor,
                                                                                   torch.Tensor]:
    """OpenCV's INTER_LINEAR taps along one axis: (index0, index1, weight of index1)."""
    src = (torch.arange(out_len, device=device, dtype=torch.float64) + 0.5) * scale - 0.5
    i0 = torch.floor(src)
    frac = src - i0
    low = i0 < 0
    high = i0 >= in_len - 1
    i0 = torch.where(low, torch.zeros_like(i0), torch.where(high, torch.full_like(i0, in_len - 1), i0))
    frac = torch.where(low | high, torch.zeros_like(frac), frac)
    i0 = i0.long()
    i1 = torch.clamp(i0 + 1, max=in_len - 1)
    return i0, i1, frac.float()


def resize_bilinear(image: torch.Tensor, size: tuple[int, int], scale: tuple[float, float]) -> torch.Tensor:
    """``(C, h, w)`` float image resized to ``size`` (w, h) with OpenCV's INTER_LINEAR taps, rounded to integers."""
    out_w, out_h = size
    in_h, in_w = image.shape[-2:]
    if (out_w, out_h) == (in_w, in_h) and scale == (1.0, 1.0):
        return image
    y0, y1, fy = _axis(out_h, in_h, scale[1], image.device)
    x0, x1, fx = _axis(out_w, in_w, scale[0], image.device)
    rows = image[:, y0, :] * (1 - fy)[:, None] + image[:, y1, :] * fy[:, None]
    out = rows[:, :, x0] * (1 - fx) + rows[:, :, x1] * fx
    return torch.round(out)


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
              sizing: str = "darknet", resize: int = 0, dtype: torch.dtype = torch.float32
              ) -> tuple[torch.Tensor, np.ndarray]:
    """BGR uint8 images -> (NCHW blob on ``device``, the core's ``(N, 6)`` transforms).

    The arguments mean what they mean for ``fastinfer._core.make_blob``
    (``mean`` in pixel units, after swapRB; ``out = (px - mean) * scale / std``).
    Images may already be ``(3, h, w)`` uint8 tensors on the device.
    """
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
        source = image.float()
        if g.canvas is not None:
            cw, ch, left, top = g.canvas
            canvas = torch.full((3, ch, cw), float(pad_value), dtype=torch.float32, device=device)
            canvas[:, top:top + ih, left:left + iw] = source
            source = canvas
        resized = resize_bilinear(source, g.resized, g.scale)
        cx, cy = g.crop
        w, h = g.size
        placed = resized[order, cy:cy + h, cx:cx + w]
        values = (placed - mean32[:, None, None]) * factor[:, None, None]
        if (w, h) != (W, H):
            blob[n] = pad[:, None, None]
        ox, oy = g.offset
        blob[n, :, oy:oy + h, ox:ox + w] = values
    return blob.to(dtype), transforms


def preprocessing_kwargs(preprocessing: Any) -> dict[str, Any]:
    """``make_blob`` keyword arguments from a ``fastinfer.Preprocessing``-like object (its field names)."""
    keys = ("mode", "swap_rb", "scale", "mean", "std", "pad_value", "center", "sizing", "resize")
    return {key: getattr(preprocessing, key) for key in keys if hasattr(preprocessing, key)}
