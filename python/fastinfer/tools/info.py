"""Model summaries: inputs, outputs, parameters and multiply-accumulates, read without running the model.

``info`` reads an ONNX model or a Darknet cfg and counts, per layer and in
total, the multiply-accumulates (MACs) of the layers that do nearly all the
arithmetic of a vision model: for ONNX ``Conv`` (grouped and depthwise too),
``ConvTranspose``, ``Gemm`` and ``MatMul`` (batched); for Darknet
``[convolutional]`` and ``[connected]``. FLOPs are 2 x MACs (one multiply and
one add each), the convention of Darknet's own ``BFLOPs`` column. Biases,
batch normalisation, activations, pooling and element-wise ops are not
counted.

What "parameters" counts:

* ONNX: the elements of the graph's floating-point initializers (float16,
  bfloat16, float32, float64) as exported, so a model with its batch
  normalisation folded into the convolutions has fewer than one without
  (which holds scale, bias, mean and variance); plus the quantized tensors
  that ``DequantizeLinear`` turns into weights (INT8 QDQ models). Not
  counted: shape constants (integer tensors, the ``roi``/``scales`` of
  ``Resize``/``Upsample``), scalars (a ``Clip`` bound, an epsilon) and
  quantization scales and zero points. ``Constant`` nodes and subgraphs are
  not read.
* Darknet: the floats the ``.weights`` file holds for the cfg (biases,
  batch-norm scales, means and variances, and the weights).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from .. import _core
from ..errors import InvalidInputError, ModelLoadError
from ..formats import onnx as onnx_format
from ..formats.onnx import Dim, TensorInfo, dtype_name, tensor_info
from ..validate import check_size

#: ONNX op types whose multiply-accumulates are counted.
ONNX_COUNTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
#: Darknet layer types whose multiply-accumulates are counted.
DARKNET_COUNTED_LAYERS = ("convolutional", "connected")

# (op type, input index) pairs that hold shape or quantization constants, not parameters.
_CONSTANT_INPUTS = {"Resize": (1, 2, 3), "Upsample": (1,), "QuantizeLinear": (1, 2), "DequantizeLinear": (1, 2)}
_DARKNET_HEADS = ("yolo", "region", "detection")


@dataclass(frozen=True)
class LayerInfo:
    """One layer (ONNX node or Darknet section): its output shape, parameters and multiply-accumulates."""

    name: str
    op: str
    output_shape: Optional[tuple[Dim, ...]]  # None when shape inference could not tell
    params: int
    macs: int


@dataclass(frozen=True)
class OpCount:
    """How many layers of one type there are and their multiply-accumulates."""

    count: int
    macs: int

    @property
    def flops(self) -> int:
        """2 x :attr:`macs`."""
        return 2 * self.macs


@dataclass(frozen=True)
class ModelInfo:
    """A model's inputs, outputs, parameter count and multiply-accumulates at one input size.

    Attributes:
        path: The model file.
        format: ``"onnx"`` or ``"darknet"``.
        opset: The ONNX opset of the default domain; ``None`` for Darknet.
        input_size: ``(width, height)`` the counts are for; ``None`` when the
            model has no image input.
        inputs: As the model declares them (symbolic dimensions by name).
        outputs: At ``input_size`` where shape inference could tell, else as
            declared.
        parameters: See the module docstring for what is counted.
        macs: Multiply-accumulates of one forward pass (batch 1 when the
            batch is dynamic).
        by_type: ``{op: OpCount}`` for each counted op type present.
        layers: Every ONNX node, or every Darknet section after ``[net]``.
    """

    path: Path
    format: str
    opset: Optional[int]
    input_size: Optional[tuple[int, int]]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    parameters: int
    macs: int
    by_type: dict[str, OpCount]
    layers: tuple[LayerInfo, ...]

    @property
    def flops(self) -> int:
        """Floating-point operations: 2 x :attr:`macs`."""
        return 2 * self.macs

    def to_dict(self, layers: bool = True) -> dict[str, Any]:
        """Plain Python types (JSON-ready); ``layers=False`` leaves the per-layer list out."""
        out: dict[str, Any] = {
            "path": str(self.path),
            "format": self.format,
            "opset": self.opset,
            "input_size": list(self.input_size) if self.input_size else None,
            "inputs": [_tensor_dict(t) for t in self.inputs],
            "outputs": [_tensor_dict(t) for t in self.outputs],
            "parameters": self.parameters,
            "macs": self.macs,
            "flops": self.flops,
            "by_type": {op: {"count": c.count, "macs": c.macs, "flops": c.flops} for op, c in self.by_type.items()},
        }
        if layers:
            out["layers"] = [{"name": x.name, "op": x.op,
                              "output_shape": None if x.output_shape is None else list(x.output_shape),
                              "params": x.params, "macs": x.macs} for x in self.layers]
        return out

    def summary(self, layers: bool = True) -> str:
        """A readable report: inputs, outputs, the per-layer table (unless ``layers=False``), totals per op type."""
        size = f", input {self.input_size[0]}x{self.input_size[1]}" if self.input_size else ""
        opset = f", opset {self.opset}" if self.opset is not None else ""
        lines = [f"{self.path.name} ({self.format}{opset}{size})"]
        for title, tensors in (("Inputs", self.inputs), ("Outputs", self.outputs)):
            lines.append(f"{title}:")
            lines += _table([(t.name, _shape_text(t.shape), t.dtype) for t in tensors], indent="  ")
        if layers:
            rows: list[tuple[str, ...]] = [(x.name, x.op, _shape_text(x.output_shape), f"{x.params:,}", f"{x.macs:,}")
                                           for x in self.layers]
            lines.append("")
            lines += _table(rows, ("Layer", "Op", "Output shape", "Params", "MACs"), right=(3, 4))
        rows = [(op, str(c.count), f"{c.macs:,}", f"{c.flops / 1e9:.3f}") for op, c in self.by_type.items()]  # noqa
        rows.append(("total", str(sum(c.count for c in self.by_type.values())), f"{self.macs:,}",
                     f"{self.flops / 1e9:.3f}"))
        lines.append("")
        lines += _table(rows, ("Op", "Count", "MACs", "GFLOPs"), right=(1, 2, 3))
        lines += ["", f"Parameters: {self.parameters:,} ({_human(self.parameters)})",
                  f"MACs:       {self.macs:,} ({_human(self.macs)})",
                  f"FLOPs:      {self.flops:,} ({_human(self.flops)}, 2 x MACs)"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def info(path: Union[str, os.PathLike[str]], *, input_size: Union[int, Sequence[int], None] = None) -> ModelInfo:
    """Summarises an ONNX model or a Darknet cfg: inputs, outputs, parameters, MACs and FLOPs.

    Nothing is run and nothing needs torch: ONNX shapes come from
    ``onnx.shape_inference`` with the inputs fixed to ``input_size`` (in
    memory; the file is not changed), Darknet shapes from the core's cfg
    walk. A dynamic batch counts as 1.

    Args:
        path: An ``.onnx`` model or a Darknet ``.cfg`` (no weights needed).
        input_size: ``(width, height)`` (or one int for a square) to count
            at; default the model's own fixed size. Needed for a model with
            a dynamic height or width.

    Returns:
        The :class:`ModelInfo`; ``print()`` it for a table.

    Raises:
        ModelLoadError: A missing file, a format other than ONNX or Darknet
            cfg, or a file that is not a valid model of its format.
        InvalidInputError: A bad ``input_size``, one the model does not fit,
            or none for a model whose input size is dynamic.

    Example:
        >>> summary = fastinfer.info("yolov3-tiny.cfg")  # doctest: +SKIP
        >>> summary.parameters, summary.flops  # doctest: +SKIP
        (8858734, 5564961792)
        >>> print(fastinfer.info("320n.onnx", input_size=(640, 640)))  # doctest: +SKIP
    """
    path = Path(path)
    size = None if input_size is None else check_size(input_size)
    if not path.is_file():
        raise ModelLoadError(f"model file '{path}' does not exist")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return _onnx_info(path, size)
    if suffix == ".cfg":
        return _darknet_info(path, size)
    raise ModelLoadError(f"cannot tell the format of '{path}': expected an ONNX model (.onnx) or a Darknet cfg (.cfg), "
                         f"got {'suffix ' + repr(suffix) if suffix else 'no suffix'}")


# --------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------


def _onnx_info(path: Path, size: Optional[tuple[int, int]]) -> ModelInfo:
    import onnx  # imported here: only ONNX models need it

    model = onnx_format.load(path)
    graph = model.graph
    if not graph.node or not graph.output:
        raise ModelLoadError(f"'{path}' is not an ONNX model: its graph has {len(graph.node)} nodes and "
                             f"{len(graph.output)} outputs")
    initializers = {t.name for t in graph.initializer}
    inputs = tuple(tensor_info(v) for v in onnx_format.graph_inputs(model))
    declared = _declared_size(graph, initializers)
    declared_outputs = {o.name: tensor_info(o).shape for o in graph.output}
    used = _fix_inputs(graph, initializers, size, path)
    del graph.value_info[:]  # infer every shape afresh, from the fixed inputs
    for output in graph.output:
        output.type.tensor_type.ClearField("shape")
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except Exception as exc:  # onnx raises InferenceError, ValidationError and a few others
        why = " ".join(str(exc).splitlines()[:2])  # the first error; the rest are the nodes after it
        if size is not None:
            made_for = f" (made for {declared[0]}x{declared[1]})" if declared else ""
            raise InvalidInputError(f"input_size {size[0]}x{size[1]} does not fit ONNX model '{path}'{made_for}: "
                                    f"shape inference failed: {why}") from exc
        raise ModelLoadError(f"shape inference failed on ONNX model '{path}': {type(exc).__name__}: {why}") from exc
    shapes: dict[str, tuple[Dim, ...]] = {t.name: tuple(int(d) for d in t.dims) for t in graph.initializer}
    values = list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output)
    shapes.update({v.name: tensor_info(v).shape for v in values if v.type.tensor_type.HasField("shape")})

    params = _onnx_parameters(graph)
    layers, seen = [], set()
    for i, node in enumerate(graph.node):
        name = node.name or f"{node.op_type}_{i}"
        own = [params[x] for x in node.input if x in params and x not in seen]
        seen.update(node.input)
        layers.append(LayerInfo(name, node.op_type, shapes.get(node.output[0]) if node.output else None, sum(own),
                                _onnx_macs(node, shapes, path)))
    outputs = tuple(TensorInfo(o.name, shapes.get(o.name, declared_outputs[o.name]),
                               dtype_name(o.type.tensor_type.elem_type)) for o in inferred.graph.output)
    opset = onnx_format.opset(model)
    return ModelInfo(path, "onnx", opset, used, inputs, outputs, sum(params.values()), sum(x.macs for x in layers),
                     _by_type(layers, ONNX_COUNTED_OPS), tuple(layers))


def _image_axes(dims: Any) -> Optional[tuple[int, int]]:
    """The (height, width) axes of a rank-4 input: NCHW unless it looks NHWC (1, 3 or 4 channels last)."""
    if len(dims) != 4:
        return None
    channels = [d.dim_value if d.HasField("dim_value") else None for d in (dims[1], dims[3])]
    return (1, 2) if channels[1] in (1, 3, 4) and channels[0] not in (1, 3, 4) else (2, 3)


def _declared_size(graph: Any, initializers: set[str]) -> Optional[tuple[int, int]]:
    """(width, height) of the first image input when both are fixed."""
    for value in graph.input:
        dims = value.type.tensor_type.shape.dim
        axes = None if value.name in initializers else _image_axes(dims)
        if axes and all(dims[a].HasField("dim_value") for a in axes):
            return dims[axes[1]].dim_value, dims[axes[0]].dim_value
    return None


def _fix_inputs(graph: Any, initializers: set[str], size: Optional[tuple[int, int]], path: Path
                ) -> Optional[tuple[int, int]]:
    """Fixes a dynamic batch to 1 and the image inputs' height and width; returns the (width, height) used."""
    used = None
    for value in graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        described = _shape_text(tensor_info(value).shape)
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1
        axes = _image_axes(dims)
        if axes and size is not None:
            dims[axes[0]].dim_value, dims[axes[1]].dim_value = size[1], size[0]
        elif axes and not all(dims[a].HasField("dim_value") for a in axes):
            raise InvalidInputError(f"ONNX model '{path}' has a dynamic input size (input '{value.name}' is "
                                    f"{described}): pass input_size=(width, height) (CLI: --input-size W H)")
        dynamic = [i for i, d in enumerate(dims) if not d.HasField("dim_value")]
        if dynamic:
            raise InvalidInputError(f"ONNX model '{path}' input '{value.name}' is {described}: its dynamic "
                                    f"dimensions {dynamic} cannot be fixed (only a batch, axis 0, and an image's "
                                    "height and width, rank 4, can)")
        if axes:
            used = used or (dims[axes[1]].dim_value, dims[axes[0]].dim_value)
    if size is not None and used is None:
        raise InvalidInputError(f"input_size was given but ONNX model '{path}' has no image input (rank 4) to apply "
                                "it to")
    return used


def _onnx_parameters(graph: Any) -> dict[str, int]:
    """Element counts of the initializers that are parameters (see the module docstring)."""
    from onnx import TensorProto

    floats = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
    uses: dict[str, list[tuple[str, int]]] = {}
    for node in graph.node:
        for index, name in enumerate(node.input):
            uses.setdefault(name, []).append((node.op_type, index))
    params = {}
    for tensor in graph.initializer:
        used = uses.get(tensor.name, [])
        weight = (tensor.data_type in floats and len(tensor.dims) >= 1) or ("DequantizeLinear", 0) in used
        if weight and (not used or any(i not in _CONSTANT_INPUTS.get(op, ()) for op, i in used)):
            params[tensor.name] = math.prod(tensor.dims)
    return params


def _onnx_macs(node: Any, shapes: dict[str, tuple[Dim, ...]], path: Path) -> int:
    op = node.op_type
    if op not in ONNX_COUNTED_OPS or node.domain not in ("", "ai.onnx"):
        return 0

    def known(name: str) -> tuple[int, ...]:
        shape = shapes.get(name)
        if shape is None or not all(isinstance(d, int) for d in shape):
            raise ModelLoadError(f"cannot count the {op} node '{node.name}' of ONNX model '{path}': shape inference "
                                 f"left the shape of '{name}' unknown ({_shape_text(shape)})")
        return shape  # type: ignore[return-value]

    if op == "Conv":  # weight (M, C/group, k...): each output element takes C/group * prod(k)
        return math.prod(known(node.output[0])) * math.prod(known(node.input[1])[1:])
    if op == "ConvTranspose":  # weight (C, M/group, k...): each input element feeds M/group * prod(k)
        return math.prod(known(node.input[0])) * math.prod(known(node.input[1])[1:])
    a = known(node.input[0])
    if op == "Gemm":
        trans_a = next((attr.i for attr in node.attribute if attr.name == "transA"), 0)
        return math.prod(known(node.output[0])) * a[0 if trans_a else 1]
    return math.prod(known(node.output[0])) * a[-1]  # MatMul, batched and broadcast


# --------------------------------------------------------------------------
# Darknet
# --------------------------------------------------------------------------


def _darknet_info(path: Path, size: Optional[tuple[int, int]]) -> ModelInfo:
    cfg = _core.darknet_cfg_info(os.fspath(path))
    if size is not None and size != (cfg["width"], cfg["height"]):
        try:
            cfg = _core.darknet_cfg_info(os.fspath(path), *size)  # the core walks the cfg at that size
        except ModelLoadError as exc:
            raise InvalidInputError(
                f"input_size {size[0]}x{size[1]} does not fit Darknet cfg '{path}': {exc}") from None
    in_shape = (cfg["channels"], cfg["height"], cfg["width"])
    layers = []
    for i, layer in enumerate(cfg["layers"]):
        kind, shape, options = layer["type"], tuple(layer["shape"]), layer["options"]
        params = macs = 0
        bias_like = shape[0] * (4 if int(options.get("batch_normalize", 0)) else 1)  # biases (+ scales, mean, var)
        if kind == "convolutional":
            k, groups = int(options.get("size", 1)), int(options.get("groups", 1))
            per_output = in_shape[0] // groups * k * k
            params = per_output * shape[0] + bias_like
            macs = math.prod(shape) * per_output
        elif kind == "connected":
            macs = math.prod(in_shape) * shape[0]
            params = macs + bias_like
        layers.append(LayerInfo(f"{kind}_{i}", kind, (1, *shape), params, macs))
        in_shape = shape
    heads = [x for x in layers if x.op in _DARKNET_HEADS] or layers[-1:]
    return ModelInfo(path, "darknet", None, (cfg["width"], cfg["height"]),
                     (TensorInfo("data", (1, cfg["channels"], cfg["height"], cfg["width"]), "float32"),),
                     tuple(TensorInfo(x.name, x.output_shape or (), "float32") for x in heads),
                     int(cfg["parameter_count"]), sum(x.macs for x in layers),
                     _by_type(layers, DARKNET_COUNTED_LAYERS), tuple(layers))


# --------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------


def _by_type(layers: Sequence[LayerInfo], counted: Sequence[str]) -> dict[str, OpCount]:
    return {op: OpCount(sum(1 for x in layers if x.op == op), sum(x.macs for x in layers if x.op == op))
            for op in counted if any(x.op == op for x in layers)}


def _tensor_dict(t: TensorInfo) -> dict[str, Any]:
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype}


def _shape_text(shape: Optional[Sequence[Dim]]) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _human(n: int) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


def _table(rows: Sequence[Sequence[str]], header: Sequence[str] = (), right: Sequence[int] = (),
           indent: str = "", max_width: int = 48) -> list[str]:
    """Columns padded to their widest cell (cut to ``max_width`` from the left); ``right`` columns right-aligned."""
    cells = [list(header)] + [list(r) for r in rows] if header else [list(r) for r in rows]
    cells = [[c if len(c) <= max_width else "..." + c[len(c) - max_width + 3:] for c in row] for row in cells]
    if not cells:
        return []
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]

    def line(row: Sequence[str]) -> str:
        return indent + "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in
                                  enumerate(zip(row, widths))).rstrip()

    out = [line(row) for row in cells]
    if header:
        out.insert(1, indent + "-" * len(out[0]))
    return out
