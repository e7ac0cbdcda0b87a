"""Streams: a durable, trimmed event log read by consumer groups, with recovery and dead letters.

When
    Events that several independent services must each process, every one of them, with replay
    after a crash: order events, audit trails, change feeds. Unlike Pub/Sub, nothing is lost
    while a consumer is down.

How
    ``EventStream.append`` is ``XADD`` with approximate ``MAXLEN`` trimming (JSON field values).
    ``StreamConsumer`` creates its group on first use. ``read`` first re-delivers the
    consumer's own pending entries (those it read but never acked before a restart), then
    reads new ones with ``XREADGROUP >``. ``claim_stale`` takes over entries another consumer
    left pending longer than ``claim_idle`` (``XAUTOCLAIM``). Both recovery paths are scripts
    that first move entries delivered ``max_deliveries`` times to a dead-letter stream (``XADD``
    + ``XACK``), so a poison message stops crashing consumers. A blocking read that a failover
    ends early (the demoted primary answers ``UNBLOCKED``) waits on, on the promoted replica.

Benefits
    At-least-once processing with one round trip per read, ack or recovery step; entries stay
    in the stream for replay and auditing until trimmed; consumers scale out within a group.

Drawbacks
    Handlers must be idempotent (a crash between processing and ``ack`` re-delivers). Pending
    entries are only recovered when some consumer calls ``claim_stale``. Approximate trimming
    keeps a little more than ``maxlen``. A group that vanished (stream deleted, server restarted
    without persistence) is re-created from ``start_id``, so its entries are processed again.
    Needs Redis 6.2 (``XAUTOCLAIM``, exclusive ranges).

Keys and hash tags
    ``stream:{name}`` and its dead-letter stream ``stream:{name}:dead`` share the ``{name}`` tag:
    dead-lettering writes the one and acks in the other in a single script. The streams are
    permanent by design and bounded by ``maxlen``. On Redis Cluster, ``read`` sends
    ``XREADGROUP`` straight to the stream's primary: for a command whose keys can be anywhere in
    its arguments, redis-py would first ask a node where they are (``COMMAND GETKEYS``, two
    more round trips per read).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple, Union

import redis

from ._cluster import is_cluster, wait_through_failover
from ._codec import dumps, loads, text
from ._scripts import tagged


class StreamEntry(NamedTuple):
    id: str
    fields: dict[str, Any]


class EventStream:
    """An append-only log of events, trimmed to about ``maxlen`` entries."""

    def __init__(self, client: Any, name: str, *, maxlen: int, prefix: str = "stream:") -> None:
        self.client = client
        self.key = tagged(prefix, name)
        self.dead_key = self.key + ":dead"
        self.maxlen = maxlen

    def append(self, fields: Mapping[str, Any]) -> str:
        """Add an event (each value JSON-encoded); returns its id."""
        encoded = {name: dumps(value) for name, value in fields.items()}
        return text(self.client.xadd(self.key, encoded, maxlen=self.maxlen, approximate=True))


class StreamConsumer:
    """One named consumer in a consumer group of a stream."""

    # Move one pending entry to the dead-letter stream and ack it in the source stream.
    # ARGV: group, consumer, ..., ARGV[6] dead-letter maxlen.
    _BURY = """
    local function bury(id, deliveries)
        local entry = redis.call('XRANGE', KEYS[1], id, id)[1]
        local fields = entry and entry[2] or {}
        redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*',
                   '_id', cjson.encode(id), '_group', cjson.encode(ARGV[1]),
                   '_deliveries', deliveries, unpack(fields))
        redis.call('XACK', KEYS[1], ARGV[1], id)
    end
    """

    # This consumer's pending entries after cursor ARGV[3]: bury the exhausted, claim the rest.
    _BACKLOG = _BURY + """
    local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '(' .. ARGV[3], '+', ARGV[4],
                               ARGV[2])
    local live = {}
    for _, entry in ipairs(pending) do
        if entry[4] >= tonumber(ARGV[5]) then bury(entry[1], entry[4])
        else live[#live + 1] = entry[1] end
    end
    local claimed = {}
    if #live > 0 then
        claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(live))
    end
    local last = pending[#pending]
    return {last and last[1] or false, claimed}
    """

    # Entries idle for ARGV[3] ms in any consumer: bury the exhausted, claim the rest.
    _CLAIM_STALE = _BURY + """
    local pending = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], '-', '+', ARGV[4])
    for _, entry in ipairs(pending) do
        if entry[4] >= tonumber(ARGV[5]) then bury(entry[1], entry[4]) end
    end
    return redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0',
                      'COUNT', ARGV[4])[2]
    """

    def __init__(
        self,
        client: Any,
        stream: Union[str, EventStream],
        group: str,
        consumer: str,
        *,
        claim_idle: float,
        max_deliveries: int = 5,
        start_id: str = "0",
        dead_maxlen: int = 10_000,
        prefix: str = "stream:",
    ) -> None:
        self.client = client
        self.key = stream.key if isinstance(stream, EventStream) else tagged(prefix, stream)
        self.dead_key = self.key + ":dead"
        self.group, self.consumer = group, consumer
        self.claim_idle = claim_idle
        self.max_deliveries = max_deliveries
        self.dead_maxlen = dead_maxlen
        self._backlog_after: str | None = "0-0"  # None once our old pending entries are read
        self._backlog = client.register_script(self._BACKLOG)
        self._claim_stale = client.register_script(self._CLAIM_STALE)
        self.start_id = start_id
        self._create_group()

    def _create_group(self) -> None:
        try:
            self.client.xgroup_create(self.key, self.group, id=self.start_id, mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def _with_group(self, operation: Callable[[], Any]) -> Any:
        """Run ``operation``, re-creating the group once if the stream or group vanished
        (deleted, or a restarted server without persistence)."""
        try:
            return operation()
        except redis.ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
        self._create_group()
        return operation()

    def read(self, count: int = 10, block: float | None = None) -> list[StreamEntry]:
        """Up to ``count`` entries: first this consumer's unacked ones, then new ones.

        ``block`` waits up to that many seconds for new entries (None: do not wait).
        """
        while self._backlog_after is not None:
            last, claimed = self._with_group(
                lambda: self._backlog(keys=self._keys(), args=self._args(self._backlog_after, count))
            )
            self._backlog_after = None if last is None else text(last)
            entries = _entries(claimed)
            if entries:
                return entries
        if block is None:
            reply = self._with_group(lambda: self._read_new(count, None))
        else:  # a failover ends the wait early: wait again for the time left
            reply = wait_through_failover(
                lambda left: self._with_group(
                    lambda: self._read_new(count, max(1, round(left * 1000)))
                ),
                block,
            )
        streams = reply.values() if isinstance(reply, dict) else (s[1] for s in reply or [])
        return [entry for batch in streams for entry in _entries(batch)]

    def _read_new(self, count: int, block_ms: int | None) -> Any:
        if is_cluster(self.client):
            # redis-py finds the keys of XREADGROUP (a command with "movable" keys) by asking
            # a node (COMMAND GETKEYS, twice): naming the stream's node saves those round
            # trips. A MOVED reply is still followed; a connection error is retried by the
            # ordinary path below, which refreshes the cluster's layout first.
            args: list[Any] = ["GROUP", self.group, self.consumer, "COUNT", count]
            if block_ms is not None:
                args += ["BLOCK", block_ms]
            node = self.client.get_node_from_key(self.key)
            try:
                return self.client.execute_command(
                    "XREADGROUP", *args, "STREAMS", self.key, ">", target_nodes=node
                )
            except (redis.ConnectionError, redis.TimeoutError):
                pass
        return self.client.xreadgroup(
            self.group, self.consumer, {self.key: ">"}, count=count, block=block_ms
        )

    def ack(self, *ids: str) -> int:
        """Mark entries processed; returns how many were still pending."""
        return int(self.client.xack(self.key, self.group, *ids)) if ids else 0

    def claim_stale(self, count: int = 100) -> list[StreamEntry]:
        """Take over entries idle longer than ``claim_idle`` (their consumer likely died)."""
        idle_ms = max(0, round(self.claim_idle * 1000))
        return _entries(
            self._with_group(
                lambda: self._claim_stale(keys=self._keys(), args=self._args(idle_ms, count))
            )
        )

    def dead_letters(self, count: int = 100) -> list[StreamEntry]:
        """The oldest dead letters: the original fields plus ``_id``, ``_group``, ``_deliveries``."""
        return _entries(self.client.xrange(self.dead_key, count=count))

    def _keys(self) -> list[str]:
        return [self.key, self.dead_key]

    def _args(self, position: Any, count: int) -> list[Any]:
        return [self.group, self.consumer, position, count, self.max_deliveries, self.dead_maxlen]


def _entries(raw: Any) -> list[StreamEntry]:
    """Decode entries as redis-py returns them (``(id, dict)``) or a script does (flat lists)."""
    entries = []
    for item in raw or []:
        if not item or item[1] is None:  # deleted by trimming while pending (Redis 6.2)
            continue
        entry_id, fields = item[0], item[1]
        if not isinstance(fields, dict):
            fields = dict(zip(fields[::2], fields[1::2]))
        entries.append(StreamEntry(text(entry_id), {text(k): loads(v) for k, v in fields.items()}))
    return entries
