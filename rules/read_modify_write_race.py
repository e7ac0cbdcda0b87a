from __future__ import annotations

from typing import Dict, List, Optional, Set, Tuple

import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.atomic.locks import is_lock_key, is_nx_set
from redislint.semantic.atomic.pipelines import NOT_QUEUED, made_pipelines
from redislint.semantic.atomic.transactions import (guards, immediate_calls, lock_like_context,
                                                    redirects, takes_lock, watch_only_pipelines,
                                                    watched_keys)
from redislint.semantic.flow.sends import ModuleHelpers, helper_calls
from redislint.semantic.flow.results import ElementFlow, ResultFlow
from redislint.semantic.flow.sequences import calls_after, exclusive
from redislint.semantic.keys.expressions import source
from redislint.semantic.keys.values import truth_tests
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.names import string_value
from redislint.semantic.redispy import INCR_COMMANDS, set_option
from redislint.walk import iter_children

# Reads -> the writes of the same key (and hash field) that can lose an update made between.
_DERIVED_WRITES = {"get": frozenset({"set", "setex", "psetex", "getset"}),
                   "hget": frozenset({"hset"}), "zscore": frozenset({"zadd"})}
# Check-then-act: the write runs when the read found the key (or field) absent, and creates it.
_CHECKED_WRITES = {"exists": frozenset({"set", "setex", "psetex"}), "hexists": frozenset({"hset"})}
# Update-if-present: the write runs when the read found the key (field, member) present, and
# recreates it if it was deleted or expired in between.
_PRESENT_WRITES = {"exists": frozenset({"set", "setex", "psetex", "hset", "hmset", "hincrby",
                                        "zadd", "sadd", "rpush", "lpush"}),
                   "hexists": frozenset({"hset", "hincrby", "hincrbyfloat"}),
                   "zscore": frozenset({"zadd", "zincrby"})}
# Test-then-write: the value read is compared and the branch writes the key.
_TESTED_WRITES = {"get": frozenset({"set", "setex", "psetex", "getset"}) | INCR_COMMANDS,
                  "hget": frozenset({"hset", "hincrby", "hincrbyfloat"}),
                  **{c: frozenset({"set", "setex", "psetex", "getset"})
                     for c in ("incr", "incrby", "decr", "decrby")},
                  "zcard": frozenset({"zadd"}), "scard": frozenset({"sadd"}),
                  "llen": frozenset({"rpush", "lpush"}), "hlen": frozenset({"hset"})}
# Sizes: only an ordering test (`< limit`) makes the write a race (an empty test is a fill).
_SIZES = frozenset({"zcard", "scard", "llen", "hlen"})
# Commands that cut a collection down to a size: a size test before the add is a shortcut.
_TRIMS = frozenset({"zremrangebyrank", "ltrim"})
_READS = frozenset(_DERIVED_WRITES) | frozenset(_CHECKED_WRITES) | frozenset(_PRESENT_WRITES) | \
    frozenset(_TESTED_WRITES)
# Reads whose guarded writes may sit in a helper of the module (no field or member to match).
_KEY_READS = frozenset(_READS) - {"hget", "hexists", "zscore"}
# Where each write takes its value: (position, keyword).
_VALUE = {"set": (1, "value"), "getset": (1, "value"), "setex": (2, "value"),
          "psetex": (2, "value"), "hset": (2, "value"), "zadd": (1, "mapping")}
# Hash commands compare their field (the second argument) too.
_FIELD = {"hget": (1, "key"), "hset": (1, "key"), "hexists": (1, "key"), "hincrby": (1, "key"),
          "hincrbyfloat": (1, "key")}
_INCR_INSTEAD = {"get": "use `incrby`/`incrbyfloat`", "hget": "use `hincrby`/`hincrbyfloat`",
                 "zscore": "use `zincrby`"}
_SCRIPT = "do the read and the write in one Lua script (or a WATCH/MULTI transaction with retry)"
_OTHER = {"body": "orelse", "orelse": "body"}
_UNWRAPPING = frozenset({"str", "bytes", "int", "float"})

class ReadModifyWriteRace(Rule):
    """
    ## What it does
    Flags a value read from Redis and written back to the same key by separate commands, with
    nothing to stop another client from writing in between:
    - GET, compute, SET: `r.set(k, int(r.get(k)) + 1)`, or `v = r.get(k)` ... `r.set(k, f(v))`
      (also HGET/HSET of the same field and ZSCORE/ZADD of a score computed from it);
    - check-then-act: `if not r.exists(k): r.set(k, v)`, also after `if r.exists(k): return`
      (even nested in another `if`: `if not force: if r.exists(k): return`), with the EXISTS
      reply bound to a local, after `if found: key = other_key` (the write then creates the
      key tested only when it was missing), an `== 0` test, and HEXISTS/HSET of one field;
    - update-if-present: the write runs because the key (field, sorted-set member) was found,
      `if r.exists(k): r.hset(k, f, v)`, `if r.zscore(z, m) is None: raise ...` then
      `r.zadd(z, {m: s})`: if it is deleted in between, the write recreates it;
    - test-then-write: the value read is compared (`>=`, `==`, ...) and the branch writes the
      key: `if int(r.get(k)) >= n: r.decrby(k, n)`; also an INCR/INCRBY reply compared before
      a SET of the counter, and a size (ZCARD, SCARD, LLEN, HLEN) compared with a limit
      (`<`, `>=`, ...) before the add, also when a method of the same module makes the add
      (`if r.zcard(k) < limit: self._admit(who)`).

    The read may run on a client, on a pipeline batch whose `execute()` reply decides the
    write (`p.exists(k); res = p.execute(); if res[0] == 0: ...`: a batch is not a lock), or
    on a pipeline that WATCHes but never calls `multi()` (its commands run at once and no EXEC
    can fail, so the WATCH protects nothing). Keys are compared after normalisation
    (f-strings, `+`, `.format`, `%` and local variables spell the same key).

    Stays silent when the function WATCHes the key (an optimistic transaction; but not on a
    pipeline it makes that never calls `multi()`), runs it through `client.transaction(fn,
    k)`, on reads queued on a pipeline the function does not make or passes on, under a
    lock (`with r.lock(...)`, any `with` whose object is named like a lock, as
    python-redis-lock's `Lock`, pottery's `Redlock` or django-redis's `cache.lock()`, an
    `acquire()` call, or a hand-rolled `set(lock_key, token, nx=True)` in the function), when
    the write checks the key itself (`nx=True`, `xx=True`), when the read only decides a cache
    fill (`if v is None: r.set(k, load())` writes a value not computed from the read), when
    the value is written back unchanged, when an equality test only decides whether to store
    the very value compared with (`if current != wanted: r.set(k, wanted)`: the key ends up
    holding it whatever the order), when the read and the write sit on exclusive branches of
    one `if`, when a size test only short-cuts an add the code trims afterwards
    (ZREMRANGEBYRANK, LTRIM), and on objects that are not Redis. One race is reported per key
    and function.

    ## Why is this bad?
    Between the read and the write, another client can change the key; the write then
    overwrites that change with a value computed from stale data. Two requests adding 1 to a
    counter both read 5 and both write 6; two purchases both pass a balance check and both
    debit. Redis runs each command atomically, but not a sequence of them.

    ## Example
    ```python
    stock = int(r.get(f"stock:{sku}"))
    if stock >= qty:
        r.decrby(f"stock:{sku}", qty)
    ```

    ## Use instead:
    ```python
    # a counter: one atomic command
    r.incrby(f"views:{page}", 1)
    # create if absent: one atomic command
    r.set(f"owner:{job}", worker, nx=True)
    # test and write: one Lua script
    TAKE = r.register_script(
        "local n = tonumber(redis.call('GET', KEYS[1]) or '0') "
        "if n >= tonumber(ARGV[1]) then return redis.call('DECRBY', KEYS[1], ARGV[1]) end "
        "return -1")
    TAKE(keys=[f"stock:{sku}"], args=[qty])
    ```
    or a WATCH/MULTI transaction with retry (`client.transaction(fn, key)`). See
    `redislint patterns rate-limiting` (each limiter tests and records in one script).

    ## Fix safety
    No automatic fix: the right atomic form (INCRBY, SET NX, a script) depends on the
    computation between the read and the write.
    """

    code = "RL204"
    name = "read-modify-write-race"
    message = ("`{read}` then `{write}` of the same key{what}: {harm}; {instead} (see "
               "`redislint patterns rate-limiting`)")
    pattern = "rate-limiting"

    VALID = [
        Valid('import redis\nr = redis.Redis()\ndef hit(page):\n    return r.incrby(f"views:{page}", 1)\n'
              'def claim(job, me):\n    return r.set(f"owner:{job}", me, nx=True)\n'),
        Valid('import redis\nr = redis.Redis()\ndef bump(k):\n    def step(pipe):\n'
              '        n = int(pipe.get(k) or 0)\n        pipe.multi()\n        pipe.set(k, n + 1)\n'
              '    r.transaction(step, k)\n'
              'def bump2(k):\n    with r.pipeline() as p:\n        p.watch(k)\n'
              '        n = int(p.get(k) or 0)\n        p.multi()\n        p.set(k, n + 1)\n'
              '        p.execute()\n'),
        Valid('import redis\nr = redis.Redis()\nTAKE = r.register_script("return 1")\n'
              'def take(sku, n):\n    if TAKE(keys=[f"stock:{sku}"], args=[n]) < 0:\n        return False\n'
              '    r.eval("return 1", 1, f"stock:{sku}")\n    return True\n'),
        Valid('import json\nimport redis\nr = redis.Redis()\ndef profile(uid, load):\n'
              '    cached = r.get(f"profile:{uid}")\n    if cached is None:\n        cached = json.dumps(load(uid))\n'
              '        r.set(f"profile:{uid}", cached, ex=60)\n    return json.loads(cached)\n'
              'def touch(k):\n    v = r.get(k)\n    if v:\n        r.set(k, v, ex=60)\n'),
        Valid('import redis\nr = redis.Redis()\ndef copy(a, b):\n    r.set(b, int(r.get(a)) + 1)\n'
              'def init(k):\n    if not r.exists(k):\n        r.set(k, 0, nx=True)\n'),
        Valid('import redis\nr = redis.Redis()\ndef bump(k):\n    with r.lock(f"lock:{k}", timeout=5):\n'
              '        r.set(k, int(r.get(k) or 0) + 1)\n'
              'def bump2(k, token):\n    if r.set(f"lock:{k}", token, nx=True, ex=5):\n'
              '        r.set(k, int(r.get(k) or 0) + 1)\n'),
        Valid('import redis\nimport redis_lock\nr = redis.Redis()\ndef bump(k):\n'
              '    with redis_lock.Lock(r, f"bump:{k}"):\n        r.set(k, int(r.get(k) or 0) + 1)\n'
              'def bump2(k, sem):\n    sem.acquire()\n    try:\n'
              '        r.set(k, int(r.get(k) or 0) + 1)\n    finally:\n        sem.release()\n'),
        Valid('counts = {}\nclass Store:\n    def get(self, k): ...\n    def set(self, k, v): ...\n'
              's = Store()\ndef bump(k):\n    s.set(k, int(s.get(k)) + 1)\n'
              '    counts[k] = counts.get(k, 0) + 1\n'),
        Valid('import redis\nr = redis.Redis()\ndef rename(k, new):\n    if r.get(k) is None:\n'
              '        return\n    r.set(k, new)\n'),
        Valid('import os\nimport redis\nr = redis.Redis()\ndef sync(k):\n    wanted = os.environ[k]\n'
              '    current = r.get(k)\n    if current is None or current.decode() != wanted:\n'
              '        r.set(k, wanted)\n'
              'def flag(k):\n    if r.get(k) != b"1":\n        r.set(k, 1)\n'),
        Valid('import redis\nr = redis.Redis()\ndef price(ad, clicks, value):\n    if clicks < 1:\n'
              '        ecpm = r.zscore("idx:ad:value:", ad)\n    else:\n        ecpm = value / clicks\n'
              '        r.zadd("idx:ad:value:", {ad: ecpm})\n    return ecpm\n'),
        Valid('import redis\nr = redis.Redis()\ndef refill(timeline, items):\n'
              '    if r.zcard(timeline) >= 750:\n        return\n    with r.pipeline() as p:\n'
              '        p.zadd(timeline, items)\n        p.zremrangebyrank(timeline, 0, -1001)\n'
              '        p.execute()\n'
              'def seed(k, defaults):\n    if r.scard(k) == 0:\n        r.sadd(k, *defaults)\n'),
        Valid('import redis\nr = redis.Redis()\ndef other(a, b):\n    p = r.pipeline()\n    p.get(a)\n'
              '    p.get(b)\n    x, y = p.execute()\n    if int(x or 0) > 5:\n        r.set(b, 0)\n'
              'def window(k):\n    if r.incr(k) == 1:\n        r.expire(k, 60)\n'),
        Valid('import redis\nr = redis.Redis()\ndef refresh(k, v, m):\n    if r.exists(k):\n'
              '        r.set(k, v, xx=True, ex=60)\n    if r.zscore("jobs", m) is not None:\n'
              '        r.zadd("jobs", {m: 5}, xx=True)\n'),
        Valid('import redis\nr = redis.Redis()\ndef either(a, b):\n    if r.exists(a, b):\n'
              '        r.set(a, 1)\n'
              'def many(keys, k):\n    p = r.pipeline()\n    for key in keys:\n        p.get(key)\n'
              '    res = p.execute()\n    if int(res[0] or 0) > 5:\n        r.set(k, 0)\n'),
        Valid('import redis\nclass Quota:\n    def __init__(self):\n        self.r = redis.Redis()\n'
              '    def take(self, k, limit, audit):\n        if self.r.zcard(k) < limit:\n'
              '            audit.add(k)\n            self.log(k)\n    def log(self, k):\n'
              '        self.r.zadd("log", {k: 1})\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef index(lock, force=False):\n    if not force:\n'
                '        if r.exists(lock):\n            return\n    r.set(lock, 1, ex=60)\n'),
        Invalid('from redis.asyncio import Redis\nasync def link(r: Redis, token, new_token):\n'
                '    key = f"token:{token}"\n    taken = await r.exists(key)\n    if taken:\n'
                '        key = f"token:{new_token}"\n    await r.set(key, "me", ex=60)\n'),
        Invalid('import time\nimport redis\nclass Limiter:\n    def __init__(self, limit):\n'
                '        self.r = redis.Redis()\n        self.limit = limit\n        self.name = "limiter"\n'
                '    def acquire(self, who):\n        ok = self.r.zcard(self.name) < self.limit\n'
                '        if ok:\n            self._take(who)\n        return ok\n'
                '    def _take(self, who):\n        self._zadd(self.name, {who: time.time()})\n'
                '    def _zadd(self, name, mapping):\n        return self.r.zadd(name, mapping)\n'
                'def admit(r, q, job):\n    if r.llen(q) < 100:\n        r.rpush(q, job)\n',
                count=2),
        Invalid('import redis\nr = redis.Redis()\ndef next_id(k, step):\n    n = r.incrby(k, step)\n'
                '    if n == step:\n        r.set(k, 1 + step)\n        return 1 + step\n    return n\n'),
        Invalid('import redis\nr = redis.Redis()\ndef ensure(k, minimum):\n    p = r.pipeline()\n'
                '    p.exists(k)\n    p.get(k)\n    results = p.execute()\n    if results[0] == 0:\n'
                '        p.set(k, minimum)\n        p.execute()\n'),
        Invalid('import redis\nr = redis.Redis()\ndef ensure(k, minimum):\n    with r.pipeline() as p:\n'
                '        p.exists("other")\n        p.get(k)\n        found, current = p.execute()\n'
                '        if int(current or 0) < minimum:\n            r.set(k, minimum)\n'),
        Invalid('import redis\nfrom redis import WatchError\nr = redis.Redis()\ndef move(job, when):\n'
                '    with r.pipeline() as p:\n        while True:\n            try:\n'
                '                p.watch("scheduled")\n                if p.zscore("scheduled", job) is None:\n'
                '                    raise ValueError(job)\n                p.zadd("scheduled", {job: when})\n'
                '                break\n            except WatchError:\n                continue\n'),
        Invalid('import redis\nr = redis.Redis()\ndef touch(keys, now):\n    for k in keys:\n'
                '        if not r.exists(f"cache:{k}"):\n            r.srem("cached", k)\n        else:\n'
                '            r.hset(f"cache:{k}", "created", now)\n'),
        Invalid('import redis\nr = redis.Redis()\ndef hit(page):\n'
                '    r.set(f"views:{page}", int(r.get("views:" + page) or 0) + 1)\n'),
        Invalid('import redis\nclass Stock:\n    def __init__(self, url):\n        self.r = redis.from_url(url)\n'
                '    def take(self, sku, n):\n        key = "stock:{}".format(sku)\n'
                '        if int(self.r.get(key) or 0) >= n:\n            self.r.decrby(f"stock:{sku}", n)\n'
                '            return True\n        return False\n'),
        Invalid('from redis.asyncio import Redis\nasync def init(r: Redis, job, me):\n'
                '    if not await r.exists(f"owner:{job}"):\n        await r.set(f"owner:{job}", me)\n'),
        Invalid('import json\nimport redis\nr = redis.Redis()\ndef add_tag(uid, tag):\n'
                '    key = "user:%s" % uid\n    data = json.loads(r.get(key) or "{}")\n'
                '    data.setdefault("tags", []).append(tag)\n'
                '    with r.pipeline() as p:\n        p.set(key, json.dumps(data))\n        p.execute()\n'),
        Invalid('import redis\nr = redis.Redis()\ndef claim(job, me):\n    if r.exists(f"owner:{job}"):\n'
                '        return False\n    r.setex(f"owner:{job}", 60, me)\n    return True\n'),
        Invalid('import redis\nr = redis.Redis()\ndef add(uid, pts):\n'
                '    score = float(r.hget(f"user:{uid}", "points") or 0)\n'
                '    r.hset(f"user:{uid}", "points", score + pts)\n'),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        self._locked: Set[int] = set()
        self._helpers = ModuleHelpers()
        # Scopes whose reads may decide a write a helper of the module makes, judged once the
        # module is complete: (scope, [(read, its flow)], the calls of helpers with their chains).
        self._pending: List[Tuple[Scope, List[Tuple[RedisCall, ResultFlow]], list]] = []
        self._reported: Dict[int, Set[object]] = {}
        self._names: Optional[Set[str]] = None

    def on_redis_call(self, call: RedisCall) -> None:
        if self.model.held_locks() or lock_like_context(self.model.ancestors):
            self._locked.add(id(call.node))

    def on_scope_exit(self, scope: Scope) -> None:
        self._helpers.add(scope)
        self._scope(scope)
        if scope.kind == "module":
            self._resolve_helpers()

    def _module_functions(self) -> Set[str]:
        """The names of the module's functions and methods (from the pre-pass)."""
        if self._names is None:
            facts = self.model.facts
            self._names = set(facts.functions)
            for cls in facts.classes.values():
                self._names.update(cls.methods)
        return self._names

    def _scope(self, scope: Scope) -> None:
        calls = scope.calls
        if not any(c.command in _READS for c in calls):
            return
        if any(c.receiver.role == "lock" or (is_nx_set(c) and is_lock_key(c.key)) for c in calls) \
                or takes_lock(scope.node):
            return  # serialised by a lock the function takes
        watch_only = watch_only_pipelines(scope)
        immediate = immediate_calls(scope, watch_only)
        watched = watched_keys(calls, watch_only)
        batches = _batches(scope)
        reported = self._reported.setdefault(id(scope.node), set())
        # each call's position, and the calls of each key in order: pairs are found by key
        position = {id(c.node): i for i, c in enumerate(calls)}
        by_key: Dict[object, List[RedisCall]] = {}
        by_name: Dict[str, List[RedisCall]] = {}
        for call in calls:
            if call.key is not None:
                by_key.setdefault(call.key, []).append(call)
            name = _key_name(call)
            if name is not None:
                by_name.setdefault(name, []).append(call)
        undecided: List[Tuple[RedisCall, ResultFlow]] = []
        for read in calls:
            if read.command not in _READS or read.key is None or id(read.node) in self._locked:
                continue
            if read.key in watched or None in watched or read.key in reported:
                continue
            if read.receiver.role == "client" or id(read.node) in immediate:
                flow, start = ResultFlow(scope.node, read.node), position[id(read.node)]
            elif id(read.node) in batches:
                execute, index, length = batches[id(read.node)]
                flow = ElementFlow(scope.node, execute.node, index, length)
                start = position[id(execute.node)]
            else:
                continue
            same = by_key.get(read.key, [])
            name = _key_name(read) if read.command in _CHECKED_WRITES else None
            if name is not None:  # the variable may be rebound to another key in between
                same = same + [c for c in by_name[name] if c.key != read.key]
                same.sort(key=lambda c: position[id(c.node)])
            after = [c for c in same if position[id(c.node)] > start]
            if self._check(read, flow, after):
                reported.add(read.key)  # one race per key and function is enough
            elif read.command in _KEY_READS and scope.kind == "function":
                undecided.append((read, flow))
        if undecided:
            candidates = helper_calls(scope.node, self._module_functions())
            if candidates:
                self._pending.append((scope, undecided, candidates))

    def _check(self, read: RedisCall, flow: ResultFlow, after: List[RedisCall]) -> bool:
        for write in after:
            if write.receiver.role not in ("client", "pipeline"):
                continue
            # `if found: key = other` between them: the model names the key last bound
            respelt = write.key != read.key
            if id(write.node) in self._locked or not _same_field(read, write):
                continue
            if exclusive(read, write):
                continue  # on the other branch of one `if`: never both
            trimmed = any(c.key == read.key and c.command in _TRIMS for c in calls_after(write))
            found = self._race(read, write, flow, write.ancestors, write.node, trimmed=trimmed,
                               respelt=respelt)
            if found is not None:
                self._emit(read, write.command, write.node, found)
                return True
        return False

    def _resolve_helpers(self) -> None:
        """The writes helpers of the module make for a caller, under a test on a read."""
        for scope, reads, candidates in self._pending:
            reported = self._reported.setdefault(id(scope.node), set())
            for node, chain in candidates:
                if lock_like_context(chain):
                    continue
                sent = self._helpers.sent(scope, node)
                keys = {key for _, key in sent}
                for read, flow in reads:
                    if read.key in reported or read.key not in keys:
                        continue
                    if self._helper_race(read, flow, sent, node, chain):
                        reported.add(read.key)
        self._pending = []
        self._reported = {}
        self._names = None

    def _helper_race(self, read: RedisCall, flow: ResultFlow, sent, node, chain) -> bool:
        for index, (write, key) in enumerate(sent):
            if key != read.key or write.atomic is not False or id(write.node) in self._locked:
                continue
            trimmed = any(k == read.key and c.command in _TRIMS for c, k in sent[index:])
            found = self._race(read, write, flow, chain, node, helper=True, trimmed=trimmed)
            if found is not None:
                self._emit(read, write.command, node, found)
                return True
        return False

    def _emit(self, read: RedisCall, command: str, end: cst.CSTNode, found) -> None:
        what, harm, instead = found
        message = self.message.format(read=read.command, write=command, what=what, harm=harm,
                                      instead=instead)
        self.report(read.node, message, end=end)

    def _race(self, read: RedisCall, write: RedisCall, flow: ResultFlow, chain, node,
              helper: bool = False, trimmed: bool = False, respelt: bool = False):
        """What kind of race the write (or the helper call `node` that makes it) forms with
        the read, if any. `chain` are the ancestors of `node`; `trimmed`: the key is trimmed
        to a size after the write; `respelt`: the write's key is the read's key variable,
        rebound between them (only a redirect can make it the key read)."""
        command = write.command
        tests = [] if respelt else guards(flow.derives, chain, node)
        if read.command == "exists" and (len(read.args) != 1 or read.has_star_args):
            tests = []  # EXISTS of several keys counts them: no answer about one of them
        if command in _CHECKED_WRITES.get(read.command, ()) and not _conditional(write):
            kept = [] if helper else redirects(flow.derives, write.ancestors, write.node,
                                               _key_names(write))
            for test, branch in tests + kept:
                if branch in _absent_branches(read, flow, test):
                    return (" is a check-then-act race",
                            "two clients can both find it missing and both write it",
                            "use `hsetnx`" if read.command == "hexists" else
                            "use `set(k, v, nx=True)` (with `ex=` if it expires)")
        if command in _PRESENT_WRITES.get(read.command, ()) and not _conditional(write) and \
                (read.command != "zscore" or _same_member(read, write)):
            for test, branch in tests:
                if _OTHER[branch] in _absent_branches(read, flow, test):
                    harm = {"zscore": "the member can be removed between the check and the "
                                      "write, which then adds it back",
                            "hexists": "the field can be deleted between the check and the "
                                       "write, which then recreates it"}.get(
                        read.command, "the key can be deleted or expire between the check and "
                                      "the write, which then recreates it")
                    instead = ("use `set(k, v, xx=True)`" if command == "set" else
                               "use `zadd(k, mapping, xx=True)`" if command == "zadd" else
                               _SCRIPT)
                    return (" is a check-then-act race", harm, instead)
        if respelt:
            return None
        if helper:
            value = None
        else:
            value = write.arg(*_VALUE[command]) if command in _VALUE else None
        if command in _DERIVED_WRITES.get(read.command, ()) and not helper:
            if value is not None and _computed(flow, value) and not _fills_miss(flow, write):
                instead = _INCR_INSTEAD[read.command] if _arithmetic(flow, value) else _SCRIPT
                return (" is a read-modify-write race",
                        "an update another client makes in between is lost", instead)
        if command in _TESTED_WRITES.get(read.command, ()) and not _conditional(write) and \
                not (read.command in _SIZES and trimmed):
            ordering = read.command in _SIZES
            compared = [c for test, _ in tests for c in _comparisons(flow, test, ordering)]
            if compared and not _converges(compared, flow, value):
                return (", decided by comparing the value read, is a race",
                        "another client can change it between the test and the write, so "
                        "both may pass the test", _SCRIPT)
        return None


def _batches(scope: Scope) -> Dict[int, Tuple[RedisCall, int, int]]:
    """The calls queued on the pipelines the scope makes and keeps, that never WATCH, each
    with the `execute()` that sends its batch, its position in the batch and the batch's
    length: the reply comes back from that `execute()`, after the whole batch ran."""
    found: Dict[int, Tuple[RedisCall, int, int]] = {}
    for pipeline in made_pipelines(scope):
        if pipeline.name is None or pipeline.escapes or not pipeline.executed:
            continue
        queued = {id(c.node) for c in pipeline.queued}
        batch: List[RedisCall] = []
        for call in scope.calls:
            if call.receiver_text != pipeline.name or call.receiver.role != "pipeline":
                continue
            if call.command == "watch":
                break  # WATCH changes what the commands do: not a plain batch
            if call.command == "execute":
                if all(_unconditional(item, call) for item in batch):
                    for position, item in enumerate(batch):
                        found[id(item.node)] = (call, position, len(batch))
                batch = []
            elif call.command in ("reset", "discard"):
                batch = []
            elif call.command not in NOT_QUEUED and id(call.node) in queued:
                batch.append(call)
    return found


def _key_name(call: RedisCall) -> Optional[str]:
    """The plain variable a call names its key with (`r.exists(key)`), which the model
    resolves flow-insensitively, as last bound: a write of the variable after `if found: key =
    other` may still write the key a read of it tested."""
    expr = call.arg(0, "name")
    return expr.value if isinstance(expr, cst.Name) else None


_BRANCHING = (cst.If, cst.IfExp, cst.For, cst.While, cst.Try, cst.TryStar, cst.Match,
              cst.BooleanOperation, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


def _unconditional(queued: RedisCall, execute: RedisCall) -> bool:
    """Whenever `execute` runs, `queued` was queued exactly once before it: nothing between
    their common block and the queued call branches or loops (so its position is known)."""
    shared = {id(node) for node in execute.ancestors}
    return not any(isinstance(node, _BRANCHING) for node in queued.ancestors
                   if id(node) not in shared)


def _conditional(write: RedisCall) -> bool:
    """`set(..., nx=True)` / `xx=True`, `zadd(..., nx=True)` / `xx=True`: the write checks
    the key itself, atomically."""
    if write.command == "set":
        return set_option(write, "nx") is not None or set_option(write, "xx") is not None
    if write.command == "zadd":
        return any(a.keyword is not None and a.keyword.value in ("nx", "xx", "gt", "lt")
                   and not (isinstance(a.value, cst.Name) and a.value.value in ("None", "False"))
                   for a in write.node.args)
    return False


def _key_names(write: RedisCall) -> Set[str]:
    """The names the write's key expression reads (`key`, `uid` in `f"user:{uid}"`)."""
    names: Set[str] = set()
    expr = write.arg(0, "name")
    stack = [expr] if expr is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            names.add(node.value)
        elif isinstance(node, cst.Attribute):
            stack.append(node.value)
        else:
            stack.extend(iter_children(node))
    if write.key is not None:
        names.update(p for p in write.key.parts if p.isidentifier())
    return names


def _absent_branches(read: RedisCall, flow: ResultFlow, test: cst.BaseExpression) -> Set[str]:
    """The branches of `test` that run when the read found nothing: the falsy branch of a
    truth test of EXISTS / HEXISTS (`if not r.exists(k)`, `== 0`), the `is None` branch of a
    value read (ZSCORE, GET, HGET)."""
    found: Set[str] = set()
    if read.command in ("exists", "hexists"):
        for operand, falsy in truth_tests(test):
            if flow.carries(operand):
                found.add(falsy)
    pending = [test]
    while pending:
        node = pending.pop()
        if isinstance(node, cst.BooleanOperation):
            pending.extend((node.left, node.right))
            continue
        if not isinstance(node, cst.Comparison) or len(node.comparisons) != 1:
            continue
        comparison = node.comparisons[0]
        operator, other = comparison.operator, comparison.comparator
        if not flow.carries(node.left):
            continue
        if isinstance(other, cst.Name) and other.value == "None" and \
                read.command in ("zscore", "get", "hget", "exists", "hexists"):
            if isinstance(operator, (cst.Is, cst.Equal)):
                found.add("body")
            elif isinstance(operator, (cst.IsNot, cst.NotEqual)):
                found.add("orelse")
        elif isinstance(other, cst.Integer) and read.command in ("exists", "hexists"):
            value = int(other.value, 0)
            if value == 0 and isinstance(operator, cst.Equal):
                found.add("body")
            elif (value == 0 and isinstance(operator, (cst.NotEqual, cst.GreaterThan))) or \
                    (value == 1 and isinstance(operator, cst.GreaterThanEqual)):
                found.add("orelse")
    return found


def _same_member(read: RedisCall, write: RedisCall) -> bool:
    """ZSCORE's member is a key of the mapping ZADD / the member ZINCRBY writes."""
    member = read.arg(1, "value")
    if member is None:
        return False
    if write.command == "zincrby":
        other = write.arg(2, "value")
        return other is not None and source(other) == source(member)
    mapping = write.arg(1, "mapping")
    return isinstance(mapping, cst.Dict) and any(
        isinstance(el, cst.DictElement) and source(el.key) == source(member)
        for el in mapping.elements)


def _fills_miss(flow: ResultFlow, write: RedisCall) -> bool:
    """The write runs only when the read found nothing (`if not data:`, `if raw is None:`,
    after `if raw: return ...`): a cache fill, whatever the names it reuses."""
    for test, branch in guards(flow.derives, write.ancestors, write.node):
        for operand, falsy in truth_tests(test):
            if branch == falsy and flow.derives(operand):
                return True
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            comparison = test.comparisons[0]
            none = isinstance(comparison.comparator, cst.Name) and comparison.comparator.value == "None"
            if none and flow.derives(test.left):
                positive = isinstance(comparison.operator, (cst.Is, cst.Equal))
                if branch == ("body" if positive else "orelse"):
                    return True
    return False


def _same_field(read: RedisCall, write: RedisCall) -> bool:
    """Hash commands must name the same field (compared as source text)."""
    if read.command not in _FIELD:
        return True
    if write.command not in _FIELD:
        return False
    a, b = read.arg(*_FIELD[read.command]), write.arg(*_FIELD[write.command])
    return a is not None and b is not None and source(a) == source(b)


def _strip(expr: cst.BaseExpression) -> cst.BaseExpression:
    return expr.expression if isinstance(expr, cst.Await) else expr


def _computed(flow: ResultFlow, value: cst.BaseExpression) -> bool:
    """The value written is computed from the read (not the read itself written back)."""
    return flow.derives(value) and not flow.carries(_strip(value))


def _arithmetic(flow: ResultFlow, value: cst.BaseExpression) -> bool:
    """`n + 1`, `float(v) - x`, `{member: score + 1}`: a sum or difference with the read."""
    if isinstance(value, cst.Dict):
        return any(isinstance(el, cst.DictElement) and _arithmetic(flow, el.value)
                   for el in value.elements)
    if isinstance(value, cst.Call) and len(value.args) == 1 and isinstance(value.func, cst.Name) \
            and value.func.value in ("int", "float", "str"):
        return _arithmetic(flow, value.args[0].value)
    return (isinstance(value, cst.BinaryOperation)
            and isinstance(value.operator, (cst.Add, cst.Subtract))
            and (flow.derives(value.left) or flow.derives(value.right)))


def _comparisons(flow: ResultFlow, test: cst.BaseExpression, ordering: bool = False
                 ) -> List[cst.Comparison]:
    """The comparisons in the test of the value read with something other than None (`>=`,
    `==`, `in`; only `<`, `<=`, `>`, `>=` when `ordering`), also through a name bound to one
    (`ok = r.zcard(k) < limit` ... `if ok:`)."""
    found: List[cst.Comparison] = []
    stack: List[cst.BaseExpression] = [test]
    followed: Set[str] = set()
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Comparison):
            operands = [node.left] + [c.comparator for c in node.comparisons]
            against_none = any(isinstance(o, cst.Name) and o.value == "None" for o in operands)
            identity = all(isinstance(c.operator, (cst.Is, cst.IsNot)) for c in node.comparisons)
            ordered = all(isinstance(c.operator, (cst.LessThan, cst.LessThanEqual,
                                                  cst.GreaterThan, cst.GreaterThanEqual))
                          for c in node.comparisons)
            if not against_none and not identity and (ordered or not ordering) and \
                    any(flow.derives(o) for o in operands):
                found.append(node)
        elif isinstance(node, cst.BooleanOperation):
            stack.extend([node.left, node.right])
        elif isinstance(node, cst.UnaryOperation):
            stack.append(node.expression)
        elif isinstance(node, cst.Name) and node.value not in followed and \
                not flow.carries(node) and node.value in flow.derived_names():
            followed.add(node.value)
            stack.extend(v for v in flow.bound_values(node.value)
                         if isinstance(v, (cst.Comparison, cst.BooleanOperation,
                                           cst.UnaryOperation)))
    return found


def _plain(expr: cst.BaseExpression) -> str:
    """An operand's text without conversions (`str(x)`, `x.decode()`), literals by value."""
    while True:
        expr = _strip(expr)
        if isinstance(expr, cst.Call) and len(expr.args) == 1 and isinstance(expr.func, cst.Name) \
                and expr.func.value in _UNWRAPPING:
            expr = expr.args[0].value
        elif isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and \
                expr.func.attr.value in ("decode", "encode") and not expr.args:
            expr = expr.func.value
        else:
            break
    text = string_value(expr)
    if text is not None:
        return repr(text)
    if isinstance(expr, cst.Integer):
        return repr(str(int(expr.value, 0)))
    return source(expr)


def _converges(compared: List[cst.Comparison], flow: ResultFlow,
               value: Optional[cst.BaseExpression]) -> bool:
    """Every comparison is an equality test of the value read against the very value the
    write stores (`if current != wanted: r.set(k, wanted)`): however the writes interleave,
    the key ends up holding that value; nothing is lost."""
    if value is None:
        return False
    written = _plain(value)
    for comparison in compared:
        if len(comparison.comparisons) != 1 or not isinstance(
                comparison.comparisons[0].operator, (cst.Equal, cst.NotEqual)):
            return False
        left, right = comparison.left, comparison.comparisons[0].comparator
        other = right if flow.derives(left) else left
        if flow.derives(other) or _plain(other) != written:
            return False
    return True
