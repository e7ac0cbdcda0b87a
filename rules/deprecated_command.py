from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import libcst as cst

from redislint.rule import Fix, Invalid, Rule, Valid
from redislint.semantic.fixes.edits import (bind_arguments, keeps_evaluation_order, keyword,
                                      positional, renamed_call)
from redislint.semantic.model import RedisCall
from redislint.semantic.fixes.safety import is_pure, never_none, result_use


class Replacement(NamedTuple):
    """What replaces a deprecated command, and the Redis version that has the replacement."""

    since: Tuple[int, int]  # the replacement exists from this Redis version on
    use: str  # the call to write instead
    pattern: Optional[str] = None  # the reference pattern that uses the replacement


# Deprecated redis-py method -> its replacement. Redis deprecated each command in the version
# that introduced its replacement, so `since` is both.
REPLACEMENTS: Dict[str, Replacement] = {
    "setnx": Replacement((2, 6), "set(k, v, nx=True)", "locks"),
    "setex": Replacement((2, 6), "set(k, v, ex=t)", "caching"),
    "psetex": Replacement((2, 6), "set(k, v, px=ms)", "caching"),
    "getset": Replacement((6, 2), "set(k, v, get=True)"),
    "hmset": Replacement((4, 0), "hset(k, mapping=...)", "sessions"),
    "rpoplpush": Replacement((6, 2), 'lmove(src, dst, "RIGHT", "LEFT")', "queues"),
    "brpoplpush": Replacement((6, 2), 'blmove(src, dst, timeout, "RIGHT", "LEFT")', "queues"),
    "zrevrange": Replacement((6, 2), "zrange(k, start, end, desc=True)", "leaderboards"),
    "zrangebyscore": Replacement((6, 2), "zrange(k, min, max, byscore=True)", "leaderboards"),
    "zrevrangebyscore": Replacement((6, 2), "zrange(k, max, min, byscore=True, desc=True)",
                                    "leaderboards"),
    "zrangebylex": Replacement((6, 2), "zrange(k, min, max, bylex=True)"),
    "zrevrangebylex": Replacement((6, 2), "zrange(k, max, min, bylex=True, desc=True)"),
    "georadius": Replacement((6, 2), "geosearch(k, longitude=..., latitude=..., radius=...)"),
    "georadiusbymember": Replacement((6, 2), "geosearch(k, member=..., radius=...)"),
    "substr": Replacement((2, 4), "getrange(k, start, end)"),
    "slaveof": Replacement((5, 0), "replicaof(host, port)"),
}
# GEORADIUS ... STORE/STOREDIST becomes GEOSEARCHSTORE.
_STORE_REPLACEMENT = "geosearchstore(dest, k, ...)"

# redis-py signatures (after `self`) of the deprecated methods, as in redis/commands/core.py
# from 4.0 to 8.x, with how many leading parameters are required.
_SIGNATURES: Dict[str, Tuple[Tuple[str, ...], int]] = {
    "setnx": (("name", "value"), 2),
    "setex": (("name", "time", "value"), 3),
    "psetex": (("name", "time_ms", "value"), 3),
    "getset": (("name", "value"), 2),
    "hmset": (("name", "mapping"), 2),
    "rpoplpush": (("src", "dst"), 2),
    "brpoplpush": (("src", "dst", "timeout"), 2),
    "zrevrange": (("name", "start", "end", "withscores", "score_cast_func"), 3),
    "zrangebyscore": (("name", "min", "max", "start", "num", "withscores", "score_cast_func"), 3),
    "zrevrangebyscore": (("name", "max", "min", "start", "num", "withscores", "score_cast_func"),
                         3),
    "zrangebylex": (("name", "min", "max", "start", "num"), 3),
    "zrevrangebylex": (("name", "max", "min", "start", "num"), 3),
    "substr": (("name", "start", "end"), 2),
    "slaveof": (("host", "port"), 0),
}
# Commands whose replacement replies differently: what the old one returned, for the docs.
# `setnx`/`slaveof`: the same truthiness (False -> None, True -> b"OK"); `hmset`: True -> the
# number of new fields, which is 0 (falsy) when every field existed.
_TRUTH_EQUIVALENT = frozenset({"setnx", "slaveof"})
_REPLY_CHANGES = _TRUTH_EQUIVALENT | {"hmset"}
# zrange(name, start, end, desc, withscores, score_cast_func, byscore, bylex, offset, num):
# the old range bounds, the flags to add, and old parameter -> zrange keyword for the rest.
_LIMIT = {"start": "offset", "num": "num"}
_SCORES = {"withscores": "withscores", "score_cast_func": "score_cast_func"}
_ZRANGE = {
    "zrevrange": (("start", "end"), ("desc",), _SCORES),
    "zrangebyscore": (("min", "max"), ("byscore",), {**_LIMIT, **_SCORES}),
    "zrevrangebyscore": (("max", "min"), ("byscore", "desc"), {**_LIMIT, **_SCORES}),
    "zrangebylex": (("min", "max"), ("bylex",), _LIMIT),
    "zrevrangebylex": (("max", "min"), ("bylex", "desc"), _LIMIT),
}
_TRUE = cst.Name("True")


def _args(pairs: Sequence[Tuple[str, cst.BaseExpression, bool]]) -> List[cst.Arg]:
    """Arguments in order: positional while every one so far may be, then keywords."""
    out: List[cst.Arg] = []
    still_positional = True
    for name, value, may_be_positional in pairs:
        still_positional = still_positional and may_be_positional
        out.append(positional(value) if still_positional else keyword(name, value))
    return out


class DeprecatedCommand(Rule):
    """
    ## What it does
    Flags calls of commands Redis has deprecated, and names the replacement:

    | call | use instead | needs Redis |
    |---|---|---|
    | `setnx(k, v)` | `set(k, v, nx=True)` | 2.6.12 |
    | `setex(k, t, v)` / `psetex(k, ms, v)` | `set(k, v, ex=t)` / `set(k, v, px=ms)` | 2.6.12 |
    | `getset(k, v)` | `set(k, v, get=True)` | 6.2 |
    | `hmset(k, d)` | `hset(k, mapping=d)` | 4.0 |
    | `rpoplpush(src, dst)` | `lmove(src, dst, "RIGHT", "LEFT")` | 6.2 |
    | `brpoplpush(src, dst, t)` | `blmove(src, dst, t, "RIGHT", "LEFT")` | 6.2 |
    | `zrevrange(k, a, b)` | `zrange(k, a, b, desc=True)` | 6.2 |
    | `zrangebyscore` / `zrevrangebyscore` | `zrange(..., byscore=True[, desc=True])` | 6.2 |
    | `zrangebylex` / `zrevrangebylex` | `zrange(..., bylex=True[, desc=True])` | 6.2 |
    | `georadius` / `georadiusbymember` | `geosearch(...)` (`geosearchstore` with `store=`) | 6.2 |
    | `substr(k, a, b)` | `getrange(k, a, b)` | 2.4 |
    | `slaveof(host, port)` | `replicaof(host, port)` | 5.0 |

    A command is only flagged when its replacement exists on `target-redis-version` (default
    7.0): with `target-redis-version = "6.0"`, `rpoplpush` and `getset` stay silent, `hmset`
    does not. Off by default: it is a modernisation group, like Ruff's `UP` rules; enable it
    with `--extend-select RL901`. redis-py has had every replacement since 4.0.

    ## Why is this bad?
    Deprecated commands still work today, but Redis documents them as superseded and may drop
    them; redis-py already warns on some (`hmset` raises a `DeprecationWarning`). The
    replacements do more in one command: `set(..., nx=True, ex=t)` is an atomic lock,
    `lmove`/`blmove` pop from either end, `zrange` covers every range query.

    ## Example
    ```python
    r.setex(f"page:{url}", 300, html)
    r.hmset(f"user:{uid}", {"name": name})
    job = r.brpoplpush("jobs", "jobs:processing", 5)
    ```

    ## Use instead:
    ```python
    r.set(f"page:{url}", html, ex=300)
    r.hset(f"user:{uid}", mapping={"name": name})
    job = r.blmove("jobs", "jobs:processing", 5, "RIGHT", "LEFT")
    ```
    See `redislint patterns queues` for a reliable queue built on BLMOVE.

    ## Fix safety
    Each call is rewritten to the replacement in the table, with redis-py's arguments mapped
    by name (`setex(k, t, v)` -> `set(k, v, ex=t)`; `zrangebyscore`'s `start`/`num` ->
    `offset`/`num`; `substr(k, a)` -> `getrange(k, a, -1)`; `slaveof()` ->
    `replicaof("NO", "ONE")`), only where the replacement exists on `target-redis-version`.
    Where the replacement sends the same command semantics and redis-py returns the same
    value, the fix is **safe**: `setex`/`psetex`, `getset`, `rpoplpush`/`brpoplpush`,
    `zrevrange`, `zrangebyscore`/`zrevrangebyscore`, `zrangebylex`/`zrevrangebylex`, `substr`.

    Return values decide the rest:
    - `setnx` returns True/False, `set(..., nx=True)` True/None; `slaveof` returns True,
      `replicaof` b"OK". The same truthiness: **safe** when the result is unused or only
      tested for truth (`if`, `not`, `bool()`), **unsafe** when it is returned, stored or
      passed on, **no fix** when it is compared (`== False`, `is True`: the test would flip).
    - `hmset` returns True, `hset` the number of new fields (0 when all existed): **safe**
      only when the result is unused, else unsafe.
    - On a pipeline every reply goes to `execute()`, so these are unsafe there.

    A TTL (or BRPOPLPUSH timeout) that may be None makes the fix **unsafe**: `setex(k, None,
    v)` raises where `set(k, v, ex=None)` writes no TTL, and `brpoplpush(..., None)` blocks
    forever where `blmove(..., None)` raises; numbers, arithmetic, `timedelta(...)` and module
    constants bound to them are never None. **No fix** for `georadius`/`georadiusbymember`
    (too many options to map exactly), `*args`/`**kwargs`, unknown keywords, `slaveof` with
    one of host/port or a literal None, or arguments that would be evaluated in another order
    when more than one of them has side effects.
    """

    code = "RL901"
    name = "deprecated-command"
    message = "`{command}` is deprecated since Redis {since}: use `{use}` instead{see}"
    default_enabled = False
    pattern = "caching"
    fix_safety = "safe"

    VALID = [
        Valid('import redis\nr = redis.Redis()\ndef save(uid, v):\n    r.set(f"u:{uid}", v, ex=60)\n'
              '    r.set(f"lock:{uid}", 1, nx=True, px=500)\n    r.hset(f"h:{uid}", mapping={"a": 1})\n'),
        Valid('import redis\nr = redis.Redis()\ndef work():\n    with r.pipeline() as p:\n'
              '        p.lmove("jobs", "busy", "RIGHT", "LEFT")\n        p.zrange("top", 0, 9, desc=True)\n'
              '        p.execute()\n    r.blmove("jobs", "busy", 5, "RIGHT", "LEFT")\n'),
        Valid('import redis\nr = redis.Redis()\nLUA = "return redis.call(\'SETEX\', KEYS[1], 60, ARGV[1])"\n'
              'put = r.register_script(LUA)\ndef save(k, v):\n    put(keys=[k], args=[v])\n    r.eval(LUA, 1, k, v)\n'),
        Valid('class Cache:\n    def setex(self, k, t, v): ...\n    def hmset(self, k, d): ...\n'
              'c = Cache()\nc.setex("k", 5, 1)\nc.hmset("h", {})\n'),
        Valid('from django.core.cache import cache\ncache.set("k", 1, 300)\n'
              'd = {}\nd.setdefault("k", 1)\n'),
        Valid('import redis\nr = redis.Redis()\ndef move():\n    r.rpoplpush("jobs", "busy")\n'
              '    r.getset("k", 1)\n    r.zrevrange("top", 0, 9)\n    r.georadius("geo", 1, 2, 5)\n',
              settings={"target-redis-version": "6.0"}),
        Valid('import redis\nr = redis.Redis()\nr.slaveof("10.0.0.1", 6379)\nr.hmset("h", {"a": 1})\n',
              settings={"target-redis-version": "3.2"}),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef save(uid, v):\n    r.setex(f"u:{uid}", 60, v)\n',
                expected_fix='import redis\nr = redis.Redis()\ndef save(uid, v):\n'
                '    r.set(f"u:{uid}", v, ex=60)\n'),
        Invalid('import redis\nclass Users:\n    def __init__(self):\n        self.r = redis.Redis()\n'
                '    def save(self, uid, d):\n        self.r.hmset("user:" + uid, d)\n',
                expected_fix='import redis\nclass Users:\n    def __init__(self):\n'
                '        self.r = redis.Redis()\n    def save(self, uid, d):\n'
                '        self.r.hset("user:" + uid, mapping=d)\n'),
        Invalid('from redis.asyncio import Redis\nasync def work(r: Redis):\n'
                '    job = await r.brpoplpush("jobs", "busy", 5)\n    top = await r.zrevrangebyscore("s", "+inf", 0)\n'
                '    return job, top\n', count=2,
                expected_fix='from redis.asyncio import Redis\nasync def work(r: Redis):\n'
                '    job = await r.blmove("jobs", "busy", 5, "RIGHT", "LEFT")\n'
                '    top = await r.zrange("s", "+inf", 0, byscore=True, desc=True)\n'
                '    return job, top\n'),
        # a chain is fixed over two passes
        Invalid('import redis\nr = redis.Redis()\ndef top():\n    p = r.pipeline(transaction=False)\n'
                '    p.zrevrange("top", 0, 9).zrangebylex("names", "[a", "[b")\n    return p.execute()\n',
                count=2,
                expected_fix='import redis\nr = redis.Redis()\ndef top():\n'
                '    p = r.pipeline(transaction=False)\n'
                '    p.zrange("top", 0, 9, desc=True).zrange("names", "[a", "[b", bylex=True)\n'
                '    return p.execute()\n'),
        # GEORADIUS*: no fix
        Invalid('import redis\nr = redis.Redis()\ndef near():\n    p = r.pipeline(transaction=False)\n'
                '    p.georadiusbymember("geo", "home", 5, store="near")\n    return p.execute()\n'),
        Invalid('import redis\nr = redis.Redis()\nr.slaveof("10.0.0.1", 6379)\nr.hmset("h", {"a": 1})\n',
                settings={"target-redis-version": "6.0"}, count=2,
                expected_fix='import redis\nr = redis.Redis()\nr.replicaof("10.0.0.1", 6379)\n'
                'r.hset("h", mapping={"a": 1})\n'),
        Invalid('import redis\nr = redis.Redis()\ndef f(k):\n    r.setnx(k, 1)\n    r.psetex(k, 5, 1)\n'
                '    r.getset(k, 2)\n    r.substr(k, 0, 3)\n', count=4,
                expected_fix='import redis\nr = redis.Redis()\ndef f(k):\n    r.set(k, 1, nx=True)\n'
                '    r.set(k, 1, px=5)\n    r.set(k, 2, get=True)\n    r.getrange(k, 0, 3)\n'),
        # keywords mapped by name, defaults made explicit, a truth test of SETNX
        Invalid('import redis\nr = redis.Redis()\ndef f(k):\n    if r.setnx(k, 1):\n'
                '        top = r.zrangebyscore("s", 0, 100, 0, 10, True)\n'
                '        job = r.brpoplpush(src="jobs", dst="busy")\n        return r.substr(name=k, start=2)\n',
                count=4,
                expected_fix='import redis\nr = redis.Redis()\ndef f(k):\n    if r.set(k, 1, nx=True):\n'
                '        top = r.zrange("s", 0, 100, byscore=True, offset=0, num=10, withscores=True)\n'
                '        job = r.blmove(first_list="jobs", second_list="busy", timeout=0, src="RIGHT", dest="LEFT")\n'
                '        return r.getrange(key=k, start=2, end=-1)\n'),
        # unsafe: a reply returned (False -> None, True -> a count), a TTL that may be None
        Invalid('import redis\nr = redis.Redis()\ndef f(k, d, ttl):\n    r.setex(k, ttl, 1)\n'
                '    created = r.setnx(k, 1)\n    return created, r.hmset(k, d)\n', count=3,
                expected_fix='import redis\nr = redis.Redis()\ndef f(k, d, ttl):\n    r.set(k, 1, ex=ttl)\n'
                '    created = r.set(k, 1, nx=True)\n    return created, r.hset(k, mapping=d)\n',
                unsafe=True),
        # no fix: SETNX compared with False, SLAVEOF with a host only, GEORADIUS
        Invalid('import redis\nr = redis.Redis()\ndef f(k):\n    if r.setnx(k, 1) == False:\n'
                '        r.slaveof("10.0.0.1")\n    return r.georadius("geo", 1.0, 2.0, 5)\n', count=3),
    ]

    def on_redis_call(self, call: RedisCall) -> None:
        found = REPLACEMENTS.get(call.command)
        if found is None or call.receiver.role not in ("client", "pipeline"):
            return
        if self.settings.target_redis_version < found.since:
            return  # the replacement does not exist on the Redis the project targets
        self.report(call.node, self._message(call, found), fix=self._fix(call, found))

    # -- the fix ----------------------------------------------------------------------------
    def _fix(self, call: RedisCall, found: Replacement) -> Optional[Fix]:
        signature = _SIGNATURES.get(call.command)
        if signature is None:
            return None  # GEORADIUS*: too many options to map exactly
        bound = bind_arguments(call.node, *signature)
        if bound is None:
            return None
        built = self._rebuild(call, bound)
        if built is None:
            return None
        method, args, applicability = built
        if not keeps_evaluation_order(call.node, args, is_pure):
            return None
        if call.command in _REPLY_CHANGES:
            use = result_use(call) if call.receiver.role == "client" else "other"
            truth_ok = call.command in _TRUTH_EQUIVALENT
            if use == "compared" and truth_ok:
                return None  # `== False` would now see None: no honest rewrite
            if use != "unused" and not (use == "truth" and truth_ok):
                applicability = "unsafe"
        new = renamed_call(call.node, method, args)
        return Fix(f"Use `{found.use}`", {call.node: new}, applicability)

    def _rebuild(self, call: RedisCall, bound: Dict[str, cst.Arg]
                 ) -> Optional[Tuple[str, List[cst.Arg], str]]:
        """(new method, its arguments, applicability) for a deprecated call."""
        command = call.command
        given = {name: arg.value for name, arg in bound.items()}
        kept = {name: arg.keyword is None for name, arg in bound.items()}  # was positional
        safe = "safe"
        if command == "setnx":
            return "set", list(call.node.args) + [keyword("nx", _TRUE)], safe
        if command in ("setex", "psetex"):
            ttl = given["time" if command == "setex" else "time_ms"]
            if not never_none(ttl, self.model.module, call.scope.node):
                safe = "unsafe"  # setex(k, None, v) raises; set(k, v, ex=None) keeps no TTL
            option = "ex" if command == "setex" else "px"
            args = _args([("name", given["name"], kept["name"]),
                          ("value", given["value"], kept["name"] and kept["value"])])
            return "set", args + [keyword(option, ttl)], safe
        if command == "getset":
            return "set", list(call.node.args) + [keyword("get", _TRUE)], safe
        if command == "hmset":
            args = _args([("name", given["name"], kept["name"])])
            return "hset", args + [keyword("mapping", given["mapping"])], safe
        if command in ("rpoplpush", "brpoplpush"):
            pairs = [("first_list", given["src"], kept["src"]),
                     ("second_list", given["dst"], kept["dst"])]
            if command == "brpoplpush":
                timeout = given.get("timeout")
                if timeout is None or (isinstance(timeout, cst.Name) and timeout.value == "None"):
                    timeout = cst.Integer("0")  # brpoplpush's default, and what None means
                elif not never_none(timeout, self.model.module, call.scope.node):
                    safe = "unsafe"  # None blocks forever in brpoplpush, raises in blmove
                pairs.append(("timeout", timeout, kept.get("timeout", True)))
            pairs += [("src", cst.SimpleString('"RIGHT"'), True),
                      ("dest", cst.SimpleString('"LEFT"'), True)]
            return ("lmove" if command == "rpoplpush" else "blmove"), _args(pairs), safe
        if command in _ZRANGE:
            (low, high), flags, rest = _ZRANGE[command]
            args = _args([("name", given["name"], kept["name"]),
                          ("start", given[low], kept[low]), ("end", given[high], kept[high])])
            args += [keyword(flag, _TRUE) for flag in flags]
            args += [keyword(rest[name], arg.value) for name, arg in bound.items() if name in rest]
            return "zrange", args, safe
        if command == "substr":
            end = given.get("end", cst.UnaryOperation(cst.Minus(), cst.Integer("1")))
            args = _args([("key", given["name"], kept["name"]),
                          ("start", given["start"], kept["start"]),
                          ("end", end, kept.get("end", True))])
            return "getrange", args, safe
        if command == "slaveof":
            if not given:
                return "replicaof", [positional(cst.SimpleString('"NO"')),
                                     positional(cst.SimpleString('"ONE"'))], safe
            if len(given) != 2 or any(isinstance(v, cst.Name) and v.value == "None"
                                      for v in given.values()):
                return None  # one of the two, or a literal None: not mapped exactly
            # replicaof(*args) takes them positionally only.
            return "replicaof", [positional(given["host"]), positional(given["port"])], safe
        return None

    def _message(self, call: RedisCall, found: Replacement) -> str:
        use = found.use
        if call.command.startswith("georadius") and call.has_kwarg("store", "store_dist"):
            use = _STORE_REPLACEMENT
        since = ".".join(str(part) for part in found.since)
        see = f" (see `redislint patterns {found.pattern}`)" if found.pattern else ""
        return self.message.format(command=call.command, since=since, use=use, see=see)
