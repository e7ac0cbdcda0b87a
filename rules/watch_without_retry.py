from __future__ import annotations

from typing import List, Set, Tuple

import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.atomic.pipelines import made_pipelines
from redislint.semantic.atomic.transactions import retry_decorated, watch_error_handling


class WatchWithoutRetry(Rule):
    """
    ## What it does
    Flags two mistakes with optimistic transactions (WATCH ... MULTI/EXEC):

    - a pipeline made in the function WATCHes keys and then starts MULTI, but nothing handles
      a conflict: no enclosing `try` names `WatchError`, no broad handler inside a loop runs
      the transaction again, the function has no retry decorator (tenacity, backoff, or one
      that names `WatchError`, like Celery's `autoretry_for=`), and no call of it in the
      module sits in a `try` that names `WatchError`;
    - `watch()` called on a client rather than on a pipeline.

    Stays silent on pipelines the function receives (the `client.transaction(fn, *keys)`
    callback, a helper given a pipeline: the caller owns the retry), on `WatchError` handled
    on purpose (`except WatchError: return False` reports the conflict to the caller), and on
    objects that are not Redis.

    ## Why is this bad?
    WATCH makes EXEC fail when another client changes a watched key first: that is the whole
    point, and redis-py reports it by raising `WatchError` from `execute()`. Code that does
    not retry then either crashes on ordinary contention or, behind a broad `except`, silently
    drops the update. Retrying the read, the computation and the transaction is required.

    `watch()` on a client does not watch anything: redis-py's `Redis.watch` (4.x to 8.x) only
    emits `DeprecationWarning("Call WATCH from a Pipeline object")` and sends no command, so
    the transaction that follows is not protected at all.

    ## Example
    ```python
    with r.pipeline() as pipe:
        pipe.watch(key)
        balance = int(pipe.get(key) or 0)
        pipe.multi()
        pipe.set(key, balance - amount)
        pipe.execute()  # WatchError on contention: the payment fails or is lost
    ```

    ## Use instead:
    ```python
    def debit(pipe):
        balance = int(pipe.get(key) or 0)
        pipe.multi()
        pipe.set(key, balance - amount)

    r.transaction(debit, key)  # watches `key` and retries on WatchError
    ```
    or a Lua script that reads and writes in one step; see `redislint patterns rate-limiting`
    (each limiter decides and records in one script).

    ## Fix safety
    No automatic fix: a retry loop must repeat the reads and the computation too, which only
    the author can move.
    """

    code = "RL206"
    name = "watch-without-retry"
    message = ("`{name}.watch()` then `multi()` with no retry: when a watched key changes first, "
               "`execute()` raises `WatchError` and the update fails or is lost; retry the whole "
               "read-compute-write on `WatchError`, or use `client.transaction(fn, *keys)` (see "
               "`redislint patterns rate-limiting`)")
    client_message = ("`watch()` on a client watches nothing (redis-py's `Redis.watch` only warns "
                      "\"Call WATCH from a Pipeline object\"), so the transaction after it is "
                      "unprotected: call `watch()` on the `pipeline()` that runs it, or use "
                      "`client.transaction(fn, *keys)` (see `redislint patterns rate-limiting`)")
    pattern = "rate-limiting"

    VALID = [
        Valid('import redis\nfrom redis.exceptions import WatchError\nr = redis.Redis()\n'
              'def bump(k):\n    with r.pipeline() as p:\n        while True:\n            try:\n'
              '                p.watch(k)\n                n = int(p.get(k) or 0)\n'
              '                p.multi()\n                p.set(k, n + 1)\n                p.execute()\n'
              '                break\n            except WatchError:\n                continue\n'),
        Valid('import redis\nr = redis.Redis()\ndef bump(k):\n    def step(pipe):\n'
              '        n = int(pipe.get(k) or 0)\n        pipe.multi()\n        pipe.set(k, n + 1)\n'
              '    r.transaction(step, k)\n'),
        Valid('import redis\nr = redis.Redis()\ndef try_bump(k):\n    with r.pipeline() as p:\n'
              '        try:\n            p.watch(k)\n            n = int(p.get(k) or 0)\n'
              '            p.multi()\n            p.set(k, n + 1)\n            p.execute()\n'
              '            return True\n        except redis.WatchError:\n            return False\n'),
        Valid('import redis\nfrom redis import WatchError\nr = redis.Redis()\ndef once(k):\n'
              '    p = r.pipeline()\n    p.watch(k)\n    p.multi()\n    p.incr(k)\n    p.execute()\n'
              'def bump(k):\n    for _ in range(5):\n        try:\n            return once(k)\n'
              '        except (WatchError, ConnectionError):\n            pass\n'),
        Valid('import redis\nimport tenacity\nr = redis.Redis()\n@tenacity.retry(stop=tenacity.stop_after_attempt(5))\n'
              'def bump(k):\n    with r.pipeline() as p:\n        p.watch(k)\n        p.multi()\n'
              '        p.incr(k)\n        p.execute()\n'),
        Valid('import redis\nfrom celery import shared_task\nr = redis.Redis()\n'
              '@shared_task(autoretry_for=(redis.WatchError,), max_retries=5)\ndef bump(k):\n'
              '    with r.pipeline() as p:\n        p.watch(k)\n        p.multi()\n        p.incr(k)\n'
              '        p.execute()\n'),
        Valid('from redis.client import Pipeline\ndef step(pipe: Pipeline, k):\n    pipe.watch(k)\n'
              '    pipe.multi()\n    pipe.incr(k)\n'),
        Valid('class Observer:\n    def watch(self, path): ...\n    def multi(self): ...\no = Observer()\n'
              'o.watch("/tmp")\no.multi()\n'),
        Valid('import redis\nr = redis.Redis()\nBUMP = r.register_script("return redis.call(\'INCR\', KEYS[1])")\n'
              'def bump(k):\n    return BUMP(keys=[k])\n'),
        Valid('import redis\nr = redis.Redis()\ndef bump(k):\n    with r.pipeline() as p:\n'
              '        while True:\n            try:\n                p.watch(k)\n                p.multi()\n'
              '                p.incr(k)\n                return p.execute()\n'
              '            except redis.RedisError:\n                p.reset()\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef debit(k, amount):\n    with r.pipeline() as p:\n'
                '        p.watch(k)\n        balance = int(p.get(k) or 0)\n        p.multi()\n'
                '        p.set(k, balance - amount)\n        p.execute()\n'),
        Invalid('import redis\nclass Wallet:\n    def __init__(self, url):\n'
                '        self.r = redis.from_url(url)\n    def debit(self, uid, amount):\n'
                '        key = f"wallet:{uid}"\n        pipe = self.r.pipeline()\n        try:\n'
                '            pipe.watch(key)\n            n = int(pipe.get("wallet:" + uid) or 0)\n'
                '            pipe.multi()\n            pipe.set(key, n - amount)\n'
                '            pipe.execute()\n        except Exception:\n            return None\n'),
        Invalid('from redis.asyncio import Redis\nasync def debit(r: Redis, k, amount):\n'
                '    async with r.pipeline(transaction=True) as pipe:\n        await pipe.watch(k)\n'
                '        n = int(await pipe.get(k) or 0)\n        pipe.multi()\n'
                '        pipe.set(k, n - amount)\n        await pipe.execute()\n'),
        Invalid('import redis\nr = redis.Redis()\ndef debit(k, amount):\n    r.watch(k)\n'
                '    n = int(r.get(k) or 0)\n    with r.pipeline() as p:\n'
                '        p.set(k, n - amount)\n        p.execute()\n'),
        Invalid('from redis.asyncio import Redis\nasync def lock_in(r: Redis, k):\n'
                '    await r.watch("order:{}".format(k))\n'),
        Invalid('import redis\nr = redis.Redis()\ndef bump(k):\n    with r.pipeline() as p:\n'
                '        for _ in range(3):\n            try:\n                p.watch(k)\n'
                '                p.multi()\n                p.incr(k)\n                return p.execute()\n'
                '            except Exception:\n                return None\n'),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        # Functions some call in this module runs under a `try` that handles WatchError.
        self._retried_callees: Set[str] = set()
        self._pending: List[Tuple[cst.CSTNode, RedisCall, RedisCall]] = []
        # Open `try` statements: outside any, no call can be under a WatchError handler.
        self._tries = 0

    def visit_Try(self, node: cst.Try) -> None:
        self._tries += 1

    def leave_Try(self, node: cst.Try) -> None:
        self._tries -= 1

    def visit_TryStar(self, node: cst.TryStar) -> None:
        self._tries += 1

    def leave_TryStar(self, node: cst.TryStar) -> None:
        self._tries -= 1

    def visit_Call(self, node: cst.Call) -> None:
        if not self._tries:
            return
        func = node.func
        name = func.value if isinstance(func, cst.Name) else (
            func.attr.value if isinstance(func, cst.Attribute) else None)
        if name and watch_error_handling(self.model.ancestors, node, self.model.qualified_name):
            self._retried_callees.add(name)

    def on_redis_call(self, call: RedisCall) -> None:
        if call.command == "watch" and call.receiver.role == "client":
            self.report(call.node, self.client_message)

    def on_scope_exit(self, scope: Scope) -> None:
        qualify = self.model.qualified_name
        if not retry_decorated(scope.node, qualify):
            names = {p.name for p in made_pipelines(scope) if p.name is not None}
            if names:
                # The calls on each pipeline name, gathered once (not once per pipeline).
                on_name: dict = {}
                for call in scope.calls:
                    if call.receiver.role == "pipeline" and call.receiver_text in names:
                        on_name.setdefault(call.receiver_text, []).append(call)
                for name in sorted(names):
                    found = self._unretried(on_name.get(name, ()))
                    if found is not None:
                        self._pending.append((scope.node, *found))
        if scope.kind != "module":
            return
        for function, watch, multi in self._pending:
            if isinstance(function, cst.FunctionDef) and function.name.value in self._retried_callees:
                continue
            self.report(watch.node, self.message.format(name=watch.receiver_text), end=multi.node)
        self._pending = []

    def _unretried(self, calls):
        """The first WATCH on a pipeline (`calls`: the scope's calls on it) and the MULTI after
        it, when a conflict at that transaction is neither handled nor retried."""
        watch = multi = call = None
        for call in calls:
            if call.command == "watch" and watch is None:
                watch = call
            elif call.command == "multi" and watch is not None and multi is None:
                multi = call
            elif call.command == "execute" and multi is not None:
                break
        else:
            call = multi
        if watch is None or multi is None:
            return None
        # WatchError is raised by `execute()`: that is where a handler must catch it.
        handled = watch_error_handling(call.ancestors, call.node, self.model.qualified_name)
        return None if handled else (watch, multi)
