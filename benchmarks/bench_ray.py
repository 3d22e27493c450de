"""Throughput of yolov3-tiny on Ray against one process: Ray Data with 1 and 2 actors, Ray Serve with 1 and 2 replicas.

Every figure is "encoded photo in, detections out" (decoding included), over
the test data's photos repeated ``--repeat`` times:

- one process: ``fastinfer.Detector`` with all cores (``threads`` = cores)
  and with one thread, batches of ``--batch``, images read by the core; the
  best of 3 rounds (the least disturbed by other work on the machine);
- Ray Data: ``fastinfer.ray.detect`` over rows of encoded bytes, 1 and 2 actors
  of 1 CPU (1 ONNX Runtime thread each), batches of ``--batch``;
- Ray Serve: 1 and 2 replicas of 1 CPU, dynamic batching up to ``--batch``,
  ``--clients`` closed-loop HTTP clients posting one JPEG/PNG each for
  ``--seconds``, after a warm-up.

The 1-thread, 1-actor and 1-replica figures run on one core (the affinity of
this process, inherited by the Ray node it starts), the others on every core.
Ray Data's rate is the difference of two jobs (``batch x actors`` images, then
all), so actor start-up cancels out. Ray's overhead per image is the one-actor
time per image minus the one-thread time per image (same core, same work);
the actor's own decode + inference time (``decode_ms`` + ``infer_ms`` of its
rows) is reported beside it. The cluster is a
real single node on 127.0.0.2 started like the tests' (``tests/raycluster.py``).
Results: ``benchmarks/results/<machine>/ray.md`` and ``ray.json``.

Usage::

    python benchmarks/bench_ray.py [--repeat 16] [--batch 8] [--seconds 8] [--clients 4] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import ray  # noqa: E402 - after raycluster, which sets Ray's environment
from common import REPO, photo_paths, table  # also puts tests/ on sys.path

import fastinfer
import raycluster
from fastinfer import benchmarking

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import ray.data
    from ray import serve

    import fastinfer.ray
    import fastinfer.ray.serve

MODEL = "yolov3-tiny"


def cpu_info() -> dict[str, Any]:
    """The CPU's name and its SIMD flags (what ONNX Runtime's kernels choose from)."""
    name, flags = platform.processor() or "unknown", []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name in ("unknown", "", "x86_64"):
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = value.split()
    except OSError:
        pass
    simd = [f for f in flags if f.startswith(("avx", "sse4", "fma", "f16c", "amx", "vnni")) or f == "avx512f"]
    return {"cpu": name, "cores": os.cpu_count(), "simd_flags": sorted(set(simd))}


def one_process(paths: list[Path], batch: int, threads: int, rounds: int = 3) -> dict[str, float]:
    """Images/s of one Detector reading and detecting every path, batches of ``batch``; the best of ``rounds``.

    The best round is the one least disturbed by other work on the machine.
    """
    det = fastinfer.Detector(MODEL, threads=threads)
    det([fastinfer.read_image(p) for p in paths[:batch]])  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(0, len(paths), batch):
            det([fastinfer.read_image(p) for p in paths[i:i + batch]])
        times.append(time.perf_counter() - start)
    elapsed = min(times)
    return {"images": len(paths), "seconds": elapsed, "rounds_s": times, "images_per_s": len(paths) / elapsed,
            "ms_per_image": elapsed * 1e3 / len(paths)}


def _run_job(paths: list[Path], batch: int, actors: int) -> tuple[float, int, int, list[float]]:
    """One Ray Data job over ``paths``: wall seconds, rows, error rows, and each row's in-actor decode+infer ms."""
    rows = [{"path": str(p), "bytes": p.read_bytes()} for p in paths]
    ds = fastinfer.ray.detect(ray.data.from_items(rows), MODEL, batch_size=batch, concurrency=actors, num_cpus=1)
    start = time.perf_counter()
    count, errors, work_ms = 0, 0, []
    for out in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        count += out.num_rows
        errors += sum(e is not None for e in out.column("error").to_pylist())
        work_ms += [d + i for d, i in zip(out.column("decode_ms").to_pylist(), out.column("infer_ms").to_pylist())]
    return time.perf_counter() - start, count, errors, work_ms


def ray_data(paths: list[Path], batch: int, actors: int) -> dict[str, float]:
    """Images/s of fastinfer.ray.detect with ``actors`` actors of 1 CPU, start-up left out.

    Two jobs: one of ``batch * actors`` images (start-up and one batch per
    actor) and the full one; the rate is the difference of images over the
    difference of time, so actor start-up and the first batch cancel out.
    """
    small_s, small_n, _, _ = _run_job(paths[:batch * actors], batch, actors)
    total_s, count, errors, work_ms = _run_job(paths, batch, actors)
    rate = (count - small_n) / (total_s - small_s)
    return {"images": count, "errors": errors, "seconds_total": total_s, "startup_s": small_s,
            "images_per_s": rate, "ms_per_image": 1e3 / rate,
            "actor_work_ms_per_image": sum(work_ms) / len(work_ms)}


def serve_load(paths: list[Path], replicas: int, batch: int, clients: int, seconds: float,
               port: int) -> dict[str, float]:
    """Requests (one image each) per second from ``clients`` closed-loop clients, with p50/p99 latency."""
    import requests

    serve.run(fastinfer.ray.serve_app(MODEL, num_replicas=replicas, max_batch_size=batch, batch_wait_timeout_s=0.01),
              name="bench", route_prefix="/")
    base = f"http://127.0.0.1:{port}"
    bodies = [(p.read_bytes(), "image/png" if p.suffix == ".png" else "image/jpeg") for p in paths]
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def client(index: int, duration: float, record: bool) -> None:
        session = requests.Session()
        end, k = time.monotonic() + duration, index
        while time.monotonic() < end:
            body, kind = bodies[k % len(bodies)]
            k += 1
            start = time.perf_counter()
            answer = session.post(f"{base}/detect", data=body, headers={"Content-Type": kind}, timeout=60)
            with lock:
                if answer.status_code != 200:
                    failures[0] += 1
                elif record:
                    latencies.append(time.perf_counter() - start)

    for duration, record in ((3.0, False), (seconds, True)):
        threads = [threading.Thread(target=client, args=(i, duration, record)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    lat = sorted(latencies)
    return {"requests": len(lat), "failures": failures[0], "images_per_s": len(lat) / seconds,
            "p50_ms": statistics.median(lat) * 1e3, "p99_ms": lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1e3}


def markdown(data: dict[str, Any]) -> str:
    m, r = data["machine"], data["results"]
    rows = [
        [f"one process, Detector, {m['cores']} threads", f"{r['process_all']['images_per_s']:.1f}",
         f"{r['process_all']['ms_per_image']:.1f}", "-"],
        ["one process, Detector, 1 thread", f"{r['process_1']['images_per_s']:.1f}",
         f"{r['process_1']['ms_per_image']:.1f}", "-"],
    ]
    for key, label in (("data_1", "Ray Data, 1 actor x 1 CPU"), ("data_2", "Ray Data, 2 actors x 1 CPU")):
        rows.append([label, f"{r[key]['images_per_s']:.1f}", f"{r[key]['ms_per_image']:.1f}",
                     f"start-up + first batch {r[key]['startup_s']:.1f} s"])
    for key, label in (("serve_1", "Ray Serve, 1 replica x 1 CPU"), ("serve_2", "Ray Serve, 2 replicas x 1 CPU")):
        rows.append([label, f"{r[key]['images_per_s']:.1f}", f"{1e3 / r[key]['images_per_s']:.1f}",
                     f"p50 {r[key]['p50_ms']:.0f} ms, p99 {r[key]['p99_ms']:.0f} ms, {r[key]['failures']} failed"])
    s = data["summary"]
    return "\n".join([
        f"# yolov3-tiny on Ray ({data['date']})", "",
        f"Machine: {m['cpu']}, {m['cores']} cores; SIMD: {' '.join(m['simd_flags'])}.  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in data["versions"].items()) + ".  ",
        f"Workload: {data['images']} encoded photos (the test data's {data['photos']} photos x {data['repeat']}), "
        f"decoding included; batches of {data['batch']}; Serve: {data['clients']} clients for {data['seconds']} s.", "",
        table(["set-up", "images/s", "ms/image", "notes"], rows), "",
        f"- Ray's overhead per image: {s['overhead_ms']:+.1f} ms ({s['overhead_pct']:+.0f}% of "
        f"{r['process_1']['ms_per_image']:.1f} ms): one actor against one thread in one process, both on the same "
        f"single core; from the actor's own decode + inference time ({r['data_1']['actor_work_ms_per_image']:.1f} "
        f"ms per image) in the same job: {s['in_actor_overhead_ms']:+.1f} ms.",
        f"- Ray Data with 2 actors against one process with all cores: {s['data2_vs_process']:.0%}.",
        f"- Ray Serve with 2 replicas against one process with all cores: {s['serve2_vs_process']:.0%}.", "",
        f"Load average when the run ended: {data['loadavg']} (a shared machine: figures vary between runs).", "",
        "Generated by `benchmarks/bench_ray.py`.", ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=16, help="times the photos are repeated (default: 16)")
    parser.add_argument("--batch", type=int, default=8, help="images per model call (default: 8)")
    parser.add_argument("--seconds", type=float, default=8.0, help="timed seconds per Serve figure (default: 8)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients (default: 4)")
    parser.add_argument("--out", type=Path, help="output folder (default: benchmarks/results/<machine>)")
    args = parser.parse_args(argv)

    photos = photo_paths(Path(os.environ.get("FASTINFER_TESTDATA", "") or REPO / ".testdata"))
    paths = photos * args.repeat
    fastinfer.Detector(MODEL)  # fetched and converted once, before any actor needs it
    results: dict[str, Any] = {}
    everywhere = os.sched_getaffinity(0)
    # Phase 1 on one core (this process, the Ray node and its workers inherit the
    # affinity): one thread against one actor and one replica, the same CPU.
    # Phase 2 on every core: all threads against one actor or replica per core.
    for phase, cpus in ((1, {min(everywhere)}), (2, everywhere)):
        os.sched_setaffinity(0, cpus)
        n = len(cpus)
        print(f"phase {phase}, {n} core(s): one process, {len(paths)} images ...", flush=True)
        results["process_1" if n == 1 else "process_all"] = one_process(paths, args.batch, threads=n)
        cluster = raycluster.cluster([n])
        try:
            ray.data.DataContext.get_current().enable_progress_bars = False
            ray.data.DataContext.get_current().wait_for_min_actors_s = 300
            print(f"Ray Data, {n} actor(s) ...", flush=True)
            results[f"data_{n}"] = ray_data(paths, args.batch, n)
            port = raycluster.free_port()
            serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
            print(f"Ray Serve, {n} replica(s) ...", flush=True)
            results[f"serve_{n}"] = serve_load(photos, n, args.batch, args.clients, args.seconds, port)
            serve.shutdown()
        finally:
            raycluster.remove(cluster)
    os.sched_setaffinity(0, everywhere)

    one = results["process_1"]["ms_per_image"]
    data_1 = results["data_1"]
    overhead = data_1["ms_per_image"] - one
    summary = {"overhead_ms": overhead, "overhead_pct": 100 * overhead / one,
               "in_actor_overhead_ms": data_1["ms_per_image"] - data_1["actor_work_ms_per_image"],
               "data2_vs_process": results["data_2"]["images_per_s"] / results["process_all"]["images_per_s"],
               "serve2_vs_process": results["serve_2"]["images_per_s"] / results["process_all"]["images_per_s"]}
    data = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": cpu_info(),
            "versions": dict(benchmarking.versions(), ray=ray.__version__), "images": len(paths),
            "photos": len(photos), "repeat": args.repeat, "batch": args.batch, "seconds": args.seconds,
            "clients": args.clients, "results": results, "summary": summary,
            "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3])}
    out = args.out or REPO / "benchmarks" / "results" / benchmarking.machine_slug()
    out.mkdir(parents=True, exist_ok=True)
    (out / "ray.json").write_text(json.dumps(data, indent=1) + "\n")
    text = markdown(data)
    (out / "ray.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
