from __future__ import annotations

from typing import Dict, NamedTuple, Optional, Tuple

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.model import RedisCall


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
    No automatic fix exists yet. Most rewrites are mechanical (argument order changes for
    `setex`), but a few change return values (`set(..., nx=True)` returns None, not False, when
    the key exists), so the fix will be offered as unsafe for those.
    """

    code = "RL901"
    name = "deprecated-command"
    message = "`{command}` is deprecated since Redis {since}: use `{use}` instead{see}"
    default_enabled = False
    pattern = "caching"

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
        Invalid('import redis\nr = redis.Redis()\ndef save(uid, v):\n    r.setex(f"u:{uid}", 60, v)\n'),
        Invalid('import redis\nclass Users:\n    def __init__(self):\n        self.r = redis.Redis()\n'
                '    def save(self, uid, d):\n        self.r.hmset("user:" + uid, d)\n'),
        Invalid('from redis.asyncio import Redis\nasync def work(r: Redis):\n'
                '    job = await r.brpoplpush("jobs", "busy", 5)\n    top = await r.zrevrangebyscore("s", "+inf", 0)\n'
                '    return job, top\n', count=2),
        Invalid('import redis\nr = redis.Redis()\ndef top():\n    p = r.pipeline(transaction=False)\n'
                '    p.zrevrange("top", 0, 9).zrangebylex("names", "[a", "[b")\n'
                '    p.georadiusbymember("geo", "home", 5, store="near")\n    return p.execute()\n', count=3),
        Invalid('import redis\nr = redis.Redis()\nr.slaveof("10.0.0.1", 6379)\nr.hmset("h", {"a": 1})\n',
                settings={"target-redis-version": "6.0"}, count=2),
        Invalid('import redis\nr = redis.Redis()\ndef f(k):\n    r.setnx(k, 1)\n    r.psetex(k, 5, 1)\n'
                '    r.getset(k, 2)\n    r.substr(k, 0, 3)\n', count=4),
    ]

    def on_redis_call(self, call: RedisCall) -> None:
        found = REPLACEMENTS.get(call.command)
        if found is None or call.receiver.role not in ("client", "pipeline"):
            return
        if self.settings.target_redis_version < found.since:
            return  # the replacement does not exist on the Redis the project targets
        self.report(call.node, self._message(call, found))

    def _message(self, call: RedisCall, found: Replacement) -> str:
        use = found.use
        if call.command.startswith("georadius") and call.has_kwarg("store", "store_dist"):
            use = _STORE_REPLACEMENT
        since = ".".join(str(part) for part in found.since)
        see = f" (see `redislint patterns {found.pattern}`)" if found.pattern else ""
        return self.message.format(command=call.command, since=since, use=use, see=see)
