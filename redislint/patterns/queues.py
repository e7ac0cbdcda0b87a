"""Queues: FIFO, priority, and reliable (at-least-once) job queues.

When
    Hand work from producers to a pool of workers. ``FifoQueue`` when losing a job in a worker
    crash is acceptable; ``PriorityQueue`` when urgent jobs must overtake; ``ReliableQueue`` when
    every job must be processed even if workers are killed mid-job.

How
    * ``FifoQueue``: ``LPUSH`` to enqueue, ``BRPOP`` to wait for a job.
    * ``PriorityQueue``: a sorted set scored by ``-priority``. Each member is a zero-padded
      sequence number (from a counter, in the same script) followed by the JSON job, so equal
      priorities pop in push order (members with equal scores sort by bytes) and equal payloads
      stay distinct members. ``BZPOPMIN`` waits for a job.
    * ``ReliableQueue``: job ids in a ``ready`` list, payloads and delivery counts in hashes.
      ``reserve`` moves one id to an ``inflight`` sorted set scored by its deadline (server
      time + ``visibility_timeout``) in one script. ``ack`` removes it. ``recover`` puts deliveries
      whose deadline passed back at the head of ``ready``, or, after ``max_attempts``
      deliveries, moves them to a dead-letter list. An idle ``reserve`` blocks on
      ``BLMOVE ready ready RIGHT RIGHT`` (a no-op move that returns once a job exists) instead
      of polling. Every blocking wait survives a failover: when the demoted primary ends it
    (``UNBLOCKED``), it waits again, on the promoted replica, for the time left.

Benefits
    One round trip per push, pop, reserve and ack. A killed worker loses nothing: its job
    reappears after the visibility timeout. Poison jobs stop cycling after ``max_attempts``.

Drawbacks
    At-least-once: a worker slower than ``visibility_timeout`` can see its job delivered again,
    so jobs must be idempotent (``ack`` of a superseded delivery returns False). Somebody must
    call ``recover`` periodically (any worker, before ``reserve``, is fine). Queue data is
    permanent by design: no TTL on these keys. ``BLMOVE`` needs Redis 6.2.

Keys and hash tags
    A FIFO queue is one list, ``queue:{name}``. A priority queue's sorted set and its sequence
    counter share the ``{name}`` tag, as do the five keys of a reliable queue (``ready``,
    ``jobs``, ``attempts``, ``inflight``, ``dead``): each script touches several of them
    atomically, and ``BLMOVE`` waits on one of them. So a queue lives in one slot, on one
    primary of a cluster, and its throughput is that node's: spread heavy traffic over several
    queues (names), which hash apart.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, NamedTuple

from ._cluster import wait_through_failover
from ._codec import dumps, loads, text
from ._scripts import SERVER_NOW_US, tagged

_SEQUENCE_DIGITS = 20


class FifoQueue:
    """First in, first out; a job popped by a worker that then dies is lost."""

    def __init__(self, client: Any, name: str, *, prefix: str = "queue:") -> None:
        self.client = client
        self.key = tagged(prefix, name)

    def push(self, job: Any) -> int:
        """Enqueue ``job``; returns the queue length."""
        return int(self.client.lpush(self.key, dumps(job)))

    def pop(self, timeout: float = 0) -> Any | None:
        """The oldest job, waiting up to ``timeout`` seconds (0: do not wait); None if none."""
        if timeout > 0:
            reply = wait_through_failover(
                lambda left: self.client.brpop([self.key], timeout=left), timeout
            )
            return None if reply is None else loads(reply[1])
        raw = self.client.rpop(self.key)
        return None if raw is None else loads(raw)


class PriorityQueue:
    """Highest priority first; first in, first out among equal priorities."""

    _PUSH = """
    local sequence = redis.call('INCR', KEYS[2])
    return redis.call('ZADD', KEYS[1], ARGV[1], string.format('%020d', sequence) .. ARGV[2])
    """

    def __init__(self, client: Any, name: str, *, prefix: str = "pqueue:") -> None:
        self.client = client
        self.key = tagged(prefix, name)
        self._push = client.register_script(self._PUSH)

    def push(self, job: Any, priority: float = 0) -> None:
        self._push(keys=[self.key, self.key + ":seq"], args=[repr(-float(priority)), dumps(job)])

    def pop(self, timeout: float = 0) -> Any | None:
        """The most urgent job, waiting up to ``timeout`` seconds (0: do not wait)."""
        if timeout > 0:
            reply = wait_through_failover(
                lambda left: self.client.bzpopmin([self.key], timeout=left), timeout
            )
            member = None if reply is None else reply[1]
        else:
            popped = self.client.zpopmin(self.key)
            member = popped[0][0] if popped else None
        return None if member is None else loads(text(member)[_SEQUENCE_DIGITS:])


class Delivery(NamedTuple):
    """One delivery of a job: ``attempt`` counts deliveries, starting at 1."""

    id: str
    job: Any
    attempt: int


class ReliableQueue:
    """At-least-once delivery with a visibility timeout and a dead-letter list."""

    _PUSH = """
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
    return redis.call('LPUSH', KEYS[1], ARGV[1])
    """

    _RESERVE = SERVER_NOW_US + """
    local id = redis.call('RPOP', KEYS[1])
    if not id then return false end
    local attempt = redis.call('HINCRBY', KEYS[3], id, 1)
    redis.call('ZADD', KEYS[4], string.format('%.0f', now + tonumber(ARGV[1])), id)
    return {id, redis.call('HGET', KEYS[2], id), attempt}
    """

    # Only the current delivery may ack: an expired one may already be running elsewhere.
    _ACK = """
    if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
    if redis.call('ZREM', KEYS[3], ARGV[1]) == 0 then return 0 end
    redis.call('HDEL', KEYS[1], ARGV[1])
    redis.call('HDEL', KEYS[2], ARGV[1])
    return 1
    """

    # Ids are uuid hex and payloads JSON, so the dead letter is valid JSON by construction.
    _RECOVER = SERVER_NOW_US + """
    local expired = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', string.format('%.0f', now),
                               'LIMIT', 0, ARGV[2])
    local requeued = 0
    for _, id in ipairs(expired) do
        redis.call('ZREM', KEYS[4], id)
        local attempts = tonumber(redis.call('HGET', KEYS[3], id))
        if attempts >= tonumber(ARGV[1]) then
            local job = redis.call('HGET', KEYS[2], id)
            redis.call('LPUSH', KEYS[5],
                '{"id":"' .. id .. '","attempt":' .. attempts .. ',"job":' .. job .. '}')
            redis.call('HDEL', KEYS[2], id)
            redis.call('HDEL', KEYS[3], id)
        else
            redis.call('RPUSH', KEYS[1], id)
            requeued = requeued + 1
        end
    end
    return {requeued, #expired}
    """

    recover_batch = 1000

    def __init__(
        self,
        client: Any,
        name: str,
        *,
        visibility_timeout: float,
        max_attempts: int = 5,
        prefix: str = "rqueue:",
    ) -> None:
        self.client = client
        self.visibility_timeout = visibility_timeout
        self.max_attempts = max_attempts
        base = tagged(prefix, name)
        self.ready, self.jobs, self.attempts, self.inflight, self.dead = (
            f"{base}:{part}" for part in ("ready", "jobs", "attempts", "inflight", "dead")
        )
        self._push = client.register_script(self._PUSH)
        self._reserve = client.register_script(self._RESERVE)
        self._ack = client.register_script(self._ACK)
        self._recover = client.register_script(self._RECOVER)

    def push(self, job: Any) -> str:
        """Enqueue ``job``; returns its id."""
        job_id = uuid.uuid4().hex
        self._push(keys=[self.ready, self.jobs], args=[job_id, dumps(job)])
        return job_id

    def reserve(self, timeout: float = 0) -> Delivery | None:
        """Take the oldest job for ``visibility_timeout`` seconds; wait up to ``timeout``."""
        deadline = time.monotonic() + timeout
        keys = [self.ready, self.jobs, self.attempts, self.inflight]
        while True:
            reply = self._reserve(keys=keys, args=[round(self.visibility_timeout * 1e6)])
            if reply is not None:
                return Delivery(text(reply[0]), loads(reply[1]), int(reply[2]))
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            # Wait without polling; another worker may still win the job, hence the loop.
            wait_through_failover(
                lambda rest: self.client.blmove(self.ready, self.ready, rest, "RIGHT", "RIGHT"),
                left,
            )

    def ack(self, delivery: Delivery) -> bool:
        """Mark the job done; False if this delivery had expired and was superseded."""
        keys = [self.jobs, self.attempts, self.inflight]
        return bool(self._ack(keys=keys, args=[delivery.id, delivery.attempt]))

    def recover(self) -> int:
        """Requeue deliveries past their deadline (dead-lettering exhausted ones); the count."""
        keys = [self.ready, self.jobs, self.attempts, self.inflight, self.dead]
        total = 0
        while True:
            requeued, examined = self._recover(
                keys=keys, args=[self.max_attempts, self.recover_batch]
            )
            total += int(requeued)
            if int(examined) < self.recover_batch:
                return total

    def dead_letters(self) -> list[Delivery]:
        """Jobs given up after ``max_attempts`` deliveries, oldest first."""
        raw = self.client.lrange(self.dead, 0, -1)
        return [Delivery(**loads(item)) for item in reversed(raw)]
