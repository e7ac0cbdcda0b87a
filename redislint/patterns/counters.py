"""Counters: per-window counts (hits per minute, errors per hour) kept for a retention period.

When
    Metrics and quotas that ask "how many in this minute / the last N minutes" without a
    time-series database.

How
    One hash per counter; each field is a window number (server time divided by ``window``),
    each value that window's count. ``incr`` and the reads are scripts that take the time from
    the Redis server, so all app servers agree on window boundaries. ``incr`` drops fields older
    than ``retention`` once there are more than it keeps, and refreshes the key's TTL, so an
    idle counter disappears by itself.

Benefits
    One round trip per increment or read, atomic ``HINCRBY``, memory bounded by
    ``retention / window`` fields.

Drawbacks
    Aligned windows: ``count`` is the current, partial window, not a sliding one (sum several
    with ``total``). Windows without any increment read as 0 even before the counter existed.
    Windows follow the clock of the server holding the counter, which a failover replaces by
    its replica's: keep server clocks synchronised.

Keys and hash tags
    One key per counter, ``counter:{name}``: all its windows are fields of that one hash, so
    nothing must share a slot, and counters spread over a cluster by name.
"""

from __future__ import annotations

import math
from typing import Any

from ._scripts import SERVER_NOW_US, tagged, to_ms

class WindowedCounter:
    """Counts per ``window`` seconds, keeping ``retention`` seconds of history."""

    # Both scripts start by finding the current window number from the server clock.
    _CURRENT_WINDOW = SERVER_NOW_US + """
    local window = tonumber(ARGV[1])
    local current = math.floor(now / window)
    """

    _INCR = _CURRENT_WINDOW + """
    local value = redis.call('HINCRBY', KEYS[1], string.format('%.0f', current), ARGV[2])
    local keep = tonumber(ARGV[3])
    if redis.call('HLEN', KEYS[1]) > keep then
        for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
            if tonumber(field) <= current - keep then redis.call('HDEL', KEYS[1], field) end
        end
    end
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
    return value
    """

    _TOTAL = _CURRENT_WINDOW + """
    local fields = {}
    for back = 0, tonumber(ARGV[2]) - 1 do
        fields[#fields + 1] = string.format('%.0f', current - back)
    end
    local total = 0
    for _, value in ipairs(redis.call('HMGET', KEYS[1], unpack(fields))) do
        total = total + (tonumber(value) or 0)
    end
    return total
    """

    def __init__(
        self,
        client: Any,
        name: str,
        *,
        window: float,
        retention: float,
        prefix: str = "counter:",
    ) -> None:
        if retention < window:
            raise ValueError("retention must cover at least one window")
        self.client = client
        self.key = tagged(prefix, name)
        self.window = window
        #: How many windows are kept, the current one included.
        self.windows = math.ceil(retention / window)
        self._window_us = round(window * 1e6)
        self._incr = client.register_script(self._INCR)
        self._total = client.register_script(self._TOTAL)

    def incr(self, amount: int = 1) -> int:
        """Add ``amount`` to the current window; returns that window's new count."""
        ttl = to_ms(self.windows * self.window)
        return int(self._incr(keys=[self.key], args=[self._window_us, amount, self.windows, ttl]))

    def count(self) -> int:
        """The current window's count."""
        return self.total(1)

    def total(self, last_n: int) -> int:
        """The sum of the last ``last_n`` windows, the current one included."""
        if not 1 <= last_n <= self.windows:
            raise ValueError(f"last_n must be between 1 and the {self.windows} windows kept")
        return int(self._total(keys=[self.key], args=[self._window_us, last_n]))
