"""A real, throwaway Redis Cluster for live tests: N primaries (and optional replicas) of
`redis-server --cluster-enabled yes` on free loopback ports, joined by
`redis-cli --cluster create ... --cluster-yes`.

The `redis_cluster` fixture (session-scoped) starts one cluster per test session and stops it
afterwards. Test modules and conftests take it by importing it
(``from live_cluster import redis_cluster``, `tests/` is on ``sys.path``), as they take
`redis_server` from `tests/redis_server.py`; `tests/patterns/conftest.py` can do the same to
run the patterns on a cluster. A machine that cannot start it fails the test with the reason: CI must not
go green because a cluster test skipped itself.

Nothing here ever binds or connects to anything but 127.0.0.1, nor to port 6379.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest

LOOPBACK = "127.0.0.1"
SHARED_PORT = 6379  # the machine's own instance: never used by these tests
# Redis Cluster's node-to-node bus listens on the client port + 10000.
BUS_OFFSET = 10000


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_cluster_ports(count: int) -> List[int]:
    """`count` client ports whose bus ports (+10000) are free too, never 6379."""
    chosen: List[int] = []
    rng = random.Random()
    for _ in range(2000):
        port = rng.randrange(20000, 55000)
        if port == SHARED_PORT or port in chosen or port + BUS_OFFSET in chosen:
            continue
        if _bindable(port) and _bindable(port + BUS_OFFSET):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError("no free loopback port pairs (P, P+10000) for a Redis Cluster")


class ClusterStartError(RuntimeError):
    pass


class LocalRedisCluster:
    """`primaries` primaries (and `replicas` replicas per primary) on loopback; no persistence.

    `nodes` are the (host, port) of every node, primaries first; `url` is a `redis://` URL of
    the first node, enough for `RedisCluster.from_url` to discover the others.
    """

    def __init__(self, workdir: Path, primaries: int = 3, replicas: int = 0,
                 server: Optional[str] = None, cli: Optional[str] = None,
                 node_timeout_ms: int = 2000) -> None:
        self.workdir = Path(workdir)
        self.primaries = primaries
        self.replicas = replicas
        self.server = server or shutil.which("redis-server") or "/usr/bin/redis-server"
        self.cli = cli or shutil.which("redis-cli") or "/usr/bin/redis-cli"
        self.node_timeout_ms = node_timeout_ms
        self.ports: List[int] = []
        self.processes: List[subprocess.Popen] = []
        self.startup_seconds: Optional[float] = None

    # -- what tests use -----------------------------------------------------------------------
    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def port(self) -> int:
        return self.ports[0]

    @property
    def nodes(self) -> List[Tuple[str, int]]:
        return [(LOOPBACK, port) for port in self.ports]

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}"

    def client(self, **options):
        """A `redis.cluster.RedisCluster` connected to this cluster."""
        from redis.cluster import RedisCluster

        return RedisCluster(host=LOOPBACK, port=self.port, **options)

    def node_client(self, port: int, **options):
        """A plain `redis.Redis` to one node (for raw, single-node commands)."""
        import redis

        if port not in self.ports:
            raise ValueError(f"{port} is not a node of this cluster")
        return redis.Redis(host=LOOPBACK, port=port, socket_timeout=5, **options)

    def flush(self) -> None:
        """Delete every key on every primary (and the loaded scripts)."""
        for port in self.ports:
            node = self.node_client(port)
            try:
                if node.execute_command("ROLE")[0] in (b"master", "master"):
                    node.flushall()
                    node.script_flush()
            finally:
                node.close()

    def primary_ports(self) -> List[int]:
        """The ports of the nodes that are primaries now (a failover changes which)."""
        return [port for port in self.ports if self._role(port)[0] == "master"]

    def replica_ports(self, primary_port: int) -> List[int]:
        """The ports of the replicas that replicate the primary on `primary_port` now."""
        return [port for port in self.ports
                if self._role(port)[:3] == ["slave", LOOPBACK, primary_port]]

    def _role(self, port: int) -> list:
        node = self.node_client(port, decode_responses=True)
        try:
            role = node.execute_command("ROLE")
        finally:
            node.close()
        return [role[0], role[1], int(role[2])] if role[0] == "slave" else [role[0]]

    def failover(self, replica_port: int, timeout: float = 20.0) -> float:
        """Promote the replica on `replica_port`: `CLUSTER FAILOVER` sent to it (the coordinated,
        lossless manual failover: its primary stops writes until the replica caught up). Waits
        until every node maps the slots to it; returns how long that took, in seconds.

        The primaries vote for a replica of a given primary at most once per two node
        timeouts, so failing the same slots back over at once is refused (the manual failover
        then times out after 5 s): the command is sent again every `2 * node timeout + 1` s.
        """
        began = time.monotonic()
        deadline = began + timeout
        again_every = 2 * self.node_timeout_ms / 1000 + 1
        self._wait_known_replica(replica_port, deadline)
        while True:
            replica = self.node_client(replica_port)
            try:
                answer = replica.execute_command("CLUSTER FAILOVER")
            finally:
                replica.close()
            if answer not in (b"OK", "OK", True):
                raise ClusterStartError(f"CLUSTER FAILOVER on {replica_port} answered {answer!r}")
            again = time.monotonic() + again_every
            while not self._everyone_sees_primary(replica_port):
                if time.monotonic() > deadline:
                    raise ClusterStartError(f"{replica_port} not promoted after {timeout} s:\n"
                                            f"{self._log(replica_port)}")
                if time.monotonic() > again:
                    break
                time.sleep(0.05)
            else:
                return time.monotonic() - began

    def _wait_known_replica(self, replica_port: int, deadline: float) -> None:
        """Every node knows the replica as its primary's replica (they learn it by gossip):
        before that, its primary ignores the failover request and the others do not vote."""
        def line(port: int) -> str:
            return next(entry for entry in self._cli(port, "cluster", "nodes").splitlines()
                        if "myself" in entry)

        while True:
            mine = line(replica_port).split()
            if mine[2].endswith("slave"):
                claim = f"{mine[0]} {LOOPBACK}:{replica_port}@{replica_port + BUS_OFFSET} slave " \
                        f"{mine[3]} "
                if all(claim in self._cli(port, "cluster", "nodes") for port in self.ports
                       if port != replica_port):
                    return
            if time.monotonic() > deadline:
                raise ClusterStartError(f"the cluster never learnt that {replica_port} is a replica")
            time.sleep(0.05)

    def _everyone_sees_primary(self, port: int) -> bool:
        if self._role(port)[0] != "master":
            return False
        for other in self.ports:
            node = self.node_client(other)
            try:
                slots = node.execute_command("CLUSTER SLOTS")
            except OSError:
                return False
            finally:
                node.close()
            owners = {int(entry[2][1]) for entry in slots}
            if port not in owners:
                return False
        return True

    # -- life cycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> "LocalRedisCluster":
        for tool in (self.server, self.cli):
            if not os.access(tool, os.X_OK):
                raise ClusterStartError(
                    f"{tool} not found: install redis (apt-get install redis-server, which "
                    "provides redis-server and redis-cli) to run the Redis Cluster tests")
        began = time.monotonic()
        self.ports = free_cluster_ports(self.primaries * (1 + self.replicas))
        self._bring_up(began + timeout, create=True)
        self.startup_seconds = time.monotonic() - began
        return self

    def restart(self, timeout: float = 30.0) -> None:
        """Stop every node and start it again: see `resume`."""
        self.stop()
        self.resume(timeout)

    def resume(self, timeout: float = 30.0) -> None:
        """Start the stopped nodes again on their ports. Each one reads back its
        `nodes.conf`, so the cluster comes back with its slots, but (no persistence) without
        any data or loaded script; client connections were dropped by the stop."""
        self._bring_up(time.monotonic() + timeout, create=False)

    def _bring_up(self, deadline: float, create: bool) -> None:
        """Spawn a server on every port, (join them into a new cluster,) and wait until the
        cluster is ok; on any failure, stop what was started."""
        try:
            for port in self.ports:
                self._spawn(port)
            for port in self.ports:
                self._wait_ping(port, deadline)
            if create:
                self._create(deadline)
            self._wait_ok(deadline)
            if self.replicas:
                self._wait_replicas(deadline)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.processes = []

    def _spawn(self, port: int) -> None:
        folder = self.workdir / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        command = [
            self.server, "--port", str(port), "--bind", LOOPBACK, "--protected-mode", "yes",
            "--cluster-enabled", "yes", "--cluster-config-file", str(folder / "nodes.conf"),
            "--cluster-node-timeout", str(self.node_timeout_ms),
            "--save", "", "--appendonly", "no", "--dir", str(folder),
            "--repl-diskless-sync-delay", "0",  # replicas sync at once, not after 5 s
            "--logfile", str(folder / "redis.log"),
        ]
        self.processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))

    def _cli(self, port: int, *args: str, timeout: float = 10.0) -> str:
        done = subprocess.run([self.cli, "-h", LOOPBACK, "-p", str(port), *args],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout, check=False)
        return done.stdout.decode(errors="replace")

    def _wait_ping(self, port: int, deadline: float) -> None:
        while True:
            try:
                with socket.create_connection((LOOPBACK, port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            process = self.processes[self.ports.index(port)]
            if process.poll() is not None or time.monotonic() > deadline:
                raise ClusterStartError(f"redis-server on {port} did not start:\n{self._log(port)}")
            time.sleep(0.02)

    def _create(self, deadline: float) -> None:
        command = [self.cli, "--cluster", "create",
                   *(f"{LOOPBACK}:{port}" for port in self.ports),
                   "--cluster-replicas", str(self.replicas), "--cluster-yes"]
        try:
            done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=max(1.0, deadline - time.monotonic()), check=False)
        except subprocess.TimeoutExpired as error:
            raise ClusterStartError(f"`{' '.join(command)}` timed out") from error
        output = done.stdout.decode(errors="replace")
        if done.returncode != 0 or "[OK] All 16384 slots covered" not in output:
            raise ClusterStartError(f"`{' '.join(command)}` failed:\n{output[-3000:]}")

    def _wait_ok(self, deadline: float) -> None:
        """Every node says `cluster_state:ok` and knows every other node."""
        pending = list(self.ports)
        while pending:
            port = pending[0]
            info = self._cli(port, "cluster", "info")
            if "cluster_state:ok" in info and \
                    f"cluster_known_nodes:{len(self.ports)}" in info:
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise ClusterStartError(
                    f"node {port} never reached cluster_state:ok:\n{info}\n{self._log(port)}")
            time.sleep(0.05)

    def _wait_replicas(self, deadline: float) -> None:
        """Every replica's link to its primary is up, so `CLUSTER FAILOVER` can run on it.
        (Other nodes learn of the replicas by gossip, a few seconds later: a client's
        `get_replicas()` may lag behind.)"""
        import redis

        clients = [redis.Redis(host=LOOPBACK, port=port, socket_timeout=2) for port in self.ports]
        try:
            while True:
                roles = [client.info("replication") for client in clients]
                linked = [info for info in roles
                          if info.get("role") == "slave" and info.get("master_link_status") == "up"]
                if len(linked) == self.primaries * self.replicas:
                    return
                if time.monotonic() > deadline:
                    raise ClusterStartError(f"replicas never synced: {roles!r}")
                time.sleep(0.05)
        finally:
            for client in clients:
                client.close()

    def _log(self, port: int) -> str:
        try:
            return (self.workdir / str(port) / "redis.log").read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalRedisCluster]:
    """A live three-primary Redis Cluster shared by the whole test session."""
    with tempfile.TemporaryDirectory(prefix="redislint-cluster-") as workdir:
        cluster = LocalRedisCluster(Path(workdir))
        try:
            cluster.start()
        except (ClusterStartError, OSError, subprocess.SubprocessError) as error:
            cluster.stop()
            pytest.fail(f"cannot start a local Redis Cluster for the live tests: {error}",
                        pytrace=False)
        try:
            yield cluster
        finally:
            cluster.stop()
