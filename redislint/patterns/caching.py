"""Caching: cache-aside with stampede protection, write-through, and cache warming.

When
    Reads repeat far more often than the data changes, and a slightly stale value for at most
    ``ttl`` seconds is acceptable. Warming: a few hot keys must never be cold (after a deploy or a
    flush), or loading them is slow enough that no user should ever wait for it.

How
    ``CacheAside.get`` runs one script that either returns the cached JSON value or grants the
    caller a short *fill lease* (``SET NX PX``). Only the lease holder runs ``loader``; everybody
    else backs off with jitter and asks again, so a miss storm of any size runs the loader once.
    The value is written back by a second script only while the lease is still the caller's.
    ``invalidate`` deletes the value *and* the lease, so a value loaded before a concurrent
    invalidation is dropped instead of being written back stale. TTLs are jittered downwards so
    keys filled together do not expire together. ``WriteThrough.write`` persists first and
    caches second; ``CacheWarmer`` loads every key and stores them in one pipeline, then repeats
    every ``refresh_every`` seconds in a background thread (``start``/``stop``).

Benefits
    One round trip per hit; two per miss (lease, then fill). ``None`` and empty values are
    cached like any other (stored as JSON ``null``), so an absent row is not re-queried on every
    read. Values are JSON, readable by any language.

Drawbacks
    Waiters poll while the lease holder loads (bounded by ``lease_timeout``: if a loader runs
    longer, a second caller takes over). Two ``WriteThrough.write`` calls racing on one key can
    persist in one order and cache in the other; use ``CacheAside`` with ``invalidate`` after the
    write when that matters. A warmed key whose loader keeps failing simply ages out.

Keys and hash tags
    ``cache:{key}`` holds the value and ``cache:{key}:lease`` the fill lease. The scripts touch
    both atomically, so they share the ``{key}`` hash tag and live in one Cluster slot; different
    keys hash apart, so a cache spreads over every primary. ``set_many`` (and so
    ``CacheWarmer.warm``) needs no atomicity across keys: its pipeline is not a transaction and
    may span slots, costing one round trip per primary involved on a cluster.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from typing import Any, Callable, Mapping

from ._background import Background
from ._codec import dumps, loads
from ._scripts import DELETE_IF_EQUAL, tagged, to_ms

log = logging.getLogger(__name__)

_HIT, _LEASED = 1, 0


class CacheAside:
    """Read through Redis; on a miss exactly one caller runs the loader."""

    # One round trip for hits and misses alike: the value, or the fill lease, or "wait".
    _GET_OR_LEASE = """
    local value = redis.call('GET', KEYS[1])
    if value then return {1, value} end
    if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0} end
    return {2}
    """

    # Write back only while the lease is still ours: invalidate() deletes it.
    _FILL = """
    if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
    redis.call('DEL', KEYS[2])
    return 1
    """

    def __init__(
        self,
        client: Any,
        *,
        ttl: float,
        prefix: str = "cache:",
        jitter: float = 0.1,
        lease_timeout: float = 10.0,
    ) -> None:
        if ttl <= 0 or not 0 <= jitter < 1:
            raise ValueError("ttl must be positive and jitter in [0, 1)")
        self.client = client
        self.ttl = ttl
        self.prefix = prefix
        self.jitter = jitter
        self.lease_timeout = lease_timeout
        self._get_or_lease = client.register_script(self._GET_OR_LEASE)
        self._fill = client.register_script(self._FILL)
        self._drop_lease = client.register_script(DELETE_IF_EQUAL)

    def get(self, key: str, loader: Callable[[], Any]) -> Any:
        """The cached value of ``key``, loading and caching it on a miss."""
        keys = self._keys(key)
        token = secrets.token_hex(16)
        delay = 0.005
        while True:
            reply = self._get_or_lease(keys=keys, args=[token, to_ms(self.lease_timeout)])
            if int(reply[0]) == _HIT:
                return loads(reply[1])
            if int(reply[0]) == _LEASED:
                return self._load(keys, token, loader)
            time.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, 0.1)

    def invalidate(self, key: str) -> None:
        """Drop the value and any fill in progress, whose load may predate the change."""
        self.client.delete(*self._keys(key))

    def set(self, key: str, value: Any) -> None:
        """Cache a value known to be current, cancelling any fill in progress."""
        self.set_many({key: value})

    def set_many(self, values: Mapping[str, Any]) -> None:
        """Cache several current values in one round trip.

        Each lease is deleted before its value is written, so a fill that started earlier can
        no longer overwrite the newer value; the order alone makes this safe, so the pipeline
        needs no MULTI and may span Cluster slots.
        """
        pipe = self.client.pipeline(transaction=False)
        for key, value in values.items():
            value_key, lease_key = self._keys(key)
            pipe.delete(lease_key)
            pipe.set(value_key, dumps(value), px=self.ttl_ms())
        pipe.execute()

    def ttl_ms(self) -> int:
        """The TTL for one write, shortened by up to ``jitter`` so keys expire spread out."""
        return to_ms(self.ttl * (1 - self.jitter * random.random()))

    def _load(self, keys: list[str], token: str, loader: Callable[[], Any]) -> Any:
        try:
            value = loader()
        except BaseException:
            self._drop_lease(keys=keys[1:], args=[token])
            raise
        self._fill(keys=keys, args=[token, dumps(value), self.ttl_ms()])
        return value

    def _keys(self, key: str) -> list[str]:
        value_key = tagged(self.prefix, key)
        return [value_key, value_key + ":lease"]


class WriteThrough:
    """Write to the system of record, then to the cache; read like :class:`CacheAside`."""

    def __init__(
        self,
        client: Any,
        persist: Callable[[str, Any], Any],
        *,
        ttl: float,
        prefix: str = "cache:",
        **cache_options: Any,
    ) -> None:
        self.persist = persist
        self.cache = CacheAside(client, ttl=ttl, prefix=prefix, **cache_options)

    def write(self, key: str, value: Any) -> None:
        """Persist ``value``; only once that succeeded, cache it (an exception leaves the cache)."""
        self.persist(key, value)
        self.cache.set(key, value)

    def read(self, key: str, loader: Callable[[], Any]) -> Any:
        return self.cache.get(key, loader)


class CacheWarmer(Background):
    """Keep chosen keys loaded, refreshing them before their TTL runs out."""

    thread_name = "cache-warmer"

    def __init__(
        self,
        cache: CacheAside,
        loaders: Mapping[str, Callable[[], Any]],
        *,
        refresh_every: float,
    ) -> None:
        if refresh_every >= cache.ttl * (1 - cache.jitter):
            log.warning("refresh_every >= the cache TTL: warmed keys will expire between refreshes")
        self.cache = cache
        self.loaders = dict(loaders)
        self.refresh_every = refresh_every
        super().__init__()

    def warm(self) -> int:
        """Load every key and cache them in one round trip; return how many were warmed.

        A loader that raises is logged and skipped, so one broken source never blocks the rest.
        """
        values = {}
        for key, loader in self.loaders.items():
            try:
                values[key] = loader()
            except Exception:
                log.exception("cache warmer: loader for %r failed", key)
        if values:
            self.cache.set_many(values)
        return len(values)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.warm()
            except Exception:  # Redis down: keep the thread alive and try again next period
                log.exception("cache warmer: refresh failed")
            self._stop.wait(self.refresh_every)
