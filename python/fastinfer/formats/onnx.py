"""The one reader of ONNX files: loading, and inputs, outputs, metadata and opset as ``TensorInfo``.

``onnx`` is imported only when a file is read, so ``import fastinfer``
never loads it.

Example:
    >>> d = describe("yolov8n.onnx")
    >>> d.inputs[0]
    TensorInfo(name='images', shape=(1, 3, 640, 640), dtype='float32')
    >>> d.metadata["task"]
    'detect'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from ..errors import ModelLoadError

Dim = Union[int, str, None]  # a fixed size, a symbolic name, or unknown


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output: name, shape (int, symbolic name or None per dimension) and numpy dtype name."""

    name: str
    shape: tuple[Dim, ...]
    dtype: str

    def image_size(self) -> Optional[tuple[int, int]]:
        """``(width, height)`` of an NCHW input whose height and width are fixed, else None."""
        s = self.shape
        if len(s) == 4 and isinstance(s[2], int) and isinstance(s[3], int):
            return s[3], s[2]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class OnnxDescription:
    """What a model declares, read without running it: inputs (weights excluded), outputs, metadata, opset."""

    path: Path
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    metadata: dict[str, str]
    opset: Optional[int]

    def to_dict(self) -> dict[str, Any]:
        """``{"inputs": [...], "outputs": [...], "metadata": {...}}`` with plain lists."""
        return {"inputs": [t.to_dict() for t in self.inputs], "outputs": [t.to_dict() for t in self.outputs],
                "metadata": dict(self.metadata)}


def load(path: Union[str, os.PathLike[str]], *, external_data: bool = False) -> Any:
    """The ``onnx.ModelProto`` of a file; ``ModelLoadError`` if it is missing or not an ONNX model.

    Args:
        path: the ``.onnx`` file.
        external_data: also read weights kept in external data files.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"ONNX model '{path}' does not exist")
    import onnx  # imported here: only ONNX models need it

    try:
        return onnx.load(os.fspath(path), load_external_data=external_data)
    except Exception as exc:  # protobuf raises its own DecodeError, onnx a few others
        raise ModelLoadError(f"cannot read ONNX model '{path}': {type(exc).__name__}: {exc}") from exc


def graph_inputs(model: Any) -> list[Any]:
    """The graph's real inputs: old exporters list the weights (initializers) among the inputs too."""
    initializers = {t.name for t in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in initializers]


def opset(model: Any) -> Optional[int]:
    """The default-domain opset the model imports."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def describe(path: Union[str, os.PathLike[str]]) -> OnnxDescription:
    """Inputs, outputs, metadata and opset of an ONNX model (external weight files are not read).

    Raises:
        ModelLoadError: the file is missing, is not an ONNX model, or has no outputs.
    """
    model = load(path)
    if not model.graph.output:
        raise ModelLoadError(f"ONNX model '{path}' has no outputs")
    return OnnxDescription(Path(path), tuple(tensor_info(v) for v in graph_inputs(model)),
                           tuple(tensor_info(v) for v in model.graph.output),
                           {p.key: p.value for p in model.metadata_props}, opset(model))


def tensor_info(value: Any) -> TensorInfo:
    """An ONNX ``ValueInfoProto`` as a ``TensorInfo``."""
    tensor = value.type.tensor_type
    shape: list[Dim] = []
    for d in tensor.shape.dim:
        if d.HasField("dim_value"):
            shape.append(int(d.dim_value))
        else:
            shape.append(d.dim_param if d.HasField("dim_param") else None)
    return TensorInfo(value.name, tuple(shape), dtype_name(tensor.elem_type))


def dtype_name(elem_type: int) -> str:
    """The numpy name of an ONNX element type (the ONNX name, lower case, where numpy has none)."""
    import onnx

    try:
        return str(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, ValueError, TypeError):
        return onnx.TensorProto.DataType.Name(elem_type).lower()
