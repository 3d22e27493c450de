"""fastinfer.torch.darknet: Darknet cfgs as torch modules, row for row the converted ONNX model's outputs."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import fastinfer
from fastinfer import _core, backends, convert
from fastinfer.torch import DarknetModule, TorchBackend, darknet
from fastinfer.torch.backend import save_torchscript
from random_weights import write_random_weights

MINI_CFG = Path(__file__).resolve().parent / "data" / "yolov4-tiny-mini.cfg"
TOLERANCE = 1e-4


def blob_of(photos: list[Path], size: tuple[int, int]) -> np.ndarray:
    images = [fastinfer.read_image(p) for p in photos]
    blob, _ = _core.make_blob(images, size, "letterbox", True, 1 / 255, [0.0] * 3, [1.0] * 3, 127.5)
    return blob


def onnx_rows(cfg: Path, weights: Path, blob: np.ndarray, size: tuple[int, int] | None, tmp: Path) -> list:
    path = tmp / f"{cfg.stem}-{blob.shape[3]}x{blob.shape[2]}.onnx"
    convert.darknet_to_onnx(cfg, weights, path, input_size=size)
    return backends.load(path, None, "onnxruntime").forward(blob)


def torch_rows(module: torch.nn.Module, blob: np.ndarray) -> list[np.ndarray]:
    with torch.no_grad():
        return [t.numpy() for t in module(torch.from_numpy(blob))]


def assert_rows_equal(ours: list[np.ndarray], theirs: list[np.ndarray]) -> None:
    assert [o.shape for o in ours] == [t.shape for t in theirs]
    for o, t in zip(ours, theirs):
        assert np.abs(o - t).max() <= TOLERANCE


def test_real_yolov3_tiny_on_every_photo(yolo_files, photos, tmp_path):
    module = darknet(yolo_files["cfg"], yolo_files["weights"])
    assert isinstance(module, DarknetModule) and module.input_size == (416, 416)
    blob = blob_of(photos, (416, 416))
    assert_rows_equal(torch_rows(module, blob), onnx_rows(yolo_files["cfg"], yolo_files["weights"], blob, None,
                                                          tmp_path))


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory, photos):
    folder = tmp_path_factory.mktemp("torch-darknet")
    blob = blob_of(photos[:2], (128, 128))

    def get(cfg: Path) -> Path:
        return write_random_weights(cfg, folder / f"{cfg.stem}.weights", seed=len(cfg.stem), blob=blob)

    return get


@pytest.mark.parametrize("name,size", [("yolov3", (320, 256)), ("yolov3-spp", (320, 320)), ("yolov2-tiny", (416, 416)),
                                       ("mini", None)])
def test_seeded_random_networks(name, size, testdata, random_weights, photos, tmp_path):
    cfg = MINI_CFG if name == "mini" else testdata / "darknet-cfg" / f"{name}.cfg"
    weights = random_weights(cfg)
    module = darknet(cfg, weights, input_size=size)
    w, h = module.input_size
    blob = blob_of(photos[:3], (w, h))
    assert_rows_equal(torch_rows(module, blob), onnx_rows(cfg, weights, blob, size, tmp_path))


def test_torchscript_and_export_give_the_same_rows(yolo_files, photos, tmp_path):
    module = darknet(yolo_files["cfg"], yolo_files["weights"])
    blob = blob_of(photos[:2], (416, 416))
    expected = torch_rows(module, blob)
    script = save_torchscript(module, torch.from_numpy(blob), tmp_path / "yolov3-tiny.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert isinstance(torch.jit.load(str(script)), torch.jit.ScriptModule)
    program = torch.export.export(module, (torch.from_numpy(blob),),
                                  dynamic_shapes=({0: torch.export.Dim("batch", max=256)},))
    torch.export.save(program, str(tmp_path / "yolov3-tiny.pt2"))
    for path in (script, tmp_path / "yolov3-tiny.pt2"):
        got = TorchBackend(path).forward(blob)
        for g, e in zip(got, expected):
            assert np.abs(g - e).max() <= 1e-5, path.name


def test_bad_files_are_the_converters_errors(yolo_files, tmp_path):
    broken = tmp_path / "broken.cfg"
    broken.write_text(yolo_files["cfg"].read_text().replace("[maxpool]", "[reorgx]", 1))
    with pytest.raises(fastinfer.ModelLoadError, match=r"broken.cfg.*reorgx"):
        darknet(broken, yolo_files["weights"])
    short = tmp_path / "short.weights"
    short.write_bytes(yolo_files["weights"].read_bytes()[:1000])
    with pytest.raises(fastinfer.ModelLoadError, match="short.weights"):
        darknet(yolo_files["cfg"], short)
    with pytest.raises(fastinfer.InvalidInputError, match="multiples of its stride, 32"):
        darknet(yolo_files["cfg"], yolo_files["weights"], input_size=(100, 100))
