from __future__ import annotations

import queue
import time

from redislint.patterns.pubsub import Publisher, Subscriber


def wait_for_subscribers(backend, channel, expected, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if backend.subscribers(channel) == expected:
            return True
        time.sleep(0.02)
    return False


def probe_until_delivered(client, channel, received, timeout=5.0):
    """Publish "probe" until the subscriber's handler got a message; returns that message.
    At most once: messages sent while a subscriber reconnects may be lost."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        Publisher(client).publish(channel, "probe")
        try:
            return received.get(timeout=0.1)
        except queue.Empty:
            pass
    return None


def test_publish_reaches_subscriber_as_json(r, name):
    received = queue.Queue()
    subscriber = Subscriber(r, f"{name}:a", f"{name}:b", handler=lambda c, m: received.put((c, m)))
    subscriber.start()
    try:
        assert subscriber.wait_subscribed(5)
        publisher = Publisher(r)
        assert publisher.publish(f"{name}:a", {"id": 1, "tags": ["x"]}) == 1
        assert publisher.publish(f"{name}:b", None) == 1
        assert received.get(timeout=5) == (f"{name}:a", {"id": 1, "tags": ["x"]})
        assert received.get(timeout=5) == (f"{name}:b", None)
    finally:
        subscriber.stop()
    assert Publisher(r).publish(f"{name}:a", 1) == 0  # stop() unsubscribed


def test_resubscribes_after_the_connection_is_killed(rb, backend, name):
    received = queue.Queue()
    subscriber = Subscriber(rb, name, handler=lambda c, m: received.put(m))
    subscriber.start()
    try:
        assert subscriber.wait_subscribed(5)
        assert backend.kill_pubsub_clients() >= 1
        assert probe_until_delivered(rb, name, received) == "probe"
        assert wait_for_subscribers(backend, name, 1)
    finally:
        subscriber.stop()
    assert wait_for_subscribers(backend, name, 0)


def test_handler_errors_do_not_stop_the_subscriber(rb, name):
    received = queue.Queue()

    def handler(channel, message):
        if message == "boom":
            raise ValueError(message)
        received.put(message)

    subscriber = Subscriber(rb, name, handler=handler)
    subscriber.start()
    try:
        assert subscriber.wait_subscribed(5)
        Publisher(rb).publish(name, "boom")
        Publisher(rb).publish(name, "fine")
        assert received.get(timeout=5) == "fine"
    finally:
        subscriber.stop()


def test_publish_is_one_round_trip(round_trips, name):
    publisher = Publisher(round_trips.client)
    assert round_trips(lambda: publisher.publish(name, {"a": 1})) == 1


def test_plain_pubsub_counts_only_the_receiving_nodes_subscribers(rb, backend, name):
    """Why a cluster gets sharded Pub/Sub by default: with ``sharded=False`` the subscriber
    listens on one node (its first channel's), a PUBLISH to a channel of another node is still
    delivered (the cluster bus copies it everywhere), but its reply counts that node's
    subscribers only: 0."""
    here = f"{name}:here"
    there = next(f"{name}:there{n}" for n in range(1000)
                 if not backend.cluster or rb.get_node_from_key(f"{name}:there{n}").name
                 != rb.get_node_from_key(here).name)
    received = queue.Queue()
    subscriber = Subscriber(rb, here, there, handler=lambda c, m: received.put(c), sharded=False)
    subscriber.start()
    try:
        assert subscriber.wait_subscribed(5)
        plain = Publisher(rb, sharded=False)
        assert plain.publish(here, 1) == 1
        assert plain.publish(there, 2) == (0 if backend.cluster else 1)
        assert {received.get(timeout=5), received.get(timeout=5)} == {here, there}
    finally:
        subscriber.stop()
