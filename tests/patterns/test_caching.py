from __future__ import annotations

import threading
import time

import pytest

from redislint.patterns.caching import CacheAside, CacheWarmer, WriteThrough


class Loader:
    """A thread-safe loader that counts its calls and can be made slow."""

    def __init__(self, value, delay=0.0):
        self.value, self.delay, self.calls = value, delay, 0
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            self.calls += 1
        time.sleep(self.delay)
        return self.value


def test_miss_then_hit_returns_json_round_tripped_value(r, name):
    cache = CacheAside(r, ttl=30)
    loader = Loader({"user": 1, "tags": ["a", "b"]})
    assert cache.get(name, loader) == {"user": 1, "tags": ["a", "b"]}
    assert cache.get(name, loader) == {"user": 1, "tags": ["a", "b"]}
    assert loader.calls == 1
    assert r.get(f"cache:{{{name}}}") in (b'{"user":1,"tags":["a","b"]}', '{"user":1,"tags":["a","b"]}')


@pytest.mark.parametrize("empty", [None, [], "", 0, {}])
def test_cached_none_or_empty_is_a_hit(rb, name, empty):
    cache = CacheAside(rb, ttl=30)
    loader = Loader(empty)
    assert cache.get(name, loader) == empty
    assert cache.get(name, loader) == empty
    assert loader.calls == 1


def test_miss_storm_runs_loader_once(rb, name):
    cache = CacheAside(rb, ttl=30)
    loader = Loader("expensive", delay=0.3)
    barrier = threading.Barrier(50)
    results = []

    def reader():
        barrier.wait()
        results.append(cache.get(name, loader))

    threads = [threading.Thread(target=reader) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loader.calls == 1
    assert results == ["expensive"] * 50


def test_value_loaded_before_invalidate_is_not_written_back(rb, name):
    cache = CacheAside(rb, ttl=30)
    database = {"price": 1}
    loaded, release = threading.Event(), threading.Event()

    def slow_loader():
        value = database["price"]
        loaded.set()
        release.wait(5)
        return value

    reader = threading.Thread(target=lambda: cache.get(name, slow_loader))
    reader.start()
    assert loaded.wait(5)
    database["price"] = 2  # the write happens after the reader loaded the old price
    cache.invalidate(name)
    release.set()
    reader.join(5)
    assert rb.get(f"cache:{{{name}}}") is None  # the stale 1 was dropped
    assert cache.get(name, lambda: database["price"]) == 2


def test_loader_error_releases_the_lease(rb, name):
    cache = CacheAside(rb, ttl=30, lease_timeout=30)

    def broken():
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        cache.get(name, broken)
    started = time.monotonic()
    assert cache.get(name, Loader("ok")) == "ok"
    assert time.monotonic() - started < 1  # no wait for the 30 s lease


def test_ttl_is_jittered_within_bounds(rb, name):
    cache = CacheAside(rb, ttl=100, jitter=0.2)
    for index in range(40):
        cache.get(f"{name}:{index}", Loader(index))
    ttls = [rb.pttl(f"cache:{{{name}:{index}}}") for index in range(40)]
    assert all(80_000 - 50 <= ttl <= 100_000 for ttl in ttls)
    assert max(ttls) - min(ttls) > 2_000  # spread out, not all identical


def test_every_key_has_a_ttl(rb, name):
    cache = CacheAside(rb, ttl=30, lease_timeout=5)
    holder = threading.Event()
    thread = threading.Thread(
        target=lambda: cache.get(name, lambda: holder.wait(5) and "v")
    )
    thread.start()
    time.sleep(0.1)
    assert 0 < rb.pttl(f"cache:{{{name}}}:lease") <= 5000
    holder.set()
    thread.join()
    assert 0 < rb.pttl(f"cache:{{{name}}}") <= 30_000


def test_round_trips(round_trips, name):
    cache = CacheAside(round_trips.client, ttl=30)
    cache.get(name, Loader(1))
    assert round_trips(lambda: cache.get(name, Loader(1))) == 1  # hit
    assert round_trips(lambda: (cache.invalidate(name), cache.get(name, Loader(1)))) == 3
    assert round_trips(lambda: cache.set(name, 2)) == 1
    assert round_trips(lambda: cache.invalidate(name)) == 1


def test_write_through_persists_first_and_caches(r, name):
    store = {}
    cache = WriteThrough(r, lambda key, value: store.__setitem__(key, value), ttl=30)
    cache.write(name, {"v": 1})
    assert store[name] == {"v": 1}
    assert cache.read(name, Loader("unused")) == {"v": 1}


def test_write_through_failed_persist_leaves_cache_untouched(rb, name):
    def failing(key, value):
        raise IOError("disk full")

    cache = WriteThrough(rb, failing, ttl=30)
    cache.cache.set(name, "old")
    with pytest.raises(IOError):
        cache.write(name, "new")
    assert cache.read(name, Loader("loaded")) == "old"


def test_write_cancels_an_older_fill_in_progress(rb, name):
    store = {name: "v1"}
    cache = WriteThrough(rb, store.__setitem__, ttl=30)
    loaded, release = threading.Event(), threading.Event()

    def slow_loader():
        value = store[name]
        loaded.set()
        release.wait(5)
        return value

    reader = threading.Thread(target=lambda: cache.read(name, slow_loader))
    reader.start()
    assert loaded.wait(5)
    cache.write(name, "v2")
    release.set()
    reader.join(5)
    assert cache.read(name, Loader("unused")) == "v2"


def test_warmer_warms_and_refreshes(rb, backend, name, round_trips):
    cache = CacheAside(rb, ttl=30)
    source = {"a": 1}
    loaders = {f"{name}:a": lambda: source["a"], f"{name}:b": lambda: "b"}
    warmer = CacheWarmer(cache, loaders, refresh_every=0.05)
    assert warmer.warm() == 2
    assert cache.get(f"{name}:b", Loader("cold")) == "b"
    source["a"] = 2
    warmer.start()
    try:
        deadline = time.monotonic() + 3
        while cache.get(f"{name}:a", Loader("cold")) != 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        warmer.stop()
    assert cache.get(f"{name}:a", Loader("cold")) == 2
    counted = CacheWarmer(CacheAside(round_trips.client, ttl=30), loaders, refresh_every=1)
    # Every key in one pipeline: one round trip per server (per primary holding a key).
    keys = [f"cache:{{{key}}}" for key in loaders]
    assert round_trips(counted.warm) == backend.primaries_of(keys)


def test_warmer_skips_failing_loader(rb, name):
    def broken():
        raise RuntimeError("source down")

    warmer = CacheWarmer(
        CacheAside(rb, ttl=30), {f"{name}:ok": lambda: 1, f"{name}:bad": broken}, refresh_every=1
    )
    assert warmer.warm() == 1
    assert rb.exists(f"cache:{{{name}:ok}}") == 1
    assert rb.exists(f"cache:{{{name}:bad}}") == 0
