from __future__ import annotations

from typing import Dict, FrozenSet, List, NamedTuple, Optional, Set, Tuple

import libcst as cst

from redislint.rule import Fix, Invalid, Rule, Valid
from redislint.semantic.context.frameworks import in_test_code
from redislint.semantic.fixes.edits import add_keywords, keyword, literal_number
from redislint.semantic.fixes.ttl import set_without_expiry
from redislint.semantic.keys.expiry import (
    ManagedKeys, OffTtl, ScopeExpiry, fixed_key, is_constant, names_permanent_state, ttl_concern,
    ttl_patterns,
)
from redislint.semantic.keys.expressions import Key
from redislint.semantic.keys.growth import bounded_patterns, is_timestamp
from redislint.semantic.keys.keyspace import PatternIndex, named_pattern
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.names import string_value
from redislint.semantic.redispy import write_ttl
from redislint.walk import children_of

# What to write instead, per command: each can carry a TTL in the same command.
_INSTEAD = {
    "set": "pass `ex=`/`px=` (or `keepttl=True` to keep the current TTL)",
    "setnx": "use `set(k, v, nx=True, ex=t)`",
    "getset": "use `set(k, v, ex=t, get=True)` (Redis >= 6.2)",
    "mset": "write each key with `set(k, v, ex=t)` in one `pipeline()`",
    "msetnx": "write each key with `set(k, v, nx=True, ex=t)` in one `pipeline()`",
}
_MULTI_KEY = ("mset", "msetnx")
# Hash writes that add a field: one field per entity makes the hash grow like one key per entity.
_HASH_FIELDS = ("hset", "hsetnx", "hmset")


class SetWithoutTtl(Rule):
    """
    ## What it does
    Flags a write that leaves data in Redis with no expiry, when no
    EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT of that key follows in the same function, in three shapes:
    - a string written with SET, SETNX, GETSET, MSET or MSETNX without an expiry
      (`ex`/`px`/`exat`/`pxat`, or `keepttl=True`) to a key built from a value
      (`f"user:{uid}"`, `"cache:" + url`, a key parameter): one key per user, request or URL,
      which piles up;
    - a fixed key (a literal, a module constant, a class attribute bound once to a literal)
      written by SET, SETNX or GETSET with a computed value (`r.set("data", value)`), that
      nothing in the module deletes or expires, nor any module of the project by pattern: a
      cached value that is never refreshed. This rule owns it rather than RL401
      (missing-invalidation) because the defect is the missing TTL itself: there may be no
      database write to pair it with, and a TTL (or a delete when the source changes) is the fix;
    - HSET, HSETNX or HMSET of a field named by a value (`r.hset("avatars", uid, url)`, a
      `mapping=` dict or comprehension with such keys) into one fixed hash that nothing in the
      module or project expires, deletes, or trims with HDEL/HGETDEL/HEXPIRE (a Lua script of
      the module that does counts): a field per entity grows the hash like one key per entity
      without a TTL.

    Stays silent on:
    - `setex`/`psetex` (they set a TTL; RL901 suggests `set(..., ex=)` instead);
    - a key expired later in the same function, on the client or in a pipeline (whether that
      pair is atomic is RL202's and RL203's business);
    - calls with `*args`/`**kwargs`, which may carry the TTL;
    - a key the same function also writes with a TTL on another branch (`if ttl: r.set(k, v,
      ex=ttl)` / `else: r.set(k, v)`), when the TTL is the normal path: it comes from a
      constant, a required parameter, a parameter with a real default (`ttl=300`) or one the
      function normalises (`ttl = ttl or 3600`); leaving it out is then a caller's explicit
      choice. Not when it is a parameter defaulting to `None` or `0` (or `self.ttl` set once
      from such a parameter of `__init__`): then the path without a TTL is the default one, and
      it is flagged, unless the function (the class, for `__init__`) is called in the module
      and every call passes a TTL (`store.put(sid, data, 1800)`): then the TTL is the normal
      path after all. The same holds for an EXPIRE that follows only when such a TTL is given.
      A single `r.set(k, v, ex=ttl)` with `ttl=None` is not flagged: it passes an expiry
      option, and the rule only judges a write that leaves the option out;
    - fixed keys that hold a constant (`r.set("feature:new-checkout", 1)`, flags and markers),
      a time stamp (`time.time()`, `datetime.now()`...), or whose name says it is permanent
      state (a word such as version, schema, config, settings, flag, feature, leader, master,
      owner, migration, revision, counter, cursor, offset, checkpoint, last, heartbeat, state,
      status: `app:schema_version`, `FEATURE_FLAGS`, `lastRun`); MSET/MSETNX of fixed keys;
    - hashes with fixed fields (`hset(f"user:{uid}", "name", n)`), fields from a loop over
      literals (`for page in ("home", "cart")`), unknown fields (`mapping=data`), hashes whose
      key is built from a value, or whose name says they are configuration or state;
    - keys whose life the code manages: the module deletes the same key (a flag set by
      `pause()` and deleted by `resume()`, however it is spelt: `self._pause_key`, a helper
      `_key(job)`, a local bound once to the same expression), or the module or project
      deletes keys of that pattern. A key that is only a local name (a bare parameter `key` or
      `cache_key`) is the same key only within its function (or, through `self`, its class):
      `put(key, v)` and `delete(key)` in two functions do not manage each other's keys;
    - test code (files under `tests/`, `test_*.py`, test functions and fixtures): tests write
      throwaway keys on purpose;
    - objects that are not Redis: a dict, Django's `cache.set(k, v, timeout)`, a user class.
    - writes another rule diagnoses more precisely (`redislint.semantic.keys.expiry`): session keys
      (`session-key-patterns`, RL103 session-without-ttl) and a plain SET of a key pattern the
      module gives a TTL elsewhere (RL102 ttl-cleared-by-set).

    ## Why is this bad?
    A key written without a TTL stays in Redis until something deletes it. Keys made per user,
    per request or per URL (or fields per user in one hash) pile up until `maxmemory` is
    reached; then Redis either evicts keys you meant to keep or, with the default `noeviction`
    policy, refuses every write. A cached value without a TTL is also never refreshed if the
    code that invalidates it misses a path: a fixed key that nothing deletes serves the first
    value it was given forever.

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
    `ex=<default-ttl>` to the `set(...)` (a fixed key's too). Without it there is no fix: the
    right TTL depends on the data, and redislint never invents one. Unsafe because the
    configured default is not a choice made for this key: data that must outlive it now
    disappears after that many seconds. No fix for SETNX, GETSET, MSET and MSETNX (no TTL
    option; RL901 turns SETNX and GETSET into SET first), for a SET that passes any
    `ex`/`px`/`exat`/`pxat`/`keepttl` (even `ex=None`: the value is someone's decision), or
    `*args`/`**kwargs`, nor for HSET: a TTL on the whole hash would drop every entity's field
    at once (HEXPIRE, Redis 7.4, expires fields one by one).
    """

    code = "RL101"
    name = "set-without-ttl"
    message = ("`{command}` writes {what} with no expiry (kept in Redis until deleted): "
               "{instead} (see `redislint patterns caching`)")
    fixed_message = ("`{command}` writes the fixed key `{key}` with a computed value and no "
                     "expiry, and nothing deletes or expires it: a cached value that is never "
                     "refreshed. Pass `ex=`/`px=`, or delete the key when its source changes "
                     "(see `redislint patterns caching`)")
    hash_message = ("`{command}` adds a field per entity to the hash `{key}`, which nothing "
                    "expires, deletes or HDELs: it grows like one key per entity without a TTL. "
                    "HDEL fields that are done with, or store one key per entity with "
                    "`set(k, v, ex=t)` (see `redislint patterns caching`)")
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
        # the TTL is the normal path: a default, a required parameter, a normalised one
        Valid('import redis\nr = redis.Redis()\ndef put(key, value, ttl=300):\n    if ttl:\n'
              '        r.set(f"data:{key}", value, ex=ttl)\n    else:\n'
              '        r.set(f"data:{key}", value)  # ttl=0: metadata that must persist\n'
              'def put_for(key, value, ttl):\n    if ttl is None:\n'
              '        r.set(f"meta:{key}", value)\n    else:\n'
              '        r.setex(f"meta:{key}", ttl, value)\n'
              'def keep(key, value, ttl=None):\n    ttl = ttl or 3600\n'
              '    r.set(f"keep:{key}", value)\n    if ttl:\n        r.expire(f"keep:{key}", ttl)\n'),
        # off by default, but every call in the module passes a TTL
        Valid('import redis\nclass RedisStore:\n    def __init__(self, r: redis.Redis):\n'
              '        self.redis = r\n    def put(self, key, value, ttl=None):\n'
              '        if ttl:\n            self.redis.setex(key, int(ttl), value)\n'
              '        else:\n            self.redis.set(key, value)\n'
              'store = RedisStore(redis.Redis())\n'
              'def save(sid, data):\n    store.put(sid, data, 1800)\n'
              'def token(t, sid):\n    store.put(t, sid, ttl=60)\n'),
        Valid('import redis\nclass Store:\n    def __init__(self, ttl=60):\n'
              '        self.r = redis.Redis()\n        self.ttl = ttl\n'
              '    def put(self, uid, value):\n        if self.ttl:\n'
              '            self.r.set(f"s:{uid}", value, ex=self.ttl)\n        else:\n'
              '            self.r.set(f"s:{uid}", value)\n'),
        Valid('import redis\nr = redis.Redis()\ndef login(sid, uid):\n'
              '    r.set(f"session:{sid}", uid)  # RL103 reports session keys\n'
              'def remember(uid, v):\n    r.set(f"seen:{uid}", v)  # RL102: TTL given below\n'
              'def seen(uid, v):\n    r.set(f"seen:{uid}", v, ex=60)\n'),
        Valid('import redis\nr = redis.Redis()\nclass Source:\n    @property\n    def _pause_key(self):\n'
              '        return "ds:{}:pause".format(self.id)\n    def pause(self, why):\n'
              '        r.set(self._pause_key, why)\n    def resume(self):\n        r.delete(self._pause_key)\n'),
        Valid('import redis\nr = redis.Redis()\ndef claim(job, me):\n    r.set(f"owner:{job}", me)\n'
              'def finish(job):\n    r.unlink("owner:" + job)\n'),
        # the same key deleted: in the same function, through `self` in the same class, or
        # built by the same module helper
        Valid('import redis\nr = redis.Redis()\ndef swap(key, value):\n    r.set(key, value)\n'
              '    r.rename(key, "current")\n    r.delete(key)\n'
              'def _key(job):\n    return "owner:" + job\n'
              'def claim(job, me):\n    r.set(_key(job), me)\ndef finish(job):\n    r.delete(_key(job))\n'),
        Valid('import redis\nclass Jobs:\n    r = redis.Redis()\n'
              '    def claim(self, job, me):\n        self.r.set(self.owner_key(job), me)\n'
              '    def finish(self, job):\n        self.r.delete(self.owner_key(job))\n'),
        # fixed keys that hold constants, permanent state, a time stamp, or a TTL given elsewhere
        Valid('import redis, time\nr = redis.Redis()\ndef migrate(n, me, build):\n'
              '    r.set("app:schema_version", n)\n    r.set("scheduler:leader", me)\n'
              '    r.set("lastRun", build)\n    r.set("jobs:heartbeat", time.time())\n'
              '    r.set("FEATURE_FLAGS", build)\n'
              'def refresh(value):\n    r.set("report", value)\ndef reset():\n    r.delete("report")\n'
              'def warm(value):\n    r.set("stats", value)\ndef tick():\n    r.expire("stats", 60)\n'),
        Valid('import redis\nclass Crypto:\n    FINGERPRINTS = "sd/crypto/fingerprints"\n'
              '    VERSION = "sd/crypto/version"\n'
              '    def __init__(self):\n        self.r = redis.Redis()\n'
              '    def remember(self, sid, fp):\n        self.r.hset(self.FINGERPRINTS, sid, fp)\n'
              '        self.r.set(self.VERSION, fp)\n'
              '    def forget(self, sid):\n        self.r.hdel(self.FINGERPRINTS, sid)\n'),
        # hashes: fixed fields, a hash HDELed or expired, configuration, unknown fields
        Valid('import redis\nr = redis.Redis()\nORDERS = "orders"\n'
              'def save(uid, oid, name, order, fields):\n    r.hset(f"user:{uid}", "name", name)\n'
              '    r.hset(ORDERS, oid, order)\n    r.hset("config", name, order)\n'
              '    r.hset("jobs", oid, order)\n    r.expire("jobs", 3600)\n'
              '    r.hset("totals", mapping=fields)\n    r.hset("meta", mapping={"a": 1})\n'
              'def drop(oid):\n    r.hdel(ORDERS, oid)\n'
              'def reset():\n    for page in ("home", "cart"):\n        r.hset("views", page, 0)\n'
              '    r.hset("hits", mapping={p: 0 for p in ["home", "cart"]})\n'),
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
        # the TTL is off by default: `ttl=None` / `timeout=0`, or `self.ttl` set from one
        Invalid('import redis\nr = redis.Redis()\ndef put(key, value, ttl=None):\n    if ttl:\n'
                '        r.set(f"data:{key}", value, ex=ttl)\n    else:\n'
                '        r.set(f"data:{key}", value)\n'
                'def save(k, v, timeout=0):\n    r.set(f"x:{k}", v)\n    if timeout:\n'
                '        r.expire(f"x:{k}", int(timeout))\n', count=2),
        Invalid('import redis\nclass Store:\n    def __init__(self, ttl=None):\n'
                '        self.r = redis.Redis()\n        self.ttl = ttl\n'
                '    def put(self, uid, value):\n        if self.ttl:\n'
                '            self.r.setex(f"s:{uid}", self.ttl, value)\n        else:\n'
                '            self.r.set(f"s:{uid}", value)\n'),
        # two bare parameters that share a name in different functions are not one key
        Invalid('import redis\nclass RedisStore:\n    def __init__(self, r: redis.Redis):\n'
                '        self.redis = r\n    def put(self, key, value, ttl=None):\n'
                '        if ttl:\n            self.redis.setex(key, int(ttl), value)\n'
                '        else:\n            self.redis.set(key, value)\n'
                '    def delete(self, key):\n        self.redis.delete(key)\n'),
        # a caller leaves the TTL out: the default path is taken
        Invalid('import redis\nr = redis.Redis()\ndef put(key, value, ttl=None):\n'
                '    if ttl:\n        r.set(f"blob:{key}", value, ex=ttl)\n'
                '    else:\n        r.set(f"blob:{key}", value)\n'
                'def save(k, v):\n    put(k, v, 60)\n    put(k + ":meta", v)\n'),
        Invalid('import redis\nr = redis.Redis()\ndef remember(cache_key, value):\n'
                '    r.set(cache_key, value)\ndef forget(cache_key):\n    r.unlink(cache_key)\n'),
        # a fixed key holding a computed value that nothing deletes or expires
        Invalid('import redis\nr = redis.Redis()\nr.set("data", value)\n'
                'def cache(rows):\n    r.set("cache:report", render(rows))\n', count=2),
        # a field per entity into one hash nothing HDELs, deletes or expires
        Invalid('import redis, json\nr = redis.Redis()\nPROFILES = "profiles"\n'
                'def remember(uid, profile):\n    r.hset(PROFILES, uid, json.dumps(profile))\n'
                'def prices(rows):\n    r.hset("prices", mapping={sku: p for sku, p in rows})\n'
                'def seen(uid):\n    r.hsetnx("first_seen", uid, 1)\n', count=3),
        # a class attribute bound once to a literal is a fixed key too
        Invalid('import redis\nclass Crypto:\n    FINGERPRINTS = "sd/crypto/fingerprints"\n'
                '    def __init__(self):\n        self.r = redis.Redis()\n'
                '    def remember(self, sid, fp):\n        self.r.hset(self.FINGERPRINTS, sid, fp)\n'),
        # no fix even so: SETNX has no TTL option, `ex=None` is spelt out
        Invalid('import redis\nr = redis.Redis()\ndef claim(job, uid):\n    r.setnx(f"job:{job}", 1)\n'
                '    r.set(f"user:{uid}", 1, ex=None)\n', settings={"default-ttl": 3600}, count=2),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        self._pending: List[_Candidate] = []

    def on_scope_exit(self, scope: Scope) -> None:
        self._pending.extend(self._candidates(scope))
        if scope.kind != "module":
            return
        pending, self._pending = self._pending, []
        if not pending:
            return
        # Writes another rule diagnoses more precisely (RL102 ttl-cleared-by-set, RL103
        # session-without-ttl) are theirs: see `redislint.semantic.keys.expiry`.
        calls = self.model.redis_calls
        patterns = ttl_patterns(calls)
        index = self.model.inferer.index
        managed = ManagedKeys(calls, index.key_uses("delete") if index is not None else (),
                              self.model.facts)
        expired = PatternIndex(patterns | (index.key_uses("expire") if index is not None
                                           else frozenset()))
        hashes: Optional[PatternIndex] = None
        callers: Optional[Dict[str, List[cst.Call]]] = None
        for call, kind, expiry, key, offs in pending:
            if ttl_concern(call, patterns, self.settings, expiry) is not None:
                continue
            if offs:
                if callers is None:
                    callers = _calls_by_name(self.model.module, {o.callee for _, _, _, _, found
                                                                  in pending for o in found})
                if any(callers.get(off.callee) and all(off.passed_by(c)
                                                       for c in callers[off.callee])
                       for off in offs):
                    continue  # every caller passes the TTL: it is the normal path
            if managed.deleted(call):
                continue
            if key is not None and expired.overlaps(key.pattern):
                continue  # a fixed key given a TTL elsewhere in the module or the project
            if kind == "hash" and key is not None:
                if hashes is None:
                    bounded = bounded_patterns(self.model)
                    hashes = PatternIndex(bounded["hash"] | bounded["any"])
                if hashes.overlaps(key.pattern):
                    continue
            if in_test_code(self.model, call.ancestors):
                continue
            self.report(call.node, self._message(call, kind, key), fix=self._fix(call))

    def _message(self, call: RedisCall, kind: str, key: Optional[Key]) -> str:
        if kind == "hash":
            return self.hash_message.format(command=call.command, key=key)
        if kind == "fixed":
            return self.fixed_message.format(command=call.command, key=key)
        what = "keys" if call.command in _MULTI_KEY else "a key"
        return self.message.format(command=call.command, what=what, instead=self._instead(call))

    def _fix(self, call: RedisCall) -> Optional[Fix]:
        """`set(k, v)` -> `set(k, v, ex=<default-ttl>)`, only with `default-ttl` configured."""
        ttl = self.settings.default_ttl
        if ttl is None or set_without_expiry(call) is None:
            return None
        option = keyword("ex", literal_number(ttl))
        return Fix(f"Expire the key after the configured `default-ttl` ({ttl} s)",
                   {call.node: add_keywords(call.node, option)}, "unsafe")

    def _candidates(self, scope: Scope) -> List["_Candidate"]:
        found: List[_Candidate] = []
        expiry: Optional[ScopeExpiry] = None
        for call in scope.calls:
            command = call.command
            if command not in _INSTEAD and command not in _HASH_FIELDS:
                continue
            if call.has_star_args or call.receiver.role not in ("client", "pipeline"):
                continue
            fixed: Optional[Key] = None
            if command in _HASH_FIELDS:
                fixed = self._grown_hash(call)
                if fixed is None:
                    continue
                keys: List[Optional[Key]] = [call.key]
                kind = "hash"
            else:
                if write_ttl(call) is not False:
                    continue
                keys = self._written_keys(call)
                kind = "ttl"
                fixed = fixed_key(call, self.model.facts) if command not in _MULTI_KEY else None
                if fixed is not None or all(key is not None and key.is_literal for key in keys):
                    if fixed is None or not self._fixed_cache(call, fixed):
                        continue  # fixed keys are meant to persist: see the docs
                    kind = "fixed"  # `fixed` is the key
            if expiry is None:
                expiry = ScopeExpiry(scope.calls)
            # Keys this function also writes with a TTL, or expires after this write: there,
            # leaving one out is a choice, unless the TTL is off by default.
            if all(expiry.written_with_ttl(key, normal=True) for key in keys):
                continue
            if expiry.expired_after(call, keys, normal=True):
                continue
            offs: FrozenSet[OffTtl] = frozenset()
            if all(expiry.written_with_ttl(key) for key in keys) or \
                    expiry.expired_after(call, keys):
                offs = frozenset(expiry.off_ttls(keys))  # decided by the callers, at the end
            found.append(_Candidate(call, kind, expiry, fixed, offs))
        return found

    def _fixed_cache(self, call: RedisCall, key: Key) -> bool:
        """A fixed key written with a computed value, whose name does not say it is permanent
        state: a cached value."""
        if names_permanent_state(key):
            return False
        value = call.arg(1, "value")
        if value is None or is_constant(value, call, self.model.facts):
            return False
        return not is_timestamp(value, self.model.qualified_name)

    def _grown_hash(self, call: RedisCall) -> Optional[Key]:
        """The hash an HSET/HSETNX/HMSET adds a field named by a value (one per entity) to,
        when it is one fixed hash that does not say it is configuration or state."""
        facts = self.model.facts
        key = fixed_key(call, facts)
        if key is None or named_pattern(key) is None or names_permanent_state(key):
            return None
        if call.command == "hmset":
            fields = _mapping_fields(call.arg(1, "mapping"))
        else:
            field = call.arg(1, "key")
            fields = [field] if field is not None else _mapping_fields(call.arg(3, "mapping"))
        grows = any(field is not None and not is_constant(field, call, facts)
                    and not _literal_loop(field, call) for field in fields)
        return key if grows else None

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


class _Candidate(NamedTuple):
    """A write that may be reported when the module is complete. `kind`: "ttl" (a key with a
    variable part), "fixed" (a fixed key holding a computed value) or "hash" (a field per
    entity into one fixed hash); `key`: the fixed key, for the last two."""

    call: RedisCall
    kind: str
    expiry: ScopeExpiry
    key: Optional[Key]
    # TTLs off by default that this write would have had: if every call of their function in
    # the module passes one, the TTL is the normal path after all.
    offs: FrozenSet[OffTtl] = frozenset()


def _calls_by_name(module: cst.Module, names: Set[str]) -> Dict[str, List[cst.Call]]:
    """The calls of the module to functions named `names` (`put(...)`, `x.put(...)`,
    `Store(...)`), in one walk."""
    found: Dict[str, List[cst.Call]] = {}
    stack: List[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if type(node) is cst.Call:
            func = node.func  # type: ignore[attr-defined]
            name = func.value if type(func) is cst.Name else (
                func.attr.value if type(func) is cst.Attribute else None)
            if name in names:
                found.setdefault(name, []).append(node)  # type: ignore[arg-type]
        stack.extend(children_of(node))
    return found


def _literal_loop(field: cst.BaseExpression, call: RedisCall) -> bool:
    """`field` is the target of a loop over literals around the call, or of the comprehension
    that builds its mapping (`for page in ("home", "cart")`): a few fixed fields."""
    if not isinstance(field, cst.Name):
        return False
    loops: List[Tuple[cst.BaseExpression, cst.BaseExpression]] = []
    mapping = call.arg(1 if call.command == "hmset" else 3, "mapping")
    if isinstance(mapping, cst.DictComp):
        comp: Optional[cst.CompFor] = mapping.for_in
        while comp is not None:
            loops.insert(0, (comp.target, comp.iter))
            comp = comp.inner_for_in
    loops += [(node.target, node.iter) for node in reversed(call.ancestors)
              if isinstance(node, cst.For)]  # innermost first
    for target, iterable in loops:
        if isinstance(target, cst.Name) and target.value == field.value:
            return isinstance(iterable, (cst.Tuple, cst.List, cst.Set)) and all(
                isinstance(el, cst.Element) and string_value(el.value) is not None
                for el in iterable.elements)
    return False


def _mapping_fields(mapping: Optional[cst.BaseExpression]) -> List[Optional[cst.BaseExpression]]:
    """The field expressions of a `mapping=` dict (a comprehension's key expression); nothing
    when the mapping is not spelt out (its fields are unknown)."""
    if isinstance(mapping, cst.Dict):
        return [el.key if isinstance(el, cst.DictElement) else None for el in mapping.elements]
    if isinstance(mapping, cst.DictComp):
        return [mapping.key]
    return []
