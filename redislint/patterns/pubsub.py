"""Pub/Sub: fire-and-forget broadcast of JSON messages to whoever is listening now.

When
    Live notifications where a missed message is harmless or can be re-derived: cache
    invalidation across app servers, "something changed, refresh" signals, chat presence.
    When every message must be processed, use ``streams`` or ``queues`` instead.

How
    ``Publisher.publish`` JSON-encodes the message and ``PUBLISH``es it, returning how many
    subscribers received it. ``Subscriber`` listens in a daemon thread on its own connection,
    decodes each message and calls ``handler(channel, message)``. When the connection drops
    (server restart, ``CLIENT KILL``, network, a failover) or the server unsubscribes it, it
    reconnects with exponential backoff and subscribes again; ``wait_subscribed`` tells when
    the subscription is live.

    On Redis Cluster (a ``RedisCluster`` client) both sides use *sharded* Pub/Sub by default
    (``SPUBLISH``/``SSUBSCRIBE``, Redis 7.0): a channel lives in the slot its name hashes to,
    the subscriber listens on that slot's primary (one connection per primary it needs), and
    a message travels only there. Plain ``PUBLISH`` on a cluster is copied to every node over
    the cluster bus, and its reply counts only the subscribers of the one node that got it:
    ``publish`` would say 0 to a message that was in fact delivered. Pass ``sharded=False``
    to both sides to keep plain Pub/Sub on a cluster (listeners that ``SUBSCRIBE`` outside
    these classes), or ``sharded=True`` to use sharded channels on a single server too.

Benefits
    One round trip per publish, no storage, lowest latency; any number of subscribers.

Drawbacks
    At most once: messages published while a subscriber is disconnected are lost, and a slow
    subscriber is disconnected by the server once its output buffer limit is hit. A handler
    exception is logged and the next message is processed. Sharded and plain channels are
    separate: a ``SUBSCRIBE`` listener never sees an ``SPUBLISH`` message.

Keys and hash tags
    Channels are not keys, but sharded channels hash to slots like keys do: each channel is
    placed on its own, and nothing needs to share a tag. A subscriber to channels in several
    slots holds one connection per primary involved; give channels that are always read
    together a common ``{tag}`` to keep that to one.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Any, Callable

import redis

from ._background import Background
from ._cluster import is_cluster
from ._codec import dumps, loads, text

log = logging.getLogger(__name__)


class Publisher:
    """Sends JSON messages; sharded (``SPUBLISH``) on a cluster unless ``sharded=False``."""

    def __init__(self, client: Any, *, sharded: bool | None = None) -> None:
        self.client = client
        self.sharded = is_cluster(client) if sharded is None else sharded

    def publish(self, channel: str, message: Any) -> int:
        """Send ``message`` as JSON; returns the number of subscribers that got it."""
        if self.sharded:
            return int(self.client.spublish(channel, dumps(message)))
        return int(self.client.publish(channel, dumps(message)))


class Subscriber(Background):
    """Calls ``handler(channel, message)`` for every message, surviving dropped connections."""

    thread_name = "redis-subscriber"
    max_backoff = 2.0

    def __init__(
        self,
        client: Any,
        *channels: str,
        handler: Callable[[str, Any], Any],
        sharded: bool | None = None,
    ) -> None:
        if not channels:
            raise ValueError("subscribe to at least one channel")
        self.client = client
        self.channels = channels
        self.handler = handler
        self.sharded = is_cluster(client) if sharded is None else sharded
        self._subscribed = threading.Event()
        super().__init__()

    def wait_subscribed(self, timeout: float | None = None) -> bool:
        """Block until the server confirmed every channel of the current connection."""
        return self._subscribed.wait(timeout)

    def _run(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            pubsub = self.client.pubsub()
            try:
                if self.sharded:
                    pubsub.ssubscribe(*self.channels)
                else:
                    pubsub.subscribe(*self.channels)
                self._listen(pubsub)
            except (redis.ConnectionError, redis.TimeoutError) as error:
                if self._subscribed.is_set():  # it was live: this is a fresh outage
                    backoff = 0.05
                self._subscribed.clear()
                log.warning("subscriber lost its connection (%s); reconnecting", error)
                self._stop.wait(random.uniform(backoff / 2, backoff))
                backoff = min(backoff * 2, self.max_backoff)
            finally:
                # A cluster's sharded subscription holds one connection per primary; redis-py
                # before 8 leaves those open (and subscribed) on close(), so close them first.
                for per_node in list(getattr(pubsub, "node_pubsub_mapping", {}).values()):
                    per_node.close()
                pubsub.close()

    def _listen(self, pubsub: Any) -> None:
        confirmed: set[str] = set()
        receive = pubsub.get_sharded_message if self.sharded else pubsub.get_message
        while not self._stop.is_set():
            message = receive(timeout=0.1)
            if message is None:
                continue
            kind = text(message["type"])
            if kind in ("subscribe", "ssubscribe"):
                # redis-py may itself reconnect and resubscribe; confirmations arrive again.
                confirmed.add(text(message["channel"]))
                if confirmed.issuperset(self.channels):
                    self._subscribed.set()
            elif kind in ("message", "smessage"):
                self._dispatch(text(message["channel"]), message["data"])
            elif kind in ("unsubscribe", "sunsubscribe"):
                # Not asked for: the server dropped it (a sharded channel's slot moved to
                # another primary in a failover or resharding). Start over on a new connection.
                raise redis.ConnectionError(f"unsubscribed from {text(message['channel'])!r}")

    def _dispatch(self, channel: str, data: Any) -> None:
        try:
            self.handler(channel, loads(data))
        except Exception:
            log.exception("subscriber handler failed on channel %r", channel)
