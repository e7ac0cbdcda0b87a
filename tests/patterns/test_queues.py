from __future__ import annotations

import multiprocessing
import os
import signal
import time

from redislint.patterns.queues import FifoQueue, PriorityQueue, ReliableQueue


def test_fifo_order_and_timeout(r, name):
    jobs = FifoQueue(r, name)
    for job in [{"n": 1}, {"n": 2}, {"n": 2}, None]:
        jobs.push(job)
    assert [jobs.pop() for _ in range(4)] == [{"n": 1}, {"n": 2}, {"n": 2}, None]
    assert jobs.pop() is None
    started = time.monotonic()
    assert jobs.pop(timeout=0.2) is None
    assert time.monotonic() - started >= 0.19
    jobs.push("late")
    assert jobs.pop(timeout=1) == "late"


def test_priority_order_fifo_within_priority_and_no_merging(r, name):
    jobs = PriorityQueue(r, name)
    pushes = [("low-1", 1), ("high-1", 9), ("same", 5), ("same", 5), ("low-2", 1), ("high-2", 9)]
    for job, priority in pushes:
        jobs.push(job, priority)
    assert r.zcard(jobs.key) == 6  # equal payloads are distinct members
    popped = [jobs.pop() for _ in range(6)]
    assert popped == ["high-1", "high-2", "same", "same", "low-1", "low-2"]
    assert jobs.pop(timeout=0.1) is None
    jobs.push({"k": 1}, priority=-2.5)
    assert jobs.pop(timeout=1) == {"k": 1}


def reserve_and_hang(backend, name, reserved):
    queue = ReliableQueue(backend.connect(), name, visibility_timeout=1)
    delivery = queue.reserve(timeout=5)
    reserved.put(delivery.job)
    time.sleep(60)  # "processing" until SIGKILL


def test_sigkilled_worker_job_is_recovered_after_visibility_timeout(rb, backend, name):
    queue = ReliableQueue(rb, name, visibility_timeout=1)
    for n in range(5):
        queue.push({"n": n})
    context = multiprocessing.get_context("fork")
    reserved = context.Queue()
    worker = context.Process(target=reserve_and_hang, args=(backend, name, reserved))
    worker.start()
    try:
        lost_job = reserved.get(timeout=10)
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(5)
    finally:
        worker.kill()
    done = []
    while (delivery := queue.reserve()) is not None:
        done.append(delivery.job)
        assert queue.ack(delivery)
    assert lost_job not in done and len(done) == 4
    assert queue.recover() == 0  # the dead worker's deadline has not passed yet
    time.sleep(1.05)
    assert queue.recover() == 1
    delivery = queue.reserve(timeout=1)
    assert delivery.job == lost_job and delivery.attempt == 2
    assert queue.ack(delivery)
    assert sorted(done + [lost_job], key=lambda job: job["n"]) == [{"n": n} for n in range(5)]
    for key in (queue.ready, queue.jobs, queue.attempts, queue.inflight):
        assert rb.exists(key) == 0  # nothing left behind


def test_poison_job_is_dead_lettered_after_max_attempts(rb, name):
    queue = ReliableQueue(rb, name, visibility_timeout=0.05, max_attempts=3)
    queue.push("poison")
    queue.push("good")
    attempts = []
    for _ in range(5):
        queue.recover()
        delivery = queue.reserve()
        if delivery is None:
            time.sleep(0.06)
            continue
        if delivery.job == "good":
            queue.ack(delivery)
        else:
            attempts.append(delivery.attempt)  # crash: never acked
            time.sleep(0.06)
    queue.recover()
    assert attempts == [1, 2, 3]
    [dead] = queue.dead_letters()
    assert (dead.job, dead.attempt) == ("poison", 3)
    assert queue.reserve() is None


def test_stale_ack_is_rejected(rb, name):
    queue = ReliableQueue(rb, name, visibility_timeout=0.05)
    queue.push("job")
    first = queue.reserve()
    time.sleep(0.06)
    assert queue.recover() == 1
    assert not queue.ack(first)  # expired, back in the queue: not ours to complete
    second = queue.reserve()
    assert not queue.ack(first)
    assert queue.ack(second)


def test_reserve_blocks_until_a_job_arrives(rb, name):
    import threading

    queue = ReliableQueue(rb, name, visibility_timeout=5)
    threading.Timer(0.2, lambda: queue.push("wake")).start()
    started = time.monotonic()
    delivery = queue.reserve(timeout=3)
    assert delivery is not None and delivery.job == "wake"
    assert 0.15 < time.monotonic() - started < 1.5
    assert queue.reserve(timeout=0.1) is None


def test_round_trips(round_trips, name):
    fifo = FifoQueue(round_trips.client, name)
    assert round_trips(lambda: (fifo.push(1), fifo.pop())) == 2
    priority = PriorityQueue(round_trips.client, name)
    assert round_trips(lambda: (priority.push(1, 1), priority.pop())) == 2
    reliable = ReliableQueue(round_trips.client, name, visibility_timeout=5)
    assert round_trips(lambda: reliable.ack(reliable.reserve(reliable.push(1) and 0))) == 3
    assert round_trips(reliable.recover) == 1


def test_an_operators_client_unblock_is_raised_not_waited_out(rb, backend, name):
    """A failover's UNBLOCKED error makes a blocked pop wait on (test_failover.py); an
    operator's `CLIENT UNBLOCK <id> ERROR` is no failover, and reaches the caller."""
    import threading

    outcome = []

    def pop():
        try:
            outcome.append(FifoQueue(rb, name).pop(timeout=5))
        except Exception as error:  # noqa: BLE001 - the test looks at it
            outcome.append(error)

    waiter = threading.Thread(target=pop)
    waiter.start()
    deadline, unblocked = time.monotonic() + 5, 0
    while not unblocked and time.monotonic() < deadline:
        for node in backend.nodes():
            blocked = [c for c in node.client_list() if c["cmd"] == "brpop"]
            unblocked += sum(node.client_unblock(c["id"], error=True) for c in blocked)
            node.close()
        time.sleep(0.02)
    waiter.join(5)
    assert unblocked == 1
    [error] = outcome
    assert "UNBLOCKED" in str(error) and "CLIENT UNBLOCK" in str(error)
