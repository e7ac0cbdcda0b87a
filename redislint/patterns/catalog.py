"""The pattern catalogue behind ``redislint patterns``: what each pattern is for, and its code.

``render`` prints the module docstring and the live source of the reference classes (via
:func:`inspect.getsource`), so the explanation can never drift from the code users import.
"""

from __future__ import annotations

import importlib
import inspect
from typing import NamedTuple


class Pattern(NamedTuple):
    slug: str
    title: str
    when: str
    structure: str
    module: str
    objects: tuple[str, ...]


_BASE = __name__.rsplit(".", 1)[0]

PATTERNS: list[Pattern] = [
    Pattern("caching", "Cache-aside and write-through",
            "Reads repeat far more than data changes", "string + fill lease",
            f"{_BASE}.caching", ("CacheAside", "WriteThrough")),
    Pattern("warming", "Cache warming",
            "Hot keys must never be cold or slow to load", "strings, one pipeline",
            f"{_BASE}.caching", ("Background", "CacheWarmer")),
    Pattern("sessions", "Session store",
            "Shared, expiring, revocable user sessions", "hash per session",
            f"{_BASE}.sessions", ("SessionStore",)),
    Pattern("locks", "Distributed lock with fencing",
            "One process at a time in a critical section", "string + counter",
            f"{_BASE}.locks", ("LockError", "LockNotOwnedError", "LockNotAcquiredError", "Lock")),
    Pattern("rate-limiting", "Rate limiters",
            "Cap requests per client across all servers", "hash / sorted set / string",
            f"{_BASE}.ratelimit",
            ("Decision", "_Limiter", "FixedWindow", "SlidingWindow", "TokenBucket", "LeakyBucket")),
    Pattern("pubsub", "Publish / subscribe",
            "Live broadcast where a missed message is harmless", "channels",
            f"{_BASE}.pubsub", ("Publisher", "Background", "Subscriber")),
    Pattern("queues", "Job queues",
            "Hand jobs to workers; reliable: survive worker crashes", "list / sorted set / hash",
            f"{_BASE}.queues", ("FifoQueue", "PriorityQueue", "Delivery", "ReliableQueue")),
    Pattern("leaderboards", "Leaderboard",
            "Rankings read and updated constantly", "sorted set",
            f"{_BASE}.leaderboards", ("Leaderboard",)),
    Pattern("counters", "Windowed counters",
            "Counts per minute/hour with bounded history", "hash of windows",
            f"{_BASE}.counters", ("WindowedCounter",)),
    Pattern("unique", "Unique counting",
            "How many distinct X, exactly or approximately", "set / HyperLogLog",
            f"{_BASE}.unique", ("UniqueTracker",)),
    Pattern("streams", "Event streams with consumer groups",
            "Every event processed by each service, with replay", "stream",
            f"{_BASE}.streams", ("StreamEntry", "EventStream", "StreamConsumer")),
]


def get(slug: str) -> Pattern:
    """The pattern named ``slug``; KeyError if there is none."""
    for pattern in PATTERNS:
        if pattern.slug == slug:
            return pattern
    raise KeyError(slug)


def list_text() -> str:
    """A terminal table of every pattern: name, when to use it, data structure."""
    rows = [("NAME", "WHEN TO USE", "STRUCTURE")]
    rows += [(p.slug, p.when, p.structure) for p in PATTERNS]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() for a, b, c in rows]
    return "\n".join(lines) + "\n"


def render(slug: str) -> str:
    """The pattern's explanation and its reference code, read from the module itself."""
    pattern = get(slug)
    module = importlib.import_module(pattern.module)
    parts = [f"{pattern.title} ({pattern.slug})", "", inspect.cleandoc(module.__doc__ or ""), ""]
    parts.append(f"Reference code: from {pattern.module} import {', '.join(pattern.objects)}")
    for name in pattern.objects:
        parts += ["", inspect.getsource(getattr(module, name)).rstrip()]
    return "\n".join(parts) + "\n"
