"""Scripts survive SCRIPT FLUSH, and a Redis restart is survived or fails with a clear error."""

from __future__ import annotations

import pytest
import redis
from redis.exceptions import RedisClusterException

from redislint.patterns.caching import CacheAside
from redislint.patterns.counters import WindowedCounter
from redislint.patterns.leaderboards import Leaderboard
from redislint.patterns.locks import Lock
from redislint.patterns.queues import PriorityQueue, ReliableQueue
from redislint.patterns.ratelimit import FixedWindow, LeakyBucket, SlidingWindow, TokenBucket
from redislint.patterns.sessions import SessionStore
from redislint.patterns.streams import EventStream, StreamConsumer
from redislint.patterns.unique import UniqueTracker


def scripted_operations(client, name):
    """One operation per scripted pattern; each returns a value that proves it ran."""
    cache = CacheAside(client, ttl=30)
    sessions = SessionStore(client, ttl=30)
    queue = ReliableQueue(client, name, visibility_timeout=30)
    stream = EventStream(client, name, maxlen=100)
    consumer = StreamConsumer(client, stream, "g", "c", claim_idle=30)

    def lock_cycle():
        lock = Lock(client, name, timeout=5)
        assert lock.acquire(blocking=False)
        lock.release()
        return lock.fencing_token

    def queue_cycle():
        queue.push({"job": 1})
        delivery = queue.reserve()
        return queue.ack(delivery)

    def stream_cycle():
        stream.append({"n": 1})
        consumer.read(count=1)
        return consumer.claim_stale() == []

    return {
        "cache": lambda: cache.get(name, lambda: "v") == "v",
        "sessions": lambda: sessions.get(sessions.create({"a": 1})) == {"a": 1},
        "locks": lock_cycle,
        "fixed": lambda: FixedWindow(client, limit=10**6, window=60).allow(name).allowed,
        "sliding": lambda: SlidingWindow(client, limit=10**6, window=60).allow(name).allowed,
        "token": lambda: TokenBucket(client, capacity=10**6, refill_per_second=1).allow(name)
        .allowed,
        "gcra": lambda: LeakyBucket(client, rate=10**6, burst=10).allow(name).allowed,
        "priority": lambda: PriorityQueue(client, name).push("x", 1) is None,
        "reliable": queue_cycle,
        "leaderboard": lambda: Leaderboard(client, name).around("nobody", 2) == [],
        "counter": lambda: WindowedCounter(client, name, window=60, retention=60).incr() > 0,
        "unique": lambda: UniqueTracker(client, name, approximate=True).add("x") >= 0,
        "streams": stream_cycle,
    }


OPERATIONS = [
    "cache", "sessions", "locks", "fixed", "sliding", "token", "gcra", "priority", "reliable",
    "leaderboard", "counter", "unique", "streams",
]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_scripts_survive_script_flush(rb, backend, name, operation):
    run = scripted_operations(rb, name)[operation]
    assert run()
    backend.script_flush()  # on every primary of a cluster
    assert run()


def test_patterns_survive_a_server_restart(backend, name):
    """Every operation has its own client, connected before the restart: each one meets its
    dropped connection (on a cluster: one per node) and the empty script cache afterwards.
    One restart for all of them, since a restarted cluster primary waits 2 s before it serves.
    """
    if not backend.restartable:
        pytest.skip("cannot restart the server given by REDIS_URL")
    clients = {operation: backend.connect() for operation in OPERATIONS}
    runs = {operation: scripted_operations(clients[operation], name)[operation]
            for operation in OPERATIONS}
    try:
        assert [operation for operation, run in runs.items() if not run()] == []
        backend.restart()  # data and script cache gone, connections dropped (every node)
        failed = {}
        for operation, run in runs.items():
            try:
                if not run():
                    failed[operation] = "returned a falsy result"
            except Exception as error:  # noqa: BLE001 - report every operation that failed
                failed[operation] = f"{type(error).__name__}: {error}"
        assert failed == {}
    finally:
        for client in clients.values():
            client.close()


def test_a_stopped_server_fails_with_a_connection_error(backend, name):
    if not backend.restartable:
        pytest.skip("cannot stop the server given by REDIS_URL")
    client = backend.connect(socket_connect_timeout=1)
    lock = Lock(client, name, timeout=5)
    lock.acquire(blocking=False)
    lock.release()  # connected (to every node the lock needs) before the outage
    backend.stop()
    # redis-py's cluster client retries, finds no node to refresh its layout from, and says so.
    expected = (redis.ConnectionError, RedisClusterException) if backend.cluster \
        else redis.ConnectionError
    try:
        with pytest.raises(expected, match="Connection refused|cannot be connected"):
            lock.acquire(blocking=False)
    finally:
        backend.start()
    assert lock.acquire(blocking=False)
    client.close()
