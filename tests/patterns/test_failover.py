"""The patterns through a Redis Cluster failover: a replica promoted with `CLUSTER FAILOVER`.

A cluster of its own for this module (three primaries, one replica each), since failing over
changes the layout the other tests' cluster keeps. `CLUSTER FAILOVER` sent to a replica is the
coordinated manual failover: its primary stops accepting writes until the replica has caught up,
then the replica takes the slots. No acknowledged write is lost, and a client that still sends
to the old primary gets MOVED and follows it: the patterns must keep working, with the same
client objects, without the application doing anything.
"""

from __future__ import annotations

import queue
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from live_cluster import ClusterStartError, LocalRedisCluster
from redislint.patterns.locks import Lock
from redislint.patterns.pubsub import Publisher, Subscriber
from redislint.patterns.queues import FifoQueue, PriorityQueue, ReliableQueue
from redislint.patterns.streams import EventStream, StreamConsumer
from test_pubsub import probe_until_delivered
from test_resilience import OPERATIONS, scripted_operations

FAILOVER_SECONDS = 20  # the bound on one promotion, far above the ~1 s it takes


@pytest.fixture(scope="module")
def replicated() -> Iterator[LocalRedisCluster]:
    with tempfile.TemporaryDirectory(prefix="redislint-failover-") as workdir:
        cluster = LocalRedisCluster(Path(workdir), primaries=3, replicas=1)
        try:
            cluster.start(timeout=60)
        except (ClusterStartError, OSError) as error:
            pytest.fail(f"cannot start a Redis Cluster with replicas: {error}", pytrace=False)
        cluster.untouched = set(cluster.primary_ports())  # type: ignore[attr-defined]
        try:
            yield cluster
        finally:
            cluster.stop()


def fresh_name(cluster: LocalRedisCluster, template: str) -> str:
    """A unique name whose key (``template`` filled with it) lives on slots no test has failed
    over yet: the primaries refuse to fail the same slots over again for 2 node timeouts."""
    client = cluster.client()
    try:
        for _ in range(1000):
            name = f"f{uuid.uuid4().hex[:10]}"
            if client.get_node_from_key(template.format(name)).port in cluster.untouched:
                return name
    finally:
        client.close()
    raise AssertionError(f"no untouched primary left among {cluster.primary_ports()}")


def fail_over(cluster: LocalRedisCluster, client: Any, key: str) -> int:
    """Promote the replica of the primary holding ``key``; returns the new primary's port."""
    primary = client.get_node_from_key(key).port
    [replica] = cluster.replica_ports(primary)
    cluster.untouched.discard(primary)
    took = cluster.failover(replica, timeout=FAILOVER_SECONDS)
    assert took < FAILOVER_SECONDS
    assert cluster.replica_ports(replica) == [primary]  # the old primary follows the new one
    return replica


def test_locks_and_queues_keep_working_through_a_failover(replicated):
    """A held lock, queued and in-flight jobs, a busy worker and workers blocked waiting for
    work, all on the primary that fails over (every key is tagged ``{name}``)."""
    name = fresh_name(replicated, "lock:{{{}}}")
    client = replicated.client()
    holder, rival = Lock(client, name, timeout=30), Lock(client, name, timeout=30)
    jobs = ReliableQueue(client, name, visibility_timeout=0.5)
    assert holder.acquire(blocking=False)
    before = holder.fencing_token
    for n in range(10):
        jobs.push({"n": n})
    done = [jobs.reserve()]
    assert jobs.ack(done[0])
    abandoned = jobs.reserve()  # its worker "dies": never acked

    # Meanwhile another thread keeps locking and queueing on the same primary.
    errors: List[BaseException] = []
    cycles = [0]
    stop = threading.Event()

    def busy() -> None:
        own = replicated.client()
        lock = Lock(own, name, timeout=5, prefix="busy-lock:")  # busy-lock:{name}: same slot
        work = ReliableQueue(own, name, visibility_timeout=30, prefix="busy-rqueue:")
        while not stop.is_set():
            try:
                with lock:
                    work.push(cycles[0])
                    delivery = work.reserve()
                    assert delivery is not None and work.ack(delivery)
                cycles[0] += 1
            except BaseException as error:  # noqa: BLE001 - reported by the test
                errors.append(error)
                return
        own.close()

    # And idle workers blocked in BLMOVE, BRPOP, BZPOPMIN and XREADGROUP BLOCK: the demoted
    # primary ends their waits (UNBLOCKED); they must wait on, on the promoted replica.
    stream = EventStream(client, name, maxlen=100)
    waits = {
        "reserve": lambda: ReliableQueue(client, name, visibility_timeout=30,
                                         prefix="idle-rqueue:").reserve(timeout=10),
        "fifo": lambda: FifoQueue(client, name).pop(timeout=10),
        "priority": lambda: PriorityQueue(client, name).pop(timeout=10),
        "stream": lambda: StreamConsumer(client, stream, "g", "c", claim_idle=30)
        .read(count=1, block=10),
    }
    got: Dict[str, Any] = {}

    def idle(kind: str) -> None:
        try:
            got[kind] = waits[kind]()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            got[kind] = error

    idlers = [threading.Thread(target=idle, args=(kind,), daemon=True) for kind in waits]
    for thread in idlers:
        thread.start()
    worker = threading.Thread(target=busy, daemon=True)
    worker.start()
    time.sleep(0.2)
    before_cycles = cycles[0]
    promoted = fail_over(replicated, client, holder.key)
    time.sleep(0.3)
    stop.set()
    worker.join(10)
    assert errors == []
    assert cycles[0] > before_cycles  # the busy worker went on through the failover
    ReliableQueue(client, name, visibility_timeout=30, prefix="idle-rqueue:").push("r")
    FifoQueue(client, name).push("f")
    PriorityQueue(client, name).push("p", 1)
    stream.append({"s": 1})
    for thread in idlers:
        thread.join(10)
    assert [got["reserve"].job, got["fifo"], got["priority"], got["stream"][0].fields] == \
        ["r", "f", "p", {"s": 1}], got

    # The lock: still held (the write was replicated), still exclusive, released by its
    # owner, and the fence goes on increasing from the promoted replica's copy.
    assert holder.owned()
    assert client.get_node_from_key(holder.key).port == promoted  # the client followed MOVED
    assert not rival.acquire(blocking=False)
    holder.release()
    assert rival.acquire(blocking=False) and rival.fencing_token == before + 1
    rival.release()

    # The queue: the in-flight delivery is still in flight, the rest still ready, nothing
    # lost, nothing twice, and the abandoned job comes back after its visibility timeout.
    while (delivery := jobs.reserve()) is not None:
        assert jobs.ack(delivery)
        done.append(delivery)
    time.sleep(0.55)
    assert jobs.recover() == 1
    again = jobs.reserve()
    assert again.job == abandoned.job and again.attempt == 2 and jobs.ack(again)
    done.append(again)
    assert sorted(d.job["n"] for d in done) == list(range(10))
    client.close()


def test_every_scripted_pattern_works_after_a_failover(replicated):
    """Each scripted pattern (its keys all tagged with one name, so on one primary) before and
    after that primary fails over, with the same client: the promoted replica has the data but
    none of the scripts loaded, and the client's slot map is out of date."""
    name = fresh_name(replicated, "lock:{{{}}}")
    client = replicated.client()
    runs = scripted_operations(client, name)
    assert [operation for operation in OPERATIONS if not runs[operation]()] == []
    fail_over(replicated, client, f"lock:{{{name}}}")
    failed = {}
    for operation in OPERATIONS:
        try:
            if not runs[operation]():
                failed[operation] = "returned a falsy result"
        except Exception as error:  # noqa: BLE001 - report every operation that failed
            failed[operation] = f"{type(error).__name__}: {error}"
    assert failed == {}
    client.close()


def test_a_sharded_subscriber_follows_its_channel_to_the_new_primary(replicated):
    channel = fresh_name(replicated, "{}")
    client = replicated.client()
    received: "queue.Queue[Any]" = queue.Queue()
    subscriber = Subscriber(client, channel, handler=lambda c, m: received.put(m))
    subscriber.start()
    try:
        assert subscriber.wait_subscribed(5)
        assert Publisher(client).publish(channel, "before") == 1
        assert received.get(timeout=5) == "before"
        fail_over(replicated, client, channel)
        assert probe_until_delivered(client, channel, received, timeout=10) == "probe"
        assert subscriber.wait_subscribed(5)
    finally:
        subscriber.stop()
        client.close()


def test_a_client_reading_from_replicas_still_decides_on_the_primary(replicated):
    """With reads sent to replicas (a replica may lag behind its primary), every decision of a
    pattern (a script) still runs on the primary: no replica sees a GET or an EVALSHA."""
    from redis.cluster import LoadBalancingStrategy

    name = f"r{uuid.uuid4().hex[:10]}"
    for _ in range(100):  # the replicas become known by gossip
        client = replicated.client(load_balancing_strategy=LoadBalancingStrategy.RANDOM_REPLICA)
        if len(client.get_replicas()) == replicated.primaries:
            break
        client.close()
        time.sleep(0.1)
    replicas = [replicated.node_client(node.port) for node in client.get_replicas()]

    def replica_calls() -> int:
        stats = [node.info("commandstats") for node in replicas]
        return sum(int(s.get(f"cmdstat_{c}", {}).get("calls", 0))
                   for s in stats for c in ("get", "evalsha", "eval"))

    before = replica_calls()
    lock = Lock(client, name, timeout=5)
    for _ in range(20):
        assert lock.acquire(blocking=False) and lock.owned()
        lock.release()
        assert not lock.owned()
    runs = scripted_operations(client, name)
    assert [operation for operation in OPERATIONS if not runs[operation]()] == []
    assert client.zscore(f"leaderboard:{{{name}}}", "x") is None  # a plain read: a replica's
    assert replica_calls() == before
    for node in [client, *replicas]:
        node.close()
