"""How images become a network's input: one ``Preprocessing`` for every task.

Units (torchvision's): the network sees ``(pixel / 255 - mean) / std`` per
channel, with ``mean`` and ``std`` in pixel / 255 units (so ImageNet's are
``(0.485, 0.456, 0.406)`` and ``(0.229, 0.224, 0.225)``). Raw 0-255 input is
``std=1/255``; Caffe's SSD (raw pixels minus 104, 117, 123) is
``mean=(104/255, 117/255, 123/255), std=1/255``. ``pad_value`` is a pixel
value (0-255), before normalisation. ``core_args`` turns this into the C++
core's form, in this one place.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from .. import _core, _deprecation
from ..errors import InvalidInputError
from ..validate import check_channels, check_choice, is_int

MODES = ("stretch", "crop", "letterbox", "pad_resize", "resize_crop", "darknet_letterbox")
SIZINGS = ("darknet", "floor", "round")
#: How images are resized: OpenCV's bilinear (``cv2.resize(..., INTER_LINEAR)``: two source pixels per axis, no
#: antialiasing) or PIL's antialiased bilinear (``Image.resize(size, Image.BILINEAR)``, what torchvision's
#: ``Resize`` does to PIL images: every source pixel counts when shrinking), to the pixel.
RESAMPLES = ("cv2", "pil")

#: torchvision's ImageNet normalisation, per RGB channel, in pixel / 255 units.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_CORE_SCALE = 1.0 / 255.0


@dataclass(frozen=True)
class Preprocessing:
    """How images become the network input; the C++ core applies it and maps results back.

    Attributes:
        mode: ``"stretch"`` (resize to the input), ``"crop"`` (cover, then cut
            the centre), ``"letterbox"`` (fit, then pad), ``"pad_resize"``
            (pad to the input's aspect ratio, then resize) or
            ``"resize_crop"`` (shorter side to ``resize``, then the centre
            crop: torchvision's ``Resize`` + ``CenterCrop``) or
            ``"darknet_letterbox"`` (Darknet's own ``letterbox_image``: the
            image as floats, Darknet's two-pass bilinear resize at Darknet's
            sizes, padded; the blob ``darknet detect`` feeds, to the bit).
        scale: deprecated; the old raw-pixel convention (see below).
        swap_rb: feed RGB (True) or BGR (False).
        mean: per input channel, in pixel / 255 units (1 or 3 values).
        std: per input channel, in pixel / 255 units (1 or 3 values).
        pad_value: padding of ``letterbox`` and ``pad_resize``, a pixel value (0-255).
        center: ``letterbox``/``resize_crop``: centre the image (False: top-left).
        sizing: ``letterbox`` sizes: ``"darknet"`` (per-axis integer scales),
            ``"floor"`` or ``"round"`` (one ratio).
        resize: ``resize_crop`` only: the shorter side's length before the crop.
        resample: how every mode resizes: ``"cv2"`` (OpenCV's bilinear, what
            the detector families were trained with) or ``"pil"`` (PIL's
            antialiased bilinear, torchvision's ``Resize`` on PIL images: the
            ImageNet pipeline classifiers are trained and evaluated with).

    ``scale`` (deprecated) keeps the convention of fastinfer 0.1: the network
    saw ``(pixel - mean) * scale / std`` with ``mean`` in raw pixels. Given,
    it is converted to the units above with a ``DeprecationWarning``.

    Example (NudeNet's own: pad to a square at the bottom/right with black,
    then resize; BGR; pixel / 255)::

        fastinfer.Preprocessing(mode="pad_resize", swap_rb=False, pad_value=0, center=False)
    """

    mode: str = "stretch"
    scale: float | None = None
    swap_rb: bool = True
    mean: Sequence[float] = (0.0, 0.0, 0.0)
    std: Sequence[float] = (1.0, 1.0, 1.0)
    pad_value: float = 127.5
    center: bool = True
    sizing: str = "darknet"
    resize: int | None = None
    resample: str = "cv2"

    def __post_init__(self) -> None:
        check_choice("preprocessing mode", self.mode, MODES)
        check_choice("preprocessing sizing", self.sizing, SIZINGS)
        check_choice("preprocessing resample", self.resample, RESAMPLES)
        mean, std = check_channels("mean", self.mean), check_channels("std", self.std)
        if not all(s != 0 for s in std):
            raise InvalidInputError(f"std values must be finite and non-zero, got {std}")
        if self.scale is not None:
            _deprecation.warn("Preprocessing(scale=...) with mean in raw pixels",
                              "mean and std in pixel/255 units (std=1/255 for raw pixels)", stacklevel=4)
            scale = float(self.scale)
            if not np.isfinite(scale) or scale == 0:
                raise InvalidInputError(f"preprocessing scale must be finite and non-zero, got {self.scale!r}")
            mean = tuple(m / 255.0 for m in mean)  # type: ignore[assignment]
            std = tuple(s / (255.0 * scale) for s in std)  # type: ignore[assignment]
            object.__setattr__(self, "scale", None)
        if not np.isfinite(float(self.pad_value)):
            raise InvalidInputError(f"preprocessing pad_value must be finite, got {self.pad_value!r}")
        if self.resize is not None and (not is_int(self.resize) or self.mode != "resize_crop"):
            raise InvalidInputError(f"preprocessing resize must be an int and is for mode 'resize_crop' only, got "
                                    f"resize={self.resize!r} with mode {self.mode!r}")
        if self.mode == "darknet_letterbox" and self.sizing != "darknet":
            raise InvalidInputError(f"preprocessing mode 'darknet_letterbox' sizes the image as Darknet does: sizing "
                                    f"must be 'darknet', got {self.sizing!r}")
        if self.mode == "resize_crop" and self.resize is None:
            raise InvalidInputError("preprocessing mode 'resize_crop' needs resize= (the shorter side's length)")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        object.__setattr__(self, "swap_rb", bool(self.swap_rb))
        object.__setattr__(self, "center", bool(self.center))
        object.__setattr__(self, "pad_value", float(self.pad_value))
        if self.resize is not None:
            object.__setattr__(self, "resize", int(self.resize))

    def replace(self, **changes: Any) -> Preprocessing:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)

    def core_args(self) -> dict[str, Any]:
        """The keyword arguments of ``_core.make_blob``: mean in raw pixels, ``scale / std`` as the factor."""
        args: dict[str, Any] = {"mode": self.mode, "swap_rb": self.swap_rb, "scale": _CORE_SCALE,
                                "mean": [255.0 * m for m in self.mean], "std": list(self.std),
                                "pad_value": self.pad_value, "center": self.center, "sizing": self.sizing,
                                "resample": self.resample}
        if self.resize is not None:
            args["resize"] = self.resize
        return args

    def blob(self, images: Sequence[np.ndarray], input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """BGR uint8 images -> (NCHW float32 blob, per-image transforms that map results back)."""
        a = self.core_args()
        return _core.make_blob(list(images), input_size, a.pop("mode"), a.pop("swap_rb"), a.pop("scale"),
                               a.pop("mean"), a.pop("std"), a.pop("pad_value"), **a)


#: Each family's own pre-processing: the classic Darknet demo (pixel / 255,
#: RGB, stretch; letterbox pads 0.5 grey as Darknet does), Ultralytics
#: (centred letterbox with 114 grey, rounded sizes), YOLOX (letterbox with 114
#: at the bottom and right, truncated sizes, raw 0-255 BGR) and the original
#: SSD300 (stretch, raw 0-255 BGR minus the mean 104, 117, 123).
PRESETS = {
    "darknet": Preprocessing(),
    "yolov5": Preprocessing(mode="letterbox", pad_value=114.0, sizing="round"),
    "yolov8": Preprocessing(mode="letterbox", pad_value=114.0, sizing="round"),
    "yolox": Preprocessing(mode="letterbox", swap_rb=False, std=(1 / 255,) * 3, pad_value=114.0, center=False,
                           sizing="floor"),
    "ssd": Preprocessing(swap_rb=False, mean=(104 / 255, 117 / 255, 123 / 255), std=(1 / 255,) * 3),
}


def imagenet(input_size: int = 224, resize: int | None = None, *, mean: Sequence[float] = IMAGENET_MEAN,
             std: Sequence[float] = IMAGENET_STD, resample: str = "pil") -> Preprocessing:
    """The ImageNet evaluation pre-processing: shorter side to ``resize`` (default ``input / 0.875``), centre crop.

    ``resample="pil"`` (default) resizes as torchvision's ``Resize`` does PIL images (antialiased).
    """
    return Preprocessing(mode="resize_crop", resize=resize if resize is not None else input_size * 8 // 7,
                         mean=mean, std=std, resample=resample)
