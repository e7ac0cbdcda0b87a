from typing import Dict, Optional, Tuple

import libcst as cst

from redislint.rule import Fix, Invalid, Rule, Valid
from redislint.semantic.fixes.edits import (add_keywords, bind_arguments, has_comments, keyword,
                                      next_statement, remove_statements, renamed_call,
                                      statement_block)
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.redispy import EXPIRE_COMMANDS, KEY_WRITES, is_set_if_absent
from redislint.semantic.fixes.safety import result_use
from redislint.semantic.flow.sequences import follow_ups
from redislint.semantic.fixes.ttl import (Folded, fold_expire, own_statement, sent_as_written,
                                    set_without_expiry)
from redislint.semantic.keys.values import always_exits


class SetnxExpireNotAtomic(Rule):
    """
    ## What it does
    Flags SETNX (`r.setnx(k, v)`, or `r.set(k, v, nx=True)` without `ex`/`px`) followed by a
    separate EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT of the same key, when the two are not sent in one
    MULTI/EXEC transaction or Lua script.

    ## Why is this bad?
    This is the classic broken lock (and "first writer wins" marker): if the process dies
    between the two commands, the key exists with no TTL. Every later SETNX fails, so the lock
    is held forever, the job is never claimed again, the user is never allowed in again, until
    someone deletes the key by hand.

    ## Example
    ```python
    if r.setnx(f"lock:{name}", token):
        r.expire(f"lock:{name}", 10)
    ```

    ## Use instead:
    ```python
    if r.set(f"lock:{name}", token, nx=True, ex=10):
        ...
    ```
    One command: the key is created with its TTL or not at all. For a full lock (owner token,
    safe release, fencing) see `redislint patterns locks`.

    ## Fix safety
    The fix writes `set(k, v, nx=True, ex=t)` (`px=` for PEXPIRE; `exat=`/`pxat=` for
    EXPIREAT/PEXPIREAT on Redis >= 6.2) and deletes the EXPIRE statement. It is **safe** when
    the EXPIRE only ran if the key was created, and the SETNX result is only tested for truth:
    - `if r.setnx(k, v):` whose body starts with the EXPIRE (an `if` holding nothing else
      becomes the bare `r.set(...)` statement);
    - `if not r.setnx(k, v): return ...` followed by the EXPIRE;
    - `ok = r.setnx(k, v)` then `if ok:` (starting with the EXPIRE) or `if not ok: return`.

    SETNX returns True/False, `set(..., nx=True)` returns True/None: the same truthiness, so
    `if`, `not`, `bool()`, `and`/`or` in a test behave the same. The fix is **unsafe** when
    the result is used otherwise (returned, stored, passed on: a caller may see None instead
    of False), when the EXPIRE ran unconditionally (it also refreshed the TTL of a key that
    existed already, which the fixed code no longer does), or when the TTL is an expression
    that may be None (`expire(k, None)` raises; `set(..., ex=None)` silently sets no TTL: only
    numbers, arithmetic, `timedelta(...)` and module constants bound to them count as never
    None). There is **no fix** when the result is compared (`== False`, `is False`: the
    comparison would flip), for EXPIRE options (`nx`/`xx`/`gt`/`lt`), for a key or TTL
    expression with side effects, for a comment on the EXPIRE line, for statements between
    the two, and on pipelines (the reply lists of `execute()` would change).
    """

    code = "RL203"
    name = "setnx-expire-not-atomic"
    message = ("`{write}` then `{expire}` is not atomic: a crash between them leaves a key that "
               "never expires (a lock held forever); use `set(k, v, nx=True, ex=t)` "
               "(see `redislint patterns locks`)")
    pattern = "locks"
    fix_safety = "safe"

    VALID = [
        Valid('import redis\nr = redis.Redis()\ndef acquire(name, token):\n'
              '    return r.set(f"lock:{name}", token, nx=True, ex=10)\n'),
        Valid('import redis\nr = redis.Redis()\ndef acquire(name, token):\n    with r.pipeline() as p:\n'
              '        p.setnx(f"lock:{name}", token)\n        p.expire("lock:" + name, 10)\n'
              '        return p.execute()[0]\n'),
        Valid('import redis\nr = redis.Redis()\ndef acquire(name, token):\n'
              '    p = r.pipeline(transaction=False)\n    p.multi()\n'
              '    p.set(f"lock:{name}", token, nx=True)\n    p.expire(f"lock:{name}", 10)\n'
              '    return p.execute()[0]\n'),
        Valid('import redis\nr = redis.Redis()\nACQUIRE = "if redis.call(\'SETNX\', KEYS[1], ARGV[1]) == 1 then '
              'return redis.call(\'EXPIRE\', KEYS[1], 10) end"\nacquire = r.register_script(ACQUIRE)\n'
              'def take(name, token):\n    return acquire(keys=[f"lock:{name}"], args=[token])\n'),
        Valid('import redis\nr = redis.Redis()\ndef acquire(name, token):\n'
              '    r.set(f"lock:{name}", token, nx=True, px=500)\n    r.pexpire(f"lock:{name}", 900)\n'),
        Valid('import redis\nr = redis.Redis()\ndef acquire(name, token):\n    r.setnx(f"lock:{name}", token)\n'
              '    r.expire(f"lock:{name}:fence", 10)\n'),
        Valid('class Locks:\n    def setnx(self, k, v): ...\n    def expire(self, k, t): ...\n'
              'locks = Locks()\ndef take(name):\n    if locks.setnx(f"lock:{name}", 1):\n'
              '        locks.expire(f"lock:{name}", 10)\n'),
        Valid('from django.core.cache import cache\ndef take(name):\n    if cache.add(f"lock:{name}", 1):\n'
              '        cache.expire(f"lock:{name}", timeout=10)\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef acquire(name, token):\n'
                '    if r.setnx(f"lock:{name}", token):\n        r.expire("lock:" + name, 10)\n'
                '        return True\n    return False\n',
                expected_fix='import redis\nr = redis.Redis()\ndef acquire(name, token):\n'
                '    if r.set(f"lock:{name}", token, nx=True, ex=10):\n        return True\n'
                '    return False\n'),
        # an `if` that only set the TTL becomes one statement
        Invalid('import redis\nclass Jobs:\n    def __init__(self):\n        self.r = redis.Redis()\n'
                '    def claim(self, job, worker):\n        key = "job:{}:owner".format(job)\n'
                '        if self.r.set(key, worker, nx=True):\n            self.r.expire(f"job:{job}:owner", 300)\n',
                expected_fix='import redis\nclass Jobs:\n    def __init__(self):\n'
                '        self.r = redis.Redis()\n    def claim(self, job, worker):\n'
                '        key = "job:{}:owner".format(job)\n'
                '        self.r.set(key, worker, nx=True, ex=300)\n'),
        # unconditional EXPIRE, result returned: unsafe
        Invalid('from redis.asyncio import Redis\nasync def first_visit(r: Redis, uid):\n'
                '    new = await r.setnx("seen:%s" % uid, 1)\n    await r.pexpireat(f"seen:{uid}", 1700000000000)\n'
                '    return new\n',
                expected_fix='from redis.asyncio import Redis\nasync def first_visit(r: Redis, uid):\n'
                '    new = await r.set("seen:%s" % uid, 1, nx=True, pxat=1700000000000)\n'
                '    return new\n', unsafe=True),
        # early exit, then the EXPIRE; a module constant is never None
        Invalid('import redis\nr = redis.Redis()\nLOCK_TTL = 30\ndef run(name):\n'
                '    if not r.setnx(f"lock:{name}", 1):\n        return False\n'
                '    r.expire(f"lock:{name}", LOCK_TTL)\n    return True\n',
                expected_fix='import redis\nr = redis.Redis()\nLOCK_TTL = 30\ndef run(name):\n'
                '    if not r.set(f"lock:{name}", 1, nx=True, ex=LOCK_TTL):\n        return False\n'
                '    return True\n'),
        # a name tested for truth only; its `if` disappears
        Invalid('import redis\nr = redis.Redis()\ndef mark(uid):\n    first = r.setnx(f"seen:{uid}", 1)\n'
                '    if first:\n        r.expire(f"seen:{uid}", 86400)\n    return bool(first)\n',
                expected_fix='import redis\nr = redis.Redis()\ndef mark(uid):\n'
                '    first = r.set(f"seen:{uid}", 1, nx=True, ex=86400)\n    return bool(first)\n'),
        # a TTL that may be None: unsafe
        Invalid('import redis\nr = redis.Redis()\ndef take(name, ttl):\n'
                '    if r.setnx(f"lock:{name}", 1):\n        r.expire(f"lock:{name}", ttl)\n'
                '        return True\n',
                expected_fix='import redis\nr = redis.Redis()\ndef take(name, ttl):\n'
                '    if r.set(f"lock:{name}", 1, nx=True, ex=ttl):\n        return True\n',
                unsafe=True),
        # no fix: compared with False (None would not be)
        Invalid('import redis\nr = redis.Redis()\ndef take(name):\n    got = r.setnx(f"lock:{name}", 1)\n'
                '    if got == False:\n        return\n    r.expire(f"lock:{name}", 10)\n'),
        # no fix: EXPIREAT needs SET EXAT, Redis 6.2
        Invalid('import redis\nr = redis.Redis()\ndef take(name):\n    if r.setnx(f"lock:{name}", 1):\n'
                '        r.expireat(f"lock:{name}", 1700000000)\n        return True\n',
                settings={"target-redis-version": "6.0"}),
        Invalid('import redis\nr = redis.Redis()\ndef acquire(name):\n    p = r.pipeline(transaction=False)\n'
                '    p.setnx(f"lock:{name}", 1)\n    p.expire(f"lock:{name}", 10)\n    p.execute()\n'),
    ]

    def on_scope_exit(self, scope: Scope) -> None:
        for write, expire in follow_ups(scope.calls, KEY_WRITES, EXPIRE_COMMANDS):
            if is_set_if_absent(write) and write.receiver.role in ("client", "pipeline"):
                command = "set(..., nx=True)" if write.command == "set" else write.command
                message = self.message.format(write=command, expire=expire.command)
                self.report(write.node, message, end=expire.node, fix=self._fix(write, expire))

    # -- the fix ----------------------------------------------------------------------------
    def _fix(self, write: RedisCall, expire: RedisCall) -> Optional[Fix]:
        if write.receiver_text != expire.receiver_text or not sent_as_written(write):
            return None
        new_call = self._set_nx(write)
        if new_call is None:
            return None
        applicability = "safe"
        if write.command == "setnx":  # True/False becomes True/None
            use = result_use(write)
            if use == "compared":
                return None  # `== False` / `is False` would change branch: no honest fix
            if use == "other":
                applicability = "unsafe"
        folded = fold_expire(expire, self.model, self.settings)
        if folded is None:
            return None
        found = self._placement(write, expire, new_call, folded)
        if found is None:
            return None
        replacements, conditional = found
        if not conditional or folded.applicability == "unsafe":
            applicability = "unsafe"
        option = folded.option.keyword.value  # type: ignore[union-attr]
        return Fix(f"Create the key with its TTL: `set(..., nx=True, {option}=...)`",
                   replacements, applicability)

    def _set_nx(self, write: RedisCall) -> Optional[cst.Call]:
        """`setnx(k, v)` -> `set(k, v, nx=True)`; a `set(k, v, nx=True)` as it is."""
        if write.command == "setnx":
            if bind_arguments(write.node, ("name", "value"), required=2) is None:
                return None
            return add_keywords(renamed_call(write.node, "set"), keyword("nx", cst.Name("True")))
        return write.node if set_without_expiry(write) is not None else None

    def _placement(self, write: RedisCall, expire: RedisCall, new_call: cst.Call, folded: Folded
                   ) -> Optional[Tuple[Dict[cst.CSTNode, object], bool]]:
        """The edits, and whether the EXPIRE only ran when the key was created (then the fix
        keeps behaviour; an unconditional EXPIRE also refreshed a key someone else holds)."""
        fixed = add_keywords(new_call, folded.option)
        rewrite: Dict[cst.CSTNode, object] = {write.node: fixed}
        chain = list(write.ancestors)
        test_node: cst.CSTNode = write.node
        if chain and isinstance(chain[-1], cst.Await):
            test_node = chain.pop()
        holder = chain[-1] if chain else None
        # `if r.setnx(k, v): r.expire(k, t); ...`
        if isinstance(holder, cst.If) and holder.test is test_node:
            if not isinstance(chain[-2], (cst.IndentedBlock, cst.Module)):
                fixed = None  # an `elif` cannot become a plain statement
            return self._in_body(holder, expire, rewrite, folded, test_node, fixed)
        # `if not r.setnx(k, v): return` then `r.expire(k, t)`
        if isinstance(holder, cst.UnaryOperation) and len(chain) > 1 and \
                isinstance(chain[-2], cst.If) and chain[-2].test is holder:
            if self._exits_then(chain[-2], expire):
                return {**rewrite, **folded.removal}, True
            return None
        if not own_statement(write, assigned=True):
            return None
        after = next_statement(write.ancestors, write.statement)
        if after is expire.statement:  # unconditional
            return {**rewrite, **folded.removal}, False
        small = write.statement.body[0]  # type: ignore[union-attr]
        name = small.targets[0].target if isinstance(small, cst.Assign) else \
            getattr(small, "target", None)
        if not isinstance(name, cst.Name) or not isinstance(after, cst.If):
            return None
        # `ok = r.setnx(k, v)` then `if ok: r.expire(k, t)` / `if not ok: return` + expire
        test = after.test
        if isinstance(test, cst.Name) and test.value == name.value:
            return self._in_body(after, expire, rewrite, folded, None, None)
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not) and \
                isinstance(test.expression, cst.Name) and test.expression.value == name.value \
                and self._exits_then(after, expire):
            return {**rewrite, **folded.removal}, True
        return None

    @staticmethod
    def _in_body(node: cst.If, expire: RedisCall, rewrite: Dict[cst.CSTNode, object],
                 folded: Folded, test_node: Optional[cst.CSTNode], fixed: Optional[cst.Call]
                 ) -> Optional[Tuple[Dict[cst.CSTNode, object], bool]]:
        """The EXPIRE is the first statement of the `if` body that runs when the key was set."""
        body = node.body
        if not isinstance(body, cst.IndentedBlock) or body.body[0] is not expire.statement:
            return None
        if len(body.body) > 1:
            return {**rewrite, **folded.removal}, True
        if node.orelse is not None:
            return None
        if test_node is None:  # `if ok: r.expire(k, t)` alone: drop the `if`
            removal = remove_statements(node)
            return ({**rewrite, **removal}, True) if removal is not None else None
        if fixed is None or has_comments(node):
            return None
        # `if r.setnx(k, v): r.expire(k, t)` alone: one statement
        value = test_node.with_changes(expression=fixed) if isinstance(test_node, cst.Await) \
            else fixed
        statement = cst.SimpleStatementLine([cst.Expr(value.with_changes(lpar=(), rpar=()))],
                                            leading_lines=node.leading_lines)
        return {node: statement}, True

    @staticmethod
    def _exits_then(node: cst.CSTNode, expire: RedisCall) -> bool:
        """`node` is `if not ...: <return/raise/...>` without `else`, and the EXPIRE is the
        statement right after it."""
        if not isinstance(node, cst.If) or node.orelse is not None or \
                not always_exits(node.body):
            return False
        found = statement_block(expire.ancestors, expire.statement)  # type: ignore[arg-type]
        return found is not None and found[1] > 0 and found[0][found[1] - 1] is node
