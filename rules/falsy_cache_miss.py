from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

import libcst as cst

from redislint.rule import Fix, Invalid, Rule, Valid
from redislint.semantic.keys.expressions import Key
from redislint.semantic.flow.bindings import target_names
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.names import string_value
from redislint.semantic.keys.values import (
    CACHE_FILLS, CACHE_READS, always_exits, never_empty, read_names, recomputes, stored_value,
    truth_tests,
)
from redislint.semantic.redispy import INCR_COMMANDS

_HEAD = 'import redis\nimport json\nr = redis.Redis()\n'


@dataclass(frozen=True)
class _Cached:
    """A value that comes from a cache read of `key`; `raw` while it is still the bytes read."""

    key: Key
    raw: bool


@dataclass
class _Check:
    node: cst.If
    operand: cst.BaseExpression
    cached: Optional[_Cached]
    miss: Tuple[cst.CSTNode, ...]
    branch: str  # "body" for `if not v:`, "orelse" for `if v:`
    none_on_miss: bool = False  # the operand is None exactly when the read missed


@dataclass(frozen=True)
class _Fill:
    """What a write of a cached value stores, judged where the write is met."""

    never_empty: bool  # the value stored can never be empty bytes
    computes: bool  # the stored expression does work of its own (a call, an `await`)
    # For each name the stored expression reads, the ids of the nodes around its last binding.
    bound_in: Tuple[FrozenSet[int], ...]


# Calls that turn a cached value into another form of the same value (decoders); a predicate
# over it (`is_fresh(v)`) is not the value. The first ones keep an empty value empty and a
# non-empty one non-empty.
_PRESERVING = frozenset({"decode", "str", "bool", "strip"})
_DECODERS = _PRESERVING | frozenset({"loads", "unpackb", "unpack", "deserialize", "deserialise",
                                     "from_json", "literal_eval", "int", "float"})


class FalsyCacheMiss(Rule):
    """
    ## What it does
    Flags a cache-aside read whose miss test is a truth test: `v = r.get(k)` (or `getex`, `hget`)
    then `if not v:` / `if v: ... else:` / `if not r.get(k):`, when the branch taken on a falsy
    value recomputes a value and writes it back to the same key (`set`/`setex`/`hset`... of that
    key): the cache-aside miss path. "Recomputes" means the value stored is worked out on that
    path: a call (other than a conversion such as `str(x)`, `x.encode()`, `json.dumps(x)`) or an
    `await` in the stored expression, or a name it reads bound on the miss path
    (`v = load(uid)`).

    Silent when the test is `v is None` / `v is not None` / a comparison, when the falsy branch
    does not write the key back (a feature flag, a "not found" answer), when the write stores a
    value that was already at hand before the test (a running maximum `if not top or x >
    float(top): r.hset(k, "max", x)` stores the new reading, it refills nothing), and when the
    raw bytes are tested but every value written back can never be empty: a number (an INCR
    reply, `int(...)`, arithmetic such as `2 ** n`), a non-empty literal, `json.dumps(...)`,
    `pickle.dumps(...)`, or a name that an `if not v: raise/return` above the write, in the
    same block, refuses when empty (so an existence check under a lock that stores a new id,
    or a key exported then checked, are not cache misses that can loop). A decoded value
    (`json.loads(raw)`) is always suspect: `[]`, `{}`, `0`, `""`, `false` and `null` are all
    falsy. The value is followed through local assignments (`raw = r.get(k)`,
    `v = json.loads(raw) if raw else None`), `await` and `:=`, in source order (what a name
    holds where the write is). When `if v:` ends in `return`, the code after it is the miss
    path.

    Not flagged: `v or default` and conditional expressions (no branch writes the key back), a
    refill done by a helper function, `hgetall`/`smembers`/`lrange` (Redis stores no empty hash,
    set or list, so empty really is a miss), and `json().get` (not recognised yet).

    ## Why is this bad?
    An empty result (an empty string, or with a JSON/pickle codec an empty list, `0`, `False`,
    `None`) is cached like any other, but the truth test treats it as a miss: every request
    recomputes it and writes it again. The cache never helps for exactly the values that are
    often the most expensive to confirm (a search with no hits, a user with no orders).

    ## Example
    ```python
    data = json.loads(r.get(key) or "null")
    if not data:
        data = load_orders(uid)  # [] for a user without orders: recomputed every time
        r.set(key, json.dumps(data), ex=300)
    ```

    ## Use instead:
    ```python
    raw = r.get(key)
    if raw is None:
        data = load_orders(uid)
        r.set(key, json.dumps(data), ex=300)
    else:
        data = json.loads(raw)
    ```
    See `redislint patterns caching`: values are stored as JSON, so `null` and `[]` are hits.

    ## Fix safety
    An unsafe fix rewrites the truth test into a None test: `if not v:` -> `if v is None:`,
    `if v:` -> `if v is not None:` (also inside `and`/`or`, on `await r.get(k)` and on
    `(v := r.get(k))`). It is only offered when the tested value is None exactly on a miss:
    the read itself (`get`/`getex`/`hget` return None for a missing key or field), a name bound
    to it, `json.loads(raw or "null")`, or `decode(raw) if raw else None`. It is unsafe because
    it changes behaviour for the values the rule is about: an empty value stored on purpose to
    mean "recompute me" is now a hit. No fix where a miss is not None (`r.get(k) or b""`,
    `json.loads(raw or "{}")`) or where the value went through other code.
    """

    code = "RL402"
    name = "falsy-cache-miss"
    message = ("a truth test treats a cached empty value as a miss, so it is recomputed and "
               "rewritten on every request: test `is None` instead "
               "(see `redislint patterns caching`)")
    pattern = "caching"
    fix_safety = "unsafe"

    VALID = [
        Valid(_HEAD + 'def get(uid):\n    v = r.get(f"user:{uid}")\n    if v is None:\n'
              '        v = load(uid)\n        r.set(f"user:{uid}", v, ex=60)\n    return v\n'),
        Valid(_HEAD + 'def get(uid):\n    v = r.get(f"user:{uid}")\n    if v is not None:\n'
              '        return json.loads(v)\n    v = load(uid)\n'
              '    r.set(f"user:{uid}", json.dumps(v), ex=60)\n    return v\n'),
        # a feature flag: the falsy branch does not refill the key
        Valid(_HEAD + 'def enabled():\n    if not r.get("flag:beta"):\n        return False\n'
              '    return True\n'),
        # a comparison, not a truth test
        Valid(_HEAD + 'def get(k):\n    v = r.get(k)\n    if v == b"":\n        v = load(k)\n'
              '        r.set(k, v)\n    return v\n'),
        # raw bytes of json.dumps(...) are never empty: the truth test is a correct miss test
        Valid(_HEAD + 'def get(uid):\n    key = "user:%s" % uid\n    raw = r.get(key)\n'
              '    if raw:\n        return json.loads(raw)\n    data = load(uid)\n'
              '    r.setex(key, 60, json.dumps(data))\n    return data\n'),
        # a dict `.get`, not Redis
        Valid('def get(cache, k):\n    v = cache.get(k)\n    if not v:\n        v = load(k)\n'
              '        cache.set(k, v)\n    return v\n'),
        # a once-only marker written with a non-empty literal
        Valid(_HEAD + 'def notify(uid):\n    if not r.get(f"sent:{uid}"):\n        send(uid)\n'
              '        r.set(f"sent:{uid}", 1, ex=3600)\n'),
        # negative caching: the refill never stores an empty value
        Valid(_HEAD + 'def get(k):\n    v = r.get(k)\n    if not v:\n        v = load(k)\n'
              '        r.set(k, v or "__none__", ex=60)\n    return v\n'),
        # a predicate over the cached value is not a truth test of it
        Valid(_HEAD + 'def get(k):\n    v = r.get(k)\n    if not is_fresh(v):\n'
              '        v = load(k)\n        r.set(k, v, ex=60)\n    return v\n'),
        # the refill writes another key
        Valid(_HEAD + 'def get(uid):\n    v = r.get(f"user:{uid}")\n    if not v:\n'
              '        v = load(uid)\n        r.set(f"user:{uid}:miss", 1)\n    return v\n'),
        # a uniqueness check: the value written back is an INCR reply, an integer
        Valid(_HEAD + 'def create(login):\n    if r.hget("users:", login):\n        return None\n'
              '    uid = r.incr("user:id:")\n    pipe = r.pipeline()\n'
              '    pipe.hset("users:", login, uid)\n    pipe.execute()\n    return uid\n'),
        # the only value written back was refused when empty first
        Valid(_HEAD + 'def public_key(fp):\n    key = r.hget("keys", fp)\n    if key:\n'
              '        return key\n    key = export(fp)\n    if not key:\n'
              '        raise LookupError(fp)\n    r.hset("keys", fp, key)\n    return key\n'),
        # arithmetic stores a number, never empty bytes
        Valid('import math\n' + _HEAD + 'def expected(k):\n    v = r.get(k + ":expected")\n'
              '    if not v:\n        v = 2 ** int(math.ceil(math.log(load(k) * 1.5, 2)))\n'
              '        r.setnx(k + ":expected", v)\n    return int(v)\n'),
        # a running maximum: the write stores the reading at hand, nothing is recomputed
        Valid(_HEAD + 'def record(key, reading):\n    top = r.hget(key, "max")\n'
              '    if not top or reading.value > float(top):\n'
              '        r.hset(key, "max", reading.value)\n'),
    ]
    INVALID = [
        Invalid(_HEAD + 'def get(uid):\n    v = r.get(f"user:{uid}")\n    if not v:\n'
                '        v = load(uid)\n        r.set("user:" + str(uid), v, ex=60)\n    return v\n',
                expected_fix=_HEAD + 'def get(uid):\n    v = r.get(f"user:{uid}")\n    if v is None:\n'
                '        v = load(uid)\n        r.set("user:" + str(uid), v, ex=60)\n    return v\n',
                unsafe=True),
        # decoded JSON: [] / 0 / null are falsy
        Invalid(_HEAD + 'def orders(uid):\n    key = "orders:{}".format(uid)\n'
                '    data = json.loads(r.get(key) or "null")\n    if not data:\n'
                '        data = load(uid)\n        r.set(key, json.dumps(data), ex=300)\n'
                '    return data\n',
                expected_fix=_HEAD + 'def orders(uid):\n    key = "orders:{}".format(uid)\n'
                '    data = json.loads(r.get(key) or "null")\n    if data is None:\n'
                '        data = load(uid)\n        r.set(key, json.dumps(data), ex=300)\n'
                '    return data\n', unsafe=True),
        # `if v: return` then the refill after the `if`; `self.r` from `__init__`
        Invalid('import redis, pickle\nclass Repo:\n    def __init__(self):\n'
                '        self.r = redis.Redis()\n'
                '    def get(self, pid):\n        raw = self.r.hget("products", pid)\n'
                '        value = pickle.loads(raw) if raw else None\n'
                '        if value:\n            return value\n'
                '        value = self.load(pid)\n'
                '        self.r.hset("products", pid, pickle.dumps(value))\n        return value\n',
                expected_fix='import redis, pickle\nclass Repo:\n    def __init__(self):\n'
                '        self.r = redis.Redis()\n'
                '    def get(self, pid):\n        raw = self.r.hget("products", pid)\n'
                '        value = pickle.loads(raw) if raw else None\n'
                '        if value is not None:\n            return value\n'
                '        value = self.load(pid)\n'
                '        self.r.hset("products", pid, pickle.dumps(value))\n        return value\n',
                unsafe=True),
        # redis.asyncio + await, annotated parameter, read inside the test
        Invalid('from redis.asyncio import Redis\nasync def get(r: Redis, k: str):\n'
                '    if not await r.get(k):\n        await r.set(k, await compute(k), ex=30)\n'
                '    return await r.get(k)\n',
                expected_fix='from redis.asyncio import Redis\nasync def get(r: Redis, k: str):\n'
                '    if await r.get(k) is None:\n        await r.set(k, await compute(k), ex=30)\n'
                '    return await r.get(k)\n', unsafe=True),
        # a walrus read, an `or` chain
        Invalid(_HEAD + 'def get(k, force=False):\n    if force or not (v := r.getex(k, ex=60)):\n'
                '        v = compute(k)\n        r.set(k, v, ex=60)\n    return v\n',
                expected_fix=_HEAD + 'def get(k, force=False):\n'
                '    if force or (v := r.getex(k, ex=60)) is None:\n'
                '        v = compute(k)\n        r.set(k, v, ex=60)\n    return v\n', unsafe=True),
        # the emptiness check guards another branch, not the write
        Invalid(_HEAD + 'def get(k, strict):\n    v = r.get(k)\n    if not v:\n'
                '        v = load(k)\n        if strict:\n            if not v:\n'
                '                raise KeyError(k)\n        r.set(k, v, ex=60)\n    return v\n',
                expected_fix=_HEAD + 'def get(k, strict):\n    v = r.get(k)\n    if v is None:\n'
                '        v = load(k)\n        if strict:\n            if not v:\n'
                '                raise KeyError(k)\n        r.set(k, v, ex=60)\n    return v\n',
                unsafe=True),
        # `not v and strict` lets an empty value through
        Invalid(_HEAD + 'def get(k, strict):\n    v = r.get(k)\n    if not v:\n'
                '        v = load(k)\n        if not v and strict:\n            raise KeyError(k)\n'
                '        r.set(k, v, ex=60)\n    return v\n',
                expected_fix=_HEAD + 'def get(k, strict):\n    v = r.get(k)\n    if v is None:\n'
                '        v = load(k)\n        if not v and strict:\n            raise KeyError(k)\n'
                '        r.set(k, v, ex=60)\n    return v\n', unsafe=True),
        # the value at hand is converted, but it was computed on the miss path
        Invalid(_HEAD + 'def total(uid):\n    k = f"total:{uid}"\n    v = r.get(k)\n    if not v:\n'
                '        rows = load(uid)\n        r.set(k, ",".join(rows), ex=60)\n'
                '        v = r.get(k)\n    return v\n',
                expected_fix=_HEAD + 'def total(uid):\n    k = f"total:{uid}"\n    v = r.get(k)\n'
                '    if v is None:\n        rows = load(uid)\n        r.set(k, ",".join(rows), ex=60)\n'
                '        v = r.get(k)\n    return v\n', unsafe=True),
        # no fix: a miss is not None here
        Invalid(_HEAD + 'def get(k):\n    v = r.get(k) or b""\n    if not v:\n'
                '        v = compute(k)\n        r.set(k, v, ex=60)\n    return v\n'),
        Invalid(_HEAD + 'def get(k):\n    data = json.loads(r.get(k) or "{}")\n    if not data:\n'
                '        data = compute(k)\n        r.set(k, json.dumps(data), ex=60)\n    return data\n'),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        self._reads: Dict[int, RedisCall] = {}
        self._values: Dict[int, Dict[str, _Cached]] = {}
        self._never_empty: Dict[int, Set[str]] = {}
        self._none_on_miss: Dict[int, Set[str]] = {}
        self._checks: Dict[int, List[_Check]] = {}
        # scope -> name -> the block after whose `if not name: raise` the name is non-empty
        self._guarded: Dict[int, Dict[str, int]] = {}
        # scope -> name -> ids of the nodes around its last binding so far
        self._bound: Dict[int, Dict[str, FrozenSet[int]]] = {}
        self._fills: Dict[int, _Fill] = {}
        self._numbers: Set[int] = set()  # INCR replies: integers

    def on_redis_call(self, call: RedisCall) -> None:
        if call.command in CACHE_READS and call.key is not None:
            self._reads[id(call.node)] = call
        elif call.command in INCR_COMMANDS and call.receiver.role == "client":
            self._numbers.add(id(call.node))
        elif call.command in CACHE_FILLS:
            self._fills[id(call.node)] = self._fill(call)

    def _fill(self, call: RedisCall) -> _Fill:
        """The value a fill stores, judged here: the names it reads are bound as they are now."""
        value = stored_value(call)
        scope = id(self.model.scope)
        known = set(self._never_empty.get(scope, ()))
        guards = self._guarded.get(scope, {})
        if guards:
            around = {id(node) for node in call.ancestors}
            known.update(name for name, block in guards.items() if block in around)
        bound = self._bound.get(scope, {})
        return _Fill(
            never_empty(value, self.model.qualified_name, known) or self._is_number(value),
            recomputes(value, self.model.qualified_name),
            tuple(bound[name] for name in read_names(value) if name in bound))

    def _is_number(self, expr: Optional[cst.BaseExpression]) -> bool:
        while isinstance(expr, cst.Await):
            expr = expr.expression
        return expr is not None and id(expr) in self._numbers

    # -- which names hold a cached value ------------------------------------------------
    def leave_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind(target.target, node.value)
            self._rebound(target.target)

    def leave_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._bind(node.target, node.value)
            self._rebound(node.target)

    def leave_AugAssign(self, node: cst.AugAssign) -> None:
        self._forget(node.target)
        self._rebound(node.target)

    def leave_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._rebound(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._forget(node.target)
        self._rebound(node.target)

    def visit_AsName(self, node: cst.AsName) -> None:
        self._forget(node.name)
        self._rebound(node.name)

    def _rebound(self, target: cst.BaseExpression) -> None:
        """Note where the names of `target` are bound (the nodes around the binding)."""
        names = list(target_names(target))
        if not names:
            return
        scope = id(self.model.scope)
        around = frozenset(map(id, self.model.ancestors))
        bound = self._bound.setdefault(scope, {})
        guards = self._guarded.get(scope, {})
        for name in names:
            bound[name.value] = around
            guards.pop(name.value, None)

    def _forget(self, target: cst.BaseExpression) -> None:
        """Names rebound to a value the rule does not follow."""
        scope = id(self.model.scope)
        for name in target_names(target):
            self._values.get(scope, {}).pop(name.value, None)
            self._never_empty.get(scope, set()).discard(name.value)
            self._none_on_miss.get(scope, set()).discard(name.value)

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        if not isinstance(target, cst.Name):
            self._forget(target)
            return
        scope = id(self.model.scope)
        values = self._values.setdefault(scope, {})
        found = self._cached(value)
        if found is not None:
            values[target.value] = found
        else:
            values.pop(target.value, None)
        none = self._none_on_miss.setdefault(scope, set())
        if self._miss_is_none(value):
            none.add(target.value)
        else:
            none.discard(target.value)
        known = self._never_empty.setdefault(scope, set())
        if never_empty(value, self.model.qualified_name, known) or self._is_number(value):
            known.add(target.value)
        else:
            known.discard(target.value)

    def _cached(self, expr: cst.BaseExpression) -> Optional[_Cached]:
        """The cached value `expr` evaluates to (or is derived from), if any."""
        if isinstance(expr, cst.Await):
            return self._cached(expr.expression)
        if isinstance(expr, cst.NamedExpr):
            return self._cached(expr.value)
        if isinstance(expr, cst.Name):
            return self._values.get(id(self.model.scope), {}).get(expr.value)
        if isinstance(expr, cst.IfExp):
            return self._cached(expr.body) or self._cached(expr.orelse)
        if isinstance(expr, cst.BooleanOperation):
            return self._cached(expr.left) or self._cached(expr.right)
        if isinstance(expr, cst.Subscript):
            found = self._cached(expr.value)
            return _Cached(found.key, False) if found is not None else None
        if isinstance(expr, cst.Call):
            read = self._reads.get(id(expr))
            if read is not None:
                return _Cached(read.key, True)  # type: ignore[arg-type]
            func = expr.func
            name = func.attr.value if isinstance(func, cst.Attribute) else \
                func.value if isinstance(func, cst.Name) else None
            if name not in _DECODERS:
                return None
            inputs = [a.value for a in expr.args]
            if isinstance(func, cst.Attribute):
                inputs.insert(0, func.value)
            for value in inputs:
                found = self._cached(value)
                if found is not None:
                    return _Cached(found.key, found.raw and name in _PRESERVING)
        return None

    # -- truth tests on them ------------------------------------------------------------
    def visit_If(self, node: cst.If) -> None:
        parent = self.model.ancestors[-1] if self.model.ancestors else None
        following: Tuple[cst.CSTNode, ...] = ()
        if always_exits(node.body) and isinstance(parent, (cst.IndentedBlock, cst.Module)):
            body = list(parent.body)
            index = next((i for i, s in enumerate(body) if s is node), len(body))
            following = tuple(body[index + 1:])
        for operand, branch in truth_tests(node.test):
            if branch == "body":
                miss: Tuple[cst.CSTNode, ...] = (node.body,)
            else:
                miss = ((node.orelse,) if node.orelse is not None else ()) + following
            if not miss:
                continue
            # A name is judged now (the branch may rebind it); a read in the test on leaving.
            cached = self._cached(operand) if isinstance(operand, cst.Name) else None
            if isinstance(operand, cst.Name) and cached is None:
                continue
            checks = self._checks.setdefault(id(self.model.scope), [])
            none = isinstance(operand, cst.Name) and self._miss_is_none(operand)
            checks.append(_Check(node, operand, cached, miss, branch, none))

    def leave_If(self, node: cst.If) -> None:
        for check in self._checks.get(id(self.model.scope), ()):
            if check.node is node and check.cached is None:
                check.cached = self._cached(check.operand)
                check.none_on_miss = self._miss_is_none(check.operand)
        # `if not v: raise ...`: below it, in the same block, `v` is not empty.
        parent = self.model.ancestors[-1] if self.model.ancestors else None
        if node.orelse is None and always_exits(node.body) and \
                isinstance(parent, (cst.IndentedBlock, cst.Module)):
            guards = self._guarded.setdefault(id(self.model.scope), {})
            for name in _refused_empty(node.test):
                guards[name] = id(parent)

    def on_scope_exit(self, scope: Scope) -> None:
        checks = self._checks.pop(id(scope), ())
        for table in (self._never_empty, self._values, self._none_on_miss, self._guarded,
                      self._bound):
            table.pop(id(scope), None)
        if not checks:
            return
        fills_by_key: Dict[Key, List[RedisCall]] = {}
        for call in scope.calls:
            if call.command in CACHE_FILLS and call.key is not None and \
                    id(call.node) in self._fills:
                fills_by_key.setdefault(call.key, []).append(call)
        reported: Set[int] = set()
        for check in checks:
            if check.cached is None or id(check.node) in reported:
                continue
            miss = {id(block) for block in check.miss}
            # The refills on the miss path that store a value worked out there: a write of a
            # value already at hand (a running maximum storing the new reading) is no refill.
            fills = [self._fills[id(c.node)] for c in fills_by_key.get(check.cached.key, ())
                     if _inside(c, miss)]
            fills = [f for f in fills if f.computes or any(b & miss for b in f.bound_in)]
            if not fills:
                continue
            if check.cached.raw and all(f.never_empty for f in fills):
                continue
            reported.add(id(check.node))
            self.report(check.node.test, fix=self._fix(check))

    # -- the fix ----------------------------------------------------------------------------
    def _miss_is_none(self, expr: cst.BaseExpression) -> bool:
        """`expr` is None exactly when the read missed: the read itself (`get`/`getex`/`hget`
        return None), a name bound to one, `json.loads(read or "null")`, or
        `decode(raw) if raw else None`. Not `read or b""`, `json.loads(read or "{}")`..."""
        if isinstance(expr, cst.Await):
            return self._miss_is_none(expr.expression)
        if isinstance(expr, cst.NamedExpr):
            return self._miss_is_none(expr.value)
        if isinstance(expr, cst.Name):
            return expr.value in self._none_on_miss.get(id(self.model.scope), ())
        if isinstance(expr, cst.IfExp):
            return (isinstance(expr.orelse, cst.Name) and expr.orelse.value == "None"
                    and self._miss_is_none(expr.test))
        if isinstance(expr, cst.Call):
            if id(expr) in self._reads:
                return True
            name = self.model.qualified_name(expr.func) or ""
            if name.split(".")[-1] == "loads" and len(expr.args) == 1:
                value = expr.args[0].value
                return (isinstance(value, cst.BooleanOperation) and isinstance(
                    value.operator, cst.Or) and string_value(value.right) == "null"
                    and self._miss_is_none(value.left))
        return False

    @staticmethod
    def _fix(check: _Check) -> Optional[Fix]:
        """`not v` -> `v is None`, `v` -> `v is not None`, when `v` is None exactly on a miss."""
        if not check.none_on_miss:
            return None
        operand = check.operand
        if check.branch == "orelse":
            target: cst.CSTNode = operand
            new = cst.Comparison(operand, [cst.ComparisonTarget(cst.IsNot(), cst.Name("None"))])
        else:
            target = next((n for n in _unary_nots(check.node.test) if n.expression is operand),
                          None)  # type: ignore[assignment]
            if target is None:
                return None
            new = cst.Comparison(operand, [cst.ComparisonTarget(cst.Is(), cst.Name("None"))],
                                 lpar=target.lpar, rpar=target.rpar)  # type: ignore[union-attr]
        return Fix("Test the miss with `is None`", {target: new}, "unsafe")


def _unary_nots(test: cst.BaseExpression) -> List[cst.UnaryOperation]:
    """The `not x` operations of an `if` test, through `and`/`or`."""
    found, pending = [], [test]
    while pending:
        node = pending.pop()
        if isinstance(node, cst.BooleanOperation):
            pending += [node.left, node.right]
        elif isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
            found.append(node)
    return found


def _inside(call: RedisCall, blocks: Set[int]) -> bool:
    return any(id(node) in blocks for node in call.ancestors)


def _refused_empty(test: cst.BaseExpression) -> List[str]:
    """The names an `if` test that ends its block rejects when empty: `not v`, also inside an
    `or` chain (`v is None or not v`); not through `and` (`not v and strict` may let `v` by)."""
    found, pending = [], [test]
    while pending:
        node = pending.pop()
        if isinstance(node, cst.BooleanOperation) and isinstance(node.operator, cst.Or):
            pending += [node.left, node.right]
        elif isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not) and \
                isinstance(node.expression, cst.Name):
            found.append(node.expression.value)
    return found
