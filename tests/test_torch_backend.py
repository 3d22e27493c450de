"""The torch backend on the CPU: loading programs, the device-side blob and candidate filter against the core."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import fastinfer
from fastinfer import _core, backends
from fastinfer.torch import TorchBackend, blob_geometry, make_blob, select_candidates
from fastinfer.torch.backend import save_torchscript

# ---------------------------------------------------------------- the blob

BLOB_CASES = {
    "darknet-stretch": dict(mode="stretch"),
    "darknet-letterbox": dict(mode="letterbox"),
    "ultralytics": dict(mode="letterbox", sizing="round", pad_value=114.0),
    "yolox": dict(mode="letterbox", sizing="floor", center=False, scale=1.0, swap_rb=False, pad_value=114.0),
    "crop": dict(mode="crop"),
    "nudenet": dict(mode="pad_resize", pad_value=0.0, center=False),
    "imagenet": dict(mode="resize_crop", resize=256, mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375),
                     scale=1.0),
    "imagenet-pil": dict(mode="resize_crop", resize=256, mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375),
                         scale=1.0, resample="pil"),
    "letterbox-pil": dict(mode="letterbox", sizing="round", pad_value=114.0, resample="pil"),
    "crop-pil": dict(mode="crop", resample="pil"),
    "nudenet-pil": dict(mode="pad_resize", pad_value=0.0, center=False, resample="pil"),
}
DEFAULTS = dict(mode="stretch", swap_rb=True, scale=1 / 255, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                pad_value=127.5, center=True, sizing="darknet", resize=0, resample="cv2")


@pytest.fixture(scope="module")
def images(photos) -> list[np.ndarray]:
    return [fastinfer.read_image(p) for p in photos]


@pytest.mark.parametrize("case", sorted(BLOB_CASES))
def test_blob_equals_the_cores(images, case):
    kw = {**DEFAULTS, **BLOB_CASES[case]}
    size = (224, 224) if kw["mode"] == "resize_crop" else (416, 320)
    extra = {"resize": kw["resize"]} if kw["resize"] else {}
    ref, ref_transforms = _core.make_blob(images, size, kw["mode"], kw["swap_rb"], kw["scale"], list(kw["mean"]),
                                          list(kw["std"]), kw["pad_value"], center=kw["center"], sizing=kw["sizing"],
                                          resample=kw["resample"], **extra)
    blob, transforms = make_blob(images, size, **kw)
    assert blob.shape == ref.shape and blob.dtype == torch.float32
    np.testing.assert_array_equal(transforms, ref_transforms)
    # One grey level, in blob units: scale / std per channel (channel order after swapRB).
    grey = np.array([kw["scale"] / s for s in kw["std"]], dtype=np.float32)[None, :, None, None]
    difference = np.abs(blob.numpy() - ref) / grey
    if kw["resample"] == "pil":  # PIL's integer arithmetic, emulated exactly: only float32 normalisation differs
        assert difference.max() <= 1e-3, f"{case}: max {difference.max():.3f} grey levels"
        return
    # OpenCV's fixed-point resize emulated: a rare value one grey level off (its vector/scalar split).
    assert difference.max() <= 1.0 + 1e-4, f"{case}: max {difference.max():.3f} grey levels"
    assert (difference > 0.5).mean() < 1e-3, f"{case}: {(difference > 0.5).mean():.2e} of the values differ"


@pytest.mark.parametrize("image_size", [(1, 1), (7, 1000), (1000, 7), (416, 416), (417, 415), (640, 480)])
@pytest.mark.parametrize("mode", ["stretch", "crop", "letterbox", "pad_resize"])
def test_geometry_equals_the_core_on_odd_sizes(image_size, mode):
    image = np.zeros((image_size[1], image_size[0], 3), np.uint8)
    for sizing in ("darknet", "floor", "round"):
        _, transforms = _core.make_blob([image], (320, 256), mode, True, 1 / 255, [0.0] * 3, [1.0] * 3, 0.0,
                                        center=True, sizing=sizing)
        geometry = blob_geometry(image_size, (320, 256), mode, sizing=sizing)
        assert geometry.transform == tuple(transforms[0].tolist())


# ---------------------------------------------------------------- programs


class TinyNet(nn.Module):
    """Two convolutions and a pooled head: (B, 3, H, W) -> (B, 10) and (B, 8, H/2, W/2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 10, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = torch.relu(self.bn(self.conv1(x)))
        return self.conv2(features).mean(dim=(2, 3)), features


@pytest.fixture(scope="module")
def tiny() -> nn.Module:
    torch.manual_seed(0)
    return TinyNet().eval()


@pytest.fixture(scope="module")
def blob() -> np.ndarray:
    return np.random.default_rng(0).random((2, 3, 64, 96), dtype=np.float32)


def _expected(module: nn.Module, blob: np.ndarray) -> list[np.ndarray]:
    with torch.no_grad():
        return [t.numpy() for t in module(torch.from_numpy(blob))]


def test_module_torchscript_and_export_programs_give_the_module_outputs(tiny, blob, tmp_path):
    expected = _expected(tiny, blob)
    script = save_torchscript(tiny, torch.from_numpy(blob), tmp_path / "tiny.pt")
    program = torch.export.export(tiny, (torch.from_numpy(blob),),
                                  dynamic_shapes=({0: torch.export.Dim("batch", max=64)},))
    torch.export.save(program, str(tmp_path / "tiny.pt2"))
    for model in (tiny, script, tmp_path / "tiny.pt2"):
        backend = TorchBackend(model)
        outputs = backend.forward(blob)
        assert [o.shape for o in outputs] == [e.shape for e in expected]
        for got, want in zip(outputs, expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert backend.output_names == ["output0", "output1"]
        one = backend.forward(blob[:1])
        np.testing.assert_allclose(one[0], expected[0][:1], rtol=1e-5, atol=1e-6)


def test_describe_gives_output_shapes(tiny):
    description = TorchBackend(tiny).describe((96, 64))
    assert description.inputs[0].shape == (1, 3, 64, 96) and description.inputs[0].image_size() == (96, 64)
    assert [o.shape for o in description.outputs] == [(1, 10), (1, 8, 32, 48)]
    assert [o.name for o in description.outputs] == ["output0", "output1"]


def test_forward_from_threads_equals_serial(tiny, blob):
    from concurrent.futures import ThreadPoolExecutor

    backend = TorchBackend(tiny)
    serial = backend.forward(blob)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: backend.forward(blob), range(16)))
    for outputs in results:
        for got, want in zip(outputs, serial):
            np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- bad input


def test_half_and_cuda_graphs_need_cuda(tiny, raises_invalid):
    with raises_invalid("half=True runs FP16 on CUDA"):
        TorchBackend(tiny, half=True)
    with raises_invalid("cuda_graph=True needs a CUDA device"):
        TorchBackend(tiny, cuda_graph=True)
    with raises_invalid("device must be 'cpu', 'cuda' or 'cuda:N', got 'tpu'"):
        TorchBackend(tiny, device="tpu")
    with raises_invalid("half must be True or False"):
        TorchBackend(tiny, half="yes")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_cuda_without_cuda_names_the_reason(tiny):
    with pytest.raises(fastinfer.BackendUnavailableError, match="device='cuda'.*use device='cpu'"):
        TorchBackend(tiny, device="cuda")


def test_files_that_are_not_torch_programs(tiny, tmp_path, nudenet_model):
    text = tmp_path / "notes.pt"
    text.write_text("not a model")
    with pytest.raises(fastinfer.ModelLoadError, match="notes.pt' is not a TorchScript or torch.export archive"):
        TorchBackend(text)
    state = tmp_path / "weights.pth"
    torch.save(tiny.state_dict(), state)
    with pytest.raises(fastinfer.ModelLoadError, match="weights.pth' is not a TorchScript program"):
        TorchBackend(state)
    with pytest.raises(fastinfer.ModelLoadError, match="320n.onnx' is not a TorchScript or torch.export archive"):
        TorchBackend(nudenet_model)
    with pytest.raises(fastinfer.ModelLoadError, match="does not exist"):
        TorchBackend(tmp_path / "missing.pt2")
    with pytest.raises(fastinfer.ModelLoadError, match="is a directory"):
        TorchBackend(tmp_path)
    with pytest.raises(fastinfer.InvalidInputError, match="model must be a path .* or a torch.nn.Module, got int"):
        TorchBackend(3)


def test_blob_must_be_float32_nchw(tiny, raises_invalid):
    with raises_invalid("blob must be an NCHW float32 array"):
        TorchBackend(tiny).forward(np.zeros((1, 3, 8, 8), np.float64))


# ---------------------------------------------------------------- candidates on the device


def _same(a, b) -> None:
    for (xa, sa, ca), (xb, sb, cb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(sa, sb)
        np.testing.assert_array_equal(ca, cb)


def test_darknet_candidates_give_the_cores_detections(yolo_files, images):
    det = fastinfer.Detector(yolo_files["cfg"])
    batch = images[:4]
    blob, transforms = det.preprocess(batch)
    outputs = det.backend.forward(blob)
    full = _core.postprocess_darknet(outputs, transforms, det.input_size, 0.25, 0.45, False, 0,
                                     objectness_gate=True)
    picked = select_candidates([torch.from_numpy(o) for o in outputs], "darknet", 0.25, objectness_gate=True)
    total_rows = sum(o.shape[1] for o in outputs)
    kept_rows = sum(p.shape[1] for rows in picked for p in rows)
    assert kept_rows < total_rows / 50
    filtered = [_core.postprocess_darknet(picked[i], transforms[i:i + 1], det.input_size, 0.25, 0.45, False, 0,
                                          objectness_gate=True)[0] for i in range(len(batch))]
    _same(full, filtered)


def test_yolov8_candidates_give_the_cores_detections(nudenet_model, images):
    backend = backends.load(nudenet_model)
    blob, transforms = _core.make_blob(images[:3], (320, 320), "pad_resize", True, 1 / 255, [0.0] * 3, [1.0] * 3,
                                       0.0, center=False)
    (output,) = backend.forward(blob)
    full = _core.postprocess_head(output, transforms, (320, 320), "yolov8", 0.2, 0.45, False, 0)
    picked = select_candidates([torch.from_numpy(output)], "yolov8", 0.2)
    filtered = [_core.postprocess_head(picked[i][0], transforms[i:i + 1], (320, 320), "yolov8", 0.2, 0.45, False,
                                       0)[0] for i in range(3)]
    _same(full, filtered)


def test_other_heads_come_back_whole():
    output = torch.rand(2, 3549, 6)
    picked = select_candidates([output], "yolox", 0.5)
    assert [p[0].shape for p in picked] == [(1, 3549, 6), (1, 3549, 6)]


def test_import_fastinfer_does_not_import_torch():
    code = "import sys, fastinfer; print('torch' in sys.modules, 'fastinfer.torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    assert Path(fastinfer.__file__).with_name("torch").is_dir()
