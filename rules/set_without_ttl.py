from __future__ import annotations

from typing import List, Optional

import libcst as cst

from redislint.rule import Fix, Invalid, Rule, Valid
from redislint.semantic.fixes.edits import add_keywords, keyword, literal_number
from redislint.semantic.keys.expiry import lifetime_managed, ttl_concern, ttl_patterns
from redislint.semantic.context.frameworks import in_test_code
from redislint.semantic.keys.expressions import Key
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.redispy import write_ttl
from redislint.semantic.flow.sequences import expired_after
from redislint.semantic.fixes.ttl import set_without_expiry

# What to write instead, per command: each can carry a TTL in the same command.
_INSTEAD = {
    "set": "pass `ex=`/`px=` (or `keepttl=True` to keep the current TTL)",
    "setnx": "use `set(k, v, nx=True, ex=t)`",
    "getset": "use `set(k, v, ex=t, get=True)` (Redis >= 6.2)",
    "mset": "write each key with `set(k, v, ex=t)` in one `pipeline()`",
    "msetnx": "write each key with `set(k, v, nx=True, ex=t)` in one `pipeline()`",
}
_MULTI_KEY = ("mset", "msetnx")


class SetWithoutTtl(Rule):
    """
    ## What it does
    Flags a string written with SET, SETNX, GETSET, MSET or MSETNX without an expiry
    (`ex`/`px`/`exat`/`pxat`, or `keepttl=True`) when no EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT of
    that key follows in the same function.

    Stays silent on:
    - `setex`/`psetex` (they set a TTL; RL901 suggests `set(..., ex=)` instead);
    - a key expired later in the same function, on the client or in a pipeline (whether that
      pair is atomic is RL202's and RL203's business);
    - calls with `*args`/`**kwargs`, which may carry the TTL;
    - a key the same function also writes with a TTL (`if ttl: r.set(k, v, ex=ttl)` /
      `else: r.set(k, v)`): leaving the TTL out on one path is then a deliberate choice;
    - fixed keys, spelt as a string literal or a module constant (`"app:schema_version"`,
      `FEATURE_FLAGS_KEY`): a key without a variable part is one key, not one per user or
      request, so it cannot pile up, and such keys (config, version and feature flags, a
      deploy marker written at startup) are usually meant to live forever. Only keys built
      from a value (`f"user:{uid}"`, `"cache:" + url`, a key parameter) are flagged;
    - keys whose life the code manages: the module deletes the same key (a flag set by
      `pause()` and deleted by `resume()`), or the module or project deletes keys of that
      pattern;
    - test code (files under `tests/`, `test_*.py`, test functions and fixtures): tests write
      throwaway keys on purpose;
    - objects that are not Redis: a dict, Django's `cache.set(k, v, timeout)`, a user class.
    - writes another rule diagnoses more precisely (`redislint.semantic.keys.expiry`): session keys
      (`session-key-patterns`, RL103 session-without-ttl) and a plain SET of a key pattern the
      module gives a TTL elsewhere (RL102 ttl-cleared-by-set).

    ## Why is this bad?
    A key written without a TTL stays in Redis until something deletes it. Keys made per user,
    per request or per URL pile up until `maxmemory` is reached; then Redis either evicts keys
    you meant to keep or, with the default `noeviction` policy, refuses every write. A cached
    value without a TTL is also never refreshed if the code that invalidates it misses a path.

    ## Example
    ```python
    def cache_profile(uid, profile):
        r.set(f"profile:{uid}", json.dumps(profile))
    ```

    ## Use instead:
    ```python
    def cache_profile(uid, profile):
        r.set(f"profile:{uid}", json.dumps(profile), ex=3600)
    ```
    For MSET, which cannot carry a TTL, send one `set(k, v, ex=t)` per key in a `pipeline()`.
    See `redislint patterns caching`.

    ## Fix safety
    Only with `default-ttl` configured (`[tool.redislint]`), an unsafe fix adds
    `ex=<default-ttl>` to the `set(...)`. Without it there is no fix: the right TTL depends
    on the data, and redislint never invents one. Unsafe because the configured default is not
    a choice made for this key: data that must outlive it now disappears after that many
    seconds. No fix for SETNX, GETSET, MSET and MSETNX (no TTL option; RL901 turns SETNX and
    GETSET into SET first), for a SET that passes any `ex`/`px`/`exat`/`pxat`/`keepttl`
    (even `ex=None`: the value is someone's decision), or `*args`/`**kwargs`.
    """

    code = "RL101"
    name = "set-without-ttl"
    message = ("`{command}` writes {what} with no expiry (kept in Redis until deleted): "
               "{instead} (see `redislint patterns caching`)")
    pattern = "caching"
    fix_safety = "unsafe"

    VALID = [
        Valid('import redis\nr = redis.Redis()\ndef save(uid, data):\n'
              '    r.set(f"user:{uid}", data, ex=300)\n'),
        Valid('import redis\nr = redis.Redis()\ndef save(uid, data):\n'
              '    r.set("user:" + uid, data, keepttl=True)\n    r.set(f"user:{uid}:n", 1, 60)\n'),
        Valid('import redis\nr = redis.Redis()\ndef save(uid, data):\n    with r.pipeline() as p:\n'
              '        p.set(f"user:{uid}", data)\n        p.expire("user:{}".format(uid), 60)\n'
              '        p.execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef save(uid, data):\n    key = "user:%s" % uid\n'
              '    p = r.pipeline(transaction=False)\n    p.multi()\n    p.set(key, data)\n'
              '    p.expire(f"user:{uid}", 60)\n    p.execute()\n'),
        Valid('import redis\nr = redis.Redis()\nSET_EX = "redis.call(\'SET\', KEYS[1], ARGV[1], \'EX\', 60)"\n'
              'save = r.register_script(SET_EX)\ndef put(uid, v):\n    save(keys=[f"user:{uid}"], args=[v])\n'
              '    r.eval(SET_EX, 1, f"user:{uid}", v)\n'),
        Valid('import redis\nr = redis.Redis()\ndef save(uid, v):\n    r.setex(f"u:{uid}", 60, v)\n'
              '    r.psetex(f"u:{uid}", 60000, v)\n'),
        Valid('import redis\nr = redis.Redis()\ndef save(uid, v, **options):\n'
              '    r.set(f"u:{uid}", v, **options)\n'),
        Valid('from django.core.cache import cache\ndef save(uid, v):\n'
              '    cache.set(f"user:{uid}", v, 300)\n    cache.set(f"user:{uid}:raw", v)\n'),
        Valid('class Store:\n    def set(self, k, v): ...\ns = Store()\ndef save(uid):\n'
              '    s.set(f"user:{uid}", 1)\n    settings = {}\n    settings.setdefault(uid, 1)\n'),
        Valid('import redis\nr = redis.Redis()\nSCHEMA_VERSION = "app:schema_version"\n'
              'r.set(SCHEMA_VERSION, 3)\ndef enable():\n    r.set("feature:new-checkout", 1)\n'),
        Valid('import redis\nr = redis.Redis()\ndef warm(rows):\n    r.mset({f"row:{k}": v for k, v in rows})\n'
              '    for k, _ in rows:\n        r.expire(f"row:{k}", 60)\n'),
        Valid('import redis\nr = redis.Redis()\ndef put(key, value, ttl=None):\n    if ttl:\n'
              '        r.set(f"data:{key}", value, ex=ttl)\n    else:\n'
              '        r.set(f"data:{key}", value)  # metadata that must persist\n'),
        Valid('import redis\nr = redis.Redis()\ndef login(sid, uid):\n'
              '    r.set(f"session:{sid}", uid)  # RL103 reports session keys\n'
              'def remember(uid, v):\n    r.set(f"seen:{uid}", v)  # RL102: TTL given below\n'
              'def seen(uid, v):\n    r.set(f"seen:{uid}", v, ex=60)\n'),
        Valid('import redis\nr = redis.Redis()\nclass Source:\n    @property\n    def _pause_key(self):\n'
              '        return "ds:{}:pause".format(self.id)\n    def pause(self, why):\n'
              '        r.set(self._pause_key, why)\n    def resume(self):\n        r.delete(self._pause_key)\n'),
        Valid('import redis\nr = redis.Redis()\ndef claim(job, me):\n    r.set(f"owner:{job}", me)\n'
              'def finish(job):\n    r.unlink("owner:" + job)\n'),
        Valid('import redis\nr = redis.Redis()\ndef test_roundtrip(uid):\n    r.set(f"user:{uid}", 1)\n'),
        Valid('from redis.asyncio import Redis\nasync def touch(r: Redis, sid):\n'
              '    await r.set(f"sess:{sid}", 1)\n    await r.pexpire("sess:" + sid, 5000)\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef save(uid, data):\n    r.set(f"user:{uid}", data)\n'),
        Invalid('import redis\nclass Carts:\n    def __init__(self, url):\n'
                '        self.r = redis.from_url(url)\n    def put(self, cid, payload):\n'
                '        self.r.set("cart:" + cid, payload)\n'),
        Invalid('from redis.asyncio import Redis\nasync def save(r: Redis, uid):\n'
                '    await r.set("user:{}".format(uid), 1, ex=None)\n'),
        Invalid('import redis\nr = redis.Redis()\ndef save(uid, data):\n    key = f"user:{uid}"\n'
                '    p = r.pipeline(transaction=False)\n    p.set(key, data)\n'
                '    p.expire(f"other:{uid}", 60)\n    p.execute()\n'),
        Invalid('import redis\nr = redis.Redis()\ndef claim(job):\n    r.setnx(f"job:{job}:owner", 1)\n'
                '    return r.getset("job:%s:state" % job, "running")\n', count=2),
        Invalid('import redis\nr = redis.Redis()\ndef save(uid, a, b):\n'
                '    r.expire(f"user:{uid}", 60)\n    r.mset({f"user:{uid}": a, "user:" + uid + ":b": b})\n'),
        Invalid('import redis\nr = redis.Redis()\ndef save(uid, data):\n'
                '    r.pipeline().set(f"user:{uid}", data, xx=True).execute()\n'),
        # with `default-ttl` configured: an unsafe fix
        Invalid('import redis\nr = redis.Redis()\ndef save(uid, data):\n    r.set(f"user:{uid}", data)\n'
                '    r.pipeline().set(f"seen:{uid}", 1, xx=True).execute()\n',
                settings={"default-ttl": 3600}, count=2, unsafe=True,
                expected_fix='import redis\nr = redis.Redis()\ndef save(uid, data):\n'
                '    r.set(f"user:{uid}", data, ex=3600)\n'
                '    r.pipeline().set(f"seen:{uid}", 1, xx=True, ex=3600).execute()\n'),
        # no fix even so: SETNX has no TTL option, `ex=None` is spelt out
        Invalid('import redis\nr = redis.Redis()\ndef claim(job, uid):\n    r.setnx(f"job:{job}", 1)\n'
                '    r.set(f"user:{uid}", 1, ex=None)\n', settings={"default-ttl": 3600}, count=2),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        self._pending: List[RedisCall] = []

    def on_scope_exit(self, scope: Scope) -> None:
        self._pending.extend(self._candidates(scope))
        if scope.kind != "module":
            return
        # Writes another rule diagnoses more precisely (RL102 ttl-cleared-by-set, RL103
        # session-without-ttl) are theirs: see `redislint.semantic.keys.expiry`.
        patterns = ttl_patterns(self.model.redis_calls)
        index = self.model.inferer.index
        project_deletes = index.key_uses("delete") if index is not None else ()
        for call in self._pending:
            if ttl_concern(call, patterns, self.settings) is not None:
                continue
            if lifetime_managed(call, self.model.redis_calls, project_deletes):
                continue
            if in_test_code(self.model, call.ancestors):
                continue
            what = "keys" if call.command in _MULTI_KEY else "a key"
            self.report(call.node, self.message.format(command=call.command, what=what,
                                                       instead=self._instead(call)),
                        fix=self._fix(call))
        self._pending = []

    def _fix(self, call: RedisCall) -> Optional[Fix]:
        """`set(k, v)` -> `set(k, v, ex=<default-ttl>)`, only with `default-ttl` configured."""
        ttl = self.settings.default_ttl
        if ttl is None or set_without_expiry(call) is None:
            return None
        option = keyword("ex", literal_number(ttl))
        return Fix(f"Expire the key after the configured `default-ttl` ({ttl} s)",
                   {call.node: add_keywords(call.node, option)}, "unsafe")

    def _candidates(self, scope: Scope) -> List[RedisCall]:
        found = []
        # Keys this function also writes with a TTL: there, leaving one out is a choice.
        with_ttl = {call.key for call in scope.calls if write_ttl(call)}
        for call in scope.calls:
            if call.command not in _INSTEAD or write_ttl(call) is not False:
                continue
            if call.key in with_ttl:
                continue
            if call.has_star_args or call.receiver.role not in ("client", "pipeline"):
                continue
            keys = self._written_keys(call)
            if all(key is not None and key.is_literal for key in keys):
                continue  # fixed keys are meant to persist: see the docs
            if all(key is not None and key in with_ttl for key in keys):
                continue  # `mset` of keys this function also writes with a TTL
            if expired_after(call, keys):
                continue
            found.append(call)
        return found

    def _instead(self, call: RedisCall) -> str:
        if call.command == "getset" and self.settings.target_redis_version < (6, 2):
            return "send it with an `expire` in one `pipeline()` (`set(..., get=True)` needs 6.2)"
        return _INSTEAD[call.command]

    def _written_keys(self, call: RedisCall) -> List[Optional[Key]]:
        """The keys a call writes; None for one we cannot name."""
        if call.command not in _MULTI_KEY:
            return [call.key]
        mapping = call.arg(0, "mapping")
        if not isinstance(mapping, cst.Dict):
            return [None]
        return [self.model.key(element.key) if isinstance(element, cst.DictElement) else None
                for element in mapping.elements]
