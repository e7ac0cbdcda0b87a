"""Pieces shared by the patterns' Lua scripts and key names."""

from __future__ import annotations

#: Lua prologue: ``now`` is the server's clock in microseconds, so every caller of a script
#: shares one clock however far apart their own clocks drift. Integers stay exact in a Lua
#: double up to 2**53, far beyond any microsecond timestamp.
SERVER_NOW_US = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
"""

#: Delete KEYS[1] only while it still holds ARGV[1]: releasing a lock or a fill lease must
#: never delete one that expired and was taken by somebody else.
DELETE_IF_EQUAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def tagged(prefix: str, name: str) -> str:
    """``prefix{name}``: keys derived from it by a suffix share one Redis Cluster slot."""
    return f"{prefix}{{{name}}}"


def to_ms(seconds: float) -> int:
    """Redis expiries are whole milliseconds; never round a positive duration down to zero."""
    return max(1, int(round(seconds * 1000)))
