"""The torch backend: TorchScript, ``torch.export`` programs and ``nn.Module`` objects on CPU or CUDA."""

from __future__ import annotations

import logging
import os
import threading
import warnings
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import BackendError, BackendUnavailableError, InvalidInputError, ModelLoadError
from ..formats.onnx import OnnxDescription, TensorInfo

log = logging.getLogger(__name__)

#: File suffixes of the programs :class:`TorchBackend` loads.
TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".torchscript", ".ts", ".jit")
EXPORT_SUFFIXES = (".pt2",)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as a ``torch.device``, checked against what this machine has.

    Raises:
        InvalidInputError: for a string that is not a device.
        BackendUnavailableError: for CUDA when torch has no CUDA or no such GPU.
    """
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInputError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}") from exc
    if resolved.type == "cpu":
        return resolved
    if resolved.type != "cuda":
        raise InvalidInputError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if not torch.cuda.is_available():
        built = torch.version.cuda
        why = (f"this torch {torch.__version__} has no CUDA support (a CPU build)" if built is None else
               f"torch {torch.__version__} (CUDA {built}) finds no usable GPU or driver")
        raise BackendUnavailableError(f"device={str(device)!r}: {why}; use device='cpu'")
    index = resolved.index if resolved.index is not None else torch.cuda.current_device()
    count = torch.cuda.device_count()
    if not 0 <= index < count:
        raise BackendUnavailableError(f"device={str(device)!r}: this machine has {count} CUDA device(s)")
    return torch.device("cuda", index)


def flatten_outputs(value: Any) -> list[torch.Tensor]:
    """A model's outputs (a tensor, or tuples/lists/dicts of them) as a flat list, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in flatten_outputs(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in flatten_outputs(item)]
    raise BackendError(f"torch backend: the model returned {type(value).__name__}, not tensors")


def _load_program(path: Path, device: torch.device) -> torch.nn.Module:
    """A TorchScript archive or a ``torch.export`` program, as a module on ``device``."""
    if not path.is_file():
        raise ModelLoadError(f"torch model '{path}' does not exist" + (" (it is a directory)" if path.is_dir() else ""))
    suffix = path.suffix.lower()
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(f"torch model '{path}' is not a TorchScript or torch.export archive (not a zip file); "
                             "save one with torch.jit.save(torch.jit.script(model)) or torch.export.save, or pass the "
                             "nn.Module itself")
    if suffix in EXPORT_SUFFIXES:
        try:
            program = torch.export.load(str(path))
        except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad archive
            raise ModelLoadError(f"torch model '{path}' is not a torch.export program: {exc}") from exc
        return program.module().to(device)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.9 marks TorchScript deprecated
            return torch.jit.load(str(path), map_location=device)
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError and friends
        hint = (" (it looks like a state_dict or a pickled module: build the nn.Module, load the weights into it and "
                "pass the module)" if "constants.pkl" in str(exc) or "archive" in str(exc) else "")
        raise ModelLoadError(f"torch model '{path}' is not a TorchScript program{hint}: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc


class TorchBackend:
    """A model on torch, with the interface of the core's backends (``forward``, ``name``, ``output_names``).

    Args:
        model: a TorchScript file (``.pt``, ``.torchscript``, ...), a
            ``torch.export`` program (``.pt2``) or an ``nn.Module``.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        half: FP16 weights and activations (CUDA only).
        cuda_graph: capture the forward pass in a CUDA graph per input shape
            after a warm-up call, and replay it after (CUDA only).
        compile: ``torch.compile`` the module first.
        threads: torch intra-op threads on CPU (None: torch's default).
        device_pipeline: build the blob and filter candidates on the device
            (None: on CUDA only, where it saves the transfers; True on the CPU
            runs the GPU code path there, for tests).

    ``forward`` is safe to call from several threads: plain forward passes
    run concurrently (inference mode changes no state); graph capture and
    replay, which share static buffers, are serialised.
    """

    name = "torch"

    def __init__(self, model: str | os.PathLike[str] | torch.nn.Module, *, device: str | torch.device = "cpu",
                 half: bool = False, cuda_graph: bool = False, compile: bool = False,
                 threads: int | None = None, device_pipeline: bool | None = None) -> None:
        self.device = resolve_device(device)
        for flag, value in (("half", half), ("cuda_graph", cuda_graph), ("compile", compile)):
            if not isinstance(value, bool):
                raise InvalidInputError(f"{flag} must be True or False, got {value!r}")
        if half and self.device.type != "cuda":
            raise InvalidInputError(f"half=True runs FP16 on CUDA; device is {self.device} (FP16 on CPU is not "
                                    "supported: use FP32 there)")
        if cuda_graph and self.device.type != "cuda":
            raise InvalidInputError(f"cuda_graph=True needs a CUDA device; device is {self.device}")
        if threads is not None:
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                raise InvalidInputError(f"threads must be None or an int >= 1, got {threads!r}")
            torch.set_num_threads(threads)
        if device_pipeline is not None and not isinstance(device_pipeline, bool):
            raise InvalidInputError(f"device_pipeline must be None, True or False, got {device_pipeline!r}")
        self.half = half
        self.cuda_graph = cuda_graph
        self._device_pipeline = device_pipeline
        module: Any  # an nn.Module, or what torch.compile wraps it in
        if isinstance(model, torch.nn.Module):
            module = model.to(self.device)
            self.path: Path | None = None
        elif isinstance(model, (str, os.PathLike)):
            self.path = Path(model)
            module = _load_program(self.path, self.device)
        else:
            raise InvalidInputError(f"model must be a path to a TorchScript/.pt2 file or a torch.nn.Module, got "
                                    f"{type(model).__name__}")
        if not (self.path is not None and self.path.suffix.lower() in EXPORT_SUFFIXES):
            module.eval()  # torch.export programs are exported in eval mode and refuse eval()
        if half:
            module = module.half()
        if compile:
            module = torch.compile(module)
        self.module = module
        self._dtype = torch.float16 if half else torch.float32
        self._graphs: dict[tuple[int, ...], tuple[torch.cuda.CUDAGraph, torch.Tensor, list[torch.Tensor]]] = {}
        self._warm: set[tuple[int, ...]] = set()
        self._graph_lock = threading.Lock()
        self._output_count: int | None = None
        # One CUDA stream per calling thread: a stream's pre-processing thread uploads and builds blobs on its
        # own stream while the inference thread's forward pass runs on another (see make_blob).
        self._local = threading.local()

    # ---------------------------------------------------------------- running

    def forward_tensor(self, x: torch.Tensor) -> list[torch.Tensor]:
        """NCHW tensor on the device -> the output tensors on the device (in the model's dtype)."""
        ready = getattr(x, "_fastinfer_ready", None)
        if ready is not None:  # a blob built on another thread's stream: wait for it there, on the GPU
            current = torch.cuda.current_stream(self.device)
            current.wait_event(ready)
            if getattr(x, "_fastinfer_stream", None) is not current:
                x.record_stream(current)  # its memory is not reused before this stream is done with it
        x = x.to(self.device, self._dtype, non_blocking=True)
        if self.cuda_graph:
            return self._replay(x)
        with torch.inference_mode():
            try:
                outputs = flatten_outputs(self.module(x))
            except BackendError:
                raise
            except Exception as exc:  # noqa: BLE001 - a model's own failure, named
                raise BackendError(f"torch backend: the forward pass failed on input {tuple(x.shape)}: "
                                   f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
        self._output_count = len(outputs)
        return outputs

    def _replay(self, x: torch.Tensor) -> list[torch.Tensor]:
        key = tuple(x.shape)
        with self._graph_lock:
            if key not in self._graphs:
                if key not in self._warm:
                    # Warm-up on a side stream, as CUDA graphs ask (lazy inits, autotuning).
                    self._warm.add(key)
                    stream = torch.cuda.Stream(self.device)
                    stream.wait_stream(torch.cuda.current_stream(self.device))
                    with torch.cuda.stream(stream), torch.inference_mode():
                        outputs = flatten_outputs(self.module(x))
                    torch.cuda.current_stream(self.device).wait_stream(stream)
                    self._output_count = len(outputs)
                    return outputs
                static_in = x.clone()
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph), torch.inference_mode():
                    static_out = flatten_outputs(self.module(static_in))
                self._graphs[key] = (graph, static_in, static_out)
                log.debug("captured a CUDA graph for input %s", key)
            graph, static_in, static_out = self._graphs[key]
            static_in.copy_(x)
            graph.replay()
            return [t.clone() for t in static_out]

    @property
    def device_blob(self) -> bool:
        """Whether the tasks build the blob on the device (CUDA) with :meth:`make_blob` rather than in the core."""
        return self.device.type == "cuda" if self._device_pipeline is None else self._device_pipeline

    def make_blob(self, images: Sequence[np.ndarray], input_size: tuple[int, int],
                  core_args: dict[str, Any]) -> tuple[torch.Tensor, np.ndarray]:
        """The core's blob (``Preprocessing.core_args()``) built on the device, in the model's dtype."""
        from .preprocess import make_blob

        if self.device.type != "cuda":
            return make_blob(images, input_size, device=self.device, dtype=self._dtype, **core_args)
        stream = self._thread_stream()
        with torch.cuda.stream(stream):
            blob, transforms = make_blob(images, input_size, device=self.device, dtype=self._dtype, **core_args)
            ready = torch.cuda.Event()
            ready.record(stream)
        blob._fastinfer_ready = ready  # type: ignore[attr-defined]  # forward_tensor waits for it
        blob._fastinfer_stream = stream  # type: ignore[attr-defined]
        return blob, transforms

    def _thread_stream(self) -> torch.cuda.Stream:
        stream = getattr(self._local, "stream", None)
        if stream is None:
            stream = self._local.stream = torch.cuda.Stream(self.device)
        return stream

    def forward(self, blob: Any) -> list[Any]:
        """NCHW float32 blob (host) -> output arrays (host, float32), like the core's backends.

        A tensor (the device blob of :meth:`make_blob`) gives the output tensors on the device.
        """
        if isinstance(blob, torch.Tensor):
            if blob.ndim != 4:
                raise InvalidInputError(f"blob must be an NCHW tensor, got shape {tuple(blob.shape)}")
            return self.forward_tensor(blob)
        if not isinstance(blob, np.ndarray) or blob.ndim != 4 or blob.dtype != np.float32:
            raise InvalidInputError(f"blob must be an NCHW float32 array, got "
                                    f"{getattr(blob, 'dtype', type(blob).__name__)} {getattr(blob, 'shape', '')}")
        x = torch.from_numpy(np.ascontiguousarray(blob))
        if self.device.type == "cuda":
            x = x.pin_memory()
        outputs = self.forward_tensor(x)
        return [t.detach().float().cpu().numpy() for t in outputs]

    # ---------------------------------------------------------------- description

    @property
    def output_names(self) -> list[str]:
        """``output0``, ``output1``, ... (torch programs do not name their outputs); known after a forward pass."""
        return [f"output{i}" for i in range(self._output_count or 1)]

    def describe(self, input_size: tuple[int, int], channels: int = 3) -> OnnxDescription:
        """Inputs and outputs (shapes from one forward pass of zeros at ``input_size``), as an ONNX file's.

        The tasks read an ONNX file's description (``fastinfer.formats.onnx.describe``)
        to recognise heads and check shapes; a torch program gives the same
        object, so they do the same for both.
        """
        w, h = input_size
        outputs = self.forward_tensor(torch.zeros((1, channels, h, w)))
        source = self.path if self.path is not None else Path(f"<{type(self.module).__name__}>")
        return OnnxDescription(
            source, (TensorInfo("input", (1, channels, h, w), "float32"),),
            tuple(TensorInfo(name, tuple(int(d) for d in t.shape), "float32")
                  for name, t in zip(self.output_names, outputs)), {}, None)

    @property
    def info(self) -> dict[str, Any]:
        return {"backend": "torch", "torch": torch.__version__, "device": str(self.device), "half": self.half,
                "cuda_graph": self.cuda_graph, "path": str(self.path) if self.path else None}

    def __repr__(self) -> str:
        source = f"'{self.path}'" if self.path else type(self.module).__name__
        return f"TorchBackend({source}, device='{self.device}', half={self.half}, cuda_graph={self.cuda_graph})"


def script_or_trace(module: torch.nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[Any, bool]:
    """``torch.jit.script(module)``, or its trace on ``example`` when it cannot be scripted; and whether it was traced.

    torch 2.9 and newer mark TorchScript deprecated in favour of
    ``torch.export``; TorchScript files still load in every torch release
    deployments run, so this writes them and keeps torch's notice out of the
    caller's warnings.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return torch.jit.script(module), False
        except Exception:  # noqa: BLE001 - not scriptable: trace instead
            with torch.no_grad():
                return torch.jit.trace(module, example), True


def save_torchscript(module: torch.nn.Module, example: torch.Tensor, path: str | os.PathLike[str]) -> Path:
    """Scripts (or, when scripting fails, traces) ``module`` and saves it; returns the path."""
    program, _ = script_or_trace(module.eval(), example)
    out = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(program, str(out))
    return out
