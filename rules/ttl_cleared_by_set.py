from __future__ import annotations

from typing import Optional

import libcst as cst

from redislint.rule import Fix, Invalid, Rule, Valid
from redislint.semantic.fixes.edits import add_keywords, keyword
from redislint.semantic.keys.expiry import TTL_CLEARED, ttl_concern, ttl_patterns
from redislint.semantic.keys.keyspace import gives_ttl, named_pattern
from redislint.semantic.model import RedisCall, Scope


class TtlClearedBySet(Rule):
    """
    ## What it does
    Flags a plain SET (no `ex`/`px`/`exat`/`pxat`, no `keepttl=True`, no `nx=True`) or GETSET
    of a key whose pattern the same module writes with a TTL elsewhere: `set(..., ex=)`,
    `setex`/`psetex`, an EXPIRE after a write, or `getex(..., ex=)`. Key patterns are compared
    after normalisation (`f"user:{uid}"`, `"user:" + uid`, `"user:{}".format(uid)` and a local
    variable holding one are all `user:*`); keys built from values alone (`key`, `f"{a}:{b}"`)
    are never compared.

    Stays silent when the same function gives that key a TTL itself (it expires it after the
    write, or writes it with a TTL on another path: `if ttl: set(k, v, ex=ttl) else: set(k, v)`
    is a deliberate choice), on `nx=True` writes (they never touch an existing key), on
    `*args`/`**kwargs` calls, and on objects that are not Redis.

    Only the module is searched for the TTL: the project index does not record which key
    patterns other modules write with a TTL (a pattern written with a TTL in another module
    is not seen, so such a SET goes unreported; RL101 may still report it).

    ## Why is this bad?
    SET replaces the value *and* drops the key's TTL (the SET documentation: "any previous
    time to live associated with the key is discarded"). The code that gives the key a TTL
    shows it is meant to expire; after this SET it never does, so a cache entry, token or
    counter meant to live minutes lives forever, and keys of this pattern pile up.

    ## Example
    ```python
    def cache_user(uid, data):
        r.set(f"user:{uid}", data, ex=3600)

    def rename_user(uid, data):
        r.set(f"user:{uid}", data)  # the TTL is gone
    ```

    ## Use instead:
    ```python
    def rename_user(uid, data):
        r.set(f"user:{uid}", data, keepttl=True)  # Redis >= 6.0; or ex=3600 again
    ```
    See `redislint patterns caching`.

    ## Fix safety
    The fix adds `keepttl=True` to `set(...)` when `target-redis-version` is 6.0 or later. It
    is unsafe: the key keeps the TTL it had, which may be too short (or too long) for the new
    value, and if the key had already expired the new value is written with no TTL at all.
    Passing the same `ex=` again is often better, and only the author knows the right value.
    No fix is offered for GETSET, below Redis 6.0, or when `*args`/`**kwargs` are passed.
    """

    code = "RL102"
    name = "ttl-cleared-by-set"
    message = ("`{command}` without an expiry discards the TTL that {giver} gives `{pattern}` "
               "keys, so the key no longer expires: {instead} (see `redislint patterns caching`)")
    fix_safety = "unsafe"
    pattern = "caching"

    VALID = [
        Valid('import redis\nr = redis.Redis()\ndef cache(uid, v):\n    r.set(f"user:{uid}", v, ex=300)\n'
              'def rename(uid, v):\n    r.set("user:" + uid, v, keepttl=True)\n'),
        Valid('import redis\nr = redis.Redis()\ndef cache(uid, v):\n    r.setex(f"user:{uid}", 300, v)\n'
              'def rename(uid, v):\n    r.set(f"user:{uid}", v, ex=300)\n'
              'def claim(uid):\n    r.set(f"user:{uid}", 1, nx=True)\n'),
        Valid('import redis\nr = redis.Redis()\ndef put(k, v, ttl=None):\n    if ttl:\n'
              '        r.set(f"data:{k}", v, ex=ttl)\n    else:\n        r.set(f"data:{k}", v)\n'),
        Valid('import redis\nr = redis.Redis()\ndef cache(uid, v):\n    r.set(f"user:{uid}", v, px=500)\n'
              'def rename(uid, v):\n    with r.pipeline() as p:\n        p.set(f"user:{uid}", v)\n'
              '        p.expire(f"user:{uid}", 300)\n        p.execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef cache(uid, v):\n    r.set(f"user:{uid}", v, ex=300)\n'
              'def profile(uid, v):\n    r.set(f"user:{uid}:profile", v)\n    r.set(f"member:{uid}", v)\n'),
        Valid('import redis\nr = redis.Redis()\nSCRIPT = "redis.call(\'SET\', KEYS[1], ARGV[1], \'KEEPTTL\')"\n'
              'def cache(uid, v):\n    r.set(f"user:{uid}", v, ex=300)\n'
              'def rename(uid, v):\n    r.eval(SCRIPT, 1, f"user:{uid}", v)\n'
              '    r.register_script(SCRIPT)(keys=[f"user:{uid}"], args=[v])\n'),
        Valid('from django.core.cache import cache\nd = {}\ndef save(uid, v):\n'
              '    cache.set(f"user:{uid}", v, 300)\n    cache.set(f"user:{uid}", v)\n'
              '    d.setdefault(f"user:{uid}", v)\n'),
        Valid('import redis\nr = redis.Redis()\ndef put(key, v):\n    r.set(key, v, ex=60)\n'
              'def put_forever(key, v):\n    r.set(key, v)\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef cache(uid, v):\n    r.set(f"user:{uid}", v, ex=300)\n'
                'def rename(uid, v):\n    r.set("user:" + uid, v)\n',
                expected_fix='import redis\nr = redis.Redis()\ndef cache(uid, v):\n'
                '    r.set(f"user:{uid}", v, ex=300)\ndef rename(uid, v):\n'
                '    r.set("user:" + uid, v, keepttl=True)\n', unsafe=True),
        Invalid('import redis\nclass Tokens:\n    def __init__(self, url):\n        self.r = redis.from_url(url)\n'
                '    def issue(self, uid, t):\n        key = "token:%s" % uid\n'
                '        self.r.set(key, t)\n        self.r.expire(key, 60)\n'
                '    def rotate(self, uid, t):\n        self.r.set("token:{}".format(uid), t, xx=True)\n',
                expected_fix='import redis\nclass Tokens:\n    def __init__(self, url):\n'
                '        self.r = redis.from_url(url)\n    def issue(self, uid, t):\n'
                '        key = "token:%s" % uid\n        self.r.set(key, t)\n        self.r.expire(key, 60)\n'
                '    def rotate(self, uid, t):\n        self.r.set("token:{}".format(uid), t, xx=True, keepttl=True)\n',
                unsafe=True),
        Invalid('from redis.asyncio import Redis\nasync def grant(r: Redis, uid):\n'
                '    await r.setex(f"otp:{uid}", 60, 1)\nasync def regrant(r: Redis, uid):\n'
                '    key = f"otp:{uid}"\n    await r.set(key, 2)\n',
                expected_fix='from redis.asyncio import Redis\nasync def grant(r: Redis, uid):\n'
                '    await r.setex(f"otp:{uid}", 60, 1)\nasync def regrant(r: Redis, uid):\n'
                '    key = f"otp:{uid}"\n    await r.set(key, 2, keepttl=True)\n', unsafe=True),
        Invalid('import redis\nr = redis.Redis()\ndef cache(uid, v):\n    r.set(f"user:{uid}", v, ex=300)\n'
                'def rename(uid, v):\n    r.set(f"user:{uid}", v)\n',
                settings={"target-redis-version": "5.0"}),
        Invalid('import redis\nr = redis.Redis()\ndef hit(uid):\n    r.incr(f"rate:{uid}")\n'
                '    r.expire(f"rate:{uid}", 60)\ndef swap(uid):\n    return r.getset(f"rate:{uid}", 0)\n'),
        Invalid('import redis\nr = redis.Redis()\ndef reset(uid):\n    r.expire(f"quota:{uid}", 60)\n'
                '    r.set(f"quota:{uid}", 0)\n',
                expected_fix='import redis\nr = redis.Redis()\ndef reset(uid):\n'
                '    r.expire(f"quota:{uid}", 60)\n    r.set(f"quota:{uid}", 0, keepttl=True)\n',
                unsafe=True),
    ]

    def on_scope_exit(self, scope: Scope) -> None:
        if scope.kind != "module":
            return
        calls = self.model.redis_calls
        patterns = ttl_patterns(calls)
        if not patterns:
            return
        for call in calls:
            if ttl_concern(call, patterns, self.settings) != TTL_CLEARED:
                continue
            pattern = named_pattern(call.key)
            message = self.message.format(command=call.command, giver=self._giver(call, pattern),
                                          pattern=pattern, instead=self._instead(call))
            self.report(call.node, message, fix=self._fix(call))

    def _giver(self, call: RedisCall, pattern: Optional[str]) -> str:
        """Where the module gives the pattern its TTL: `cache_user()`, preferably elsewhere."""
        givers = [c for c in self.model.redis_calls if c is not call and not c.has_star_args
                  and named_pattern(c.key) == pattern and gives_ttl(c.command, c.node)]
        elsewhere = [c for c in givers if c.scope is not call.scope] or givers
        node = elsewhere[0].scope.node if elsewhere else None
        if isinstance(node, cst.FunctionDef):
            return f"`{node.name.value}()`"
        return "this module"

    def _instead(self, call: RedisCall) -> str:
        if call.command == "getset":
            if self.settings.target_redis_version >= (6, 2):
                return "use `set(k, v, get=True, keepttl=True)`"
            return "send the TTL again with the write in one `pipeline()`"
        if self.settings.target_redis_version >= (6, 0):
            return "pass `keepttl=True` (or the same `ex=`)"
        return "pass the same `ex=`/`px=` (`keepttl` needs Redis 6.0)"

    def _fix(self, call: RedisCall) -> Optional[Fix]:
        if call.command != "set" or call.has_star_args or self.settings.target_redis_version < (6, 0):
            return None
        if len(call.args) > 6:
            return None  # `keepttl` passed by position
        given = next((a for a in call.node.args if a.keyword is not None
                      and a.keyword.value == "keepttl"), None)
        if given is not None:  # `keepttl=False`: set it, never repeat the keyword
            fixed = call.node.with_deep_changes(given, value=cst.Name("True"))
        else:
            fixed = add_keywords(call.node, keyword("keepttl", cst.Name("True")))
        return Fix("Keep the key's TTL with `keepttl=True`", {call.node: fixed}, "unsafe")
