"""fastinfer.ray on a real two-node Ray cluster on 127.0.0.1 (1 CPU per node): results, inputs, faults.

The cluster is started by ``raycluster`` (two ``ray start --block`` process
groups, ended by their PIDs when the module is done, also on failure).
"""

from __future__ import annotations

import collections
import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import ray
import ray.data

import fastinfer
import fastinfer.ray
import raycluster

# Ray's own modules warn about their deprecations; the tests of fastinfer must not fail on them.
pytestmark = [pytest.mark.ray, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def cluster(fastinfer_home):
    # Converted once here, so the actors find yolov3-tiny's ONNX in the cache.
    fastinfer.Detector("yolov3-tiny")
    started = raycluster.cluster([1, 1])
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        # Every actor of a pool is up before rows flow, so each node gets work.
        context.wait_for_min_actors_s = 180
        yield started
    finally:
        raycluster.remove(started)


@pytest.fixture(scope="module")
def reference(photos):
    """Detections of each photo from ``Detector`` in this process, one thread, keyed by file name."""
    det = fastinfer.Detector("yolov3-tiny", threads=1)
    return {p.name: det(fastinfer.read_image(p)) for p in photos}


def _assert_row_matches(row: dict, dets: fastinfer.Detections) -> None:
    assert row["error"] is None, row["error"]
    assert row["class_id"] == dets.class_id.tolist(), row["path"]
    assert row["label"] == dets.labels
    np.testing.assert_allclose(np.array(row["xyxy"], np.float32).reshape(-1, 4), dets.xyxy, atol=1e-3)
    np.testing.assert_allclose(row["confidence"], dets.confidence, atol=1e-5)


def test_detect_uses_both_nodes_and_equals_the_detector(cluster, photos, reference, tmp_path):
    rows = [{"path": str(p), "bytes": p.read_bytes()} for p in photos]
    rows.append({"path": "corrupt.jpg", "bytes": b"\xff\xd8\xff\xe0 not really a jpeg"})
    start = time.perf_counter()
    ds = fastinfer.ray.detect(ray.data.from_items(rows), "yolov3-tiny", batch_size=2, concurrency=2)
    out = ds.materialize()
    elapsed = time.perf_counter() - start
    results = out.take_all()
    assert sorted(r["path"] for r in results) == sorted(r["path"] for r in rows)
    by_path = {r["path"]: r for r in results}
    for p in photos:
        _assert_row_matches(by_path[str(p)], reference[p.name])
    bad = by_path["corrupt.jpg"]
    assert bad["label"] == [] and "InvalidInputError: cannot decode 'corrupt.jpg'" in bad["error"]
    nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    used = collections.Counter(r["node_id"] for r in results)
    assert set(used) == nodes, f"rows per node {dict(used)}; nodes {nodes}"
    print(f"\n[ray] two-node detect over {len(rows)} rows: {elapsed:.1f} s (actor start included); "
          f"rows per node {sorted(used.values())}")

    # Arrow columns as they are: Parquet and JSON without conversion.
    out.write_parquet(str(tmp_path / "parquet"))
    table = pq.read_table(str(tmp_path / "parquet"))
    assert table.num_rows == len(rows) and {"xyxy", "confidence", "class_id", "label", "error"} <= set(table.schema.names)
    out.write_json(str(tmp_path / "json"))
    lines = [json.loads(line) for f in sorted((tmp_path / "json").glob("*.json")) for line in f.read_text().splitlines()]
    dog = next(line for line in lines if line["path"].endswith("dog.jpg"))
    assert dog["label"] == reference["dog.jpg"].labels


def test_read_images_rows_equal_the_detector(cluster, photos, reference):
    """``ray.data.read_images`` rows (RGB pixels and paths); PNGs only, so Pillow and OpenCV decode the same pixels."""
    pngs = [p for p in photos if p.suffix == ".png"]
    ds = ray.data.read_images([str(p) for p in pngs], include_paths=True, mode="RGB")
    results = fastinfer.ray.detect(ds, "yolov3-tiny", batch_size=4, concurrency=1).take_all()
    assert sorted(Path(r["path"]).name for r in results) == sorted(p.name for p in pngs)
    for row in results:
        _assert_row_matches(row, reference[Path(row["path"]).name])


def test_read_binary_files_rows_equal_the_detector(cluster, photos, reference):
    """``ray.data.read_binary_files`` rows (encoded bytes and paths), as the README's batch example reads them."""
    ds = ray.data.read_binary_files([str(p) for p in photos], include_paths=True)
    results = fastinfer.ray.detect(ds, "yolov3-tiny", batch_size=4, concurrency=1).take_all()
    assert sorted(Path(r["path"]).name for r in results) == sorted(p.name for p in photos)
    for row in results:
        _assert_row_matches(row, reference[Path(row["path"]).name])


def test_a_pool_larger_than_the_cluster_is_refused(cluster, photos):
    """Two 1-CPU nodes cannot hold 3 one-CPU actors: Ray would wait for them forever; fastinfer says so."""
    ds = ray.data.read_binary_files([str(p) for p in photos], include_paths=True)
    with pytest.raises(fastinfer.InvalidInputError,
                       match=r"concurrency=3 starts 3 actors of num_cpus=1, 3 CPUs, but the Ray cluster has 2: .*"
                             r"concurrency=\(1, 3\)"):
        fastinfer.ray.detect(ds, "yolov3-tiny", concurrency=3, num_cpus=1)
    with pytest.raises(fastinfer.InvalidInputError, match=r"num_gpus=1, 1 GPUs, but the Ray cluster has 0"):
        fastinfer.ray.detect(ds, "yolov3-tiny", concurrency=1, num_gpus=1)
    fastinfer.ray.detect(ds, "yolov3-tiny", concurrency=(1, 3))  # an autoscaling pool starts within it


def _actor_pids(node: raycluster.Node) -> list[int]:
    """PIDs of the Ray Data actors running BatchDetector among the processes of ``node``."""
    found = []
    for pid in node.pids():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "BatchDetector" in cmdline:
            found.append(pid)
    return found


def test_killed_actor_mid_job_every_input_once(cluster, photos, reference, tmp_path):
    """SIGKILL one actor while results stream in: the job ends, every input comes out once, results unchanged."""
    inputs = []
    for copy in range(4):
        for p in photos:
            link = tmp_path / f"{copy}-{p.name}"
            link.symlink_to(p)
            inputs.append(str(link))
    ds = fastinfer.ray.detect(ray.data.from_items([{"path": p} for p in inputs]), "yolov3-tiny", batch_size=1,
                              concurrency=2)
    victim_node = cluster.nodes[1]
    results, killed = [], []
    start = time.perf_counter()
    for row in ds.iter_rows():
        results.append(row)
        if len(results) == 6 and not killed:
            pids = _actor_pids(victim_node)
            assert pids, "no BatchDetector actor on the second node"
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])
    elapsed = time.perf_counter() - start
    assert killed
    counts = collections.Counter(r["path"] for r in results)
    assert sorted(counts) == sorted(inputs) and set(counts.values()) == {1}, \
        f"duplicates {[p for p, c in counts.items() if c > 1]}, missing {sorted(set(inputs) - set(counts))}"
    for row in results:
        _assert_row_matches(row, reference[Path(row["path"]).name.split("-", 1)[1]])
    print(f"\n[ray] actor {killed[0]} killed after 6 of {len(inputs)} rows: job finished in {elapsed:.1f} s, "
          f"{len(results)} rows, each input once, results unchanged")


def test_killed_node_mid_job_every_input_once(cluster, photos, reference, tmp_path):
    """SIGKILL every process of the second node while results stream in (an autoscaling pool of 1-2 actors):
    the job ends on the head alone, every input comes out once, results unchanged. Runs last: the node stays dead."""
    inputs = []
    for copy in range(4):
        for p in photos:
            link = tmp_path / f"{copy}-{p.name}"
            link.symlink_to(p)
            inputs.append(str(link))
    # Two actors to start with (one per node), and the pool may go on with one.
    ds = fastinfer.ray.detect(ray.data.from_items([{"path": p} for p in inputs]), "yolov3-tiny", batch_size=1,
                              concurrency=(1, 2, 2))
    victim = cluster.nodes[1]
    results, killed = [], []
    start = time.perf_counter()
    for row in ds.iter_rows():
        results.append(row)
        if len(results) == 6 and not killed:
            assert _actor_pids(victim), "no BatchDetector actor on the second node"
            killed = victim.pids()
            victim.stop(signal.SIGKILL)
    elapsed = time.perf_counter() - start
    assert victim.pids() == []
    counts = collections.Counter(r["path"] for r in results)
    assert sorted(counts) == sorted(inputs) and set(counts.values()) == {1}, \
        f"duplicates {[p for p, c in counts.items() if c > 1]}, missing {sorted(set(inputs) - set(counts))}"
    for row in results:
        _assert_row_matches(row, reference[Path(row["path"]).name.split("-", 1)[1]])
    per_node = collections.Counter(r["node_id"] for r in results)
    print(f"\n[ray] second node ({len(killed)} processes) SIGKILLed after 6 of {len(inputs)} rows: job finished in "
          f"{elapsed:.1f} s, rows per node {sorted(per_node.values())}, each input once, results unchanged")
