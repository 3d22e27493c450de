"""``fastinfer.info`` and ``fastinfer info``: parameters, MACs and FLOPs of ONNX models and Darknet cfgs.

The references:

* a MobileNetV2 written here (torchvision's layout), counted in torch with
  forward hooks (Conv2d: output elements x in_channels/groups x kh x kw;
  Linear: in_features x out_features per sample) and its parameters counted
  by torch, then exported to ONNX with BatchNorm kept and with it folded;
* Debian's ``darknet`` binary: ``darknet ops CFG`` parses a cfg (no weights,
  no GPU) and prints its layer table with each convolution's ``BFLOPs``
  (2 x MACs) and then the total ``Floating Point Operations``;
* ONNX Runtime, for the output shapes of the real models at several sizes,
  and small ONNX graphs built here whose counts follow from their shapes.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

import fastinfer
from fastinfer import _core, cli
from helpers import edited_cfg

# The cfgs of darknet-cfg/ that the core walks (resnet18's strided shortcut
# and yolov1-tiny's [detection] layer are not supported; see test_unsupported_cfgs).
DARKNET_CFGS = ("yolov3-tiny.cfg", "yolov3.cfg", "yolov3-spp.cfg", "yolov3-voc.cfg", "yolov3-openimages.cfg",
                "yolov2-tiny.cfg", "yolov2.cfg", "darknet19.cfg", "tiny.cfg")
DARKNET_CONV_ROW = re.compile(r"^\s*(\d+)\s+conv\s.*\s([\d.]+)\s+BFLOPs\s*$", re.MULTILINE)
DARKNET_TOTAL = re.compile(r"^Floating Point Operations: (\d+)\s*$", re.MULTILINE)


# ---------------------------------------------------------------- MobileNetV2, written here


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.residual = stride == 1 and cin == cout
        layers = [ConvBNReLU(cin, hidden, 1)] if expand != 1 else []
        layers += [ConvBNReLU(hidden, hidden, 3, stride, groups=hidden),  # depthwise
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]  # linear bottleneck
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    """Sandler et al. 2018, width 1.0: a 32-channel 3x3 stride-2 stem, 17 inverted residual blocks, a 1280 head."""

    # expansion t, channels c, repeats n, first stride s
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))

    def __init__(self, classes: int = 1000):
        super().__init__()
        layers: list[nn.Module] = [ConvBNReLU(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(ConvBNReLU(cin, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


def hook_macs(model: nn.Module, width: int, height: int) -> dict[str, list[int]]:
    """Per-layer MACs of one forward pass at ``width`` x ``height``, counted with forward hooks, in call order."""
    counts: dict[str, list[int]] = {"Conv2d": [], "ConvTranspose2d": [], "Linear": []}

    def hook(module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        if isinstance(module, nn.ConvTranspose2d):  # each input element feeds out/groups x kh x kw outputs
            kh, kw = module.kernel_size
            counts["ConvTranspose2d"].append(inputs[0].numel() * module.out_channels // module.groups * kh * kw)
        elif isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            counts["Conv2d"].append(output.numel() * module.in_channels // module.groups * kh * kw)
        elif isinstance(module, nn.Linear):
            samples = output.numel() // module.out_features
            counts["Linear"].append(samples * module.in_features * module.out_features)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, height, width))
    finally:
        for h in handles:
            h.remove()
    return counts


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with each Conv2d -> BatchNorm2d pair fused by torch into one Conv2d."""
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(model).eval()
    for seq in [m for m in folded.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            if isinstance(seq[i], nn.Conv2d) and isinstance(seq[i + 1], nn.BatchNorm2d):
                seq[i] = fuse_conv_bn_eval(seq[i], seq[i + 1])
                seq[i + 1] = nn.Identity()
    return folded


def export_onnx(model: nn.Module, path: Path, *, fold: bool, dynamic: bool) -> Path:
    """``torch.onnx.export`` (the TorchScript exporter, as ``fastinfer.export`` uses): BatchNorm folded by the
    exporter's constant folding, or kept; a fixed 1x3x224x224 input or dynamic batch, height and width."""
    axes = {"images": {0: "batch", 2: "height", 3: "width"}} if dynamic else None
    with warnings.catch_warnings():
        # torch 2.13 deprecates the TorchScript exporter (the dynamo one needs onnxscript, not a test dependency).
        warnings.filterwarnings("ignore", "You are using the legacy TorchScript-based ONNX export",
                                DeprecationWarning)
        warnings.filterwarnings("ignore", "The feature will be removed. Please remove usage of this function",
                                DeprecationWarning)
        torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), str(path), dynamo=False, input_names=["images"],
                          output_names=["logits"], dynamic_axes=axes, do_constant_folding=fold)
    return path


@pytest.fixture(scope="module")
def mobilenet() -> nn.Module:
    """MobileNetV2 with seeded weights and batch-norm statistics (so folding changes every convolution)."""
    torch.manual_seed(0)
    model = MobileNetV2().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return model


@pytest.fixture(scope="module")
def mobilenet_onnx(mobilenet, tmp_path_factory) -> Path:
    """BatchNorm kept, fixed 224x224."""
    return export_onnx(mobilenet, tmp_path_factory.mktemp("mnv2") / "mobilenet_v2.onnx", fold=False, dynamic=False)


@pytest.fixture(scope="module")
def mobilenet_folded_onnx(mobilenet, tmp_path_factory) -> Path:
    """BatchNorm folded into the convolutions by the exporter, dynamic batch, height and width."""
    return export_onnx(mobilenet, tmp_path_factory.mktemp("mnv2") / "mobilenet_v2_folded.onnx", fold=True,
                       dynamic=True)


def op_types(path: Path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


def test_mobilenet_first_convolution(mobilenet, mobilenet_onnx):
    summary = fastinfer.info(mobilenet_onnx)
    first = next(layer for layer in summary.layers if layer.op == "Conv")
    stem = mobilenet.features[0][0]
    assert first.params == stem.weight.numel() == 32 * 3 * 3 * 3 == 864
    assert first.macs == hook_macs(mobilenet, 224, 224)["Conv2d"][0] == 112 * 112 * 32 * 3 * 3 * 3 == 10_838_016
    assert first.output_shape == (1, 32, 112, 112)


@pytest.mark.parametrize("exported", ["mobilenet_onnx", "mobilenet_folded_onnx"])
def test_mobilenet_macs_match_torch_hooks(request, mobilenet, exported):
    path = request.getfixturevalue(exported)
    summary = fastinfer.info(path, input_size=(224, 224))
    hooks = hook_macs(mobilenet, 224, 224)
    convs = [layer.macs for layer in summary.layers if layer.op == "Conv"]
    assert convs == hooks["Conv2d"]  # layer by layer, in order
    assert summary.by_type["Conv"].count == sum(isinstance(m, nn.Conv2d) for m in mobilenet.modules()) == 52
    assert summary.by_type["Conv"].macs == sum(hooks["Conv2d"])
    dense = sum(c.macs for op, c in summary.by_type.items() if op in ("Gemm", "MatMul"))
    assert dense == sum(hooks["Linear"]) == 1280 * 1000
    assert summary.macs == sum(hooks["Conv2d"]) + sum(hooks["Linear"])
    assert summary.flops == 2 * summary.macs
    assert sum(layer.macs for layer in summary.layers) == summary.macs
    assert summary.macs == pytest.approx(300e6, rel=0.01)  # the paper's "300M" multiply-adds at 224x224


def test_mobilenet_parameters_batchnorm_kept(mobilenet, mobilenet_onnx):
    assert "BatchNormalization" in op_types(mobilenet_onnx)
    summary = fastinfer.info(mobilenet_onnx)
    bn_stats = sum(m.running_mean.numel() + m.running_var.numel() for m in mobilenet.modules()
                   if isinstance(m, nn.BatchNorm2d))
    assert summary.parameters == sum(p.numel() for p in mobilenet.parameters()) + bn_stats
    assert sum(layer.params for layer in summary.layers) == summary.parameters
    assert summary.format == "onnx" and summary.opset == onnx.load(str(mobilenet_onnx)).opset_import[0].version
    assert summary.input_size == (224, 224)
    assert [(t.name, t.shape, t.dtype) for t in summary.inputs] == [("images", (1, 3, 224, 224), "float32")]
    assert [(t.name, t.shape, t.dtype) for t in summary.outputs] == [("logits", (1, 1000), "float32")]


def test_mobilenet_parameters_batchnorm_folded(mobilenet, mobilenet_folded_onnx):
    assert "BatchNormalization" not in op_types(mobilenet_folded_onnx)
    folded = fold_batchnorm(mobilenet)
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(folded(x), mobilenet(x), rtol=1e-4, atol=1e-4)  # test set-up: the fold is right
    summary = fastinfer.info(mobilenet_folded_onnx, input_size=(224, 224))
    assert summary.parameters == sum(p.numel() for p in folded.parameters())
    first = next(layer for layer in summary.layers if layer.op == "Conv")
    assert first.params == 864 + 32  # the stem's weights and the bias the fold gives it


def test_mobilenet_dynamic_size(mobilenet, mobilenet_folded_onnx, raises_invalid):
    with raises_invalid(r"dynamic input size \(input 'images' is \(batch, 3, height, width\)\): pass input_size="):
        fastinfer.info(mobilenet_folded_onnx)
    for width, height in ((224, 224), (160, 128), (96, 320)):
        summary = fastinfer.info(mobilenet_folded_onnx, input_size=(width, height))
        hooks = hook_macs(mobilenet, width, height)
        assert summary.input_size == (width, height)
        assert summary.macs == sum(hooks["Conv2d"]) + sum(hooks["Linear"]), (width, height)
        assert summary.inputs[0].shape == ("batch", 3, "height", "width")  # as declared
        assert summary.outputs[0].shape == (1, 1000)  # at the counted size, batch 1
    assert fastinfer.info(mobilenet_folded_onnx, input_size=224).macs == \
        fastinfer.info(mobilenet_folded_onnx, input_size=(224, 224)).macs


# ---------------------------------------------------------------- small graphs: grouped, transposed, batched


class Extras(nn.Module):
    """Grouped and depthwise convolutions, a grouped transposed convolution, a batched matmul and a Linear."""

    def __init__(self):
        super().__init__()
        self.grouped = nn.Conv2d(3, 12, 3, stride=2, padding=1)
        self.grouped2 = nn.Conv2d(12, 8, 3, padding=2, dilation=2, groups=4)
        self.depthwise = nn.Conv2d(8, 8, 5, padding=2, groups=8)
        self.up = nn.ConvTranspose2d(8, 6, 4, stride=2, padding=1, groups=2)
        self.weight = nn.Parameter(torch.randn(4, 24, 24))
        self.fc = nn.Linear(24, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.up(self.depthwise(self.grouped2(self.grouped(x))))  # (1, 6, H, W)
        y = y.reshape(1, 6, -1, 24)[:, :4]  # (1, 4, H*W/24, 24)
        return self.fc(torch.matmul(y, self.weight))  # batched (4 matrices) matmul, then a Linear on every row


def test_grouped_transposed_and_batched_ops(tmp_path):
    torch.manual_seed(0)
    model = Extras().eval()
    path = tmp_path / "extras.onnx"
    with warnings.catch_warnings():  # see export_onnx
        warnings.filterwarnings("ignore", "You are using the legacy TorchScript-based ONNX export",
                                DeprecationWarning)
        warnings.filterwarnings("ignore", "The feature will be removed. Please remove usage of this function",
                                DeprecationWarning)
        torch.onnx.export(model, (torch.zeros(1, 3, 48, 64),), str(path), dynamo=False)
    summary = fastinfer.info(path)
    hooks = hook_macs(model, 64, 48)
    rows = 48 * 64 // 24  # the Linear's rows after the reshape: (1, 4, rows, 24)
    matmul = 4 * rows * 24 * 24  # (rows x 24) @ (24 x 24), 4 times
    assert [x.macs for x in summary.layers if x.op == "Conv"] == hooks["Conv2d"]
    assert summary.by_type["ConvTranspose"].macs == sum(hooks["ConvTranspose2d"]) == 24 * 32 * 8 * 3 * 4 * 4
    dense = summary.by_type["MatMul"].macs + (summary.by_type["Gemm"].macs if "Gemm" in summary.by_type else 0)
    assert dense == matmul + sum(hooks["Linear"]) == matmul + 4 * rows * 24 * 10
    assert summary.macs == sum(map(sum, hooks.values())) + matmul
    assert summary.parameters == sum(p.numel() for p in model.parameters())


def tiny_model(path: Path, nodes, inputs, outputs, initializers=()) -> Path:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, list(initializers))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_gemm_transposed_and_qdq_parameters(tmp_path):
    rng = np.random.default_rng(0)
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [7, 5])  # transposed: M=5, K=7
    b = numpy_helper.from_array(rng.random((9, 7), dtype=np.float32), "b")  # transposed: K=7, N=9
    path = tiny_model(tmp_path / "gemm.onnx", [helper.make_node("Gemm", ["a", "b"], ["y"], transA=1, transB=1)],
                      [a], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [b])
    summary = fastinfer.info(path)
    assert summary.by_type["Gemm"].macs == 5 * 7 * 9 and summary.parameters == 9 * 7
    assert summary.input_size is None and summary.outputs[0].shape == (5, 9)

    # INT8 QDQ: the quantized weights count, their scales and zero points do not.
    weight = rng.integers(-127, 127, (4, 3, 3, 3), dtype=np.int8)
    inits = [numpy_helper.from_array(weight, "w_q"), numpy_helper.from_array(np.full(4, 0.02, np.float32), "w_s"),
             numpy_helper.from_array(np.zeros(4, np.int8), "w_z"), numpy_helper.from_array(np.ones(4, np.float32), "b")]
    nodes = [helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_z"], ["w"], axis=0),
             helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 10, 12])
    path = tiny_model(tmp_path / "qdq.onnx", nodes, [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                      inits)
    summary = fastinfer.info(path)
    assert summary.parameters == weight.size + 4
    assert summary.macs == 4 * 10 * 12 * 3 * 3 * 3 and summary.input_size == (12, 10)


# ---------------------------------------------------------------- Darknet, against the darknet binary


@pytest.fixture(scope="session")
def darknet_binary() -> str:
    found = shutil.which("darknet") or ("/usr/bin/darknet" if Path("/usr/bin/darknet").is_file() else None)
    if found is None:
        pytest.fail("the darknet binary is missing: install Debian's 'darknet' package (make apt does), the peer "
                    "these tests compare Darknet cfg FLOPs against", pytrace=False)
    return found


def darknet_ops(binary: str, cfg: Path, cwd: Path) -> tuple[dict[int, float], int]:
    """``darknet ops CFG``: each convolution's BFLOPs by layer index, and the exact total."""
    proc = subprocess.run([binary, "ops", str(cfg)], capture_output=True, text=True, timeout=300, cwd=cwd)
    text = proc.stdout + proc.stderr
    rows = {int(i): float(b) for i, b in DARKNET_CONV_ROW.findall(text)}
    total = DARKNET_TOTAL.findall(text)
    assert proc.returncode == 0 and rows and total, f"darknet ops {cfg} (rc {proc.returncode}) printed:\n{text[-3000:]}"
    return rows, int(total[0])


def assert_matches_darknet(summary: fastinfer.ModelInfo, rows: dict[int, float], total: int) -> None:
    ours = {int(x.name.rsplit("_", 1)[1]): x for x in summary.layers if x.macs}
    assert sorted(ours) == sorted(rows), "the layers with MACs are Darknet's convolutions"
    for index, bflops in rows.items():  # Darknet prints 3 decimals
        assert abs(2 * ours[index].macs / 1e9 - bflops) <= 0.0005 + 1e-9, (index, ours[index], bflops)
    assert summary.flops / 1e9 == pytest.approx(sum(rows.values()), rel=0.01)
    assert summary.flops == total  # its 'Floating Point Operations' line, exactly


def test_yolov3_tiny_matches_darknet(darknet_binary, yolo_files, tmp_path):
    rows, total = darknet_ops(darknet_binary, yolo_files["cfg"], tmp_path)
    assert sum(rows.values()) == pytest.approx(5.567, abs=1e-6)  # test set-up: Darknet's own per-layer sum
    summary = fastinfer.info(yolo_files["cfg"])
    assert_matches_darknet(summary, rows, total)
    weights = _core.darknet_weights_info(str(yolo_files["cfg"]), str(yolo_files["weights"]))
    assert summary.parameters == (weights["file_bytes"] - weights["header_bytes"]) // 4  # the floats it holds
    assert sum(x.params for x in summary.layers) == summary.parameters
    assert summary.format == "darknet" and summary.opset is None and summary.input_size == (416, 416)
    assert [(t.name, t.shape) for t in summary.inputs] == [("data", (1, 3, 416, 416))]
    assert [(t.name, t.shape) for t in summary.outputs] == [("yolo_16", (1, 255, 13, 13)),
                                                            ("yolo_23", (1, 255, 26, 26))]
    assert summary.by_type["convolutional"].count == 13


@pytest.mark.parametrize("name", DARKNET_CFGS)
def test_darknet_cfgs_match_darknet(darknet_binary, testdata, tmp_path, name):
    cfg = testdata / "darknet-cfg" / name
    rows, total = darknet_ops(darknet_binary, cfg, tmp_path)
    summary = fastinfer.info(cfg)
    assert_matches_darknet(summary, rows, total)
    assert summary.parameters == _core.darknet_cfg_info(str(cfg))["parameter_count"]
    assert sum(x.params for x in summary.layers) == summary.parameters


@pytest.mark.parametrize("size", [(608, 608), (320, 192), (416, 416)])
def test_cfg_input_size_matches_darknet(darknet_binary, yolo_files, tmp_path, size):
    cfg = yolo_files["cfg"]
    before = cfg.read_bytes()
    edited = edited_cfg(tmp_path, cfg, "width=416", f"width={size[0]}", "w.cfg")
    edited = edited_cfg(tmp_path, edited, "height=416", f"height={size[1]}", "wh.cfg")
    rows, total = darknet_ops(darknet_binary, edited, tmp_path)
    summary = fastinfer.info(cfg, input_size=size)
    assert_matches_darknet(summary, rows, total)
    assert summary.input_size == size and summary.inputs[0].shape == (1, 3, size[1], size[0])
    assert summary.parameters == fastinfer.info(cfg).parameters  # the size changes no weight
    assert cfg.read_bytes() == before


def test_unsupported_cfgs(testdata):
    with pytest.raises(fastinfer.ModelLoadError, match=r"resnet18\.cfg line \d+: \[shortcut\] \(layer \d+\) adds layer"):
        fastinfer.info(testdata / "darknet-cfg" / "resnet18.cfg")
    with pytest.raises(fastinfer.ModelLoadError, match=r"yolov1-tiny\.cfg line \d+: \[detection\] \(layer \d+\) is not"):
        fastinfer.info(testdata / "darknet-cfg" / "yolov1-tiny.cfg")


# ---------------------------------------------------------------- the real ONNX models


def initializer_parameters(path: Path) -> int:
    """Elements of the float initializers, less scalars and the scales/roi of Resize (the documented rule)."""
    graph = onnx.load(str(path)).graph
    shape_constants = {name for node in graph.node if node.op_type == "Resize" for name in node.input[1:]}
    floats = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
    return sum(numpy_helper.to_array(t).size for t in graph.initializer
               if t.data_type in floats and t.dims and t.name not in shape_constants)


def ort_output_shapes(path: Path, width: int, height: int) -> list[tuple[int, ...]]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.zeros((1, 3, height, width), np.float32)}
    return [tuple(o.shape) for o in session.run(None, feed)]


def test_nudenet_yolov8(nudenet_model, raises_invalid):
    with raises_invalid(r"320n\.onnx' has a dynamic input size .*--input-size W H"):
        fastinfer.info(nudenet_model)
    base = fastinfer.info(nudenet_model, input_size=320)
    assert base.parameters == initializer_parameters(nudenet_model)
    assert base.macs > 0 and set(base.by_type) == {"Conv"}
    assert fastinfer.info(nudenet_model, input_size=320) == base  # stable
    for size in ((640, 640), (640, 320), (320, 480)):
        summary = fastinfer.info(nudenet_model, input_size=size)
        scale = size[0] * size[1] / 320 ** 2
        assert summary.macs == pytest.approx(base.macs * scale, rel=0.01), size
        assert summary.parameters == base.parameters
        assert [o.shape for o in summary.outputs] == ort_output_shapes(nudenet_model, *size)


def test_ddddocr_yolox(ddddocr_model, raises_invalid):
    summary = fastinfer.info(ddddocr_model)
    assert summary.input_size == (416, 416) and summary.opset == 11
    assert summary.parameters == initializer_parameters(ddddocr_model)
    assert summary.macs > 0 and summary.by_type["Conv"].count == 83
    assert [o.shape for o in summary.outputs] == ort_output_shapes(ddddocr_model, 416, 416)
    assert fastinfer.info(ddddocr_model, input_size=(416, 416)) == summary
    larger = fastinfer.info(ddddocr_model, input_size=(640, 448))
    assert larger.macs == pytest.approx(summary.macs * 640 * 448 / 416 ** 2, rel=0.01)
    with raises_invalid(r"input_size 320x240 does not fit ONNX model '.*common_det\.onnx' \(made for 416x416\)"):
        fastinfer.info(ddddocr_model, input_size=(320, 240))  # 240 is not a multiple of its stride, 32


# ---------------------------------------------------------------- summary text, dict, CLI


def test_summary_text_and_dict(yolo_files):
    summary = fastinfer.info(yolo_files["cfg"])
    text = str(summary)
    assert text.splitlines()[0] == "yolov3-tiny.cfg (darknet, input 416x416)"
    assert re.search(r"^Layer\s+Op\s+Output shape\s+Params\s+MACs$", text, re.MULTILINE)
    for layer in summary.layers:
        assert re.search(rf"^{layer.name}\s+{layer.op}\s+\(1, .*\)\s+{layer.params:,}\s+{layer.macs:,}$", text,
                         re.MULTILINE), layer
    assert f"Parameters: {summary.parameters:,}" in text and f"FLOPs:      {summary.flops:,}" in text
    short = summary.summary(layers=False)
    assert "convolutional_0 " not in short and f"MACs:       {summary.macs:,}" in short
    d = summary.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["flops"] == summary.flops and d["by_type"]["convolutional"]["macs"] == summary.macs
    assert len(d["layers"]) == len(summary.layers) and d["layers"][0]["output_shape"] == [1, 16, 416, 416]
    assert "layers" not in summary.to_dict(layers=False)


@pytest.fixture
def restore_fastinfer_logger():
    """``cli.main`` sets the level of the "fastinfer" logger; keep that out of other tests."""
    logger = logging.getLogger("fastinfer")
    level = logger.level
    yield
    logger.setLevel(level)


def test_cli_info(yolo_files, nudenet_model, capsys, restore_fastinfer_logger):
    cfg = str(yolo_files["cfg"])
    assert cli.main(["info", cfg]) == 0
    out = capsys.readouterr().out
    assert out.strip() == fastinfer.info(cfg).summary(layers=False)
    assert cli.main(["info", cfg, "--layers"]) == 0
    assert capsys.readouterr().out.strip() == str(fastinfer.info(cfg))
    assert cli.main(["info", cfg, "--json", "--input-size", "608", "320"]) == 0
    assert json.loads(capsys.readouterr().out) == fastinfer.info(cfg, input_size=(608, 320)).to_dict(layers=False)
    assert cli.main(["info", str(nudenet_model), "--json", "--layers", "--input-size", "640", "480"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record == fastinfer.info(nudenet_model, input_size=(640, 480)).to_dict()
    assert cli.main(["info", str(nudenet_model)]) == 2
    assert "pass input_size=(width, height) (CLI: --input-size W H)" in capsys.readouterr().err


def test_info_needs_no_torch(ddddocr_model, yolo_files):
    code = (f"import sys, fastinfer; fastinfer.info({str(ddddocr_model)!r}); "
            f"fastinfer.info({str(yolo_files['cfg'])!r}); "
            "print(sorted(m for m in ('torch', 'cv2') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# ---------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    with pytest.raises(fastinfer.ModelLoadError, match=r"model file '.*absent\.onnx' does not exist"):
        fastinfer.info(tmp_path / "absent.onnx")


def test_unknown_format(tmp_path, yolo_files):
    with pytest.raises(fastinfer.ModelLoadError, match=r"cannot tell the format of '.*yolov3-tiny\.weights': "
                                                       r"expected an ONNX model \(\.onnx\) or a Darknet cfg"):
        fastinfer.info(yolo_files["weights"])
    plain = tmp_path / "model"
    plain.write_bytes(b"\0")
    with pytest.raises(fastinfer.ModelLoadError, match=r"format of '.*model'.*got no suffix"):
        fastinfer.info(plain)


@pytest.mark.parametrize("content", [b"this is not an ONNX model", b"", b"\x08\x07"])
def test_invalid_onnx(tmp_path, content):
    path = tmp_path / "broken.onnx"
    path.write_bytes(content)
    with pytest.raises(fastinfer.ModelLoadError,
                       match=r"cannot read ONNX model '.*broken\.onnx': |'.*broken\.onnx' is not an ONNX model: "):
        fastinfer.info(path)


def test_onnx_shape_inference_fails(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    w = numpy_helper.from_array(np.zeros((5, 4), np.float32), "w")  # (2, 3) @ (5, 4)
    path = tiny_model(tmp_path / "mismatch.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])], [x],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    with pytest.raises(fastinfer.ModelLoadError, match=r"shape inference failed on ONNX model '.*mismatch\.onnx'"):
        fastinfer.info(path)


def test_invalid_cfg(tmp_path, yolo_files):
    broken = edited_cfg(tmp_path, yolo_files["cfg"], "filters=16", "filters=sixteen", "broken.cfg")
    with pytest.raises(fastinfer.ModelLoadError, match=r"broken\.cfg line \d+: .*filters"):
        fastinfer.info(broken)
    with pytest.raises(fastinfer.ModelLoadError, match=r"broken\.cfg line \d+: .*filters"):
        fastinfer.info(broken, input_size=608)  # named as itself, not as the resized copy


@pytest.mark.parametrize("size, match", [
    ((0, 320), r"input_size must be positive, got 0x320"),
    ((320, -32), r"input_size must be positive, got 320x-32"),
    ((320, 320, 3), r"input_size must be an int or \(width, height\), got \(320, 320, 3\)"),
    ("320", r"input_size must be an int or \(width, height\), got '320'"),
    ((320.0, 320), r"input_size must be an int or \(width, height\)"),
])
def test_bad_input_size(yolo_files, raises_invalid, size, match):
    with raises_invalid(match):
        fastinfer.info(yolo_files["cfg"], input_size=size)


def test_input_size_that_does_not_fit(yolo_files, nudenet_model, raises_invalid):
    with raises_invalid(r"input_size 100x100 does not fit Darknet cfg '.*yolov3-tiny\.cfg': "
                        r".*yolov3-tiny\.cfg line \d+: \[route\] \(layer \d+\) joins layers of different sizes"):
        fastinfer.info(yolo_files["cfg"], input_size=100)
    with raises_invalid(r"input_size 8x8 does not fit ONNX model '.*320n\.onnx': shape inference failed"):
        fastinfer.info(nudenet_model, input_size=8)


def test_inputs_that_cannot_be_fixed(tmp_path, raises_invalid):
    w = numpy_helper.from_array(np.zeros((8, 4), np.float32), "w")
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    fixed = tiny_model(tmp_path / "fixed.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])], [y], [w])
    assert fastinfer.info(fixed).macs == 8 * 4  # a dynamic batch counts as 1
    with raises_invalid(r"input_size was given but ONNX model '.*fixed\.onnx' has no image input"):
        fastinfer.info(fixed, input_size=(32, 32))
    sequence = tiny_model(tmp_path / "sequence.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])],
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", 8])], [y], [w])
    with raises_invalid(r"input 'x' is \(batch, tokens, 8\): its dynamic dimensions \[1\] cannot be fixed"):
        fastinfer.info(sequence)
