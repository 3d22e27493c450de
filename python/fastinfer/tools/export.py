"""PyTorch -> ONNX export, checked on ONNX Runtime against torch.

``export`` writes the file, runs ``onnx.checker``, then runs the file and the
module on several inputs and compares them; the ``ExportReport`` it returns
says what was exported and how close the two are.

torch is optional: it is imported here, inside ``export``, and only there, so
``import fastinfer`` and running models never need it.

Exporter: the TorchScript exporter (``torch.onnx.export(..., dynamo=False)``).
It needs nothing beyond torch and onnx (the dynamo exporter also needs
onnxscript), names dynamic axes directly through ``dynamic_axes``, refuses
an operator with ``UnsupportedOperatorError`` naming it, and reports code
that a trace cannot follow (Python ints and branches taken from tensors) as
``TracerWarning``s with the file and line, which the report keeps. A trace
bakes such values in; the parity trials (new values, another batch,
another H/W) catch the files where that matters.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np

from ..errors import BackendUnavailableError, FastInferError, InvalidInputError
from ..formats import onnx as onnx_format
from ..formats.onnx import TensorInfo, tensor_info

log = logging.getLogger(__name__)

#: Opset used when none is given: ONNX Runtime >= 1.21 and the TorchScript exporter both run it.
DEFAULT_OPSET = 17
#: Export targets by file suffix (anything else is ONNX).
TARGETS = {".pt": "torchscript", ".torchscript": "torchscript", ".ts": "torchscript", ".jit": "torchscript",
           ".pt2": "torch.export"}

#: Parity tolerances: an output passes when every element has |onnx - torch| <= ATOL + RTOL * |torch|.
RTOL = 1e-3
ATOL = 1e-5
#: How much the H/W trial grows the example's height and width (different, so a swap shows).
HW_STEP = (32, 64)
#: Seed of the trial inputs; not 0, so they differ from an example drawn with a plain seed of 0.
TRIAL_SEED = 0x5EED

Dim = Union[int, str, None]

# Warnings of the TorchScript path itself, not of the model: the exporter is chosen on purpose (see above).
_EXPORTER_DEPRECATIONS = (r"You are using the legacy TorchScript-based ONNX export",
                          r"The feature will be removed\. Please remove usage of this function")


class ExportError(FastInferError):
    """The exporter refused the model, or the exported file does not match torch.

    ``report`` holds the ``ExportReport`` when the file was written and checked.
    """

    def __init__(self, message: str, report: ExportReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class ParityCheck:
    """One output compared on one trial input.

    ``trial`` is ``"example"`` (the example input), ``"values"`` (same shape,
    other values), ``"batch"`` or ``"height/width"`` (that axis changed).
    ``passed``: every element has ``|onnx - torch| <= atol + rtol * |torch|``;
    ``max_rel`` is taken over the elements with ``|torch| > atol``, so it can
    exceed ``rtol`` on small values that ``atol`` covers.
    """

    trial: str
    input_shapes: tuple[tuple[int, ...], ...]
    output: str
    shape: tuple[int, ...] | None  # torch's output shape
    onnx_shape: tuple[int, ...] | None
    max_abs: float
    max_rel: float
    passed: bool
    error: str | None = None


@dataclass(frozen=True)
class ExportReport:
    """What ``export`` wrote and how closely ONNX Runtime reproduces torch on it.

    ``print(report)`` gives a table; ``to_dict()`` a JSON-ready dict.

    Example::

        report = fastinfer.export(net, torch.rand(1, 3, 224, 224), "net.onnx", check=False)
        if not report.passed:
            for check in report.failures():
                print(check.trial, check.output, check.max_abs, check.error)
    """

    path: Path
    opset: int | None  # None for TorchScript and torch.export files
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    checks: tuple[ParityCheck, ...]
    runtime: str
    exporter: str = "torchscript"
    rtol: float = RTOL
    atol: float = ATOL
    warnings: tuple[str, ...] = ()  # training mode switched, tracer warnings, data-dependent shapes

    @property
    def passed(self) -> bool:
        """Whether every output matched torch on every trial input."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    def failures(self) -> list[ParityCheck]:
        """The checks that did not pass."""
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (``json.dumps`` takes it); infinite errors become None."""
        out = asdict(self)
        out["path"] = str(self.path)
        out["passed"] = self.passed
        for check in out["checks"]:
            for key in ("max_abs", "max_rel"):
                if not math.isfinite(check[key]):
                    check[key] = None
        return out

    def __str__(self) -> str:
        def shape(s: Sequence[Dim] | None) -> str:
            return "-" if s is None else "(" + ", ".join("?" if d is None else str(d) for d in s) + ")"

        what = f"ONNX export {self.path} (opset {self.opset}, {self.exporter} exporter)" if self.opset is not None \
            else f"{self.exporter} export {self.path}"
        lines = [f"{what}, checked on {self.runtime}"]
        for kind, specs in (("input", self.inputs), ("output", self.outputs)):
            lines += [f"  {kind:<6} {s.name:<16} {shape(s.shape):<28} {s.dtype}" for s in specs]
        header = ("trial", "input shapes", "output", "shape", "max abs", "max rel", "result")
        rows = [header]
        for c in self.checks:
            result = "ok" if c.passed else "FAIL" + (f": {c.error}" if c.error else "")
            rows.append((c.trial, " ".join(shape(s) for s in c.input_shapes), c.output, shape(c.shape),
                         f"{c.max_abs:.3g}", f"{c.max_rel:.3g}", result))
        widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
        lines.append(f"parity (rtol {self.rtol:g}, atol {self.atol:g}):")
        lines += ["  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)) + "  " + r[-1] for r in rows]
        lines += [f"warning: {w}" for w in self.warnings]
        lines.append("PASSED" if self.passed else f"FAILED ({len(self.failures())} of {len(self.checks)} checks)")
        return "\n".join(lines)


def _import_torch():
    try:
        import onnx
        import torch
    except ImportError as exc:
        raise BackendUnavailableError(
            f"fastinfer.export needs torch and onnx ({exc.name} is missing): pip install fastinfer[export]") from exc
    return torch, onnx


def _as_inputs(torch, example_input) -> tuple:
    items = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    if not items or not all(isinstance(t, torch.Tensor) for t in items):
        given = ", ".join(type(t).__name__ for t in items) or "nothing"
        raise InvalidInputError(f"example_input must be a torch.Tensor or a tuple of them, got {given}")
    return items


def _names(kind: str, names, count: int, default: Sequence[str]) -> list[str]:
    names = list(default if names is None else ([names] if isinstance(names, str) else names))
    if len(names) != count or not all(isinstance(n, str) and n for n in names):
        raise InvalidInputError(f"{kind} must be {count} non-empty name(s), one per model {kind.split('_')[0]}; "
                                f"got {names!r}")
    if len(set(names)) != len(names):
        raise InvalidInputError(f"{kind} must be distinct, got {names!r}")
    return names


def _forward(torch, model, inputs: tuple) -> list:
    with torch.no_grad():
        out = model(*inputs)
    items = list(out) if isinstance(out, (tuple, list)) else [out]
    if not items or not all(isinstance(t, torch.Tensor) for t in items):
        raise InvalidInputError("the model must return a tensor or a tuple/list of tensors, got "
                                f"{type(out).__name__}" + (f" of {[type(t).__name__ for t in items]}"
                                                           if isinstance(out, (tuple, list)) else ""))
    return [t.detach().cpu().numpy() for t in items]


def _like(torch, t, shape: Sequence[int], generator):
    """A random tensor of ``t``'s dtype and device, with values in ``t``'s range."""
    shape = tuple(shape)
    lo, hi = (float(t.min()), float(t.max())) if t.numel() else (0.0, 1.0)
    if t.dtype == torch.bool:
        made = torch.rand(shape, generator=generator) > 0.5
    elif t.is_floating_point():
        if hi <= lo:
            lo, hi = lo - 1.0, lo + 1.0
        made = lo + (hi - lo) * torch.rand(shape, generator=generator)
    else:
        made = torch.randint(int(lo), int(hi) + 1, shape, generator=generator)
    return made.to(dtype=t.dtype, device=t.device)


def _trials(torch, inputs: tuple, dynamic_batch: bool, dynamic_hw: bool) -> list[tuple[str, tuple]]:
    generator = torch.Generator().manual_seed(TRIAL_SEED)
    shapes = [tuple(t.shape) for t in inputs]
    trials = [("example", inputs), ("values", tuple(_like(torch, t, s, generator) for t, s in zip(inputs, shapes)))]
    if dynamic_batch:
        grown = [(s[0] + 1,) + s[1:] for s in shapes]
        trials.append(("batch", tuple(_like(torch, t, s, generator) for t, s in zip(inputs, grown))))
    if dynamic_hw:
        grown = [s[:2] + (s[2] + HW_STEP[0], s[3] + HW_STEP[1]) if len(s) == 4 else s for s in shapes]
        trials.append(("height/width", tuple(_like(torch, t, s, generator) for t, s in zip(inputs, grown))))
    return trials


def _input_axes(inputs: tuple, names: list[str], dynamic_batch: bool, dynamic_hw: bool) -> dict[str, dict[int, str]]:
    images = [i for i, t in enumerate(inputs) if t.dim() == 4]
    if dynamic_hw and not images:
        raise InvalidInputError("dynamic_hw needs an NCHW (4-D) input, got input shapes "
                                f"{[tuple(t.shape) for t in inputs]}")
    axes: dict[str, dict[int, str]] = {}
    for i, (t, name) in enumerate(zip(inputs, names)):
        if dynamic_batch and t.dim() >= 1:
            axes.setdefault(name, {})[0] = "batch"
        if dynamic_hw and i in images:
            prefix = "" if len(images) == 1 else f"{name}_"
            axes.setdefault(name, {}).update({2: f"{prefix}height", 3: f"{prefix}width"})
    return axes


def _output_axes(input_axes: dict[str, dict[int, str]], names: list[str], input_names: list[str],
                 trials: list[tuple[str, tuple]], outputs: list[list[np.ndarray]]) -> dict[str, dict[int, str]]:
    """Names each output dim that equals a dynamic input axis on every trial (torch's own shapes)."""
    where: dict[str, tuple[int, int]] = {}  # axis name -> (input index, dim), its first occurrence
    for i, name in enumerate(input_names):
        for dim, axis in input_axes.get(name, {}).items():
            where.setdefault(axis, (i, dim))
    axis_sizes = {axis: [int(inputs[i].shape[dim]) for _, inputs in trials] for axis, (i, dim) in where.items()}
    axes: dict[str, dict[int, str]] = {}
    for j, name in enumerate(names):
        if len({out[j].ndim for out in outputs}) > 1:
            continue
        for dim in range(outputs[0][j].ndim):
            sizes = [int(out[j].shape[dim]) for out in outputs]
            for axis, expected in axis_sizes.items():
                if len(set(expected)) > 1 and sizes == expected:
                    axes.setdefault(name, {})[dim] = axis
                    break
    return axes


def _fix_static_dims(outputs, names: list[str], axes: dict[str, dict[int, str]],
                     expected: list[list[np.ndarray]]) -> bool:
    """Writes the size of output dims that the exporter left symbolic but torch gave the same on every trial.

    With dynamic axes, the TorchScript exporter's shape inference often loses
    static dims after a reshape or transpose (``(batch, 240, 4)`` comes out as
    ``(batch, Transposeoutput0_dim_1, Transposeoutput0_dim_2)``); the trials
    vary every dynamic axis and the values, so a dim they never move is static.
    """
    changed = False
    for j, (value, name) in enumerate(zip(outputs, names)):
        if len({out[j].ndim for out in expected}) > 1:
            continue
        for d, dim in enumerate(value.type.tensor_type.shape.dim):
            sizes = {out[j].shape[d] for out in expected}
            if not dim.HasField("dim_value") and d not in axes.get(name, {}) and len(sizes) == 1:
                dim.dim_value = sizes.pop()
                changed = True
    return changed


def _compare(got: np.ndarray, ref: np.ndarray, rtol: float, atol: float) -> tuple[float, float, bool]:
    got64, ref64 = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if ref64.size == 0:
        return 0.0, 0.0, True
    same = (got64 == ref64) | (np.isnan(got64) & np.isnan(ref64))  # equal infinities and NaN in both match
    with np.errstate(invalid="ignore"):
        diff = np.where(same, 0.0, np.abs(got64 - ref64))
    diff[np.isnan(diff)] = np.inf
    max_abs = float(diff.max())
    big = np.isfinite(ref64) & (np.abs(ref64) > atol)
    max_rel = float((diff[big] / np.abs(ref64[big])).max()) if big.any() else 0.0
    passed = bool(np.all(same | (diff <= atol + rtol * np.abs(ref64))))
    return max_abs, max_rel, passed


def _tensor_specs(values: Any) -> tuple[TensorInfo, ...]:
    return tuple(tensor_info(v) for v in values)


class _Runner:
    """Runs the exported file: on fastinfer's own ONNX Runtime binding when it takes one NCHW float32 blob and
    returns float32 (what fastinfer runs), else on the onnxruntime package (several inputs, other types)."""

    def __init__(self, path: Path, inputs: tuple[TensorInfo, ...], outputs: tuple[TensorInfo, ...]) -> None:
        from ..runtime import backends

        single_blob = len(inputs) == 1 and len(inputs[0].shape) == 4 and inputs[0].dtype == "float32"
        if single_blob and all(o.dtype == "float32" for o in outputs):
            self._backend = backends.load(path, backend="onnxruntime")
            self.name = f"fastinfer's ONNX Runtime {backends.onnxruntime_info()['version']}"
            self._session = None
        else:
            try:
                import onnxruntime
            except ImportError as exc:
                raise BackendUnavailableError("checking a model with several or non-NCHW-float32 inputs needs the "
                                              "onnxruntime package: pip install onnxruntime") from exc
            self._session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            self.name = f"onnxruntime {onnxruntime.__version__} (Python)"

    def __call__(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        if self._session is None:
            return list(self._backend.forward(np.ascontiguousarray(arrays[0])))
        feeds = {i.name: a for i, a in zip(self._session.get_inputs(), arrays)}
        return list(self._session.run(None, feeds))


def _unsupported_op(exc: Exception) -> str | None:
    found = re.search(r"operator '([^']+)'", str(exc))
    return found.group(1) if found else None


def _trace_warnings(torch, caught) -> list[str]:
    """Keeps the tracer's warnings (file:line: message), drops the exporter's own deprecations, re-emits the rest."""
    traced = []
    for w in caught:
        message = str(w.message)
        if issubclass(w.category, torch.jit.TracerWarning):
            traced.append(f"trace at {w.filename}:{w.lineno}: {message.splitlines()[0]}")
        elif not (issubclass(w.category, DeprecationWarning)
                  and any(re.match(p, message) for p in _EXPORTER_DEPRECATIONS)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return list(dict.fromkeys(traced))


def export(model, example_input, path: str | os.PathLike, *, input_names: Sequence[str] = ("input",),
           output_names: Sequence[str] | None = None, dynamic_batch: bool = True, dynamic_hw: bool = False,
           opset: int | None = None, check: bool = True) -> ExportReport:
    """Exports a PyTorch module to ONNX (or TorchScript, or ``torch.export``) and checks the file against torch.

    The file's suffix picks the target: ``.onnx`` (checked on ONNX Runtime),
    ``.pt`` / ``.torchscript`` (``torch.jit.script``, traced when the module
    is not scriptable) or ``.pt2`` (``torch.export``, with ``batch`` /
    ``height`` / ``width`` as dynamic dimensions as asked); the TorchScript and
    ``torch.export`` files are loaded back and checked the same way, on the
    same trial inputs, as the ONNX file is on ONNX Runtime. These are the files
    ``backend="torch"`` runs.

    The module runs in eval mode for the export (a module left in training
    mode is switched, with a warning, and every submodule gets its own mode
    back afterwards, also on error). The file must pass ``onnx.checker``; then
    ONNX Runtime and torch run the example input, an input of the same shape
    with other values, and, per dynamic axis, one with that axis changed
    (batch + 1; height + 32 and width + 64). Each output must match within
    ``rtol`` 1e-3 / ``atol`` 1e-5.

    Args:
        model: a ``torch.nn.Module``; it gets ``*example_input`` and returns a
            tensor or a tuple/list of tensors.
        example_input: a tensor (e.g. NCHW float32) or a tuple of tensors.
        path: the file to write (``.onnx``, ``.pt``, ``.pt2``); its folder must exist.
        input_names: one name per input.
        output_names: one name per output (default ``"output"``, or
            ``"output0"``, ``"output1"``, ... for several).
        dynamic_batch: make dim 0 of the inputs (and of the outputs that
            follow it) a dynamic ``"batch"`` axis.
        dynamic_hw: make dims 2, 3 of 4-D inputs (and output dims that follow
            them) dynamic ``"height"`` / ``"width"`` axes.
        opset: ONNX opset (default ``DEFAULT_OPSET``, 17).
        check: raise ``ExportError`` when parity fails (the report is in the
            message and on ``exc.report``; the file is left for inspection);
            False returns the failed report.

    Returns:
        The ``ExportReport``.

    Raises:
        BackendUnavailableError: torch or onnx is not installed.
        InvalidInputError: a bad argument, or the model fails on the example input.
        ExportError: the exporter refused the model (an unsupported operator
            is named), the file fails ``onnx.checker``, the model fails on a
            trial input, or (``check=True``) parity fails.

    Example::

        import torch, torchvision, fastinfer
        net = torchvision.models.resnet18(weights=None)
        report = fastinfer.export(net, torch.rand(1, 3, 224, 224), "resnet18.onnx")
        print(report)          # names, shapes, opset, max errors per output
    """
    torch, onnx = _import_torch()
    if not isinstance(model, torch.nn.Module):
        raise InvalidInputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    inputs = _as_inputs(torch, example_input)
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidInputError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"path must be a file to write, got the folder '{path}'")
    if not path.parent.is_dir():
        raise InvalidInputError(f"the folder of path '{path}' does not exist")
    target = TARGETS.get(path.suffix.lower(), "onnx")
    constants = torch.onnx._constants  # the newest opset the TorchScript exporter writes (named so since 2.5)
    max_opset = getattr(constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", constants.ONNX_MAX_OPSET)
    opset = DEFAULT_OPSET if opset is None else opset
    if not isinstance(opset, int) or isinstance(opset, bool) or not 9 <= opset <= max_opset:
        raise InvalidInputError(f"opset must be an int in [9, {max_opset}], got {opset!r}")
    if dynamic_batch and any(t.dim() == 0 for t in inputs):
        raise InvalidInputError("dynamic_batch needs inputs with a batch dimension, got a 0-d input")
    in_names = _names("input_names", input_names, len(inputs), ())
    inputs = tuple(t.detach() for t in inputs)

    modes = {m: m.training for m in model.modules()}
    try:
        mode_dependent = (torch.nn.modules.dropout._DropoutNd, torch.nn.modules.batchnorm._NormBase)
        trained = sorted({type(m).__name__ for m, training in modes.items()
                          if training and isinstance(m, mode_dependent)})
        notes = []
        if trained:
            notes.append(f"the model was in training mode: exported in eval mode (switched {', '.join(trained)} "
                         "to eval); its mode is restored after")
            log.warning("export: %s", notes[0])
        elif any(modes.values()):
            log.info("the model was in training mode: exported in eval mode; its mode is restored after")
        model.eval()
        if target != "onnx":
            return _export_torch(torch, model, inputs, path, in_names, output_names, dynamic_batch, dynamic_hw,
                                 check, notes, target)
        return _export(torch, onnx, model, inputs, path, in_names, output_names, dynamic_batch, dynamic_hw, opset,
                       check, notes)
    finally:
        for m, training in modes.items():
            m.training = training


def _reference(torch, model, inputs, output_names, dynamic_batch: bool, dynamic_hw: bool):
    """torch's outputs on every trial input: (output names, trials, expected outputs, data-dependent notes)."""
    try:
        first = _forward(torch, model, inputs)
    except FastInferError:
        raise
    except Exception as exc:
        raise InvalidInputError(f"the model fails on example_input of shape(s) {[tuple(t.shape) for t in inputs]}: "
                                f"{type(exc).__name__}: {exc}") from exc
    out_names = _names("output_names", output_names, len(first),
                       ["output"] if len(first) == 1 else [f"output{i}" for i in range(len(first))])
    trials = _trials(torch, inputs, dynamic_batch, dynamic_hw)
    expected = [first]
    for trial, trial_inputs in trials[1:]:
        try:
            expected.append(_forward(torch, model, trial_inputs))
        except Exception as exc:
            axis = "" if trial == "values" else ", so that axis cannot be dynamic"
            raise ExportError(f"the model itself fails on the '{trial}' trial input (shapes "
                              f"{[tuple(t.shape) for t in trial_inputs]}){axis}: {type(exc).__name__}: {exc}") from exc
        if len(expected[-1]) != len(first):
            raise ExportError(f"the model returns {len(expected[-1])} outputs on the '{trial}' trial input and "
                              f"{len(first)} on example_input")
    data_dependent = [f"output '{name}' dim {dim} depends on the input values (torch gave {a} and {b} on inputs "
                      "of the same shape): a data-dependent shape"
                      for name, ref, other in zip(out_names, expected[0], expected[1])
                      for dim, (a, b) in enumerate(zip(ref.shape, other.shape)) if a != b]
    return out_names, trials, expected, data_dependent


def _parity(trials, expected, out_names, run) -> list[ParityCheck]:
    """Runs ``run(trial inputs) -> outputs`` on every trial and compares with torch's ``expected``."""
    checks = []
    for (trial, trial_inputs), refs in zip(trials, expected):
        shapes = tuple(tuple(t.shape) for t in trial_inputs)
        try:
            got = run(trial_inputs)
        except Exception as exc:  # the runtime's own exceptions
            error = f"the exported file failed: {type(exc).__name__}: {exc}"
            checks += [ParityCheck(trial, shapes, n, r.shape, None, math.inf, math.inf, False, error)
                       for n, r in zip(out_names, refs)]
            continue
        for name, ref, out in zip(out_names, refs, got):
            if out.shape != ref.shape:
                checks.append(ParityCheck(trial, shapes, name, ref.shape, out.shape, math.inf, math.inf, False,
                                          f"shape {out.shape} != torch {ref.shape}"))
                continue
            max_abs, max_rel, passed = _compare(out, ref, RTOL, ATOL)
            checks.append(ParityCheck(trial, shapes, name, ref.shape, out.shape, max_abs, max_rel, passed))
    return checks


def _finish(report: ExportReport, trials, check: bool) -> ExportReport:
    log.info("exported %s: parity %s", report.path, "passed" if report.passed else "FAILED")
    if check and not report.passed:
        trials_failed = sorted({c.trial for c in report.failures()}, key=[t for t, _ in trials].index)
        raise ExportError(f"the exported file '{report.path}' does not match torch on the "
                          f"{', '.join(trials_failed)} trial(s){_hint(trials_failed)}:\n{report}", report)
    return report


def _export_torch(torch, model, inputs, path, in_names, output_names, dynamic_batch, dynamic_hw, check,
                  notes: list[str], target: str) -> ExportReport:
    """A TorchScript (``.pt``) or ``torch.export`` (``.pt2``) file, checked against the eager module."""
    import warnings as _warnings

    from ..torch.backend import flatten_outputs, script_or_trace

    out_names, trials, expected, data_dependent = _reference(torch, model, inputs, output_names, dynamic_batch,
                                                             dynamic_hw)
    notes = notes + data_dependent
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.9 marks TorchScript deprecated
        try:
            if target == "torchscript":
                program, traced = script_or_trace(model, inputs)
                if traced:
                    notes = notes + ["not scriptable: traced (control flow follows the example input)"]
                torch.jit.save(program, str(path))
                loaded = torch.jit.load(str(path))
            else:
                # A batch of 1 would be specialised to 1 by torch.export: export with the example doubled.
                example = tuple(torch.cat([t, t]) if dynamic_batch and t.dim() and t.shape[0] == 1 else t
                                for t in inputs)
                dims = []
                for t in example:
                    axes = {}
                    if dynamic_batch and t.dim():
                        axes[0] = torch.export.Dim("batch")
                    if dynamic_hw and t.dim() == 4:
                        axes[2], axes[3] = torch.export.Dim("height"), torch.export.Dim("width")
                    dims.append(axes or None)
                program = torch.export.export(model, example, dynamic_shapes=tuple(dims))
                torch.export.save(program, str(path))
                loaded = torch.export.load(str(path)).module()
        except ExportError:
            raise
        except Exception as exc:
            raise ExportError(f"{target} export failed: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc

    def run(trial_inputs):
        with torch.no_grad():
            return [t.detach().cpu().numpy() for t in flatten_outputs(loaded(*trial_inputs))]

    checks = _parity(trials, expected, out_names, run)
    specs_in = tuple(TensorInfo(n, tuple(t.shape), str(t.dtype).replace("torch.", ""))
                     for n, t in zip(in_names, inputs))
    specs_out = tuple(TensorInfo(n, tuple(r.shape), str(r.dtype)) for n, r in zip(out_names, expected[0]))
    report = ExportReport(path, None, specs_in, specs_out, tuple(checks), f"torch {torch.__version__}",
                          exporter=target, warnings=tuple(notes))
    return _finish(report, trials, check)


def _export(torch, onnx, model, inputs, path, in_names, output_names, dynamic_batch, dynamic_hw, opset,
            check, notes: list[str]) -> ExportReport:
    out_names, trials, expected, data_dependent = _reference(torch, model, inputs, output_names, dynamic_batch,
                                                             dynamic_hw)
    in_axes = _input_axes(inputs, in_names, dynamic_batch, dynamic_hw)
    axes = {**in_axes, **_output_axes(in_axes, out_names, in_names, trials, expected)}

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # torch < 2.5 has only the TorchScript exporter and no `dynamo` argument.
            choice = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
            torch.onnx.export(model, inputs, str(path), opset_version=opset, input_names=in_names,
                              output_names=out_names, dynamic_axes=axes or None, do_constant_folding=True, **choice)
        except torch.onnx.errors.UnsupportedOperatorError as exc:
            op = _unsupported_op(exc) or "an operator"
            raise ExportError(f"torch's ONNX exporter cannot export {op} at opset {opset}: {exc}") from exc
        except Exception as exc:
            raise ExportError(f"torch.onnx.export failed: {type(exc).__name__}: {exc}") from exc
    traced = data_dependent + _trace_warnings(torch, caught)
    for note in traced:
        log.warning("export: %s", note)
    notes = notes + traced

    proto = onnx_format.load(path)
    if _fix_static_dims(proto.graph.output, out_names, axes, expected):
        onnx.save(proto, str(path))
    try:
        onnx.checker.check_model(str(path))
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"the exported file '{path}' fails onnx.checker: {exc}") from exc
    in_specs, out_specs = _tensor_specs(proto.graph.input), _tensor_specs(proto.graph.output)
    runner = _Runner(path, in_specs, out_specs)
    checks = _parity(trials, expected, out_names, lambda trial_inputs: runner([t.cpu().numpy() for t in trial_inputs]))
    report = ExportReport(path, opset, in_specs, out_specs, tuple(checks), runner.name, warnings=tuple(notes))
    return _finish(report, trials, check)


def _hint(trials: list[str]) -> str:
    hints = {"values": "the trace baked in values that depend on the input data (a data-dependent shape or branch)",
             "batch": "the batch axis is not dynamic in the file (e.g. a reshape with a fixed batch size); "
                      "export with dynamic_batch=False or fix the model",
             "height/width": "height/width are not dynamic in the file; export with dynamic_hw=False or fix the model"}
    found = [hints[t] for t in trials if t in hints]
    return f" ({'; '.join(found)})" if found else ""


def load_factory(target: str):
    """``"module:factory"`` or ``"path/to/file.py:factory"`` -> the callable (the CLI's way to name a model).

    Example::

        make = fastinfer.exporting.load_factory("torchvision.models:resnet18")
        net = make()
    """
    import importlib
    import importlib.util

    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise InvalidInputError(f"model must be given as MODULE:FACTORY or FILE.py:FACTORY, got {target!r}")
    if module_name.endswith(".py") or os.sep in module_name or "/" in module_name:
        file = Path(module_name)
        if not file.is_file():
            raise InvalidInputError(f"the model file '{file}' does not exist")
        spec = importlib.util.spec_from_file_location(f"_fastinfer_export_{file.stem}", file)
        if spec is None or spec.loader is None:
            raise InvalidInputError(f"cannot import '{file}' as a Python module")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise InvalidInputError(f"cannot import module {module_name!r} (from {target!r}): {exc}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise InvalidInputError(f"{module_name!r} has no callable {attr!r} (from {target!r})")
    return factory


def random_input(shape: Sequence[int], seed: int = 0):
    """A seeded uniform [0, 1) float32 tensor of ``shape`` (the CLI's example input)."""
    torch, _ = _import_torch()
    if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        raise InvalidInputError(f"shape must be positive ints, got {list(shape)}")
    return torch.rand(tuple(shape), generator=torch.Generator().manual_seed(seed))
