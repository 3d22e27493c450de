"""A real Ray cluster on this machine for the tests: nodes on loopback addresses, each its own ``ray start --block``.

Every node is one ``ray start --block`` process started in its own process
group; Ray's daemons and workers of that node stay in the group, so stopping
a node ends exactly the processes this helper started (SIGTERM to the group,
then SIGKILL to whatever is left), on success and on failure alike. Nothing
leaves loopback: node N has the address 127.0.0.N+1 (Ray turns 127.0.0.1
itself into the machine's outward address in a multi-node cluster), the
dashboard is off, usage stats are off, and each node gets its own free ports.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["RAY_AUTH_MODE"] = "disabled"


def env() -> dict[str, str]:
    """The environment of the cluster's processes: no usage stats; no token authentication, said explicitly, so
    that a token another Ray left in ~/.ray does not switch it on for the nodes but not for this driver."""
    return dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_DISABLE_DOCKER_CPU_WARNING="1", PYTHONWARNINGS="ignore",
                RAY_AUTH_MODE="disabled")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Node:
    """One node: its ``ray start --block`` process (the leader of its process group)."""

    name: str
    process: subprocess.Popen
    log: Path

    @property
    def pgid(self) -> int:
        return self.process.pid

    def pids(self) -> list[int]:
        """The live processes of this node: its process group and every descendant (Ray's workers have their own group)."""
        parents: dict[int, int] = {}
        groups: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # Fields after the command name: state ppid pgrp ...
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] != "Z":
                parents[int(entry.name)], groups[int(entry.name)] = int(fields[1]), int(fields[2])
        found = {pid for pid, group in groups.items() if group == self.pgid}
        grew = True
        while grew:
            more = {pid for pid, parent in parents.items() if parent in found} - found
            found |= more
            grew = bool(more)
        return sorted(found)

    def kill(self, sig: int) -> None:
        """Sends ``sig`` to the node's process group and to each of its descendants."""
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Ends every process of the node: ``sig`` to the group, then SIGKILL to what remains."""
        for s in (sig, signal.SIGKILL):
            self.kill(s)
            deadline = time.monotonic() + (timeout if s != signal.SIGKILL else 10.0)
            while time.monotonic() < deadline:
                self.process.poll()
                if not self.pids():
                    break
                time.sleep(0.2)
            if not self.pids():
                break
        self.process.wait(timeout=10)


@dataclass
class Cluster:
    """Nodes started by ``start_node``; ``address`` is the head's GCS on 127.0.0.1."""

    root: Path
    address: str = ""
    nodes: list[Node] = field(default_factory=list)

    def start_node(self, num_cpus: int, *, head: bool = False, extra: list[str] | None = None,
                   ip: str | None = None) -> Node:
        name = "head" if head else f"worker{len(self.nodes)}"
        log = self.root / f"{name}.log"
        # Ray replaces 127.0.0.1 and localhost by the machine's outward address
        # in a multi-node cluster; other loopback addresses it keeps. A one-node
        # cluster may use 127.0.0.1 (where a plain ray.init() driver finds itself).
        ip = ip or f"127.0.0.{len(self.nodes) + 2}"
        args = [RAY, "start", "--block", "--num-cpus", str(num_cpus), "--num-gpus", "0",
                "--node-ip-address", ip, "--disable-usage-stats",
                "--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
                "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port",
                str(free_port()), "--metrics-export-port", str(free_port()),
                "--runtime-env-agent-port", str(free_port()), "--min-worker-port", "0", "--max-worker-port", "0"]
        if head:
            port = free_port()
            self.address = f"{ip}:{port}"
            args += ["--head", "--port", str(port), "--include-dashboard", "false",
                     "--ray-client-server-port", str(free_port()), "--temp-dir", str(self.root / "ray")]
        else:
            args += ["--address", self.address]
        args += extra or []
        with open(log, "wb") as out:
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=env(), start_new_session=True, cwd=self.root)
        node = Node(name, process, log)
        self.nodes.append(node)
        return node

    def wait_for_nodes(self, count: int, timeout: float = 120.0) -> None:
        """Waits until ``count`` nodes are alive (seen from a connected driver)."""
        import ray

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.process.poll() is not None:
                    raise RuntimeError(f"ray node {node.name} exited with {node.process.returncode}:\n"
                                       f"{node.log.read_text()[-3000:]}")
            if ray.is_initialized() and sum(n["Alive"] for n in ray.nodes()) >= count:
                return
            time.sleep(0.5)
        raise TimeoutError(f"{count} ray nodes not alive after {timeout} s")

    def connect(self, timeout: float = 90.0) -> None:
        """Connects this process as a driver (after the head's GCS answers)."""
        import ray

        host, port = self.address.split(":")
        deadline = time.monotonic() + timeout
        while True:
            head = self.nodes[0]
            if head.process.poll() is not None:
                raise RuntimeError(f"ray head exited with {head.process.returncode}:\n{head.log.read_text()[-3000:]}")
            try:
                with socket.create_connection((host, int(port)), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"ray head not answering on {self.address} after {timeout} s") from None
                time.sleep(0.5)
        for key, value in env().items():
            if key.startswith("RAY_"):
                os.environ[key] = value
        # The driver joins as a process of the head's node (its loopback address).
        ray.init(address=self.address, _node_ip_address=host, include_dashboard=False, log_to_driver=False,
                 logging_level="WARNING", configure_logging=False)

    def stop(self) -> None:
        """Disconnects the driver and ends every node, workers first."""
        import ray

        if ray.is_initialized():
            try:
                ray.shutdown()
            except Exception:  # noqa: BLE001 - the nodes are ended below in any case
                pass
        for node in reversed(self.nodes):
            node.stop()


def cluster(node_cpus: list[int]) -> Cluster:
    """Starts a cluster with one node per entry of ``node_cpus`` (the first is the head) and connects to it."""
    # Ray's socket paths must stay short: a fresh folder directly under the temp root.
    root = Path(tempfile.mkdtemp(prefix="fi-ray-", dir="/tmp"))
    started = Cluster(root)
    try:
        started.start_node(node_cpus[0], head=True)
        started.connect()
        for cpus in node_cpus[1:]:
            started.start_node(cpus)
        started.wait_for_nodes(len(node_cpus))
    except BaseException:
        started.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    return started


def remove(started: Cluster) -> None:
    """Stops the cluster and deletes its folder."""
    try:
        started.stop()
    finally:
        shutil.rmtree(started.root, ignore_errors=True)
