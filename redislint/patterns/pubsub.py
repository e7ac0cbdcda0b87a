"""Pub/Sub: fire-and-forget broadcast of JSON messages to whoever is listening now.

When
    Live notifications where a missed message is harmless or can be re-derived: cache
    invalidation across app servers, "something changed, refresh" signals, chat presence.
    When every message must be processed, use ``streams`` or ``queues`` instead.

How
    ``Publisher.publish`` JSON-encodes the message and ``PUBLISH``es it, returning how many
    subscribers received it. ``Subscriber`` listens in a daemon thread on its own connection,
    decodes each message and calls ``handler(channel, message)``. When the connection drops
    (server restart, ``CLIENT KILL``, network), it reconnects with exponential backoff and
    subscribes again; ``wait_subscribed`` tells when the subscription is live.

Benefits
    One round trip per publish, no storage, lowest latency; any number of subscribers.

Drawbacks
    At most once: messages published while a subscriber is disconnected are lost, and a slow
    subscriber is disconnected by the server once its output buffer limit is hit. A handler
    exception is logged and the next message is processed.

Keys and hash tags
    None: channels are not keys. On Redis Cluster, ``PUBLISH`` reaches every node.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Any, Callable

import redis

from ._background import Background
from ._codec import dumps, loads, text

log = logging.getLogger(__name__)


class Publisher:
    def __init__(self, client: Any) -> None:
        self.client = client

    def publish(self, channel: str, message: Any) -> int:
        """Send ``message`` as JSON; returns the number of subscribers that got it."""
        return int(self.client.publish(channel, dumps(message)))


class Subscriber(Background):
    """Calls ``handler(channel, message)`` for every message, surviving dropped connections."""

    thread_name = "redis-subscriber"
    max_backoff = 2.0

    def __init__(self, client: Any, *channels: str, handler: Callable[[str, Any], Any]) -> None:
        if not channels:
            raise ValueError("subscribe to at least one channel")
        self.client = client
        self.channels = channels
        self.handler = handler
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
                pubsub.close()

    def _listen(self, pubsub: Any) -> None:
        confirmed: set[str] = set()
        while not self._stop.is_set():
            message = pubsub.get_message(timeout=0.1)
            if message is None:
                continue
            kind = text(message["type"])
            if kind == "subscribe":
                # redis-py may itself reconnect and resubscribe; confirmations arrive again.
                confirmed.add(text(message["channel"]))
                if confirmed.issuperset(self.channels):
                    self._subscribed.set()
            elif kind == "message":
                self._dispatch(text(message["channel"]), message["data"])

    def _dispatch(self, channel: str, data: Any) -> None:
        try:
            self.handler(channel, loads(data))
        except Exception:
            log.exception("subscriber handler failed on channel %r", channel)
