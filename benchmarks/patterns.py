"""Benchmark every redislint.patterns operation against redis-benchmark on the same server.

For each operation: round trips per call (counted on the connection), ops/s with one client,
ops/s with several client threads, and redis-benchmark's figure for the nearest single
command, with one client and with 50: the ceiling this machine allows.

    python benchmarks/patterns.py            # starts a throwaway redis-server on loopback
    REDIS_URL=redis://127.0.0.1:7777 python benchmarks/patterns.py

Every loop is bounded (operations and seconds); only loopback servers are accepted.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import Any, Callable, Iterator
from urllib.parse import urlparse

import redis

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from redislint.patterns.caching import CacheAside  # noqa: E402
from redislint.patterns.counters import WindowedCounter  # noqa: E402
from redislint.patterns.leaderboards import Leaderboard  # noqa: E402
from redislint.patterns.locks import Lock  # noqa: E402
from redislint.patterns.pubsub import Publisher  # noqa: E402
from redislint.patterns.queues import FifoQueue, PriorityQueue, ReliableQueue  # noqa: E402
from redislint.patterns.ratelimit import (  # noqa: E402
    FixedWindow,
    LeakyBucket,
    SlidingWindow,
    TokenBucket,
)
from redislint.patterns.sessions import SessionStore  # noqa: E402
from redislint.patterns.streams import EventStream, StreamConsumer  # noqa: E402
from redislint.patterns.unique import UniqueTracker  # noqa: E402

MAX_OPS = 3000
MAX_SECONDS = 1.0
THREADS = 4
BENCH_TESTS = "get,set,incr,lpush,rpop,hset,sadd,zadd,zpopmin"
#: Commands redis-benchmark has no built-in test for, run as custom commands.
BENCH_CUSTOM = [
    ["PUBLISH", "bench-channel", "1"],
    ["XADD", "bench-stream", "MAXLEN", "~", "1000", "*", "f", "1"],
]


class Counting(redis.Connection):
    """Counts the packets a connection sends: one per command, one per pipeline."""

    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        Counting.sent += 1
        super().send_packed_command(command, check_health)


def throwaway_server() -> Iterator[tuple[str, int]]:
    """Yield (host, port) of REDIS_URL, or of a fresh server torn down afterwards."""
    url = os.environ.get("REDIS_URL")
    if url:
        parsed = urlparse(url)
        if parsed.hostname not in ("127.0.0.1", "localhost"):
            sys.exit("REDIS_URL must point at a loopback address")
        yield parsed.hostname, parsed.port or 6379
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server not found; install it or set REDIS_URL")
    with tempfile.TemporaryDirectory() as workdir:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(500):
                try:
                    redis.Redis(port=port).ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.01)
            yield "127.0.0.1", port
        finally:
            process.terminate()
            process.wait(10)


def redis_benchmark(host: str, port: int, clients: int) -> dict[str, float]:
    """requests/s per command from ``redis-benchmark -q``, keyed by lower-case command name."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return {}
    base = [binary, "-h", host, "-p", str(port), "-q", "-n", "20000", "-c", str(clients)]
    figures = {}
    for extra in [["-t", BENCH_TESTS], *BENCH_CUSTOM]:
        run = subprocess.run(base + extra, capture_output=True, text=True, timeout=300)
        for line in run.stdout.replace("\r", "\n").splitlines():
            match = re.match(r"^(\S+?)[ :].*?([\d.]+) requests per second", line.strip())
            if match:
                figures[match.group(1).lower()] = float(match.group(2))
    return figures


def ops_per_second(operation: Callable[[], Any], threads: int = 1) -> float:
    """Run ``operation`` in ``threads`` threads until MAX_OPS calls or MAX_SECONDS in total."""
    done = [0] * threads
    stop_at = time.perf_counter() + MAX_SECONDS

    def worker(slot: int) -> None:
        while done[slot] < MAX_OPS // threads and time.perf_counter() < stop_at:
            operation()
            done[slot] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(slot,)) for slot in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return sum(done) / (time.perf_counter() - started)


def round_trips(operation: Callable[[], Any]) -> int:
    operation()  # warm: scripts loaded, connection open
    Counting.sent = 0
    operation()
    return Counting.sent


def operations(client: Any, name: str) -> list[tuple[str, str, Callable[[], Any], bool]]:
    """(label, nearest redis-benchmark test, operation, makes sense with several clients)."""
    cache = CacheAside(client, ttl=600)
    cache.set(name, {"hot": True})
    sessions = SessionStore(client, ttl=600, prefix=f"{name}:session:")
    sid = sessions.create({"user": 1})
    lock = Lock(client, name, timeout=5)
    fifo, priority = FifoQueue(client, name), PriorityQueue(client, name)
    reliable = ReliableQueue(client, name, visibility_timeout=60)
    board = Leaderboard(client, name)
    counter = WindowedCounter(client, name, window=60, retention=600)
    exact = UniqueTracker(client, name, ttl=600)
    approximate = UniqueTracker(client, f"{name}-hll", approximate=True, ttl=600)
    stream = EventStream(client, name, maxlen=10_000)
    consumer = StreamConsumer(client, stream, "bench", "c", claim_idle=60)
    big = 10**9
    limiters = {
        "FixedWindow.allow": FixedWindow(client, limit=big, window=60),
        "SlidingWindow.allow (limit 1000)": SlidingWindow(client, limit=1000, window=1),
        "TokenBucket.allow": TokenBucket(client, capacity=big, refill_per_second=big),
        "LeakyBucket.allow": LeakyBucket(client, rate=big, burst=big),
    }
    serial = iter(range(10**9))

    def lock_cycle() -> None:
        lock.acquire()
        lock.release()

    def reserve_ack() -> None:
        reliable.push(1)
        reliable.ack(reliable.reserve())

    def read_ack() -> None:
        stream.append({"n": 1})
        consumer.ack(*(entry.id for entry in consumer.read(count=1)))

    table = [
        ("CacheAside.get (hit)", "get", lambda: cache.get(name, dict), True),
        ("CacheAside.set", "set", lambda: cache.set(name, {"hot": True}), True),
        ("SessionStore.get", "hset", lambda: sessions.get(sid), True),
        ("SessionStore.update", "hset", lambda: sessions.update(sid, seen=1), True),
        ("Lock.acquire+release", "set", lock_cycle, False),
    ]
    table += [(label, "incr", lambda lim=lim: lim.allow(name), True)
              for label, lim in limiters.items()]
    table += [
        ("Publisher.publish", "publish", lambda: Publisher(client).publish(name, 1), True),
        ("FifoQueue.push", "lpush", lambda: fifo.push({"job": 1}), True),
        ("FifoQueue.pop", "rpop", fifo.pop, True),
        ("PriorityQueue.push", "zadd", lambda: priority.push({"job": 1}, 1), True),
        ("PriorityQueue.pop", "zpopmin", priority.pop, True),
        ("ReliableQueue.push+reserve+ack", "lpush", reserve_ack, True),
        ("Leaderboard.incr", "zadd", lambda: board.incr(f"m{next(serial) % 1000}", 1), True),
        ("Leaderboard.rank", "zadd", lambda: board.rank("m1"), True),
        ("Leaderboard.around", "zadd", lambda: board.around("m1", 5), True),
        ("WindowedCounter.incr", "incr", counter.incr, True),
        ("UniqueTracker.add (exact)", "sadd", lambda: exact.add(next(serial)), True),
        ("UniqueTracker.add (HyperLogLog)", "sadd", lambda: approximate.add(next(serial)), True),
        ("EventStream.append", "xadd", lambda: stream.append({"n": 1}), True),
        ("StreamConsumer append+read+ack", "xadd", read_ack, False),
    ]
    return table


def main() -> None:
    for host, port in throwaway_server():
        pool = redis.ConnectionPool(host=host, port=port, connection_class=Counting)
        client = redis.Redis(connection_pool=pool)
        name = f"bench-{uuid.uuid4().hex[:8]}"
        try:
            print(f"redis-server {client.info('server')['redis_version']} on {host}:{port}")
            single, many = redis_benchmark(host, port, 1), redis_benchmark(host, port, 50)
            header = (f"{'operation':34} {'RT':>3} {'ops/s 1':>9} {f'ops/s {THREADS}thr':>11}"
                      f"  {'cmd':8} {'rb c=1':>9} {'rb c=50':>9}")
            print(header)
            print("-" * len(header))
            for label, command, operation, parallel in operations(client, name):
                trips = round_trips(operation)
                one = ops_per_second(operation)
                several = f"{ops_per_second(operation, THREADS):11.0f}" if parallel else f"{'-':>11}"
                print(f"{label:34} {trips:3d} {one:9.0f} {several}  {command:8}"
                      f" {single.get(command, 0):9.0f} {many.get(command, 0):9.0f}")
            print("\nRT: round trips per call. rb: redis-benchmark -q -n 20000 for the nearest"
                  " single command, with 1 and 50 clients.")
        finally:
            for key in client.scan_iter(match=f"*{name}*", count=1000):
                client.delete(key)
            client.close()


if __name__ == "__main__":
    main()
