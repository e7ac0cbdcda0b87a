"""Live fixtures: every pattern test runs twice, on a single redis-server and on a Redis Cluster.

The `backend` fixture is parametrized over ``single`` (a throwaway redis-server on a free
loopback port, `tests/redis_server.py`) and ``cluster`` (the session's three-primary Redis
Cluster, `tests/live_cluster.py`), so each behavioural test below runs unchanged on both, with a
`redis.Redis` or a `redis.cluster.RedisCluster` client. Both deployments start once per test
session. Use ``-k single`` or ``-k cluster`` to run one of them only; `test_failover.py`
starts a cluster with replicas of its own.

Set ``REDIS_URL`` (loopback only) to run the single-server half against your own server
instead; keys are then namespaced per test and deleted afterwards, and restart tests are
skipped. The cluster half always starts its own cluster, and fails (never skips) if it cannot.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Iterable, Iterator, List

import pytest
import redis
from redis.cluster import RedisCluster

# The throwaway deployments live in tests/, shared with the linter's live tests; importing
# their fixtures here registers them for this folder.
from live_cluster import redis_cluster  # noqa: F401
from redis_server import redis_server  # noqa: F401

BACKENDS = ["single", "cluster"]


class Backend:
    """One deployment the patterns run on, and the server-side operations tests need on it.

    A cluster has several servers, so whatever a test did to "the server" (flush its scripts,
    kill its pub/sub clients, count its subscribers, restart it) is done on every primary.
    Forked worker processes call `connect` themselves: a client must not cross a fork.
    """

    def __init__(self, kind: str, deployment: Any) -> None:
        self.kind = kind
        self.deployment = deployment

    def __repr__(self) -> str:
        return f"Backend({self.kind})"

    @property
    def cluster(self) -> bool:
        return self.kind == "cluster"

    def connect(self, **options: Any) -> Any:
        """A new client: `redis.Redis` on the single server, `RedisCluster` on the cluster."""
        if self.cluster:
            return self.deployment.client(**options)
        return redis.Redis.from_url(self.deployment.url, **options)

    def nodes(self) -> List[redis.Redis]:
        """A plain client per primary (the server itself when single); close them after use."""
        if self.cluster:
            return [self.deployment.node_client(port)
                    for port in self.deployment.primary_ports()]
        return [redis.Redis.from_url(self.deployment.url)]

    def on_every_node(self, command: Callable[[redis.Redis], Any]) -> List[Any]:
        results = []
        for node in self.nodes():
            try:
                results.append(command(node))
            finally:
                node.close()
        return results

    def delete_matching(self, pattern: str) -> None:
        def clean(node: redis.Redis) -> None:
            for key in node.scan_iter(match=pattern, count=1000):
                node.delete(key)

        self.on_every_node(clean)

    def script_flush(self) -> None:
        self.on_every_node(lambda node: node.script_flush())

    def kill_pubsub_clients(self) -> int:
        return sum(self.on_every_node(lambda node: node.client_kill_filter(_type="pubsub")))

    def subscribers(self, channel: str) -> int:
        """Clients subscribed to ``channel``, plain or sharded, on every node."""
        def count(node: redis.Redis) -> int:
            replies = node.pubsub_numsub(channel) + node.pubsub_shardnumsub(channel)
            return sum(int(subscribed) for _, subscribed in replies)

        return sum(self.on_every_node(count))

    def primaries_of(self, keys: Iterable[str]) -> int:
        """How many primaries hold ``keys``: the round trips of a non-transactional pipeline."""
        if not self.cluster:
            return 1
        client = self.connect()
        try:
            return len({client.get_node_from_key(key).name for key in keys})
        finally:
            client.close()

    @property
    def restartable(self) -> bool:
        return self.cluster or self.deployment.restartable

    def restart(self) -> None:
        """Every server stops and starts again: data and loaded scripts gone, connections
        dropped. (A cluster comes back with its slots, after Redis' 2 s writable delay.)"""
        self.deployment.restart()

    def stop(self) -> None:
        self.deployment.stop()

    def start(self) -> None:
        if self.cluster:
            self.deployment.resume()
        else:
            self.deployment.start()


@pytest.fixture(params=BACKENDS)
def backend(request: Any) -> Backend:
    """The deployment of this run of the test: a single server, then the cluster."""
    fixture = "redis_cluster" if request.param == "cluster" else "redis_server"
    return Backend(request.param, request.getfixturevalue(fixture))


@pytest.fixture
def name(backend: Backend) -> Iterator[str]:
    """A name unique to this test; every key containing it is deleted afterwards."""
    unique = f"t{uuid.uuid4().hex[:12]}"
    yield unique
    try:
        backend.delete_matching(f"*{unique}*")
    except redis.ConnectionError:
        pass


@pytest.fixture(params=["bytes", "text"])
def r(request: Any, backend: Backend) -> Iterator[Any]:
    """A client, both with raw byte replies and with ``decode_responses=True``."""
    client = backend.connect(decode_responses=request.param == "text")
    yield client
    client.close()


@pytest.fixture
def rb(backend: Backend) -> Iterator[Any]:
    """A byte-reply client, for tests that need not run in both reply modes."""
    client = backend.connect()
    yield client
    client.close()


class RoundTrips:
    """Counts the writes a client sends: one per command, one per pipeline (and node)."""

    def __init__(self, backend: Backend) -> None:
        counter = self

        class CountingConnection(redis.Connection):
            def send_packed_command(self, command: Any, check_health: bool = True) -> None:
                counter.sent += 1
                super().send_packed_command(command, check_health)

        self.sent = 0
        if backend.cluster:
            # from_url: only then does RedisCluster hand connection_class to the node pools.
            self.client: Any = RedisCluster.from_url(backend.deployment.url,
                                                     connection_class=CountingConnection)
        else:
            pool = redis.ConnectionPool.from_url(backend.deployment.url,
                                                 connection_class=CountingConnection)
            self.client = redis.Redis(connection_pool=pool)
        # Connect now (on a cluster: to every primary, as operations on random keys may go to
        # any of them): the handshake is not part of any measurement.
        if backend.cluster:
            self.client.ping(target_nodes=RedisCluster.PRIMARIES)
        else:
            self.client.ping()

    def __call__(self, operation: Callable[[], Any]) -> int:
        """Round trips of ``operation`` once warm (scripts loaded, connections open)."""
        operation()
        self.sent = 0
        operation()
        return self.sent


@pytest.fixture
def round_trips(backend: Backend) -> Iterator[RoundTrips]:
    counter = RoundTrips(backend)
    yield counter
    counter.client.close()
