from typing import Dict, Optional

import libcst as cst

from redislint.rule import Fix, Invalid, Rule, Valid
from redislint.semantic.fixes.edits import (bind_arguments, expression_statement, keyword,
                                      next_statement, remove_statements, with_args)
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.names import number_value
from redislint.semantic.redispy import EXPIRE_COMMANDS, INCR_COMMANDS
from redislint.semantic.fixes.safety import is_pure
from redislint.semantic.flow.sequences import follow_ups
from redislint.semantic.fixes.ttl import own_statement, sent_as_written

_EXPIRE_OPTIONS = ("nx", "xx", "gt", "lt")


class IncrExpireNotAtomic(Rule):
    """
    ## What it does
    Flags INCR/INCRBY/INCRBYFLOAT (and DECR*) followed by a separate EXPIRE of the same key,
    when the two are not sent in one MULTI/EXEC transaction or Lua script.

    ## Why is this bad?
    If the process dies, times out or loses its connection between the two commands, the counter
    exists with no TTL and never expires. For a rate limiter that means the client is blocked
    forever once it reaches the limit; for metrics, keys pile up until memory runs out.

    ## Example
    ```python
    count = r.incr(key)
    if count == 1:
        r.expire(key, 60)
    ```

    ## Use instead:
    ```python
    with r.pipeline() as pipe:  # transaction=True by default: MULTI/EXEC
        pipe.incr(key)
        pipe.expire(key, 60, nx=True)  # Redis >= 7.0: set the TTL only once
        count, _ = pipe.execute()
    ```
    or a Lua script; see `redislint patterns rate-limiting` (FixedWindow).

    ## Fix safety
    An unsafe fix sends both commands in one MULTI/EXEC pipeline, for two shapes only, where
    the INCR statement is directly followed (same block, same client) by:
    - `if n == 1: r.expire(k, t)` (an INCR by 1 bound to `n`, nothing else in the `if`):
      `n = r.pipeline().incr(k).expire(k, t, nx=True).execute()[0]`. EXPIRE NX needs Redis
      >= 7.0 (`target-redis-version`); below that, no fix.
    - an unconditional `r.expire(k, t)`: `r.pipeline().incr(k).expire(k, t).execute()` (with
      `[0]` when the count is used), so the TTL is still refreshed on every hit.

    On `redis.asyncio` the `execute()` is awaited. The count is the same, but the fix is
    unsafe: `expire(..., nx=True)` also gives a TTL to an existing counter that has none (the
    one a crash left behind: usually the point, yet a change), and inside MULTI a failing INCR
    (a key of another type) no longer stops the EXPIRE. No fix is offered for other shapes:
    another condition (`if n > limit`), statements between the two, EXPIRE arguments with side
    effects (they would run before the INCR), a comment on a line the fix removes, a
    non-transactional pipeline, or a cluster client.
    """

    code = "RL201"
    name = "incr-expire-not-atomic"
    message = ("`{incr}` then `{expire}` of the same key is not atomic: a crash between leaves a "
               "counter that never expires; send both in one `pipeline(transaction=True)` or a "
               "Lua script (see `redislint patterns rate-limiting`)")
    pattern = "rate-limiting"
    fix_safety = "unsafe"

    VALID = [
        Valid('import redis\nr = redis.Redis()\ndef hit(k):\n    with r.pipeline() as p:\n'
              '        p.incr(k)\n        p.expire(k, 60)\n        return p.execute()[0]\n'),
        Valid('import redis\nr = redis.Redis()\ndef hit(k):\n    p = r.pipeline(transaction=True)\n'
              '    p.incr(k).expire(k, 60, nx=True)\n    p.execute()\n'),
        Valid('import redis\nr = redis.Redis()\nLUA = "redis.call(\'INCR\', KEYS[1]); redis.call(\'EXPIRE\', KEYS[1], 60)"\n'
              'def hit(k):\n    return r.eval(LUA, 1, k)\n'),
        Valid('import redis\nr = redis.Redis()\ndef hit(a, b):\n    r.incr(a)\n    r.expire(b, 60)\n'),
        Valid('class Counter:\n    def incr(self, k): ...\n    def expire(self, k, t): ...\n'
              'c = Counter()\nc.incr("k")\nc.expire("k", 5)\n'),
        Valid('import redis\nr = redis.Redis()\ndef hit(k):\n    p = r.pipeline(transaction=False)\n'
              '    p.multi()\n    p.incr(k)\n    p.expire(k, 60)\n    p.execute()\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef hit(uid):\n    n = r.incr(f"rate:{uid}")\n'
                '    if n == 1:\n        r.expire("rate:" + uid, 60)\n    return n\n',
                expected_fix='import redis\nr = redis.Redis()\ndef hit(uid):\n'
                '    n = r.pipeline().incr(f"rate:{uid}").expire("rate:" + uid, 60, nx=True).execute()[0]\n'
                '    return n\n', unsafe=True),
        Invalid('import redis\nr = redis.Redis()\ndef hit(uid):\n    key = "rate:{}".format(uid)\n'
                '    p = r.pipeline(transaction=False)\n    p.incr(key)\n    p.expire(key, 60)\n    p.execute()\n'),
        Invalid('from redis.asyncio import Redis\nasync def hit(r: Redis, k):\n    await r.incrby(k, 5)\n'
                '    await r.pexpire(k, 500)\n',
                expected_fix='from redis.asyncio import Redis\nasync def hit(r: Redis, k):\n'
                '    await r.pipeline().incrby(k, 5).pexpire(k, 500).execute()\n', unsafe=True),
        # the count is used, the TTL refreshed on every hit; awaited on redis.asyncio
        Invalid('from redis.asyncio import Redis\nasync def hit(r: Redis, k):\n    n = await r.incr(k)\n'
                '    await r.expire(k, 60)\n    return n\n',
                expected_fix='from redis.asyncio import Redis\nasync def hit(r: Redis, k):\n'
                '    n = (await r.pipeline().incr(k).expire(k, 60).execute())[0]\n    return n\n',
                unsafe=True),
        # no fix: EXPIRE NX needs Redis 7.0
        Invalid('import redis\nr = redis.Redis()\ndef hit(k):\n    n = r.incr(k)\n    if n == 1:\n'
                '        r.expire(k, 60)\n    return n\n', settings={"target-redis-version": "6.2"}),
        # no fix: another condition, a statement in between, a comment on the EXPIRE line
        Invalid('import redis\nr = redis.Redis()\ndef hit(k):\n    n = r.incr(k)\n    if n > 10:\n'
                '        r.expire(k, 60)\n    return n\n'),
        Invalid('import redis\nr = redis.Redis()\ndef hit(k):\n    r.incr(k)\n    log(k)\n'
                '    r.expire(k, 60)\n'),
        Invalid('import redis\nr = redis.Redis()\ndef hit(k):\n    r.incr(k)\n'
                '    r.expire(k, 60)  # one minute window\n'),
    ]

    def on_scope_exit(self, scope: Scope) -> None:
        for first, then in follow_ups(scope.calls, INCR_COMMANDS, EXPIRE_COMMANDS):
            message = self.message.format(incr=first.command, expire=then.command)
            self.report(first.node, message, end=then.node, fix=self._fix(first, then))

    # -- the fix ----------------------------------------------------------------------------
    def _fix(self, incr: RedisCall, expire: RedisCall) -> Optional[Fix]:
        """`n = r.incr(k)` + `if n == 1: r.expire(k, t)` (Redis >= 7.0: EXPIRE NX), or an
        INCR directly followed by an unconditional EXPIRE: one MULTI/EXEC pipeline."""
        if incr.receiver_text != expire.receiver_text or incr.receiver.cluster:
            return None
        if not (sent_as_written(incr) and sent_as_written(expire)):
            return None
        if not own_statement(incr, assigned=True) or incr.has_star_args:
            return None
        param = "when" if expire.command.endswith("at") else "time"
        bound = bind_arguments(expire.node, ("name", param) + _EXPIRE_OPTIONS, required=2)
        if bound is None or not all(is_pure(arg.value) for arg in expire.node.args):
            return None  # the EXPIRE's arguments would be evaluated before the INCR is sent
        after = next_statement(incr.ancestors, incr.statement)
        if after is expire.statement and own_statement(expire):
            extra = ()  # unconditional: the TTL is refreshed on every hit, as before
            removed = after
        elif self._first_hit_test(incr, after, expire) and len(bound) == 2:
            if self.settings.target_redis_version < (7, 0):
                return None  # EXPIRE NX
            extra = (keyword("nx", cst.Name("True")),)
            removed = after
        else:
            return None
        removal = remove_statements(removed)  # type: ignore[arg-type]
        if removal is None:
            return None
        replacements: Dict[cst.CSTNode, object] = {
            self._value_node(incr): self._pipelined(incr, expire, extra), **removal}
        return Fix("Send both in one transaction: `pipeline().incr(...).expire(...).execute()`",
                   replacements, "unsafe")

    @staticmethod
    def _first_hit_test(incr: RedisCall, after: Optional[cst.CSTNode], expire: RedisCall) -> bool:
        """`n = r.incr(k)` (by 1) then `if n == 1:` whose whole body is the EXPIRE."""
        if incr.command not in ("incr", "incrby"):
            return False
        amount = incr.arg(1, "amount")
        if amount is not None and number_value(amount) != 1:
            return False
        small = incr.statement.body[0]  # type: ignore[union-attr]
        target = small.targets[0].target if isinstance(small, cst.Assign) else \
            getattr(small, "target", None)
        if not isinstance(target, cst.Name) or not isinstance(after, cst.If):
            return False
        if after.orelse is not None or not isinstance(after.body, cst.IndentedBlock) or \
                len(after.body.body) != 1 or after.body.body[0] is not expire.statement:
            return False
        test = after.test
        if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and
                isinstance(test.comparisons[0].operator, cst.Equal)):
            return False
        sides = (test.left, test.comparisons[0].comparator)
        names = [s for s in sides if isinstance(s, cst.Name) and s.value == target.value]
        ones = [s for s in sides if isinstance(s, cst.Integer) and s.value == "1"]
        return len(names) == 1 and len(ones) == 1 and own_statement(expire)

    @staticmethod
    def _value_node(incr: RedisCall) -> cst.CSTNode:
        """The expression the INCR statement evaluates: the call, or `await call`."""
        parent = incr.parent
        return parent if isinstance(parent, cst.Await) else incr.node

    @staticmethod
    def _pipelined(incr: RedisCall, expire: RedisCall, extra) -> cst.BaseExpression:
        """`r.pipeline().incr(k).expire(k, t[, nx=True]).execute()`, `[0]` when the INCR's
        result is used, awaited on an async client."""
        func = incr.node.func
        assert isinstance(func, cst.Attribute)
        pipeline = cst.Call(func=cst.Attribute(value=func.value, attr=cst.Name("pipeline")))
        chained = incr.node.with_changes(func=func.with_changes(value=pipeline), lpar=(), rpar=())
        expire_func = expire.node.func
        assert isinstance(expire_func, cst.Attribute)
        chained = expire.node.with_changes(func=expire_func.with_changes(value=chained),
                                           args=with_args(list(expire.node.args) + list(extra)),
                                           lpar=(), rpar=())
        result: cst.BaseExpression = cst.Call(
            func=cst.Attribute(value=chained, attr=cst.Name("execute")))
        used = expression_statement(incr.statement) is None
        if incr.awaited:
            result = cst.Await(result, lpar=[cst.LeftParen()] if used else [],
                               rpar=[cst.RightParen()] if used else [])
        if used:
            result = cst.Subscript(value=result, slice=[
                cst.SubscriptElement(slice=cst.Index(value=cst.Integer("0")))])
        return result
