"""What redis-py (and its forks) look like from the outside: constructors and command families."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from redislint.semantic.clients.objects import RedisObject  # noqa: F401 - re-exported

if TYPE_CHECKING:
    import libcst as cst

    from redislint.semantic.model import RedisCall


# Roots that lead to clients. An import of any of these makes a file worth parsing.
CLIENT_PACKAGES = ("redis", "valkey", "aioredis", "django_redis", "walrus", "coredis")

_SYNC_CLIENTS = ("Redis", "StrictRedis", "client.Redis", "client.StrictRedis")
_CLUSTER = ("RedisCluster", "cluster.RedisCluster")


def _spell(packages: tuple, names: tuple) -> set:
    return {f"{p}.{n}" for p in packages for n in names}


# Qualified name of a class or factory -> the client it makes.
CONSTRUCTORS = {}
for _qual in _spell(("redis", "valkey"), _SYNC_CLIENTS):
    CONSTRUCTORS[_qual] = RedisObject("client")
    CONSTRUCTORS[_qual + ".from_url"] = RedisObject("client")
for _qual in _spell(("redis.asyncio", "valkey.asyncio", "aioredis"), _SYNC_CLIENTS):
    CONSTRUCTORS[_qual] = RedisObject("client", is_async=True)
    CONSTRUCTORS[_qual + ".from_url"] = RedisObject("client", is_async=True)
for _qual in _spell(("redis", "valkey"), _CLUSTER):
    CONSTRUCTORS[_qual] = RedisObject("client", cluster=True)
    CONSTRUCTORS[_qual + ".from_url"] = RedisObject("client", cluster=True)
for _qual in _spell(("redis.asyncio", "valkey.asyncio"), _CLUSTER):
    CONSTRUCTORS[_qual] = RedisObject("client", is_async=True, cluster=True)
    CONSTRUCTORS[_qual + ".from_url"] = RedisObject("client", is_async=True, cluster=True)
CONSTRUCTORS.update(
    {
        "redis.from_url": RedisObject("client"),
        "redis.client.from_url": RedisObject("client"),
        "redis.utils.from_url": RedisObject("client"),
        "valkey.from_url": RedisObject("client"),
        "redis.asyncio.from_url": RedisObject("client", is_async=True),
        "redis.asyncio.utils.from_url": RedisObject("client", is_async=True),
        "valkey.asyncio.from_url": RedisObject("client", is_async=True),
        "aioredis.from_url": RedisObject("client", is_async=True),
        "aioredis.client.Redis": RedisObject("client", is_async=True),
        "aioredis.client.Redis.from_url": RedisObject("client", is_async=True),
        "aioredis.client.StrictRedis": RedisObject("client", is_async=True),
        "django_redis.get_redis_connection": RedisObject("client"),
    }
)
# valkey-py renames the classes as well (`Valkey`, `StrictValkey`, `ValkeyCluster`), in the
# same modules as redis-py's.
for _module, _async in (("valkey", False), ("valkey.client", False), ("valkey.asyncio", True),
                        ("valkey.asyncio.client", True)):
    for _name in ("Valkey", "StrictValkey"):
        CONSTRUCTORS[f"{_module}.{_name}"] = RedisObject("client", is_async=_async)
        CONSTRUCTORS[f"{_module}.{_name}.from_url"] = RedisObject("client", is_async=_async)
for _module, _async in (("valkey", False), ("valkey.cluster", False), ("valkey.asyncio", True),
                        ("valkey.asyncio.cluster", True)):
    CONSTRUCTORS[f"{_module}.ValkeyCluster"] = RedisObject("client", is_async=_async, cluster=True)
    CONSTRUCTORS[f"{_module}.ValkeyCluster.from_url"] = RedisObject("client", is_async=_async,
                                                                    cluster=True)
for _qual in list(CONSTRUCTORS):
    if _qual.endswith(".from_url"):
        # `Redis.from_pool(pool)` (redis-py 5.0.1+): a client around an existing pool.
        CONSTRUCTORS[_qual[:-len("from_url")] + "from_pool"] = CONSTRUCTORS[_qual]
# Classes whose instances hand out clients through a method (`Sentinel(...).master_for(...)`).
CLIENT_FACTORIES = {
    "redis.sentinel.Sentinel": ("master_for", "slave_for"),
    "redis.Sentinel": ("master_for", "slave_for"),
    "redis.asyncio.sentinel.Sentinel": ("master_for", "slave_for"),
    "redis.asyncio.Sentinel": ("master_for", "slave_for"),
    "valkey.sentinel.Sentinel": ("master_for", "slave_for"),
    "valkey.Sentinel": ("master_for", "slave_for"),
    "valkey.asyncio.sentinel.Sentinel": ("master_for", "slave_for"),
    "valkey.asyncio.Sentinel": ("master_for", "slave_for"),
    "aioredis.sentinel.Sentinel": ("master_for", "slave_for"),
    "aioredis.Sentinel": ("master_for", "slave_for"),
}
# Type names accepted in annotations (`def f(r: Redis)`), besides the constructors themselves.
ANNOTATION_ONLY = {
    "redis.client.Pipeline": RedisObject("pipeline", transaction=None),
    "redis.asyncio.client.Pipeline": RedisObject("pipeline", is_async=True, transaction=None),
    "redis.lock.Lock": RedisObject("lock"),
    "redis.asyncio.lock.Lock": RedisObject("lock", is_async=True),
    "redis.cluster.ClusterNode": RedisObject("node"),
    "redis.asyncio.cluster.ClusterNode": RedisObject("node", is_async=True),
}

# Methods on a client that return derived objects.
PIPELINE_METHODS = ("pipeline",)
LOCK_METHODS = ("lock",)
PUBSUB_METHODS = ("pubsub",)
SCRIPT_METHODS = ("register_script",)
# Lock classes constructed directly: `Lock(r, "name", timeout=5)`.
LOCK_CLASSES = {"redis.lock.Lock", "redis.asyncio.lock.Lock", "valkey.lock.Lock"}
# Connection pools constructed directly (`ConnectionPool(...)`, `ConnectionPool.from_url(url)`):
# each one opens its own sockets. Not Redis objects themselves: a client wraps one.
POOL_CONSTRUCTORS = frozenset(
    f"{module}.{cls}{suffix}"
    for module in ("redis", "redis.connection", "redis.asyncio", "redis.asyncio.connection",
                   "valkey", "valkey.connection", "valkey.asyncio", "valkey.asyncio.connection")
    for cls in ("ConnectionPool", "BlockingConnectionPool")
    for suffix in ("", ".from_url")
)

# Command families rules share. Names are redis-py method names.
STRING_WRITES = frozenset({"set", "mset", "setnx", "getset", "msetnx", "setrange", "append"})
EXPIRE_COMMANDS = frozenset({"expire", "pexpire", "expireat", "pexpireat"})
INCR_COMMANDS = frozenset({"incr", "incrby", "incrbyfloat", "decr", "decrby", "hincrby",
                           "hincrbyfloat", "zincrby"})
COLLECTION_WRITES = frozenset({"set", "setnx", "hset", "hmset", "hsetnx", "sadd", "rpush",
                               "lpush", "rpushx", "lpushx", "zadd", "xadd", "pfadd",
                               "setbit", "setrange", "append", "mset", "getset", "geoadd"})
BLOCKING_POPS = frozenset({"brpop", "blpop", "bzpopmin", "bzpopmax"})
QUEUE_POPS = frozenset({"brpop", "blpop", "rpop", "lpop"})
# Commands that move an element to another list in one step: the processing-list pattern.
# (LMPOP/BLMPOP pop from one of several lists; they move nothing.)
QUEUE_MOVES = frozenset({"lmove", "blmove", "rpoplpush", "brpoplpush"})
# Blocking commands -> position of their timeout in seconds (0 or None: block forever).
BLOCKING_TIMEOUT_POSITION = {"blpop": 1, "brpop": 1, "bzpopmin": 1, "bzpopmax": 1,
                             "brpoplpush": 2, "blmove": 2, "blmpop": 0, "bzmpop": 0}
DELETE_COMMANDS = frozenset({"delete", "unlink", "getdel"})
# Client methods that send no command of their own: they build an object, page through a
# cursor by themselves (`scan_iter`), run a whole optimistic transaction, or manage the client.
NOT_COMMANDS = frozenset({
    "pipeline", "lock", "pubsub", "register_script", "transaction", "monitor", "close",
    "aclose", "get_encoder", "get_connection_kwargs", "set_response_callback", "get_retry",
    "set_retry", "from_url", "from_pool", "scan_iter", "sscan_iter", "hscan_iter", "zscan_iter",
    "get_node", "get_nodes", "get_default_node", "get_primaries", "get_replicas",
    "get_redis_connection", "get_connection", "get_node_from_key",
    "get_random_node", "keyslot", "determine_slot", "initialize", "load_external_module",
    "json", "ft", "ts", "bf", "cf", "cms", "topk", "tdigest", "graph", "__enter__", "__exit__",
    "__aenter__", "__aexit__",
})
# Server administration and introspection (set-up, monitoring), not data access.
_ADMIN_PREFIXES = ("xgroup_", "xinfo_", "config_", "client_", "script_", "function_", "acl_",
                   "cluster_", "module_", "memory_", "slowlog_", "latency_", "command_")
_ADMIN = frozenset({"info", "ping", "echo", "dbsize", "time", "lastsave", "save", "bgsave",
                    "bgrewriteaof", "role", "wait", "waitaof", "readonly", "readwrite"})


def is_admin_command(command: str) -> bool:
    """`xgroup_create`, `config_set`, `info`...: managing the server, not reading or writing data."""
    return command in _ADMIN or command.startswith(_ADMIN_PREFIXES)


# Commands no common non-Redis object has a method for: a receiver sent two of them is
# probably a client (usage evidence). `get`, `set`, `delete`, `keys`, `incr`, `exists`,
# `publish` and `lock` are left out: dicts, caches, storages and buses have them too.
REDIS_ONLY = frozenset({
    "hset", "hget", "hgetall", "hmget", "hmset", "hdel", "hincrby", "hincrbyfloat", "hexists",
    "hkeys", "hvals", "hlen", "hsetnx", "hscan", "hscan_iter", "zadd", "zrem", "zrange",
    "zrevrange", "zrangebyscore", "zrevrangebyscore", "zscore", "zincrby", "zcard", "zcount",
    "zrank", "zrevrank", "zremrangebyscore", "zremrangebyrank", "zpopmin", "zpopmax",
    "bzpopmin", "bzpopmax", "zunionstore", "zinterstore", "zscan_iter", "zmscore", "lpush",
    "rpush", "lpop", "rpop", "blpop", "brpop", "lrange", "llen", "lrem", "ltrim", "lindex",
    "lset", "linsert", "rpoplpush", "brpoplpush", "lmove", "blmove", "lpos", "sadd", "srem",
    "smembers", "sismember", "smismember", "scard", "spop", "srandmember", "sinter", "sunion",
    "sdiff", "sinterstore", "sunionstore", "sdiffstore", "smove", "sscan_iter", "expire",
    "pexpire", "expireat", "pexpireat", "ttl", "pttl", "persist", "setex", "psetex", "setnx",
    "incrby", "decrby", "incrbyfloat", "getset", "mget", "mset", "msetnx", "getex", "getdel",
    "xadd", "xread", "xreadgroup", "xack", "xrange", "xrevrange", "xlen", "xtrim", "xdel",
    "xautoclaim", "xclaim", "xpending", "pfadd", "pfcount", "pfmerge", "geoadd", "georadius",
    "geosearch", "geodist", "pipeline", "scan_iter", "evalsha", "register_script", "setbit",
    "getbit", "bitcount", "unlink", "flushdb", "flushall", "dbsize",
})

# Every write that can create a key, and so leave it without a TTL.
KEY_WRITES = COLLECTION_WRITES | STRING_WRITES | INCR_COMMANDS

# redis-py's `set(name, value, ex, px, nx, xx, keepttl, get, exat, pxat)`, in positional order.
SET_PARAMS = ("name", "value", "ex", "px", "nx", "xx", "keepttl", "get", "exat", "pxat")
TTL_OPTIONS = ("ex", "px", "exat", "pxat")


def set_option(call: "RedisCall", name: str) -> Optional[cst.BaseExpression]:
    """The expression a `set()` call passes for option `name` (by keyword or position), or None
    when it is absent or spelt as a literal `None`/`False` (redis-py's "off")."""
    import libcst as cst  # the tables above are read without the parser (the project solver)

    value = call.arg(SET_PARAMS.index(name), name)
    if isinstance(value, cst.Name) and value.value in ("None", "False"):
        return None
    return value


def write_ttl(call: "RedisCall") -> Optional[bool]:
    """Whether this write gives its key an expiry as it writes it: True for SETEX/PSETEX and SET
    with `ex`/`px`/`exat`/`pxat`/`keepttl`, False when the command cannot or does not, None when
    `*args`/`**kwargs` hide the options."""
    if call.command in ("setex", "psetex"):
        return True
    if call.command != "set":
        return False
    if call.has_star_args:
        return None
    return any(set_option(call, name) is not None for name in TTL_OPTIONS + ("keepttl",))


def is_set_if_absent(call: "RedisCall") -> bool:
    """SETNX, or `set(k, v, nx=True)` without an expiry: a key created with no TTL, once."""
    if call.command == "setnx":
        return not call.has_star_args
    return (call.command == "set" and write_ttl(call) is False
            and set_option(call, "nx") is not None)
