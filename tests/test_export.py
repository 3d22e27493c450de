"""Tests of ``fastinfer.export`` (PyTorch -> ONNX with a parity report) and ``fastinfer export``.

The models are small torch modules written here; the reference for every
exported file is torch itself, run again here, and the file is also run here
on the onnxruntime package, independently of the report.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from torch import nn

import fastinfer
from fastinfer import cli
from fastinfer.formats.onnx import TensorInfo
from fastinfer.tools.export import ATOL, DEFAULT_OPSET, RTOL, ExportError, load_factory


class ConvNet(nn.Module):
    """conv + batch norm + relu + pool + linear: a classifier in miniature."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


class TwoHeads(nn.Module):
    """(boxes, scores) per anchor, as an SSD head returns them."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())
        self.boxes = nn.Conv2d(8, 4, 1)
        self.scores = nn.Conv2d(8, classes, 1)

    def forward(self, x):
        f = self.body(x)
        boxes = self.boxes(f).flatten(2).transpose(1, 2)
        scores = self.scores(f).flatten(2).transpose(1, 2).softmax(-1)
        return boxes, scores


class DropoutNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(12, 32)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(32, 3)

    def forward(self, x):
        return self.fc2(self.drop(torch.relu(self.fc1(x))))


class FullyConv(nn.Module):
    """Segmentation-like: per-pixel logits at the input's H/W, and a stride-2 feature map."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.head = nn.Conv2d(6, 4, 1)

    def forward(self, x):
        f = torch.relu(self.down(x))
        logits = nn.functional.interpolate(self.head(f), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits, f


class Lambda(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def _seeded(model: nn.Module) -> nn.Module:
    """Random but non-trivial batch-norm statistics, so eval and train modes differ."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model


def _rand(*shape, seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def _ort(path, *arrays):
    """The file on the onnxruntime package: an independent run of the export."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: a.numpy() for i, a in zip(session.get_inputs(), arrays)})


def _torch(model, *arrays):
    with torch.no_grad():
        out = model(*arrays)
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_convnet_exports_with_parity_names_shapes_and_opset(tmp_path):
    torch.manual_seed(1)
    model = _seeded(ConvNet()).eval()
    x = _rand(2, 3, 32, 32)
    path = tmp_path / "convnet.onnx"
    report = fastinfer.export(model, x, path)

    assert report.passed and report.path == path and path.is_file()
    onnx.checker.check_model(str(path))
    proto = onnx.load(str(path))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [DEFAULT_OPSET] == [report.opset]
    assert report.inputs == (TensorInfo("input", ("batch", 3, 32, 32), "float32"),)
    assert report.outputs == (TensorInfo("output", ("batch", 10), "float32"),)
    assert "fastinfer" in report.runtime and report.exporter == "torchscript"
    assert (report.rtol, report.atol) == (RTOL, ATOL)
    assert [(c.trial, c.input_shapes, c.output) for c in report.checks] == [
        ("example", ((2, 3, 32, 32),), "output"), ("values", ((2, 3, 32, 32),), "output"),
        ("batch", ((3, 3, 32, 32),), "output")]
    assert all(c.passed and c.error is None and c.shape == c.onnx_shape for c in report.checks)
    assert not model.training

    # Independently: the file on the onnxruntime package matches torch, at the reported error.
    for batch in (1, 2, 5):
        xb = _rand(batch, 3, 32, 32, seed=batch)
        (got,), (want,) = _ort(path, xb), _torch(model, xb)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    (got,), (want,) = _ort(path, x), _torch(model, x)
    example = report.checks[0]
    assert example.max_abs == pytest.approx(float(np.abs(got - want).max()), abs=1e-6)
    assert example.max_abs <= ATOL + RTOL * float(np.abs(want).max())


def test_report_str_and_dict(tmp_path):
    report = fastinfer.export(ConvNet().eval(), _rand(1, 3, 16, 16), tmp_path / "m.onnx", dynamic_batch=False)
    text = str(report)
    assert "opset 17" in text and "input" in text and "(1, 3, 16, 16)" in text and text.endswith("PASSED")
    assert len(text.splitlines()) == 1 + 2 + 1 + 1 + len(report.checks) + 1
    record = json.loads(json.dumps(report.to_dict()))
    assert record["passed"] is True and record["opset"] == 17 and record["path"] == str(tmp_path / "m.onnx")
    assert record["inputs"] == [{"name": "input", "shape": [1, 3, 16, 16], "dtype": "float32"}]
    assert [c["trial"] for c in record["checks"]] == ["example", "values"]  # no dynamic axis: no batch trial
    assert report.inputs[0].shape == (1, 3, 16, 16)


def test_two_outputs_default_and_given_names(tmp_path):
    model = TwoHeads().eval()
    x = _rand(1, 3, 24, 40)
    report = fastinfer.export(model, x, tmp_path / "default.onnx")
    assert [o.name for o in report.outputs] == ["output0", "output1"]
    assert report.outputs[0].shape == ("batch", 240, 4) and report.outputs[1].shape == ("batch", 240, 5)

    path = tmp_path / "ssd.onnx"
    report = fastinfer.export(model, x, path, input_names=["images"], output_names=("boxes", "scores"))
    assert report.passed and [i.name for i in report.inputs] == ["images"]
    assert [o.name for o in report.outputs] == ["boxes", "scores"]
    assert {c.output for c in report.checks} == {"boxes", "scores"} and len(report.checks) == 6
    x3 = _rand(3, 3, 24, 40, seed=3)
    for got, want in zip(_ort(path, x3), _torch(model, x3)):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_train_mode_is_exported_in_eval_with_a_warning_and_restored(tmp_path, caplog):
    model = DropoutNet().train()
    x = _rand(4, 12)
    path = tmp_path / "dropout.onnx"
    with caplog.at_level(logging.WARNING, logger="fastinfer"):
        report = fastinfer.export(model, x, path)
    assert report.passed
    assert "training mode" in caplog.text and "Dropout" in caplog.text
    assert report.warnings[0].startswith("the model was in training mode: exported in eval mode (switched Dropout")
    assert model.training and all(m.training for m in model.modules())
    (got,) = _ort(path, x)
    np.testing.assert_allclose(got, _torch(model.eval(), x)[0], rtol=RTOL, atol=ATOL)  # the eval-mode forward


def test_mixed_modes_are_restored_per_module(tmp_path):
    model = _seeded(ConvNet()).eval()
    model.features[1].train()  # batch norm alone in training mode
    fastinfer.export(model, _rand(1, 3, 16, 16), tmp_path / "m.onnx")
    assert [m.training for m in model.modules()] == [m is model.features[1] for m in model.modules()]


def test_dynamic_hw_fully_convolutional(tmp_path):
    model = FullyConv().eval()
    path = tmp_path / "seg.onnx"
    report = fastinfer.export(model, _rand(1, 3, 40, 48), path, dynamic_hw=True, output_names=["logits", "features"])
    assert report.passed
    assert report.inputs[0].shape == ("batch", 3, "height", "width")
    assert report.outputs[0].shape == ("batch", 4, "height", "width")
    half = report.outputs[1].shape  # H/2, W/2: dynamic, but not the input's axes
    assert half[:2] == ("batch", 6) and all(isinstance(d, str) and d not in ("height", "width") for d in half[2:])
    hw = [c for c in report.checks if c.trial == "height/width"]
    assert [c.input_shapes for c in hw] == [((1, 3, 72, 112),)] * 2 and all(c.passed for c in hw)
    x = _rand(2, 3, 50, 66, seed=7)  # a size the report did not try
    for got, want in zip(_ort(path, x), _torch(model, x)):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_several_inputs_run_on_the_onnxruntime_package(tmp_path):
    model = Lambda(lambda image, bias: image.mean((2, 3)) + bias).eval()
    report = fastinfer.export(model, (_rand(2, 3, 8, 8), _rand(2, 3)), tmp_path / "two.onnx",
                              input_names=["image", "bias"])
    assert report.passed and report.runtime.startswith("onnxruntime")
    assert [(i.name, i.shape) for i in report.inputs] == [("image", ("batch", 3, 8, 8)), ("bias", ("batch", 3))]
    assert report.outputs[0].shape == ("batch", 3)


def test_integer_and_bool_outputs_run_on_the_onnxruntime_package(tmp_path):
    model = Lambda(lambda x: (x.argmax(1), x > 0.5, x.log())).eval()  # log(0) = -inf in both
    x = _rand(2, 3, 8, 8)
    x[0, 0, 0, 0] = 0.0
    report = fastinfer.export(model, x, tmp_path / "ints.onnx", dynamic_hw=True)
    assert report.passed and report.runtime.startswith("onnxruntime")
    assert [(o.shape, o.dtype) for o in report.outputs] == [
        (("batch", "height", "width"), "int64"), (("batch", 3, "height", "width"), "bool"),
        (("batch", 3, "height", "width"), "float32")]
    assert np.isneginf(_torch(model, x)[2][0, 0, 0, 0]) and report.checks[2].max_abs < 1e-5


def test_unsupported_operator_is_named(tmp_path):
    model = Lambda(torch.linalg.inv).train()
    with pytest.raises(ExportError, match=r"cannot export aten::linalg_inv at opset 17") as info:
        fastinfer.export(model, _rand(2, 3, 3), tmp_path / "inv.onnx")
    assert isinstance(info.value, fastinfer.FastInferError) and info.value.report is None
    assert model.training  # restored on error too


def test_data_dependent_shape_baked_by_the_trace_fails_the_values_trial(tmp_path):
    model = Lambda(lambda x: x.flatten()[: int((x > 0.5).sum())])
    x = _rand(2, 3, 8, 8)
    with pytest.raises(ExportError, match=r"does not match torch on the values, batch trial\(s\) \(the trace baked "
                       r"in values that depend on the input data") as info:
        fastinfer.export(model, x, tmp_path / "raise.onnx")
    assert "FAILED" in str(info.value) and not info.value.report.passed

    report = fastinfer.export(model, x, tmp_path / "report.onnx", check=False)
    assert not report.passed
    values = next(c for c in report.checks if c.trial == "values")
    assert not values.passed and values.error.startswith("shape") and values.onnx_shape != values.shape
    assert any("depends on the input values" in w for w in report.warnings)
    assert any(w.startswith(f"trace at {__file__}:") and "Python integer" in w for w in report.warnings)


def test_data_dependent_shape_that_onnx_follows_passes_with_a_warning(tmp_path, caplog):
    model = Lambda(lambda x: x[x > 0.5])  # NonZero: the file computes the length itself
    x = _rand(2, 3, 8, 8)
    with caplog.at_level(logging.WARNING, logger="fastinfer"):
        report = fastinfer.export(model, x, tmp_path / "mask.onnx")
    assert report.passed
    (note,) = report.warnings
    assert note.startswith(f"output 'output' dim 0 depends on the input values (torch gave {int((x > 0.5).sum())} and ")
    assert "depends on the input values" in caplog.text


def test_batch_baked_into_a_reshape_fails_the_batch_trial(tmp_path):
    model = Lambda(lambda x: x.reshape(int(x.shape[0]), -1).softmax(-1))
    x = _rand(2, 3, 8, 8)
    with pytest.raises(ExportError, match=r"on the batch trial\(s\) \(the batch axis is not dynamic") as info:
        fastinfer.export(model, x, tmp_path / "raise.onnx")
    assert "shape (2, 288) != torch (3, 192)" in str(info.value)

    report = fastinfer.export(model, x, tmp_path / "report.onnx", check=False)
    assert not report.passed and [c.trial for c in report.failures()] == ["batch"]
    # Without a dynamic batch the same file is right.
    assert fastinfer.export(model, x, tmp_path / "fixed.onnx", dynamic_batch=False).passed


def test_model_that_breaks_at_another_hw_names_the_axis(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 14 * 14, 2))
    with pytest.raises(ExportError, match=r"fails on the 'height/width' trial input .*\(1, 3, 48, 80\).* cannot be "
                       r"dynamic"):
        fastinfer.export(model, _rand(1, 3, 16, 16), tmp_path / "m.onnx", dynamic_hw=True)
    assert fastinfer.export(model, _rand(1, 3, 16, 16), tmp_path / "m.onnx").passed


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"path": "missing/m.onnx"}, r"the folder of path '.*missing/m.onnx' does not exist"),
    ({"path": "."}, r"path must be a file to write, got the folder"),
    ({"path": 3}, r"path must be a str or os.PathLike, got int"),
    ({"example_input": np.zeros((1, 3, 8, 8), np.float32)}, r"example_input must be a torch.Tensor or a tuple of "
     r"them, got ndarray"),
    ({"example_input": ()}, r"example_input must be a torch.Tensor or a tuple of them, got nothing"),
    ({"input_names": ("a", "b")}, r"input_names must be 1 non-empty name\(s\), one per model input; got \['a', 'b'\]"),
    ({"output_names": ["a", "b"]}, r"output_names must be 1 non-empty name\(s\), one per model output; got"),
    ({"example_input": (torch.zeros(1, 3, 8, 8),) * 2, "input_names": ["a", "a"]}, r"input_names must be distinct"),
    ({"opset": 6}, r"opset must be an int in \[9, 20\], got 6"),
    ({"opset": 17.0}, r"opset must be an int in \[9, 20\], got 17.0"),
    ({"model": "resnet"}, r"model must be a torch.nn.Module, got str"),
    ({"example_input": torch.zeros(1, 4, 8, 8)}, r"the model fails on example_input of shape\(s\) \[\(1, 4, 8, 8\)\]"),
    ({"example_input": torch.zeros(3, 8), "model": nn.Linear(8, 2), "dynamic_hw": True},
     r"dynamic_hw needs an NCHW \(4-D\) input, got input shapes \[\(3, 8\)\]"),
    ({"example_input": torch.zeros(()), "model": nn.Identity()}, r"dynamic_batch needs inputs with a batch dimension"),
    ({"model": Lambda(lambda x: {"out": x})}, r"the model must return a tensor or a tuple/list of tensors, got dict"),
])
def test_bad_arguments(tmp_path, monkeypatch, raises_invalid, kwargs, match):
    monkeypatch.chdir(tmp_path)
    args = {"model": ConvNet().eval(), "example_input": torch.zeros(1, 3, 8, 8), "path": tmp_path / "m.onnx", **kwargs}
    with raises_invalid(match):
        fastinfer.export(**args)
    assert not (tmp_path / "m.onnx").exists()


def test_a_single_name_may_be_a_str(tmp_path):
    report = fastinfer.export(ConvNet().eval(), _rand(1, 3, 8, 8), tmp_path / "m.onnx", input_names="image",
                              output_names="logits")
    assert [s.name for s in report.inputs + report.outputs] == ["image", "logits"]


def test_missing_torch_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(fastinfer.BackendUnavailableError, match=r"needs torch and onnx \(torch is missing\): "
                       r"pip install fastinfer\[export\]"):
        fastinfer.export(object(), object(), tmp_path / "m.onnx")


def test_import_fastinfer_does_not_import_torch():
    code = "import sys, fastinfer; print(sorted(m for m in ('torch', 'onnxscript') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- the command line -------------------------------------------------------------------------------------------

NET_PY = """
    import torch
    from torch import nn

    def make():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(4, 3))

    class Baked(nn.Module):
        def forward(self, x):
            return x.reshape(int(x.shape[0]), -1)

    def baked():
        return Baked()
"""


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(textwrap.dedent(NET_PY))
    return path



def test_cli_export_from_a_file(net_file, tmp_path, capsys):
    out = tmp_path / "net.onnx"
    assert cli.main(["export", f"{net_file}:make", "--shape", "1", "3", "16", "16", "--out", str(out),
                     "--dynamic-hw"]) == 0
    text = capsys.readouterr().out
    assert f"ONNX export {out} (opset 17" in text and "(batch, 3, height, width)" in text and "PASSED" in text
    model = load_factory(f"{net_file}:make")().eval()
    x = _rand(2, 3, 20, 24, seed=5)
    np.testing.assert_allclose(_ort(out, x)[0], _torch(model, x)[0], rtol=RTOL, atol=ATOL)


def test_cli_export_from_a_module_as_json(net_file, tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(net_file.parent))
    out = tmp_path / "net.onnx"
    assert cli.main(["export", "net:make", "--shape", "2", "3", "8", "8", "--out", str(out), "--no-dynamic-batch",
                     "--opset", "13", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["passed"] and record["opset"] == 13 and record["inputs"][0]["shape"] == [2, 3, 8, 8]
    assert [c["trial"] for c in record["checks"]] == ["example", "values"]
    monkeypatch.delitem(sys.modules, "net", raising=False)


def test_cli_export_parity_failure_exits_1(net_file, tmp_path, capsys):
    assert cli.main(["export", f"{net_file}:baked", "--shape", "2", "3", "4", "4", "--out",
                     str(tmp_path / "b.onnx")]) == 1
    assert "FAILED (1 of 3 checks)" in capsys.readouterr().out


@pytest.mark.parametrize(("target", "match"), [
    ("net.py", r"model must be given as MODULE:FACTORY or FILE.py:FACTORY, got 'net.py'"),
    ("{dir}/absent.py:make", r"the model file '.*absent.py' does not exist"),
    ("{file}:nothing", r"has no callable 'nothing'"),
    ("fastinfer_no_such_module:make", r"cannot import module 'fastinfer_no_such_module'"),
])
def test_cli_export_bad_target(net_file, tmp_path, capsys, target, match):
    target = target.format(dir=tmp_path, file=net_file)
    assert cli.main(["export", target, "--shape", "1", "3", "8", "8", "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and re.search(match, err), err


def test_cli_export_bad_shape(net_file, tmp_path, capsys):
    assert cli.main(["export", f"{net_file}:make", "--shape", "1", "0", "--out", str(tmp_path / "m.onnx")]) == 2
    assert "shape must be positive ints, got [1, 0]" in capsys.readouterr().err


# ---------------------------------------------------------------- TorchScript and torch.export targets


@pytest.mark.parametrize("suffix,exporter", [(".pt", "torchscript"), (".pt2", "torch.export")])
def test_torchscript_and_torch_export_targets_with_the_parity_report(tmp_path, suffix, exporter):
    from fastinfer.torch import TorchBackend

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1)).eval()
    path = tmp_path / f"net{suffix}"
    report = fastinfer.export(net, torch.rand(1, 3, 32, 48), path, dynamic_hw=True)
    assert report.passed and report.exporter == exporter and report.opset is None
    assert [c.trial for c in report.checks] == ["example", "values", "batch", "height/width"]
    assert max(c.max_abs for c in report.checks) < 1e-5
    assert f"{exporter} export {path}" in str(report)
    blob = np.random.default_rng(1).random((3, 3, 64, 80), dtype=np.float32)
    (out,) = TorchBackend(path).forward(blob)
    with torch.no_grad():
        np.testing.assert_allclose(out, net(torch.from_numpy(blob)).numpy(), rtol=1e-5, atol=1e-5)


def test_torchscript_target_traces_a_module_torchscript_cannot_compile(tmp_path):
    class WithLambda(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.double = lambda t: t * 2  # TorchScript compiles no lambdas

        def forward(self, x):
            return self.double(x) + 1

    report = fastinfer.export(WithLambda(), torch.rand(2, 3, 4, 4), tmp_path / "lambda.pt")
    assert report.passed
    assert any("traced" in w for w in report.warnings)


def test_export_target_errors_name_the_exporter(tmp_path):
    class DataDependent(nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # a branch on the values: torch.export refuses it
                return x
            return -x

    with pytest.raises(ExportError, match="torch.export export failed"):
        fastinfer.export(DataDependent(), torch.rand(2, 3, 4, 4), tmp_path / "dd.pt2")
