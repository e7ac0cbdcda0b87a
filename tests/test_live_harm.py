"""Live proof: a rule's INVALID example, run against a real throwaway redis-server, does the
harm the rule describes, and its VALID twin does not.

Each test takes the example *source* from the rule itself (so the proof and the docs cannot
drift apart), checks that the rule flags the INVALID example and not the VALID one, then runs
both programs with `redis.Redis()` pointed at the test server and inspects the server. One test
per rule, named `test_<code>_...`.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Dict, Iterator

import pytest
import redis

from redis_server import redis_server  # noqa: F401 - registers the fixture
from redislint.config import Settings
from redislint.linter import lint_source
from redislint.registry import by_code


class _Crash(redis.ConnectionError):
    """The process (or its connection) died: nothing more reaches the server."""


class Sends:
    """A connection pool on the test server that counts the commands it sends and can "crash"
    after a given number of them: every later send fails, retries included."""

    def __init__(self, url: str) -> None:
        counter = self
        self.sent = 0
        self.crash_after: Any = None

        class Connection(redis.Connection):
            def send_packed_command(self, command: Any, check_health: bool = True) -> None:
                if counter.crash_after is not None and counter.sent >= counter.crash_after:
                    raise _Crash("connection lost")
                counter.sent += 1
                super().send_packed_command(command, check_health)

        self.pool = redis.ConnectionPool.from_url(url, connection_class=Connection)
        self.arm()

    def arm(self, crash_after: Any = None) -> None:
        """Start counting from zero (and crash after `crash_after` sends). The connection is
        (re)opened first: its handshake is not part of any count."""
        self.crash_after = None
        redis.Redis(connection_pool=self.pool).ping()
        self.sent = 0
        self.crash_after = crash_after


@pytest.fixture
def sends(redis_server: Any) -> Iterator[Sends]:
    counter = Sends(redis_server.url)
    yield counter
    counter.pool.disconnect()


@pytest.fixture
def unique(redis_server: Any) -> Iterator[str]:
    """A name for this test's keys; every key containing it is deleted afterwards."""
    name = f"harm{uuid.uuid4().hex[:10]}"
    yield name
    cleaner = redis.Redis.from_url(redis_server.url)
    for key in cleaner.scan_iter(match=f"*{name}*", count=1000):
        cleaner.delete(key)
    cleaner.close()


@pytest.fixture
def inspect(redis_server: Any) -> Iterator[redis.Redis]:
    """A plain client to look at the server with (never counted, never crashed)."""
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    client.close()


def _example(code: str, kind: str, index: int) -> str:
    return getattr(by_code()[code], kind)[index].code


def _flagged(code: str, source: str) -> list:
    return [f.code for f in lint_source(source.encode(), "example.py", Settings(), [by_code()[code]])]


def _run(source: str, sends: Sends, monkeypatch: pytest.MonkeyPatch) -> Dict[str, Callable]:
    """Execute an example program whose `redis.Redis()` talks to the test server."""
    pool = sends.pool

    class Redis(redis.Redis):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(connection_pool=pool)

    monkeypatch.setattr(redis, "Redis", Redis)
    namespace: Dict[str, Any] = {"__name__": "example"}
    exec(compile(source, "example.py", "exec"), namespace)  # noqa: S102 - our own examples
    return namespace


def test_rl205_queued_commands_never_reach_the_server(sends, unique, inspect, monkeypatch):
    invalid = _example("RL205", "INVALID", 0)  # `with r.pipeline() as p:` without execute()
    after_block = _example("RL205", "INVALID", 3)  # execute() after the `with` block
    valid = _example("RL205", "VALID", 0)
    assert _flagged("RL205", invalid) == ["RL205"]
    assert _flagged("RL205", after_block) == ["RL205"]
    assert _flagged("RL205", valid) == []

    # The harm: both commands are queued, no error is raised, and nothing is ever sent.
    sends.arm()
    assert _run(invalid, sends, monkeypatch)["save"](unique, "v1") is None
    assert sends.sent == 0
    assert inspect.get(f"user:{unique}") is None

    # `execute()` after the block runs the pipeline the block has already reset: it sends
    # nothing and returns no replies.
    sends.arm()
    assert _run(after_block, sends, monkeypatch)["save"](unique, "v2") == []
    assert sends.sent == 0
    assert inspect.get(f"user:{unique}") is None

    # The twin: one round trip, the value and its TTL are there.
    sends.arm()
    _run(valid, sends, monkeypatch)["save"](unique, "v3")
    assert sends.sent == 1
    assert inspect.get(f"user:{unique}") == "v3"
    assert 0 < inspect.ttl(f"user:{unique}") <= 60


def test_rl201_crash_between_incr_and_expire_leaves_an_immortal_counter(
        sends, unique, inspect, monkeypatch):
    invalid = _example("RL201", "INVALID", 0)  # n = r.incr(key); if n == 1: r.expire(key, 60)
    valid = _example("RL201", "VALID", 0)  # incr + expire in one transaction pipeline
    assert _flagged("RL201", invalid) == ["RL201"]
    assert _flagged("RL201", valid) == []

    # Crash after each possible number of round trips; look at what the server keeps.
    def outcomes(hit: Callable, key: str, steps: int) -> list:
        found = []
        for crash_after in range(steps + 1):
            inspect.delete(key)
            sends.arm(crash_after)
            try:
                hit()
            except _Crash:
                pass
            found.append(inspect.ttl(key))  # -2: no key, -1: no TTL, > 0: expires
        sends.arm()
        return found

    hit_invalid = _run(invalid, sends, monkeypatch)["hit"]
    ttls = outcomes(lambda: hit_invalid(unique), f"rate:{unique}", steps=2)
    # Crash after the INCR, before the EXPIRE: the counter exists with no TTL. A rate limiter
    # keyed on it never resets again.
    assert ttls[1] == -1
    assert ttls[0] == -2 and 0 < ttls[2] <= 60

    hit_valid = _run(valid, sends, monkeypatch)["hit"]
    key = f"rate:{unique}:tx"
    ttls = outcomes(lambda: hit_valid(key), key, steps=1)
    # MULTI/EXEC goes in one round trip: a crash leaves either nothing or a counter that
    # expires, never one without a TTL.
    assert -1 not in ttls
    assert ttls[0] == -2 and 0 < ttls[1] <= 60


def _run_with_options(source: str, url: str, monkeypatch: pytest.MonkeyPatch,
                      made: list) -> Dict[str, Any]:
    """Execute an example program whose `redis.Redis(...)` talks to the test server and keeps
    the options the example passes (`decode_responses=True` is the point of RL605's twin);
    the clients it builds are appended to `made`."""
    from urllib.parse import urlparse

    where = urlparse(url)

    class Redis(redis.Redis):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.update(host=where.hostname, port=where.port, db=int(where.path[1:] or 0))
            super().__init__(**kwargs)
            made.append(self)

    with monkeypatch.context() as patch:
        patch.setattr(redis, "Redis", Redis)
        namespace: Dict[str, Any] = {"__name__": "example"}
        exec(compile(source, "example.py", "exec"), namespace)  # noqa: S102 - our own examples
    return namespace


def test_rl605_bytes_reply_never_equals_a_str(redis_server, monkeypatch):
    rule = by_code()["RL605"]
    invalid = _example("RL605", "INVALID", 0)  # r = redis.Redis(); r.get("feature:beta") == "on"
    valid = _example("RL605", "VALID", 0)  # the same with redis.Redis(decode_responses=True)
    fixed = rule.INVALID[0].expected_fix  # its unsafe fix: == b"on"
    assert _flagged("RL605", invalid) == ["RL605"]
    assert _flagged("RL605", valid) == []
    assert _flagged("RL605", fixed) == []

    key = "feature:beta"  # the examples' own key: saved and restored around the test
    raw = redis.Redis.from_url(redis_server.url)
    saved = raw.dump(key)
    made: list = []
    try:
        raw.set(key, "on")
        # The harm: the flag is on, the client reads it back, and the comparison says no.
        program = _run_with_options(invalid, redis_server.url, monkeypatch, made)
        assert program["r"].get(key) == b"on"
        assert program["beta"]() is False

        # The twin: the same comparison on a decoding client sees the flag.
        program = _run_with_options(valid, redis_server.url, monkeypatch, made)
        assert program["r"].get(key) == "on"
        assert program["beta"]() is True
        # And so does the fixed code, comparing bytes with bytes.
        assert _run_with_options(fixed, redis_server.url, monkeypatch, made)["beta"]() is True
    finally:
        raw.delete(key)
        if saved is not None:
            raw.restore(key, 0, saved)
        for client in made + [raw]:
            client.close()
