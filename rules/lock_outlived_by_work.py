import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.keys.expressions import source
from redislint.semantic.atomic.locks import lock_seconds, work_seconds
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.keys.values import always_exits

_RENEWALS = ("extend", "reacquire")


@dataclass
class _Region:
    """A lock taken by `lock.acquire()`: held until `lock.release()` on the same object, in
    `container` (the body of `if lock.acquire():`) or, for a bare `lock.acquire()` and after
    `if not lock.acquire(): return`, in the rest of the function but `excluded`."""

    scope: Scope
    receiver: str
    seconds: float
    container: Optional[cst.CSTNode]
    excluded: Optional[cst.CSTNode] = None


@dataclass
class _Work:
    lock: object
    seconds: float
    node: cst.Call
    kind: str
    duration: float
    block: Optional[cst.CSTNode]


@dataclass
class _Pending:
    work: List[_Work] = field(default_factory=list)
    renewed: bool = False


def _fmt(seconds: float) -> str:
    return f"{seconds:g}"


class LockOutlivedByWork(Rule):
    """
    ## What it does
    Flags work under a Redis lock that can outlast the lock's literal `timeout`, inside
    `with r.lock(name, timeout=T):` (or `Lock(r, name, timeout=T)`) or between
    `lock.acquire()` and `lock.release()`:
    - `time.sleep(N)` / `await asyncio.sleep(N)` with a literal `N >= T`, or literal sleeps that
      are statements of one block and add up to at least `T`;
    - a call with a literal `timeout=N >= T` (`requests.get(url, timeout=30)`,
      `subprocess.run(cmd, timeout=60)`), a Redis blocking command whose literal timeout is at
      least `T` or that blocks forever (`r.blpop(q)`, `r.blpop(q, 0)`), or `xread(block=ms)`.

    Only literal numbers count, and a function that calls `extend()`/`reacquire()` on a lock is
    not flagged.

    ## Why is this bad?
    When the timeout runs out, Redis deletes the lock while its holder is still in the critical
    section. A second worker takes the lock and both run the "exclusive" work at once: double
    charges, duplicate emails, corrupted rebuilds. The holder's final `release()` then fails
    (`LockNotOwnedError`) after the damage is done.

    ## Example
    ```python
    with r.lock("sync", timeout=10):
        resp = requests.get(url, timeout=30)
    ```

    ## Use instead:
    ```python
    with r.lock("sync", timeout=60) as lock:
        resp = requests.get(url, timeout=30)
        lock.extend(30)  # or reacquire() before each slow step
    ```
    Make the timeout longer than the slowest the work can take, extend the lock while working,
    or move the slow call out of the critical section; see `redislint patterns locks`.

    ## Fix safety
    No automatic fix: the right timeout depends on how long the work really takes.
    """

    code = "RL304"
    name = "lock-outlived-by-work"
    message = ("{work} {takes} but the lock expires after {timeout} s, so another worker can "
               "take it mid-work: use a longer `timeout`, `extend()` the lock, or move the slow "
               "part out of the critical section (see `redislint patterns locks`)")
    pattern = "locks"

    VALID = [
        Valid('import time\nimport redis\nr = redis.Redis()\nwith r.lock("x", timeout=10):\n'
              '    time.sleep(2)\n'),
        Valid('import time\nimport redis\nr = redis.Redis()\nwith r.lock("x", timeout=60):\n'
              '    time.sleep(30)\n'),
        Valid('import time\nimport redis\nr = redis.Redis()\ndef f(n):\n'
              '    with r.lock("x", timeout=10):\n        time.sleep(n)\n'),
        Valid('import time\nimport redis\nr = redis.Redis()\ndef f():\n'
              '    with r.lock("x", timeout=10) as lock:\n        time.sleep(8)\n'
              '        lock.extend(10)\n        time.sleep(8)\n'),
        Valid('import threading, time\nimport redis\nr = redis.Redis()\nlock = threading.Lock()\n'
              'with lock:\n    time.sleep(60)\n'),
        Valid('import time\nimport redis\nr = redis.Redis()\nwith r.lock("x", timeout=10):\n'
              '    pass\ntime.sleep(30)\n'),
        Valid('import time\nimport redis\nr = redis.Redis()\nwith r.lock("x", timeout=10):\n'
              '    def later():\n        time.sleep(30)\n'),
        Valid('import time\nimport redis\nr = redis.Redis()\nlock = r.lock("x", timeout=5)\n'
              'def f():\n    if not lock.acquire(blocking=False):\n        time.sleep(30)\n'
              '        return\n'),
        Valid('import requests\nimport redis\nr = redis.Redis()\ndef f(url):\n'
              '    with r.lock("x", timeout=60, blocking_timeout=30):\n'
              '        return requests.get(url, timeout=5)\n'),
        Valid('import time\nimport redis\nr = redis.Redis()\nwith r.lock("x", timeout=10):\n'
              '    r.blpop("q", timeout=2)\n    r.wait(1, 5000)\n'),
        Valid('import time\nimport redis\nr = redis.Redis()\nlock = r.lock("x", timeout=10)\n'
              'def f():\n    lock.acquire()\n    lock.release()\n    time.sleep(30)\n'),
    ]
    INVALID = [
        Invalid('import time\nimport redis\nr = redis.Redis()\ndef f():\n'
                '    with r.lock("x", timeout=10):\n        time.sleep(30)\n'),
        Invalid('from time import sleep\nimport redis\nclass Job:\n    def __init__(self):\n'
                '        self.r = redis.Redis()\n        self.lock = self.r.lock("job", timeout=5)\n'
                '    def run(self):\n        with self.lock:\n            sleep(3)\n'
                '            sleep(3)\n'),
        Invalid('import asyncio\nfrom redis.asyncio import Redis\nasync def f(r: Redis):\n'
                '    async with r.lock("x", timeout=1.5):\n        await asyncio.sleep(2)\n'),
        Invalid('import requests\nimport redis\nfrom redis.lock import Lock\nr = redis.Redis()\n'
                'def f(url):\n    with Lock(r, "sync", 10):\n'
                '        return requests.get(url, timeout=30)\n'),
        Invalid('import subprocess\nimport redis\nr = redis.Redis()\ndef f():\n'
                '    lock = r.lock("backup", timeout=60)\n    lock.acquire()\n    try:\n'
                '        subprocess.run(["pg_dump"], timeout=60 * 5)\n    finally:\n'
                '        lock.release()\n'),
        Invalid('import redis\nr = redis.Redis()\ndef f(name):\n'
                '    lock = r.lock(f"lock:{name}", timeout=10)\n'
                '    if lock.acquire(blocking=False):\n        job = r.blpop("jobs:" + name)\n'
                '        lock.release()\n'),
        Invalid('import time\nfrom redis.asyncio import Redis\nasync def f(r: Redis):\n'
                '    lock = r.lock("x", timeout=10)\n    if not await lock.acquire(blocking=False):\n'
                '        time.sleep(30)\n        return\n    time.sleep(12)\n'
                '    await lock.release()\n'),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        self._regions: List[_Region] = []
        self._pending: Dict[int, _Pending] = {}
        self._redis_node: Optional[cst.Call] = None

    # -- collecting -------------------------------------------------------------------------
    def on_redis_call(self, call: RedisCall) -> None:
        self._redis_node = call.node
        if call.receiver.role == "lock":
            self._lock_call(call)
            return
        self._work(call.node, call.scope, call)

    def visit_Call(self, node: cst.Call) -> None:
        if node is self._redis_node:
            return
        scope = self.model.scope
        while scope.kind == "class" and scope.parent is not None:
            scope = scope.parent
        self._work(node, scope, None)

    def _lock_call(self, call: RedisCall) -> None:
        func = call.node.func
        if call.command in _RENEWALS:
            self._pending.setdefault(id(call.scope), _Pending()).renewed = True
        elif call.command == "release":
            self._regions = [r for r in self._regions
                             if not (r.scope is call.scope and r.receiver == call.receiver_text)]
        elif call.command == "acquire" and isinstance(func, cst.Attribute):
            seconds = lock_seconds(self.model, func.value)
            if seconds is None:
                return
            container = excluded = None
            if not call.result_unused:
                value = call.parent if call.awaited else call.node
                holder = call.ancestors[-2] if call.awaited else call.parent
                negated = isinstance(holder, cst.UnaryOperation) and isinstance(holder.operator, cst.Not)
                if negated:
                    value = holder
                    holder = call.ancestors[-3 if call.awaited else -2]
                if not (isinstance(holder, cst.If) and holder.test is value):
                    return
                if not negated:
                    container = holder.body
                elif always_exits(holder.body):  # `if not lock.acquire(): return`
                    excluded = holder.body
                else:
                    return
            self._regions.append(_Region(call.scope, call.receiver_text, seconds, container,
                                         excluded))

    def _work(self, node: cst.Call, scope: Scope, call: Optional[RedisCall]) -> None:
        measured = work_seconds(self.model, node, call)
        if measured is None:
            return
        kind, duration = measured
        locks = []
        for with_node, _, item in self.model.held_locks():
            seconds = lock_seconds(self.model, item)
            if seconds is not None:
                locks.append(((id(with_node), id(item)), seconds))
        for region in self._regions:
            ancestors = self.model.ancestors
            if region.scope is scope and self.model.scope is scope and (
                    region.container is None or region.container in ancestors) and (
                    region.excluded is None or region.excluded not in ancestors):
                locks.append((id(region), region.seconds))
        if not locks:
            return
        block = self._statement_block(node) if kind == "sleep" else None
        pending = self._pending.setdefault(id(scope), _Pending())
        for lock, seconds in locks:
            pending.work.append(_Work(lock, seconds, node, kind, duration, block))

    def _statement_block(self, node: cst.Call) -> Optional[cst.CSTNode]:
        """The block whose statement is this call alone (`sleep(1)`, `await sleep(1)`)."""
        chain = self.model.ancestors
        index = len(chain) - 1
        if index >= 0 and isinstance(chain[index], cst.Await):
            index -= 1
        if index < 2 or not isinstance(chain[index], cst.Expr):
            return None
        line, block = chain[index - 1], chain[index - 2]
        if isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1:
            return block
        return None

    # -- judging ----------------------------------------------------------------------------
    def on_scope_exit(self, scope: Scope) -> None:
        self._regions = [r for r in self._regions if r.scope is not scope]
        pending = self._pending.pop(id(scope), None)
        if pending is None or pending.renewed:
            return
        short: Dict[tuple, List[_Work]] = {}
        for work in pending.work:
            if work.duration >= work.seconds:
                self._report(work, work, work.duration)
            elif work.block is not None:
                short.setdefault((work.lock, id(work.block)), []).append(work)
        for group in short.values():
            total = sum(w.duration for w in group)
            if len(group) > 1 and total >= group[0].seconds:
                self._report(group[0], group[-1], total)

    def _report(self, first: _Work, last: _Work, duration: float) -> None:
        work = f"`{source(first.node.func)}`"
        if first is not last:
            work, takes = "these sleeps", f"add up to {_fmt(duration)} s"
        elif first.kind == "sleep":
            takes = f"takes {_fmt(duration)} s"
        elif math.isinf(duration):
            takes = "can block forever"
        else:
            takes = f"may wait up to {_fmt(duration)} s"
        text = self.message.format(work=work, takes=takes, timeout=_fmt(first.seconds))
        self.report(first.node, text, end=last.node)
