"""Live fixtures: a throwaway redis-server on a free loopback port, and round-trip counting.

Set ``REDIS_URL`` (loopback only) to run against your own server instead; keys are then
namespaced per test and deleted afterwards, and restart tests are skipped.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Iterator

import pytest
import redis

# The throwaway server lives in tests/redis_server.py, shared with tests/test_live_harm.py;
# importing its fixture here registers it for this folder.
from redis_server import redis_server  # noqa: F401


@pytest.fixture
def name(redis_server: Any) -> Iterator[str]:
    """A name unique to this test; every key containing it is deleted afterwards."""
    unique = f"t{uuid.uuid4().hex[:12]}"
    yield unique
    try:
        cleaner = redis.Redis.from_url(redis_server.url)
        for key in cleaner.scan_iter(match=f"*{unique}*", count=1000):
            cleaner.delete(key)
    except redis.ConnectionError:
        pass


@pytest.fixture(params=["bytes", "text"])
def r(request: Any, redis_server: Any) -> Iterator[redis.Redis]:
    """A client, both with raw byte replies and with ``decode_responses=True``."""
    client = redis.Redis.from_url(redis_server.url, decode_responses=request.param == "text")
    yield client
    client.close()


@pytest.fixture
def rb(redis_server: Any) -> Iterator[redis.Redis]:
    """A byte-reply client, for tests that need not run in both reply modes."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


class RoundTrips:
    """Counts the writes a client sends: one per command, one per pipeline."""

    def __init__(self, url: str) -> None:
        counter = self

        class CountingConnection(redis.Connection):
            def send_packed_command(self, command: Any, check_health: bool = True) -> None:
                counter.sent += 1
                super().send_packed_command(command, check_health)

        self.sent = 0
        pool = redis.ConnectionPool.from_url(url, connection_class=CountingConnection)
        self.client = redis.Redis(connection_pool=pool)
        self.client.ping()  # connect now: the handshake is not part of any measurement

    def __call__(self, operation: Callable[[], Any]) -> int:
        """Round trips of ``operation`` once warm (scripts loaded, connection open)."""
        operation()
        self.sent = 0
        operation()
        return self.sent


@pytest.fixture
def round_trips(redis_server: Any) -> Iterator[RoundTrips]:
    counter = RoundTrips(redis_server.url)
    yield counter
    counter.client.close()
