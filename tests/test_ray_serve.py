"""The Ray Serve service on a real local Ray (one node, 2 CPUs, loopback): answers, errors, a killed replica, load.

Figures (replica-kill gap, latencies, throughput, RSS) are printed with a
``[serve]`` prefix; run with ``-s`` to see them.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import requests

import fastinfer
import raycluster

with warnings.catch_warnings():
    # Ray Serve's own models use Pydantic features that Pydantic 2 deprecates.
    warnings.simplefilter("ignore", DeprecationWarning)
    import ray
    from ray import serve

    import fastinfer.ray.serve

pytestmark = [pytest.mark.ray, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

APP = "fastinfer"


@pytest.fixture(scope="module")
def cluster(fastinfer_home):
    fastinfer.Detector("yolov3-tiny")  # converted once, so the replicas find it in the cache
    started = raycluster.cluster([2])
    try:
        yield started
    finally:
        try:
            if ray.is_initialized():
                serve.shutdown()
        finally:
            raycluster.remove(started)


@pytest.fixture(scope="module")
def url(cluster):
    port = raycluster.free_port()
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
    _deploy(max_batch_size=8)
    base = f"http://127.0.0.1:{port}"
    _wait_healthy(base)
    return base


def _deploy(max_batch_size: int) -> None:
    serve.run(fastinfer.ray.serve_app("yolov3-tiny", num_replicas=2, max_batch_size=max_batch_size,
                                      batch_wait_timeout_s=0.01, max_body_bytes=4 * 1024 * 1024),
              name=APP, route_prefix="/")


def _wait_healthy(base: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{base}/healthz not answering after {timeout} s")


@pytest.fixture(scope="module")
def reference():
    return fastinfer.Detector("yolov3-tiny", threads=1)


def _post_image(base: str, path: Path, session=requests, timeout: float = 30):
    content_type = "image/png" if path.suffix == ".png" else "image/jpeg"
    return session.post(f"{base}/detect", data=path.read_bytes(), headers={"Content-Type": content_type},
                        timeout=timeout)


def _assert_same(answer: dict, dets: fastinfer.Detections) -> None:
    found = answer["detections"]
    assert [d["label"] for d in found] == dets.labels
    assert [d["class_id"] for d in found] == dets.class_id.tolist()
    np.testing.assert_allclose([d["xyxy"] for d in found] or np.zeros((0, 4)), dets.xyxy, atol=0.01)
    np.testing.assert_allclose([d["confidence"] for d in found], dets.confidence, atol=1e-5)


def test_detect_image_body_equals_the_detector(url, photos, reference):
    for path in photos:
        answer = _post_image(url, path)
        assert answer.status_code == 200, answer.text
        _assert_same(answer.json(), reference(fastinfer.read_image(path)))


def test_detect_json_list_of_base64_images(url, photos, reference):
    chosen = photos[:3]
    body = json.dumps([base64.b64encode(p.read_bytes()).decode() for p in chosen])
    answer = requests.post(f"{url}/detect", data=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert len(results) == 3
    for result, path in zip(results, chosen):
        _assert_same(result, reference(fastinfer.read_image(path)))


def test_model_and_health(url):
    info = requests.get(f"{url}/model", timeout=10).json()
    assert info["task"] == "detect" and info["model"] == "yolov3-tiny"
    assert len(info["names"]) == 80 and info["names"][16] == "dog"
    assert info["input_size"] == [416, 416] and info["max_batch_size"] == 8
    assert requests.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}


@pytest.mark.parametrize(("method", "path", "headers", "body", "status", "message"), [
    ("post", "/detect", {"Content-Type": "text/plain"}, b"hello", 415, "content type must be one of"),
    ("post", "/detect", {"Content-Type": "image/jpeg"}, b"\xff\xd8\xff not a jpeg", 400,
     r"cannot decode body \(14 bytes\): not an image"),
    ("post", "/detect", {"Content-Type": "image/png"}, b"", 400, "the body is empty"),
    ("post", "/detect", {"Content-Type": "image/jpeg"}, b"\0" * (4 * 1024 * 1024 + 1), 413,
     "over the limit of 4194304"),
    ("post", "/detect", {"Content-Type": "application/json"}, b"{not json", 400, "body is not valid JSON"),
    ("post", "/detect", {"Content-Type": "application/json"}, b'{"a": 1}', 400, "must be a list of base64"),
    ("post", "/detect", {"Content-Type": "application/json"}, b'["%%%"]', 400, r"images\[0\] is not valid base64"),
    ("get", "/detect", {}, None, 405, "/detect takes POST, got GET"),
    ("post", "/classify", {"Content-Type": "image/png"}, b"x", 404, "runs a detect model: POST /detect"),
    ("get", "/nowhere", {}, None, 404, "no route /nowhere"),
])
def test_bad_requests_get_4xx_json_errors(url, method, path, headers, body, status, message):
    import re

    answer = getattr(requests, method)(f"{url}{path}", data=body, headers=headers, timeout=30)
    assert answer.status_code == status, answer.text
    assert re.search(message, answer.json()["error"]), answer.json()


def _replica_pids(base: str, count: int = 2, timeout: float = 60.0) -> set[int]:
    """PIDs of the replicas, from GET /model answers (requests are spread over the replicas)."""
    pids: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(pids) < count and time.monotonic() < deadline:
        try:
            answer = requests.get(f"{base}/model", timeout=5)
            if answer.status_code == 200:
                pids.add(answer.json()["pid"])
        except requests.RequestException:
            pass
    return pids


class Clients:
    """``n`` threads posting photos in a loop for ``seconds``; each request retried up to ``retries`` times."""

    def __init__(self, base: str, photos: list[Path], n: int, seconds: float, retries: int = 0) -> None:
        self.base, self.photos, self.seconds, self.retries = base, photos, seconds, retries
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.first_try_failures: list[tuple[float, str]] = []
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(n)]

    def _loop(self, index: int) -> None:
        session = requests.Session()
        end = time.monotonic() + self.seconds
        k = index
        while time.monotonic() < end:
            path = self.photos[k % len(self.photos)]
            k += 1
            start = time.perf_counter()
            for attempt in range(self.retries + 1):
                try:
                    answer = _post_image(self.base, path, session, timeout=30)
                    problem = None if answer.status_code == 200 else f"{answer.status_code} {answer.text[:200]}"
                except requests.RequestException as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                if problem is None:
                    break
                with self.lock:
                    if attempt == 0:
                        self.first_try_failures.append((time.monotonic(), problem))
                time.sleep(0.2)
            with self.lock:
                if problem is None:
                    self.latencies.append(time.perf_counter() - start)
                else:
                    self.failures.append(problem)

    def run(self) -> Clients:
        for t in self.threads:
            t.start()
        return self

    def join(self) -> Clients:
        for t in self.threads:
            t.join(self.seconds + 120)
        return self


def test_killed_replica_under_a_stream_of_requests(url, cluster, photos):
    before = _replica_pids(url)
    assert len(before) == 2
    clients = Clients(url, photos, n=2, seconds=16, retries=3).run()
    time.sleep(4)
    victim = min(before)
    assert victim in cluster.nodes[0].pids(), "the replica is not a process of the node the test started"
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    # Serve's controller starts a new replica; wait for it to answer.
    deadline = time.monotonic() + 60
    after: set[int] = set()
    while time.monotonic() < deadline:
        after = _replica_pids(url, timeout=5)
        if len(after) == 2 and victim not in after:
            break
        time.sleep(0.5)
    recovered_at = time.monotonic()
    clients.join()
    assert len(after) == 2 and victim not in after, f"replicas after the kill: {after}"
    assert clients.failures == [], clients.failures[:3]
    late = [p for t, p in clients.first_try_failures if t > recovered_at + 1]
    assert late == [], late[:3]
    print(f"\n[serve] replica {victim} killed under 2 clients: replaced in {recovered_at - killed_at:.1f} s; "
          f"{len(clients.first_try_failures)} of {len(clients.latencies) + len(clients.failures)} requests failed "
          f"on their first try during the gap, {len(clients.failures)} after 3 retries; all requests after "
          "recovery succeeded")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


@pytest.mark.parametrize("max_batch_size", [8, 1])
def test_load_latency_throughput_and_flat_rss(url, photos, max_batch_size):
    if max_batch_size != 8:
        _deploy(max_batch_size=max_batch_size)
    _wait_healthy(url)
    pids = _replica_pids(url)
    assert len(pids) == 2
    # Warm-up: every photo at batch sizes up to 8 once, so ONNX Runtime's arena has grown to its working size.
    Clients(url, photos, n=4, seconds=5).run().join()
    rss_before = {pid: _rss_kib(pid) for pid in pids}
    seconds = 8
    clients = Clients(url, photos, n=4, seconds=seconds).run().join()
    rss_after = {pid: _rss_kib(pid) for pid in pids}
    assert clients.failures == [] and clients.first_try_failures == []
    lat = sorted(clients.latencies)
    p50, p99 = statistics.median(lat) * 1e3, lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1e3
    rate = len(lat) / seconds
    growth = {pid: (rss_after[pid] - rss_before[pid]) / 1024 for pid in pids}
    print(f"\n[serve] max_batch_size={max_batch_size}, 2 replicas x 1 CPU, 4 clients, {seconds} s: {len(lat)} "
          f"requests, {rate:.1f} req/s, p50 {p50:.0f} ms, p99 {p99:.0f} ms; replica RSS "
          f"{[round(v / 1024) for v in rss_after.values()]} MiB, change {[round(g, 1) for g in growth.values()]} MiB")
    for pid in pids:
        assert rss_after[pid] <= rss_before[pid] * 1.10 + 16 * 1024, (pid, rss_before[pid], rss_after[pid])


def test_fastinfer_serve_command(cluster, photos):
    """``fastinfer serve`` joins the cluster, answers on 127.0.0.1, and removes its app on SIGINT."""
    serve.shutdown()  # the command starts Serve itself, on its own port
    port = raycluster.free_port()
    log = cluster.root / "serve-cli.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([str(Path(sys.executable).with_name("fastinfer")), "serve", "yolov3-tiny",
                                    "--port", str(port), "--replicas", "1", "--address", cluster.address],
                                   stdout=out, stderr=subprocess.STDOUT, env=raycluster.env())
    try:
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(base, timeout=120)
        except TimeoutError:
            raise AssertionError(log.read_text()[-3000:]) from None
        answer = _post_image(base, next(p for p in photos if p.name == "dog.jpg"))
        assert answer.status_code == 200 and [d["label"] for d in answer.json()["detections"]][:2] == ["dog", "car"]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
        assert APP not in serve.status().applications
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_server_side_failure_is_a_500_and_the_replica_survives(cluster, photos, ddddocr_model):
    """A real failure on the server (a model served at an input size it does not take): each request gets a 500
    with the backend's message, and the same replica goes on answering."""
    serve.shutdown()
    port = raycluster.free_port()
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
    serve.run(fastinfer.ray.serve_app(str(ddddocr_model), head="yolox", input_size=320, num_replicas=1),
              name="broken", route_prefix="/")
    base = f"http://127.0.0.1:{port}"
    _wait_healthy(base)
    pid = requests.get(f"{base}/model", timeout=10).json()["pid"]
    for _ in range(3):
        answer = _post_image(base, photos[0])
        assert answer.status_code == 500
        assert "expects input 1x3x416x416, got 1x3x320x320" in answer.json()["error"]
    assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
    assert requests.get(f"{base}/model", timeout=10).json()["pid"] == pid
    serve.shutdown()
