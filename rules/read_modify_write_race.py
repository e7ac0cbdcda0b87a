from __future__ import annotations

from typing import Set

import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.flow.results import ResultFlow
from redislint.semantic.keys.expressions import source
from redislint.semantic.atomic.locks import is_lock_key, is_nx_set
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.redispy import INCR_COMMANDS, set_option
from redislint.semantic.flow.sequences import calls_after
from redislint.semantic.atomic.transactions import (guards, lock_like_context, takes_lock,
                                             watched_keys)
from redislint.semantic.keys.values import truth_tests

# Reads -> the writes of the same key (and hash field) that can lose an update made between.
_DERIVED_WRITES = {"get": frozenset({"set", "setex", "psetex", "getset"}),
                   "hget": frozenset({"hset"}), "zscore": frozenset({"zadd"})}
_CHECKED_WRITES = {"exists": frozenset({"set", "setex", "psetex"}), "hexists": frozenset({"hset"})}
_TESTED_WRITES = {"get": frozenset({"set", "setex", "psetex", "getset"}) | INCR_COMMANDS,
                  "hget": frozenset({"hset", "hincrby", "hincrbyfloat"})}
# Where each write takes its value: (position, keyword).
_VALUE = {"set": (1, "value"), "getset": (1, "value"), "setex": (2, "value"),
          "psetex": (2, "value"), "hset": (2, "value"), "zadd": (1, "mapping")}
# Hash commands compare their field (the second argument) too.
_FIELD = {"hget": (1, "key"), "hset": (1, "key"), "hexists": (1, "key"), "hincrby": (1, "key"),
          "hincrbyfloat": (1, "key")}
_INCR_INSTEAD = {"get": "use `incrby`/`incrbyfloat`", "hget": "use `hincrby`/`hincrbyfloat`",
                 "zscore": "use `zincrby`"}
_SCRIPT = "do the read and the write in one Lua script (or a WATCH/MULTI transaction with retry)"


class ReadModifyWriteRace(Rule):
    """
    ## What it does
    Flags a value read from Redis and written back to the same key by separate commands, with
    nothing to stop another client from writing in between:
    - GET, compute, SET: `r.set(k, int(r.get(k)) + 1)`, or `v = r.get(k)` ... `r.set(k, f(v))`
      (also HGET/HSET of the same field and ZSCORE/ZADD of a score computed from it);
    - check-then-act: `if not r.exists(k): r.set(k, v)` (also after `if r.exists(k): return`,
      and HEXISTS/HSET of one field);
    - test-then-write: the value read is compared (`>=`, `==`, ...) and the branch writes the
      key: `if int(r.get(k)) >= n: r.decrby(k, n)`.

    Keys are compared after normalisation (f-strings, `+`, `.format`, `%` and local variables
    spell the same key). Stays silent when the read runs on a pipeline (inside WATCH it is an
    optimistic transaction), when the function WATCHes the key or runs it through
    `client.transaction(fn, k)`, under a lock (`with r.lock(...)`, any `with` whose object is
    named like a lock, as python-redis-lock's `Lock`, pottery's `Redlock` or django-redis's
    `cache.lock()`, an `acquire()` call, or a hand-rolled `set(lock_key, token, nx=True)` in
    the function), when the read only decides a
    cache fill (`if v is None: r.set(k, load())` writes a value not computed from the read),
    when the value is written back unchanged, and on objects that are not Redis. One race is
    reported per key and function.

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
    message = ("`{read}` then `{write}` of the same key {what}: {harm}; {instead} (see "
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
    ]
    INVALID = [
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

    def on_redis_call(self, call: RedisCall) -> None:
        if self.model.held_locks() or lock_like_context(self.model.ancestors):
            self._locked.add(id(call.node))

    def on_scope_exit(self, scope: Scope) -> None:
        calls = scope.calls
        if not any(c.command in _DERIVED_WRITES or c.command in _CHECKED_WRITES for c in calls):
            return
        if any(c.receiver.role == "lock" or (is_nx_set(c) and is_lock_key(c.key)) for c in calls) \
                or takes_lock(scope.node):
            return  # serialised by a lock the function takes
        watched = watched_keys(calls)
        reported: Set[object] = set()
        for read in calls:
            if read.command not in _DERIVED_WRITES and read.command not in _CHECKED_WRITES:
                continue
            if read.receiver.role != "client" or read.key is None or id(read.node) in self._locked:
                continue
            if read.key in watched or None in watched or read.key in reported:
                continue
            if self._check(scope, read):
                reported.add(read.key)  # one race per key and function is enough

    def _check(self, scope: Scope, read: RedisCall) -> bool:
        flow = ResultFlow(scope.node, read.node)
        for write in calls_after(read):
            if write.key != read.key or write.receiver.role not in ("client", "pipeline"):
                continue
            if id(write.node) in self._locked or not _same_field(read, write):
                continue
            found = self._race(read, write, flow)
            if found is not None:
                what, harm, instead = found
                message = self.message.format(read=read.command, write=write.command, what=what,
                                              harm=harm, instead=instead)
                self.report(read.node, message, end=write.node)
                return True
        return False

    def _race(self, read: RedisCall, write: RedisCall, flow: ResultFlow):
        command = write.command
        if command in _CHECKED_WRITES.get(read.command, ()):
            if command == "set" and (set_option(write, "nx") is not None
                                     or set_option(write, "xx") is not None):
                return None
            for test, branch in guards(flow.derives, write.ancestors, write.node):
                if any(flow.carries(operand) and falsy_branch == branch
                       for operand, falsy_branch in truth_tests(test)):
                    return ("is a check-then-act race",
                            "two clients can both find it missing and both write it",
                            "use `hsetnx`" if read.command == "hexists" else
                            "use `set(k, v, nx=True)` (with `ex=` if it expires)")
            return None
        if command in _DERIVED_WRITES.get(read.command, ()):
            value = write.arg(*_VALUE[command])
            if value is not None and _computed(flow, value) and not _fills_miss(flow, write):
                instead = _INCR_INSTEAD[read.command] if _arithmetic(flow, value) else _SCRIPT
                return ("is a read-modify-write race",
                        "an update another client makes in between is lost", instead)
        if command in _TESTED_WRITES.get(read.command, ()):
            tests = guards(flow.derives, write.ancestors, write.node)
            if any(_compares(flow, test) for test, _ in tests):
                return (", decided by comparing the value read, is a race",
                        "another client can change it between the test and the write, so "
                        "both may pass the test", _SCRIPT)
        return None


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


def _compares(flow: ResultFlow, test: cst.BaseExpression) -> bool:
    """The test compares the value read with something other than None (`>=`, `==`, `in`)."""
    stack = [test]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Comparison):
            operands = [node.left] + [c.comparator for c in node.comparisons]
            against_none = any(isinstance(o, cst.Name) and o.value == "None" for o in operands)
            identity = all(isinstance(c.operator, (cst.Is, cst.IsNot)) for c in node.comparisons)
            if not against_none and not identity and any(flow.derives(o) for o in operands):
                return True
        elif isinstance(node, (cst.BooleanOperation, cst.UnaryOperation)):
            stack.extend([node.left, node.right] if isinstance(node, cst.BooleanOperation)
                         else [node.expression])
    return False
