"""Live proof for RL302, RL305 and RL502's fix, against a throwaway redis-server.

The programs are the rules' own examples (so the proof and the docs cannot drift apart), run
with `redis.Redis()` pointed at the test server; the server is inspected afterwards.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Iterator

import pytest
import redis

from redis_server import redis_server  # noqa: F401 - registers the fixture
from redislint.config import Settings
from redislint.linter import lint_source
from redislint.registry import by_code


@pytest.fixture
def server(redis_server: Any) -> Iterator[redis.Redis]:  # noqa: F811 - the fixture above
    client = redis.Redis.from_url(redis_server.url)
    client.delete("report", "report:day1")
    yield client
    client.delete("report", "report:day1")
    client.close()


def _example(code: str, kind: str, index: int):
    return getattr(by_code()[code], kind)[index]


def _flagged(code: str, source: str) -> list:
    return [f.code for f in lint_source(source.encode(), "example.py", Settings(), [by_code()[code]])]


def _run(source: str, url: str, monkeypatch: pytest.MonkeyPatch) -> Dict[str, Any]:
    """Execute an example program whose `redis.Redis()` talks to the test server."""

    class Redis(redis.Redis):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(connection_pool=redis.ConnectionPool.from_url(url))

    monkeypatch.setattr(redis, "Redis", Redis)
    namespace: Dict[str, Any] = {"__name__": "example"}
    exec(compile(source, "example.py", "exec"), namespace)  # noqa: S102 - our own examples
    return namespace


def _calls(server: redis.Redis, command: str) -> int:
    return int(server.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


def test_rl502_loop_costs_a_round_trip_per_key_and_the_mget_fix_one(server, redis_server,
                                                                     monkeypatch):
    example = _example("RL502", "INVALID", 1)  # values = [r.get(k) for k in keys]
    assert _flagged("RL502", example.code) == ["RL502"]
    keys = [f"rt:{n}" for n in range(50)]
    server.mset({key: str(n) for n, key in enumerate(keys)})
    try:
        loop = _run(example.code, redis_server.url, monkeypatch)["load"]
        fixed = _run(example.expected_fix, redis_server.url, monkeypatch)["load"]

        gets, mgets = _calls(server, "get"), _calls(server, "mget")
        assert loop(keys) == [str(n).encode() for n in range(50)]
        assert _calls(server, "get") - gets == 50
        assert fixed(keys) == loop(keys)
        assert _calls(server, "mget") - mgets == 1

        # What makes the fix unsafe: a key of another type. GET raises, MGET answers None.
        server.hset("rt:hash", "f", "v")
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            loop(["rt:0", "rt:hash"])
        assert fixed(["rt:0", "rt:hash"]) == [b"0", None]
        # An empty list: the installed redis-py answers [] for MGET without sending an error.
        assert loop([]) == fixed([]) == []
    finally:
        server.delete(*keys, "rt:hash")


def test_rl305_an_exception_between_acquire_and_release_leaves_the_lock_held(
        server, redis_server, monkeypatch):
    invalid = _example("RL305", "INVALID", 0).code  # acquire(); build(day); release()
    valid = _example("RL305", "VALID", 0).code  # acquire(); try: build() finally: release()
    assert _flagged("RL305", invalid) == ["RL305"]
    assert _flagged("RL305", valid) == []

    # `build` is not defined in the examples: it raises, as real work sometimes does.
    with pytest.raises(NameError):
        _run(invalid, redis_server.url, monkeypatch)["run"]("day1")
    assert server.exists("report:day1") == 1  # held by nobody, for up to its timeout
    assert 0 < server.ttl("report:day1") <= 60
    server.delete("report:day1")

    with pytest.raises(NameError):
        _run(valid, redis_server.url, monkeypatch)["run"]()
    assert server.exists("report") == 0  # the finally released it


def test_rl302_a_blocking_acquire_waits_as_long_as_the_holder(server, redis_server,
                                                               monkeypatch):
    invalid = _example("RL302", "INVALID", 0).code  # lock(timeout=60).acquire()
    valid = _example("RL302", "VALID", 1).code  # lock(timeout=60).acquire(blocking=False)
    assert _flagged("RL302", invalid) == ["RL302"]
    assert _flagged("RL302", valid) == []
    holder = server.lock("report", timeout=60)
    assert holder.acquire(blocking=False)

    waiter = _run(invalid, redis_server.url, monkeypatch)["run"]
    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    thread.join(1.5)
    assert thread.is_alive()  # still waiting: nothing bounds it but the holder
    holder.release()
    thread.join(5)
    assert not thread.is_alive()  # it got the lock once the holder let go
    server.delete("report")

    assert holder.acquire(blocking=False)
    try:
        done = threading.Event()

        def twin() -> None:
            _run(valid, redis_server.url, monkeypatch)["run"]()
            done.set()

        threading.Thread(target=twin, daemon=True).start()
        assert done.wait(2)  # the non-blocking twin returns at once
    finally:
        holder.release()
