"""fastinfer on Ray: batch inference with Ray Data, an HTTP service with Ray Serve.

Needs Ray (``pip install fastinfer[ray]``, or ``fastinfer[serve]`` for the
service); ``import fastinfer`` alone never imports it.

Batch::

    import ray, fastinfer.ray
    ds = ray.data.read_binary_files("photos/", include_paths=True)
    fastinfer.ray.detect(ds, "yolov3-tiny", batch_size=16, concurrency=4).write_parquet("detections/")

Service::

    from ray import serve
    serve.run(fastinfer.ray.serve_app("yolov3-tiny"))   # POST /detect, GET /healthz, GET /model
"""

from __future__ import annotations

try:
    import ray as _ray  # noqa: F401 - checked here so the message names the extra
    import ray.data as _ray_data  # noqa: F401
except ImportError as _exc:  # pragma: no cover - depends on the environment
    from ..errors import BackendUnavailableError

    raise BackendUnavailableError(
        f"fastinfer.ray needs Ray with Ray Data ({_exc}): pip install fastinfer[ray]") from _exc

from ._batch import BatchClassifier, BatchDetector, BatchSegmenter, classify, detect, schema, segment
from ._rows import decode_bytes


def serve_app(model: str = "yolov3-tiny", **kwargs):
    """A Ray Serve application serving ``model``; see ``fastinfer.ray.serve.serve_app``."""
    from .serve import serve_app as build

    return build(model, **kwargs)


__all__ = [
    "detect",
    "classify",
    "segment",
    "BatchDetector",
    "BatchClassifier",
    "BatchSegmenter",
    "schema",
    "decode_bytes",
    "serve_app",
]
