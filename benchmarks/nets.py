"""ResNet18 and MobileNetV3-Small in PyTorch, for the classification speed table.

Standard layouts (He et al. 2016, ImageNet ResNet-18 with basic blocks;
Howard et al. 2019, MobileNetV3-Small as torchvision builds it, 1000 classes),
written here so the suite needs no torchvision. Weights are seeded random
(``build(name, seed)``): enough for timing, meaningless as classifiers. Both
end in a global average pool, so they run at any input size from 32 up.
"""

from __future__ import annotations

import torch
from torch import nn

NETS = ("resnet18", "mobilenet_v3_small")


# ------------------------------------------------------------------ ResNet18


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, plus the (projected when the shape changes) input."""

    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18(nn.Module):
    """7x7/2 stem, 3x3/2 max pool, four stages of two basic blocks (64, 128, 256, 512), pool, linear."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        stages, channels = [], 64
        for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages += [BasicBlock(channels, width, stride), BasicBlock(width, width, 1)]
            channels = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))


# ------------------------------------------------------------------ MobileNetV3-Small


def make_divisible(value: float, divisor: int = 8) -> int:
    """The nearest multiple of ``divisor`` not below 90 % of ``value`` (MobileNet's channel rounding)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1,
            activation: type[nn.Module] | None = None) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel, stride, (kernel - 1) // 2,
                                         groups=groups, bias=False),
                               nn.BatchNorm2d(out_channels, eps=0.001, momentum=0.01)]
    if activation is not None:
        layers.append(activation(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """Global pool -> 1x1 (ReLU) -> 1x1 (hard sigmoid) -> per-channel scale."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        squeezed = make_divisible(channels / 4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)
        self.gate = nn.Hardsigmoid(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.fc2(self.relu(self.fc1(self.pool(x)))))


class InvertedResidual(nn.Module):
    """1x1 expansion, depthwise kxk, optional squeeze-and-excitation, 1x1 projection; residual when shapes match."""

    def __init__(self, in_channels: int, kernel: int, expanded: int, out_channels: int, se: bool,
                 activation: type[nn.Module], stride: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if expanded != in_channels:
            layers.append(conv_bn(in_channels, expanded, 1, activation=activation))
        layers.append(conv_bn(expanded, expanded, kernel, stride, groups=expanded, activation=activation))
        if se:
            layers.append(SqueezeExcitation(expanded))
        layers.append(conv_bn(expanded, out_channels, 1))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + x if self.residual else out


# (in, kernel, expanded, out, squeeze-excitation, activation, stride), MobileNetV3-Small's table 2.
SMALL_BLOCKS = (
    (16, 3, 16, 16, True, nn.ReLU, 2),
    (16, 3, 72, 24, False, nn.ReLU, 2),
    (24, 3, 88, 24, False, nn.ReLU, 1),
    (24, 5, 96, 40, True, nn.Hardswish, 2),
    (40, 5, 240, 40, True, nn.Hardswish, 1),
    (40, 5, 240, 40, True, nn.Hardswish, 1),
    (40, 5, 120, 48, True, nn.Hardswish, 1),
    (48, 5, 144, 48, True, nn.Hardswish, 1),
    (48, 5, 288, 96, True, nn.Hardswish, 2),
    (96, 5, 576, 96, True, nn.Hardswish, 1),
    (96, 5, 576, 96, True, nn.Hardswish, 1),
)


class MobileNetV3Small(nn.Module):
    """3x3/2 stem (hard swish), eleven inverted residual blocks, 1x1 to 576, pool, 1024 (hard swish), linear."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.features = nn.Sequential(conv_bn(3, 16, 3, 2, activation=nn.Hardswish),
                                      *(InvertedResidual(*block) for block in SMALL_BLOCKS),
                                      conv_bn(96, 576, 1, activation=nn.Hardswish))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(576, 1024), nn.Hardswish(inplace=True), nn.Dropout(0.2),
                                        nn.Linear(1024, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


# ------------------------------------------------------------------ weights


def build(name: str, seed: int = 0) -> nn.Module:
    """``name`` (one of ``NETS``) with seeded random weights, in eval mode.

    Convolutions and linear layers get He-normal weights; batch norms get
    random statistics around the identity, so activations keep a sane scale
    through the depth (no overflow, no denormals to slow a CPU down).

    Example:
        >>> net = build("resnet18")
        >>> net(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 1000])
    """
    nets = {"resnet18": ResNet18, "mobilenet_v3_small": MobileNetV3Small}
    if name not in nets:
        raise ValueError(f"name must be one of {', '.join(NETS)}, got {name!r}")
    generator = torch.Generator().manual_seed(seed)
    model = nets[name]()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=generator)
                if module.bias is not None:
                    module.bias.normal_(0.0, 0.01, generator=generator)
            elif isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(torch.empty(n).uniform_(0.5, 1.0, generator=generator))
                module.bias.copy_(torch.empty(n).normal_(0.0, 0.1, generator=generator))
                module.running_mean.copy_(torch.empty(n).normal_(0.0, 0.1, generator=generator))
                module.running_var.copy_(torch.empty(n).uniform_(0.8, 1.2, generator=generator))
    return model.eval()
