"""The cluster rules, proven on a real Redis Cluster (three primaries, `tests/live_cluster.py`).

Every VALID and INVALID example of RL801 (lua-undeclared-keys), RL802 (cross-slot-keys) and
RL803 (logical-db-with-cluster) is executed as the program it is: its text is run with the
redis-py constructors redirected to the live cluster, then the calls listed in `PLANS` below.
Each INVALID example must fail there the way its rule says (the error is matched), each VALID
twin must run without error. An example a plan does not cover fails `test_every_example_has_a_plan`,
so examples and proof cannot drift apart. The last section does the same for RL205
(pipeline-not-executed) and RL206 (watch-without-retry) on redis-py's cluster pipelines.

Two redirections: "cluster" turns every client (`redis.Redis`, `from_url`, `RedisCluster`) into a
`RedisCluster` on the live cluster, i.e. the code after its move to Cluster; "node" keeps plain
clients plain but points them at one cluster node, to show what the cluster server itself
answers (RL803: `SELECT` is refused). Nothing connects anywhere but the cluster's loopback ports.
"""

from __future__ import annotations

import asyncio
import re
import sys
import types
import warnings
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


def _examples(codes: Sequence[str] = LIVE_RULES) -> Iterator[Any]:
    for code in codes:
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


# == RL205 (pipeline-not-executed) and RL206 (watch-without-retry) on cluster pipelines ==========
# redis-py's cluster client has pipelines of its own (`ClusterPipeline`): without
# `transaction=True` they group commands per node and refuse watch()/multi(); with it they run
# MULTI/EXEC (and WATCH) on the one node of the keys' slot. Each example runs as the program it
# is, its clients made `RedisCluster`s on the live cluster ("cluster" redirection above). Where
# an example WATCHes through a plain `pipeline()`, it cannot run on a cluster as written: that
# refusal is checked on the source as is (`as_written`), and the rule's point is shown on the
# source with `pipeline(transaction=True)`, the one change the move to Cluster needs.
PIPELINE_RULES = ("RL205", "RL206")
NOT_TRANSACTIONAL = r"method watch\(\) is not supported outside of transactional context"
WATCH_FAILED = r"WatchError: Watched variable changed"
CLIENT_WATCH = "Call WATCH from a Pipeline object"
WRITES = ("set", "expire", "incr", "sadd", "incrby", "decrby")


@dataclass(frozen=True)
class PipelinePlan:
    """`run`: statements executed in the example's namespace after its text ran (`live` is an
    inspecting cluster client, `run(lambda: coroutine)` runs async code, `live_async_cluster()`
    makes an async cluster client); `check`: an expression that must then be true; `error`: what the run
    must raise (INVALID examples whose harm is an exception). `transactional`: the example
    WATCHes through `pipeline()`, so it runs with `pipeline(transaction=True)`, and as written it
    must fail with `as_written` (a regex of the error) or, if it swallows errors, leave
    `as_written_check` true. `interfere`: a concurrent writer sets key `interfere[0]` to 500
    just before each of the first `interfere[1]` MULTIs (at `execute()` when `at_execute`).
    `sends_nothing`: no write command reached any node (INFO commandstats of every primary).
    """

    run: Sequence[str] = ()
    check: str = "True"
    error: str = ""
    transactional: bool = False
    as_written: str = NOT_TRANSACTIONAL
    as_written_check: str = ""
    interfere: Tuple[str, int] = ("", 0)
    at_execute: bool = False
    sends_nothing: bool = False
    sends_no_watch: bool = False
    warns: str = ""
    stub: str = ""  # a retry library the example imports, stubbed (see `_stub`)
    not_cluster_code: str = ""


PIPELINE_PLANS: Dict[Tuple[str, str, int], PipelinePlan] = {
    # -- RL205 pipeline-not-executed: the queued commands never reach any node -----------------
    ("RL205", "VALID", 0): PipelinePlan(
        ["save('7', 'v')"], "live.get('user:7') == b'v' and 0 < live.ttl('user:7') <= 60"),
    ("RL205", "VALID", 1): PipelinePlan(
        ["save('7', ['a', 'b'])", "n = chained('c')"],
        "live.smembers('tags:7') == {b'a', b'b'} and n == [1, True] and 0 < live.ttl('c') <= 5"),
    ("RL205", "VALID", 2): PipelinePlan(
        ["queue('7', 'v').execute()", "both('8', 'w')"],
        "live.get('user:7') == b'v' and live.get('a:8') == b'w'"),
    ("RL205", "VALID", 3): PipelinePlan(
        ["b = Batch()", "b.add('x')", "b.pipe.execute()", "b.start()", "b.current.execute()"],
        "live.get('x') == b'1' and live.get('n') == b'1'"),
    ("RL205", "VALID", 4): PipelinePlan(
        ["live.set('k', 5)", "got = read('k')", "bump('k')"],
        "got == b'5' and live.get('k') == b'6'", transactional=True),
    ("RL205", "VALID", 5): PipelinePlan(not_cluster_code="not Redis"),
    ("RL205", "VALID", 6): PipelinePlan(
        ["run(lambda: save(live_async_cluster(), 'k', 'v'))"],
        "live.get('k') == b'v' and 0 < live.ttl('k') <= 60"),
    ("RL205", "VALID", 7): PipelinePlan(
        ["save(['a', 'b'])"], "[live.get(k) for k in ('a', 'b', 'x')] == [b'1'] * 3"),
    ("RL205", "INVALID", 0): PipelinePlan(
        ["result = save('7', 'v')"], "result is None and live.exists('user:7') == 0",
        sends_nothing=True),
    ("RL205", "INVALID", 1): PipelinePlan(
        ["result = Counter('redis://cache:6379/0').hit('a')"],
        "result is None and live.exists('hits:a') == 0", sends_nothing=True),
    ("RL205", "INVALID", 2): PipelinePlan(
        ["result = run(lambda: save(live_async_cluster(), 'k', 'v'))"],
        "result is None and live.exists('k') == 0 and live.exists('n:k') == 0",
        sends_nothing=True),
    ("RL205", "INVALID", 3): PipelinePlan(
        ["result = save('7', 'v')"], "result == [] and live.exists('user:7') == 0",
        sends_nothing=True),
    ("RL205", "INVALID", 4): PipelinePlan(
        ["result = save('k', 'v')"], "result is None and live.exists('k') == 0",
        sends_nothing=True),
    ("RL205", "INVALID", 5): PipelinePlan(
        ["live.set('k', 1)", "result = bump('k')"], "result is None and live.get('k') == b'1'",
        transactional=True),
    # -- RL206 watch-without-retry: a conflict fails or loses the update; a retry does not ------
    ("RL206", "VALID", 0): PipelinePlan(
        ["live.set('k', 1)", "bump('k')"], "live.get('k') == b'501'", transactional=True,
        interfere=("k", 1)),
    ("RL206", "VALID", 1): PipelinePlan(  # client.transaction() is transactional as written
        ["live.set('k', 1)", "bump('k')"], "live.get('k') == b'501'", interfere=("k", 1)),
    ("RL206", "VALID", 2): PipelinePlan(
        ["live.set('k', 1)", "first = try_bump('k')", "second = try_bump('k')"],
        "first is False and second is True and live.get('k') == b'501'", transactional=True,
        interfere=("k", 1)),
    ("RL206", "VALID", 3): PipelinePlan(
        ["live.set('k', 1)", "bump('k')"], "live.get('k') == b'501'", transactional=True,
        interfere=("k", 1)),
    ("RL206", "VALID", 4): PipelinePlan(
        ["live.set('k', 1)", "bump('k')"], "live.get('k') == b'501'", transactional=True,
        interfere=("k", 1), stub="tenacity"),
    ("RL206", "VALID", 5): PipelinePlan(
        not_cluster_code="Celery retries the task in a worker; Celery is not installed here"),
    ("RL206", "VALID", 6): PipelinePlan(
        ["p = live.pipeline(transaction=True)", "step(p, 'k')", "p.execute()"],
        "live.get('k') == b'1'"),
    ("RL206", "VALID", 7): PipelinePlan(not_cluster_code="not Redis"),
    ("RL206", "VALID", 8): PipelinePlan(["bump('k')", "bump('k')"], "live.get('k') == b'2'"),
    ("RL206", "VALID", 9): PipelinePlan(
        ["live.set('k', 1)", "bump('k')"], "live.get('k') == b'501'", transactional=True,
        interfere=("k", 1)),
    ("RL206", "INVALID", 0): PipelinePlan(  # the update fails
        ["live.set('k', 100)", "debit('k', 30)"], "live.get('k') == b'500'", error=WATCH_FAILED,
        transactional=True, interfere=("k", 1)),
    ("RL206", "INVALID", 1): PipelinePlan(  # the update is lost, silently
        ["live.set('wallet:1', 100)", "result = Wallet('redis://db:6379/0').debit('1', 30)"],
        "result is None and live.get('wallet:1') == b'500'", transactional=True,
        as_written_check="result is None and live.get('wallet:1') == b'100'",
        interfere=("wallet:1", 1)),
    ("RL206", "INVALID", 2): PipelinePlan(
        ["live.set('k', 100)", "run(lambda: debit(live_async_cluster(), 'k', 30))"],
        "live.get('k') == b'500'", error=WATCH_FAILED, interfere=("k", 1)),
    ("RL206", "INVALID", 3): PipelinePlan(  # unprotected: the concurrent 500 is overwritten
        ["live.set('k', 100)", "debit('k', 30)"], "live.get('k') == b'70'",
        interfere=("k", 1), at_execute=True, warns=CLIENT_WATCH, sends_no_watch=True),
    ("RL206", "INVALID", 4): PipelinePlan(
        ["run(lambda: lock_in(live_async_cluster(), 7))"], warns=CLIENT_WATCH, sends_no_watch=True),
    ("RL206", "INVALID", 5): PipelinePlan(
        ["live.set('k', 1)", "result = bump('k')"], "result is None and live.get('k') == b'500'",
        transactional=True, as_written_check="result is None and live.get('k') == b'1'",
        interfere=("k", 3)),
}


PIPELINE_EXAMPLES = list(_examples(PIPELINE_RULES))


def test_every_pipeline_example_has_a_plan():
    wanted = {(p.values[0], p.values[1], p.values[2]) for p in PIPELINE_EXAMPLES}
    assert wanted == set(PIPELINE_PLANS), (
        f"examples without a live plan: {sorted(wanted - set(PIPELINE_PLANS))}; "
        f"plans without an example: {sorted(set(PIPELINE_PLANS) - wanted)}")
    for (code, kind, index), plan in PIPELINE_PLANS.items():
        assert bool(plan.run) != bool(plan.not_cluster_code), (code, kind, index)
        if kind == "INVALID":  # each shows the harm: an error, a lost write, or nothing sent
            assert plan.run and (plan.error or plan.check != "True" or plan.warns)


def _stub(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """tenacity is not a dependency here: a stub with the behaviour the example relies on
    (`retry(stop=stop_after_attempt(n))` runs the function again on any exception, n times
    in all, then re-raises)."""
    assert name == "tenacity"
    module = types.ModuleType("tenacity")

    def stop_after_attempt(attempts: int) -> int:
        return attempts

    def retry(stop: int) -> Any:
        def decorate(function: Any) -> Any:
            def retried(*args: Any, **kwargs: Any) -> Any:
                for attempt in range(1, stop + 1):
                    try:
                        return function(*args, **kwargs)
                    except Exception:
                        if attempt == stop:
                            raise
            return retried
        return decorate

    module.retry, module.stop_after_attempt = retry, stop_after_attempt  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tenacity", module)


def _interfere(monkeypatch: pytest.MonkeyPatch, live: Any, key: str, times: int,
               at_execute: bool) -> None:
    """Another client writes `key` just before the example's next MULTI (or execute())."""
    left = [times]

    def write() -> None:
        if left[0] > 0:
            left[0] -= 1
            live.set(key, 500)

    for pipeline in (redis.cluster.ClusterPipeline, redis.asyncio.cluster.ClusterPipeline):
        name = "execute" if at_execute else "multi"
        original = getattr(pipeline, name)
        if asyncio.iscoroutinefunction(original):
            async def hooked_async(self: Any, *args: Any, _original: Any = original,
                                   **kwargs: Any) -> Any:
                write()
                return await _original(self, *args, **kwargs)
            monkeypatch.setattr(pipeline, name, hooked_async)
        else:
            def hooked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                write()
                return _original(self, *args, **kwargs)
            monkeypatch.setattr(pipeline, name, hooked)


def _command_calls(primaries: Sequence[Any], commands: Sequence[str]) -> int:
    """How many of `commands` the primaries have executed so far (INFO commandstats)."""
    total = 0
    for node in primaries:
        stats = node.info("commandstats")
        total += sum(int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))
                     for command in commands)
    return total


def _run_pipeline_example(source: str, plan: PipelinePlan, cluster: Any, live: Any) -> Dict:
    namespace: Dict[str, Any] = {"__name__": "example"}
    exec(compile(source, "<example>", "exec"), namespace)  # noqa: S102 - the rule's example
    made: list = []

    def live_async_cluster() -> Any:
        made.append(redis.asyncio.cluster.RedisCluster(host="127.0.0.1", port=cluster.port))
        return made[-1]

    async def closing(make: Any) -> Any:
        try:
            return await make()  # clients made inside the loop (Python 3.9 needs it)
        finally:
            for client in made:
                await client.aclose()

    namespace.update(live=live, live_async_cluster=live_async_cluster,
                     run=lambda make: asyncio.run(closing(make)))
    for statement in plan.run:
        exec(statement, namespace)  # noqa: S102 - statements written in PIPELINE_PLANS
    return namespace


def _attempt(source: str, plan: PipelinePlan, cluster: Any, live: Any) -> Tuple[Dict, str]:
    """Run the example; its namespace and the error it raised ("" if none)."""
    namespace: Dict[str, Any] = {}
    try:
        namespace = _run_pipeline_example(source, plan, cluster, live)
    except FAILURES as error:
        return namespace, f"{type(error).__name__}: {error}"
    return namespace, ""


@pytest.mark.parametrize("code, kind, index, example", PIPELINE_EXAMPLES)
def test_pipeline_example_runs_on_the_cluster_as_its_rule_says(code, kind, index, example,
                                                              cluster, monkeypatch):
    plan = PIPELINE_PLANS[(code, kind, index)]
    rule = by_code()[code]
    source = example.code
    if plan.not_cluster_code:
        assert lint_source(source.encode(), "example.py", Settings(), [rule]) == []
        return
    # Made before the redirection: a RedisCluster to inspect with, a plain client per primary.
    live = cluster.client()
    primaries = [cluster.node_client(port) for port in cluster.primary_ports()]
    _redirect(monkeypatch, cluster, "cluster")
    if plan.stub:
        _stub(monkeypatch, plan.stub)
    try:
        if plan.transactional:
            # As written: refused (or, behind a broad except, silently nothing done).
            namespace, error = _attempt(source, plan, cluster, live)
            if plan.as_written_check:
                assert error == "" and eval(plan.as_written_check, namespace), \
                    f"{code} {kind} {index} as written: {error}"  # noqa: S307
            else:
                assert re.search(plan.as_written, error), f"as written: {error or 'no error'}"
            for node in primaries:
                node.flushall()
            source = source.replace(".pipeline()", ".pipeline(transaction=True)")
            assert "transaction=True" in source
            # The change keeps the rule's verdict.
            found = [f.code for f in lint_source(source.encode(), "example.py", Settings(),
                                                 [rule])]
            assert found == ([code] if kind == "INVALID" else [])
        if plan.interfere[1]:
            _interfere(monkeypatch, live, plan.interfere[0], plan.interfere[1], plan.at_execute)
        writes, watches = _command_calls(primaries, WRITES), _command_calls(primaries, ["watch"])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            namespace, error = _attempt(source, plan, cluster, live)
        if plan.error:
            assert re.search(plan.error, error), f"{code} {kind} {index}: {error or 'no error'}"
        else:
            assert error == "", f"{code} {kind} {index} failed: {error}"
        assert eval(plan.check, {**namespace, "live": live}), \
            f"{code} {kind} {index}: {plan.check}"  # noqa: S307
        if plan.sends_nothing:
            assert _command_calls(primaries, WRITES) == writes
        if plan.sends_no_watch:
            assert _command_calls(primaries, ["watch"]) == watches
        if plan.warns:
            assert any(plan.warns in str(warning.message) for warning in caught)
    finally:
        for client in [live, *primaries]:
            client.close()
