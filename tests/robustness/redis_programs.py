"""A hypothesis strategy that writes Redis-heavy Python programs.

It composes what redislint's rules reason about: client definitions (a module global, `self.r`
set in `__init__`, an annotated parameter; redis-py and `redis.asyncio`, Redis and RedisCluster,
`from_url`, a connection pool), commands with and without TTLs, pipelines (transaction on/off,
`with` blocks, chained calls, executed or not, WATCH/MULTI), locks (`with`, acquire/release,
timeouts), loops and comprehensions, branches, try/finally, `async def`, and key expressions
(f-strings, `+`, `.format`, `%`, module constants, locals, loop variables). Every program is
valid Python (the tests assert it), so whatever redislint does with it is held to the
properties in engine_harness.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import List, Tuple

from hypothesis import strategies as st

Lines = List[Tuple[int, str]]  # (indent level, text)

HEADER_SYNC = ["import json", "import pickle", "from datetime import timedelta", "import redis",
               "from redis import Redis", "from redis.cluster import RedisCluster"]
HEADER_ASYNC = ["import json", "import pickle", "from datetime import timedelta",
                "import redis.asyncio as aioredis", "from redis.asyncio import Redis",
                "from redis.asyncio.cluster import RedisCluster"]
MODULE_CONSTANTS = ['PREFIX = "app"', "TTL = 300",
                    'LUA = "return redis.call(\'GET\', KEYS[1])"']

SYNC_CLIENTS = [
    "redis.Redis()", 'redis.Redis(host="localhost", port=6379, decode_responses=True)',
    'redis.StrictRedis(host="h", socket_timeout=5)', 'redis.from_url("redis://localhost/0")',
    'Redis.from_url("redis://localhost")', "redis.Redis(connection_pool=POOL)",
    'RedisCluster(host="localhost", port=7000)', 'redis.Redis(db=3, password="hunter2")',
    'RedisCluster.from_url("redis://localhost:7000")',
]
ASYNC_CLIENTS = [
    "aioredis.Redis()", 'aioredis.from_url("redis://localhost")', "Redis(decode_responses=True)",
    'Redis.from_url("redis://x", socket_timeout=1)', 'RedisCluster(host="localhost", port=7000)',
]
SYNC_ANNOTATIONS = ["redis.Redis", "Redis", "RedisCluster", "redis.StrictRedis"]
ASYNC_ANNOTATIONS = ["aioredis.Redis", "Redis", "RedisCluster"]

KEYS = ['f"user:{uid}"', '"user:" + uid', '"user:{}".format(uid)', '"user:%s" % uid',
        '"user:" + str(uid)', '"counter"', 'PREFIX + ":" + uid', 'f"{PREFIX}:{uid}:name"',
        '"session:%s" % uid', 'f"rate:{uid}"', '"cart:{}".format(uid)']
VALUES = ["1", "data", "json.dumps(data)", "pickle.dumps(data)", '"x"', "uid", "str(data)"]
TTLS = ["60", "TTL", "timedelta(seconds=30)", "3600"]
SET_OPTIONS = ["", ", ex=60", ", px=500", ", ex=TTL", ", keepttl=True", ", nx=True", ", xx=True",
               ", nx=True, ex=10", ", ex=None", ", keepttl=False", ", get=True"]
LOCK_OPTIONS = ["", ", timeout=10", ", timeout=None", ", blocking_timeout=5",
                ", timeout=10, blocking_timeout=5", ", blocking=False", ", sleep=0.1"]
PATTERNS = ['"user:*"', '"*"', 'f"{PREFIX}:*"', '"session:" + "*"']

# command -> argument templates ({K} key, {V} value, {T} ttl, {S} set options, {P} pattern)
WRITES = {
    "set": ["{K}, {V}{S}"], "setex": ["{K}, {T}, {V}"], "psetex": ["{K}, 500, {V}"],
    "setnx": ["{K}, {V}"], "getset": ["{K}, {V}"], "append": ["{K}, {V}"], "mset": ["{{{K}: {V}}}"],
    "incr": ["{K}"], "incrby": ["{K}, 5"], "decr": ["{K}"], "incrbyfloat": ["{K}, 0.5"],
    "hset": ['{K}, "f", {V}', '{K}, mapping={{"a": {V}}}'], "hmset": ['{K}, {{"a": {V}}}'],
    "hincrby": ['{K}, "f", 1'], "hsetnx": ['{K}, "f", {V}'],
    "lpush": ["{K}, {V}"], "rpush": ["{K}, {V}"], "sadd": ["{K}, {V}"], "zadd": ["{K}, {{{V}: 1}}"],
    "zincrby": ["{K}, 1, {V}"], "pfadd": ["{K}, {V}"], "xadd": ['{K}, {{"v": {V}}}'],
    "expire": ["{K}, {T}"], "pexpire": ["{K}, 500"], "expireat": ["{K}, 1700000000"],
    "persist": ["{K}"], "delete": ["{K}"], "unlink": ["{K}"], "rename": ["{K}, {K}"],
}
READS = {
    "get": ["{K}"], "mget": ["[{K}, {K}]"], "hget": ['{K}, "f"'], "hgetall": ["{K}"],
    "smembers": ["{K}"], "lrange": ["{K}, 0, -1"], "zrange": ["{K}, 0, -1"], "exists": ["{K}"],
    "zrevrangebyscore": ['{K}, "+inf", 0'], "ttl": ["{K}"], "llen": ["{K}"], "hkeys": ["{K}"],
    "keys": ["{P}", "", "pattern={P}"], "lpop": ["{K}"], "rpop": ["{K}"], "blpop": ["{K}"],
    "brpop": ["[{K}], timeout=5"], "rpoplpush": ["{K}, {K}"], "brpoplpush": ["{K}, {K}, 5"],
    "incr": ["{K}"], "getdel": ["{K}"], "sismember": ["{K}, {V}"],
}
OTHERS = {
    "flushdb": [""], "flushall": [""], "ping": [""], "publish": ['"events", {V}'],
    "eval": ["LUA, 1, {K}", 'LUA + " -- " + uid, 1, {K}', 'f"return redis.call(\'GET\', \'{{uid}}\')", 0'],
    "evalsha": ['"abc", 1, {K}'], "watch": ["{K}"], "close": [""], "scan_iter": ["match={P}"],
    "select": ["2"],
}


@dataclass(frozen=True)
class Context:
    client: str          # how code reaches the client: r, self.r
    is_async_client: bool
    in_async_def: bool
    depth: int = 0
    loop_var: str = ""
    has_key_local: bool = False
    in_function: bool = True

    @property
    def aw(self) -> str:
        return "await " if self.is_async_client and self.in_async_def else ""

    @property
    def with_(self) -> str:
        return "async with" if self.is_async_client and self.in_async_def else "with"


def _indent(lines: Lines, by: int = 1) -> Lines:
    return [(level + by, text) for level, text in lines]


@st.composite
def key(draw, ctx: Context) -> str:
    choices = list(KEYS)
    if ctx.has_key_local:
        choices += ["key", "key"]
    if ctx.loop_var:
        choices += [ctx.loop_var, f'"item:" + str({ctx.loop_var})']
    return draw(st.sampled_from(choices))


@st.composite
def arguments(draw, ctx: Context, templates: List[str]) -> str:
    template = draw(st.sampled_from(templates))
    out = template
    for slot, strategy in (("{K}", key(ctx)), ("{V}", st.sampled_from(VALUES)),
                           ("{T}", st.sampled_from(TTLS)), ("{S}", st.sampled_from(SET_OPTIONS)),
                           ("{P}", st.sampled_from(PATTERNS))):
        while slot in out:
            out = out.replace(slot, draw(strategy), 1)
    return out.replace("{{", "{").replace("}}", "}")


@st.composite
def command(draw, ctx: Context, table=None, target: str = "") -> str:
    table = table or draw(st.sampled_from([WRITES, WRITES, READS, OTHERS]))
    name = draw(st.sampled_from(sorted(table)))
    return f"{target or ctx.client}.{name}({draw(arguments(ctx, table[name]))})"


@st.composite
def simple_statement(draw, ctx: Context) -> Lines:
    kind = draw(st.sampled_from(["call", "call", "call", "assign", "read_check", "compare",
                                 "comprehension", "key_local", "return_read", "script",
                                 "pubsub", "decode", "idiom", "idiom", "idiom"]))
    aw = ctx.aw
    if kind == "idiom":
        return draw(idiom(ctx))
    if kind == "call":
        return [(0, f"{aw}{draw(command(ctx))}")]
    if kind == "assign":
        return [(0, f"n = {aw}{draw(command(ctx, WRITES))}"), (0, "total = n")]
    if kind == "read_check":
        read = draw(command(ctx, READS))
        cond = draw(st.sampled_from(["not v", "v is None", "v", "v == 1", "not v or v == b''"]))
        write = draw(command(ctx, WRITES))
        return [(0, f"v = {aw}{read}"), (0, f"if {cond}:"), (1, "v = load(uid)"),
                (1, f"{aw}{write}"), (0, "use(v)")]
    if kind == "compare":
        read = draw(command(ctx, READS))
        op = draw(st.sampled_from(['== "on"', 'in ("done", "failed")', "!= b'x'", '== PREFIX']))
        return [(0, f"flag = {aw}{read} {op}")]
    if kind == "comprehension":
        read = draw(command(ctx, READS, target=ctx.client))
        read = read.replace("uid", "u") if draw(st.booleans()) else read
        return [(0, f"values = [{aw}{read} for u in uids]")]
    if kind == "key_local":
        return [(0, f"key = {draw(st.sampled_from(KEYS))}")]
    if kind == "return_read":
        keyword = "return" if ctx.in_function else "result ="
        return [(0, f"{keyword} {aw}{draw(command(ctx, READS))}")]
    if kind == "script":
        return [(0, f"script = {ctx.client}.register_script(LUA)"),
                (0, f"{aw}script(keys=[{draw(key(ctx))}], args=[1])")]
    if kind == "pubsub":
        return [(0, f"ps = {ctx.client}.pubsub()"), (0, f'{aw}ps.subscribe("jobs")')]
    return [(0, f"raw = {aw}{draw(command(ctx, READS))}"), (0, "text = raw.decode() if raw else ''")]


@st.composite
def idiom(draw, ctx: Context) -> Lines:
    """The two-step shapes rules look for, on one key (spelled the same or through a local)."""
    k = draw(key(ctx))
    k2 = draw(st.sampled_from([k, k, "key"]))
    prelude = [(0, f"key = {k}")] if k2 == "key" else []
    aw, c = ctx.aw, ctx.client
    ttl = draw(st.sampled_from(TTLS))
    shape = draw(st.sampled_from(["incr_expire", "write_expire", "setnx_expire", "cache_fill",
                                  "bytes_compare", "close", "no_await", "lock_bare",
                                  "set_then_set", "pop_queue"]))
    if shape == "incr_expire":
        incr = draw(st.sampled_from(["incr", "incrby", "hincrby"]))
        args = {"incr": k, "incrby": f"{k}, 2", "hincrby": f'{k}, "f", 1'}[incr]
        first = f"n = {aw}{c}.{incr}({args})"
        guard = [(0, "if n == 1:"), (1, f"{aw}{c}.expire({k2}, {ttl})")] if draw(st.booleans()) \
            else [(0, f"{aw}{c}.expire({k2}, {ttl})")]
        return prelude + [(0, first)] + guard
    if shape == "write_expire":
        write = draw(st.sampled_from([f"hset({k}, mapping=data)", f"lpush({k}, data)",
                                      f"sadd({k}, uid)", f"zadd({k}, {{uid: 1}})",
                                      f"set({k}, data)", f"rpush({k}, 1)"]))
        expire = draw(st.sampled_from(["expire", "pexpire", "expireat"]))
        return prelude + [(0, f"{aw}{c}.{write}"), (0, f"{aw}{c}.{expire}({k2}, {ttl})")]
    if shape == "setnx_expire":
        first = draw(st.sampled_from([f"setnx({k}, uid)", f"set({k}, uid, nx=True)"]))
        return prelude + [(0, f"if {aw}{c}.{first}:"), (1, f"{aw}{c}.expire({k2}, {ttl})"),
                          (1, "ok = True")]
    if shape == "cache_fill":
        read = draw(st.sampled_from([f"get({k})", f'hget({k}, "f")']))
        test = draw(st.sampled_from(["not v", "v", "v is None"]))
        fill = f"set({k2}, v, ex={ttl})" if read.startswith("get") else f'hset({k2}, "f", v)'
        return prelude + [(0, f"v = {aw}{c}.{read}"), (0, f"if {test}:"), (1, "v = load(uid)"),
                          (1, f"{aw}{c}.{fill}"), (0, "use(v)")]
    if shape == "bytes_compare":
        value = draw(st.sampled_from(['"on"', "PREFIX", 'f"owner:{uid}"', '("done", "failed")']))
        op = "in" if value.startswith("(") else draw(st.sampled_from(["==", "!="]))
        return prelude + [(0, f"state = {aw}{c}.get({k})"), (0, f"ok = state {op} {value}")]
    if shape == "close":
        return [(0, f"{aw}{c}.close()")]
    if shape == "no_await":
        return [(0, f"{c}.set({k}, 1, ex={ttl})")]
    if shape == "lock_bare":
        options = draw(st.sampled_from(["", ", timeout=None", ", blocking_timeout=5"]))
        return [(0, f'{ctx.with_} {c}.lock("job"{options}):'), (1, f"{aw}{c}.get({k})")]
    if shape == "set_then_set":
        return prelude + [(0, f"{aw}{c}.set({k}, data, ex={ttl})"),
                          (0, f"{aw}{c}.set({k2}, uid)")]
    return [(0, f"job = {aw}{c}.{draw(st.sampled_from(['rpop', 'lpop', 'brpop']))}({k})"),
            (0, "handle(job)")]


@st.composite
def pipeline_block(draw, ctx: Context) -> Lines:
    transaction = draw(st.sampled_from(["", "transaction=True", "transaction=False"]))
    shape = draw(st.sampled_from(["with", "assigned", "chained", "watch"]))
    queued = [draw(command(ctx, WRITES, target="p"))
              for _ in range(draw(st.integers(1, 4)))]
    execute = draw(st.sampled_from([True, True, False]))
    aw = ctx.aw
    if shape == "with":
        body = [(1, q) for q in queued] + ([(1, f"{aw}p.execute()")] if execute else [])
        return [(0, f"{ctx.with_} {ctx.client}.pipeline({transaction}) as p:")] + body
    if shape == "assigned":
        lines = [(0, f"p = {ctx.client}.pipeline({transaction})")] + [(0, q) for q in queued]
        return lines + ([(0, f"results = {aw}p.execute()")] if execute else [])
    if shape == "chained":
        chain = "".join("." + q.split(".", 1)[1] for q in queued)
        return [(0, f"{aw}{ctx.client}.pipeline({transaction}){chain}"
                    + (".execute()" if execute else ""))]
    k = draw(key(ctx))
    return [(0, f"p = {ctx.client}.pipeline()"), (0, f"{aw}p.watch({k})"),
            (0, f"current = {aw}p.get({k})"), (0, "p.multi()"),
            (0, f"p.set({k}, current)"), (0, f"{aw}p.execute()")]


@st.composite
def lock_block(draw, ctx: Context, body: Lines) -> Lines:
    name = draw(st.sampled_from(['"report"', 'f"lock:{uid}"', '"jobs:" + uid']))
    options = draw(st.sampled_from(LOCK_OPTIONS))
    shape = draw(st.sampled_from(["with", "acquire", "try"]))
    aw = ctx.aw
    if shape == "with":
        return [(0, f"{ctx.with_} {ctx.client}.lock({name}{options}):")] + _indent(body)
    if shape == "acquire":
        blocking = draw(st.sampled_from(["", "blocking=False", "blocking_timeout=3"]))
        return [(0, f"lock = {ctx.client}.lock({name}{options})"),
                (0, f"if {aw}lock.acquire({blocking}):"), *_indent(body),
                (1, f"{aw}lock.release()")]
    return [(0, f"lock = {ctx.client}.lock({name}{options})"), (0, f"{aw}lock.acquire()"),
            (0, "try:"), *_indent(body), (0, "finally:"), (1, f"{aw}lock.release()")]


@st.composite
def statements(draw, ctx: Context, size: int = 4) -> Lines:
    lines: Lines = []
    for _ in range(draw(st.integers(1, size))):
        lines.extend(draw(statement(ctx)))
    return lines


@st.composite
def statement(draw, ctx: Context) -> Lines:
    kinds = ["simple", "simple", "simple", "pipeline"]
    if ctx.depth < 2 and draw(st.integers(0, ctx.depth + 1)) == 0:
        kinds += ["for", "for_keys", "if", "while", "try", "lock"]
    kind = draw(st.sampled_from(kinds))
    if kind == "simple":
        return draw(simple_statement(ctx))
    if kind == "pipeline":
        return draw(pipeline_block(ctx))
    inner = replace(ctx, depth=ctx.depth + 1)
    if kind == "for":
        var = draw(st.sampled_from(["uid", "k", "item"]))
        body = draw(statements(replace(inner, loop_var=var), 2))
        return [(0, f"for {var} in uids:")] + _indent(body)
    if kind == "for_keys":
        body = draw(statements(replace(inner, loop_var="k"), 2))
        source = draw(st.sampled_from([f"{ctx.aw}{ctx.client}.keys({draw(st.sampled_from(PATTERNS))})",
                                       f"{ctx.client}.scan_iter(match={draw(st.sampled_from(PATTERNS))})",
                                       f"sorted({ctx.aw}{ctx.client}.keys())"]))
        if ctx.is_async_client and ctx.in_async_def and "scan_iter" in source:
            return [(0, f"async for k in {source}:")] + _indent(body)
        return [(0, f"for k in {source}:")] + _indent(body)
    if kind == "if":
        lines = [(0, "if uid:")] + _indent(draw(statements(inner, 2)))
        if draw(st.booleans()):
            lines += [(0, "else:")] + _indent(draw(statements(inner, 2)))
        return lines
    if kind == "while":
        return [(0, "while True:")] + _indent(draw(statements(inner, 2))) + [(1, "break")]
    if kind == "try":
        handler = draw(st.sampled_from(["except Exception:", "except redis.RedisError:" if
                                        not ctx.is_async_client else "except ValueError:",
                                        "finally:"]))
        return [(0, "try:")] + _indent(draw(statements(inner, 2))) + [(0, handler)] + \
            _indent(draw(statements(inner, 1)))
    return draw(lock_block(ctx, draw(statements(inner, 2))))


@st.composite
def function(draw, client: str, is_async_client: bool, annotated: str, method: bool,
             index: int) -> Lines:
    in_async = is_async_client if draw(st.integers(0, 4)) else not is_async_client
    ctx = Context(client, is_async_client, in_async)
    params = ["self"] if method else []
    if annotated:
        params.append(f"r: {annotated}")
    params += ["uid", "data=None", "uids=()"]
    decorator = draw(st.sampled_from(["", "", '@app.route("/x")', "@staticmethod" if not method else ""]))
    body = draw(statements(ctx, 3))
    head = f"{'async def' if in_async else 'def'} f{index}({', '.join(params)}):"
    return ([(0, decorator)] if decorator else []) + [(0, head)] + _indent(body)


@st.composite
def programs(draw) -> str:
    """A whole module: imports, constants, client(s), then functions (or a class of methods)."""
    is_async = draw(st.booleans())
    style = draw(st.sampled_from(["global", "self", "param"]))
    constructor = draw(st.sampled_from(ASYNC_CLIENTS if is_async else SYNC_CLIENTS))
    out: Lines = [(0, line) for line in (HEADER_ASYNC if is_async else HEADER_SYNC)]
    out += [(0, line) for line in MODULE_CONSTANTS]
    if "POOL" in constructor:
        out.append((0, "POOL = redis.ConnectionPool()"))
    functions = draw(st.integers(1, 2))
    if style == "global":
        out.append((0, f"r = {constructor}"))
        for i in range(functions):
            out += draw(function("r", is_async, "", False, i))
        if draw(st.booleans()):  # module-level code too
            out += draw(statements(Context("r", is_async, False, in_function=False), 2))
    elif style == "param":
        annotation = draw(st.sampled_from(ASYNC_ANNOTATIONS if is_async else SYNC_ANNOTATIONS))
        for i in range(functions):
            out += draw(function("r", is_async, annotation, False, i))
    else:
        out += [(0, "class Store:"), (1, "def __init__(self, url):"), (2, f"self.r = {constructor}")]
        for i in range(functions):
            out += _indent(draw(function("self.r", is_async, "", True, i)))
    return "\n".join("    " * level + text for level, text in out) + "\n"
