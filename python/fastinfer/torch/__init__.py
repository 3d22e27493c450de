"""fastinfer on PyTorch: a torch backend (CPU and CUDA) and GPU pre- and post-processing.

``import fastinfer`` never imports this package (nor torch); importing it
needs torch (``pip install 'fastinfer[torch]'``) and raises
:class:`fastinfer.BackendUnavailableError` naming that command without it.

* :func:`darknet` builds a Darknet cfg + weights as a ``torch.nn.Module``
  whose outputs are the converted ONNX model's rows.
* :class:`TorchBackend` runs TorchScript files, ``torch.export`` programs
  (``.pt2``) and live ``nn.Module`` objects on ``"cpu"``, ``"cuda"`` or
  ``"cuda:N"``, optionally in FP16, with CUDA graphs or ``torch.compile``.
* :func:`make_blob` builds the core's blob from uint8 images with torch ops,
  on the device (one upload of the uint8 pixels; resize, letterbox, crop,
  swapRB and normalisation there).
* :func:`select_candidates` applies the confidence filter on the device, so
  only candidate rows come back to the host for the core's decoding and NMS.
"""

from __future__ import annotations

from ..errors import BackendUnavailableError

try:
    import torch as _torch  # noqa: F401 - checked here, used by the submodules
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise BackendUnavailableError("the torch backend needs PyTorch: pip install 'fastinfer[torch]' (or a torch "
                                  "build for your CUDA version from pytorch.org)") from _exc

from .backend import TorchBackend, resolve_device  # noqa: E402
from .darknet_model import DarknetModule, darknet  # noqa: E402
from .postprocess import select_candidates  # noqa: E402
from .preprocess import blob_geometry, make_blob  # noqa: E402

__all__ = ["DarknetModule", "TorchBackend", "blob_geometry", "darknet", "make_blob", "resolve_device",
           "select_candidates"]
