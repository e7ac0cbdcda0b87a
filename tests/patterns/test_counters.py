from __future__ import annotations

import time

import pytest

from redislint.patterns.counters import WindowedCounter


def server_seconds(client):
    # On the cluster TIME goes to any node, not the counter's: all share this machine's clock.
    seconds, micros = client.time()
    return seconds + micros / 1e6


def at_window_start(client, window, slack=0.6):
    """Sleep until the current window has at least ``slack`` of its length left."""
    while (server_seconds(client) % window) > window * (1 - slack):
        time.sleep(0.01)


def test_counts_current_window_and_totals(r, name):
    counter = WindowedCounter(r, name, window=0.5, retention=2)
    at_window_start(r, 0.5)
    assert counter.incr() == 1
    assert counter.incr(4) == 5
    assert counter.count() == 5
    time.sleep(0.5)
    assert counter.count() == 0
    assert counter.incr(2) == 2
    assert counter.total(2) == 7
    assert counter.total(4) == 7
    with pytest.raises(ValueError):
        counter.total(5)
    assert 0 < r.pttl(counter.key) <= 2000


def test_old_windows_are_pruned(rb, name):
    counter = WindowedCounter(rb, name, window=0.1, retention=0.3)
    for _ in range(8):
        counter.incr()
        time.sleep(0.1)
    assert rb.hlen(counter.key) <= counter.windows + 1


def test_round_trips(round_trips, name):
    counter = WindowedCounter(round_trips.client, name, window=60, retention=600)
    assert round_trips(counter.incr) == 1
    assert round_trips(counter.count) == 1
    assert round_trips(lambda: counter.total(10)) == 1
