from __future__ import annotations

import threading
import time

import pytest

from redislint.patterns.ratelimit import FixedWindow, LeakyBucket, SlidingWindow, TokenBucket

LIMIT = 10

# Limits that cannot refill or roll over while the 100 callers run.
FROZEN = {
    "fixed": lambda client, prefix: FixedWindow(client, limit=LIMIT, window=10**6, prefix=prefix),
    "sliding": lambda client, prefix: SlidingWindow(client, limit=LIMIT, window=60, prefix=prefix),
    "token": lambda client, prefix: TokenBucket(
        client, capacity=LIMIT, refill_per_second=0.0001, prefix=prefix
    ),
    "gcra": lambda client, prefix: LeakyBucket(client, rate=0.0001, burst=LIMIT, prefix=prefix),
}


@pytest.mark.parametrize("algorithm", sorted(FROZEN))
def test_100_concurrent_callers_admit_exactly_limit(rb, name, algorithm):
    limiter = FROZEN[algorithm](rb, f"{name}:")
    barrier = threading.Barrier(100)
    decisions = []

    def caller():
        barrier.wait()
        decisions.append(limiter.allow("alice"))

    threads = [threading.Thread(target=caller) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    admitted = [d for d in decisions if d.allowed]
    assert len(admitted) == LIMIT
    assert sorted(d.remaining for d in admitted) == list(range(LIMIT))
    assert all(d.retry_after > 0 and d.remaining == 0 for d in decisions if not d.allowed)
    assert limiter.allow("bob").allowed  # identities are independent


@pytest.mark.parametrize("algorithm", sorted(FROZEN))
def test_cost_counts_several_units(r, name, algorithm):
    limiter = FROZEN[algorithm](r, f"{name}:")
    assert limiter.allow("alice", cost=7) == (True, 3, 0.0)
    assert not limiter.allow("alice", cost=4).allowed
    assert limiter.allow("alice", cost=3).allowed
    with pytest.raises(ValueError):
        limiter.allow("alice", cost=LIMIT + 1)


def wait_and_retry(limiter, identity):
    denied = limiter.allow(identity)
    assert not denied.allowed
    time.sleep(denied.retry_after)
    assert limiter.allow(identity).allowed
    return denied.retry_after


def test_token_bucket_retry_after(rb, name):
    limiter = TokenBucket(rb, capacity=2, refill_per_second=5, prefix=f"{name}:")
    assert limiter.allow("a").allowed and limiter.allow("a").allowed
    assert 0.15 < wait_and_retry(limiter, "a") <= 0.2  # one token every 0.2 s


def test_leaky_bucket_retry_after(rb, name):
    limiter = LeakyBucket(rb, rate=5, burst=1, prefix=f"{name}:")
    assert limiter.allow("a").allowed
    assert 0.15 < wait_and_retry(limiter, "a") <= 0.2


def test_sliding_window_retry_after_is_when_the_oldest_leaves(rb, name):
    limiter = SlidingWindow(rb, limit=2, window=0.5, prefix=f"{name}:")
    assert limiter.allow("a").allowed
    time.sleep(0.2)
    assert limiter.allow("a").allowed
    assert 0.2 < wait_and_retry(limiter, "a") <= 0.3  # the first call leaves at 0.5 s
    assert not limiter.allow("a").allowed  # the second is still inside the window


def test_fixed_window_retry_after_is_the_window_end(rb, name):
    limiter = FixedWindow(rb, limit=1, window=0.5, prefix=f"{name}:")
    # On the cluster TIME goes to any node, not the key's: all of them share this machine's clock.
    time_us = lambda: (lambda s, us: s * 10**6 + us)(*rb.time())  # noqa: E731
    # Start early in a window, so that the two calls below share it.
    while time_us() % 500_000 > 100_000:
        time.sleep(0.02)
    assert limiter.allow("a").allowed
    denied = limiter.allow("a")
    window_end = (time_us() // 500_000 + 1) * 500_000
    assert not denied.allowed
    assert abs(denied.retry_after - (window_end - time_us()) / 1e6) < 0.05
    time.sleep(denied.retry_after)
    assert limiter.allow("a").allowed


@pytest.mark.parametrize("algorithm", sorted(FROZEN))
def test_keys_expire(rb, name, algorithm):
    limiter = FROZEN[algorithm](rb, f"{name}:")
    limiter.allow("alice")
    assert rb.pttl(f"{name}:{{alice}}") > 0


def test_token_bucket_refills_to_capacity_only(rb, name):
    limiter = TokenBucket(rb, capacity=3, refill_per_second=100, prefix=f"{name}:")
    time.sleep(0.1)
    assert limiter.allow("a").remaining == 2  # a fresh bucket is full, never over-full


@pytest.mark.parametrize("algorithm", sorted(FROZEN))
def test_round_trips(round_trips, name, algorithm):
    limiter = FROZEN[algorithm](round_trips.client, f"{name}:")
    assert round_trips(lambda: limiter.allow("alice")) == 1
