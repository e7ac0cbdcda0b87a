from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple

import libcst as cst

from redislint.rule import Fix, Invalid, Rule, Valid
from redislint.semantic.keys.expressions import Key
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.names import string_value
from redislint.semantic.keys.values import (
    CACHE_FILLS, CACHE_READS, always_exits, never_empty, stored_value, truth_tests,
)

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
    value recomputes and writes the same key back (`set`/`setex`/`hset`... of that key): the
    cache-aside miss path.

    Silent when the test is `v is None` / `v is not None` / a comparison, when the falsy branch
    does not write the key back (a feature flag, a "not found" answer), and when the raw bytes
    are tested but every value written back can never be empty (a number, a non-empty literal,
    `json.dumps(...)`, `pickle.dumps(...)`). A decoded value (`json.loads(raw)`) is always
    suspect: `[]`, `{}`, `0`, `""`, `false` and `null` are all falsy. The value is followed through
    local assignments (`raw = r.get(k)`, `v = json.loads(raw) if raw else None`), `await` and
    `:=`. When `if v:` ends in `return`, the code after it is the miss path.

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

    def on_redis_call(self, call: RedisCall) -> None:
        if call.command in CACHE_READS and call.key is not None:
            self._reads[id(call.node)] = call

    # -- which names hold a cached value ------------------------------------------------
    def leave_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind(target.target, node.value)

    def leave_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._bind(node.target, node.value)

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        if not isinstance(target, cst.Name):
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
        if never_empty(value, self.model.qualified_name, known):
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

    def on_scope_exit(self, scope: Scope) -> None:
        checks = self._checks.pop(id(scope), ())
        known = self._never_empty.pop(id(scope), set())
        self._values.pop(id(scope), None)
        self._none_on_miss.pop(id(scope), None)
        reported: Set[int] = set()
        for check in checks:
            if check.cached is None or id(check.node) in reported:
                continue
            fills = [c for c in scope.calls if c.command in CACHE_FILLS
                     and c.key == check.cached.key and _inside(c, check.miss)]
            if not fills:
                continue
            if check.cached.raw and all(
                    never_empty(stored_value(c), self.model.qualified_name, known) for c in fills):
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


def _inside(call: RedisCall, blocks: Tuple[cst.CSTNode, ...]) -> bool:
    wanted = set(map(id, blocks))
    return any(id(node) in wanted for node in call.ancestors)
