"""Unique counting: distinct visitors, ids or events, exactly (a set) or approximately (HyperLogLog).

When
    "How many distinct X" questions: daily active users, unique IPs, distinct search terms.
    Exact mode when the set is small or membership matters; approximate mode for large
    cardinalities, where a 12 KB HyperLogLog replaces a set of any size.

How
    Exact mode keeps a set and ``SADD``/``SCARD``/``SISMEMBER``. Approximate mode keeps a
    HyperLogLog (``PFADD``/``PFCOUNT``, about 0.81% standard error). ``add`` is a script in both
    modes, so items are added in batches inside Redis and the optional TTL is set in the same
    round trip; ``union_count`` counts the union of several trackers inside Redis.

Benefits
    One round trip per operation whatever the number of items. HyperLogLog memory is constant.

Drawbacks
    Approximate mode cannot answer ``contains`` and its ``add`` returns an estimate of the new
    items (the estimate's increase). ``union_count`` is multi-key: on Redis Cluster, give every
    tracker counted together the same ``tag`` so they share a slot (it raises ``ValueError``
    there otherwise, before sending anything). Without ``ttl`` the data is permanent.

Keys and hash tags
    One key per tracker: ``unique:{name}`` by default, so trackers spread over the cluster.
    With ``tag=T`` the key is ``unique:{T}:name``: trackers that share ``T`` live in one slot,
    which ``union_count`` needs (``SUNION`` in a script, or ``PFCOUNT`` of several keys, must
    find every key on one node). A tag is a trade-off: all its trackers sit on one primary,
    so tag the ones you count together (the days of one month, say), not everything.
"""

from __future__ import annotations

from typing import Any, Union

from ._cluster import is_cluster, one_slot
from ._scripts import tagged, to_ms

Item = Union[str, bytes, int, float]


class UniqueTracker:
    """Distinct items seen under ``name``."""

    # ARGV[1]: TTL in ms (0: none), ARGV[2]: command, then the items, added 1000 at a time
    # (Lua cannot unpack arbitrarily many values at once).
    _ADD_ALL = """
    local function add_all()
        local added = 0
        for first = 3, #ARGV, 1000 do
            added = added + redis.call(ARGV[2], KEYS[1],
                                       unpack(ARGV, first, math.min(first + 999, #ARGV)))
        end
        if tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return added
    end
    """
    _ADD_EXACT = _ADD_ALL + "return add_all()"
    _ADD_APPROXIMATE = _ADD_ALL + """
    local before = redis.call('PFCOUNT', KEYS[1])
    add_all()
    return math.max(0, redis.call('PFCOUNT', KEYS[1]) - before)
    """
    _UNION_EXACT = "return #redis.call('SUNION', unpack(KEYS))"

    def __init__(
        self,
        client: Any,
        name: str,
        *,
        approximate: bool = False,
        ttl: float | None = None,
        tag: str | None = None,
        prefix: str = "unique:",
    ) -> None:
        self.client = client
        self.approximate = approximate
        self.ttl = ttl
        self.key = tagged(prefix, tag) + f":{name}" if tag is not None else tagged(prefix, name)
        source = self._ADD_APPROXIMATE if approximate else self._ADD_EXACT
        self._add = client.register_script(source)
        self._union = client.register_script(self._UNION_EXACT)

    def add(self, *items: Item) -> int:
        """Record ``items``; returns how many were new (an estimate in approximate mode)."""
        if not items:
            return 0
        ttl = to_ms(self.ttl) if self.ttl else 0
        command = "PFADD" if self.approximate else "SADD"
        return int(self._add(keys=[self.key], args=[ttl, command, *items]))

    def count(self) -> int:
        if self.approximate:
            return int(self.client.pfcount(self.key))
        return int(self.client.scard(self.key))

    def contains(self, item: Item) -> bool:
        if self.approximate:
            raise ValueError("contains() needs exact mode: a HyperLogLog keeps no members")
        return bool(self.client.sismember(self.key, item))

    def union_count(self, *others: UniqueTracker) -> int:
        """Distinct items across this tracker and ``others`` (all in the same mode)."""
        if any(other.approximate != self.approximate for other in others):
            raise ValueError("cannot count a union of exact and approximate trackers")
        keys = [self.key, *(other.key for other in others)]
        if is_cluster(self.client) and not one_slot(keys):
            raise ValueError(
                "union_count on Redis Cluster needs every tracker in one slot: create the "
                "trackers counted together with the same tag="
            )
        if self.approximate:
            return int(self.client.pfcount(*keys))
        return int(self._union(keys=keys))
