"""Rate limiting: fixed window, sliding window log, token bucket and GCRA leaky bucket.

When
    Protect an API, a login form or a downstream service from bursts and abuse, with one limit
    shared by every app server.

How
    Each algorithm is one Lua script over one key per identity. The script reads the server
    clock (``redis.call('TIME')``), so app servers with skewed clocks still agree, then decides
    and records the request atomically: concurrent callers can never both take the last slot.
    Every call returns ``Decision(allowed, remaining, retry_after)``, ``retry_after`` in seconds
    (0 when allowed) being exactly when the same request would succeed.

    * ``FixedWindow``: a counter per aligned window. Cheapest; allows up to twice the limit
      across a window boundary.
    * ``SlidingWindow``: a sorted-set log of admitted requests. Exact; memory grows with
      ``limit``.
    * ``TokenBucket``: ``capacity`` tokens refilled continuously. Allows bursts, then a
      steady rate.
    * ``LeakyBucket``: the Generic Cell Rate Algorithm, one timestamp per identity. Smooth
      rate with ``burst`` requests of tolerance, in constant memory.

Benefits
    One round trip per decision, atomic under any concurrency, and keys expire as soon as they
    no longer matter.

Drawbacks
    A Redis round trip on every request (use a local pre-filter for very hot paths); a
    Redis outage needs an explicit fail-open or fail-closed decision by the caller. The clock
    is that of the server holding the identity's key: a failover (Sentinel or Cluster) hands it
    to the replica's machine, so keep the servers' clocks synchronised (NTP), or a jump shifts
    windows and refills.

Keys and hash tags
    One key per limiter and identity, ``ratelimit:<algorithm>:{identity}``, and each script
    touches that key only: no multi-key step, so nothing must share a slot. The identity is the
    tag, so identities spread over a cluster, while the limiters of one identity (one per
    algorithm or prefix) sit together on its primary.
"""

from __future__ import annotations

import secrets
from typing import Any, NamedTuple

from ._scripts import SERVER_NOW_US, tagged


class Decision(NamedTuple):
    allowed: bool
    remaining: int
    retry_after: float


class _Limiter:
    """Runs one algorithm's script; subclasses supply the script and its arguments."""

    _SCRIPT = ""
    _ALGORITHM = ""

    def __init__(self, client: Any, most: int, prefix: str | None) -> None:
        self.client = client
        self.most = most
        self.prefix = prefix if prefix is not None else f"ratelimit:{self._ALGORITHM}:"
        self._script = client.register_script(self._SCRIPT)

    def allow(self, identity: str, cost: int = 1) -> Decision:
        """Admit ``cost`` units for ``identity``, or say how long to wait."""
        if not 0 < cost <= self.most:
            raise ValueError(f"cost must be between 1 and {self.most}")
        keys = [tagged(self.prefix, identity)]
        allowed, remaining, wait_us = self._script(keys=keys, args=[cost, *self._args()])
        return Decision(bool(allowed), int(remaining), int(wait_us) / 1e6)

    def _args(self) -> list[Any]:
        raise NotImplementedError


class FixedWindow(_Limiter):
    """At most ``limit`` units per aligned window of ``window`` seconds."""

    _ALGORITHM = "fixed"
    _SCRIPT = SERVER_NOW_US + """
    local cost, limit, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
    local current = math.floor(now / window)
    local state = redis.call('HMGET', KEYS[1], 'window', 'used')
    local used = 0
    if tonumber(state[1]) == current then used = tonumber(state[2]) end
    local reset_at = (current + 1) * window
    if used + cost > limit then return {0, limit - used, reset_at - now} end
    redis.call('HSET', KEYS[1], 'window', string.format('%.0f', current), 'used', used + cost)
    redis.call('PEXPIRE', KEYS[1], math.ceil((reset_at - now) / 1000))
    return {1, limit - used - cost, 0}
    """

    def __init__(self, client: Any, *, limit: int, window: float, prefix: str | None = None):
        super().__init__(client, limit, prefix)
        self.limit, self.window = limit, window

    def _args(self) -> list[Any]:
        return [self.limit, round(self.window * 1e6)]


class SlidingWindow(_Limiter):
    """At most ``limit`` units in any ``window`` seconds, exactly."""

    _ALGORITHM = "sliding"
    # One member per admitted unit, scored by admission time; ARGV[4] keeps members unique.
    _SCRIPT = SERVER_NOW_US + """
    local cost, limit, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
    local used = redis.call('ZCARD', KEYS[1])
    if used + cost > limit then
        local freeing = used + cost - limit - 1
        local entry = redis.call('ZRANGE', KEYS[1], freeing, freeing, 'WITHSCORES')
        return {0, limit - used, tonumber(entry[2]) + window - now}
    end
    for unit = 1, cost do
        redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[4] .. ':' .. unit)
    end
    redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
    return {1, limit - used - cost, 0}
    """

    def __init__(self, client: Any, *, limit: int, window: float, prefix: str | None = None):
        super().__init__(client, limit, prefix)
        self.limit, self.window = limit, window

    def _args(self) -> list[Any]:
        return [self.limit, round(self.window * 1e6), secrets.token_hex(8)]


class TokenBucket(_Limiter):
    """Bursts of up to ``capacity`` units, refilled at ``refill_per_second``."""

    _ALGORITHM = "token"
    # A missing key is a full bucket; the key lives until the bucket would be full again.
    _SCRIPT = SERVER_NOW_US + """
    local cost, capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
    local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
    local tokens = tonumber(state[1]) or capacity
    local at = tonumber(state[2]) or now
    tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
    local allowed = tokens >= cost
    if allowed then tokens = tokens - cost end
    redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
               'at', string.format('%.0f', now))
    redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate / 1000) + 1)
    if allowed then return {1, math.floor(tokens), 0} end
    return {0, math.floor(tokens), math.ceil((cost - tokens) / rate)}
    """

    def __init__(
        self, client: Any, *, capacity: int, refill_per_second: float, prefix: str | None = None
    ):
        super().__init__(client, capacity, prefix)
        self.capacity, self.refill_per_second = capacity, refill_per_second

    def _args(self) -> list[Any]:
        return [self.capacity, repr(self.refill_per_second / 1e6)]


class LeakyBucket(_Limiter):
    """A steady ``rate`` per second with ``burst`` units of tolerance (GCRA)."""

    _ALGORITHM = "gcra"
    # The key holds the theoretical arrival time (TAT) of the next request, in microseconds.
    _SCRIPT = SERVER_NOW_US + """
    local cost, interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
    local tat = math.max(tonumber(redis.call('GET', KEYS[1])) or now, now)
    local next_tat = tat + cost * interval
    local allow_at = next_tat - tolerance
    if now < allow_at then
        return {0, math.floor((now + tolerance - tat) / interval), math.ceil(allow_at - now)}
    end
    redis.call('SET', KEYS[1], string.format('%.0f', next_tat),
               'PX', math.max(1, math.ceil((next_tat - now) / 1000)))
    return {1, math.floor((now + tolerance - next_tat) / interval), 0}
    """

    def __init__(self, client: Any, *, rate: float, burst: int, prefix: str | None = None):
        super().__init__(client, burst, prefix)
        self.rate, self.burst = rate, burst

    def _args(self) -> list[Any]:
        interval = 1e6 / self.rate
        return [repr(interval), repr(interval * self.burst)]
