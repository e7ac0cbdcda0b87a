"""Scripts survive SCRIPT FLUSH, and a Redis restart is survived or fails with a clear error."""

from __future__ import annotations

import pytest
import redis

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
def test_scripts_survive_script_flush(rb, name, operation):
    run = scripted_operations(rb, name)[operation]
    assert run()
    rb.script_flush()
    assert run()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_patterns_survive_a_server_restart(redis_server, name, operation):
    client = redis.Redis.from_url(redis_server.url)
    run = scripted_operations(client, name)[operation]
    assert run()
    redis_server.restart()  # data and script cache gone, connections dropped
    assert run()


def test_a_stopped_server_fails_with_a_connection_error(redis_server, name):
    if not redis_server.restartable:
        pytest.skip("cannot stop the server given by REDIS_URL")
    client = redis.Redis.from_url(redis_server.url, socket_connect_timeout=1)
    lock = Lock(client, name, timeout=5)
    redis_server.stop()
    try:
        with pytest.raises(redis.ConnectionError):
            lock.acquire(blocking=False)
    finally:
        redis_server.start()
    assert lock.acquire(blocking=False)
