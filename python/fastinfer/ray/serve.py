"""An HTTP service on Ray Serve: ``POST /detect`` (or ``/classify``, ``/segment``), ``GET /healthz``, ``GET /model``.

Requests carry one image as the body (``Content-Type: image/jpeg``,
``image/png`` or ``application/octet-stream``), or a JSON list of
base64-encoded images (``application/json``); images of concurrent requests
are batched by ``serve.batch``. Answers are JSON: one image gives the result's
``to_dict()``, a list gives ``{"results": [...]}`` in the same order. Bad
input gets a 4xx with ``{"error": ...}`` naming the problem; a failure on the
server a 500 with its message, and the replica goes on serving.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
from typing import Any

import numpy as np

try:
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import JSONResponse
except ImportError as _exc:  # pragma: no cover - depends on the environment
    from ..errors import BackendUnavailableError

    raise BackendUnavailableError(
        f"fastinfer.ray.serve needs Ray Serve ({_exc}): pip install fastinfer[serve]") from _exc

from .._version import __version__
from ..errors import InvalidInputError
from ..tasks.classify import Classifier
from ..tasks.detect import Detector
from ..tasks.segment import Segmenter
from . import _rows

log = logging.getLogger("fastinfer")

TASKS = ("detect", "classify", "segment")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/bmp", "image/webp", "image/tiff", "application/octet-stream")
#: Default request body limit in bytes (one image, or a JSON list of them).
MAX_BODY_BYTES = 16 * 1024 * 1024
#: Default most images in one JSON request.
MAX_IMAGES = 64


class RequestError(Exception):
    """A request the service refuses: an HTTP status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _load_task(task: str, model: str, kwargs: dict[str, Any]) -> Any:
    if task == "detect":
        return Detector(model, **kwargs)
    if task == "classify":
        return Classifier(model, **kwargs)
    return Segmenter(model, **kwargs)


def _result_dict(result: Any) -> dict[str, Any]:
    """A task result as JSON-able data; a segmentation's full class map is left out (its summary stays)."""
    data = result.to_dict()
    if isinstance(data, dict):
        data.pop("class_map", None)
    return data


def _decode_json_images(body: bytes, max_images: int) -> list[np.ndarray]:
    try:
        items = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, f"body is not valid JSON: {exc}") from exc
    if isinstance(items, dict) and "images" in items:
        items = items["images"]
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise RequestError(400, "a JSON body must be a list of base64-encoded images (or {\"images\": [...]})")
    if not items:
        raise RequestError(400, "the JSON list of images is empty")
    if len(items) > max_images:
        raise RequestError(413, f"{len(items)} images in one request, over the limit of {max_images}")
    images = []
    for i, item in enumerate(items):
        try:
            data = base64.b64decode(item, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RequestError(400, f"images[{i}] is not valid base64: {exc}") from exc
        images.append(_decode_one(data, f"images[{i}]"))
    return images


def _decode_one(data: bytes, name: str) -> np.ndarray:
    try:
        return _rows.decode_bytes(data, name=name)
    except InvalidInputError as exc:
        raise RequestError(400, str(exc)) from exc


@serve.deployment(name="fastinfer", max_ongoing_requests=32, health_check_period_s=2, health_check_timeout_s=10)
class InferenceService:
    """One fastinfer task per replica, behind HTTP.

    Args:
        model: what the task class takes (zoo name or path on every node).
        task: ``detect``, ``classify`` or ``segment``.
        max_batch_size: most images per model call (1: no dynamic batching).
        batch_wait_timeout_s: how long a batch waits to fill.
        max_body_bytes: largest request body accepted.
        max_images: most images in one JSON request.
        task_kwargs: arguments of the task class; ``threads`` defaults to the
            replica's CPUs.
    """

    def __init__(self, model: str, task: str, max_batch_size: int, batch_wait_timeout_s: float,
                 max_body_bytes: int, max_images: int, task_kwargs: dict[str, Any]) -> None:
        from ._batch import actor_cpus, actor_providers, node_lock

        kwargs = dict(task_kwargs)
        kwargs.setdefault("threads", actor_cpus())
        if kwargs.get("providers") is None:
            kwargs.pop("providers", None)
            providers = actor_providers()
            if providers:
                kwargs["providers"] = providers
        with node_lock():
            self.model = _load_task(task, model, kwargs)
        self.model_name, self.task_name = model, task
        self.max_batch_size, self.batch_wait_timeout_s = max_batch_size, batch_wait_timeout_s
        self.max_body_bytes, self.max_images = max_body_bytes, max_images
        # serve.batch gives the method these setters; typing cannot see them.
        self._batched.set_max_batch_size(max_batch_size)  # type: ignore[attr-defined]
        self._batched.set_batch_wait_timeout_s(batch_wait_timeout_s)  # type: ignore[attr-defined]

    def _run(self, images: list[np.ndarray]) -> list[Any]:
        if self.task_name == "classify":
            return self.model(images, top_k=5)
        return self.model(images)

    def _run_isolated(self, images: list[np.ndarray]) -> list[tuple[Any, str | None]]:
        rows = [_rows.Decoded(None, image, None, 0.0) for image in images]
        results, errors, _ = _rows.run_isolated(self._run, rows)
        return list(zip(results, errors))

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)
    async def _batched(self, images: list[np.ndarray]) -> list[tuple[Any, str | None]]:
        return await asyncio.to_thread(self._run_isolated, images)

    async def _infer(self, images: list[np.ndarray]) -> list[dict[str, Any]]:
        if self.max_batch_size > 1:
            done = await asyncio.gather(*(self._batched(image) for image in images))
        else:
            done = await asyncio.to_thread(self._run_isolated, images)
        failures = [error for _, error in done if error is not None]
        if failures:
            raise RuntimeError(failures[0])
        return [_result_dict(result) for result, _ in done]

    def info(self) -> dict[str, Any]:
        """What ``GET /model`` answers: the model, its task, class names, input size and batching."""
        size = getattr(self.model, "input_size", None)
        return {"model": str(self.model_name), "task": self.task_name, "names": _rows.class_names(self.model),
                "input_size": list(size) if size is not None else None, "repr": repr(self.model),
                "fastinfer": __version__, "max_batch_size": self.max_batch_size,
                "batch_wait_timeout_s": self.batch_wait_timeout_s, "pid": os.getpid()}

    async def _images(self, request: Request) -> tuple[list[np.ndarray], bool]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json" and content_type not in IMAGE_TYPES:
            raise RequestError(415, f"content type must be one of {', '.join(IMAGE_TYPES)} or application/json, "
                                    f"got {content_type or 'none'!r}")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise RequestError(413, f"body of {declared} bytes is over the limit of {self.max_body_bytes}")
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > self.max_body_bytes:
                raise RequestError(413, f"body is over the limit of {self.max_body_bytes} bytes")
        if not body:
            raise RequestError(400, "the body is empty: send an image, or a JSON list of base64 images")
        if content_type == "application/json":
            return await asyncio.to_thread(_decode_json_images, bytes(body), self.max_images), False
        return [await asyncio.to_thread(_decode_one, bytes(body), "body")], True

    async def __call__(self, request: Request) -> JSONResponse:
        path = request.url.path.rstrip("/") or "/"
        try:
            if path == "/healthz":
                return JSONResponse({"status": "ok"})
            if path == "/model":
                return JSONResponse(self.info())
            if path.lstrip("/") in TASKS:
                if path.lstrip("/") != self.task_name:
                    raise RequestError(404, f"this service runs a {self.task_name} model: POST /{self.task_name}")
                if request.method != "POST":
                    raise RequestError(405, f"{path} takes POST, got {request.method}")
                images, single = await self._images(request)
                results = await self._infer(images)
                return JSONResponse(results[0] if single else {"results": results})
            raise RequestError(404, f"no route {path}: POST /{self.task_name}, GET /healthz or GET /model")
        except RequestError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except Exception as exc:  # noqa: BLE001 - the replica answers and goes on serving
            log.exception("request to %s failed", path)
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=500)

    def check_health(self) -> None:
        """Serve's health check: the model is loaded."""
        if self.model is None:  # pragma: no cover - a replica whose __init__ failed never gets here
            raise RuntimeError("no model loaded")


def serve_app(model: str = "yolov3-tiny", *, task: str = "detect", num_replicas: int | str = 1,
              max_batch_size: int = 8, batch_wait_timeout_s: float = 0.01, num_cpus: float = 1,
              num_gpus: float = 0, max_body_bytes: int = MAX_BODY_BYTES, max_images: int = MAX_IMAGES,
              autoscaling_config: dict[str, Any] | None = None, **task_kwargs: Any) -> Any:
    """Builds the Ray Serve application of a fastinfer model.

    Args:
        model: a zoo name or a model path present on every node.
        task: ``detect`` (``POST /detect``), ``classify`` or ``segment``.
        num_replicas: replicas (or ``"auto"`` with ``autoscaling_config``).
        max_batch_size: most images per model call; 1 turns dynamic batching off.
        batch_wait_timeout_s: how long a batch waits to fill, in seconds.
        num_cpus: CPUs per replica (and ONNX Runtime threads).
        num_gpus: GPUs per replica.
        max_body_bytes: largest request body (413 above it).
        max_images: most images in one JSON request.
        autoscaling_config: Serve's autoscaling settings, instead of ``num_replicas``.
        **task_kwargs: arguments of the task class (``conf``, ``iou``, ...).

    Returns:
        A ``ray.serve`` application for ``serve.run(app, route_prefix="/")``.

    Raises:
        InvalidInputError: an argument is out of range.

    Example:
        >>> serve.run(fastinfer.ray.serve_app("yolov3-tiny", num_replicas=2), route_prefix="/")
        >>> requests.post("http://127.0.0.1:8000/detect", data=open("dog.jpg", "rb"),
        ...               headers={"Content-Type": "image/jpeg"}).json()
    """
    if task not in TASKS:
        raise InvalidInputError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    for name, value in (("max_batch_size", max_batch_size), ("max_body_bytes", max_body_bytes),
                        ("max_images", max_images)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"{name} must be an int >= 1, got {value!r}")
    if not isinstance(batch_wait_timeout_s, (int, float)) or not 0 <= batch_wait_timeout_s <= 10:
        raise InvalidInputError(f"batch_wait_timeout_s must be in [0, 10] seconds, got "
                                          f"{batch_wait_timeout_s!r}")
    if autoscaling_config is None and (isinstance(num_replicas, bool) or not isinstance(num_replicas, int)
                                       or num_replicas < 1):
        raise InvalidInputError(f"num_replicas must be an int >= 1, got {num_replicas!r}")
    options: dict[str, Any] = {"ray_actor_options": {"num_cpus": num_cpus, "num_gpus": num_gpus}}
    if autoscaling_config is not None:
        options["autoscaling_config"] = autoscaling_config
    else:
        options["num_replicas"] = num_replicas
    # serve.deployment turns the class into a Deployment; typing sees the class.
    deployment = InferenceService.options(**options)  # type: ignore[attr-defined]
    return deployment.bind(model, task, max_batch_size, float(batch_wait_timeout_s), max_body_bytes, max_images,
                           task_kwargs)


def run(model: str = "yolov3-tiny", *, host: str = "127.0.0.1", port: int = 8000, address: str | None = None,
        name: str = "fastinfer", block: bool = True, **app_kwargs: Any) -> str:
    """Starts the service of :func:`serve_app` on Ray Serve and (with ``block``) serves until interrupted.

    Args:
        model: as for :func:`serve_app`.
        host: the address the HTTP proxy listens on (default: loopback only).
        port: its port.
        address: a Ray cluster to join (``"127.0.0.2:6379"``); None starts a
            local Ray (with usage stats off unless ``RAY_USAGE_STATS_ENABLED``
            says otherwise).
        name: the Serve application's name.
        block: serve until SIGINT/SIGTERM, then delete the application (and
            stop the local Ray this call started).
        **app_kwargs: :func:`serve_app` arguments (``task``, ``num_replicas``,
            ``max_batch_size``, ...).

    Returns:
        The service's base URL.
    """
    import signal
    import threading

    import ray

    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise InvalidInputError(f"port must be in 1-65535, got {port!r}")
    app = serve_app(model, **app_kwargs)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    local = address is None and not ray.is_initialized()
    url = f"http://{host}:{port}"
    stop = threading.Event()
    handlers: dict[signal.Signals, Any] = {}
    if block:  # from here on, SIGINT/SIGTERM (even during start-up) end the loop below, not the call midway
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    try:
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
        serve.start(proxy_location="HeadOnly", http_options={"host": host, "port": port})
        serve.run(app, name=name, route_prefix="/")
        log.info("serving %s at %s", model, url)
        if not block:
            return url
        while not stop.wait(1.0):
            pass
        log.info("stopping: deleting the Serve application %r", name)
    finally:
        if block and ray.is_initialized():
            serve.delete(name)
        if block and local:  # the local Ray this call started goes too; a cluster's Serve stays for its other apps
            serve.shutdown()
            ray.shutdown()
        for number, handler in handlers.items():
            signal.signal(number, handler)
    return url
