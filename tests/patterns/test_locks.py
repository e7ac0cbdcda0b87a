from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from redislint.patterns.locks import Lock, LockNotAcquiredError, LockNotOwnedError

WORKERS = 6
ROUNDS = 8


def contend(backend, name, barrier, results):
    """Enter the critical section ROUNDS times; report overlaps and fence order violations."""
    client = backend.connect()
    lock = Lock(client, name, timeout=5)
    violations, tokens = 0, []
    barrier.wait()
    for _ in range(ROUNDS):
        with lock:
            if client.incr(f"{name}:inside") != 1:
                violations += 1
            last = int(client.get(f"{name}:last-fence") or 0)
            if lock.fencing_token <= last:
                violations += 1
            client.set(f"{name}:last-fence", lock.fencing_token)
            time.sleep(0.002)
            client.decr(f"{name}:inside")
        tokens.append(lock.fencing_token)
    results.put((violations, tokens))


def hold_forever(backend, name, acquired):
    lock = Lock(backend.connect(), name, timeout=1)
    assert lock.acquire()
    acquired.set()
    time.sleep(60)


def fork():
    return multiprocessing.get_context("fork")


def test_processes_behind_a_barrier_never_overlap(backend, name):
    context = fork()
    barrier, results = context.Barrier(WORKERS), context.Queue()
    processes = [
        context.Process(target=contend, args=(backend, name, barrier, results))
        for _ in range(WORKERS)
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(10)
        assert process.exitcode == 0
    assert sum(violations for violations, _ in reports) == 0
    tokens = [token for _, mine in reports for token in mine]
    assert sorted(tokens) == list(range(1, WORKERS * ROUNDS + 1))
    for _, mine in reports:
        assert mine == sorted(mine)


def test_crashed_holders_lock_expires(rb, backend, name):
    context = fork()
    acquired = context.Event()
    holder = context.Process(target=hold_forever, args=(backend, name, acquired))
    holder.start()
    try:
        assert acquired.wait(10)
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(5)
        lock = Lock(rb, name, timeout=5, blocking_timeout=3)
        assert not lock.acquire(blocking=False)
        started = time.monotonic()
        assert lock.acquire()
        assert time.monotonic() - started < 1.5  # freed by the 1 s expiry, not later
        assert lock.fencing_token == 2
    finally:
        holder.kill()


def test_expired_token_cannot_release_or_extend(r, name):
    first = Lock(r, name, timeout=0.2)
    assert first.acquire()
    time.sleep(0.3)
    second = Lock(r, name, timeout=5)
    assert second.acquire(blocking=False)
    assert not first.owned()
    assert not first.extend(10)
    with pytest.raises(LockNotOwnedError):
        first.release()
    assert second.owned()  # the late release did not free somebody else's lock
    assert second.fencing_token > first.fencing_token
    second.release()
    assert not second.owned()


def test_foreign_owner_cannot_release(rb, name):
    holder, stranger = Lock(rb, name, timeout=5), Lock(rb, name, timeout=5)
    assert holder.acquire()
    with pytest.raises(LockNotOwnedError):
        stranger.release()
    assert not stranger.extend(5)
    assert holder.owned()
    holder.release()


def test_extend_adds_or_replaces_time(rb, name):
    lock = Lock(rb, name, timeout=1)
    assert lock.acquire()
    assert lock.extend(10)
    assert 10_000 < rb.pttl(lock.key) <= 11_000
    assert lock.extend(2, replace=True)
    assert 1_000 < rb.pttl(lock.key) <= 2_000
    lock.release()


def test_context_manager_times_out(rb, name):
    holder = Lock(rb, name, timeout=5)
    assert holder.acquire()
    waiter = Lock(rb, name, timeout=5, blocking_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(LockNotAcquiredError):
        with waiter:
            pass
    assert 0.15 < time.monotonic() - started < 1.0
    holder.release()
    with waiter:
        assert waiter.owned()
    assert not waiter.owned()


def test_fencing_tokens_strictly_increase(rb, name):
    lock = Lock(rb, name, timeout=5)
    tokens = []
    for _ in range(5):
        with lock:
            tokens.append(lock.fencing_token)
    assert tokens == sorted(set(tokens)) and len(tokens) == 5
    assert rb.ttl(lock.fence_key) == -1  # permanent by design
    assert rb.exists(lock.key) == 0


def test_retried_attempt_with_the_same_token_gets_the_same_fence(rb, name):
    """redis-py retries a command whose reply was lost; the retry must not fail or refence."""
    lock = Lock(rb, name, timeout=5)
    keys, args = [lock.key, lock.fence_key], ["token-1", 5000]
    first = lock._acquire(keys=keys, args=args)
    assert lock._acquire(keys=keys, args=args) == first
    assert lock._acquire(keys=keys, args=["token-2", 5000]) is None


def test_round_trips(round_trips, name):
    lock = Lock(round_trips.client, name, timeout=5)
    assert round_trips(lambda: (lock.acquire(), lock.release())) == 2
    lock.acquire()
    assert round_trips(lambda: lock.extend(1)) == 1
    assert round_trips(lock.owned) == 1
    assert round_trips(lambda: lock.acquire(blocking=False)) == 1
    lock.release()
