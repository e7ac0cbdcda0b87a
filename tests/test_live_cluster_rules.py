"""The cluster rules, proven on a real Redis Cluster (three primaries, `tests/live_cluster.py`).

Every VALID and INVALID example of RL801 (lua-undeclared-keys), RL802 (cross-slot-keys) and
RL803 (logical-db-with-cluster) is executed as the program it is: its text is run with the
redis-py constructors redirected to the live cluster, then the calls listed in `PLANS` below.
Each INVALID example must fail there the way its rule says (the error is matched), each VALID
twin must run without error. An example a plan does not cover fails `test_every_example_has_a_plan`,
so examples and proof cannot drift apart.

Two redirections: "cluster" turns every client (`redis.Redis`, `from_url`, `RedisCluster`) into a
`RedisCluster` on the live cluster, i.e. the code after its move to Cluster; "node" keeps plain
clients plain but points them at one cluster node, to show what the cluster server itself
answers (RL803: `SELECT` is refused). Nothing connects anywhere but the cluster's loopback ports.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import redis.asyncio.cluster
import redis.cluster
import redis.connection
from redis.exceptions import RedisClusterException, RedisError

from live_cluster import redis_cluster  # noqa: F401 - registers the fixture
from redislint.config import Settings
from redislint.linter import lint_source
from redislint.registry import by_code

LIVE_RULES = ("RL801", "RL802", "RL803")
# redis-py's client-side cluster checks raise RedisClusterException, which is no RedisError.
FAILURES = (RedisError, RedisClusterException)

# What each rule says goes wrong, as redis-py or the server words it.
CROSS_SLOT = (r"keys must map to the same key slot|CrossSlot|CROSSSLOT|don't hash to the same slot|"
              r"transaction must map to the same slot")
NON_LOCAL_KEY = r"non local key|do not hash to the same slot"
NO_DATABASE = (r"'db' is not possible to use in cluster mode|db`` querystring option can only "
               r"be 0|SELECT is not allowed in cluster mode")


@dataclass(frozen=True)
class Plan:
    """How to run one example: `calls` are Python expressions evaluated in the example's
    namespace after its text ran (a coroutine is awaited); `apart` are pairs of keys that must
    live on different nodes for the INVALID example to be a fair test (checked first)."""

    calls: Sequence[str] = ()
    mode: str = "cluster"
    error: str = ""
    apart: Sequence[Tuple[str, str]] = ()
    not_cluster_code: str = ""  # why this example is not a program that runs on a cluster
    env: Tuple[Tuple[str, str], ...] = ()  # environment variables the example reads


PLANS: Dict[Tuple[str, str, int], Plan] = {
    # -- RL801 lua-undeclared-keys ------------------------------------------------------------
    ("RL801", "VALID", 0): Plan(["hit(keys=['hits:7'], args=[60])"]),
    ("RL801", "VALID", 1): Plan(["release('lock:a', 'token')"]),
    ("RL801", "VALID", 2): Plan(["r.set('{q}:a', 1)", "clear(keys=['{q}:a', '{q}:b'])"]),
    ("RL801", "VALID", 3): Plan(["pub(keys=[], args=['hello'])"]),
    ("RL801", "VALID", 4): Plan(not_cluster_code="a Lua runtime, not Redis"),
    ("RL801", "VALID", 5): Plan(["run('return 1')"]),
    ("RL801", "INVALID", 0): Plan(["hit(7)"], error=NON_LOCAL_KEY,
                                  apart=[("hits:7", "stats:total")]),
    ("RL801", "INVALID", 1): Plan(["limit(7)"], error=NON_LOCAL_KEY, apart=[("hits:7", "rate:7")]),
    ("RL801", "INVALID", 2): Plan(["Counter(r).hit('user:1')"], error=NON_LOCAL_KEY,
                                  apart=[("user:1", "user:1:count")]),
    ("RL801", "INVALID", 3): Plan(["r.rpush('queue:a', '1')", "pop('queue:a')"],
                                  error=NON_LOCAL_KEY, apart=[("queue:a", "job:1")]),
    ("RL801", "INVALID", 4): Plan(["rc.set('stats:total', 'x')", "copy('hits:7', 'stats:total')"],
                                  error=NON_LOCAL_KEY, apart=[("hits:7", "stats:total")]),
    # -- RL802 cross-slot-keys ----------------------------------------------------------------
    ("RL802", "VALID", 0): Plan(["profile(42)"]),
    ("RL802", "VALID", 1): Plan(["move()"]),
    ("RL802", "VALID", 2): Plan(not_cluster_code="a plain client: one server has no slots"),
    ("RL802", "VALID", 3): Plan(["rc.set('user:7:name', 'a')", "forget(7)"]),
    ("RL802", "VALID", 4): Plan(["read(['{u7}:name', '{u7}:email'])"]),
    ("RL802", "VALID", 5): Plan(["bump(7)"]),
    ("RL802", "VALID", 6): Plan(["save(7, 'a', 'b')"]),
    ("RL802", "VALID", 7): Plan(["save(7, 'a', 'b')"]),
    ("RL802", "VALID", 8): Plan(["profile(42)"]),
    ("RL802", "INVALID", 0): Plan(["profile(42)"], error=CROSS_SLOT),
    ("RL802", "INVALID", 1): Plan(["move()"], error=CROSS_SLOT),
    ("RL802", "INVALID", 2): Plan(["bump(42)"], error=CROSS_SLOT),
    ("RL802", "INVALID", 3): Plan(["save(7, 'a', 'b')"], error=CROSS_SLOT),
    ("RL802", "INVALID", 4): Plan(["follow(1, 2)"], error=CROSS_SLOT),
    ("RL802", "INVALID", 5): Plan(["totals([1, 2])"], error=CROSS_SLOT),
    ("RL802", "INVALID", 6): Plan(["merge(live_async_cluster())"], error=CROSS_SLOT),
    # -- RL803 logical-db-with-cluster --------------------------------------------------------
    ("RL803", "VALID", 0): Plan(not_cluster_code="no cluster anywhere: db=2 on a plain server"),
    ("RL803", "VALID", 1): Plan(["rc.ping()", "r.ping()"], mode="node"),
    ("RL803", "VALID", 2): Plan(["rc.ping()", "r.ping()"], mode="node",
                                env=(("CACHE_URL", "redis://cache:6379/0"),)),
    ("RL803", "VALID", 3): Plan(["rc.ping()"], mode="node"),
    ("RL803", "VALID", 4): Plan(["rc.ping()", "cache(Settings0()).ping()"], mode="node"),
    ("RL803", "VALID", 5): Plan(not_cluster_code="not Redis"),
    ("RL803", "VALID", 6): Plan(not_cluster_code="a test's database on a standalone test server"),
    ("RL803", "INVALID", 0): Plan(["rc.ping()"], mode="node", error=NO_DATABASE),
    ("RL803", "INVALID", 1): Plan(["rc.ping()"], mode="node", error=NO_DATABASE),
    ("RL803", "INVALID", 2): Plan(["rc.ping()", "cache.ping()"], mode="node", error=NO_DATABASE),
    ("RL803", "INVALID", 3): Plan(["rc.ping()", "sessions.ping()"], mode="node", error=NO_DATABASE),
    ("RL803", "INVALID", 4): Plan(["redis.Redis(connection_pool=pool).ping()"], mode="node",
                                  error=NO_DATABASE),
}


def _examples() -> Iterator[Any]:
    for code in LIVE_RULES:
        rule = by_code()[code]
        for kind in ("VALID", "INVALID"):
            for index, example in enumerate(getattr(rule, kind)):
                yield pytest.param(code, kind, index, example, id=f"{code}-{kind.lower()}-{index}")


EXAMPLES = list(_examples())


def test_every_example_has_a_plan():
    wanted = {(p.values[0], p.values[1], p.values[2]) for p in EXAMPLES}
    assert wanted == set(PLANS), (
        f"examples without a live plan: {sorted(wanted - set(PLANS))}; "
        f"plans without an example: {sorted(set(PLANS) - wanted)}")
    for key, plan in PLANS.items():
        if key[1] == "INVALID":
            assert plan.error and plan.calls and not plan.not_cluster_code, key
        else:
            assert bool(plan.calls) != bool(plan.not_cluster_code), key


# -- redirecting redis-py to the live cluster ---------------------------------------------------
def _retarget(url: str, port: int) -> str:
    """The same URL (path, query) on a cluster node, without credentials."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme or "redis", f"127.0.0.1:{port}", parts.path, parts.query, ""))


class _Settings0:
    CACHE_DB = 0


def _redirect(monkeypatch: pytest.MonkeyPatch, cluster: Any, mode: str) -> None:
    live_port = cluster.port
    allowed = set(cluster.ports)
    real_cluster = redis.cluster.RedisCluster
    real_redis = redis.Redis
    real_pool = redis.ConnectionPool

    class LiveCluster(real_cluster):  # type: ignore[misc, valid-type]
        def __init__(self, host: Any = None, port: Any = None, startup_nodes: Any = None,
                     url: Optional[str] = None, **options: Any) -> None:
            options.pop("password", None)
            if url is not None:
                super().__init__(url=_retarget(url, live_port), **options)
            else:
                super().__init__(host="127.0.0.1", port=live_port, **options)

        @classmethod
        def from_url(cls, url: str, **options: Any) -> Any:
            return cls(url=url, **options)

    class PlainAsCluster(LiveCluster):
        """`redis.Redis(host, port, db, ...)` after the move: a cluster client."""

        def __init__(self, host: Any = None, port: Any = None, db: Any = None,
                     **options: Any) -> None:
            if db is not None:
                options["db"] = db
            super().__init__(**options)

    class PlainOnNode(real_redis):  # type: ignore[misc, valid-type]
        """`redis.Redis(...)` kept plain, pointed at one cluster node."""

        def __init__(self, host: Any = None, port: Any = None, db: Any = 0,
                     *args: Any, **options: Any) -> None:
            options.pop("password", None)
            if options.get("connection_pool") is not None:
                super().__init__(**options)
            else:
                super().__init__("127.0.0.1", live_port, db, *args, **options)

        @classmethod
        def from_url(cls, url: str, **options: Any) -> Any:
            return super().from_url(_retarget(url, live_port), **options)

    class PoolOnNode(real_pool):  # type: ignore[misc, valid-type]
        @classmethod
        def from_url(cls, url: str, **options: Any) -> Any:
            return real_pool.from_url(_retarget(url, live_port), **options)

    plain = PlainOnNode if mode == "node" else PlainAsCluster
    for module in (redis.cluster, redis):
        monkeypatch.setattr(module, "RedisCluster", LiveCluster)
    monkeypatch.setattr(redis, "Redis", plain)
    monkeypatch.setattr(redis, "StrictRedis", plain)
    monkeypatch.setattr(redis, "from_url", plain.from_url)
    monkeypatch.setattr(redis, "ConnectionPool", PoolOnNode)

    sync_connect = redis.connection.Connection._connect
    async_connect = redis.asyncio.connection.Connection._connect

    def guard(connection: Any) -> None:
        if connection.host not in ("127.0.0.1", "localhost") or int(connection.port) not in allowed:
            raise AssertionError(f"a test tried to reach {connection.host}:{connection.port}")

    def guarded_sync(self: Any) -> Any:
        guard(self)
        return sync_connect(self)

    async def guarded_async(self: Any) -> Any:
        guard(self)
        return await async_connect(self)

    monkeypatch.setattr(redis.connection.Connection, "_connect", guarded_sync)
    monkeypatch.setattr(redis.asyncio.connection.Connection, "_connect", guarded_async)


def _run(code: str, plan: Plan, cluster: Any) -> None:
    namespace: Dict[str, Any] = {"__name__": "example"}
    compiled = compile(code, "<example>", "exec")
    exec(compiled, namespace)  # noqa: S102 - the rule's own example program
    namespace["Settings0"] = _Settings0
    namespace["live_async_cluster"] = lambda: redis.asyncio.cluster.RedisCluster(
        host="127.0.0.1", port=cluster.port)
    namespace.setdefault("redis", redis)
    for call in plan.calls:
        result = eval(call, namespace)  # noqa: S307 - expressions written in PLANS
        if asyncio.iscoroutine(result):
            asyncio.run(_closing(result, namespace))


async def _closing(coroutine: Any, namespace: Dict[str, Any]) -> Any:
    try:
        return await coroutine
    finally:
        for value in list(namespace.values()):
            if isinstance(value, redis.asyncio.cluster.RedisCluster):
                await value.aclose()


@pytest.fixture
def cluster(redis_cluster: Any) -> Iterator[Any]:
    redis_cluster.flush()
    yield redis_cluster


def _check_apart(cluster: Any, pairs: Sequence[Tuple[str, str]]) -> None:
    client = cluster.client()
    try:
        for first, second in pairs:
            a, b = client.get_node_from_key(first), client.get_node_from_key(second)
            assert a.name != b.name, (
                f"{first!r} and {second!r} are both on {a.name}: the example would not show "
                "the harm on this cluster layout; pick keys on different nodes")
    finally:
        client.close()


@pytest.mark.parametrize("code, kind, index, example", EXAMPLES)
def test_example_runs_on_the_cluster_as_its_rule_says(code, kind, index, example, cluster,
                                                     monkeypatch):
    plan = PLANS[(code, kind, index)]
    if plan.not_cluster_code:
        # Nothing to run on a cluster; the rule's silence is all there is to check.
        findings = lint_source(example.code.encode(), "example.py", Settings(), [by_code()[code]])
        assert findings == []
        return
    _check_apart(cluster, plan.apart)
    _redirect(monkeypatch, cluster, plan.mode)
    for name, value in plan.env:
        monkeypatch.setenv(name, value)
    if kind == "VALID":
        _run(example.code, plan, cluster)
        return
    with pytest.raises(FAILURES) as failure:
        _run(example.code, plan, cluster)
    text = f"{type(failure.value).__name__}: {failure.value}"
    assert re.search(plan.error, text), f"{code} INVALID {index} failed otherwise: {text}"


# -- what the server itself answers, without redis-py's client-side checks ----------------------
@pytest.mark.parametrize("command, keys, tagged", [
    ("MGET", ("user:42:name", "user:42:email"), ("user:{42}:name", "user:{42}:email")),
    ("RPOPLPUSH", ("jobs:pending", "jobs:working"), ("{jobs}:pending", "{jobs}:working")),
    ("SUNIONSTORE", ("tags:all", "tags:a", "tags:b"), ("{tags}:all", "{tags}:a", "{tags}:b")),
])
def test_the_server_refuses_cross_slot_keys(cluster, command, keys, tagged):
    """Sent straight to the node of the first key, the cross-slot command gets CROSSSLOT from
    the server; with a shared hash tag it runs."""
    client = cluster.client()
    try:
        node = client.get_node_from_key(keys[0])
        with pytest.raises(RedisError, match="CROSSSLOT|same slot"):
            client.execute_command(command, *keys, target_nodes=node)
        node = client.get_node_from_key(tagged[0])
        client.execute_command(command, *tagged, target_nodes=node)
    finally:
        client.close()


def test_the_server_refuses_an_undeclared_key_on_another_node(cluster):
    """The same script with the key declared in KEYS runs; touching it undeclared fails."""
    client = cluster.client()
    try:
        undeclared = "redis.call('INCR', KEYS[1]) return redis.call('INCR', 'stats:total')"
        declared = "redis.call('INCR', KEYS[1]) return redis.call('INCR', KEYS[2])"
        with pytest.raises(RedisError, match=NON_LOCAL_KEY):
            client.eval(undeclared, 1, "hits:7")
        assert client.eval(declared, 2, "{hits:7}", "{hits:7}:total") == 1
    finally:
        client.close()


def test_the_server_refuses_select(cluster):
    node = cluster.node_client(cluster.port, db=1)
    try:
        with pytest.raises(RedisError, match="SELECT is not allowed in cluster mode"):
            node.ping()
    finally:
        node.close()
    assert cluster.node_client(cluster.port).ping()


def test_a_cluster_that_cannot_start_says_why(tmp_path):
    """No redis-cli (or redis-server): a ClusterStartError naming the tool, which the
    `redis_cluster` fixture turns into a failed test, never a skip."""
    from live_cluster import ClusterStartError, LocalRedisCluster

    broken = LocalRedisCluster(tmp_path, cli=str(tmp_path / "no-redis-cli"))
    with pytest.raises(ClusterStartError, match="no-redis-cli not found: install redis"):
        broken.start()
    assert broken.processes == []
